//! Restart after a stop at each point between two durable steps (states made the way a crash
//! leaves them): the work is finished, nothing is queued or sent twice.

use std::time::Duration;

use sqlx::PgPool;
use station_agent::event::Kind;
use station_agent::queue::Queue;

use crate::harness::{Mes, Proxy, Station, complete_file};

/// Queues one file with the API unreachable; returns the spooled path.
async fn queue_one(station: &Station, token: &str, serial: &str) -> std::path::PathBuf {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let offline = station.config(&format!("http://{dead}"), token);
    station.drop_file(
        Kind::Complete,
        "a.json",
        &complete_file(serial),
        Duration::from_secs(5),
    );
    let s = station.run_once(&offline).await;
    assert_eq!(s.queued, 1, "{s:?}");
    let spooled = station.files("queue/spool");
    assert_eq!(spooled.len(), 1);
    spooled[0].clone()
}

#[sqlx::test(migrations = false)]
async fn queued_but_still_in_input_is_not_queued_twice(db: PgPool) {
    let mes = Mes::start(db).await;
    let sn = mes.started_serials(1).await.remove(0);
    let station = Station::new();
    let spooled = queue_one(&station, &mes.station_token, &sn).await;
    // Stopped after the queue commit, before the file left input/.
    std::fs::rename(&spooled, station.input(Kind::Complete).join("a.json")).unwrap();

    let proxy = Proxy::start(&mes.base, 0).await;
    let s = station
        .run_once(&station.config(&proxy.base, &mes.station_token))
        .await;
    assert_eq!((s.queued, s.delivered, s.drained), (0, 0, 1), "{s:?}");
    assert_eq!(proxy.seen().len(), 1);
    let stats = Queue::open(&station.layout.queue_db())
        .unwrap()
        .stats()
        .unwrap();
    assert_eq!(
        (stats.pending, stats.delivered),
        (0, 1),
        "one row, delivered"
    );
    assert_eq!(station.files("processed").len(), 1);
    assert!(station.files("input").is_empty() && station.files("queue/spool").is_empty());
    assert_eq!(mes.finished_count().await, 1);
}

#[sqlx::test(migrations = false)]
async fn delivered_but_not_yet_archived_is_archived_without_sending(db: PgPool) {
    let mes = Mes::start(db).await;
    let sn = mes.started_serials(1).await.remove(0);
    let station = Station::new();
    queue_one(&station, &mes.station_token, &sn).await;
    // Stopped after marking the row delivered, before moving its file.
    let q = Queue::open(&station.layout.queue_db()).unwrap();
    let id = q.next_pending(1).unwrap()[0].id;
    q.mark_delivered(id).unwrap();
    drop(q);

    let proxy = Proxy::start(&mes.base, 0).await;
    let s = station
        .run_once(&station.config(&proxy.base, &mes.station_token))
        .await;
    assert_eq!(s.pending_in_queue, 0, "{s:?}");
    assert!(
        proxy.seen().is_empty(),
        "nothing to send: {:?}",
        proxy.seen()
    );
    assert!(station.files("queue/spool").is_empty());
    let archived = station.files("processed");
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].file_name().unwrap(), "a.json");
}

#[sqlx::test(migrations = false)]
async fn a_spooled_file_unknown_to_the_queue_is_queued_again(db: PgPool) {
    let mes = Mes::start(db).await;
    let sn = mes.started_serials(1).await.remove(0);
    let station = Station::new();
    // A spool file without its row (e.g. the queue database was lost).
    let spool = station.layout.spool(Kind::Complete);
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(spool.join("0000000042-lost.json"), complete_file(&sn)).unwrap();

    let s = station
        .run_once(&station.config(&mes.base, &mes.station_token))
        .await;
    assert_eq!(s.delivered, 1, "{s:?} {}", station.reports());
    let archived = station.files("processed");
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].file_name().unwrap(), "lost.json");
    assert_eq!(mes.finished_count().await, 1);
}

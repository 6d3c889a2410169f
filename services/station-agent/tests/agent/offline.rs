//! Outages: the API unreachable for a while, and answering 500 before it recovers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::PgPool;
use station_agent::agent::{Agent, Mode};
use station_agent::event::{Kind, idempotency_key};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::harness::{Mes, Proxy, Station, complete_file, eventually};

#[sqlx::test(migrations = false)]
async fn api_down_queues_everything_then_delivers_once_in_order(db: PgPool) {
    let mes = Mes::start(db).await;
    let serials = mes.started_serials(12).await;
    // The agent talks to a port where nothing listens yet: connection refused.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let station = Station::new();
    // One request at a time: the whole station's order is then exact (the default window keeps
    // the order of each unit, tested in delivery.rs).
    let config = station_agent::config::Config::from_toml_and_env(
        &station.toml(&format!("http://{addr}"), &mes.station_token),
        &[("STATION_AGENT_API__MAX_IN_FLIGHT", "1")],
    )
    .unwrap();

    let mut keys = Vec::new();
    for (i, sn) in serials[..10].iter().enumerate() {
        let content = complete_file(sn);
        keys.push(idempotency_key("STATION-01", Kind::Complete, &content));
        // Arrival order is the mtime order, deliberately unlike the name order.
        let age = Duration::from_secs(100 - i as u64);
        station.drop_file(
            Kind::Complete,
            &format!("{:02}.json", 10 - i),
            &content,
            age,
        );
    }
    let s = station.run_once(&config).await;
    assert_eq!(
        (s.queued, s.delivered, s.pending_in_queue),
        (10, 0, 10),
        "{s:?}"
    );
    assert!(
        station.files("input").is_empty(),
        "queued files leave input/"
    );
    assert_eq!(station.files("queue/spool").len(), 10);
    assert_eq!(mes.finished_count().await, 0);
    let status = station_agent::status::read(&station.layout)
        .unwrap()
        .unwrap();
    assert_eq!(status.pending, 10);
    assert!(status.head_error.unwrap().contains("network"));

    // Still down: a second run keeps them, adds the new one behind them.
    station.drop_file(
        Kind::Complete,
        "late.json",
        &complete_file(&serials[10]),
        Duration::from_secs(1),
    );
    keys.push(idempotency_key(
        "STATION-01",
        Kind::Complete,
        &complete_file_bytes(&station, "late.json"),
    ));
    let s = station.run_once(&config).await;
    assert_eq!((s.queued, s.pending_in_queue), (1, 11), "{s:?}");

    // The API comes up (behind a recording proxy on the agent's address); the running agent
    // drains on its own timer and picks up a file dropped meanwhile.
    let proxy = Proxy::start_on(TcpListener::bind(addr).await.unwrap(), &mes.base, 0);
    let (stop, rx) = watch::channel(false);
    let agent = Agent::new(&config, rx).unwrap();
    let running = tokio::spawn(agent.run(Mode::Continuous));
    eventually(30, "the queue to drain", || async {
        mes.finished_count().await == 11
    })
    .await;
    let content = complete_file(&serials[11]);
    keys.push(idempotency_key("STATION-01", Kind::Complete, &content));
    station.drop_file(Kind::Complete, "fresh.json", &content, Duration::ZERO);
    eventually(30, "the new file", || async {
        mes.finished_count().await == 12
    })
    .await;
    stop.send(true).unwrap();
    let s = running.await.unwrap().unwrap();
    assert_eq!(
        (s.drained, s.delivered, s.pending_in_queue),
        (11, 1, 0),
        "{s:?}"
    );

    let seen: Vec<String> = proxy.seen().into_iter().filter_map(|s| s.key).collect();
    assert_eq!(seen, keys, "each event sent once, in arrival order");
    assert!(mes.finished_records().await.values().all(|n| *n == 1));
    assert!(station.files("input").is_empty());
    assert!(station.files("queue/spool").is_empty());
    assert_eq!(station.files("processed").len(), 12);
    let status = station_agent::status::read(&station.layout)
        .unwrap()
        .unwrap();
    assert_eq!((status.pending, status.dead_letters.len()), (0, 0));
    assert!(status.last_success_at.is_some());
}

fn complete_file_bytes(station: &Station, name: &str) -> Vec<u8> {
    std::fs::read(station.input(Kind::Complete).join(name)).unwrap()
}

#[sqlx::test(migrations = false)]
async fn server_errors_are_retried_then_delivered_once(db: PgPool) {
    let mes = Mes::start(db).await;
    let serials = mes.started_serials(2).await;
    let proxy = Proxy::start(&mes.base, 2).await;
    let station = Station::new();
    let config = station.config(&proxy.base, &mes.station_token);
    station.drop_file(
        Kind::Complete,
        "a.json",
        &complete_file(&serials[0]),
        Duration::from_secs(5),
    );
    let s = station.run_once(&config).await;
    assert_eq!((s.delivered, s.queued), (1, 0), "{s:?}");
    let seen = proxy.seen();
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(seen.iter().all(|s| s.key == seen[0].key && s.key.is_some()));
    assert_eq!(mes.finished_count().await, 1);

    // More failures than retries: 4 direct attempts, then the queue; the queue's own attempt
    // fails once more, and the next run delivers.
    proxy.fail_first.store(3 + 5, Ordering::SeqCst);
    station.drop_file(
        Kind::Complete,
        "b.json",
        &complete_file(&serials[1]),
        Duration::from_secs(5),
    );
    let s = station.run_once(&config).await;
    assert_eq!(
        (s.delivered, s.queued, s.pending_in_queue),
        (0, 1, 1),
        "{s:?}"
    );
    let status = station_agent::status::read(&station.layout)
        .unwrap()
        .unwrap();
    assert_eq!(status.head_attempts, Some(1));
    assert!(status.head_error.unwrap().contains("500 INTERNAL_ERROR"));
    let s = station.run_once(&config).await;
    assert_eq!((s.drained, s.pending_in_queue), (1, 0), "{s:?}");
    let statuses: Vec<u16> = proxy.seen()[3..].iter().map(|s| s.status).collect();
    assert_eq!(statuses, [500, 500, 500, 500, 500, 200]);
    assert_eq!(mes.finished_count().await, 2);
    assert!(mes.finished_records().await.values().all(|n| *n == 1));
    assert_eq!(station.files("processed").len(), 2);
}

//! Valid files are delivered once, archived, and stored in the database.

use std::time::Duration;

use chrono::Local;
use serde_json::json;
use sqlx::PgPool;
use station_agent::event::{Kind, idempotency_key};

use crate::harness::{Mes, Proxy, Station, complete_file};

#[sqlx::test(migrations = false)]
async fn valid_files_are_delivered_archived_and_stored(db: PgPool) {
    let mes = Mes::start(db).await;
    let serials = mes.started_serials(3).await;
    let station = Station::new();
    let config = station.config(&mes.base, &mes.station_token);
    // Two apps writing the same name on different days: both must survive in processed/.
    for (i, sn) in serials.iter().enumerate() {
        let name = if i < 2 {
            "output.json".to_owned()
        } else {
            format!("{sn}.json")
        };
        let age = Duration::from_secs(10 - i as u64);
        station.drop_file(Kind::Complete, &name, &complete_file(sn), age);
        if i == 0 {
            let s = station.run_once(&config).await;
            assert_eq!(s.delivered, 1, "{s:?}");
        }
    }
    let summary = station.run_once(&config).await;
    assert_eq!(
        (summary.delivered, summary.rejected, summary.queued),
        (2, 0, 0),
        "{summary:?}"
    );

    assert!(station.files("input").is_empty());
    let day = station
        .layout
        .processed(Kind::Complete, Local::now().date_naive());
    let mut names: Vec<String> = station
        .files("processed")
        .iter()
        .map(|p| {
            assert_eq!(p.parent().unwrap(), day);
            p.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    let mut want = vec![
        "output-1.json".to_owned(),
        "output.json".to_owned(),
        format!("{}.json", serials[2]),
    ];
    want.sort();
    assert_eq!(names, want);

    let records = mes.finished_records().await;
    for sn in &serials {
        assert_eq!(records.get(sn), Some(&1), "{sn}: {records:?}");
    }
    // Stored under the key the agent derives from station + content.
    let key = idempotency_key(
        "STATION-01",
        Kind::Complete,
        &complete_file_from(&station, &serials[2]),
    );
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE idempotency_key = $1")
            .bind(&key)
            .fetch_one(&mes.db)
            .await
            .unwrap();
    assert_eq!(stored, 1);
}

/// The archived bytes of the file for `serial`.
fn complete_file_from(station: &Station, serial: &str) -> Vec<u8> {
    station
        .files("processed")
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|c| String::from_utf8_lossy(c).contains(serial))
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn the_same_file_dropped_twice_is_one_event(db: PgPool) {
    let mes = Mes::start(db).await;
    let sn = mes.started_serials(1).await.remove(0);
    let proxy = Proxy::start(&mes.base, 0).await;
    let station = Station::new();
    let config = station.config(&proxy.base, &mes.station_token);
    let content = complete_file(&sn);
    station.drop_file(Kind::Complete, "a.json", &content, Duration::from_secs(5));
    station.run_once(&config).await;
    station.drop_file(Kind::Complete, "a.json", &content, Duration::from_secs(5));
    let s = station.run_once(&config).await;
    // Re-sent with the same key: mes-api replays its stored answer, so it counts as delivered.
    assert_eq!(s.delivered, 1);
    assert!(station.files("error").is_empty());
    assert_eq!(station.files("processed").len(), 2);
    assert_eq!(mes.finished_count().await, 1);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].key, seen[1].key);
}

#[sqlx::test(migrations = false)]
async fn start_and_complete_files_go_in_arrival_order(db: PgPool) {
    let mes = Mes::start(db).await;
    let sn = mes.serials(1).await.remove(0);
    let proxy = Proxy::start(&mes.base, 0).await;
    let station = Station::new();
    let config = station.config(&proxy.base, &mes.station_token);
    let start = json!({"serial_number": sn, "process_code": "SPRING", "operator_id": "W001",
                       "timestamp": chrono::Utc::now().to_rfc3339()});
    // COMPLETE written after START: sorting by name alone would send it first.
    station.drop_file(
        Kind::Complete,
        "a.json",
        &complete_file(&sn),
        Duration::from_secs(5),
    );
    station.drop_file(
        Kind::Start,
        "z.json",
        start.to_string().as_bytes(),
        Duration::from_secs(6),
    );
    let s = station.run_once(&config).await;
    assert_eq!(
        (s.delivered, s.rejected),
        (2, 0),
        "{s:?} {}",
        station.reports()
    );
    let paths: Vec<String> = proxy.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/api/v1/process/start", "/api/v1/process/complete"]);
    assert_eq!(mes.finished_records().await.get(&sn), Some(&1));
    // The station's workstation name was filled in for the START.
    let ws: Option<String> = sqlx::query_scalar("SELECT workstation FROM process_data LIMIT 1")
        .fetch_one(&mes.db)
        .await
        .unwrap();
    assert_eq!(ws.as_deref(), Some("STATION-01"));
}

#[sqlx::test(migrations = false)]
async fn many_units_in_flight_keep_each_units_order_through_the_queue(db: PgPool) {
    let mes = Mes::start(db).await;
    let serials = mes.serials(6).await;
    let station = Station::new();
    // Queue START and COMPLETE of 6 units with the API unreachable, interleaved by arrival.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let offline = station.config(&format!("http://{dead}"), &mes.station_token);
    for (i, sn) in serials.iter().enumerate() {
        let start = json!({"serial_number": sn, "process_code": "SPRING", "operator_id": "W001",
                           "timestamp": chrono::Utc::now().to_rfc3339()});
        let age = Duration::from_secs(100 - 2 * i as u64);
        station.drop_file(
            Kind::Start,
            &format!("s{i}.json"),
            start.to_string().as_bytes(),
            age,
        );
        station.drop_file(
            Kind::Complete,
            &format!("c{i}.json"),
            &complete_file(sn),
            age - Duration::from_secs(1),
        );
    }
    let s = station.run_once(&offline).await;
    assert_eq!(s.queued, 12, "{s:?}");

    // Drained with the default window (8 in flight): a COMPLETE overtaking its START would be
    // refused (PROCESS_NOT_STARTED) and dead-lettered.
    let proxy = Proxy::start(&mes.base, 0).await;
    let s = station
        .run_once(&station.config(&proxy.base, &mes.station_token))
        .await;
    assert_eq!(
        (s.drained, s.dead_lettered),
        (12, 0),
        "{s:?} {}",
        station.reports()
    );
    assert!(mes.finished_records().await.values().all(|n| *n == 1));
    assert_eq!(mes.finished_count().await, 6);
}

//! Bad files go to error/ with a reason and are never sent; refusals by mes-api carry its code.

use std::time::Duration;

use sqlx::PgPool;
use station_agent::event::Kind;

use crate::harness::{Mes, Proxy, Station, complete_file};

#[sqlx::test(migrations = false)]
async fn each_bad_file_goes_to_error_with_its_reason_and_nothing_is_sent(db: PgPool) {
    let mes = Mes::start(db).await;
    let sn = mes.started_serials(1).await.remove(0);
    let proxy = Proxy::start(&mes.base, 0).await;
    let station = Station::new();
    let config = station.config(&proxy.base, &mes.station_token);
    let good = complete_file(&sn);
    let text = String::from_utf8(good.clone()).unwrap();

    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(&good);
    let mut latin1 = good.clone();
    latin1.splice(5..5, [0xC4u8, 0x20]);
    let mut huge = text
        .replace("\"W001\"", "\"W001\", \"padding\": \"\"")
        .into_bytes();
    huge.splice(huge.len() - 3..huge.len() - 3, vec![b'x'; 1024 * 1024]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bom.json", bom, "BOM"),
        ("latin1.json", latin1, "NOT_UTF8"),
        (
            "truncated.json",
            good[..good.len() - 20].to_vec(),
            "TRUNCATED_JSON",
        ),
        ("huge.json", huge, "TOO_LARGE"),
        (
            "schema.json",
            text.replace("118", "\"118\"").into_bytes(),
            "SCHEMA_VIOLATION",
        ),
        (
            "process.json",
            text.replace("\"SPRING\"", "\"EOL\"").into_bytes(),
            "PROCESS_CODE_MISMATCH",
        ),
    ];
    for (name, content, _) in &cases {
        station.drop_file(Kind::Complete, name, content, Duration::from_secs(5));
    }
    // Writers' temp and hidden files are left alone.
    let dir = station.input(Kind::Complete);
    for name in ["~lock.json", ".hidden.json", "partial.json.tmp"] {
        std::fs::write(dir.join(name), &good).unwrap();
    }

    let s = station.run_once(&config).await;
    assert_eq!((s.rejected, s.delivered, s.queued), (6, 0, 0), "{s:?}");
    assert!(
        proxy.seen().is_empty(),
        "nothing may be sent: {:?}",
        proxy.seen()
    );
    assert_eq!(mes.finished_count().await, 0);

    for (name, content, code) in &cases {
        let filed = station
            .files("error/complete")
            .into_iter()
            .find(|p| p.file_name().unwrap() == *name)
            .unwrap_or_else(|| panic!("{name} not in error/"));
        assert_eq!(
            &std::fs::read(&filed).unwrap(),
            content,
            "{name} filed unchanged"
        );
        let report = std::fs::read_to_string(format!("{}.error.txt", filed.display())).unwrap();
        assert!(
            report.contains(&format!("error: {code}\n")),
            "{name}: {report}"
        );
        assert!(report.contains("reason: "), "{report}");
    }
    let mut left: Vec<String> = station
        .files("input")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [".hidden.json", "partial.json.tmp", "~lock.json"]);
}

#[sqlx::test(migrations = false)]
async fn a_refusal_by_the_api_is_filed_with_its_code(db: PgPool) {
    let mes = Mes::start(db).await;
    // Never started: COMPLETE is refused.
    let sn = mes.serials(1).await.remove(0);
    let station = Station::new();
    let config = station.config(&mes.base, &mes.station_token);
    station.drop_file(
        Kind::Complete,
        "a.json",
        &complete_file(&sn),
        Duration::from_secs(5),
    );
    let s = station.run_once(&config).await;
    assert_eq!((s.rejected, s.delivered, s.queued), (1, 0, 0), "{s:?}");
    let filed = station.files("error/complete");
    assert_eq!(filed.len(), 1);
    let report = std::fs::read_to_string(format!("{}.error.txt", filed[0].display())).unwrap();
    assert!(report.contains("error: API_REJECTED"), "{report}");
    assert!(report.contains("reason: HTTP 409 "), "{report}");

    // Once the cause is gone (the unit was started), replay-errors --all brings it back.
    let (st, b) = mes
        .call(
            "/api/v1/process/start",
            Some(&mes.station_token),
            serde_json::json!({"serial_number": sn, "process_code": "SPRING", "operator_id": "W001"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let r =
        station_agent::replay::replay(&station.layout, "STATION-01", None, false, false).unwrap();
    assert_eq!(
        (r.moved.len(), r.unchanged),
        (0, 1),
        "unchanged files stay without --all"
    );
    let r =
        station_agent::replay::replay(&station.layout, "STATION-01", None, true, false).unwrap();
    assert_eq!(r.moved.len(), 1);
    let s = station.run_once(&config).await;
    assert_eq!(s.delivered, 1, "{s:?} {}", station.reports());
    assert!(station.files("error").is_empty());
    assert_eq!(mes.finished_records().await.get(&sn), Some(&1));
}

#[sqlx::test(migrations = false)]
async fn a_revoked_token_keeps_events_queued_not_rejected(db: PgPool) {
    let mes = Mes::start(db).await;
    let sn = mes.started_serials(1).await.remove(0);
    let station = Station::new();
    let bad = station.config(&mes.base, "mest_not-a-real-token");
    station.drop_file(
        Kind::Complete,
        "a.json",
        &complete_file(&sn),
        Duration::from_secs(5),
    );
    let s = station.run_once(&bad).await;
    assert_eq!(
        (s.queued, s.rejected, s.pending_in_queue),
        (1, 0, 1),
        "{s:?}"
    );
    let status = station_agent::status::read(&station.layout)
        .unwrap()
        .unwrap();
    assert!(
        status.head_error.unwrap_or_default().contains("401"),
        "status shows why"
    );
    let good = station.config(&mes.base, &mes.station_token);
    let s = station.run_once(&good).await;
    assert_eq!((s.drained, s.pending_in_queue), (1, 0), "{s:?}");
    assert_eq!(mes.finished_count().await, 1);
}

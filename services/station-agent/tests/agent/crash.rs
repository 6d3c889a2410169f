//! SIGKILL the real agent binary at random moments, over many runs, while files arrive and the
//! API flips between answering and failing: afterwards every dropped file is stored exactly
//! once and filed exactly once.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::PgPool;
use station_agent::event::Kind;
use tokio::process::Command;

use crate::harness::{Mes, Proxy, Station, complete_file};

const ROUNDS: usize = 12;
const FILES_PER_ROUND: usize = 8;

#[sqlx::test(migrations = false)]
async fn killing_the_agent_loses_and_doubles_nothing(db: PgPool) {
    let mes = Mes::start(db).await;
    let serials = mes.started_serials(ROUNDS * FILES_PER_ROUND).await;
    let proxy = Proxy::start(&mes.base, 0).await;
    let station = Station::new();
    let config_file = station.dir.path().join("station-agent.toml");
    std::fs::write(&config_file, station.toml(&proxy.base, &mes.station_token)).unwrap();
    let seed = fastrand::u64(..);
    println!("kill schedule seed: {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);

    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_station-agent"))
            .arg("--config")
            .arg(&config_file)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };

    let mut next = serials.iter();
    let mut interrupted = 0;
    for round in 0..ROUNDS {
        for i in 0..FILES_PER_ROUND {
            let sn = next.next().unwrap();
            station.drop_file(
                Kind::Complete,
                &format!("r{round}-{i}.json"),
                &complete_file(sn),
                Duration::ZERO,
            );
        }
        // Every third round the API fails (500 → retries → queue), so kills also land in the
        // queue and drain paths.
        let failing = round % 3 == 1;
        proxy
            .fail_first
            .store(if failing { usize::MAX } else { 0 }, Ordering::SeqCst);
        let mut child = spawn(&["run"]);
        // Kill once a random number of files got somewhere (0 = during start-up), plus a few
        // random milliseconds: kills land before, during and after files and queue drains.
        // "Somewhere" is processed/ when the API works, else out of input/ into the queue.
        let progress = rng.usize(0..=FILES_PER_ROUND);
        let moved = |s: &Station| {
            if failing {
                usize::MAX - s.files("input").len()
            } else {
                s.files("processed").len()
            }
        };
        let before = moved(&station);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while moved(&station) < before + progress {
            assert!(
                std::time::Instant::now() < deadline,
                "agent made no progress in round {round}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(0..20))).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        let unfinished = station.files("input").len() + station.files("queue/spool").len();
        println!(
            "round {round}: failing API {failing}, killed after {progress} files, {unfinished} files unfinished"
        );
        interrupted += usize::from(unfinished > 0);
    }
    println!("{interrupted} of {ROUNDS} kills left work unfinished");

    proxy.fail_first.store(0, Ordering::SeqCst);
    let status = spawn(&["run", "--once"]).wait().await.unwrap();
    assert!(status.success());

    let dropped = ROUNDS * FILES_PER_ROUND;
    let records = mes.finished_records().await;
    for sn in &serials {
        assert_eq!(
            records.get(sn),
            Some(&1),
            "serial {sn} must be stored exactly once (seed {seed})"
        );
    }
    assert_eq!(records.len(), dropped);
    assert!(
        station.files("input").is_empty(),
        "left in input: {:?}",
        station.files("input")
    );
    assert!(
        station.files("error").is_empty(),
        "nothing refused, e.g. as a second COMPLETE: {:?}",
        station.files("error")
    );
    assert!(station.files("queue/spool").is_empty());
    assert_eq!(
        station.files("processed").len(),
        dropped,
        "each file archived once (seed {seed})"
    );
    let keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM idempotency_keys WHERE path = '/process/complete'",
    )
    .fetch_one(&mes.db)
    .await
    .unwrap();
    assert_eq!(keys, dropped as i64);
    let st = station_agent::status::read(&station.layout)
        .unwrap()
        .unwrap();
    assert_eq!((st.pending, st.dead_letters.len()), (0, 0));
}

//! Local IO failures (here: processed/ unusable, as with a full disk or a denied folder) are
//! reported and retried; they neither crash the agent nor lose or double the event.

use std::time::Duration;

use sqlx::PgPool;
use station_agent::agent::{Agent, Mode};
use station_agent::event::Kind;
use tokio::sync::watch;

use crate::harness::{Mes, Proxy, Station, complete_file, eventually};

#[sqlx::test(migrations = false)]
async fn an_unwritable_archive_is_reported_and_retried(db: PgPool) {
    let mes = Mes::start(db).await;
    let sn = mes.started_serials(1).await.remove(0);
    let proxy = Proxy::start(&mes.base, 0).await;
    let station = Station::new();
    let config = station.config(&proxy.base, &mes.station_token);
    // A file where the processed/ folder should be: every archive move fails (root ignores
    // permission bits, so a mode change would not do).
    let blocker = station.dir.path().join("processed");
    std::fs::write(&blocker, "not a folder").unwrap();
    station.drop_file(
        Kind::Complete,
        "a.json",
        &complete_file(&sn),
        Duration::from_secs(5),
    );

    let s = station.run_once(&config).await;
    assert_eq!((s.failed_files, s.delivered), (1, 0), "{s:?}");
    assert_eq!(
        station.files("input").len(),
        1,
        "the file stays until it is archived"
    );
    let status = station_agent::status::read(&station.layout)
        .unwrap()
        .unwrap();
    assert!(
        status.last_problem.unwrap().contains("a.json"),
        "status reports the problem"
    );

    // The continuous agent keeps going; once the folder is usable the retry archives the file,
    // and the resend is answered from mes-api's idempotency record.
    let (stop, rx) = watch::channel(false);
    let running = tokio::spawn(Agent::new(&config, rx).unwrap().run(Mode::Continuous));
    eventually(20, "a second failed attempt", || async {
        proxy.seen().len() >= 2
    })
    .await;
    assert!(
        !running.is_finished(),
        "the agent must not stop on IO errors"
    );
    std::fs::remove_file(&blocker).unwrap();
    eventually(30, "the archive retry", || async {
        station.files("processed").len() == 1
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    assert!(station.files("input").is_empty());
    assert_eq!(mes.finished_count().await, 1);
    let seen = proxy.seen();
    assert!(
        seen.iter().all(|s| s.status == 200 && s.key == seen[0].key),
        "{seen:?}"
    );
}

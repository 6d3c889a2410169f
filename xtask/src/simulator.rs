//! The production simulator (`mes-sim run`) as the demo stations of the local stack.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::Url;
use tokio::process::{Child, Command};

/// Builds and starts `mes-sim run` against `api` as the seeded admin; its progress lines go to
/// our output.
pub fn start(repo: &Path, api: &Url, admin_password_file: &Path) -> Result<Child> {
    let binary = crate::mes_api::build_binary(repo, "mes-simulator", "mes-sim")?;
    println!("mes-sim: starting the demo stations");
    Command::new(&binary)
        .args([
            "run",
            "--api",
            api.as_str().trim_end_matches('/'),
            "--user",
            "admin",
        ])
        .arg("--password-file")
        .arg(admin_password_file)
        .current_dir(repo)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))
}

/// SIGTERM, then SIGKILL if it has not stopped within a few seconds.
pub async fn stop(mut sim: Child) {
    if let Some(pid) = sim.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
    }
    if tokio::time::timeout(Duration::from_secs(5), sim.wait())
        .await
        .is_err()
    {
        let _ = sim.kill().await;
    }
}

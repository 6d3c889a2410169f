//! Building, starting, watching and stopping the mes-api child process of `cargo xtask dev`.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::{StatusCode, Url};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::cmd;

/// Migrations run at start-up, so readiness may take a while on a fresh database.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long mes-api may drain in-flight requests after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of output kept to show when mes-api dies.
const TAIL_LINES: usize = 40;
const PREFERRED_PORT: u16 = 8080;

/// The environment contract of SPEC §4, as the local stack fills it.
#[derive(Debug)]
pub struct Config {
    pub database_url: Url,
    pub listen: SocketAddr,
    pub jwt_secret_file: PathBuf,
    pub plant_code: String,
    pub lot_prefix: String,
    pub timezone: String,
    pub admin_user: String,
    pub admin_password_file: PathBuf,
}

impl Config {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", self.database_url.to_string()),
            ("MES_LISTEN_ADDR", self.listen.to_string()),
            (
                "MES_JWT_SECRET_FILE",
                self.jwt_secret_file.display().to_string(),
            ),
            ("MES_PLANT_CODE", self.plant_code.clone()),
            ("MES_LOT_PREFIX", self.lot_prefix.clone()),
            ("MES_TIMEZONE", self.timezone.clone()),
            ("MES_BOOTSTRAP_ADMIN_USER", self.admin_user.clone()),
            (
                "MES_BOOTSTRAP_ADMIN_PASSWORD_FILE",
                self.admin_password_file.display().to_string(),
            ),
            ("MES_LOG_FORMAT", "text".to_owned()),
            // One line per request would bury the simulator's progress; warnings still show.
            (
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,mes_api::http=warn".to_owned()),
            ),
        ]
    }
}

/// `--port` if given (and free), else 8080 if free, else any free port.
pub fn choose_port(requested: Option<u16>) -> Result<u16> {
    let is_free = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok();
    match requested {
        Some(port) if is_free(port) => Ok(port),
        Some(port) => bail!("port {port} on 127.0.0.1 is in use; choose another with --port"),
        None if is_free(PREFERRED_PORT) => Ok(PREFERRED_PORT),
        None => crate::postgres::free_port(),
    }
}

/// `cargo build -p mes-api --bin mes-api`, returning the binary's path.
pub fn build(repo: &Path) -> Result<PathBuf> {
    build_binary(repo, "mes-api", "mes-api")
}

/// Builds `bin` of `package` (debug) and returns its path.
pub fn build_binary(repo: &Path, package: &str, bin: &str) -> Result<PathBuf> {
    println!("{bin}: building");
    cmd::run(
        cmd::cargo_command()
            .args(["build", "-p", package, "--bin", bin])
            .current_dir(repo),
    )?;
    // Ask cargo where it builds (honours CARGO_TARGET_DIR and config) instead of assuming `target/`.
    let metadata = cmd::output(
        cmd::cargo_command()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(repo),
    )?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&metadata.stdout).context("unexpected `cargo metadata` output")?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .context("`cargo metadata` gave no target_directory")?;
    let binary = Path::new(target_dir).join("debug").join(bin);
    if !binary.is_file() {
        bail!("built {bin}, but {} does not exist", binary.display());
    }
    Ok(binary)
}

/// The running mes-api, its output forwarded to ours with a prefix.
#[derive(Debug)]
pub struct ApiProcess {
    child: Child,
    base_url: Url,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl ApiProcess {
    pub fn spawn(binary: &Path, config: &Config, working_dir: &Path) -> Result<Self> {
        let mut command = Command::new(binary);
        command
            .envs(config.env())
            .current_dir(working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C reaches only us, and we stop mes-api in order
            // (before the database it drains requests into).
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward(BufReader::new(stdout), tail.clone(), false));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward(BufReader::new(stderr), tail.clone(), true));
        }
        let base_url = Url::parse(&format!("http://{}/", config.listen))?;
        Ok(ApiProcess {
            child,
            base_url,
            tail,
        })
    }

    /// `http://127.0.0.1:<port>/`
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// Polls `GET /readyz` until 200; fails early, with its last output, if mes-api exits.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let readyz = self.base_url.join("readyz")?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "mes-api exited during start-up ({status}); its last output:\n{}",
                    self.tail()
                );
            }
            let last = match http.get(readyz.clone()).send().await {
                Ok(response) if response.status() == StatusCode::OK => return Ok(()),
                Ok(response) => format!("/readyz answered {}", response.status()),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                bail!(
                    "mes-api was not ready within {}s ({last}); its last output:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Resolves when mes-api exits by itself.
    pub async fn exited(&mut self) -> Result<ExitStatus> {
        Ok(self.child.wait().await?)
    }

    /// SIGTERM (mes-api drains in-flight requests), then SIGKILL after [`STOP_TIMEOUT`].
    pub async fn stop(mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            println!("mes-api: stopping");
            // ESRCH only means it exited in between.
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                println!(
                    "mes-api: still running {}s after SIGTERM; killing it",
                    STOP_TIMEOUT.as_secs()
                );
                self.child.kill().await?;
            }
        }
        Ok(())
    }

    pub fn tail(&self) -> String {
        match self.tail.lock() {
            Ok(lines) => lines.iter().cloned().collect::<Vec<_>>().join("\n"),
            Err(_) => String::from("(output unavailable)"),
        }
    }
}

async fn forward(
    mut reader: impl AsyncBufRead + Unpin,
    tail: Arc<Mutex<VecDeque<String>>>,
    is_stderr: bool,
) {
    let mut line = String::new();
    // Byte-wise lines with lossy UTF-8, so one odd byte never stops the forwarding.
    let mut buffer = Vec::new();
    while let Ok(read) = reader.read_until(b'\n', &mut buffer).await {
        if read == 0 {
            break;
        }
        line.clear();
        line.push_str(String::from_utf8_lossy(&buffer).trim_end_matches(['\r', '\n']));
        buffer.clear();
        if is_stderr {
            eprintln!("mes-api | {line}");
        } else {
            println!("mes-api | {line}");
        }
        if let Ok(mut lines) = tail.lock() {
            if lines.len() == TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_port_in_use_is_refused() -> Result<()> {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = taken.local_addr()?.port();
        let error = choose_port(Some(port)).err().context("expected an error")?;
        assert!(error.to_string().contains(&format!("port {port}")));
        drop(taken);
        assert_eq!(choose_port(Some(port))?, port);
        Ok(())
    }

    #[test]
    fn environment_covers_the_spec_contract() -> Result<()> {
        let config = Config {
            database_url: Url::parse("postgres://postgres@127.0.0.1:5432/mes_dev")?,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            jwt_secret_file: PathBuf::from("/r/.local/dev/jwt-secret"),
            plant_code: "KR".into(),
            lot_prefix: "FN".into(),
            timezone: "Asia/Seoul".into(),
            admin_user: "admin".into(),
            admin_password_file: PathBuf::from("/r/.local/dev/admin-password"),
        };
        let env = config.env();
        let get = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(
            get("DATABASE_URL"),
            Some("postgres://postgres@127.0.0.1:5432/mes_dev")
        );
        assert_eq!(get("MES_LISTEN_ADDR"), Some("127.0.0.1:8080"));
        assert_eq!(get("MES_JWT_SECRET_FILE"), Some("/r/.local/dev/jwt-secret"));
        assert_eq!(
            get("MES_BOOTSTRAP_ADMIN_PASSWORD_FILE"),
            Some("/r/.local/dev/admin-password")
        );
        assert_eq!(get("MES_TIMEZONE"), Some("Asia/Seoul"));
        assert_eq!(get("MES_LOG_FORMAT"), Some("text"));
        Ok(())
    }
}

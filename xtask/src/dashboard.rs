//! The dashboard (`services/dashboard`): its web UI built with npm — only when its inputs
//! changed — the `dashboard` server that serves it and proxies the APIs, and the headless
//! Chromium its browser tests drive. Used by `cargo xtask dev` and `cargo xtask test`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::{StatusCode, Url};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::cmd;

/// The web UI's npm project, relative to the repository root.
pub const WEB_DIR: &str = "services/dashboard/web";
/// Where the headless browser tests find Chromium (Debian's package).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// A file of Debian's `fonts-noto-cjk` (Korean glyphs in screenshots).
const CJK_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
/// vite 8 needs Node 20.19 or newer.
const MIN_NODE: (u64, u64) = (20, 19);
const PREFERRED_PORT: u16 = 8082;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Written into `node_modules` after `npm ci`: the lock file it installed.
const INSTALLED_LOCK: &str = "node_modules/.mes-installed-lock.json";

/// `npm ci` unless `node_modules` was installed from the current `package-lock.json`.
pub fn install_web_dependencies(repo: &Path) -> Result<()> {
    ensure_node()?;
    let web = repo.join(WEB_DIR);
    let lock = std::fs::read(web.join("package-lock.json"))
        .with_context(|| format!("reading {WEB_DIR}/package-lock.json"))?;
    if std::fs::read(web.join(INSTALLED_LOCK)).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    println!("dashboard: npm ci (package-lock.json changed since the last install)");
    cmd::run(
        StdCommand::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web),
    )
    .context("installing the web UI's npm packages")?;
    std::fs::write(web.join(INSTALLED_LOCK), &lock).context("recording the installed lock file")?;
    Ok(())
}

/// Installs the npm packages if needed and runs `vite build` when any input of the web UI is
/// newer than the last build. Returns the directory of the built assets (`dist/`).
pub fn build_web(repo: &Path) -> Result<PathBuf> {
    install_web_dependencies(repo)?;
    let web = repo.join(WEB_DIR);
    let dist = web.join("dist");
    let built = modified(&dist.join("index.html"));
    let inputs = [
        "src",
        "public",
        "index.html",
        "package-lock.json",
        "vite.config.ts",
    ]
    .iter()
    .map(|input| newest(&web.join(input)))
    .max()
    .flatten();
    if built.is_some() && built >= inputs {
        return Ok(dist);
    }
    println!("dashboard: building the web UI (vite build)");
    cmd::run(
        StdCommand::new("npm")
            .args(["run", "--silent", "build"])
            .current_dir(&web),
    )
    .context("building the web UI")?;
    Ok(dist)
}

/// Node.js and npm, new enough for the web UI's tools; otherwise a clear error saying so.
fn ensure_node() -> Result<()> {
    let output = StdCommand::new("node").arg("--version").output();
    let version = match output {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ => bail!(
            "Node.js is not installed; the dashboard's web UI needs Node {}.{}+ with npm \
             (e.g. from nodejs.org or your distribution's nodejs/npm packages)",
            MIN_NODE.0,
            MIN_NODE.1
        ),
    };
    if !node_is_new_enough(&version) {
        bail!(
            "Node.js {version} is too old; the dashboard's web UI needs {}.{} or newer",
            MIN_NODE.0,
            MIN_NODE.1
        );
    }
    if !cmd::succeeds(StdCommand::new("npm").arg("--version")) {
        bail!("npm is not installed (Node.js {version} is); install npm");
    }
    Ok(())
}

fn node_is_new_enough(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|part| part.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= MIN_NODE
}

/// Debian's Chromium for the browser tests, installed with apt-get when missing (as root),
/// with the Noto CJK fonts so that Korean text renders in its screenshots.
pub fn ensure_chromium() -> Result<PathBuf> {
    let chromium = PathBuf::from(CHROMIUM);
    let missing: Vec<&str> = [
        ("chromium", chromium.as_path()),
        ("fonts-noto-cjk", Path::new(CJK_FONT)),
    ]
    .into_iter()
    .filter(|(_, file)| !file.exists())
    .map(|(package, _)| package)
    .collect();
    if missing.is_empty() {
        return Ok(chromium);
    }
    if !nix::unistd::Uid::effective().is_root() {
        if chromium.is_file() {
            // Only the fonts are missing: Korean shows as boxes in screenshots, nothing fails.
            return Ok(chromium);
        }
        bail!(
            "{CHROMIUM} is missing; the dashboard's browser tests need it: \
             sudo apt-get install -y chromium fonts-noto-cjk"
        );
    }
    println!(
        "test: installing {} for the dashboard's browser tests",
        missing.join(" ")
    );
    crate::tools::apt_install(&missing)?;
    if !chromium.is_file() {
        bail!("installed the chromium package, but {CHROMIUM} does not exist");
    }
    Ok(chromium)
}

/// The newest modification time of a file or of any file below a directory.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| newest(&entry.path()))
        .max()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

/// 8082 if free, else any free port.
pub fn choose_port() -> Result<u16> {
    if TcpListener::bind((Ipv4Addr::LOCALHOST, PREFERRED_PORT)).is_ok() {
        Ok(PREFERRED_PORT)
    } else {
        crate::postgres::free_port()
    }
}

/// The environment of the `dashboard` server (docs/dashboard.md).
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub assets_dir: PathBuf,
    pub mes_api: Url,
    pub infra_api: Option<Url>,
}

impl Config {
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("DASHBOARD_LISTEN_ADDR", self.listen.to_string()),
            (
                "DASHBOARD_ASSETS_DIR",
                self.assets_dir.display().to_string(),
            ),
            (
                "MES_API_URL",
                self.mes_api.as_str().trim_end_matches('/').to_owned(),
            ),
            ("MES_LOG_FORMAT", "text".to_owned()),
            // One line per request would bury the simulator's progress; warnings still show.
            (
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            ),
        ];
        if let Some(infra) = &self.infra_api {
            env.push((
                "INFRA_API_URL",
                infra.as_str().trim_end_matches('/').to_owned(),
            ));
        }
        env
    }
}

/// The running `dashboard` server (its output goes straight to ours).
#[derive(Debug)]
pub struct DashboardProcess {
    child: Child,
    base_url: Url,
}

impl DashboardProcess {
    pub fn spawn(binary: &Path, config: &Config, working_dir: &Path) -> Result<Self> {
        let child = Command::new(binary)
            .envs(config.env())
            .current_dir(working_dir)
            .stdin(Stdio::null())
            // Its own process group: Ctrl-C reaches only xtask, which stops things in order.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        Ok(Self {
            child,
            base_url: Url::parse(&format!("http://{}/", config.listen))?,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// Polls `GET /readyz` until 200; fails early if the server exits.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let readyz = self.base_url.join("readyz")?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the dashboard server exited during start-up ({status})");
            }
            let last = match http.get(readyz.clone()).send().await {
                Ok(response) if response.status() == StatusCode::OK => return Ok(()),
                Ok(response) => format!("/readyz answered {}", response.status()),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                bail!(
                    "the dashboard server was not ready within {}s ({last})",
                    READY_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Resolves when the server exits by itself.
    pub async fn exited(&mut self) -> Result<ExitStatus> {
        Ok(self.child.wait().await?)
    }

    /// SIGTERM (open streams close, requests drain), then SIGKILL after [`STOP_TIMEOUT`].
    pub async fn stop(mut self) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            println!("dashboard: stopping");
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_are_compared_by_major_and_minor() {
        assert!(node_is_new_enough("v20.19.0"));
        assert!(node_is_new_enough("v22.1.0"));
        assert!(!node_is_new_enough("v20.18.3"));
        assert!(!node_is_new_enough("v18.19.0"));
        assert!(!node_is_new_enough("garbage"));
    }

    #[test]
    fn server_environment_names_assets_and_upstreams() -> Result<()> {
        let config = Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8082)),
            assets_dir: PathBuf::from("/r/services/dashboard/web/dist"),
            mes_api: Url::parse("http://127.0.0.1:8080/")?,
            infra_api: None,
        };
        let env = config.env();
        let get = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(get("DASHBOARD_LISTEN_ADDR"), Some("127.0.0.1:8082"));
        assert_eq!(
            get("DASHBOARD_ASSETS_DIR"),
            Some("/r/services/dashboard/web/dist")
        );
        assert_eq!(get("MES_API_URL"), Some("http://127.0.0.1:8080"));
        assert_eq!(get("INFRA_API_URL"), None);
        Ok(())
    }

    #[test]
    fn the_newest_file_below_a_directory_counts() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-newest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub"))?;
        std::fs::write(dir.join("a"), "1")?;
        std::fs::write(dir.join("sub/b"), "2")?;
        let newest_file = [modified(&dir.join("a")), modified(&dir.join("sub/b"))]
            .into_iter()
            .max()
            .flatten();
        assert_eq!(newest(&dir), newest_file);
        assert_eq!(newest(&dir.join("missing")), None);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}

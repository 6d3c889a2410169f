//! The project-local cluster under `.local/pg`: server programs found (or installed), initdb on
//! first use, started on a free port on 127.0.0.1, and stopped only by the run that started it.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::{Pid, User, chown, geteuid};

use super::{Postgres, Purpose, free_port, local_url, wait_until_accepting};
use crate::cmd;

/// How long a cluster may take from `pg_ctl start` to accepting connections (crash recovery included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Where Debian and Ubuntu put the server programs, one `<major>/bin` per installed version.
const DEBIAN_PG_LIB: &str = "/usr/lib/postgresql";
/// A Unix socket path longer than this cannot be bound (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A cluster this run started, with what it takes to stop it.
#[derive(Debug)]
pub(super) struct OwnCluster {
    pg_ctl: PathBuf,
    layout: Layout,
    runner: Runner,
}

impl OwnCluster {
    pub(super) fn stop(self) -> Result<()> {
        // Also runs from Drop while unwinding; a closed stdout must not turn into a second panic.
        let _ = writeln!(
            std::io::stdout(),
            "postgres: stopping the project-local cluster"
        );
        let _ = fs::remove_file(&self.layout.owner);
        let mut stop = self.runner.command(&self.pg_ctl, &self.layout.root);
        stop.arg("-D")
            .arg(&self.layout.data)
            .args(["-m", "fast", "-w", "stop"]);
        cmd::output(&mut stop)
            .map(drop)
            .context("could not stop the project-local cluster")
    }
}

/// Where the cluster's files live: `data/`, the Unix socket directory, the server log, and
/// `started-by`, the process id of the xtask run that started the cluster (and will stop it).
#[derive(Debug, Clone)]
struct Layout {
    root: PathBuf,
    data: PathBuf,
    sockets: PathBuf,
    log: PathBuf,
    owner: PathBuf,
}

impl Layout {
    fn at(root: PathBuf) -> Self {
        Layout {
            data: root.join("data"),
            sockets: root.join("run"),
            log: root.join("postgres.log"),
            owner: root.join("started-by"),
            root,
        }
    }

    /// True while the xtask run that started the running cluster is still alive (e.g. a `dev`
    /// in another terminal); a cluster left behind by a killed run has no living owner.
    fn owner_is_alive(&self) -> bool {
        let owner = fs::read_to_string(&self.owner)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok());
        // Signal "None" only checks existence; EPERM means it exists but is someone else's.
        owner
            .is_some_and(|pid| matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM)))
    }

    /// Held while a run checks for, creates or starts the cluster, so two commands started at
    /// the same moment (a `dev` and a `test`) cannot both run initdb or pg_ctl start.
    fn lock(&self) -> Result<Flock<File>> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("could not open {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| anyhow!("could not lock {}: {errno}", path.display()))
    }

    fn claim(&self) -> Result<()> {
        fs::write(&self.owner, format!("{}\n", std::process::id()))
            .with_context(|| format!("could not write {}", self.owner.display()))
    }
}

/// Who runs initdb and pg_ctl: both refuse to run as root, so as root they run as the
/// `postgres` system user (created by the Debian package) through `runuser`.
#[derive(Debug, Clone)]
enum Runner {
    CurrentUser,
    SystemUser(User),
}

impl Runner {
    fn detect() -> Result<Self> {
        if !geteuid().is_root() {
            return Ok(Runner::CurrentUser);
        }
        let user = User::from_name("postgres")
            .context("could not look up the `postgres` system user")?
            .context(
                "running as root, but there is no `postgres` system user to run the cluster as \
                 (the Debian/Ubuntu postgresql package creates it)",
            )?;
        Ok(Runner::SystemUser(user))
    }

    /// `program` run by this runner, in `dir` (the postgres user may not be able to enter ours).
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut command = match self {
            Runner::CurrentUser => Command::new(program),
            Runner::SystemUser(user) => {
                let mut command = Command::new("runuser");
                command.arg("-u").arg(&user.name).arg("--").arg(program);
                command
            }
        };
        command.current_dir(dir);
        command
    }

    /// Makes a directory we created as root belong to the user that runs the server.
    fn adopt(&self, path: &Path) -> Result<()> {
        if let Runner::SystemUser(user) = self {
            chown(path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("could not chown {} to {}", path.display(), user.name))?;
        }
        Ok(())
    }

    fn can_write(&self, dir: &Path) -> bool {
        match self {
            Runner::CurrentUser => true,
            Runner::SystemUser(user) => cmd::succeeds(
                Command::new("runuser")
                    .arg("-u")
                    .arg(&user.name)
                    .args(["--", "test", "-w"])
                    .arg(dir),
            ),
        }
    }
}

pub(super) async fn start(repo: &Path, purpose: Purpose) -> Result<Postgres> {
    let runner = Runner::detect()?;
    let layout = prepare_layout(repo, &runner)?;
    let _only_us = layout.lock()?;
    let existing_major = fs::read_to_string(layout.data.join("PG_VERSION"))
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    let binaries = match ServerBinaries::find(existing_major) {
        Some(found) => found,
        None => {
            install_server()?;
            ServerBinaries::find(existing_major)
                .context("postgresql was installed, but initdb and pg_ctl are still not found")?
        }
    };
    let major = binaries.major()?;
    match existing_major {
        None => {
            println!("postgres: creating a cluster in {}", layout.data.display());
            let mut initdb = runner.command(&binaries.initdb, &layout.root);
            initdb.arg("-D").arg(&layout.data).args([
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]);
            cmd::output(&mut initdb).context("initdb failed")?;
        }
        Some(existing) if existing != major => bail!(
            "{} holds a PostgreSQL {existing} cluster, but the server programs found are version \
             {major}; install PostgreSQL {existing} or remove {} (its data is lost)",
            layout.data.display(),
            layout.root.display()
        ),
        Some(_) => {}
    }

    if let Some(port) = running_port(&binaries, &layout, &runner) {
        let url = local_url("postgres", port)?;
        if layout.owner_is_alive() {
            // Another xtask run (a `dev` in another terminal) started it and will stop it.
            println!(
                "postgres: sharing the project-local cluster on 127.0.0.1:{port} with the run that started it"
            );
            wait_until_accepting(&url, START_TIMEOUT).await?;
            return Ok(Postgres {
                admin_url: url,
                started: None,
            });
        }
        // Left behind by a run that was killed: adopt it, so it is stopped at the end of this one.
        println!("postgres: adopting the project-local cluster left running on 127.0.0.1:{port}");
        layout.claim()?;
        let postgres = Postgres {
            admin_url: url,
            started: Some(OwnCluster {
                pg_ctl: binaries.pg_ctl,
                layout,
                runner,
            }),
        };
        wait_until_accepting(&postgres.admin_url, START_TIMEOUT).await?;
        return Ok(postgres);
    }

    let port = free_port()?;
    println!(
        "postgres: starting PostgreSQL {major} on 127.0.0.1:{port} (data {}, log {})",
        layout.data.display(),
        layout.log.display()
    );
    let mut start = runner.command(&binaries.pg_ctl, &layout.root);
    start
        .arg("-D")
        .arg(&layout.data)
        .arg("-l")
        .arg(&layout.log)
        .arg("-o")
        .arg(server_options(port, &layout.sockets, purpose))
        // pg_ctl's own wait polls the postmaster with a deadline; we then confirm with a real connection.
        .args(["-w", "-t", &START_TIMEOUT.as_secs().to_string(), "start"]);
    if let Err(error) = cmd::output(&mut start) {
        bail!(
            "{error:#}\nlast lines of {}:\n{}",
            layout.log.display(),
            log_tail(&layout.log)
        );
    }
    let postgres = Postgres {
        admin_url: local_url("postgres", port)?,
        started: Some(OwnCluster {
            pg_ctl: binaries.pg_ctl,
            layout,
            runner,
        }),
    };
    // Recorded once it runs; an error from here on drops `postgres`, which stops the cluster.
    if let Some(cluster) = &postgres.started {
        cluster.layout.claim()?;
    }
    wait_until_accepting(&postgres.admin_url, START_TIMEOUT).await?;
    Ok(postgres)
}

/// Creates `.local/pg` (owned by the server's user), or, when that user cannot reach the
/// repository (a clone under root's 0700 home), a directory in that user's home instead.
fn prepare_layout(repo: &Path, runner: &Runner) -> Result<Layout> {
    let local = repo.join(".local").join("pg");
    fs::create_dir_all(&local).with_context(|| format!("could not create {}", local.display()))?;
    runner.adopt(&local)?;
    let root = match runner {
        Runner::SystemUser(user) if !runner.can_write(&local) => {
            let elsewhere = user.dir.join("mes-local").join(dir_name_for(repo));
            println!(
                "postgres: the `{}` user cannot reach {}; keeping the cluster in {}",
                user.name,
                local.display(),
                elsewhere.display()
            );
            for dir in [elsewhere.parent().unwrap_or(&elsewhere), &elsewhere] {
                fs::create_dir_all(dir)
                    .with_context(|| format!("could not create {}", dir.display()))?;
                runner.adopt(dir)?;
            }
            elsewhere
        }
        _ => local,
    };
    let layout = Layout::at(root);
    fs::create_dir_all(&layout.sockets)
        .with_context(|| format!("could not create {}", layout.sockets.display()))?;
    fs::set_permissions(&layout.sockets, fs::Permissions::from_mode(0o700))?;
    runner.adopt(&layout.sockets)?;
    Ok(layout)
}

/// `/root/src/mes` → `root-src-mes`: one cluster directory per clone.
fn dir_name_for(repo: &Path) -> String {
    let name: String = repo
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        "repo".to_owned()
    } else {
        name.to_owned()
    }
}

/// The port of a cluster already running on this data directory, if any.
fn running_port(binaries: &ServerBinaries, layout: &Layout, runner: &Runner) -> Option<u16> {
    let mut status = runner.command(&binaries.pg_ctl, &layout.root);
    status.arg("-D").arg(&layout.data).arg("status");
    if !cmd::succeeds(&mut status) {
        return None;
    }
    let pid_file = fs::read_to_string(layout.data.join("postmaster.pid")).ok()?;
    port_from_postmaster_pid(&pid_file)
}

/// `postmaster.pid` holds, line by line: pid, data directory, start time, port, socket directory, …
fn port_from_postmaster_pid(text: &str) -> Option<u16> {
    text.lines().nth(3)?.trim().parse().ok()
}

/// The `pg_ctl -o` string (run through `/bin/sh`, hence quoted): TCP on 127.0.0.1 only, the
/// Unix socket inside our directory (not /var/run/postgresql, which may belong to a packaged server).
fn server_options(port: u16, sockets: &Path, purpose: Purpose) -> String {
    let socket_file = sockets.join(format!(".s.PGSQL.{port}"));
    // A too-long socket path is fatal at start-up; we only connect over TCP, so go without one.
    let sockets = if socket_file.as_os_str().len() > MAX_SOCKET_PATH {
        String::new()
    } else {
        sockets.to_string_lossy().into_owned()
    };
    let mut settings = vec![
        "listen_addresses=127.0.0.1".to_owned(),
        format!("port={port}"),
        format!("unix_socket_directories={sockets}"),
    ];
    if purpose == Purpose::Test {
        for setting in [
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ] {
            settings.push(setting.to_owned());
        }
    }
    settings
        .iter()
        .map(|setting| format!("-c {}", cmd::shell_quote(setting)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn log_tail(log: &Path) -> String {
    match fs::read_to_string(log) {
        Ok(text) => last_lines(&text, 20),
        Err(error) => format!("(could not read it: {error})"),
    }
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// `initdb` and `pg_ctl` of one PostgreSQL version.
#[derive(Debug)]
struct ServerBinaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

impl ServerBinaries {
    /// Debian keeps server programs off PATH, under `/usr/lib/postgresql/<major>/bin`: the
    /// version that made an existing cluster, else the newest. Elsewhere (Homebrew, Fedora) PATH.
    fn find(wanted_major: Option<u32>) -> Option<Self> {
        let versions: Vec<String> = fs::read_dir(DEBIAN_PG_LIB)
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .filter(|entry| Self::in_dir(&entry.path().join("bin")).is_some())
                    .filter_map(|entry| entry.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        let chosen = wanted_major
            .map(|major| major.to_string())
            .filter(|major| versions.contains(major))
            .or_else(|| newest_version(&versions).map(str::to_owned));
        if let Some(version) = chosen {
            return Self::in_dir(&Path::new(DEBIAN_PG_LIB).join(version).join("bin"));
        }
        let initdb = find_on_path("initdb")?;
        let pg_ctl = Some(initdb.with_file_name("pg_ctl"))
            .filter(|path| is_executable(path))
            .or_else(|| find_on_path("pg_ctl"))?;
        Some(ServerBinaries { initdb, pg_ctl })
    }

    fn in_dir(dir: &Path) -> Option<Self> {
        let binaries = ServerBinaries {
            initdb: dir.join("initdb"),
            pg_ctl: dir.join("pg_ctl"),
        };
        (is_executable(&binaries.initdb) && is_executable(&binaries.pg_ctl)).then_some(binaries)
    }

    fn major(&self) -> Result<u32> {
        let output = cmd::output(Command::new(&self.pg_ctl).arg("--version"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        major_from_version_output(&text)
            .with_context(|| format!("could not read a version from `pg_ctl --version`: {text}"))
    }
}

/// The newest of version directory names such as `13`, `15`, `9.6` (numerically, not as text).
fn newest_version(names: &[String]) -> Option<&str> {
    names
        .iter()
        .filter_map(|name| parse_version(name).map(|version| (version, name.as_str())))
        .max()
        .map(|(_, name)| name)
}

fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// `pg_ctl (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)` → 15.
fn major_from_version_output(text: &str) -> Option<u32> {
    let version = text
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Installs the server on Debian/Ubuntu when we are root; otherwise says exactly what to run.
fn install_server() -> Result<()> {
    let has_apt = Path::new("/usr/bin/apt-get").exists();
    if !has_apt {
        bail!(
            "PostgreSQL server programs (initdb, pg_ctl) were not found under {DEBIAN_PG_LIB} or on \
             PATH. Install PostgreSQL 15 or newer, or start a server that accepts trust connections \
             on 127.0.0.1:5432, or set DATABASE_URL to a server where this role may create databases."
        );
    }
    if !geteuid().is_root() {
        bail!(
            "PostgreSQL server programs (initdb, pg_ctl) were not found. Install them with\n\n    \
             sudo apt-get update && sudo apt-get install -y postgresql\n\nand run this command again."
        );
    }
    println!("postgres: server programs not found; installing the postgresql package");
    for args in [&["update"][..], &["install", "-y", "postgresql"][..]] {
        cmd::run(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn newest_version_compares_numbers_not_text() {
        assert_eq!(newest_version(&names(&["9.6", "13", "15"])), Some("15"));
        assert_eq!(newest_version(&names(&["17", "9.6"])), Some("17"));
    }

    #[test]
    fn newest_version_ignores_non_version_directories() {
        assert_eq!(newest_version(&names(&["lib", "16", "16beta"])), Some("16"));
        assert_eq!(newest_version(&names(&["lib"])), None);
        assert_eq!(newest_version(&[]), None);
    }

    #[test]
    fn major_version_from_pg_ctl_output() {
        assert_eq!(
            major_from_version_output("pg_ctl (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(
            major_from_version_output("pg_ctl (PostgreSQL) 17beta2"),
            Some(17)
        );
        assert_eq!(
            major_from_version_output("pg_ctl (PostgreSQL) 9.6.24"),
            Some(9)
        );
        assert_eq!(major_from_version_output("pg_ctl"), None);
    }

    #[test]
    fn port_is_the_fourth_line_of_postmaster_pid() {
        let pid_file = "4242\n/srv/mes/.local/pg/data\n1764050000\n45123\n/srv/mes/.local/pg/run\n127.0.0.1\n  5432001   1\nready   \n";
        assert_eq!(port_from_postmaster_pid(pid_file), Some(45123));
        assert_eq!(port_from_postmaster_pid("4242\n/data\n"), None);
    }

    #[test]
    fn test_clusters_trade_durability_for_speed_dev_clusters_do_not() {
        let sockets = Path::new("/srv/mes/.local/pg/run");
        let dev = server_options(5999, sockets, Purpose::Dev);
        assert_eq!(
            dev,
            "-c listen_addresses=127.0.0.1 -c port=5999 -c unix_socket_directories=/srv/mes/.local/pg/run"
        );
        let test = server_options(5999, sockets, Purpose::Test);
        assert!(test.starts_with(&dev));
        assert!(test.ends_with("-c fsync=off -c synchronous_commit=off -c full_page_writes=off"));
    }

    #[test]
    fn socket_directory_with_spaces_is_quoted_and_too_long_one_dropped() {
        let options = server_options(
            6000,
            Path::new("/home/kim/my repo/.local/pg/run"),
            Purpose::Dev,
        );
        assert!(options.ends_with("-c 'unix_socket_directories=/home/kim/my repo/.local/pg/run'"));
        let deep = format!("/{}/.local/pg/run", "d".repeat(100));
        assert!(
            server_options(6000, Path::new(&deep), Purpose::Dev)
                .ends_with("-c unix_socket_directories=")
        );
    }

    #[test]
    fn cluster_directory_name_follows_the_clone_path() {
        assert_eq!(dir_name_for(Path::new("/root/src/mes")), "root-src-mes");
        assert_eq!(
            dir_name_for(Path::new("/root/my clone.v2")),
            "root-my-clone.v2"
        );
        assert_eq!(dir_name_for(Path::new("/")), "repo");
    }

    #[test]
    fn a_running_cluster_is_owned_only_while_its_starter_lives() -> Result<()> {
        let root = std::env::temp_dir().join(format!("xtask-owner-{}", std::process::id()));
        fs::create_dir_all(&root)?;
        let layout = Layout::at(root.clone());
        assert!(
            !layout.owner_is_alive(),
            "no started-by file: nobody owns it"
        );
        layout.claim()?;
        assert!(layout.owner_is_alive(), "this test process is alive");
        // Above Linux's largest pid_max (2^22): no such process.
        fs::write(&layout.owner, "999999999\n")?;
        assert!(!layout.owner_is_alive());
        let _held = layout.lock()?;
        fs::remove_dir_all(&root)?;
        Ok(())
    }

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }
}

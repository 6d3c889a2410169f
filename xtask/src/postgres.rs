//! Finding a PostgreSQL server for `dev` and `test`, or running a project-local cluster.
//!
//! Discovery order:
//! 1. an explicit URL: `MES_PG_ADMIN_URL`, else `DATABASE_URL` (used as given, never started or stopped);
//! 2. a server that already accepts trust connections on 127.0.0.1:5432 (`MES_PG_PORT_PROBE`
//!    changes the port) as `postgres`, else as the current OS user, with the right to create databases;
//! 3. our own cluster under `.local/pg` (reused across runs), after installing the server with
//!    apt-get when we are root on Debian/Ubuntu and it is missing.
//!
//! Only a cluster that this run started is stopped at the end.

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use nix::unistd::{User, getuid};
use reqwest::Url;
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;

mod cluster;

/// How long we give a server to answer one connection attempt while probing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `cargo xtask dev`: `mes_dev` must survive a crash, so the cluster keeps full durability.
    Dev,
    /// `cargo xtask test`: every test database is throwaway, so a cluster we start for tests
    /// trades durability for speed.
    Test,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Skip the explicit-URL and port-5432 discovery and always use the project-local cluster.
    pub own_cluster: bool,
    pub purpose: Purpose,
}

/// A server this run may use: a URL to its maintenance database as a role that may create databases.
#[derive(Debug)]
pub struct Postgres {
    admin_url: Url,
    /// Set only when this run started the cluster: the one thing we stop afterwards.
    started: Option<cluster::OwnCluster>,
}

impl Postgres {
    /// Connects to the maintenance database (e.g. to create `mes_dev`).
    pub fn admin_url(&self) -> &Url {
        &self.admin_url
    }

    /// The same server and role, another database.
    pub fn url_for_database(&self, database: &str) -> Url {
        let mut url = self.admin_url.clone();
        url.set_path(&format!("/{database}"));
        url
    }

    pub async fn connect_admin(&self) -> Result<PgConnection> {
        PgConnection::connect(self.admin_url.as_str())
            .await
            .with_context(|| format!("could not connect to {}", redacted(&self.admin_url)))
    }

    /// Stops the cluster if this run started it; a server found running is left alone.
    pub fn stop(mut self) -> Result<()> {
        match self.started.take() {
            Some(cluster) => cluster.stop(),
            None => Ok(()),
        }
    }
}

impl Drop for Postgres {
    // Early returns (`?`) must not leave a cluster we started running behind us.
    fn drop(&mut self) {
        if let Some(cluster) = self.started.take()
            && let Err(error) = cluster.stop()
        {
            let _ = writeln!(std::io::stderr(), "postgres: {error:#}");
        }
    }
}

/// Finds a usable server or starts the project-local cluster under `repo/.local/pg`.
pub async fn provide(repo: &Path, options: Options) -> Result<Postgres> {
    if !options.own_cluster {
        if let Some((variable, url)) = explicit_url()? {
            println!("postgres: using {variable} = {}", redacted(&url));
            check_admin(&url)
                .await
                .with_context(|| format!("{variable} is set, but that server is not usable"))?;
            return Ok(Postgres {
                admin_url: url,
                started: None,
            });
        }
        let port = probe_port()?;
        if let Some(url) = find_running(port).await? {
            println!(
                "postgres: using the server on 127.0.0.1:{port} as `{}`",
                url.username()
            );
            return Ok(Postgres {
                admin_url: url,
                started: None,
            });
        }
    }
    cluster::start(repo, options.purpose).await
}

/// Hides a password before a URL is printed.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot carry credentials, which then have none to hide.
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

fn explicit_url() -> Result<Option<(&'static str, Url)>> {
    for variable in ["MES_PG_ADMIN_URL", "DATABASE_URL"] {
        if let Ok(value) = std::env::var(variable)
            && !value.is_empty()
        {
            let url = Url::parse(&value).with_context(|| format!("{variable} is not a URL"))?;
            return Ok(Some((variable, url)));
        }
    }
    Ok(None)
}

fn probe_port() -> Result<u16> {
    match std::env::var("MES_PG_PORT_PROBE") {
        Ok(value) => value
            .parse()
            .with_context(|| format!("MES_PG_PORT_PROBE={value} is not a port number")),
        Err(_) => Ok(5432),
    }
}

/// `postgres://<user>@127.0.0.1:<port>/postgres`: trust auth, so no password.
pub fn local_url(user: &str, port: u16) -> Result<Url> {
    let mut url = Url::parse(&format!("postgres://127.0.0.1:{port}/postgres"))?;
    url.set_username(user)
        .map_err(|()| anyhow!("`{user}` cannot be used as a URL user name"))?;
    Ok(url)
}

async fn find_running(port: u16) -> Result<Option<Url>> {
    let reachable = tokio::time::timeout(
        PROBE_TIMEOUT,
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .is_ok_and(|connected| connected.is_ok());
    if !reachable {
        println!("postgres: nothing accepts connections on 127.0.0.1:{port}");
        return Ok(None);
    }
    for user in candidate_users() {
        let url = local_url(&user, port)?;
        match check_admin(&url).await {
            Ok(()) => return Ok(Some(url)),
            Err(error) => {
                println!("postgres: 127.0.0.1:{port} as `{user}` is not usable: {error:#}")
            }
        }
    }
    Ok(None)
}

/// `postgres` first (a packaged server's superuser), then whoever runs us (Homebrew's default).
fn candidate_users() -> Vec<String> {
    let mut users = vec!["postgres".to_owned()];
    let me = User::from_uid(getuid())
        .ok()
        .flatten()
        .map(|user| user.name)
        .or_else(|| std::env::var("USER").ok());
    if let Some(me) = me
        && !users.contains(&me)
    {
        users.push(me);
    }
    users
}

/// Connects and checks the role may create databases (`#[sqlx::test]` and `dev` both need it).
async fn check_admin(url: &Url) -> Result<()> {
    let attempt = async {
        let mut connection = PgConnection::connect(url.as_str()).await?;
        let may_create: Option<bool> = sqlx::query_scalar(
            "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_optional(&mut connection)
        .await?;
        connection.close().await?;
        Ok::<_, sqlx::Error>(may_create.unwrap_or(false))
    };
    match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
        Err(_) => bail!("no answer within {}s", PROBE_TIMEOUT.as_secs()),
        Ok(Err(error)) => Err(error.into()),
        Ok(Ok(false)) => bail!("role `{}` may not create databases", url.username()),
        Ok(Ok(true)) => Ok(()),
    }
}

/// Polls until the server accepts us, or fails at the deadline with the last error.
async fn wait_until_accepting(url: &Url, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match check_admin(url).await {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                return Err(error.context(format!(
                    "PostgreSQL at {} did not accept connections within {}s",
                    redacted(url),
                    timeout.as_secs()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Asks the kernel for a free port (bind to port 0); the tiny race until postgres binds it is accepted.
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("could not find a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_url_names_user_port_and_maintenance_database() -> Result<()> {
        assert_eq!(
            local_url("postgres", 5432)?.as_str(),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            local_url("kim.lee", 6000)?.as_str(),
            "postgres://kim.lee@127.0.0.1:6000/postgres"
        );
        Ok(())
    }

    #[test]
    fn redacted_hides_only_the_password() -> Result<()> {
        let url = Url::parse("postgres://mes:s3cret@db.example:5432/mes")?;
        assert_eq!(redacted(&url), "postgres://mes:***@db.example:5432/mes");
        let url = local_url("postgres", 5432)?;
        assert_eq!(redacted(&url), url.as_str());
        Ok(())
    }
}

//! `cargo xtask dev`: the whole local stack in one command — PostgreSQL (found or started),
//! the `mes_dev` database, secrets, mes-api built and started, demo data, the simulator's demo
//! stations, the dashboard (web UI built with npm when it changed, and its server), then
//! mes-api's output until Ctrl-C, when everything this run started is stopped again.

use std::path::Path;

use anyhow::{Result, anyhow};
use reqwest::Url;

use crate::dashboard::{self, DashboardProcess};
use crate::mes_api::{self, ApiProcess};
use crate::postgres::{self, Postgres, Purpose};
use crate::secrets::{self, DevSecrets};
use crate::seed::{self, DemoUser, Outcome};
use crate::shutdown::Shutdown;

/// The local stack's database; `--reset` drops and recreates it. (sqlx takes only literal SQL,
/// hence the name repeated in the two statements below.)
const DATABASE: &str = "mes_dev";
/// FORCE ends sessions a previous mes-api may have left open.
const DROP_DATABASE: &str = "DROP DATABASE IF EXISTS mes_dev WITH (FORCE)";
const CREATE_DATABASE: &str = "CREATE DATABASE mes_dev";

#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Drop and recreate the `mes_dev` database (demo data is seeded again)
    #[arg(long)]
    pub reset: bool,
    /// Port of mes-api on 127.0.0.1 [default: 8080 if free, else any free port]
    #[arg(long)]
    pub port: Option<u16>,
    /// Plant timezone for production dates and shifts (MES_TIMEZONE)
    #[arg(long, default_value = "Asia/Seoul")]
    pub timezone: String,
    /// Do not create the demo plant, line, defect codes and users
    #[arg(long)]
    pub no_seed: bool,
    /// Do not start the production simulator (the demo stations)
    #[arg(long)]
    pub no_sim: bool,
    /// Do not build and start the dashboard (the web UI; needs Node.js and npm)
    #[arg(long)]
    pub no_dashboard: bool,
    /// Always use the project-local cluster in .local/pg, even if a server runs on 5432
    #[arg(long)]
    pub own_postgres: bool,
}

pub async fn run(repo: &Path, args: DevArgs) -> Result<()> {
    let mut shutdown = Shutdown::listen()?;
    let options = postgres::Options {
        own_cluster: args.own_postgres,
        purpose: Purpose::Dev,
    };
    let postgres = postgres::provide(repo, options).await?;
    let result = run_with_database(repo, &args, &postgres, &mut shutdown).await;
    let stopped = postgres.stop();
    result.and(stopped)
}

async fn run_with_database(
    repo: &Path,
    args: &DevArgs,
    postgres: &Postgres,
    shutdown: &mut Shutdown,
) -> Result<()> {
    prepare_database(postgres, args.reset).await?;
    let secrets = DevSecrets::ensure(repo)?;
    // Built first, so that a missing Node.js fails before anything is started.
    let web = if args.no_dashboard {
        None
    } else {
        let assets = dashboard::build_web(repo)?;
        let server = mes_api::build_binary(repo, "dashboard-server", "dashboard")?;
        Some((assets, server))
    };
    let binary = mes_api::build(repo)?;
    let port = mes_api::choose_port(args.port)?;
    let config = mes_api::Config {
        database_url: postgres.url_for_database(DATABASE),
        listen: ([127, 0, 0, 1], port).into(),
        jwt_secret_file: secrets.jwt_secret_file.clone(),
        plant_code: "KR".to_owned(),
        lot_prefix: "FN".to_owned(),
        timezone: args.timezone.clone(),
        admin_user: "admin".to_owned(),
        admin_password_file: secrets.admin_password_file.clone(),
    };
    println!("mes-api: starting on {}", config.listen);
    let mut api = ApiProcess::spawn(&binary, &config, repo)?;

    let mut companions = Companions::default();
    let started = tokio::select! {
        result = start_up(&mut api, repo, args, &secrets, &config.database_url, web.as_ref(), &mut companions) => result.map(|()| true),
        signal = shutdown.recv() => {
            println!("{signal}: stopping before start-up finished");
            Ok(false)
        }
    };
    let outcome = match started {
        Ok(true) => serve_until_stopped(&mut api, &mut companions.dashboard, shutdown).await,
        Ok(false) => Ok(()),
        Err(error) => Err(error),
    };
    // The clients of mes-api go first.
    let dashboard_stopped = match companions.dashboard {
        Some(dashboard) => dashboard.stop().await,
        None => Ok(()),
    };
    if let Some(sim) = companions.simulator {
        crate::simulator::stop(sim).await;
    }
    let stopped = api.stop().await;
    outcome.and(dashboard_stopped).and(stopped)
}

/// What runs beside mes-api: the demo stations and the dashboard.
#[derive(Debug, Default)]
struct Companions {
    simulator: Option<tokio::process::Child>,
    dashboard: Option<DashboardProcess>,
}

/// Forwards mes-api's output until Ctrl-C/SIGTERM (a clean exit) or until mes-api or the
/// dashboard dies (an error).
async fn serve_until_stopped(
    api: &mut ApiProcess,
    dashboard: &mut Option<DashboardProcess>,
    shutdown: &mut Shutdown,
) -> Result<()> {
    let dashboard_exit = async {
        match dashboard {
            Some(dashboard) => dashboard.exited().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        status = dashboard_exit => Err(anyhow!(
            "the dashboard server exited unexpectedly ({})",
            status.map_or_else(|error| error.to_string(), |status| status.to_string())
        )),
        signal = shutdown.recv() => {
            println!("\n{signal}: shutting down");
            Ok(())
        }
        status = api.exited() => Err(anyhow!(
            "mes-api exited unexpectedly ({}); its last output:\n{}",
            status.map_or_else(|error| error.to_string(), |status| status.to_string()),
            api.tail()
        )),
    }
}

/// Everything between spawning mes-api and handing the terminal over to its output.
async fn start_up(
    api: &mut ApiProcess,
    repo: &Path,
    args: &DevArgs,
    secrets: &DevSecrets,
    database_url: &Url,
    web: Option<&(std::path::PathBuf, std::path::PathBuf)>,
    companions: &mut Companions,
) -> Result<()> {
    api.wait_ready().await?;
    let base = api.base_url().clone();
    let users = demo_users(secrets)?;
    if let Some((assets, server)) = web {
        let config = dashboard::Config {
            listen: ([127, 0, 0, 1], dashboard::choose_port()?).into(),
            assets_dir: assets.clone(),
            mes_api: base.clone(),
            // No cluster locally: the infra pages say that the plant runs without infra-api.
            infra_api: None,
        };
        println!("dashboard: starting on {}", config.listen);
        let mut process = DashboardProcess::spawn(server, &config, repo)?;
        process.wait_ready().await?;
        companions.dashboard = Some(process);
    }
    let dashboard_url = companions
        .dashboard
        .as_ref()
        .map(|dashboard| dashboard.base_url().clone());
    let seeded = if args.no_seed {
        None
    } else {
        let outcome = seed::seed(&base.join("api/v1/")?, &users).await?;
        let text = credentials_text(&base, dashboard_url.as_ref(), &users);
        secrets::write_private(&secrets.credentials_file(), &text)?;
        Some(outcome)
    };
    if !args.no_seed && !args.no_sim {
        // The demo stations: START/COMPLETE events so the plant is alive.
        companions.simulator = Some(crate::simulator::start(
            repo,
            &base,
            &secrets.admin_password_file,
        )?);
    }
    let urls = Urls {
        api: &base,
        dashboard: dashboard_url.as_ref(),
        database: database_url,
    };
    print_banner(repo, &urls, secrets, &users, seeded.as_ref());
    Ok(())
}

/// Where things are, for the banner.
struct Urls<'a> {
    api: &'a Url,
    dashboard: Option<&'a Url>,
    database: &'a Url,
}

async fn prepare_database(postgres: &Postgres, reset: bool) -> Result<()> {
    let mut connection = postgres.connect_admin().await?;
    if reset {
        println!("postgres: dropping database {DATABASE} (--reset)");
        sqlx::query(DROP_DATABASE).execute(&mut connection).await?;
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut connection)
            .await?;
    if !exists {
        println!("postgres: creating database {DATABASE}");
        sqlx::query(CREATE_DATABASE)
            .execute(&mut connection)
            .await?;
    }
    Ok(())
}

fn demo_users(secrets: &DevSecrets) -> Result<Vec<DemoUser>> {
    seed::DEMO_ACCOUNTS
        .iter()
        .map(|&(username, role, full_name)| {
            Ok(DemoUser {
                username,
                role,
                full_name,
                password: secrets.password(username)?,
            })
        })
        .collect()
}

fn credentials_text(api_base: &Url, dashboard: Option<&Url>, users: &[DemoUser]) -> String {
    let dashboard = dashboard.map_or_else(String::new, |url| format!("dashboard {url}\n"));
    format!(
        "# Demo logins of the local MES stack (`cargo xtask dev`), rewritten on every run.\n\
         {dashboard}\
         mes-api   {api_base}\n\
         API docs  {api_base}docs\n\n{}",
        seed::credentials_table(users)
    )
}

fn print_banner(
    repo: &Path,
    urls: &Urls<'_>,
    secrets: &DevSecrets,
    users: &[DemoUser],
    seeded: Option<&Outcome>,
) {
    let shown = |path: &Path| {
        path.strip_prefix(repo)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let rule = "=".repeat(72);
    println!("\n{rule}");
    println!("  MES local stack is running");
    if let Some(dashboard) = urls.dashboard {
        println!("    dashboard  {dashboard}   <- open this and log in");
    }
    println!("    mes-api    {}", urls.api);
    println!("    API docs   {}docs", urls.api);
    println!("    database   {}", postgres::redacted(urls.database));
    println!();
    let credentials = shown(&secrets.credentials_file());
    match seeded {
        Some(Outcome::Seeded) => {
            for line in seed::credentials_table(users).lines() {
                println!("    {line}");
            }
            println!("\n  These logins are saved in {credentials} (readable only by you).");
        }
        Some(Outcome::AlreadySeeded) => {
            println!("  Demo data was seeded before; the logins are in {credentials}.");
        }
        None => println!(
            "  No demo data (--no-seed). Log in as `admin`; the password is in {}.",
            shown(&secrets.admin_password_file)
        ),
    }
    println!("  Press Ctrl-C to stop.");
    println!("{rule}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_statements_name_the_dev_database() {
        assert!(DROP_DATABASE.contains(&format!(" {DATABASE} ")));
        assert!(CREATE_DATABASE.ends_with(&format!(" {DATABASE}")));
    }

    #[test]
    fn credentials_file_names_the_urls_and_every_login() -> Result<()> {
        let users = vec![DemoUser {
            username: "admin",
            role: "ADMIN",
            full_name: "Bootstrap Administrator",
            password: "pw1".to_owned(),
        }];
        let dashboard = Url::parse("http://127.0.0.1:8082/")?;
        let text = credentials_text(
            &Url::parse("http://127.0.0.1:8080/")?,
            Some(&dashboard),
            &users,
        );
        assert!(text.contains("dashboard http://127.0.0.1:8082/\n"));
        assert!(text.contains("mes-api   http://127.0.0.1:8080/\n"));
        assert!(text.contains("API docs  http://127.0.0.1:8080/docs\n"));
        assert!(text.ends_with("user   role   password\nadmin  ADMIN  pw1\n"));
        Ok(())
    }
}

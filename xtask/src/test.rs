//! `cargo xtask test`: every check of the workspace, in order, failing fast. `.ci/run` calls
//! exactly this, so CI and a developer run the same thing.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::Url;
use tokio::process::Command;

use crate::cmd;
use crate::postgres::{self, Purpose};
use crate::shutdown::Shutdown;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Always use the project-local cluster in .local/pg, even if a server runs on 5432
    #[arg(long)]
    pub own_postgres: bool,
    /// Run only these stages (comma separated), e.g. `--only format,clippy` as the Jenkins
    /// Lint stage does
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Extra arguments for `cargo nextest run`, e.g. `cargo xtask test -- -E 'test(lot)'`
    #[arg(last = true)]
    pub nextest_args: Vec<String>,
}

/// One check: a named command run from the repository root with `DATABASE_URL` set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stage {
    name: &'static str,
    program: OsString,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Stage {
    fn cargo(name: &'static str, args: &[&str]) -> Self {
        Stage {
            name,
            program: cmd::cargo(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            env: Vec::new(),
        }
    }

    fn command(&self) -> StdCommand {
        let mut command = if self.program == cmd::cargo() {
            cmd::cargo_command()
        } else {
            StdCommand::new(&self.program)
        };
        command.args(&self.args);
        command
    }

    fn command_line(&self) -> String {
        let mut line = self.program.to_string_lossy().into_owned();
        for arg in &self.args {
            line.push(' ');
            line.push_str(&cmd::shell_quote(arg));
        }
        line
    }
}

/// Every check, in the order they run. New checks (artifact validators, CRD drift) are added
/// here; cheap, fast-failing ones first.
fn stages(nextest_args: &[String], schemathesis: &Path, chromium: &Path) -> Vec<Stage> {
    let mut tests = Stage::cargo(
        "tests",
        &["nextest", "run", "--workspace", "--no-fail-fast"],
    );
    tests.args.extend(nextest_args.iter().cloned());
    vec![
        Stage::cargo("format", &["fmt", "--all", "--", "--check"]),
        Stage::cargo(
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        // The web UI: `tsc --noEmit`, the Vitest unit tests, and the production build that the
        // browser stage serves.
        Stage {
            name: "web",
            program: "npm".into(),
            args: ["--prefix", crate::dashboard::WEB_DIR, "run", "verify"]
                .map(str::to_owned)
                .to_vec(),
            env: Vec::new(),
        },
        tests,
        // Fuzzes mes-api from its own OpenAPI document (an ignored test, run only here).
        Stage {
            env: vec![(
                "SCHEMATHESIS".to_owned(),
                schemathesis.display().to_string(),
            )],
            ..Stage::cargo(
                "api-fuzz",
                &[
                    "nextest",
                    "run",
                    // The whole workspace (filtered), so the build is the one the tests stage
                    // made: a single-package build unifies features differently and recompiles.
                    "--workspace",
                    "--run-ignored",
                    "only",
                    "-E",
                    "test(schemathesis)",
                ],
            )
        },
        // The dashboard in headless Chromium against mes-api, infra-api (on the Kubernetes
        // double) and the dashboard server with real PostgreSQL (an ignored test, run only
        // here; services/dashboard/tests/browser.rs).
        Stage {
            env: vec![(
                "DASHBOARD_CHROMIUM".to_owned(),
                chromium.display().to_string(),
            )],
            ..Stage::cargo(
                "browser",
                &[
                    "nextest",
                    "run",
                    "--workspace",
                    "--run-ignored",
                    "only",
                    "-E",
                    "test(dashboard_in_chromium)",
                ],
            )
        },
    ]
}

/// The stages named in `only` (all when empty), in their usual order.
fn select(plan: Vec<Stage>, only: &[String]) -> Result<Vec<Stage>> {
    if let Some(unknown) = only
        .iter()
        .find(|n| !plan.iter().any(|s| s.name == n.as_str()))
    {
        let names: Vec<&str> = plan.iter().map(|s| s.name).collect();
        bail!("no stage `{unknown}`; stages: {}", names.join(", "));
    }
    Ok(plan
        .into_iter()
        .filter(|s| only.is_empty() || only.iter().any(|n| n == s.name))
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed(String),
    Interrupted(&'static str),
}

#[derive(Debug)]
struct StageRun {
    name: &'static str,
    verdict: Verdict,
    took: Duration,
}

pub async fn run(repo: &Path, args: TestArgs) -> Result<()> {
    let mut shutdown = Shutdown::listen()?;
    ensure_tools()?;
    let schemathesis = crate::tools::python_tools(repo)?;
    crate::tools::ensure_groovy()?;
    // The web stage needs the npm packages, the browser stage Chromium.
    crate::dashboard::install_web_dependencies(repo)?;
    let chromium = crate::dashboard::ensure_chromium()?;
    let options = postgres::Options {
        own_cluster: args.own_postgres,
        purpose: Purpose::Test,
    };
    let postgres = postgres::provide(repo, options).await?;
    // `#[sqlx::test]` connects here and creates a fresh database per test.
    let database_url = postgres.admin_url().clone();
    println!("test: DATABASE_URL={}", postgres::redacted(&database_url));

    let started = Instant::now();
    let plan = select(
        stages(&args.nextest_args, &schemathesis, &chromium),
        &args.only,
    )?;
    let mut runs = Vec::new();
    for stage in &plan {
        println!("\n==> {}: {}", stage.name, stage.command_line());
        let run = run_stage(repo, stage, &database_url, &mut shutdown).await?;
        println!(
            "==> {} {} in {}",
            stage.name,
            verdict_word(&run.verdict),
            format_duration(run.took)
        );
        let failed = run.verdict != Verdict::Passed;
        runs.push(run);
        if failed {
            break;
        }
    }
    let stopped = postgres.stop();
    println!("\n{}", summary(&plan, &runs, started.elapsed()));
    stopped?;
    match runs.iter().find(|run| run.verdict != Verdict::Passed) {
        Some(StageRun {
            name,
            verdict: Verdict::Failed(reason),
            ..
        }) => {
            bail!("stage `{name}` failed: {reason}")
        }
        Some(StageRun {
            name,
            verdict: Verdict::Interrupted(signal),
            ..
        }) => {
            bail!("stage `{name}` interrupted by {signal}")
        }
        _ => Ok(()),
    }
}

async fn run_stage(
    repo: &Path,
    stage: &Stage,
    database_url: &Url,
    shutdown: &mut Shutdown,
) -> Result<StageRun> {
    let started = Instant::now();
    let mut child = Command::from(stage.command())
        .current_dir(repo)
        .env("DATABASE_URL", database_url.as_str())
        .envs(stage.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("could not start `{}`", stage.command_line()))?;
    let verdict = tokio::select! {
        status = child.wait() => {
            let status = status?;
            if status.success() { Verdict::Passed } else { Verdict::Failed(status.to_string()) }
        }
        signal = shutdown.recv() => {
            // Ctrl-C already reached the stage (same process group); a SIGTERM sent to us alone
            // is passed on, so the stage's own clean-up runs before we stop the database.
            if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            child.wait().await?;
            Verdict::Interrupted(signal)
        }
    };
    Ok(StageRun {
        name: stage.name,
        verdict,
        took: started.elapsed(),
    })
}

/// cargo-nextest, rustfmt and clippy, installed when missing (a fresh machine has only cargo).
fn ensure_tools() -> Result<()> {
    let cargo = cmd::cargo();
    let cargo_has =
        |subcommand: &str| cmd::succeeds(StdCommand::new(&cargo).args([subcommand, "--version"]));
    let missing: Vec<&str> = [("fmt", "rustfmt"), ("clippy", "clippy")]
        .into_iter()
        .filter(|(subcommand, _)| !cargo_has(subcommand))
        .map(|(_, component)| component)
        .collect();
    if !missing.is_empty() {
        if !cmd::succeeds(StdCommand::new("rustup").arg("--version")) {
            bail!(
                "cargo lacks {}; install these toolchain components",
                missing.join(" and ")
            );
        }
        println!("test: adding toolchain components {}", missing.join(", "));
        cmd::run(
            StdCommand::new("rustup")
                .args(["component", "add"])
                .args(&missing),
        )?;
    }
    if !cargo_has("nextest") {
        println!("test: installing cargo-nextest");
        cmd::run(cmd::cargo_command().args(["install", "cargo-nextest", "--locked"]))?;
    }
    Ok(())
}

fn verdict_word(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Passed => "passed",
        Verdict::Failed(_) => "FAILED",
        Verdict::Interrupted(_) => "INTERRUPTED",
    }
}

/// `0.4s`, `12.0s`, `3m 05s`
fn format_duration(took: Duration) -> String {
    let seconds = took.as_secs_f64();
    if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else {
        let whole = took.as_secs();
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

/// One line per planned stage (those after a failure show as not run), then the total.
fn summary(plan: &[Stage], runs: &[StageRun], total: Duration) -> String {
    let width = plan.iter().map(|stage| stage.name.len()).max().unwrap_or(0);
    let mut text = String::from("test summary:\n");
    for stage in plan {
        let _ = match runs.iter().find(|run| run.name == stage.name) {
            Some(run) => writeln!(
                text,
                "  {:<width$}  {:<11}  {:>8}",
                stage.name,
                verdict_word(&run.verdict),
                format_duration(run.took)
            ),
            None => writeln!(text, "  {:<width$}  not run", stage.name),
        };
    }
    let all_passed =
        runs.len() == plan.len() && runs.iter().all(|run| run.verdict == Verdict::Passed);
    let outcome = if all_passed {
        "all stages passed"
    } else {
        "FAILED"
    };
    let _ = write!(text, "{outcome} in {}", format_duration(total));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_named_stages_in_order_and_rejects_unknown_names() {
        let plan = || {
            stages(
                &[],
                Path::new("/x/schemathesis"),
                Path::new("/usr/bin/chromium"),
            )
        };
        let picked =
            select(plan(), &["clippy".to_owned(), "format".to_owned()]).expect("known stages");
        let names: Vec<&str> = picked.iter().map(|stage| stage.name).collect();
        assert_eq!(names, ["format", "clippy"]);
        assert_eq!(select(plan(), &[]).expect("all stages").len(), plan().len());
        let error = select(plan(), &["lint".to_owned()])
            .expect_err("an unknown stage")
            .to_string();
        assert!(error.contains("no stage `lint`"), "{error}");
    }

    #[test]
    fn stages_run_format_then_clippy_then_tests_with_extra_nextest_args_last() {
        let plan = stages(
            &["-E".to_owned(), "test(lot)".to_owned()],
            Path::new("/x/schemathesis"),
            Path::new("/usr/bin/chromium"),
        );
        let names: Vec<&str> = plan.iter().map(|stage| stage.name).collect();
        assert_eq!(
            names,
            ["format", "clippy", "web", "tests", "api-fuzz", "browser"]
        );
        assert_eq!(
            plan[4].env,
            [("SCHEMATHESIS".to_owned(), "/x/schemathesis".to_owned())]
        );
        assert_eq!(
            plan[2].command_line(),
            "npm --prefix services/dashboard/web run verify"
        );
        assert_eq!(
            plan[5].env,
            [(
                "DASHBOARD_CHROMIUM".to_owned(),
                "/usr/bin/chromium".to_owned()
            )]
        );
        assert_eq!(
            plan[1].args,
            [
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings"
            ]
        );
        assert_eq!(
            plan[3].args,
            [
                "nextest",
                "run",
                "--workspace",
                "--no-fail-fast",
                "-E",
                "test(lot)"
            ]
        );
        assert!(
            plan[3]
                .command_line()
                .ends_with("--no-fail-fast -E 'test(lot)'")
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(420)), "0.4s");
        assert_eq!(format_duration(Duration::from_millis(59_940)), "59.9s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m 05s");
    }

    #[test]
    fn summary_marks_the_failed_stage_and_those_not_run() {
        let plan = stages(&[], Path::new("st"), Path::new("c"));
        let runs = vec![
            StageRun {
                name: "format",
                verdict: Verdict::Passed,
                took: Duration::from_millis(400),
            },
            StageRun {
                name: "clippy",
                verdict: Verdict::Failed("exit status: 101".to_owned()),
                took: Duration::from_secs(31),
            },
        ];
        assert_eq!(
            summary(&plan, &runs, Duration::from_secs(32)),
            "test summary:\n  \
             format    passed           0.4s\n  \
             clippy    FAILED          31.0s\n  \
             web       not run\n  \
             tests     not run\n  \
             api-fuzz  not run\n  \
             browser   not run\n\
             FAILED in 32.0s"
        );
    }

    #[test]
    fn summary_says_all_passed_only_when_every_stage_ran_and_passed() {
        let plan = stages(&[], Path::new("st"), Path::new("c"));
        let runs: Vec<StageRun> = plan
            .iter()
            .map(|stage| StageRun {
                name: stage.name,
                verdict: Verdict::Passed,
                took: Duration::from_secs(1),
            })
            .collect();
        assert!(
            summary(&plan, &runs, Duration::from_secs(3)).ends_with("all stages passed in 3.0s")
        );
        assert!(summary(&plan, &runs[..2], Duration::from_secs(2)).ends_with("FAILED in 2.0s"));
    }
}

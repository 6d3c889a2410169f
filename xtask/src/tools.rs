//! Test tools from package registries, installed on demand into `.local/tools` (pinned versions,
//! so every machine checks with the same tool).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Python tools the tests use, from PyPI: the API fuzzer, the Kubernetes manifest validator and
/// the YAML linter (the operator's and tests/delivery's tests find them in `.local/tools/venv/bin`).
pub const PYTHON_TOOLS: [&str; 3] = [
    "schemathesis==4.32.5",
    "kubernetes-validate==1.37.0",
    "yamllint==1.38.0",
];

/// The project-local virtualenv with [`PYTHON_TOOLS`], (re)built when its pins changed; returns
/// the path of the `schemathesis` CLI.
pub fn python_tools(repo: &Path) -> Result<PathBuf> {
    let venv = repo.join(".local/tools/venv");
    let bin = venv.join("bin/schemathesis");
    let pinned = venv.join(format!(".pinned-{}", PYTHON_TOOLS.join("+")));
    if bin.exists() && pinned.exists() {
        return Ok(bin);
    }
    println!(
        "test: installing {} into {}",
        PYTHON_TOOLS.join(", "),
        venv.display()
    );
    if !cmd::succeeds(Command::new("python3").args(["-m", "venv", "--help"])) || !make_venv(&venv) {
        // Debian ships venv and pip separately from python3.
        if nix::unistd::Uid::effective().is_root() {
            apt_install(&["python3-venv", "python3-pip"])?;
        }
        if !make_venv(&venv) {
            bail!("cannot create a Python virtualenv; install python3-venv");
        }
    }
    cmd::run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .args(PYTHON_TOOLS),
    )
    .context("installing the Python test tools from PyPI")?;
    std::fs::write(&pinned, "").context("marking the installed version")?;
    Ok(bin)
}

fn make_venv(venv: &Path) -> bool {
    let _ = std::fs::remove_dir_all(venv);
    cmd::succeeds(Command::new("python3").arg("-m").arg("venv").arg(venv))
}

/// Installs Debian packages (as root; callers say what to do otherwise).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let apt = |args: &[&str]| {
        cmd::run(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if apt(&[&["install", "-y", "-q"][..], packages].concat()).is_err() {
        // A fresh machine may have no package lists yet.
        apt(&["update", "-q"])?;
        apt(&[&["install", "-y", "-q"][..], packages].concat())?;
    }
    Ok(())
}

/// Debian's Groovy (Jenkins' own language line), with which tests/delivery parses the
/// Jenkinsfile; installed with apt-get when missing.
/// Whether an executable called `name` is in one of `PATH`'s directories.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

pub fn ensure_groovy() -> Result<()> {
    // Not `groovy --version`: Debian's launcher fails without JAVA_HOME even when installed.
    if on_path("groovy") && on_path("java") {
        return Ok(());
    }
    if !nix::unistd::Uid::effective().is_root() {
        bail!("groovy is missing; the Jenkinsfile check needs it: sudo apt-get install -y groovy");
    }
    println!("test: installing groovy for the Jenkinsfile check");
    apt_install(&["groovy"])
}

//! Test tools from package registries, installed on demand into `.local/tools` (pinned versions,
//! so every machine checks with the same tool).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Python tools the tests use, from PyPI: the API fuzzer, and the Kubernetes manifest validator
/// (the operator's tests find it at `.local/tools/venv/bin/kubernetes-validate`).
pub const PYTHON_TOOLS: [&str; 2] = ["schemathesis==4.32.5", "kubernetes-validate==1.37.0"];

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
            cmd::run(
                Command::new("apt-get")
                    .args(["install", "-y", "-q", "python3-venv", "python3-pip"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )?;
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

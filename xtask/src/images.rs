//! `cargo xtask images`: the container images as the Jenkins Images stage builds them — static
//! release binaries (jenkins/scripts/build-binaries.sh), FROM-scratch images with buildah and no
//! Docker daemon (build-images.sh), each checked for a non-root user, its entrypoint and
//! `--version` (check-image.sh). Installs buildah with apt-get when missing.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::cmd;

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Registry and path the images are tagged with
    #[arg(long, default_value = "localhost/mes")]
    pub registry: String,
    /// Binaries to package (default: every shipped binary)
    pub binaries: Vec<String>,
}

pub fn run(repo: &Path, args: ImagesArgs) -> Result<()> {
    if !cmd::succeeds(Command::new("buildah").arg("--version")) {
        if !nix::unistd::Uid::effective().is_root() {
            bail!("buildah is missing: sudo apt-get install -y buildah");
        }
        crate::tools::apt_install(&["buildah"])?;
    }
    let scripts = repo.join("jenkins/scripts");
    let out = cmd::output(&mut Command::new(scripts.join("version.sh")))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let version = version.as_str();
    let bin_dir = repo.join(".local/images/bin");
    // The static build has its own target directory: other RUSTFLAGS would rebuild the shared one.
    cmd::run(
        Command::new(scripts.join("build-binaries.sh"))
            .arg(&bin_dir)
            .args(&args.binaries)
            .env("CARGO_TARGET_DIR", repo.join(".local/images/target")),
    )?;
    let vfs = [("BUILDAH_FLAGS", "--storage-driver vfs")];
    cmd::run(
        Command::new(scripts.join("build-images.sh"))
            .arg(&bin_dir)
            .args([&args.registry, version])
            .args(&args.binaries)
            .envs(vfs),
    )?;
    let binaries = if args.binaries.is_empty() {
        [
            "mes-operator",
            "mes-api",
            "infra-api",
            "dashboard",
            "station-agent",
        ]
        .map(str::to_owned)
        .to_vec()
    } else {
        args.binaries
    };
    for binary in binaries {
        cmd::run(
            Command::new(scripts.join("check-image.sh"))
                .arg(format!("{}/{binary}:{version}", args.registry))
                .envs(vfs),
        )?;
    }
    Ok(())
}

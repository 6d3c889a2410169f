//! The station folder (seed 001 §3.5.1) and moving files within it without ever overwriting.
//!
//! ```text
//! {base}/input/{start,complete}/           the process apps drop files here
//! {base}/processed/{kind}/{YYYYMMDD}/      delivered (purged after the retention)
//! {base}/error/{kind}/{YYYYMMDD}/          rejected, each with <name>.error.txt
//! {base}/queue/offline_queue.db            the offline queue (SQLite, WAL)
//! {base}/queue/spool/{kind}/               files whose event is queued, until delivered
//! {base}/logs/                             rolling log files
//! ```

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, NaiveDate};
use sha2::{Digest, Sha256};

use crate::event::Kind;

pub const ERROR_SUFFIX: &str = ".error.txt";

#[derive(Debug, Clone)]
pub struct Layout {
    base: PathBuf,
}

fn day(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

impl Layout {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn input(&self, kind: Kind) -> PathBuf {
        self.base.join("input").join(kind.as_str())
    }

    pub fn processed_root(&self, kind: Kind) -> PathBuf {
        self.base.join("processed").join(kind.as_str())
    }

    pub fn processed(&self, kind: Kind, date: NaiveDate) -> PathBuf {
        self.processed_root(kind).join(day(date))
    }

    pub fn error_root(&self, kind: Kind) -> PathBuf {
        self.base.join("error").join(kind.as_str())
    }

    pub fn error(&self, kind: Kind, date: NaiveDate) -> PathBuf {
        self.error_root(kind).join(day(date))
    }

    pub fn queue_db(&self) -> PathBuf {
        self.base.join("queue").join("offline_queue.db")
    }

    pub fn spool(&self, kind: Kind) -> PathBuf {
        self.base.join("queue").join("spool").join(kind.as_str())
    }

    /// Where a queued file waits: named by its queue id, so equal names never collide.
    pub fn spooled(&self, kind: Kind, id: i64, file_name: &str) -> PathBuf {
        self.spool(kind).join(format!("{id:010}-{file_name}"))
    }

    pub fn logs(&self) -> PathBuf {
        self.base.join("logs")
    }

    /// Creates the folders the agent writes into or watches.
    pub fn create(&self, kinds: &[Kind]) -> io::Result<()> {
        for kind in kinds {
            std::fs::create_dir_all(self.input(*kind))?;
            std::fs::create_dir_all(self.spool(*kind))?;
        }
        if let Some(q) = self.queue_db().parent() {
            std::fs::create_dir_all(q)?;
        }
        Ok(())
    }
}

/// A free name in `dir` for `name`: `name`, else `stem-1.ext`, `stem-2.ext`, … A name counts
/// as taken when the file or its `.error.txt` exists. The agent is the only writer of these
/// folders, so checking then renaming does not race.
pub fn free_name(dir: &Path, name: &str) -> PathBuf {
    let taken = |candidate: &str| {
        dir.join(candidate).exists() || dir.join(format!("{candidate}{ERROR_SUFFIX}")).exists()
    };
    if !taken(name) {
        return dir.join(name);
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut n: u64 = 1;
    loop {
        let candidate = format!("{stem}-{n}{ext}");
        if !taken(&candidate) {
            return dir.join(candidate);
        }
        n += 1;
    }
}

/// Moves `src` into `dir` under a free name; returns where it went.
pub fn move_into(src: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = free_name(dir, name);
    rename(src, &target)?;
    Ok(target)
}

/// A rename, or copy + sync + remove when the folders are on different volumes.
pub fn rename(src: &Path, target: &Path) -> io::Result<()> {
    match std::fs::rename(src, target) {
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            std::fs::copy(src, target)?;
            std::fs::File::open(target)?.sync_all()?;
            std::fs::remove_file(src)
        }
        other => other,
    }
}

/// What `<name>.error.txt` says.
#[derive(Debug, Clone)]
pub struct ErrorReport<'a> {
    pub file: &'a str,
    pub kind: Kind,
    pub error: &'a str,
    pub reason: &'a str,
    pub station: &'a str,
    pub content: &'a [u8],
    pub at: DateTime<Local>,
}

/// The line of the report `replay-errors` reads to tell a fixed file from an unchanged one.
pub const SHA_LINE: &str = "content_sha256: ";

pub fn content_sha256(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

impl fmt::Display for ErrorReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "file: {}", self.file)?;
        writeln!(f, "kind: {}", self.kind)?;
        writeln!(f, "error: {}", self.error)?;
        writeln!(f, "reason: {}", self.reason.replace('\n', " "))?;
        writeln!(f, "station: {}", self.station)?;
        writeln!(f, "rejected_at: {}", self.at.to_rfc3339())?;
        writeln!(f, "{SHA_LINE}{}", content_sha256(self.content))?;
        writeln!(
            f,
            "To retry after fixing the file (or its cause): station-agent replay-errors"
        )
    }
}

/// Files `src` into `dir` with its report beside it. The report is written first: a crash in
/// between leaves a stray report, never a rejected file without its reason.
pub fn file_with_report(src: &Path, dir: &Path, report: &ErrorReport<'_>) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = free_name(dir, report.file);
    write_report(&target, report)?;
    rename(src, &target)?;
    Ok(target)
}

/// Like [`file_with_report`] for a file that exists only as queued content.
pub fn write_with_report(dir: &Path, report: &ErrorReport<'_>) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = free_name(dir, report.file);
    write_report(&target, report)?;
    let mut f = std::fs::File::create_new(&target)?;
    f.write_all(report.content)?;
    f.sync_all()?;
    Ok(target)
}

pub fn report_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(ERROR_SUFFIX);
    PathBuf::from(s)
}

fn write_report(target: &Path, report: &ErrorReport<'_>) -> io::Result<()> {
    let mut f = std::fs::File::create_new(report_path(target))?;
    f.write_all(report.to_string().as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn free_names_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(free_name(d, "a.json"), d.join("a.json"));
        std::fs::write(d.join("a.json"), "1").unwrap();
        assert_eq!(free_name(d, "a.json"), d.join("a-1.json"));
        std::fs::write(d.join("a-1.json.error.txt"), "r").unwrap();
        assert_eq!(free_name(d, "a.json"), d.join("a-2.json"));
        std::fs::write(d.join("noext"), "1").unwrap();
        assert_eq!(free_name(d, "noext"), d.join("noext-1"));
    }

    #[test]
    fn filing_keeps_both_files_and_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let err = d.join("error");
        for body in ["one", "two"] {
            let src = d.join("x.json");
            std::fs::write(&src, body).unwrap();
            let report = ErrorReport {
                file: "x.json",
                kind: Kind::Complete,
                error: "SCHEMA_VIOLATION",
                reason: body,
                station: "ST",
                content: body.as_bytes(),
                at: Local::now(),
            };
            file_with_report(&src, &err, &report).unwrap();
        }
        assert_eq!(std::fs::read_to_string(err.join("x.json")).unwrap(), "one");
        assert_eq!(
            std::fs::read_to_string(err.join("x-1.json")).unwrap(),
            "two"
        );
        let r = std::fs::read_to_string(err.join("x-1.json.error.txt")).unwrap();
        assert!(r.contains("error: SCHEMA_VIOLATION") && r.contains("reason: two"));
        assert!(r.contains(&format!("{SHA_LINE}{}", content_sha256(b"two"))));
    }
}

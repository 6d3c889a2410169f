//! `station-agent replay-errors`: moves files from `error/` back to `input/` so the agent takes
//! them again. By default only files changed since they were rejected (fixed by someone); with
//! `all`, every file (e.g. once the cause on the server side is gone).

use std::io;
use std::path::{Path, PathBuf};

use crate::event::{Kind, idempotency_key};
use crate::layout::{self, ERROR_SUFFIX, Layout, SHA_LINE, content_sha256, report_path};
use crate::queue::Queue;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub moved: Vec<PathBuf>,
    /// Files left in `error/` because they are unchanged (without `all`).
    pub unchanged: usize,
}

/// The content hash recorded in a report, if any.
fn recorded_sha(report: &str) -> Option<&str> {
    report
        .lines()
        .find_map(|l| l.strip_prefix(SHA_LINE))
        .map(str::trim)
}

fn original_name(report: &str) -> Option<&str> {
    report
        .lines()
        .find_map(|l| l.strip_prefix("file: "))
        .map(str::trim)
}

pub fn replay(
    layout: &Layout,
    station_id: &str,
    queue: Option<&Queue>,
    all: bool,
    dry_run: bool,
) -> io::Result<ReplayReport> {
    let mut out = ReplayReport::default();
    for kind in Kind::ALL {
        let root = layout.error_root(kind);
        let days = match std::fs::read_dir(&root) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut files: Vec<PathBuf> = Vec::new();
        for day in days.flatten().filter(|d| d.path().is_dir()) {
            for f in std::fs::read_dir(day.path())?.flatten() {
                let p = f.path();
                let is_report = p.to_string_lossy().ends_with(ERROR_SUFFIX);
                if p.is_file() && !is_report {
                    files.push(p);
                }
            }
        }
        files.sort();
        for file in files {
            if replay_one(layout, station_id, queue, kind, &file, all, dry_run)? {
                out.moved.push(file);
            } else {
                out.unchanged += 1;
            }
        }
    }
    Ok(out)
}

fn replay_one(
    layout: &Layout,
    station_id: &str,
    queue: Option<&Queue>,
    kind: Kind,
    file: &Path,
    all: bool,
    dry_run: bool,
) -> io::Result<bool> {
    let report_file = report_path(file);
    let report = std::fs::read_to_string(&report_file).unwrap_or_default();
    let content = std::fs::read(file)?;
    let fixed = recorded_sha(&report) != Some(content_sha256(&content).as_str());
    if !(fixed || all) {
        return Ok(false);
    }
    if dry_run {
        return Ok(true);
    }
    if let Some(q) = queue {
        // A dead letter with this content would otherwise make the agent skip it.
        q.forget_dead(&idempotency_key(station_id, kind, &content))
            .map_err(io::Error::other)?;
    }
    let fallback = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = original_name(&report).unwrap_or(&fallback).to_owned();
    layout::move_into(file, &layout.input(kind), &name)?;
    if report_file.exists() {
        std::fs::remove_file(&report_file)?;
    }
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::Local;

    use super::*;
    use crate::layout::{ErrorReport, file_with_report};

    #[test]
    fn moves_fixed_files_back_and_leaves_unchanged_ones() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create(&Kind::ALL).unwrap();
        let err = layout.error(Kind::Complete, Local::now().date_naive());
        for name in ["fixed.json", "same.json"] {
            let src = dir.path().join(name);
            std::fs::write(&src, "{bad").unwrap();
            let report = ErrorReport {
                file: name,
                kind: Kind::Complete,
                error: "TRUNCATED_JSON",
                reason: "ends early",
                station: "ST",
                content: b"{bad",
                at: Local::now(),
            };
            file_with_report(&src, &err, &report).unwrap();
        }
        std::fs::write(err.join("fixed.json"), "{}").unwrap();

        let r = replay(&layout, "ST", None, false, false).unwrap();
        assert_eq!(r.moved, vec![err.join("fixed.json")]);
        assert_eq!(r.unchanged, 1);
        assert_eq!(
            std::fs::read_to_string(layout.input(Kind::Complete).join("fixed.json")).unwrap(),
            "{}"
        );
        assert!(!err.join("fixed.json.error.txt").exists());

        let r = replay(&layout, "ST", None, true, false).unwrap();
        assert_eq!(r.moved.len(), 1);
        assert!(layout.input(Kind::Complete).join("same.json").exists());
    }
}

//! Purging what is past its retention: `processed/{kind}/{YYYYMMDD}` day folders and delivered
//! queue rows. `error/` is never purged: those files wait for a person.

use chrono::{Days, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::event::Kind;
use crate::layout::Layout;
use crate::queue::Queue;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    pub removed_days: usize,
    pub removed_rows: usize,
    /// Failures to report (permissions, locked files…); purging goes on past them.
    pub problems: Vec<String>,
}

/// The day folders to delete: named `YYYYMMDD` and older than `retention_days` before `today`.
pub fn expired(names: &[String], today: NaiveDate, retention_days: u32) -> Vec<String> {
    let Some(cutoff) = today.checked_sub_days(Days::new(u64::from(retention_days))) else {
        return Vec::new();
    };
    names
        .iter()
        .filter(|n| {
            n.len() == 8 && NaiveDate::parse_from_str(n, "%Y%m%d").is_ok_and(|d| d < cutoff)
        })
        .cloned()
        .collect()
}

pub fn purge(
    layout: &Layout,
    kinds: &[Kind],
    queue: &Queue,
    retention_days: u32,
    today: NaiveDate,
) -> PurgeReport {
    let mut report = PurgeReport::default();
    for kind in kinds {
        let root = layout.processed_root(*kind);
        let names: Vec<String> = match std::fs::read_dir(&root) {
            Ok(entries) => entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                report
                    .problems
                    .push(format!("listing {}: {e}", root.display()));
                continue;
            }
        };
        for name in expired(&names, today, retention_days) {
            let dir = root.join(&name);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => report.removed_days += 1,
                Err(e) => report
                    .problems
                    .push(format!("removing {}: {e}", dir.display())),
            }
        }
    }
    if let Some(cutoff) = today.checked_sub_days(Days::new(u64::from(retention_days))) {
        let cutoff = Utc.from_utc_datetime(&cutoff.and_time(NaiveTime::MIN));
        match queue.purge_delivered_before(cutoff) {
            Ok(n) => report.removed_rows = n,
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn only_day_folders_past_retention_expire() {
        let names: Vec<String> = [
            "20251001", "20251025", "20251026", "20251124", "notes", "2025102",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            expired(&names, date("2025-11-25"), 30),
            vec!["20251001".to_owned(), "20251025".to_owned()]
        );
    }

    #[test]
    fn purges_old_days_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let q = Queue::open(&dir.path().join("q.db")).unwrap();
        let old = layout.processed(Kind::Complete, date("2025-09-01"));
        let new = layout.processed(Kind::Complete, date("2025-11-20"));
        let err = layout.error(Kind::Complete, date("2025-09-01"));
        for d in [&old, &new, &err] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("a.json"), "{}").unwrap();
        }
        let r = purge(&layout, &Kind::ALL, &q, 30, date("2025-11-25"));
        assert_eq!(r.removed_days, 1);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(!old.exists());
        assert!(new.join("a.json").exists());
        assert!(err.join("a.json").exists(), "error/ is never purged");
    }
}

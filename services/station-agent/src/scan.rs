//! Finding files in `input/` and deciding when one is completely written.
//!
//! Notifications only wake the agent up; what to process is always decided by listing the
//! folders, because notifications get lost (overflow, network shares, agent down).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::event::Kind;
use crate::layout::Layout;

/// Writers' temporary and hidden files (`~$x.json`, `.x.json`, `x.json.tmp`) are not ours.
pub fn is_candidate(name: &str) -> bool {
    !(name.starts_with('~') || name.starts_with('.') || name.to_ascii_lowercase().ends_with(".tmp"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub name: String,
    pub kind: Kind,
    pub size: u64,
    pub modified: SystemTime,
}

/// Candidate files of the watched folders in arrival order (modification time, then name).
pub fn list(layout: &Layout, kinds: &[Kind]) -> io::Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for kind in kinds {
        list_dir(&layout.input(*kind), *kind, &mut out)?;
    }
    out.sort_by(|a, b| {
        a.modified
            .cmp(&b.modified)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

fn list_dir(dir: &Path, kind: Kind, out: &mut Vec<Candidate>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            // Not representable as UTF-8: still a file to deal with; use a lossy name.
            push(
                &entry,
                kind,
                entry.file_name().to_string_lossy().into_owned(),
                out,
            );
            continue;
        };
        if is_candidate(&name) {
            push(&entry, kind, name, out);
        }
    }
    Ok(())
}

fn push(entry: &std::fs::DirEntry, kind: Kind, name: String, out: &mut Vec<Candidate>) {
    // A file that vanished between listing and stat was taken by someone else: skip it.
    let Ok(meta) = entry.metadata() else { return };
    if !meta.is_file() {
        return;
    }
    out.push(Candidate {
        path: entry.path(),
        name,
        kind,
        size: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Still being written, or too recently; look again after this long.
    Wait(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    size: u64,
    modified: SystemTime,
    since: Instant,
}

/// A file is complete once its size and modification time have not changed for `settle`:
/// either its mtime is that old already (e.g. atomically renamed into place after writing, or
/// found at start-up), or we have watched it stay unchanged that long (covers a clock that
/// disagrees with the file system's).
#[derive(Debug)]
pub struct Settling {
    settle: Duration,
    seen: HashMap<PathBuf, Seen>,
}

impl Settling {
    pub fn new(settle: Duration) -> Self {
        Self {
            settle,
            seen: HashMap::new(),
        }
    }

    pub fn check(&mut self, c: &Candidate, wall_now: SystemTime, now: Instant) -> Readiness {
        let entry = self.seen.entry(c.path.clone()).or_insert(Seen {
            size: c.size,
            modified: c.modified,
            since: now,
        });
        if entry.size != c.size || entry.modified != c.modified {
            *entry = Seen {
                size: c.size,
                modified: c.modified,
                since: now,
            };
        }
        let watched = now.saturating_duration_since(entry.since);
        let age = wall_now.duration_since(c.modified).unwrap_or_default();
        if age >= self.settle || watched >= self.settle {
            Readiness::Ready
        } else {
            Readiness::Wait(self.settle - age.max(watched))
        }
    }

    pub fn forget(&mut self, path: &Path) {
        self.seen.remove(path);
    }

    /// Drops entries for files that are gone, so the map stays small.
    pub fn retain_only(&mut self, present: &[Candidate]) {
        let keep: std::collections::HashSet<&Path> =
            present.iter().map(|c| c.path.as_path()).collect();
        self.seen.retain(|p, _| keep.contains(p.as_path()));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ignores_temp_and_hidden_files() {
        for name in ["~$data.json", ".data.json", "data.json.tmp", "DATA.TMP"] {
            assert!(!is_candidate(name), "{name}");
        }
        for name in ["12345.json", "output.json", "result_20251110_093015.json"] {
            assert!(is_candidate(name), "{name}");
        }
    }

    fn candidate(size: u64, modified: SystemTime) -> Candidate {
        Candidate {
            path: "/in/a.json".into(),
            name: "a.json".into(),
            kind: Kind::Complete,
            size,
            modified,
        }
    }

    #[test]
    fn waits_for_size_and_mtime_to_settle() {
        let settle = Duration::from_millis(500);
        let mut s = Settling::new(settle);
        let wall = SystemTime::now();
        let t0 = Instant::now();
        // Old file: ready at once.
        assert_eq!(
            s.check(&candidate(10, wall - Duration::from_secs(5)), wall, t0),
            Readiness::Ready
        );
        s.forget(Path::new("/in/a.json"));
        // Fresh file: wait, and the clock restarts whenever it grows.
        assert_eq!(
            s.check(&candidate(10, wall), wall, t0),
            Readiness::Wait(settle)
        );
        let t1 = t0 + Duration::from_millis(400);
        let wall1 = wall + Duration::from_millis(400);
        assert_eq!(
            s.check(&candidate(20, wall1), wall1, t1),
            Readiness::Wait(settle)
        );
        let t2 = t1 + settle;
        assert_eq!(s.check(&candidate(20, wall1), wall1, t2), Readiness::Ready);
        // A file whose mtime is in the future (skewed clock) is ready after `settle` of watching.
        let mut s = Settling::new(settle);
        let future = wall + Duration::from_secs(3600);
        assert!(matches!(
            s.check(&candidate(1, future), wall, t0),
            Readiness::Wait(_)
        ));
        assert_eq!(
            s.check(&candidate(1, future), wall, t0 + settle),
            Readiness::Ready
        );
    }
}

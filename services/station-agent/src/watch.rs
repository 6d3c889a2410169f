//! File-system notifications for `input/`: they only wake the agent, which then lists the folders
//! (see `scan`). Losing a notification costs at most one rescan interval.

use std::path::PathBuf;
use std::sync::Arc;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Keeps the OS watch alive; dropping it stops the notifications.
#[derive(Debug)]
pub struct InputWatch {
    _watcher: RecommendedWatcher,
}

/// Watches `dirs`; every change pokes `wake`. Errors (e.g. inotify limits) are returned so the
/// caller can fall back to rescanning alone.
pub fn watch(dirs: &[PathBuf], wake: Arc<Notify>) -> notify::Result<InputWatch> {
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        match res {
            // Any event kind: creations, renames into the folder, and writes finishing.
            Ok(ev) if !ev.kind.is_access() => wake.notify_one(),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "file watch error; relying on the periodic rescan");
                wake.notify_one();
            }
        }
    })?;
    for dir in dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    Ok(InputWatch { _watcher: watcher })
}

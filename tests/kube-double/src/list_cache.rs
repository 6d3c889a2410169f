//! The items of repeated lists. A list asked again while nothing of its resource changed is
//! answered from the items part of the earlier answer, one shared buffer sent as it is: no copy
//! of megabytes of stored JSON per list (a reflector re-listing, a test polling, a benchmark).
//! A list asked once streams from the stored objects and builds nothing, so one-off lists of a
//! changing resource pay no extra allocation; the buffer is built on the second identical ask.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;

use crate::store::GroupResource;

/// Entries kept; past it the cache starts afresh (tests list a handful of distinct things).
const MAX_ENTRIES: usize = 64;

/// Everything that decides a list's items besides the objects themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey {
    pub gr: GroupResource,
    pub namespace: Option<String>,
    /// The version served, and how many the resource has (objects may be relabelled).
    pub version: String,
    pub versions: usize,
    pub label_selector: String,
    pub field_selector: String,
}

#[derive(Debug)]
struct Entry {
    /// The resourceVersion of the resource's last write when the entry was made.
    changed_at: u64,
    /// `None`: listed once at `changed_at`, not built yet.
    items: Option<Bytes>,
}

/// What the list should do with its items.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Send these (comma-joined items, as they were).
    Hit(Bytes),
    /// Second identical list: build the items buffer and [`ListCache::store`] it with this
    /// `changed_at`.
    Build(u64),
    /// First list since the last change: stream from the objects.
    Stream,
}

#[derive(Debug, Default)]
pub struct ListCache {
    entries: Mutex<HashMap<ListKey, Entry>>,
}

impl ListCache {
    pub fn lookup(&self, key: &ListKey, changed_at: u64) -> Lookup {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(e) if e.changed_at == changed_at => match &e.items {
                Some(items) => Lookup::Hit(items.clone()),
                None => Lookup::Build(changed_at),
            },
            _ => {
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                let seen = Entry {
                    changed_at,
                    items: None,
                };
                entries.insert(key.clone(), seen);
                Lookup::Stream
            }
        }
    }

    /// Keeps `items`, unless the resource changed again since (a newer entry replaced ours).
    pub fn store(&self, key: &ListKey, changed_at: u64, items: Bytes) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get_mut(key)
            && e.changed_at == changed_at
        {
            e.items = Some(items);
        }
    }
}

/// The items joined by commas, as they appear between `[` and `]` of a list.
pub fn join(items: &[Bytes]) -> Bytes {
    let len = items.iter().map(Bytes::len).sum::<usize>() + items.len().saturating_sub(1);
    let mut out = Vec::with_capacity(len);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(labels: &str) -> ListKey {
        ListKey {
            gr: GroupResource::new("", "pods"),
            namespace: Some("ns".into()),
            version: "v1".into(),
            versions: 1,
            label_selector: labels.into(),
            field_selector: String::new(),
        }
    }

    #[test]
    fn the_second_identical_list_builds_and_the_third_hits() {
        let cache = ListCache::default();
        assert_eq!(cache.lookup(&key("a=b"), 7), Lookup::Stream);
        assert_eq!(cache.lookup(&key("a=b"), 7), Lookup::Build(7));
        cache.store(&key("a=b"), 7, Bytes::from_static(b"{},{}"));
        assert_eq!(
            cache.lookup(&key("a=b"), 7),
            Lookup::Hit(Bytes::from_static(b"{},{}"))
        );
        assert_eq!(cache.lookup(&key("a=c"), 7), Lookup::Stream);
    }

    #[test]
    fn a_change_of_the_resource_invalidates() {
        let cache = ListCache::default();
        cache.lookup(&key(""), 7);
        cache.lookup(&key(""), 7);
        cache.store(&key(""), 7, Bytes::from_static(b"{}"));
        assert_eq!(cache.lookup(&key(""), 8), Lookup::Stream);
        // A build that raced with the change is not kept.
        cache.store(&key(""), 7, Bytes::from_static(b"{}"));
        assert_eq!(cache.lookup(&key(""), 8), Lookup::Build(8));
    }

    #[test]
    fn join_separates_items_with_commas() {
        let items = [Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"{}")];
        assert_eq!(&join(&items)[..], b"{\"a\":1},{}");
        assert!(join(&[]).is_empty());
    }
}

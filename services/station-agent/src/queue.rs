//! The offline queue: `queue/offline_queue.db`, SQLite in WAL mode.
//!
//! One row per event, keyed by its Idempotency-Key (UNIQUE), so an event that is half-way into
//! the queue when the agent dies is found again on restart instead of being queued twice. Rows
//! go `pending` → `delivered` or `dead` (the dead-letter state: refused by the API, kept for
//! `status` and `replay-errors`).

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::event::Kind;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("offline queue: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("offline queue holds an unknown kind {0:?}")]
    BadKind(String),
}

pub type Result<T> = std::result::Result<T, QueueError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Delivered,
    Dead,
}

impl State {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(State::Pending),
            "delivered" => Ok(State::Delivered),
            "dead" => Ok(State::Dead),
            other => Err(QueueError::BadKind(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: i64,
    pub key: String,
    pub kind: Kind,
    pub file_name: String,
    pub payload: String,
    pub content: Vec<u8>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub state: State,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: i64,
    pub kind: Kind,
    pub file_name: String,
    pub attempts: i64,
    pub reason: String,
    pub at: String,
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
    pub oldest_pending: Option<String>,
    /// Attempts and last error of the item at the head of the queue.
    pub head_attempts: Option<i64>,
    pub head_error: Option<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    file_name       TEXT NOT NULL,
    payload         TEXT NOT NULL,
    content         BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    finished_at     TEXT
);
CREATE INDEX IF NOT EXISTS queue_pending ON queue (id) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS agent_info (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug)]
pub struct Queue {
    conn: Connection,
}

impl Queue {
    /// Opens (creating) the queue for the agent.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        Self::configure(conn)
    }

    /// Opens an existing queue (for `status`); `None` when there is none yet.
    pub fn open_existing(path: &Path) -> Result<Option<Self>> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::configure(conn).map(Some)
    }

    fn configure(conn: Connection) -> Result<Self> {
        // WAL: `status` reads while the agent writes. FULL: a commit survives power loss, which
        // is what lets a file leave input/ once its row is committed.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Adds an event, or finds it when its key is already there. Returns its id and state.
    pub fn enqueue(
        &self,
        key: &str,
        kind: Kind,
        file_name: &str,
        payload: &str,
        content: &[u8],
        reason: &str,
    ) -> Result<(i64, State)> {
        let at = now();
        self.conn.execute(
            "INSERT INTO queue (idempotency_key, kind, file_name, payload, content, created_at, last_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (idempotency_key) DO NOTHING",
            params![key, kind.as_str(), file_name, payload, content, at, reason],
        )?;
        self.find(key)?
            .ok_or(QueueError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
    }

    pub fn find(&self, key: &str) -> Result<Option<(i64, State)>> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, state FROM queue WHERE idempotency_key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(id, s)| Ok((id, State::parse(&s)?))).transpose()
    }

    pub fn get(&self, id: i64) -> Result<Option<Item>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_ITEM} WHERE id = ?1"))?;
        let row = stmt.query_row([id], raw_item).optional()?;
        row.map(RawItem::into_item).transpose()
    }

    pub fn pending_count(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM queue WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The oldest pending items, in the order they were queued.
    pub fn next_pending(&self, limit: usize) -> Result<Vec<Item>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_ITEM} WHERE state = 'pending' ORDER BY id LIMIT ?1"
        ))?;
        let rows = stmt
            .query_map([limit as i64], raw_item)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(RawItem::into_item).collect()
    }

    pub fn mark_delivered(&self, id: i64) -> Result<()> {
        self.mark_all_delivered(&[id])
    }

    /// One commit for a window of deliveries: losing it in a crash only means resending them,
    /// which mes-api answers from its idempotency records.
    pub fn mark_all_delivered(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let at = now();
        // No fsync for this commit (WAL + NORMAL stays consistent; the next FULL commit makes it
        // durable): it was the drain's largest cost, and a lost mark only means a resend.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = self.mark_in_transaction(ids, &at);
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        result
    }

    fn mark_in_transaction(&self, ids: &[i64], at: &str) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE queue SET state = 'delivered', attempts = attempts + 1, last_attempt_at = ?2,
                        finished_at = ?2, last_error = NULL, content = x'' WHERE id = ?1",
            )?;
            for id in ids {
                stmt.execute(params![id, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn mark_dead(&self, id: i64, reason: &str) -> Result<()> {
        let at = now();
        self.conn.execute(
            "UPDATE queue SET state = 'dead', attempts = attempts + 1, last_attempt_at = ?2,
                    finished_at = ?2, last_error = ?3 WHERE id = ?1",
            params![id, at, reason],
        )?;
        Ok(())
    }

    /// Records a failed attempt; returns the attempt count.
    pub fn record_failure(&self, id: i64, reason: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "UPDATE queue SET attempts = attempts + 1, last_attempt_at = ?2, last_error = ?3
             WHERE id = ?1 RETURNING attempts",
            params![id, now(), reason],
            |r| r.get(0),
        )?)
    }

    /// Forgets a dead letter, so that its file can be queued again once replayed.
    pub fn forget_dead(&self, key: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM queue WHERE idempotency_key = ?1 AND state = 'dead'",
            [key],
        )? == 1)
    }

    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, file_name, attempts, coalesce(last_error, ''), coalesce(finished_at, '')
             FROM queue WHERE state = 'dead' ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, kind, file_name, attempts, reason, at)| {
                Ok(DeadLetter {
                    id,
                    kind: kind.parse().map_err(|_| QueueError::BadKind(kind))?,
                    file_name,
                    attempts,
                    reason,
                    at,
                })
            })
            .collect()
    }

    pub fn stats(&self) -> Result<Stats> {
        let (pending, delivered, dead): (i64, i64, i64) = self.conn.query_row(
            "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'delivered'), 0),
                    coalesce(sum(state = 'dead'), 0) FROM queue",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let head: Option<(String, i64, Option<String>)> = self
            .conn
            .query_row(
                "SELECT created_at, attempts, last_error FROM queue WHERE state = 'pending' ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(Stats {
            pending,
            delivered,
            dead,
            oldest_pending: head.as_ref().map(|h| h.0.clone()),
            head_attempts: head.as_ref().map(|h| h.1),
            head_error: head.and_then(|h| h.2),
        })
    }

    /// Delivered rows are only history once their file is archived; keep them as long as the
    /// processed files.
    pub fn purge_delivered_before(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Ok(self.conn.execute(
            "DELETE FROM queue WHERE state = 'delivered' AND finished_at < ?1",
            [cutoff],
        )?)
    }

    pub fn set_info(&self, name: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO agent_info (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [name, value],
        )?;
        Ok(())
    }

    pub fn info(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM agent_info WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }
}

const SELECT_ITEM: &str = "SELECT id, idempotency_key, kind, file_name, payload, content, attempts, last_error, state, created_at FROM queue";

struct RawItem {
    id: i64,
    key: String,
    kind: String,
    file_name: String,
    payload: String,
    content: Vec<u8>,
    attempts: i64,
    last_error: Option<String>,
    state: String,
    created_at: String,
}

fn raw_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawItem> {
    Ok(RawItem {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: r.get(2)?,
        file_name: r.get(3)?,
        payload: r.get(4)?,
        content: r.get(5)?,
        attempts: r.get(6)?,
        last_error: r.get(7)?,
        state: r.get(8)?,
        created_at: r.get(9)?,
    })
}

impl RawItem {
    fn into_item(self) -> Result<Item> {
        Ok(Item {
            id: self.id,
            key: self.key,
            kind: self
                .kind
                .parse()
                .map_err(|_| QueueError::BadKind(self.kind.clone()))?,
            file_name: self.file_name,
            payload: self.payload,
            content: self.content,
            attempts: self.attempts,
            last_error: self.last_error,
            state: State::parse(&self.state)?,
            created_at: self.created_at,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn same_key_is_queued_once_and_order_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(&dir.path().join("q.db")).unwrap();
        let (a, s) = q
            .enqueue("k1", Kind::Complete, "a.json", "{}", b"{}", "down")
            .unwrap();
        assert_eq!(s, State::Pending);
        let (b, _) = q
            .enqueue("k2", Kind::Start, "b.json", "{}", b"{}", "down")
            .unwrap();
        let (again, _) = q
            .enqueue("k1", Kind::Complete, "a2.json", "{}", b"{}", "down")
            .unwrap();
        assert_eq!(again, a);
        assert_eq!(q.pending_count().unwrap(), 2);
        let ids: Vec<i64> = q.next_pending(10).unwrap().iter().map(|i| i.id).collect();
        assert_eq!(ids, vec![a, b]);

        assert_eq!(q.record_failure(a, "500").unwrap(), 1);
        q.mark_delivered(a).unwrap();
        // Enqueues after a (non-durable) delivery mark are durable again: FULL = 2.
        let sync: i64 = q
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2);
        q.mark_dead(b, "409 X").unwrap();
        let stats = q.stats().unwrap();
        assert_eq!((stats.pending, stats.delivered, stats.dead), (0, 1, 1));
        assert_eq!(q.dead_letters().unwrap()[0].reason, "409 X");
        assert!(q.forget_dead("k2").unwrap());
        assert!(
            !q.forget_dead("k1").unwrap(),
            "only dead rows are forgotten"
        );
        assert_eq!(q.find("k1").unwrap(), Some((a, State::Delivered)));
    }

    #[test]
    fn survives_reopen_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        {
            let q = Queue::open(&path).unwrap();
            q.enqueue("k", Kind::Complete, "a.json", "{}", b"{}", "down")
                .unwrap();
            q.set_info("last_success_at", "t").unwrap();
        }
        let q = Queue::open_existing(&path).unwrap().unwrap();
        let mode: String = q
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(q.pending_count().unwrap(), 1);
        assert_eq!(q.info("last_success_at").unwrap().as_deref(), Some("t"));
        assert!(
            Queue::open_existing(&dir.path().join("none.db"))
                .unwrap()
                .is_none()
        );
    }
}

//! `station-agent status`: queue depth, last success, dead letters, last problem — read from the
//! queue database, so it works while the agent runs (WAL readers do not block the writer).

use serde::Serialize;

use crate::layout::Layout;
use crate::queue::{Queue, QueueError};

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub queue_db: String,
    pub pending: i64,
    pub oldest_pending: Option<String>,
    pub head_attempts: Option<i64>,
    pub head_error: Option<String>,
    pub delivered_kept: i64,
    pub last_success_at: Option<String>,
    pub last_success_file: Option<String>,
    pub last_problem: Option<String>,
    pub last_problem_at: Option<String>,
    pub dead_letters: Vec<DeadLetterView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    pub id: i64,
    pub kind: String,
    pub file_name: String,
    pub attempts: i64,
    pub reason: String,
    pub at: String,
}

/// `None` when the agent never ran here (no queue database yet).
pub fn read(layout: &Layout) -> Result<Option<Status>, QueueError> {
    let path = layout.queue_db();
    let Some(q) = Queue::open_existing(&path)? else {
        return Ok(None);
    };
    let stats = q.stats()?;
    Ok(Some(Status {
        queue_db: path.display().to_string(),
        pending: stats.pending,
        oldest_pending: stats.oldest_pending,
        head_attempts: stats.head_attempts,
        head_error: stats.head_error,
        delivered_kept: stats.delivered,
        last_success_at: q.info("last_success_at")?,
        last_success_file: q.info("last_success_file")?,
        last_problem: q.info("last_problem")?,
        last_problem_at: q.info("last_problem_at")?,
        dead_letters: q
            .dead_letters()?
            .into_iter()
            .map(|d| DeadLetterView {
                id: d.id,
                kind: d.kind.to_string(),
                file_name: d.file_name,
                attempts: d.attempts,
                reason: d.reason,
                at: d.at,
            })
            .collect(),
    }))
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_never = |v: &Option<String>| v.clone().unwrap_or_else(|| "never".into());
        writeln!(f, "queue:         {}", self.queue_db)?;
        write!(f, "pending:       {}", self.pending)?;
        if let Some(oldest) = &self.oldest_pending {
            write!(
                f,
                " (oldest queued {oldest}, {} attempts",
                self.head_attempts.unwrap_or(0)
            )?;
            if let Some(e) = &self.head_error {
                write!(f, ", last error: {e}")?;
            }
            write!(f, ")")?;
        }
        writeln!(f)?;
        write!(f, "last success:  {}", or_never(&self.last_success_at))?;
        if let Some(file) = &self.last_success_file {
            write!(f, " ({file})")?;
        }
        writeln!(f)?;
        if let Some(p) = &self.last_problem {
            writeln!(
                f,
                "last problem:  {} at {}",
                p,
                or_never(&self.last_problem_at)
            )?;
        }
        writeln!(f, "dead letters:  {}", self.dead_letters.len())?;
        for d in &self.dead_letters {
            writeln!(
                f,
                "  #{} {}/{} ({} attempts, {}): {}",
                d.id, d.kind, d.file_name, d.attempts, d.at, d.reason
            )?;
        }
        Ok(())
    }
}

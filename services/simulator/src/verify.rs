//! Exactly-once, checked in mes-api's database after a run: the process records written by the
//! run's stations (found through their audit rows) must number exactly the STARTs and COMPLETEs
//! the stations saw acknowledged, each with its idempotency record, none doubled, none unaudited.

use std::fmt;

use anyhow::Context;

use crate::psql::psql;

/// Events the stations saw succeed (a replayed answer counts once: it is the same event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Acked {
    pub starts: u64,
    pub completes: u64,
}

impl std::ops::AddAssign for Acked {
    fn add_assign(&mut self, o: Self) {
        self.starts += o.starts;
        self.completes += o.completes;
    }
}

/// What the database holds for the run's stations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// process_data rows inserted (audit INSERT rows).
    pub starts: u64,
    /// process_data rows closed (audit UPDATE rows).
    pub completes: u64,
    pub start_keys: u64,
    pub complete_keys: u64,
    /// (serial, process, work_order) with more than one record.
    pub duplicates: u64,
    /// Closed records without an audit row for the close.
    pub unaudited: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub acked: Acked,
    pub stored: Stored,
    /// Requests possibly in flight when the run stopped: stored may exceed acked by this much.
    pub in_flight: u64,
}

impl Verdict {
    pub fn holds(&self) -> bool {
        let (a, s) = (self.acked, self.stored);
        let within = |stored: u64, acked: u64| stored >= acked && stored - acked <= self.in_flight;
        within(s.starts, a.starts)
            && within(s.completes, a.completes)
            && s.start_keys == s.starts
            && s.complete_keys == s.completes
            && s.duplicates == 0
            && s.unaudited == 0
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, s) = (self.acked, self.stored);
        write!(
            f,
            "{}: acknowledged {} STARTs / {} COMPLETEs; stored {} / {} records, {} / {} idempotency keys, {} duplicates, {} unaudited",
            if self.holds() {
                "exactly-once holds"
            } else {
                "EXACTLY-ONCE VIOLATED"
            },
            a.starts,
            a.completes,
            s.starts,
            s.completes,
            s.start_keys,
            s.complete_keys,
            s.duplicates,
            s.unaudited
        )?;
        if self.in_flight > 0 {
            write!(f, " (up to {} in flight at stop)", self.in_flight)?;
        }
        Ok(())
    }
}

fn sql_text_array(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect();
    format!("ARRAY[{}]::text[]", quoted.join(","))
}

/// The check's query for the given principals (`station:<token name>`).
pub fn query(principals: &[String]) -> String {
    let who = sql_text_array(principals);
    format!(
        "WITH mine AS (
             SELECT record_id, action FROM audit_log
             WHERE table_name = 'process_data' AND changed_by = ANY({who})),
         inserted AS (SELECT DISTINCT record_id AS id FROM mine WHERE action = 'INSERT')
         SELECT (SELECT count(*) FROM mine WHERE action = 'INSERT'),
                (SELECT count(*) FROM mine WHERE action = 'UPDATE'),
                (SELECT count(*) FROM idempotency_keys WHERE principal = ANY({who}) AND path = '/process/start'),
                (SELECT count(*) FROM idempotency_keys WHERE principal = ANY({who}) AND path = '/process/complete'),
                (SELECT count(*) FROM (SELECT 1 FROM process_data pd JOIN inserted i ON i.id = pd.id
                                        GROUP BY pd.serial_id, pd.process_id, pd.work_order HAVING count(*) > 1) d),
                (SELECT count(*) FROM process_data pd JOIN inserted i ON i.id = pd.id
                  WHERE pd.status <> 'IN_PROGRESS'
                    AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.table_name = 'process_data'
                                      AND a.record_id = pd.id AND a.action = 'UPDATE'))"
    )
}

pub fn parse_row(row: &str) -> anyhow::Result<Stored> {
    let n: Vec<u64> = row
        .trim()
        .split('|')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unexpected verification row: {row}"))?;
    match n.as_slice() {
        &[
            starts,
            completes,
            start_keys,
            complete_keys,
            duplicates,
            unaudited,
        ] => Ok(Stored {
            starts,
            completes,
            start_keys,
            complete_keys,
            duplicates,
            unaudited,
        }),
        _ => anyhow::bail!("unexpected verification row: {row}"),
    }
}

pub async fn check(
    db_url: &str,
    principals: &[String],
    acked: Acked,
    in_flight: u64,
) -> anyhow::Result<Verdict> {
    let row = psql(db_url, &query(principals))
        .await
        .context("querying mes-api's database")?;
    Ok(Verdict {
        acked,
        stored: parse_row(&row)?,
        in_flight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_verdicts_hold_only_when_counts_match() {
        let stored = parse_row("10|9|10|9|0|0\n").expect("row");
        let ok = Verdict {
            acked: Acked {
                starts: 10,
                completes: 9,
            },
            stored,
            in_flight: 0,
        };
        assert!(ok.holds(), "{ok}");
        let doubled = Verdict {
            stored: Stored {
                starts: 11,
                start_keys: 11,
                ..stored
            },
            ..ok
        };
        assert!(!doubled.holds());
        assert!(
            Verdict {
                in_flight: 1,
                ..doubled
            }
            .holds()
        );
        let lost = Verdict {
            stored: Stored {
                completes: 8,
                complete_keys: 8,
                ..stored
            },
            ..ok
        };
        assert!(!lost.holds());
        assert!(parse_row("1|2|3").is_err());
        assert!(query(&["station:x'y".into()]).contains("'station:x''y'"));
    }
}

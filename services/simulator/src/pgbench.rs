//! The database's own ceiling: `pgbench` running the write transactions of one START and one
//! COMPLETE exactly as mes-api sends them (`services/mes-api/src/production/events.rs`), against a
//! scratch database built from mes-api's migrations (so the same tables, indexes, constraints and
//! audit / status-history triggers), seeded with LOTs and serials, and dropped afterwards.
//!
//! Each pgbench client walks its own serials through the 7-process routing; one script execution
//! is a START transaction followed by a COMPLETE transaction, so events/s = 2 × pgbench's tps.
//! What mes-api does outside the transaction (the idempotency replay lookup, the route cache,
//! JSON Schema validation, HTTP, auth) is deliberately not in the script: the ratio
//! mes-api ÷ pgbench is what that costs.
//!
//! JSON (process data, notification payloads, stored responses) is built with `json_build_object`
//! of the same shape and size as mes-api's, because pgbench would read `:name` inside a literal as
//! a variable. Keep [`SCRIPT`] in step with events.rs when the event transactions change.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

use mes_api::production::batch_sql;

use crate::psql::{psql, psql_file};
use crate::report::Ceiling;

/// The batch of the pgbench ceiling: each pgbench client plays one mes-api event writer that
/// commits `batch` STARTs in one transaction, then the COMPLETEs of the same serials in another,
/// with mes-api's own statements (`mes_api::production::batch_sql`: serial lock, key lookup and
/// id allocation, LOT lock on a serial's last process, the one write statement with its inline
/// audit). Their `$n` parameters are replaced by SQL expressions that build the same arrays
/// from pgbench variables (`-D`: `step` (0), `run`, `wo_base`, `per_client`, `batch`,
/// `serial_base`, `pid_base`, `line_id`), so a change of mes-api's statements changes the script.
pub fn script() -> String {
    let header = "-- one START batch + one COMPLETE batch of mes-api's event writer (batch_sql.rs)
\\set step :step + 1
\\set k (:step - 1) / 7
\\set proc ((:step - 1) % 7) + 1
\\set groups :per_client / :batch
\\set s0 :serial_base + :client_id * :per_client + (:k % :groups) * :batch
\\set wo :wo_base + :k / :groups
\\set pid :pid_base + :proc - 1
\\set done :proc / 7
";
    let lock = lock_serials();
    let keys = |kind: &str, starts: &str| {
        substitute(
            batch_sql::KEYS_AND_IDS,
            &[
                "array_fill(('station-PGB-' || :client_id)::text, ARRAY[:batch::int])".to_owned(),
                format!(
                    "ARRAY(SELECT 'pgb-' || :run || '-' || :client_id || '-' || :step || '-' || g || '-{kind}' FROM generate_series(1, :batch::int) g)"
                ),
                starts.to_owned(),
            ],
        )
    };
    let lock_lots = substitute(
        batch_sql::LOCK_LOTS,
        &["ARRAY(SELECT DISTINCT lot_id FROM serials WHERE id BETWEEN :s0::int8 AND :s0::int8 + :batch::int - 1)".to_owned()],
    );
    format!(
        "{header}BEGIN;\n{lock};\n{} \\gset\n{};\nCOMMIT;\nBEGIN;\n{lock};\n{};\n\\if :done\n{lock_lots};\n{};\n\\else\n{};\n\\endif\nCOMMIT;\n",
        keys("start", ":batch::int"),
        write(Kind::Start),
        keys("complete", "0"),
        write(Kind::Complete { lots: true }),
        write(Kind::Complete { lots: false }),
    )
}

/// Replaces each `$n` of `sql` by `(params[n - 1])`; numbers beyond `params` stay.
pub fn substitute(sql: &str, params: &[String]) -> String {
    let mut out = String::with_capacity(sql.len() * 2);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at - 1);
        let number = &rest[at + 1..at + 1 + digits];
        match number
            .parse::<usize>()
            .ok()
            .and_then(|n| params.get(n.wrapping_sub(1)))
        {
            Some(p) => {
                out.push('(');
                out.push_str(p);
                out.push(')');
            }
            None => out.push_str(&rest[at..at + 1 + digits]),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
    out
}

fn lock_serials() -> String {
    substitute(
        batch_sql::LOCK_SERIALS,
        &[
            "ARRAY(SELECT serial_number FROM serials WHERE id BETWEEN :s0::int8 AND :s0::int8 + :batch::int - 1)".to_owned(),
            "'{}'::int8[]".to_owned(),
            "'on'".to_owned(),
            "''".to_owned(),
            "''".to_owned(),
            "''".to_owned(),
            "''".to_owned(),
        ],
    )
}

#[derive(Clone, Copy)]
enum Kind {
    Start,
    Complete { lots: bool },
}

/// mes-api's write statement for a batch of STARTs or COMPLETEs of the serials `s0..s0+batch`.
/// The pgbench variables are read once, in a leading CTE `b`.
fn write(kind: Kind) -> String {
    let fill = |v: &str| format!("SELECT array_fill({v}, ARRAY[n]) FROM b");
    let per_event =
        |v: &str| format!("SELECT array_agg({v} ORDER BY g) FROM b, generate_series(1, n) g");
    let empty = || "'{}'".to_owned();
    let tag = match kind {
        Kind::Start => "s",
        Kind::Complete { .. } => "c",
    };
    let audit = [
        fill("('station-PGB-' || client)::text"),
        fill("'127.0.0.1'::text"),
        fill("'mes-sim/0.1.0'::text"),
        per_event(&format!(
            "md5(run || '-' || client || '-' || step || '-' || g || '{tag}')"
        )),
    ];
    let start = matches!(kind, Kind::Start);
    let mut p: Vec<String> = Vec::new();
    if start {
        p.push("SELECT ids FROM b".into());
        p.push("SELECT sid FROM b".into());
        p.push(fill("pid"));
        p.push(fill("wo"));
        p.push(fill("('W' || client)::text"));
        p.push(fill("'EQ-PGB-01'::text"));
        p.push(fill("('PGB-' || client)::text"));
        p.extend(audit.iter().cloned());
        p.extend((12..=24).map(|_| empty()));
    } else {
        p.extend((1..=11).map(|_| empty()));
        p.push("SELECT ids FROM b".into());
        p.push(fill("'COMPLETED'::text"));
        p.push(fill("now()"));
        p.push(per_event("50 + (g * 37) % 270"));
        p.push(fill("true"));
        p.push(fill(
            "jsonb_build_object('temperature_sensor', 25.3, 'tof_sensor', 1523, 'firmware_version', 'v2.5.1',
                'firmware_upload_status', 'success', 'battery_voltage', 12.5)",
        ));
        p.push(fill("NULL::jsonb"));
        p.push(fill("NULL::text"));
        p.push(fill("NULL::text"));
        p.extend(audit.iter().cloned());
    }
    // serials
    p.push("SELECT sid FROM b".into());
    p.push(fill(if start { "true" } else { "false" }));
    p.push(fill(if start {
        "'IN_PROGRESS'::text"
    } else {
        "CASE WHEN done = 1 THEN 'COMPLETED' ELSE 'IN_PROGRESS' END"
    }));
    p.push(fill("proc + 1"));
    p.push(fill("pid"));
    p.push(fill("NULL::text"));
    p.push(fill("NULL::text"));
    p.push(fill(if start {
        "NULL::timestamptz"
    } else {
        "CASE WHEN done = 1 THEN now() END"
    }));
    p.extend(audit.iter().cloned());
    // LOT steps: one per finished serial, counted on from the locked LOT row
    if matches!(kind, Kind::Complete { lots: true }) {
        let counted = |column: &str, plus: &str| {
            format!(
                "SELECT array_agg(v ORDER BY id) FROM (SELECT s.id, l.{column} + {plus} AS v
                 FROM b, serials s JOIN lots l ON l.id = s.lot_id WHERE s.id = ANY(b.sid)) x"
            )
        };
        p.push(
            "SELECT array_agg(s.lot_id ORDER BY s.id) FROM b, serials s WHERE s.id = ANY(b.sid)"
                .into(),
        );
        p.push(per_event("g - 1"));
        p.push(fill("'IN_PROGRESS'::text"));
        p.push(fill("'IN_PROGRESS'::text"));
        let rank = "row_number() OVER (PARTITION BY s.lot_id ORDER BY s.id)";
        p.push(counted("actual_quantity", rank));
        p.push(counted("defect_quantity", "0"));
        p.push(counted("finished_quantity", rank));
        p.push(fill("false"));
        p.push(fill("false"));
        p.extend(audit.iter().cloned());
    } else {
        p.extend((37..=49).map(|_| empty()));
    }
    // rollups
    p.push(fill("now()"));
    p.push(fill("line"));
    p.push(fill("pid"));
    p.push("SELECT array_agg((x % 16)::int2) FROM b, unnest(b.sid) x".into());
    p.push(fill(if start { "1" } else { "0" }));
    p.push(fill(if start { "0" } else { "1" }));
    p.push(fill("0"));
    p.push(fill(if start { "0" } else { "done" }));
    p.push(if start {
        fill("0::int8")
    } else {
        per_event("(50 + (g * 37) % 270)::int8")
    });
    // idempotency keys with stored responses of the same shape as mes-api's
    let (suffix, path, body) = if start {
        (
            "start",
            "/process/start",
            "jsonb_build_object('process_data_id', ids[g], 'serial_number', 'FN-KR-991231D-001-0001',
                'lot_number', 'FN-KR-991231D-001', 'process_code', 'EOL', 'process_name', 'End-of-line inspection',
                'work_order', wo, 'started_at', now())",
        )
    } else {
        (
            "complete",
            "/process/complete",
            "jsonb_build_object('process_data_id', ids[g], 'serial_number', 'FN-KR-991231D-001-0001',
                'lot_number', 'FN-KR-991231D-001', 'process_code', 'EOL', 'is_pass', true, 'completed_at', now(),
                'cycle_time', 50 + (g * 37) % 270, 'serial_status', 'IN_PROGRESS',
                'next_process', jsonb_build_object('code', 'ROBOT', 'name', 'Robot performance test'),
                'lot_status', 'IN_PROGRESS')",
        )
    };
    p.push(fill("('station-PGB-' || client)::text"));
    p.push(per_event(&format!(
        "'pgb-' || run || '-' || client || '-' || step || '-' || g || '-{suffix}'"
    )));
    p.push(fill("'POST'::text"));
    p.push(fill(&format!("'{path}'::text")));
    p.push(per_event(&format!(
        "sha256(convert_to(run || '-' || step || '-' || client || '-' || g || '{suffix}', 'UTF8'))"
    )));
    p.push(per_event(&format!(
        "jsonb_build_object('success', true, 'data', {body}, 'timestamp', now())"
    )));
    p.push("true".into());
    let vars = "WITH b AS (SELECT ARRAY(SELECT generate_series(:s0::int8, :s0::int8 + :batch::int - 1)) AS sid,
        :batch::int AS n, :pid::int AS pid, :wo::int AS wo, :proc::int AS proc, :done::int AS done,
        :client_id::int AS client, :run::int AS run, :step::int AS step, :line_id::int AS line, :ids::int8[] AS ids),
";
    substitute(batch_sql::WRITE, &p).replacen("WITH\n", vars, 1)
}

/// Script executions per second assumed when sizing the seeded serials: far above what one
/// database on a small machine does, so a client never runs out of serials within a run.
const ASSUMED_MAX_SCRIPTS_PER_S: f64 = 10_000.0;

/// Serials each client owns for a run of `seconds` at `clients`.
pub fn serials_per_client(clients: usize, seconds: u32) -> u64 {
    (f64::from(seconds) * ASSUMED_MAX_SCRIPTS_PER_S / clients.max(1) as f64 / 7.0).ceil() as u64 + 1
}

/// Serials each client walks: a multiple of `batch`, enough that no serial finishes twice in a
/// run (its LOT's finished count would then pass its serial count), within the seeded ones.
pub fn per_client(clients: usize, batch: usize, seconds: u32, seeded: u64) -> anyhow::Result<u64> {
    let batch = batch.max(1) as u64;
    let wanted = serials_per_client(clients, seconds).div_ceil(batch) * batch;
    let available = seeded / clients.max(1) as u64 / batch * batch;
    if available == 0 {
        bail!("{seeded} seeded serials cannot give {clients} clients a batch of {batch} each");
    }
    Ok(wanted.min(available))
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let Some(scheme_end) = url.find("://") else {
        bail!("not a postgres:// URL: {url}");
    };
    let rest = &url[scheme_end + 3..];
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let authority = authority_and_path
        .split_once('/')
        .map_or(authority_and_path, |(a, _)| a);
    let mut out = format!("{}://{authority}/{name}", &url[..scheme_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// The newest `/usr/lib/postgresql/<v>/bin/pgbench`, else `pgbench` on PATH.
pub fn find_pgbench() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin/pgbench");
            bin.exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("pgbench"))
            .find(|p| p.exists())
    })
}

/// What a pgbench run printed.
#[derive(Debug, Clone, PartialEq)]
pub struct PgbenchOutput {
    pub tps: f64,
    pub processed: Option<u64>,
    pub failed: u64,
}

/// Reads `tps = …` (excluding connection time), the processed and failed transaction counts.
pub fn parse_output(text: &str) -> Option<PgbenchOutput> {
    let number_after = |line: &str, prefix: &str| -> Option<f64> {
        line.trim()
            .strip_prefix(prefix)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let tps_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("tps = "))
        .collect();
    let tps_line = tps_lines
        .iter()
        .find(|l| l.contains("without initial connection") || l.contains("excluding"))
        .or_else(|| tps_lines.first())?;
    let tps = number_after(tps_line, "tps = ")?;
    let processed = text
        .lines()
        .find_map(|l| number_after(l, "number of transactions actually processed:"))
        .map(|x| x as u64);
    let failed = text
        .lines()
        .find_map(|l| number_after(l, "number of failed transactions:"))
        .map_or(0, |x| x as u64);
    Some(PgbenchOutput {
        tps,
        processed,
        failed,
    })
}

/// A scratch database with mes-api's schema and seeded serials, and the pgbench to run on it.
#[derive(Debug)]
pub struct ScratchDb {
    admin_url: String,
    name: String,
    url: String,
    pgbench: PathBuf,
    dir: PathBuf,
    serial_base: i64,
    pid_base: i32,
    line_id: i32,
    runs: u32,
    /// Serials seeded (every client walks its own share of them).
    seeded: u64,
}

pub struct ScratchSpec<'a> {
    /// A database on the server to create the scratch database on (used only for CREATE/DROP).
    pub admin_url: &'a str,
    pub migrations: &'a Path,
    pub tag: &'a str,
    pub lot_size: u32,
    /// The largest pgbench client count that will run.
    pub max_clients: usize,
    /// The client counts that will run (to size the seeded serials).
    pub clients: &'a [usize],
    pub seconds: u32,
}

impl ScratchDb {
    pub async fn create(spec: ScratchSpec<'_>) -> anyhow::Result<Self> {
        let pgbench = find_pgbench().context("pgbench not found (install postgresql-client)")?;
        let name = format!("mes_pgbench_{}", spec.tag.to_ascii_lowercase());
        let url = with_database(spec.admin_url, &name)?;
        let dir = std::env::temp_dir().join(format!("mes-sim-{name}"));
        std::fs::create_dir_all(&dir)?;
        psql(spec.admin_url, &format!("CREATE DATABASE {name}"))
            .await
            .context("creating the scratch database")?;
        let mut db = Self {
            admin_url: spec.admin_url.to_owned(),
            name,
            url,
            pgbench,
            dir,
            serial_base: 0,
            pid_base: 0,
            line_id: 0,
            runs: 0,
            seeded: 0,
        };
        if let Err(e) = db.build(&spec).await {
            db.drop_database().await;
            return Err(e);
        }
        Ok(db)
    }

    async fn build(&mut self, spec: &ScratchSpec<'_>) -> anyhow::Result<()> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(spec.migrations)
            .with_context(|| format!("reading migrations from {}", spec.migrations.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("no *.sql migrations in {}", spec.migrations.display());
        }
        for f in &files {
            psql_file(&self.url, f).await?;
        }
        let serials: u64 = spec
            .clients
            .iter()
            .map(|&c| {
                let c = c.min(spec.max_clients);
                c as u64 * serials_per_client(c, spec.seconds)
            })
            .max()
            .unwrap_or(1000);
        let lot_size = u64::from(spec.lot_size.clamp(1, 9999)).max(serials.div_ceil(999));
        let lots = serials.div_ceil(lot_size);
        self.seeded = lots * lot_size;
        tracing::info!(db = %self.name, serials = lots * lot_size, lots, "seeding the pgbench database");
        let seed = format!(
            "INSERT INTO production_lines (line_code, display_name) VALUES ('L1', 'pgbench line');
             INSERT INTO processes (line_id, process_code, process_name, sequence_order, standard_cycle_time)
             SELECT (SELECT id FROM production_lines WHERE line_code = 'L1'), code, code, seq, ct
             FROM unnest(ARRAY['SPRING','LMA','LASER','EOL','ROBOT','PRINT','PACK'], ARRAY[1,2,3,4,5,6,7],
                         ARRAY[120,180,60,300,180,60,120]) AS t(code, seq, ct) ORDER BY seq;
             INSERT INTO product_models (model_code, model_name) VALUES ('NH-F2X-001', 'pgbench model');
             INSERT INTO lots (lot_number, plant_code, line_id, product_model_id, production_date, shift, lot_seq,
                               target_quantity, serial_count, status, started_at, created_by)
             SELECT 'FN-KR-991231D-' || lpad(g::text, 3, '0'), 'KR', (SELECT id FROM production_lines),
                    (SELECT id FROM product_models), DATE '1999-12-31', 'D', g, {lot_size}, {lot_size},
                    'IN_PROGRESS', now(), 'pgbench'
             FROM generate_series(1, {lots}) g;
             INSERT INTO serials (serial_number, lot_id, sequence_in_lot)
             SELECT l.lot_number || '-' || lpad(g::text, 4, '0'), l.id, g
             FROM lots l, generate_series(1, {lot_size}) g ORDER BY l.id, g;
             ANALYZE;"
        );
        let seed_file = self.dir.join("seed.sql");
        std::fs::write(&seed_file, seed)?;
        psql_file(&self.url, &seed_file).await?;
        let facts = psql(
            &self.url,
            "SELECT (SELECT min(id) FROM serials), (SELECT max(id) - min(id) + 1 = count(*) FROM serials),
                    (SELECT min(id) FROM processes), (SELECT max(id) - min(id) = 6 FROM processes),
                    (SELECT id FROM production_lines)",
        )
        .await?;
        let f: Vec<&str> = facts.split('|').collect();
        match f.as_slice() {
            [serial_base, "t", pid_base, "t", line_id] => {
                self.serial_base = serial_base.parse()?;
                self.pid_base = pid_base.parse()?;
                self.line_id = line_id.parse()?;
            }
            _ => bail!("unexpected seed ids: {facts}"),
        }
        Ok(())
    }

    /// Clients pgbench can open now: max_connections less reserved and open connections, with
    /// a margin for other users of the server (mes-api's pool, psql).
    pub async fn client_cap(&self) -> anyhow::Result<usize> {
        let row = psql(
            &self.url,
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
                    - (SELECT count(*) FROM pg_stat_activity)::int",
        )
        .await?;
        let free: i64 = row.parse().unwrap_or(0);
        Ok(usize::try_from(free - 8).unwrap_or(1).max(1))
    }

    /// Resets the seeded serials and LOTs and runs pgbench for `seconds`: `stations` events in
    /// flight, as `clients` writers committing batches of `batch` events (`batch` at most
    /// `max_batch`, `clients` at most `cap`).
    pub async fn measure(
        &mut self,
        stations: usize,
        max_batch: usize,
        cap: usize,
        seconds: u32,
    ) -> anyhow::Result<Ceiling> {
        self.runs += 1;
        let batch = stations.clamp(1, max_batch.max(1));
        let clients = stations.div_ceil(batch).clamp(1, cap.max(1));
        psql(
            &self.url,
            "UPDATE process_data SET status = 'COMPLETED', completed_at = started_at, is_pass = true WHERE status = 'IN_PROGRESS';
             UPDATE serials SET status = 'CREATED', in_process = false, next_sequence = 1, completed_at = NULL,
                    started_at = NULL, current_process_id = NULL WHERE status <> 'CREATED';
             UPDATE lots SET actual_quantity = 0, defect_quantity = 0, finished_quantity = 0, status = 'IN_PROGRESS',
                    completed_at = NULL
              WHERE actual_quantity > 0 OR defect_quantity > 0 OR finished_quantity > 0 OR status <> 'IN_PROGRESS'",
        )
        .await
        .context("resetting the pgbench serials")?;
        psql(&self.url, "VACUUM (ANALYZE) serials, lots, process_rollups").await?;
        let script_file = self.dir.join("event-batch.sql");
        std::fs::write(&script_file, script())?;
        let per_client = per_client(clients, batch, seconds, self.seeded)?;
        let threads = clients.clamp(1, 2);
        let out = Command::new(&self.pgbench)
            .args(["-n", "-M", "prepared", "-f"])
            .arg(&script_file)
            .args(["-c", &clients.to_string(), "-j", &threads.to_string()])
            .args(["-T", &seconds.to_string()])
            .args(["-D", "step=0"])
            .args(["-D", &format!("run={}", self.runs)])
            .args(["-D", &format!("wo_base={}", 1 + self.runs * 1000)])
            .args(["-D", &format!("per_client={per_client}")])
            .args(["-D", &format!("batch={batch}")])
            .args(["-D", &format!("serial_base={}", self.serial_base)])
            .args(["-D", &format!("pid_base={}", self.pid_base)])
            .args(["-D", &format!("line_id={}", self.line_id)])
            .arg(&self.url)
            .stdin(Stdio::null())
            .output()
            .await
            .context("running pgbench")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!(
                "pgbench failed ({}): {}",
                out.status,
                stderr.lines().take(5).collect::<Vec<_>>().join(" / ")
            );
        }
        let parsed = parse_output(&stdout)
            .with_context(|| format!("cannot read pgbench's output: {stdout}"))?;
        if parsed.failed > 0 {
            bail!("pgbench reports {} failed transactions", parsed.failed);
        }
        Ok(Ceiling {
            clients,
            batch,
            // One script execution: a START batch and a COMPLETE batch of `batch` events each.
            events_per_s: parsed.tps * 2.0 * batch as f64,
        })
    }

    pub async fn drop_database(&self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = psql(&self.admin_url, &sql).await {
            tracing::warn!(db = %self.name, error = %e, "could not drop the scratch database");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pgbench_15_output() {
        let out = "pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/event.sql
scaling factor: 1
query mode: prepared
number of clients: 64
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 12345
number of failed transactions: 0 (0.000%)
latency average = 51.234 ms
initial connection time = 95.001 ms
tps = 1234.567890 (without initial connection time)
";
        assert_eq!(
            parse_output(out),
            Some(PgbenchOutput {
                tps: 1234.56789,
                processed: Some(12345),
                failed: 0
            })
        );
        let old = "tps = 990.1 (including connections establishing)\ntps = 1000.5 (excluding connections establishing)\n";
        assert_eq!(parse_output(old).map(|o| o.tps), Some(1000.5));
        assert_eq!(parse_output("pgbench: error: connection refused"), None);
        let failed = "number of failed transactions: 3 (0.100%)\ntps = 5.0 (without initial connection time)";
        assert_eq!(parse_output(failed).map(|o| o.failed), Some(3));
    }

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/mes_bench", "x").expect("url"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x").expect("url"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x").expect("url"),
            "postgres://h:5432/x"
        );
        assert!(with_database("host=h dbname=d", "x").is_err());
    }

    #[test]
    fn the_script_runs_the_writers_statements_with_every_parameter_bound() {
        let s = script();
        assert_eq!(s.matches("BEGIN;").count(), 2);
        assert_eq!(s.matches("COMMIT;").count(), 2);
        assert_eq!(
            s.matches("FOR UPDATE OF s").count(),
            2,
            "the serial lock, per batch"
        );
        assert_eq!(s.matches("nextval('process_data_id_seq')").count(), 2);
        assert_eq!(
            s.matches("INSERT INTO audit_log").count(),
            3,
            "inline audit in each write"
        );
        assert_eq!(
            s.matches("FROM lots WHERE id = ANY").count(),
            1,
            "LOT lock when serials finish"
        );
        assert!(
            !s.contains('$'),
            "no positional parameter left for pgbench to miss"
        );
        assert!(
            !s.contains("pg_notify"),
            "events are announced after commit"
        );
        assert_eq!(
            substitute("$1 $12 $2", &["a".into(), "b".into()]),
            "(a) $12 (b)"
        );
    }

    #[test]
    fn clients_get_whole_batches_of_distinct_serials() {
        assert_eq!(per_client(2, 32, 10, 14_500).expect("fits") % 32, 0);
        assert!(per_client(2, 32, 10, 14_500).expect("fits") * 2 <= 14_500);
        assert!(per_client(8, 32, 10, 100).is_err());
        assert!(serials_per_client(16, 10) * 16 >= 10 * 10_000 / 7);
    }
}

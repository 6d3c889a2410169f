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

use crate::psql::{psql, psql_file};
use crate::report::Ceiling;

/// pgbench script (prepared statements, as sqlx uses). Variables from `-D`: `step` (0), `run`,
/// `wo_base`, `per_client`, `serial_base`, `pid_base`, `line_id`.
pub const SCRIPT: &str = r#"-- one START + one COMPLETE of mes-api (events.rs), as a station sends them
\set step :step + 1
\set k (:step - 1) / 7
\set proc ((:step - 1) % 7) + 1
\set sid :serial_base + :client_id * :per_client + (:k % :per_client)
\set wo :wo_base + :k / :per_client
\set pid :pid_base + :proc - 1
\set ct random(50, 320)
-- START: lock the serial with the audit context, insert the record, move serial/LOT, count, notify
BEGIN;
SELECT set_config('mes.user', 'station-PGB-' || :client_id::text, true) AS set_user,
       set_config('mes.ip', '127.0.0.1', true) AS set_ip,
       set_config('mes.user_agent', 'mes-sim/0.1.0', true) AS set_agent,
       set_config('mes.request_id', md5(:run::text || '-' || :client_id::text || '-' || :step::text), true) AS set_request,
       now() AS now, nextval('process_data_id_seq') AS next_id,
       s.id AS serial_id, s.serial_number, s.status, s.next_sequence, s.in_process, s.work_order,
       l.id AS lot_id, l.lot_number, l.status AS lot_status, l.line_id, pl.updated_at AS line_version,
       coalesce(pd.id, 0) AS open_id, pd.started_at AS open_started_at
  FROM serials s
  JOIN lots l ON l.id = s.lot_id
  JOIN production_lines pl ON pl.id = l.line_id
  LEFT JOIN process_data pd ON pd.serial_id = s.id AND pd.status = 'IN_PROGRESS'
 WHERE s.id = :sid::bigint FOR UPDATE OF s \gset
WITH pd AS (
    INSERT INTO process_data (id, serial_id, process_id, work_order, started_at, operator_id, equipment_id, workstation)
    VALUES (:next_id::bigint, :serial_id::bigint, :pid::int, :wo::int, now(), 'W' || :client_id::text, 'EQ-PGB-01', 'PGB-' || :client_id::text)),
 s AS (
    UPDATE serials SET status = 'IN_PROGRESS', in_process = true, current_process_id = :pid::int,
           started_at = COALESCE(started_at, now())
    WHERE id = :serial_id::bigint),
 l AS (
    UPDATE lots SET status = 'IN_PROGRESS', started_at = now() WHERE id = :lot_id::bigint AND status = 'CREATED'),
 r AS (
    INSERT INTO process_rollups (bucket, line_id, process_id, shard, started)
    VALUES (date_trunc('hour', now()), :line_id::int, :pid::int, (:serial_id::bigint % 16)::int2, 1)
    ON CONFLICT (line_id, bucket, process_id, shard) DO UPDATE SET started = process_rollups.started + 1)
SELECT __NOTIFY_START__;
INSERT INTO idempotency_keys (principal, idempotency_key, method, path, request_hash, response_status, response_body)
VALUES ('station-PGB-' || :client_id::text, 'pgb-' || :run::text || '-' || :client_id::text || '-' || :step::text || '-start',
        'POST', '/process/start', sha256(convert_to(:run::text || '-' || :step::text || '-' || :client_id::text, 'UTF8')), 200,
        jsonb_build_object('success', true, 'data', jsonb_build_object('process_data_id', :next_id::bigint,
            'serial_number', :serial_number::text, 'lot_number', :lot_number::text, 'process_code', 'EOL',
            'process_name', 'End-of-line inspection', 'work_order', :wo::int, 'started_at', now()), 'timestamp', now()));
COMMIT;
-- COMPLETE: lock again, close the record, move the serial, count on the LOT when finished, roll up, notify
BEGIN;
SELECT set_config('mes.user', 'station-PGB-' || :client_id::text, true) AS set_user,
       set_config('mes.ip', '127.0.0.1', true) AS set_ip,
       set_config('mes.user_agent', 'mes-sim/0.1.0', true) AS set_agent,
       set_config('mes.request_id', md5(:run::text || '-' || :client_id::text || '-' || :step::text || 'c'), true) AS set_request,
       now() AS now, nextval('process_data_id_seq') AS next_id,
       s.id AS serial_id, s.serial_number, s.status, s.next_sequence, s.in_process, s.work_order,
       l.id AS lot_id, l.lot_number, l.status AS lot_status, l.line_id, pl.updated_at AS line_version,
       coalesce(pd.id, 0) AS open_id, pd.started_at AS open_started_at
  FROM serials s
  JOIN lots l ON l.id = s.lot_id
  JOIN production_lines pl ON pl.id = l.line_id
  LEFT JOIN process_data pd ON pd.serial_id = s.id AND pd.status = 'IN_PROGRESS'
 WHERE s.id = :sid::bigint FOR UPDATE OF s \gset
\set done :proc / 7
WITH pd AS (
    UPDATE process_data SET status = 'COMPLETED', completed_at = now(), cycle_time = :ct::int, is_pass = true,
           process_specific_data = jsonb_build_object('temperature_sensor', 25.3, 'tof_sensor', 1523,
               'firmware_version', 'v2.5.1', 'firmware_upload_status', 'success', 'battery_voltage', 12.5),
           inspection_result = NULL, defect_code = NULL, defect_description = NULL, updated_at = now()
    WHERE id = :open_id::bigint),
 s AS (
    UPDATE serials SET status = CASE WHEN :done::int = 1 THEN 'COMPLETED' ELSE 'IN_PROGRESS' END, in_process = false,
           next_sequence = :proc::int + 1, is_defective = false, defect_code = NULL, defect_description = NULL,
           completed_at = CASE WHEN :done::int = 1 THEN now() END
    WHERE id = :serial_id::bigint),
 l AS (
    UPDATE lots SET actual_quantity = actual_quantity + :done::int, defect_quantity = defect_quantity + 0
    WHERE id = :lot_id::bigint AND :done::int + 0 > 0),
 r AS (
    INSERT INTO process_rollups (bucket, line_id, process_id, shard, passed, failed, completed, cycle_time_sum)
    VALUES (date_trunc('hour', now()), :line_id::int, :pid::int, (:serial_id::bigint % 16)::int2, 1, 0, :done::int, :ct::int)
    ON CONFLICT (line_id, bucket, process_id, shard) DO UPDATE SET
        passed = process_rollups.passed + EXCLUDED.passed, failed = process_rollups.failed + EXCLUDED.failed,
        completed = process_rollups.completed + EXCLUDED.completed,
        cycle_time_sum = process_rollups.cycle_time_sum + EXCLUDED.cycle_time_sum)
SELECT __NOTIFY_COMPLETE__;
\if :done
UPDATE lots SET status = 'COMPLETED', completed_at = now()
 WHERE id = :lot_id::bigint AND status <> 'COMPLETED' AND serial_count = target_quantity
   AND NOT EXISTS (SELECT 1 FROM serials WHERE lot_id = :lot_id::bigint AND status NOT IN ('COMPLETED', 'SCRAPPED'));
\endif
INSERT INTO idempotency_keys (principal, idempotency_key, method, path, request_hash, response_status, response_body)
VALUES ('station-PGB-' || :client_id::text, 'pgb-' || :run::text || '-' || :client_id::text || '-' || :step::text || '-complete',
        'POST', '/process/complete', sha256(convert_to(:run::text || '-' || :step::text || '-' || :client_id::text || 'c', 'UTF8')), 200,
        jsonb_build_object('success', true, 'data', jsonb_build_object('process_data_id', :open_id::bigint,
            'serial_number', :serial_number::text, 'lot_number', :lot_number::text, 'process_code', 'EOL',
            'is_pass', true, 'completed_at', now(), 'cycle_time', :ct::int, 'serial_status', 'IN_PROGRESS',
            'next_process', jsonb_build_object('code', 'ROBOT', 'name', 'Robot performance test'),
            'lot_status', 'IN_PROGRESS'), 'timestamp', now()));
COMMIT;
"#;

const NOTIFY_START: &str = "pg_notify('mes_events', json_build_object('type', 'process_event', 'event', 'started',
       'serial_number', :serial_number::text, 'lot_number', :lot_number::text, 'line_code', 'L1', 'process_code', 'EOL',
       'process_data_id', :next_id::bigint, 'at', now(), 'work_order', :wo::int)::text)";
const NOTIFY_COMPLETE: &str = "pg_notify('mes_events', json_build_object('type', 'process_event', 'event', 'completed',
       'serial_number', :serial_number::text, 'lot_number', :lot_number::text, 'line_code', 'L1', 'process_code', 'EOL',
       'process_data_id', :open_id::bigint, 'at', now(), 'is_pass', true, 'cycle_time', :ct::int,
       'serial_status', 'IN_PROGRESS', 'defect_code', NULL)::text)";

/// The script, with or without the `pg_notify` of each event (the variant without it is a
/// diagnostic: NOTIFY takes a database-wide lock from pre-commit until the commit is flushed).
pub fn script(with_notify: bool) -> String {
    let (start, complete) = if with_notify {
        (NOTIFY_START, NOTIFY_COMPLETE)
    } else {
        ("1", "1")
    };
    SCRIPT
        .replace("__NOTIFY_START__", start)
        .replace("__NOTIFY_COMPLETE__", complete)
}

/// Script executions per second assumed when sizing the seeded serials: far above what one
/// database on a small machine does, so a client never runs out of serials within a run.
const ASSUMED_MAX_SCRIPTS_PER_S: f64 = 10_000.0;

/// Serials each client owns for a run of `seconds` at `clients`.
pub fn serials_per_client(clients: usize, seconds: u32) -> u64 {
    (f64::from(seconds) * ASSUMED_MAX_SCRIPTS_PER_S / clients.max(1) as f64 / 7.0).ceil() as u64 + 1
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

    /// Resets the seeded serials and LOTs and runs pgbench for `seconds` with `clients`.
    pub async fn measure(
        &mut self,
        clients: usize,
        seconds: u32,
        with_notify: bool,
    ) -> anyhow::Result<Ceiling> {
        self.runs += 1;
        psql(
            &self.url,
            "UPDATE process_data SET status = 'COMPLETED', completed_at = started_at, is_pass = true WHERE status = 'IN_PROGRESS';
             UPDATE serials SET status = 'CREATED', in_process = false, next_sequence = 1, completed_at = NULL,
                    started_at = NULL, current_process_id = NULL WHERE status <> 'CREATED';
             UPDATE lots SET actual_quantity = 0, defect_quantity = 0, status = 'IN_PROGRESS', completed_at = NULL
              WHERE actual_quantity > 0 OR defect_quantity > 0 OR status <> 'IN_PROGRESS'",
        )
        .await
        .context("resetting the pgbench serials")?;
        psql(&self.url, "VACUUM (ANALYZE) serials, lots, process_rollups").await?;
        let script_file = self.dir.join(if with_notify {
            "event.sql"
        } else {
            "event-no-notify.sql"
        });
        std::fs::write(&script_file, script(with_notify))?;
        let per_client = serials_per_client(clients, seconds);
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
            events_per_s: parsed.tps * 2.0,
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
    fn the_script_mirrors_both_event_transactions() {
        let s = script(true);
        assert_eq!(s.matches("BEGIN;").count(), 2);
        assert_eq!(s.matches("COMMIT;").count(), 2);
        assert_eq!(s.matches("FOR UPDATE OF s \\gset").count(), 2);
        assert_eq!(s.matches("pg_notify('mes_events'").count(), 2);
        assert_eq!(s.matches("INSERT INTO idempotency_keys").count(), 2);
        assert!(!s.contains("__NOTIFY"));
        assert_eq!(script(false).matches("pg_notify").count(), 0);
        assert!(serials_per_client(16, 10) * 16 >= 10 * 10_000 / 7);
        assert!(serials_per_client(256, 10) >= 2);
    }
}

//! The statements of one event batch and the columns they take. Every statement handles all
//! rows of the batch at once (arrays + `unnest`), so a batch of 64 events costs about as many
//! statements as one event did.
//!
//! Audit: the hot tables' triggers stand aside while `mes.audit_inline` is 'on' (migration
//! 0003); the write statement then inserts the same `audit_log` / `status_history` rows the
//! triggers would (full old/new rows as `to_jsonb`, the old row read through a self-join, which
//! sees the statement's snapshot), each with its own command's actor and request. With
//! [`EventAudit::Triggers`](crate::config::EventAudit) the inline rows are skipped (`$inline`
//! false) and the triggers write them, which is how a test proves both produce the same rows.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::decide::{Caller, Change, Command, LotStep, Write};

/// Locks the batch's serials in id order (two batches never wait on each other in a cycle) and
/// reads what the decisions need. The serials are picked by `id = ANY(ARRAY(…))`: an `OR` of the
/// two lookups cannot use an index and made every batch scan the whole serials table.
///
/// It also steers the plans of the batch's later statements, which are planned (and their
/// generic plans cached) inside this transaction: they touch at most a batch of rows by key,
/// but a plan made while a table was small chose sequential scans and hash joins that then
/// grew with the table. Transaction-local, so no other query of mes-api is affected. `$3` switches the triggers off for inline audit; `$4..$7`
/// are the audit context for trigger mode (one command per batch).
pub const LOCK_SERIALS: &str = "SELECT set_config('mes.audit_inline', $3, true) AS audit_inline,
        set_config('enable_seqscan', 'off', true) AS no_seqscan, set_config('enable_hashjoin', 'off', true) AS no_hashjoin,
        set_config('enable_mergejoin', 'off', true) AS no_mergejoin,
        set_config('mes.user', $4, true) AS set_user, set_config('mes.ip', $5, true) AS set_ip,
        set_config('mes.user_agent', $6, true) AS set_agent, set_config('mes.request_id', $7, true) AS set_request,
        now() AS now, s.id AS serial_id, s.serial_number, s.status, s.next_sequence, s.in_process, s.work_order,
        l.id AS lot_id, l.lot_number, l.status AS lot_status, l.line_id, pl.updated_at AS line_version,
        pd.id AS open_id, pd.started_at AS open_started_at,
        CASE WHEN cardinality($2::int8[]) = 0 THEN '{}'::int8[]
             ELSE ARRAY(SELECT r.id FROM process_data r WHERE r.serial_id = s.id AND r.id = ANY($2)) END AS records
    FROM serials s
    JOIN lots l ON l.id = s.lot_id
    JOIN production_lines pl ON pl.id = l.line_id
    LEFT JOIN process_data pd ON pd.serial_id = s.id AND pd.status = 'IN_PROGRESS'
    WHERE s.id = ANY (ARRAY(SELECT id FROM serials WHERE serial_number = ANY($1)
                            UNION ALL SELECT serial_id FROM process_data WHERE id = ANY($2)))
    ORDER BY s.id
    FOR UPDATE OF s";

/// Runs after the serial locks, so a key stored by a batch that held one of them is seen.
/// Allocates the record ids of the batch's STARTs in the same round trip.
pub const KEYS_AND_IDS: &str = "WITH ids AS MATERIALIZED (
        SELECT array_agg(nextval('process_data_id_seq')) AS ids FROM generate_series(1, $3))
    SELECT ids.ids, k.principal, k.idempotency_key, k.request_hash, k.response_status, k.response_body, k.method, k.path
    FROM ids LEFT JOIN (
        SELECT ik.* FROM unnest($1::text[], $2::text[]) AS q(principal, idempotency_key)
        JOIN idempotency_keys ik USING (principal, idempotency_key)) k ON true";

pub const KNOWN_DEFECT_CODES: &str =
    "SELECT defect_code FROM defect_codes WHERE defect_code = ANY($1)";

/// The LOTs the batch changes, locked in id order so their counters are read fresh.
pub const LOCK_LOTS: &str = "SELECT id, status, actual_quantity, defect_quantity, finished_quantity, serial_count, target_quantity
    FROM lots WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Every write of the batch, with its audit and status history, in one statement.
pub const WRITE: &str = "WITH
 si AS (SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::int4[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::text[], $10::text[], $11::text[])
        AS t(id, serial_id, process_id, work_order, operator_id, equipment_id, workstation, actor, ip, agent, request_id)),
 ins AS (INSERT INTO process_data AS p (id, serial_id, process_id, work_order, started_at, operator_id, equipment_id, workstation)
         SELECT id, serial_id, process_id, work_order, now(), operator_id, equipment_id, workstation FROM si
         RETURNING p.id, to_jsonb(p) AS new_j),
 ci AS (SELECT * FROM unnest($12::int8[], $13::text[], $14::timestamptz[], $15::int4[], $16::bool[], $17::jsonb[], $18::jsonb[],
                              $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[])
        AS t(id, status, completed_at, cycle_time, is_pass, data, inspection, defect_code, defect_description, actor, ip, agent, request_id)),
 upd AS (UPDATE process_data p SET status = c.status, completed_at = c.completed_at, cycle_time = c.cycle_time,
                is_pass = c.is_pass, process_specific_data = c.data, inspection_result = c.inspection,
                defect_code = c.defect_code, defect_description = c.defect_description, updated_at = c.completed_at
         FROM ci c, process_data o WHERE p.id = c.id AND o.id = c.id
         RETURNING p.id, to_jsonb(o) AS old_j, to_jsonb(p) AS new_j, o.status AS old_status, p.status AS new_status),
 ri AS (SELECT * FROM unnest($25::int8[], $26::bool[], $27::text[], $28::int4[], $29::int4[], $30::text[], $31::text[],
                              $32::timestamptz[], $33::text[], $34::text[], $35::text[], $36::text[])
        AS t(serial_id, is_start, status, next_sequence, process_id, defect_code, defect_description, completed_at,
             actor, ip, agent, request_id)),
 su AS (UPDATE serials s SET status = r.status, in_process = r.is_start,
               current_process_id = CASE WHEN r.is_start THEN r.process_id ELSE s.current_process_id END,
               started_at = COALESCE(s.started_at, now()),
               next_sequence = CASE WHEN r.is_start THEN s.next_sequence ELSE r.next_sequence END,
               is_defective = CASE WHEN r.is_start THEN s.is_defective ELSE r.status = 'DEFECTIVE' END,
               defect_code = CASE WHEN r.is_start THEN s.defect_code WHEN r.status = 'DEFECTIVE' THEN r.defect_code END,
               defect_description = CASE WHEN r.is_start THEN s.defect_description
                                         WHEN r.status = 'DEFECTIVE' THEN r.defect_description END,
               completed_at = CASE WHEN r.is_start THEN s.completed_at WHEN r.status = 'COMPLETED' THEN r.completed_at END
        FROM ri r, serials o WHERE s.id = r.serial_id AND o.id = r.serial_id
        RETURNING s.id, to_jsonb(o) AS old_j, to_jsonb(s) AS new_j, o.status AS old_status, s.status AS new_status),
 le AS (SELECT * FROM unnest($37::int8[], $38::int4[], $39::text[], $40::text[], $41::int4[], $42::int4[], $43::int4[],
                              $44::bool[], $45::bool[], $46::text[], $47::text[], $48::text[], $49::text[])
        AS t(lot_id, ord, prev_status, status, actual, defect, finished, started_now, completed_now, actor, ip, agent, request_id)),
 lo AS (SELECT o.id, to_jsonb(o) AS j FROM lots o WHERE o.id IN (SELECT lot_id FROM le)),
 ls AS (SELECT e.*, lo.j AS base_j,
               lo.j || jsonb_build_object('status', e.status, 'actual_quantity', e.actual, 'defect_quantity', e.defect,
                   'finished_quantity', e.finished,
                   'started_at', CASE WHEN e.started_now THEN to_jsonb(now()) ELSE lo.j->'started_at' END,
                   'completed_at', CASE WHEN e.completed_now THEN to_jsonb(now()) ELSE lo.j->'completed_at' END) AS new_j
        FROM le e JOIN lo ON lo.id = e.lot_id),
 lu AS (UPDATE lots l SET status = f.status, actual_quantity = f.actual, defect_quantity = f.defect,
               finished_quantity = f.finished,
               started_at = CASE WHEN f.started_now THEN now() ELSE l.started_at END,
               completed_at = CASE WHEN f.completed_now THEN now() ELSE l.completed_at END
        FROM (SELECT DISTINCT ON (lot_id) * FROM le ORDER BY lot_id, ord DESC) f WHERE l.id = f.lot_id),
 ru AS (INSERT INTO process_rollups AS r (bucket, line_id, process_id, shard, started, passed, failed, completed, cycle_time_sum)
        SELECT date_trunc('hour', ts), line_id, process_id, shard, sum(started), sum(passed), sum(failed), sum(completed), sum(cycle_time)
        FROM unnest($50::timestamptz[], $51::int4[], $52::int4[], $53::int2[], $54::int4[], $55::int4[], $56::int4[], $57::int4[], $58::int8[])
             AS t(ts, line_id, process_id, shard, started, passed, failed, completed, cycle_time)
        GROUP BY 1, 2, 3, 4 ORDER BY 2, 1, 3, 4
        ON CONFLICT (line_id, bucket, process_id, shard) DO UPDATE SET
            started = r.started + EXCLUDED.started, passed = r.passed + EXCLUDED.passed, failed = r.failed + EXCLUDED.failed,
            completed = r.completed + EXCLUDED.completed, cycle_time_sum = r.cycle_time_sum + EXCLUDED.cycle_time_sum),
 ki AS (INSERT INTO idempotency_keys (principal, idempotency_key, method, path, request_hash, response_status, response_body)
        SELECT principal, idempotency_key, method, path, request_hash, 200, response_body
        FROM unnest($59::text[], $60::text[], $61::text[], $62::text[], $63::bytea[], $64::jsonb[])
             AS t(principal, idempotency_key, method, path, request_hash, response_body)),
 aud AS (INSERT INTO audit_log (table_name, record_id, action, old_data, new_data, changed_by, ip_address, user_agent, request_id)
         SELECT * FROM (
             SELECT 'process_data', i.id, 'INSERT', NULL::jsonb, i.new_j, si.actor, si.ip::inet, si.agent, si.request_id
             FROM ins i JOIN si ON si.id = i.id
             UNION ALL
             SELECT 'process_data', u.id, 'UPDATE', u.old_j, u.new_j, ci.actor, ci.ip::inet, ci.agent, ci.request_id
             FROM upd u JOIN ci ON ci.id = u.id
             UNION ALL
             SELECT 'serials', s.id, 'UPDATE', s.old_j, s.new_j, ri.actor, ri.ip::inet, ri.agent, ri.request_id
             FROM su s JOIN ri ON ri.serial_id = s.id
             UNION ALL
             SELECT 'lots', lot_id, 'UPDATE', COALESCE(lag(new_j) OVER (PARTITION BY lot_id ORDER BY ord), base_j), new_j,
                    actor, ip::inet, agent, request_id
             FROM ls) a
         WHERE $65),
 hist AS (INSERT INTO status_history (entity_type, entity_id, old_status, new_status, changed_by)
          SELECT * FROM (
              SELECT 'PROCESS_RECORD', i.id, NULL::text, 'IN_PROGRESS', si.actor FROM ins i JOIN si ON si.id = i.id
              UNION ALL
              SELECT 'PROCESS_RECORD', u.id, u.old_status, u.new_status, ci.actor
              FROM upd u JOIN ci ON ci.id = u.id WHERE u.old_status IS DISTINCT FROM u.new_status
              UNION ALL
              SELECT 'SERIAL', s.id, s.old_status, s.new_status, ri.actor
              FROM su s JOIN ri ON ri.serial_id = s.id WHERE s.old_status IS DISTINCT FROM s.new_status
              UNION ALL
              SELECT 'LOT', lot_id, prev_status, status, actor FROM le WHERE prev_status IS DISTINCT FROM status) h
          WHERE $65)
 SELECT 1";

#[derive(Debug, Default)]
pub struct Audit {
    pub actor: Vec<String>,
    pub ip: Vec<Option<String>>,
    pub agent: Vec<Option<String>>,
    pub request: Vec<Option<String>>,
}

impl Audit {
    fn push(&mut self, c: &Caller) {
        self.actor.push(c.actor.clone());
        self.ip.push(c.ip.clone());
        self.agent.push(c.user_agent.clone());
        self.request.push(c.request_id.clone());
    }
}

#[derive(Debug, Default)]
pub struct Starts {
    pub id: Vec<i64>,
    pub serial_id: Vec<i64>,
    pub process_id: Vec<i32>,
    pub work_order: Vec<i32>,
    pub operator: Vec<String>,
    pub equipment: Vec<Option<String>>,
    pub workstation: Vec<Option<String>>,
    pub audit: Audit,
}

#[derive(Debug, Default)]
pub struct Completes {
    pub id: Vec<i64>,
    pub status: Vec<&'static str>,
    pub completed_at: Vec<DateTime<Utc>>,
    pub cycle_time: Vec<i32>,
    pub is_pass: Vec<bool>,
    pub data: Vec<Value>,
    pub inspection: Vec<Option<Value>>,
    pub defect_code: Vec<Option<String>>,
    pub defect_description: Vec<Option<String>>,
    pub audit: Audit,
}

#[derive(Debug, Default)]
pub struct Serials {
    pub id: Vec<i64>,
    pub is_start: Vec<bool>,
    pub status: Vec<&'static str>,
    pub next_sequence: Vec<i32>,
    pub process_id: Vec<i32>,
    pub defect_code: Vec<Option<String>>,
    pub defect_description: Vec<Option<String>>,
    pub completed_at: Vec<Option<DateTime<Utc>>>,
    pub audit: Audit,
}

#[derive(Debug, Default)]
pub struct Lots {
    pub id: Vec<i64>,
    pub ord: Vec<i32>,
    pub prev_status: Vec<String>,
    pub status: Vec<String>,
    pub actual: Vec<i32>,
    pub defect: Vec<i32>,
    pub finished: Vec<i32>,
    pub started_now: Vec<bool>,
    pub completed_now: Vec<bool>,
    pub audit: Audit,
}

#[derive(Debug, Default)]
pub struct Rollups {
    pub at: Vec<DateTime<Utc>>,
    pub line_id: Vec<i32>,
    pub process_id: Vec<i32>,
    pub shard: Vec<i16>,
    pub started: Vec<i32>,
    pub passed: Vec<i32>,
    pub failed: Vec<i32>,
    pub completed: Vec<i32>,
    pub cycle_time: Vec<i64>,
}

#[derive(Debug, Default)]
pub struct Keys {
    pub principal: Vec<String>,
    pub key: Vec<String>,
    pub method: Vec<&'static str>,
    pub path: Vec<String>,
    pub hash: Vec<Vec<u8>>,
    pub body: Vec<Value>,
}

/// The parameters of [`WRITE`], column by column.
#[derive(Debug, Default)]
pub struct Columns {
    pub starts: Starts,
    pub completes: Completes,
    pub serials: Serials,
    pub lots: Lots,
    pub rollups: Rollups,
    pub keys: Keys,
}

impl Columns {
    /// Columns for `writes` (each of a different serial) and the LOT steps they cause; `bodies`
    /// are the stored responses of the writes that carry an Idempotency-Key.
    pub fn build(
        commands: &[Command],
        writes: &[Write],
        lots: &[LotStep],
        now: DateTime<Utc>,
        bodies: &[Option<Value>],
    ) -> Self {
        let mut c = Self::default();
        for (w, body) in writes.iter().zip(bodies) {
            let cmd = &commands[w.command];
            c.serials.id.push(w.serial_id);
            c.serials.audit.push(&cmd.caller);
            c.rollups.line_id.push(w.line_id);
            c.rollups.shard.push(w.shard());
            match &w.change {
                Change::Start {
                    record_id,
                    process_id,
                    work_order,
                    operator_id,
                    equipment_id,
                    workstation,
                    ..
                } => {
                    c.starts.id.push(*record_id);
                    c.starts.serial_id.push(w.serial_id);
                    c.starts.process_id.push(*process_id);
                    c.starts.work_order.push(*work_order);
                    c.starts.operator.push(operator_id.clone());
                    c.starts.equipment.push(equipment_id.clone());
                    c.starts.workstation.push(workstation.clone());
                    c.starts.audit.push(&cmd.caller);
                    c.serials.is_start.push(true);
                    c.serials.status.push("IN_PROGRESS");
                    c.serials.next_sequence.push(1);
                    c.serials.process_id.push(*process_id);
                    c.serials.defect_code.push(None);
                    c.serials.defect_description.push(None);
                    c.serials.completed_at.push(None);
                    c.rollups.at.push(now);
                    c.rollups.process_id.push(*process_id);
                    c.rollups.started.push(1);
                    c.rollups.passed.push(0);
                    c.rollups.failed.push(0);
                    c.rollups.completed.push(0);
                    c.rollups.cycle_time.push(0);
                }
                Change::Complete {
                    record_id,
                    process_id,
                    is_pass,
                    completed_at,
                    cycle_time,
                    data,
                    inspection,
                    defect_code,
                    defect_description,
                    serial_status,
                    next_sequence,
                    serial_completed,
                } => {
                    c.completes.id.push(*record_id);
                    c.completes
                        .status
                        .push(if *is_pass { "COMPLETED" } else { "FAILED" });
                    c.completes.completed_at.push(*completed_at);
                    c.completes.cycle_time.push(*cycle_time);
                    c.completes.is_pass.push(*is_pass);
                    c.completes.data.push(data.clone());
                    c.completes.inspection.push(inspection.clone());
                    c.completes.defect_code.push(defect_code.clone());
                    c.completes
                        .defect_description
                        .push(defect_description.clone());
                    c.completes.audit.push(&cmd.caller);
                    c.serials.is_start.push(false);
                    c.serials.status.push(serial_status.as_str());
                    c.serials.next_sequence.push(*next_sequence);
                    c.serials.process_id.push(*process_id);
                    c.serials.defect_code.push(defect_code.clone());
                    c.serials
                        .defect_description
                        .push(defect_description.clone());
                    c.serials.completed_at.push(Some(*completed_at));
                    c.rollups.at.push(*completed_at);
                    c.rollups.process_id.push(*process_id);
                    c.rollups.started.push(0);
                    c.rollups.passed.push(i32::from(*is_pass));
                    c.rollups.failed.push(i32::from(!*is_pass));
                    c.rollups.completed.push(i32::from(*serial_completed));
                    c.rollups.cycle_time.push(i64::from(*cycle_time));
                }
            }
            if let (Some(idem), Some(body)) = (&cmd.idem, body) {
                c.keys.principal.push(idem.principal().to_owned());
                c.keys.key.push(idem.key().to_owned());
                c.keys.method.push(idem.method());
                c.keys.path.push(idem.path().to_owned());
                c.keys.hash.push(idem.hash().to_vec());
                c.keys.body.push(body.clone());
            }
        }
        for (ord, step) in lots.iter().enumerate() {
            let cmd = &commands[writes[step.write].command];
            c.lots.id.push(step.lot_id);
            c.lots.ord.push(ord as i32);
            c.lots.prev_status.push(step.prev_status.clone());
            c.lots.status.push(step.status.clone());
            c.lots.actual.push(step.actual);
            c.lots.defect.push(step.defect);
            c.lots.finished.push(step.finished);
            c.lots.started_now.push(step.started_now);
            c.lots.completed_now.push(step.completed_now);
            c.lots.audit.push(&cmd.caller);
        }
        c
    }

    /// Binds every column to [`WRITE`]; `inline` writes the audit rows in the statement.
    pub fn bind(
        self,
        inline: bool,
    ) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let Self {
            starts: s,
            completes: c,
            serials: r,
            lots: l,
            rollups: u,
            keys: k,
        } = self;
        sqlx::query(WRITE)
            .bind(s.id)
            .bind(s.serial_id)
            .bind(s.process_id)
            .bind(s.work_order)
            .bind(s.operator)
            .bind(s.equipment)
            .bind(s.workstation)
            .bind(s.audit.actor)
            .bind(s.audit.ip)
            .bind(s.audit.agent)
            .bind(s.audit.request)
            .bind(c.id)
            .bind(c.status)
            .bind(c.completed_at)
            .bind(c.cycle_time)
            .bind(c.is_pass)
            .bind(c.data)
            .bind(c.inspection)
            .bind(c.defect_code)
            .bind(c.defect_description)
            .bind(c.audit.actor)
            .bind(c.audit.ip)
            .bind(c.audit.agent)
            .bind(c.audit.request)
            .bind(r.id)
            .bind(r.is_start)
            .bind(r.status)
            .bind(r.next_sequence)
            .bind(r.process_id)
            .bind(r.defect_code)
            .bind(r.defect_description)
            .bind(r.completed_at)
            .bind(r.audit.actor)
            .bind(r.audit.ip)
            .bind(r.audit.agent)
            .bind(r.audit.request)
            .bind(l.id)
            .bind(l.ord)
            .bind(l.prev_status)
            .bind(l.status)
            .bind(l.actual)
            .bind(l.defect)
            .bind(l.finished)
            .bind(l.started_now)
            .bind(l.completed_now)
            .bind(l.audit.actor)
            .bind(l.audit.ip)
            .bind(l.audit.agent)
            .bind(l.audit.request)
            .bind(u.at)
            .bind(u.line_id)
            .bind(u.process_id)
            .bind(u.shard)
            .bind(u.started)
            .bind(u.passed)
            .bind(u.failed)
            .bind(u.completed)
            .bind(u.cycle_time)
            .bind(k.principal)
            .bind(k.key)
            .bind(k.method)
            .bind(k.path)
            .bind(k.hash)
            .bind(k.body)
            .bind(inline)
    }
}

//! Dashboards from counters kept in the event transactions (`process_rollups`, LOT quantities):
//! a request reads a few hundred counter rows, never the day's process records.

use axum::extract::State;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use mes_core::{ProductionSlot, ShiftSchedule};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiResponse, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Production date (default: the current one, from the plant's timezone and shifts).
    pub date: Option<NaiveDate>,
    /// Only this line.
    pub line: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, Default)]
pub struct Totals {
    pub total_lots: i64,
    pub active_lots: i64,
    pub completed_lots: i64,
    pub total_serials: i64,
    pub completed_serials: i64,
    pub defective_serials: i64,
    /// completed / total serials, in percent.
    pub completion_rate: f64,
    /// defective / (completed + defective), in percent.
    pub defect_rate: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessSummary {
    pub process_code: String,
    pub process_name: String,
    pub sequence: i32,
    /// Records started in the period.
    pub total: i64,
    pub completed: i64,
    pub failed: i64,
    pub in_progress: i64,
    pub avg_cycle_time: Option<f64>,
    pub standard_cycle_time: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineSummary {
    pub line_code: String,
    pub display_name: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub processes: Vec<ProcessSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub date: NaiveDate,
    /// The whole plant (seed 001 §6.6 fields).
    #[serde(flatten)]
    pub totals: Totals,
    pub lines: Vec<LineSummary>,
}

#[derive(sqlx::FromRow)]
struct ProcessRollup {
    line_id: i32,
    process_id: i32,
    process_code: String,
    process_name: String,
    sequence_order: i32,
    standard_cycle_time: i32,
    started: i64,
    passed: i64,
    failed: i64,
    cycle_time_sum: i64,
}

/// Start (inclusive) and end (exclusive) of a production date in UTC.
fn day_window(shifts: &ShiftSchedule, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let to_utc = |local: NaiveDateTime| {
        shifts
            .tz()
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            // A start inside a DST gap: the instant an hour later exists.
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    };
    let (start, _) = shifts.local_window(ProductionSlot {
        date,
        shift: mes_core::Shift::Day,
    });
    let (_, end) = shifts.local_window(ProductionSlot {
        date,
        shift: mes_core::Shift::Night,
    });
    (to_utc(start), to_utc(end))
}

fn rate(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    }
}

fn totals(
    lots: i64,
    active: i64,
    done: i64,
    serials: i64,
    completed: i64,
    defective: i64,
) -> Totals {
    Totals {
        total_lots: lots,
        active_lots: active,
        completed_lots: done,
        total_serials: serials,
        completed_serials: completed,
        defective_serials: defective,
        completion_rate: rate(completed, serials),
        defect_rate: rate(defective, completed + defective),
    }
}

#[utoipa::path(get, path = "/api/v1/dashboard/summary", tag = "dashboard", params(SummaryQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<Summary>))))]
pub async fn summary(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> ApiResult<Summary> {
    let today = state.config.shifts.production_slot(Utc::now()).date;
    let date = q.date.unwrap_or(today);
    let (start, end) = day_window(&state.config.shifts, date);
    let lines: Vec<(i32, String, String)> = sqlx::query_as(
        "SELECT id, line_code, display_name FROM production_lines WHERE ($1::text IS NULL OR line_code = $1) ORDER BY line_code",
    )
    .bind(&q.line)
    .fetch_all(&state.db)
    .await?;
    if lines.is_empty() && q.line.is_some() {
        return Err(crate::http::lines::line_not_found(
            q.line.as_deref().unwrap_or_default(),
        ));
    }
    let ids: Vec<i32> = lines.iter().map(|l| l.0).collect();
    let lot_rows: Vec<(i32, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT line_id, count(*), count(*) FILTER (WHERE status IN ('CREATED', 'IN_PROGRESS')),
                count(*) FILTER (WHERE status = 'COMPLETED'), coalesce(sum(serial_count), 0)::int8,
                coalesce(sum(actual_quantity), 0)::int8, coalesce(sum(defect_quantity), 0)::int8
         FROM lots WHERE production_date = $1 AND line_id = ANY($2) GROUP BY line_id",
    )
    .bind(date)
    .bind(&ids)
    .fetch_all(&state.db)
    .await?;
    let process_rows: Vec<ProcessRollup> = sqlx::query_as(
        "SELECT p.line_id, p.id AS process_id, p.process_code, p.process_name, p.sequence_order, p.standard_cycle_time,
                coalesce(sum(r.started), 0)::int8 AS started, coalesce(sum(r.passed), 0)::int8 AS passed,
                coalesce(sum(r.failed), 0)::int8 AS failed, coalesce(sum(r.cycle_time_sum), 0)::int8 AS cycle_time_sum
         FROM processes p
         LEFT JOIN process_rollups r ON r.line_id = p.line_id AND r.process_id = p.id AND r.bucket >= $2 AND r.bucket < $3
         WHERE p.line_id = ANY($1) AND p.is_active
         GROUP BY p.line_id, p.id ORDER BY p.line_id, p.sequence_order",
    )
    .bind(&ids)
    .bind(start)
    .bind(end)
    .fetch_all(&state.db)
    .await?;
    // For the current production date, "in progress" is the live count of open records.
    let open: Vec<(i32, i64)> = if date == today {
        sqlx::query_as(
            "SELECT d.process_id, count(*) FROM process_data d JOIN processes p ON p.id = d.process_id
             WHERE d.status = 'IN_PROGRESS' AND p.line_id = ANY($1) GROUP BY d.process_id",
        )
        .bind(&ids)
        .fetch_all(&state.db)
        .await?
    } else {
        Vec::new()
    };

    let mut plant = (0, 0, 0, 0, 0, 0);
    let mut out = Vec::with_capacity(lines.len());
    for (id, code, name) in lines {
        let l = lot_rows
            .iter()
            .find(|r| r.0 == id)
            .copied()
            .unwrap_or((id, 0, 0, 0, 0, 0, 0));
        plant = (
            plant.0 + l.1,
            plant.1 + l.2,
            plant.2 + l.3,
            plant.3 + l.4,
            plant.4 + l.5,
            plant.5 + l.6,
        );
        let processes = process_rows
            .iter()
            .filter(|p| p.line_id == id)
            .map(|p| {
                let finished = p.passed + p.failed;
                let in_progress = if date == today {
                    open.iter().find(|o| o.0 == p.process_id).map_or(0, |o| o.1)
                } else {
                    (p.started - finished).max(0)
                };
                ProcessSummary {
                    process_code: p.process_code.clone(),
                    process_name: p.process_name.clone(),
                    sequence: p.sequence_order,
                    total: p.started,
                    completed: p.passed,
                    failed: p.failed,
                    in_progress,
                    avg_cycle_time: (finished > 0)
                        .then(|| (p.cycle_time_sum as f64 * 10.0 / finished as f64).round() / 10.0),
                    standard_cycle_time: p.standard_cycle_time,
                }
            })
            .collect();
        out.push(LineSummary {
            line_code: code,
            display_name: name,
            totals: totals(l.1, l.2, l.3, l.4, l.5, l.6),
            processes,
        });
    }
    Ok(ApiResponse::ok(Summary {
        date,
        totals: totals(plant.0, plant.1, plant.2, plant.3, plant.4, plant.5),
        lines: out,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineKpis {
    pub line_code: String,
    pub production_date: NaiveDate,
    /// Serials started and not finished (in progress or awaiting rework).
    pub wip: i64,
    /// Serials that passed the last process during the current production date.
    pub completed_today: i64,
    pub failed_today: i64,
    /// Passed / (passed + failed) COMPLETE events today, in percent; none before the first.
    pub yield_percent: Option<f64>,
    /// Units completed per hour over roughly the last hour.
    pub throughput_per_hour: f64,
}

#[utoipa::path(get, path = "/api/v1/dashboard/lines/{line_code}/kpis", tag = "dashboard",
    params(("line_code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = inline(crate::error::Envelope<LineKpis>)), (status = 404, body = crate::error::ErrorEnvelope)))]
pub async fn line_kpis(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<LineKpis> {
    let line_id: i32 = sqlx::query_scalar("SELECT id FROM production_lines WHERE line_code = $1")
        .bind(&code)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| crate::http::lines::line_not_found(&code))?;
    let now = Utc::now();
    let date = state.config.shifts.production_slot(now).date;
    let (start, end) = day_window(&state.config.shifts, date);
    let wip: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM serials s JOIN lots l ON l.id = s.lot_id
         WHERE l.line_id = $1 AND l.status IN ('CREATED', 'IN_PROGRESS') AND s.status IN ('IN_PROGRESS', 'DEFECTIVE')",
    )
    .bind(line_id)
    .fetch_one(&state.db)
    .await?;
    let (passed, failed, completed): (i64, i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(passed), 0)::int8, coalesce(sum(failed), 0)::int8, coalesce(sum(completed), 0)::int8
         FROM process_rollups WHERE line_id = $1 AND bucket >= $2 AND bucket < $3",
    )
    .bind(line_id)
    .bind(start)
    .bind(end)
    .fetch_one(&state.db)
    .await?;
    // The previous full hour plus the current partial one, scaled to one hour.
    let hour = now - chrono::Duration::hours(1);
    let recent: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(completed), 0)::int8 FROM process_rollups WHERE line_id = $1 AND bucket >= date_trunc('hour', $2::timestamptz)",
    )
    .bind(line_id)
    .bind(hour)
    .fetch_one(&state.db)
    .await?;
    let minutes_into_hour = f64::from(chrono::Timelike::minute(&now))
        + f64::from(chrono::Timelike::second(&now)) / 60.0;
    let throughput = recent as f64 / (1.0 + minutes_into_hour / 60.0);
    Ok(ApiResponse::ok(LineKpis {
        line_code: code,
        production_date: date,
        wip,
        completed_today: completed,
        failed_today: failed,
        yield_percent: (passed + failed > 0).then(|| rate(passed, passed + failed)),
        throughput_per_hour: (throughput * 10.0).round() / 10.0,
    }))
}

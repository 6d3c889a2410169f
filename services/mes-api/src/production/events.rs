//! START and COMPLETE of a process for a serial: the request and response shapes and the
//! checks that need no database; the decision and the write happen in the replica's batched
//! event writer (`writer.rs`, `decide.rs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::decide::{Answer, Caller, Command, Request};
use super::idempotency::{Idempotency, Outcome};
use crate::error::ApiError;
use crate::extract::RequestContext;
use crate::http::serials::parse_serial_number;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[schema(example = "FN-KR-251110D-001-0001")]
    pub serial_number: String,
    #[schema(example = "LMA")]
    pub process_code: String,
    #[schema(example = "W002")]
    pub operator_id: String,
    pub equipment_id: Option<String>,
    pub workstation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StartResponse {
    pub process_data_id: i64,
    pub serial_number: String,
    pub lot_number: String,
    pub process_code: String,
    pub process_name: String,
    pub work_order: i32,
    pub started_at: DateTime<Utc>,
}

/// COMPLETE, either by `process_data_id` or by `serial_number` + `process_code` (as the station
/// files give it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    pub process_data_id: Option<i64>,
    pub serial_number: Option<String>,
    pub process_code: Option<String>,
    pub operator_id: Option<String>,
    pub is_pass: bool,
    /// Seconds; computed from the start when absent.
    pub cycle_time: Option<i32>,
    #[schema(value_type = Object)]
    pub process_specific_data: Option<Value>,
    #[schema(value_type = Object)]
    pub inspection_result: Option<Value>,
    /// Required when `is_pass` is false.
    pub defect_code: Option<String>,
    pub defect_description: Option<String>,
    /// When the unit completed (the station file's time); default now.
    pub timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NextProcess {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CompleteResponse {
    pub process_data_id: i64,
    pub serial_number: String,
    pub lot_number: String,
    pub process_code: String,
    pub is_pass: bool,
    pub completed_at: DateTime<Utc>,
    pub cycle_time: i32,
    pub serial_status: String,
    /// The process to START next; none when the serial is finished or defective.
    pub next_process: Option<NextProcess>,
    pub lot_status: String,
}

fn text_field(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(
            ApiError::validation(format!("{name} must be 1-{max} characters"))
                .with_details(json!({ "field": name })),
        );
    }
    Ok(())
}

fn opt_text_field(name: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| text_field(name, v, max))
}

pub async fn start(
    state: &AppState,
    ctx: &RequestContext,
    req: &StartRequest,
    idem: Option<&Idempotency>,
) -> Result<Outcome<StartResponse>, ApiError> {
    parse_serial_number(&req.serial_number)?;
    text_field("operator_id", &req.operator_id, 50)?;
    opt_text_field("equipment_id", req.equipment_id.as_deref(), 50)?;
    opt_text_field("workstation", req.workstation.as_deref(), 50)?;
    match submit(state, ctx, Request::Start(req.clone()), idem).await? {
        Outcome::Done(Answer::Start(a)) => Ok(Outcome::Done(a)),
        Outcome::Replayed(r) => Ok(Outcome::Replayed(r)),
        Outcome::Done(Answer::Complete(_)) => Err(ApiError::internal("START answered as COMPLETE")),
    }
}

async fn submit(
    state: &AppState,
    ctx: &RequestContext,
    request: Request,
    idem: Option<&Idempotency>,
) -> Result<Outcome<Answer>, ApiError> {
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    let caller = Caller {
        actor: ctx.actor.clone(),
        ip: ctx.ip.map(|ip| ip.to_string()),
        user_agent: present(ctx.user_agent.clone()),
        request_id: present(ctx.request_id.clone()),
    };
    state
        .writer
        .submit(Command {
            request,
            caller,
            idem: idem.cloned(),
        })
        .await
}

pub async fn complete(
    state: &AppState,
    ctx: &RequestContext,
    req: &CompleteRequest,
    idem: Option<&Idempotency>,
) -> Result<Outcome<CompleteResponse>, ApiError> {
    match (req.process_data_id, &req.serial_number, &req.process_code) {
        (Some(_), None, None) => {}
        (None, Some(sn), Some(_)) => {
            parse_serial_number(sn)?;
        }
        _ => {
            return Err(ApiError::validation(
                "give either process_data_id, or serial_number and process_code",
            )
            .with_details(json!({ "field": "process_data_id" })));
        }
    };
    opt_text_field("operator_id", req.operator_id.as_deref(), 50)?;
    opt_text_field(
        "defect_description",
        req.defect_description.as_deref(),
        2000,
    )?;
    if req
        .cycle_time
        .is_some_and(|c| !(0..=7 * 86_400).contains(&c))
    {
        return Err(
            ApiError::validation("cycle_time must be 0..=604800 seconds")
                .with_details(json!({ "field": "cycle_time" })),
        );
    }
    for (name, value) in [
        ("process_specific_data", &req.process_specific_data),
        ("inspection_result", &req.inspection_result),
    ] {
        if value.as_ref().is_some_and(|v| !v.is_object()) {
            return Err(
                ApiError::validation(format!("{name} must be a JSON object"))
                    .with_details(json!({ "field": name })),
            );
        }
    }
    match (req.is_pass, &req.defect_code) {
        (false, None) => {
            return Err(ApiError::unprocessable(
                "DEFECT_CODE_REQUIRED",
                "a failed process needs a defect_code",
            )
            .with_details(json!({ "field": "defect_code" })));
        }
        (true, Some(_)) => {
            return Err(
                ApiError::validation("defect_code is only for is_pass=false")
                    .with_details(json!({ "field": "defect_code" })),
            );
        }
        _ => {}
    }

    match submit(state, ctx, Request::Complete(req.clone()), idem).await? {
        Outcome::Done(Answer::Complete(a)) => Ok(Outcome::Done(a)),
        Outcome::Replayed(r) => Ok(Outcome::Replayed(r)),
        Outcome::Done(Answer::Start(_)) => Err(ApiError::internal("COMPLETE answered as START")),
    }
}

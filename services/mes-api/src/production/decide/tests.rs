#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::http::HeaderMap;
use chrono::{TimeZone, Utc};
use mes_core::{Route, RouteStep};
use serde_json::json;

use super::*;
use crate::production::events::{CompleteRequest, StartRequest};
use crate::production::idempotency::{Idempotency, Stored};
use crate::production::route_cache::{LineRouting, ProcessInfo};

const CODES: [&str; 3] = ["A", "B", "C"];

fn routing() -> Arc<LineRouting> {
    let steps = CODES
        .iter()
        .enumerate()
        .map(|(i, c)| RouteStep::new(*c, i as u32 + 1))
        .collect();
    Arc::new(LineRouting {
        line_id: 7,
        line_code: "L1".into(),
        version: Utc.timestamp_opt(0, 0).unwrap(),
        route: Route::new(steps).unwrap(),
        processes: CODES
            .iter()
            .enumerate()
            .map(|(i, c)| ProcessInfo {
                id: 100 + i as i32,
                code: (*c).into(),
                name: format!("process {c}"),
                standard_cycle_time: 60,
                schema: None,
            })
            .collect(),
    })
}

fn serial(id: i64, status: &str, next_sequence: i32, open: Option<i64>) -> SerialRow {
    SerialRow {
        serial_id: id,
        serial_number: format!("FN-KR-251109D-001-{id:04}"),
        status: status.into(),
        next_sequence,
        in_process: open.is_some(),
        work_order: 1,
        lot_id: 1,
        lot_number: "FN-KR-251109D-001".into(),
        lot_status: "IN_PROGRESS".into(),
        line_id: 7,
        line_version: Utc.timestamp_opt(0, 0).unwrap(),
        open_id: open,
        open_started_at: open.map(|_| Utc.timestamp_opt(1_000, 0).unwrap()),
        records: open.into_iter().collect(),
    }
}

fn caller(actor: &str) -> Caller {
    Caller {
        actor: actor.into(),
        ..Caller::default()
    }
}

fn start(id: i64, process: &str) -> Command {
    Command {
        request: Request::Start(StartRequest {
            serial_number: format!("FN-KR-251109D-001-{id:04}"),
            process_code: process.into(),
            operator_id: "W1".into(),
            equipment_id: None,
            workstation: None,
        }),
        caller: caller("station-1"),
        idem: None,
    }
}

fn complete(id: i64, process: &str, pass: bool, defect: Option<&str>) -> Command {
    Command {
        request: Request::Complete(CompleteRequest {
            process_data_id: None,
            serial_number: Some(format!("FN-KR-251109D-001-{id:04}")),
            process_code: Some(process.into()),
            operator_id: None,
            is_pass: pass,
            cycle_time: Some(30),
            process_specific_data: None,
            inspection_result: None,
            defect_code: defect.map(str::to_owned),
            defect_description: None,
            timestamp: None,
        }),
        caller: caller("station-2"),
        idem: None,
    }
}

fn keyed(mut c: Command, key: &str) -> Command {
    let mut headers = HeaderMap::new();
    headers.insert("idempotency-key", key.parse().unwrap());
    let body = json!({ "serial_number": c.serial_number() });
    c.idem =
        Idempotency::from_request(&headers, "station-1", "POST", "/process/start", &body).unwrap();
    c
}

struct World {
    serials: Vec<SerialRow>,
    routes: HashMap<i32, Arc<LineRouting>>,
    stored: HashMap<(String, String), Stored>,
    codes: HashSet<String>,
    ids: Vec<i64>,
}

impl World {
    fn new(serials: Vec<SerialRow>) -> Self {
        Self {
            serials,
            routes: HashMap::from([(7, routing())]),
            stored: HashMap::new(),
            codes: HashSet::from(["D1".to_owned()]),
            ids: (500..600).collect(),
        }
    }

    fn decide(&self, commands: &[Command]) -> Vec<Verdict> {
        decide(
            commands,
            &Snapshot {
                now: Utc.timestamp_opt(2_000, 0).unwrap(),
                serials: &self.serials,
                routes: &self.routes,
                stored: &self.stored,
                defect_codes: &self.codes,
                ids: &self.ids,
            },
        )
    }
}

fn kinds(verdicts: &[Verdict]) -> Vec<String> {
    verdicts
        .iter()
        .map(|v| match v {
            Verdict::Write(w) => format!("write:{}", w.outcome()),
            Verdict::Replay(_) => "replay".into(),
            Verdict::Refuse(e) => e.code.to_owned(),
            Verdict::Defer => "defer".into(),
        })
        .collect()
}

fn writes(verdicts: Vec<Verdict>) -> Vec<Write> {
    verdicts
        .into_iter()
        .filter_map(|v| match v {
            Verdict::Write(w) => Some(*w),
            _ => None,
        })
        .collect()
}

#[test]
fn a_second_event_of_a_written_serial_waits_for_the_next_batch() {
    let world = World::new(vec![
        serial(1, "CREATED", 1, None),
        serial(2, "CREATED", 1, None),
    ]);
    let v = world.decide(&[
        start(1, "A"),
        start(1, "A"),
        start(2, "A"),
        complete(1, "A", true, None),
    ]);
    assert_eq!(
        kinds(&v),
        ["write:started", "defer", "write:started", "defer"]
    );
    let w = writes(v);
    assert_eq!(w[0].command, 0);
    assert_eq!(w[1].command, 2);
    let ids: Vec<i64> = w
        .iter()
        .map(|w| match w.change {
            Change::Start { record_id, .. } => record_id,
            Change::Complete { .. } => -1,
        })
        .collect();
    assert_eq!(ids, [500, 501], "each START takes its own fresh id");

    // The next batch sees the committed START: the duplicate is refused, COMPLETE goes on.
    let world = World::new(vec![serial(1, "IN_PROGRESS", 1, Some(500))]);
    let v = world.decide(&[start(1, "A"), complete(1, "A", true, None)]);
    assert_eq!(kinds(&v), ["ALREADY_STARTED", "write:passed"]);
}

#[test]
fn a_refused_event_leaves_the_serial_to_the_next_command() {
    let world = World::new(vec![serial(1, "CREATED", 1, None)]);
    let v = world.decide(&[start(1, "B"), start(1, "A"), start(9, "A")]);
    assert_eq!(
        kinds(&v),
        [
            "PREVIOUS_PROCESS_INCOMPLETE",
            "write:started",
            "SERIAL_NOT_FOUND"
        ]
    );
}

#[test]
fn stored_keys_replay_and_a_key_written_in_this_batch_defers() {
    let mut world = World::new(vec![
        serial(1, "CREATED", 1, None),
        serial(2, "CREATED", 1, None),
    ]);
    let first = keyed(start(1, "A"), "k1");
    let twin = keyed(start(1, "A"), "k1");
    let v = world.decide(&[first.clone(), twin]);
    assert_eq!(kinds(&v), ["write:started", "defer"]);

    let idem = first.idem.clone().unwrap();
    world.stored.insert(
        ("station-1".into(), "k1".into()),
        Stored {
            request_hash: idem.hash().to_vec(),
            response_status: 200,
            response_body: json!({ "success": true }),
            method: "POST".into(),
            path: "/process/start".into(),
        },
    );
    let v = world.decide(&[first, keyed(start(2, "A"), "k1")]);
    assert_eq!(kinds(&v), ["replay", "replay"]);
    let Verdict::Replay(Err(e)) = &v[1] else {
        panic!("a different body under a stored key is refused")
    };
    assert_eq!(e.code, "IDEMPOTENCY_KEY_REUSED");
}

#[test]
fn unknown_defect_codes_are_refused_before_writing() {
    let world = World::new(vec![
        serial(1, "IN_PROGRESS", 1, Some(40)),
        serial(2, "IN_PROGRESS", 1, Some(41)),
    ]);
    let v = world.decide(&[
        complete(1, "A", false, Some("NOPE")),
        complete(2, "A", false, Some("D1")),
    ]);
    assert_eq!(kinds(&v), ["UNKNOWN_DEFECT_CODE", "write:failed"]);
    let w = writes(v);
    let Change::Complete {
        serial_status,
        cycle_time,
        record_id,
        ..
    } = &w[0].change
    else {
        panic!("a COMPLETE")
    };
    assert_eq!(
        (*serial_status, *cycle_time, *record_id),
        (SerialStatus::Defective, 30, 41)
    );
}

fn lot(status: &str, finished: i32, serial_count: i32, target: i32) -> LotRow {
    LotRow {
        id: 1,
        status: status.into(),
        actual_quantity: finished,
        defect_quantity: 0,
        finished_quantity: finished,
        serial_count,
        target_quantity: target,
    }
}

#[test]
fn lots_open_on_the_first_start_count_failures_and_close_on_the_last_serial() {
    let mut created = serial(1, "CREATED", 1, None);
    created.lot_status = "CREATED".into();
    let mut other = serial(2, "CREATED", 1, None);
    other.lot_status = "CREATED".into();
    let world = World::new(vec![created, other]);
    let mut w = writes(world.decide(&[start(1, "A"), start(2, "A")]));
    assert_eq!(lots_to_lock(&w), [1]);
    let steps = apply_lots(&mut w, &[lot("CREATED", 0, 3, 3)]);
    assert_eq!(steps.len(), 1, "only the first START opens the LOT");
    assert_eq!(
        (
            steps[0].write,
            steps[0].prev_status.as_str(),
            steps[0].status.as_str()
        ),
        (0, "CREATED", "IN_PROGRESS")
    );
    assert!(steps[0].started_now && !steps[0].completed_now);

    // Serial 3 at its last process, serial 4 failing: the LOT counts both and closes after
    // the last finished serial.
    let world = World::new(vec![
        serial(3, "IN_PROGRESS", 3, Some(70)),
        serial(4, "IN_PROGRESS", 2, Some(71)),
        serial(5, "IN_PROGRESS", 1, Some(72)),
    ]);
    let mut w = writes(world.decide(&[
        complete(4, "B", false, Some("D1")),
        complete(3, "C", true, None),
        complete(5, "A", true, None),
    ]));
    assert_eq!(lots_to_lock(&w), [1]);
    let steps = apply_lots(&mut w, &[lot("IN_PROGRESS", 2, 3, 3)]);
    let seen: Vec<(usize, &str, i32, i32, i32, bool)> = steps
        .iter()
        .map(|s| {
            (
                s.write,
                s.status.as_str(),
                s.actual,
                s.defect,
                s.finished,
                s.completed_now,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (0, "IN_PROGRESS", 2, 1, 2, false),
            (1, "COMPLETED", 3, 1, 3, true)
        ]
    );
    let lot_status: Vec<String> = w
        .iter()
        .map(|w| match &w.answer {
            Answer::Complete(a) => a.lot_status.clone(),
            Answer::Start(_) => String::new(),
        })
        .collect();
    assert_eq!(lot_status, ["IN_PROGRESS", "COMPLETED", "IN_PROGRESS"]);

    // Not every serial issued yet: the LOT stays open.
    let world = World::new(vec![serial(3, "IN_PROGRESS", 3, Some(70))]);
    let mut w = writes(world.decide(&[complete(3, "C", true, None)]));
    let steps = apply_lots(&mut w, &[lot("IN_PROGRESS", 2, 3, 4)]);
    assert_eq!(steps[0].status, "IN_PROGRESS");
}

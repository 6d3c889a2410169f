//! The routing state machine of SPEC §3: which START, COMPLETE and rework events a serial
//! accepts, and what each one changes.
//!
//! Routing is strictly sequential, so a serial's progress fits in a [`SerialState`]: the index of
//! the next process, whether a record for it is open, and its work order. [`apply`] is a pure
//! function; callers load the state, apply the event, and persist the [`Effect`] in the same
//! transaction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::route::{Route, RouteError, RouteStep};

/// Why an event is refused. Each variant has a stable [`code`](RoutingError::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("serial is SCRAPPED; no further processing is allowed")]
    SerialScrapped,
    #[error("serial is COMPLETED; every process has already passed")]
    SerialCompleted,
    #[error("serial is DEFECTIVE; it needs a rework decision before processing continues")]
    SerialDefective,
    #[error("process {process:?} is not part of this serial's route")]
    InvalidProcess { process: String },
    #[error("process {process} is already in progress for this serial")]
    AlreadyStarted { process: String },
    #[error("cannot start {process}: process {open_process} is still in progress")]
    OtherProcessInProgress {
        process: String,
        open_process: String,
    },
    #[error("process {process} has already passed for this serial")]
    AlreadyCompleted { process: String },
    #[error("cannot start {process}: previous process {missing} has not passed")]
    PreviousProcessIncomplete { process: String, missing: String },
    #[error("process {process} has not been started for this serial")]
    ProcessNotStarted { process: String },
    #[error("rework needs a DEFECTIVE serial, but this one is {status}")]
    NotDefective { status: SerialStatus },
    #[error("unknown serial status {value:?}")]
    InvalidStatus { value: String },
    /// The stored state cannot have come from this route (e.g. the route changed under it).
    #[error("serial state does not fit the route: {reason}")]
    InconsistentState { reason: &'static str },
}

impl RoutingError {
    /// Stable machine-readable code, used in API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SerialScrapped => "SERIAL_SCRAPPED",
            Self::SerialCompleted => "SERIAL_COMPLETED",
            Self::SerialDefective => "SERIAL_DEFECTIVE",
            Self::InvalidProcess { .. } => "INVALID_PROCESS",
            Self::AlreadyStarted { .. } => "ALREADY_STARTED",
            Self::OtherProcessInProgress { .. } => "OTHER_PROCESS_IN_PROGRESS",
            Self::AlreadyCompleted { .. } => "ALREADY_COMPLETED",
            Self::PreviousProcessIncomplete { .. } => "PREVIOUS_PROCESS_INCOMPLETE",
            Self::ProcessNotStarted { .. } => "PROCESS_NOT_STARTED",
            Self::NotDefective { .. } => "NOT_DEFECTIVE",
            Self::InvalidStatus { .. } => "INVALID_STATUS",
            Self::InconsistentState { .. } => "INCONSISTENT_STATE",
        }
    }
}

/// Lifecycle status of a serial, stored and sent as `CREATED`, `IN_PROGRESS`, ….
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SerialStatus {
    Created,
    InProgress,
    Completed,
    Defective,
    Scrapped,
}

impl SerialStatus {
    pub const ALL: [Self; 5] = [
        Self::Created,
        Self::InProgress,
        Self::Completed,
        Self::Defective,
        Self::Scrapped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Defective => "DEFECTIVE",
            Self::Scrapped => "SCRAPPED",
        }
    }
}

impl fmt::Display for SerialStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SerialStatus {
    type Err = RoutingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| RoutingError::InvalidStatus {
                value: s.to_owned(),
            })
    }
}

/// A serial's progress along its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SerialState {
    pub status: SerialStatus,
    /// 0-based index of the next process to run; `route.len()` once every process has passed.
    pub next_step: usize,
    /// An IN_PROGRESS process record exists at `next_step`.
    pub open: bool,
    /// Work order of the (next or open) record at `next_step`; starts at 1, +1 per rework.
    pub work_order: u32,
}

impl Default for SerialState {
    fn default() -> Self {
        Self::new()
    }
}

impl SerialState {
    /// A freshly created serial: nothing run yet.
    pub const fn new() -> Self {
        Self {
            status: SerialStatus::Created,
            next_step: 0,
            open: false,
            work_order: 1,
        }
    }

    /// Checks that this state can have been produced by [`apply`] on `route`, so that state
    /// rebuilt from storage is not trusted blindly.
    pub fn validate(&self, route: &Route) -> Result<(), RoutingError> {
        let inconsistent = |reason| Err(RoutingError::InconsistentState { reason });
        if self.work_order == 0 {
            return inconsistent("work order starts at 1");
        }
        if self.next_step > route.len() {
            return inconsistent("next step is past the end of the route");
        }
        if (self.status == SerialStatus::Completed) != (self.next_step == route.len()) {
            return inconsistent("a serial is COMPLETED exactly when every process has passed");
        }
        if self.open && self.status != SerialStatus::InProgress {
            return inconsistent("only an IN_PROGRESS serial can have an open process");
        }
        if self.status == SerialStatus::Created && (self.next_step != 0 || self.work_order != 1) {
            return inconsistent("a CREATED serial has no progress");
        }
        Ok(())
    }

    /// The process that runs (or would run) next, `None` once every process has passed.
    pub fn current_step<'r>(&self, route: &'r Route) -> Option<&'r RouteStep> {
        route.step(self.next_step)
    }
}

/// Final decision of a rework record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReworkOutcome {
    /// Repaired: the failed process runs again with the next work order.
    Pass,
    /// Beyond repair.
    Scrap,
}

impl ReworkOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Scrap => "SCRAP",
        }
    }
}

/// Something a station or operator reports about a serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Start { process: &'a str },
    Complete { process: &'a str, pass: bool },
    Rework(ReworkOutcome),
}

/// What an accepted event changes; callers persist exactly this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A process record opens at `step`. `first_start`: the serial was CREATED, so its LOT moves
    /// CREATED → IN_PROGRESS if this is the LOT's first started serial.
    Started {
        step: usize,
        work_order: u32,
        first_start: bool,
    },
    /// The open record at `step` passed; `serial_completed` when it was the last step, else `next`
    /// is the index of the process that runs next.
    Passed {
        step: usize,
        serial_completed: bool,
        next: Option<usize>,
    },
    /// The open record at `step` failed; the serial becomes DEFECTIVE.
    Failed { step: usize },
    /// DEFECTIVE → IN_PROGRESS: the failed `step` may be started again, as `work_order`.
    ReworkPassed { step: usize, work_order: u32 },
    /// DEFECTIVE → SCRAPPED.
    Scrapped,
}

/// The state after an accepted event, and what changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub state: SerialState,
    pub effect: Effect,
}

/// Applies one event to a serial's state, or says precisely why the event is refused.
///
/// Refuses with [`RoutingError::InconsistentState`] first if `state` cannot belong to `route`.
pub fn apply(
    route: &Route,
    state: &SerialState,
    event: Event<'_>,
) -> Result<Transition, RoutingError> {
    state.validate(route)?;
    match event {
        Event::Start { process } => start(route, state, process),
        Event::Complete { process, pass } => complete(route, state, process, pass),
        Event::Rework(outcome) => rework(state, outcome),
    }
}

/// Refuses events on serials that cannot be processed now.
fn ensure_processable(state: &SerialState) -> Result<(), RoutingError> {
    match state.status {
        SerialStatus::Scrapped => Err(RoutingError::SerialScrapped),
        SerialStatus::Completed => Err(RoutingError::SerialCompleted),
        SerialStatus::Defective => Err(RoutingError::SerialDefective),
        SerialStatus::Created | SerialStatus::InProgress => Ok(()),
    }
}

fn step_of(route: &Route, process: &str) -> Result<usize, RoutingError> {
    route
        .index_of(process)
        .ok_or_else(|| RoutingError::InvalidProcess {
            process: process.to_owned(),
        })
}

/// Code of the step at `index`; `validate` guarantees it exists wherever this is called.
fn code_at(route: &Route, index: usize) -> String {
    route
        .step(index)
        .map(|s| s.code.clone())
        .unwrap_or_default()
}

fn start(route: &Route, state: &SerialState, process: &str) -> Result<Transition, RoutingError> {
    ensure_processable(state)?;
    let step = step_of(route, process)?;
    if state.open {
        return Err(if step == state.next_step {
            RoutingError::AlreadyStarted {
                process: process.to_owned(),
            }
        } else {
            RoutingError::OtherProcessInProgress {
                process: process.to_owned(),
                open_process: code_at(route, state.next_step),
            }
        });
    }
    if step < state.next_step {
        return Err(RoutingError::AlreadyCompleted {
            process: process.to_owned(),
        });
    }
    if step > state.next_step {
        return Err(RoutingError::PreviousProcessIncomplete {
            process: process.to_owned(),
            missing: code_at(route, state.next_step),
        });
    }
    Ok(Transition {
        state: SerialState {
            status: SerialStatus::InProgress,
            open: true,
            ..*state
        },
        effect: Effect::Started {
            step,
            work_order: state.work_order,
            first_start: state.status == SerialStatus::Created,
        },
    })
}

fn complete(
    route: &Route,
    state: &SerialState,
    process: &str,
    pass: bool,
) -> Result<Transition, RoutingError> {
    ensure_processable(state)?;
    let step = step_of(route, process)?;
    // An open record is always at `next_step`, so an earlier step is simply done.
    if step < state.next_step {
        return Err(RoutingError::AlreadyCompleted {
            process: process.to_owned(),
        });
    }
    if !state.open || step != state.next_step {
        return Err(RoutingError::ProcessNotStarted {
            process: process.to_owned(),
        });
    }
    if !pass {
        return Ok(Transition {
            state: SerialState {
                status: SerialStatus::Defective,
                open: false,
                ..*state
            },
            effect: Effect::Failed { step },
        });
    }
    let next_step = step + 1;
    let serial_completed = next_step == route.len();
    Ok(Transition {
        state: SerialState {
            status: if serial_completed {
                SerialStatus::Completed
            } else {
                SerialStatus::InProgress
            },
            next_step,
            open: false,
            work_order: 1,
        },
        effect: Effect::Passed {
            step,
            serial_completed,
            next: (!serial_completed).then_some(next_step),
        },
    })
}

fn rework(state: &SerialState, outcome: ReworkOutcome) -> Result<Transition, RoutingError> {
    if state.status != SerialStatus::Defective {
        return Err(RoutingError::NotDefective {
            status: state.status,
        });
    }
    Ok(match outcome {
        ReworkOutcome::Pass => {
            let work_order = state.work_order.saturating_add(1);
            Transition {
                state: SerialState {
                    status: SerialStatus::InProgress,
                    work_order,
                    ..*state
                },
                effect: Effect::ReworkPassed {
                    step: state.next_step,
                    work_order,
                },
            }
        }
        ReworkOutcome::Scrap => Transition {
            state: SerialState {
                status: SerialStatus::Scrapped,
                ..*state
            },
            effect: Effect::Scrapped,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEVEN: [&str; 7] = ["SPRING", "LMA", "LASER", "EOL", "ROBOT", "PRINT", "PACK"];

    fn route_of(codes: &[&str]) -> Route {
        Route::new(
            (1u32..)
                .zip(codes)
                .map(|(seq, code)| RouteStep::new(*code, seq))
                .collect(),
        )
        .unwrap()
    }

    fn seven() -> Route {
        route_of(&SEVEN)
    }

    fn state(status: SerialStatus, next_step: usize, open: bool, work_order: u32) -> SerialState {
        SerialState {
            status,
            next_step,
            open,
            work_order,
        }
    }

    fn start(p: &str) -> Event<'_> {
        Event::Start { process: p }
    }

    fn pass(p: &str) -> Event<'_> {
        Event::Complete {
            process: p,
            pass: true,
        }
    }

    fn fail(p: &str) -> Event<'_> {
        Event::Complete {
            process: p,
            pass: false,
        }
    }

    fn run(route: &Route, events: &[Event<'_>]) -> SerialState {
        events.iter().fold(SerialState::new(), |s, e| {
            apply(route, &s, *e).unwrap().state
        })
    }

    use SerialStatus::{Completed, Created, Defective, InProgress, Scrapped};

    #[test]
    fn happy_path_through_seven_processes() {
        let route = seven();
        let mut s = SerialState::new();
        for (i, code) in SEVEN.iter().enumerate() {
            let t = apply(&route, &s, start(code)).unwrap();
            assert_eq!(
                t.effect,
                Effect::Started {
                    step: i,
                    work_order: 1,
                    first_start: i == 0
                }
            );
            assert_eq!(t.state, state(InProgress, i, true, 1));
            let t = apply(&route, &t.state, pass(code)).unwrap();
            let last = i == SEVEN.len() - 1;
            assert_eq!(
                t.effect,
                Effect::Passed {
                    step: i,
                    serial_completed: last,
                    next: (!last).then_some(i + 1)
                }
            );
            s = t.state;
        }
        assert_eq!(s, state(Completed, 7, false, 1));
        assert_eq!(s.current_step(&route), None);
    }

    #[test]
    fn start_refusals() {
        let r = seven();
        let cases: Vec<(SerialState, &str, RoutingError)> = vec![
            (
                state(Scrapped, 2, false, 1),
                "LASER",
                RoutingError::SerialScrapped,
            ),
            (
                state(Completed, 7, false, 1),
                "PACK",
                RoutingError::SerialCompleted,
            ),
            (
                state(Defective, 2, false, 1),
                "LASER",
                RoutingError::SerialDefective,
            ),
            // Status is checked before the process code.
            (
                state(Scrapped, 2, false, 1),
                "NOPE",
                RoutingError::SerialScrapped,
            ),
            (
                state(InProgress, 2, false, 1),
                "NOPE",
                RoutingError::InvalidProcess {
                    process: "NOPE".into(),
                },
            ),
            (
                state(InProgress, 2, true, 1),
                "LASER",
                RoutingError::AlreadyStarted {
                    process: "LASER".into(),
                },
            ),
            (
                state(InProgress, 2, true, 1),
                "EOL",
                RoutingError::OtherProcessInProgress {
                    process: "EOL".into(),
                    open_process: "LASER".into(),
                },
            ),
            // An open record wins over "already completed".
            (
                state(InProgress, 2, true, 1),
                "SPRING",
                RoutingError::OtherProcessInProgress {
                    process: "SPRING".into(),
                    open_process: "LASER".into(),
                },
            ),
            (
                state(InProgress, 2, false, 1),
                "LMA",
                RoutingError::AlreadyCompleted {
                    process: "LMA".into(),
                },
            ),
            (
                state(InProgress, 2, false, 1),
                "PACK",
                RoutingError::PreviousProcessIncomplete {
                    process: "PACK".into(),
                    missing: "LASER".into(),
                },
            ),
            (
                state(Created, 0, false, 1),
                "LMA",
                RoutingError::PreviousProcessIncomplete {
                    process: "LMA".into(),
                    missing: "SPRING".into(),
                },
            ),
        ];
        for (s, process, want) in cases {
            assert_eq!(apply(&r, &s, start(process)), Err(want), "{s:?} {process}");
        }
    }

    #[test]
    fn complete_refusals() {
        let r = seven();
        let cases: Vec<(SerialState, &str, RoutingError)> = vec![
            (
                state(Scrapped, 2, false, 1),
                "LASER",
                RoutingError::SerialScrapped,
            ),
            (
                state(Completed, 7, false, 1),
                "PACK",
                RoutingError::SerialCompleted,
            ),
            (
                state(Defective, 2, false, 1),
                "LASER",
                RoutingError::SerialDefective,
            ),
            (
                state(InProgress, 2, true, 1),
                "NOPE",
                RoutingError::InvalidProcess {
                    process: "NOPE".into(),
                },
            ),
            (
                state(InProgress, 2, true, 1),
                "LMA",
                RoutingError::AlreadyCompleted {
                    process: "LMA".into(),
                },
            ),
            (
                state(InProgress, 2, false, 1),
                "LMA",
                RoutingError::AlreadyCompleted {
                    process: "LMA".into(),
                },
            ),
            (
                state(InProgress, 2, false, 1),
                "LASER",
                RoutingError::ProcessNotStarted {
                    process: "LASER".into(),
                },
            ),
            (
                state(InProgress, 2, true, 1),
                "EOL",
                RoutingError::ProcessNotStarted {
                    process: "EOL".into(),
                },
            ),
            (
                state(Created, 0, false, 1),
                "SPRING",
                RoutingError::ProcessNotStarted {
                    process: "SPRING".into(),
                },
            ),
        ];
        for (s, process, want) in cases {
            for event in [pass(process), fail(process)] {
                assert_eq!(apply(&r, &s, event), Err(want.clone()), "{s:?} {event:?}");
            }
        }
    }

    #[test]
    fn fail_then_rework_pass_reruns_the_step_with_next_work_order() {
        let r = seven();
        let s = run(&r, &[start("SPRING"), pass("SPRING"), start("LMA")]);
        let t = apply(&r, &s, fail("LMA")).unwrap();
        assert_eq!(t.effect, Effect::Failed { step: 1 });
        assert_eq!(t.state, state(Defective, 1, false, 1));

        let t = apply(&r, &t.state, Event::Rework(ReworkOutcome::Pass)).unwrap();
        assert_eq!(
            t.effect,
            Effect::ReworkPassed {
                step: 1,
                work_order: 2
            }
        );
        assert_eq!(t.state, state(InProgress, 1, false, 2));
        // The passed step is still done; the failed one runs again as work order 2.
        assert_eq!(
            apply(&r, &t.state, start("SPRING")).unwrap_err().code(),
            "ALREADY_COMPLETED"
        );
        let t = apply(&r, &t.state, start("LMA")).unwrap();
        assert_eq!(
            t.effect,
            Effect::Started {
                step: 1,
                work_order: 2,
                first_start: false
            }
        );
        let t = apply(&r, &t.state, pass("LMA")).unwrap();
        assert_eq!(t.state, state(InProgress, 2, false, 1));
    }

    #[test]
    fn fail_on_first_step_then_rework_keeps_lot_started() {
        let r = seven();
        let s = run(
            &r,
            &[
                start("SPRING"),
                fail("SPRING"),
                Event::Rework(ReworkOutcome::Pass),
            ],
        );
        assert_eq!(s, state(InProgress, 0, false, 2));
        let t = apply(&r, &s, start("SPRING")).unwrap();
        assert_eq!(
            t.effect,
            Effect::Started {
                step: 0,
                work_order: 2,
                first_start: false
            }
        );
    }

    #[test]
    fn rework_scrap_ends_the_serial() {
        let r = seven();
        let s = run(&r, &[start("SPRING"), fail("SPRING")]);
        let t = apply(&r, &s, Event::Rework(ReworkOutcome::Scrap)).unwrap();
        assert_eq!(t.effect, Effect::Scrapped);
        assert_eq!(t.state.status, Scrapped);
        for event in [
            start("SPRING"),
            pass("SPRING"),
            Event::Rework(ReworkOutcome::Pass),
        ] {
            assert!(apply(&r, &t.state, event).is_err());
        }
    }

    #[test]
    fn rework_needs_a_defective_serial() {
        let r = seven();
        let states = [
            state(Created, 0, false, 1),
            state(InProgress, 3, true, 1),
            state(InProgress, 3, false, 1),
            state(Completed, 7, false, 1),
            state(Scrapped, 3, false, 2),
        ];
        for s in states {
            for outcome in [ReworkOutcome::Pass, ReworkOutcome::Scrap] {
                let err = apply(&r, &s, Event::Rework(outcome)).unwrap_err();
                assert_eq!(err, RoutingError::NotDefective { status: s.status });
                assert_eq!(err.code(), "NOT_DEFECTIVE");
            }
        }
    }

    #[test]
    fn single_step_route() {
        let r = route_of(&["PACK"]);
        let s = run(&r, &[start("PACK")]);
        let t = apply(&r, &s, pass("PACK")).unwrap();
        assert_eq!(
            t.effect,
            Effect::Passed {
                step: 0,
                serial_completed: true,
                next: None
            }
        );
        assert_eq!(t.state, state(Completed, 1, false, 1));
    }

    #[test]
    fn inconsistent_states_are_refused() {
        let r = seven();
        let bad = [
            state(InProgress, 2, false, 0),
            state(InProgress, 8, false, 1),
            state(InProgress, 7, false, 1),
            state(Completed, 6, false, 1),
            state(Defective, 2, true, 1),
            state(Created, 0, true, 1),
            state(Created, 1, false, 1),
            state(Created, 0, false, 2),
        ];
        for s in bad {
            assert!(s.validate(&r).is_err(), "{s:?}");
            for event in [
                start("SPRING"),
                pass("LASER"),
                Event::Rework(ReworkOutcome::Pass),
            ] {
                let err = apply(&r, &s, event).unwrap_err();
                assert_eq!(err.code(), "INCONSISTENT_STATE", "{s:?}");
            }
        }
        assert_eq!(SerialState::new().validate(&r), Ok(()));
    }

    #[test]
    fn every_error_has_a_distinct_code_and_message() {
        let errors = [
            RoutingError::SerialScrapped,
            RoutingError::SerialCompleted,
            RoutingError::SerialDefective,
            RoutingError::InvalidProcess {
                process: "X".into(),
            },
            RoutingError::AlreadyStarted {
                process: "X".into(),
            },
            RoutingError::OtherProcessInProgress {
                process: "X".into(),
                open_process: "Y".into(),
            },
            RoutingError::AlreadyCompleted {
                process: "X".into(),
            },
            RoutingError::PreviousProcessIncomplete {
                process: "X".into(),
                missing: "Y".into(),
            },
            RoutingError::ProcessNotStarted {
                process: "X".into(),
            },
            RoutingError::NotDefective { status: Completed },
            RoutingError::InvalidStatus { value: "X".into() },
            RoutingError::InconsistentState { reason: "x" },
        ];
        let codes: std::collections::HashSet<_> = errors.iter().map(RoutingError::code).collect();
        assert_eq!(codes.len(), errors.len());
        assert_eq!(
            errors[7].to_string(),
            "cannot start X: previous process Y has not passed"
        );
        assert_eq!(
            errors[5].to_string(),
            "cannot start X: process Y is still in progress"
        );
        assert_eq!(
            errors[9].to_string(),
            "rework needs a DEFECTIVE serial, but this one is COMPLETED"
        );
    }

    #[test]
    fn status_strings() {
        let names = [
            "CREATED",
            "IN_PROGRESS",
            "COMPLETED",
            "DEFECTIVE",
            "SCRAPPED",
        ];
        for (status, name) in SerialStatus::ALL.into_iter().zip(names) {
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
            assert_eq!(name.parse::<SerialStatus>().unwrap(), status);
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{name}\"")
            );
        }
        let err = "in_progress".parse::<SerialStatus>().unwrap_err();
        assert_eq!(err.code(), "INVALID_STATUS");
        assert_eq!(
            serde_json::to_string(&ReworkOutcome::Scrap).unwrap(),
            "\"SCRAP\""
        );
        assert_eq!(ReworkOutcome::Pass.as_str(), "PASS");
    }

    /// A random event, resolved against the current state so that progress is likely.
    #[derive(Debug, Clone)]
    enum Step {
        StartNext,
        CompleteNext(bool),
        Start(usize),
        Complete(usize, bool),
        Unknown,
        Rework(ReworkOutcome),
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => Just(Step::StartNext),
            4 => any::<bool>().prop_map(Step::CompleteNext),
            2 => (0usize..10).prop_map(Step::Start),
            2 => (0usize..10, any::<bool>()).prop_map(|(i, p)| Step::Complete(i, p)),
            1 => Just(Step::Unknown),
            1 => Just(Step::Rework(ReworkOutcome::Pass)),
            1 => Just(Step::Rework(ReworkOutcome::Scrap)),
        ]
    }

    fn arb_route() -> impl Strategy<Value = Route> {
        (1usize..=8).prop_flat_map(|n| {
            Just((1..=n).map(|i| format!("P{i}")).collect::<Vec<_>>())
                .prop_shuffle()
                .prop_map(|codes| {
                    Route::new(
                        (1u32..)
                            .zip(codes)
                            .map(|(seq, code)| RouteStep::new(code, seq))
                            .collect(),
                    )
                    .unwrap()
                })
        })
    }

    proptest! {
        #[test]
        fn random_event_sequences_keep_invariants(
            route in arb_route(),
            steps in prop::collection::vec(arb_step(), 0..80),
        ) {
            let len = route.len();
            let code = |i: usize| route.step(i).map_or("P99", |s| s.code.as_str()).to_owned();
            let mut s = SerialState::new();
            let mut passed: Vec<usize> = Vec::new();
            for step in steps {
                let (name, pass) = match step {
                    Step::StartNext => (Some(code(s.next_step)), None),
                    Step::CompleteNext(p) => (Some(code(s.next_step)), Some(p)),
                    Step::Start(i) => (Some(code(i)), None),
                    Step::Complete(i, p) => (Some(code(i)), Some(p)),
                    Step::Unknown => (Some("NOPE".to_owned()), None),
                    Step::Rework(_) => (None, None),
                };
                let event = match (&step, &name, pass) {
                    (Step::Rework(o), _, _) => Event::Rework(*o),
                    (_, Some(n), Some(p)) => Event::Complete { process: n, pass: p },
                    (_, Some(n), None) => Event::Start { process: n },
                    (_, None, _) => unreachable!(),
                };
                let before = s;
                match apply(&route, &s, event) {
                    Ok(t) => {
                        if let Effect::Passed { step, .. } = t.effect {
                            passed.push(step);
                        }
                        // Only passing moves the serial forward, by exactly one step.
                        let advanced = matches!(t.effect, Effect::Passed { .. });
                        prop_assert_eq!(
                            t.state.next_step,
                            before.next_step + usize::from(advanced)
                        );
                        s = t.state;
                    }
                    Err(e) => {
                        prop_assert_ne!(e.code(), "INCONSISTENT_STATE");
                    }
                }
                prop_assert!(s.validate(&route).is_ok());
                prop_assert!(s.next_step <= len);
                prop_assert!(s.work_order >= 1);
                prop_assert_eq!(s.status == SerialStatus::Completed, s.next_step == len);
                prop_assert_eq!(&passed, &(0..s.next_step).collect::<Vec<_>>());
                if s.status == SerialStatus::Completed {
                    prop_assert_eq!(&passed, &(0..len).collect::<Vec<_>>());
                }
            }
        }

        /// `apply` never panics, whatever state it is handed.
        #[test]
        fn arbitrary_states_never_panic(
            route in arb_route(),
            status in prop::sample::select(SerialStatus::ALL.to_vec()),
            next_step in 0usize..12,
            open in any::<bool>(),
            work_order in any::<u32>(),
            which in 0usize..12,
            pass in any::<bool>(),
        ) {
            let s = state(status, next_step, open, work_order);
            let name = route.step(which).map_or("NOPE", |st| st.code.as_str());
            for event in [
                Event::Start { process: name },
                Event::Complete { process: name, pass },
                Event::Rework(ReworkOutcome::Pass),
                Event::Rework(ReworkOutcome::Scrap),
            ] {
                if let Ok(t) = apply(&route, &s, event) {
                    prop_assert!(t.state.validate(&route).is_ok());
                }
            }
        }
    }
}

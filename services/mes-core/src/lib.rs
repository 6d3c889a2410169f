//! The pure domain core of the MES (SPEC §3): LOT and serial numbering, the production date and
//! shift of an instant, and the routing state machine that decides which station events a serial
//! accepts.
//!
//! No IO, no clock reads, no async: callers pass times and stored state in and persist what comes
//! back, so every rule lives here once and is tested without a database.

pub mod numbering;
pub mod route;
pub mod routing;
pub mod shift;

pub use numbering::{
    LotNumber, LotPrefix, MAX_LOT_SEQ, MAX_SERIAL_SEQ, NumberError, PlantCode, SerialNumber, Shift,
};
pub use route::{Route, RouteError, RouteStep};
pub use routing::{
    Effect, Event, ReworkOutcome, RoutingError, SerialState, SerialStatus, Transition, apply,
};
pub use shift::{ProductionSlot, ShiftError, ShiftSchedule};

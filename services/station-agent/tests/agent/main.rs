//! Station agent against a real mes-api and a real PostgreSQL database (one fresh database per
//! test, `#[sqlx::test]` from `DATABASE_URL`), with real temp folders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod crash;
mod delivery;
mod faults;
mod offline;
mod rejects;
mod resume;

//! mes-api service tests: the real router over real HTTP against a real PostgreSQL database,
//! one fresh database per test (`#[sqlx::test]`, from `DATABASE_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod auth;
mod bad_input;
mod batching;
mod crash;
mod fuzz;
mod lines;
mod lots;
mod numbering;
mod ops;
mod production;
mod rbac;
mod realtime;

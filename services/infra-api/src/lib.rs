//! The /api/infra service: pods, events, logs, restarts and Hubble flows
//!
//! Not built yet: this crate only reserves its place in the workspace (SPEC §2).

//! Serves the dashboard's web UI and proxies the APIs
//!
//! Not built yet: this crate only reserves its place in the workspace (SPEC §2).

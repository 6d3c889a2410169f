//! Station PC daemon delivering JSON file drops to mes-api
//!
//! Not built yet: this crate only reserves its place in the workspace (SPEC §2).

//! Kubernetes operator reconciling MesPlant and ProductionLine resources
//!
//! Not built yet: this crate only reserves its place in the workspace (SPEC §2).

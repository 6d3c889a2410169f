//! mes-operator: reconciles `MesPlant` into a running plant (database, mes-api, dashboard,
//! infra-api, backups) and syncs each `ProductionLine` into its plant's mes-api. See
//! `docs/operator.md`.

pub mod builders;
pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod events;
pub mod leader;
pub mod line;
pub mod mes_api;
pub mod metrics;
pub mod reconcile;
pub mod telemetry;

//! mes-operator: reconciles `MesPlant` into a running plant (database, mes-api, dashboard,
//! infra-api, backups) and defines the `ProductionLine` resource. See `docs/operator.md`.

pub mod builders;
pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod line;
pub mod metrics;
pub mod reconcile;
pub mod telemetry;

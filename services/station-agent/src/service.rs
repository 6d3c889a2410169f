//! Windows service wrapper (windows-service crate). The service control manager starts
//! `station-agent.exe --config C:\F2X\station-agent.toml service-run`; Stop and Shutdown end the
//! agent between two files, as SIGTERM does on Linux.
//!
//! Compiled only for Windows; not built in CI here (the x86_64-pc-windows-gnu target cannot be
//! installed on these machines).

use std::ffi::OsString;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

use crate::agent::Mode;
use crate::config::Config;

pub const SERVICE_NAME: &str = "StationAgent";

/// The configuration read by `main` before handing the process to the dispatcher.
static CONFIG: OnceLock<Config> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

/// Blocks until the service is stopped.
pub fn run(config: Config) -> anyhow::Result<()> {
    let _ = CONFIG.set(config);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main)?;
    Ok(())
}

fn service_main(_arguments: Vec<OsString>) {
    if let Err(e) = run_service() {
        tracing::error!(error = %e, "station agent service failed");
    }
}

fn status(state: ServiceState, accept: ServiceControlAccept, exit: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(exit),
        checkpoint: 0,
        wait_hint: Duration::from_secs(30),
        process_id: None,
    }
}

fn run_service() -> anyhow::Result<()> {
    let config = CONFIG
        .get()
        .ok_or_else(|| anyhow::anyhow!("service started without a configuration"))?;
    let _guard = crate::logging::init_service(config);
    let stop = Arc::new(Notify::new());
    let on_stop = stop.clone();
    let handle = service_control_handler::register(SERVICE_NAME, move |event| match event {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            // notify_one keeps a permit, so a stop that comes before the agent waits is kept.
            on_stop.notify_one();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })?;
    handle.set_service_status(status(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        0,
    ))?;
    let result = crate::run_agent(config, Mode::Continuous, async move {
        stop.notified().await;
    });
    let exit = if result.is_ok() { 0 } else { 1 };
    handle.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        exit,
    ))?;
    result.map(|_| ())
}

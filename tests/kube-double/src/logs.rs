//! Container logs for `pods/log`: lines per (namespace, pod, container), a "previous" instance,
//! and a version counter that wakes `follow=true` readers when lines arrive.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Debug, Clone, Default)]
pub struct ContainerLog {
    /// (RFC 3339 timestamp with nanoseconds, line without newline)
    pub current: Vec<(String, String)>,
    pub previous: Option<Vec<(String, String)>>,
    /// Set when the container has terminated: followers stop after the last line.
    pub finished: bool,
}

pub type LogKey = (String, String, String);

#[derive(Debug)]
pub struct Logs {
    pub logs: Mutex<HashMap<LogKey, ContainerLog>>,
    pub version: watch::Sender<u64>,
}

impl Default for Logs {
    fn default() -> Self {
        Self {
            logs: Mutex::new(HashMap::new()),
            version: watch::channel(0).0,
        }
    }
}

impl Logs {
    pub fn with<R>(&self, f: impl FnOnce(&mut HashMap<LogKey, ContainerLog>) -> R) -> R {
        let r = f(&mut self.logs.lock().unwrap_or_else(|e| e.into_inner()));
        self.version.send_modify(|v| *v += 1);
        r
    }

    pub fn snapshot(&self, key: &LogKey) -> Option<ContainerLog> {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }
}

pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

//! The agent's configuration: a TOML file, overridden by `STATION_AGENT_*` environment
//! variables (nested keys joined with `__`, e.g. `STATION_AGENT_API__URL`). Read once at start.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::event::Kind;

pub const ENV_PREFIX: &str = "STATION_AGENT_";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This station's name, e.g. `STATION-02`; part of every Idempotency-Key and the default
    /// `workstation` of START events.
    pub station_id: String,
    /// The process this station runs; files for another process are rejected.
    pub process_code: String,
    /// The station folder, e.g. `C:\F2X`.
    pub base_dir: PathBuf,
    /// Also deliver `input/start/` files (seed 001: optional; START normally comes from the
    /// barcode UI).
    pub watch_start: bool,
    pub equipment_id: Option<String>,
    pub api: Api,
    pub timing: Timing,
    pub queue: QueueConfig,
    pub housekeeping: Housekeeping,
    pub log: Log,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Api {
    /// mes-api base URL, e.g. `https://mes.plant.local`.
    pub url: String,
    /// The station's API token (`mest_…`); `token_file` wins when both are set.
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) for a plant-internal TLS certificate.
    pub ca_file: Option<PathBuf>,
    pub timeout_ms: u64,
    /// Requests in flight at once. Events of one unit (serial) are never in flight together, so
    /// each unit's events stay in order; 1 keeps the whole station's order.
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timing {
    /// A file counts as completely written once unchanged this long.
    pub settle_ms: u64,
    /// Periodic rescan of `input/` (notifications can be lost).
    pub rescan_ms: u64,
    /// Offline queue drain interval.
    pub drain_interval_ms: u64,
    /// Waits between retries of a 5xx answer before the event goes to the queue.
    pub retry_delays_ms: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// A queued event that keeps getting server errors (5xx) is dead-lettered after this many
    /// attempts. Network failures never dead-letter: an outage must not lose events.
    pub max_attempts: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Housekeeping {
    pub processed_retention_days: u32,
    pub interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// Default `{base_dir}/logs`.
    pub dir: Option<PathBuf>,
    /// tracing filter, e.g. `info` or `station_agent=debug`; `RUST_LOG` wins.
    pub level: String,
    /// Daily files kept.
    pub keep_files: usize,
}

impl Default for Api {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: None,
            token_file: None,
            ca_file: None,
            timeout_ms: 30_000,
            max_in_flight: 8,
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            settle_ms: 1_000,
            rescan_ms: 5_000,
            drain_interval_ms: 10_000,
            retry_delays_ms: vec![1_000, 2_000, 4_000],
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { max_attempts: 100 }
    }
}

impl Default for Housekeeping {
    fn default() -> Self {
        Self {
            processed_retention_days: 30,
            interval_secs: 3_600,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            dir: None,
            level: "info".into(),
            keep_files: 14,
        }
    }
}

/// Defaults of everything that has one; station_id, process_code, base_dir and api.url don't.
#[derive(Debug, Serialize)]
struct Defaults {
    watch_start: bool,
    api: Api,
    timing: Timing,
    queue: QueueConfig,
    housekeeping: Housekeeping,
    log: Log,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("reading api.token_file {path}: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
}

impl Config {
    /// Reads `file` (may be absent when the environment gives everything) and the environment.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        Self::from_figment(
            Figment::from(Serialized::defaults(Self::defaults()))
                .merge(Toml::file(file))
                .merge(Env::prefixed(ENV_PREFIX).split("__")),
        )
        .map_err(|e| match e {
            // Say where we looked: a mistyped --config path otherwise reads as a missing key.
            ConfigError::Parse(e) => {
                let found = if file.exists() {
                    ""
                } else {
                    " (file not found)"
                };
                ConfigError::Invalid(format!(
                    "{e}; read from {}{found} and {ENV_PREFIX}* variables",
                    file.display()
                ))
            }
            other => other,
        })
    }

    /// Like [`Config::load`] with the environment given as pairs (tests).
    pub fn from_toml_and_env(toml: &str, env: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut fig =
            Figment::from(Serialized::defaults(Self::defaults())).merge(Toml::string(toml));
        for (k, v) in env {
            let Some(key) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path = key.to_ascii_lowercase().replace("__", ".");
            // The same lenient parser the Env provider uses ("50" → 50, "true" → true).
            let value = figment::value::Value::from_str(v).unwrap_or_else(|e| match e {});
            fig = fig.merge(Serialized::default(&path, value));
        }
        Self::from_figment(fig)
    }

    fn defaults() -> Defaults {
        Defaults {
            watch_start: false,
            api: Api::default(),
            timing: Timing::default(),
            queue: QueueConfig::default(),
            housekeeping: Housekeeping::default(),
            log: Log::default(),
        }
    }

    fn from_figment(fig: Figment) -> Result<Self, ConfigError> {
        let config: Config = fig.extract().map_err(Box::new)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.station_id.trim().is_empty() {
            return invalid("station_id must not be empty");
        }
        if self.process_code.trim().is_empty() {
            return invalid("process_code must not be empty");
        }
        if !(self.api.url.starts_with("http://") || self.api.url.starts_with("https://")) {
            return invalid("api.url must be an http:// or https:// URL");
        }
        if self.api.token.is_none() && self.api.token_file.is_none() {
            return invalid("api.token or api.token_file is required");
        }
        if self.timing.drain_interval_ms == 0 || self.timing.rescan_ms == 0 {
            return invalid("timing.drain_interval_ms and timing.rescan_ms must be positive");
        }
        if self.api.max_in_flight == 0 {
            return invalid("api.max_in_flight must be at least 1");
        }
        if self.queue.max_attempts < 1 {
            return invalid("queue.max_attempts must be at least 1");
        }
        Ok(())
    }

    /// The token, read from `token_file` when set (so it can live outside the config file).
    pub fn token(&self) -> Result<String, ConfigError> {
        if let Some(path) = &self.api.token_file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::TokenFile {
                path: path.display().to_string(),
                source,
            })?;
            return Ok(text.trim().to_owned());
        }
        Ok(self.api.token.clone().unwrap_or_default())
    }

    pub fn kinds(&self) -> Vec<Kind> {
        if self.watch_start {
            vec![Kind::Start, Kind::Complete]
        } else {
            vec![Kind::Complete]
        }
    }

    pub fn log_dir(&self) -> PathBuf {
        self.log
            .dir
            .clone()
            .unwrap_or_else(|| self.base_dir.join("logs"))
    }

    pub fn settle(&self) -> Duration {
        Duration::from_millis(self.timing.settle_ms)
    }

    pub fn rescan(&self) -> Duration {
        Duration::from_millis(self.timing.rescan_ms)
    }

    pub fn drain_interval(&self) -> Duration {
        Duration::from_millis(self.timing.drain_interval_ms)
    }

    pub fn retry_delays(&self) -> Vec<Duration> {
        self.timing
            .retry_delays_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect()
    }

    pub fn api_timeout(&self) -> Duration {
        Duration::from_millis(self.api.timeout_ms.max(1))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
station_id = "STATION-02"
process_code = "LMA"
base_dir = "/srv/f2x"
[api]
url = "http://mes:8080"
token = "mest_x"
"#;

    #[test]
    fn defaults_follow_the_issue() {
        let c = Config::from_toml_and_env(MINIMAL, &[]).unwrap();
        assert_eq!(c.timing.retry_delays_ms, vec![1000, 2000, 4000]);
        assert_eq!(c.timing.drain_interval_ms, 10_000);
        assert_eq!(c.housekeeping.processed_retention_days, 30);
        assert_eq!(c.kinds(), vec![Kind::Complete]);
        assert_eq!(c.log_dir(), PathBuf::from("/srv/f2x/logs"));
        assert_eq!(c.token().unwrap(), "mest_x");
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = Config::from_toml_and_env(
            MINIMAL,
            &[
                ("STATION_AGENT_API__URL", "https://other"),
                ("STATION_AGENT_TIMING__DRAIN_INTERVAL_MS", "50"),
                ("STATION_AGENT_WATCH_START", "true"),
                ("STATION_AGENT_PROCESS_CODE", "EOL"),
                ("UNRELATED", "x"),
            ],
        )
        .unwrap();
        assert_eq!(c.api.url, "https://other");
        assert_eq!(c.timing.drain_interval_ms, 50);
        assert_eq!(c.process_code, "EOL");
        assert_eq!(c.kinds(), vec![Kind::Start, Kind::Complete]);
    }

    #[test]
    fn rejects_what_cannot_work() {
        let no_token = MINIMAL.replace("token = \"mest_x\"", "");
        assert!(Config::from_toml_and_env(&no_token, &[]).is_err());
        let typo = format!("{MINIMAL}\n[timing]\nsettle = 3\n");
        assert!(Config::from_toml_and_env(&typo, &[]).is_err());
        assert!(
            Config::from_toml_and_env(MINIMAL, &[("STATION_AGENT_API__URL", "ftp://x")]).is_err()
        );
        assert!(Config::from_toml_and_env("station_id = \"x\"", &[]).is_err());
    }
}

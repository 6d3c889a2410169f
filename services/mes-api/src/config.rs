//! Configuration, read once at start from the environment (SPEC §4, 12-factor).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mes_core::{LotPrefix, PlantCode, ShiftSchedule};

use crate::client_ip::TrustedProxies;

/// Everything mes-api needs to run; built from env by [`Config::from_env`].
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub listen_addr: SocketAddr,
    pub jwt_secret: Vec<u8>,
    pub token_ttl: Duration,
    pub plant_code: PlantCode,
    pub lot_prefix: LotPrefix,
    pub shifts: ShiftSchedule,
    pub bootstrap_admin: Option<(String, String)>,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub db_max_connections: u32,
    /// Login attempts allowed per (username, address) per minute.
    pub login_attempts_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`MES_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// Who writes the audit rows of station events (`MES_EVENT_AUDIT`).
    pub event_audit: EventAudit,
}

/// How the event writer audits its changes. `inline` (default): the batch statements write the
/// audit and status-history rows themselves, each with its command's actor and request.
/// `triggers`: one event per transaction, audited by the table triggers as every other write is
/// — the reference the inline rows are tested against, and a fallback should they ever disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAudit {
    Inline,
    Triggers,
}

impl std::fmt::Debug for Config {
    // Hand-written so that secrets never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen_addr", &self.listen_addr)
            .field("token_ttl", &self.token_ttl)
            .field("plant_code", &self.plant_code)
            .field("lot_prefix", &self.lot_prefix)
            .field("shifts", &self.shifts)
            .field(
                "bootstrap_admin",
                &self.bootstrap_admin.as_ref().map(|(u, _)| u),
            )
            .field("log_format", &self.log_format)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("db_max_connections", &self.db_max_connections)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("event_audit", &self.event_audit)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("cannot read {name} from {path}: {source}")]
    File {
        name: &'static str,
        path: String,
        source: std::io::Error,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `get`, so tests can pass a map instead of the process env.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let invalid = |name: &'static str, reason: String| ConfigError::Invalid { name, reason };

        let database_url = var("DATABASE_URL").ok_or(ConfigError::Missing("DATABASE_URL"))?;
        let listen_addr = var("MES_LISTEN_ADDR")
            .unwrap_or_else(|| "0.0.0.0:8080".into())
            .parse()
            .map_err(|e| invalid("MES_LISTEN_ADDR", format!("{e}")))?;

        // The file wins over the inline value so that a mounted Secret can override a default.
        let jwt_secret = match (var("MES_JWT_SECRET_FILE"), var("MES_JWT_SECRET")) {
            (Some(path), _) => read_secret_file("MES_JWT_SECRET_FILE", &path)?,
            (None, Some(value)) => value,
            (None, None) => {
                return Err(ConfigError::Missing(
                    "MES_JWT_SECRET_FILE or MES_JWT_SECRET",
                ));
            }
        };
        if jwt_secret.len() < 32 {
            return Err(invalid(
                "MES_JWT_SECRET",
                "must be at least 32 bytes for HS256".into(),
            ));
        }

        let token_ttl = parse_number(&var, "MES_TOKEN_TTL_SECONDS", 3600u64)?;
        if !(60..=86_400).contains(&token_ttl) {
            return Err(invalid(
                "MES_TOKEN_TTL_SECONDS",
                "must be 60..=86400".into(),
            ));
        }

        let plant_code = var("MES_PLANT_CODE")
            .ok_or(ConfigError::Missing("MES_PLANT_CODE"))?
            .parse()
            .map_err(|e| invalid("MES_PLANT_CODE", format!("{e}")))?;
        let lot_prefix = var("MES_LOT_PREFIX")
            .unwrap_or_else(|| "FN".into())
            .parse()
            .map_err(|e| invalid("MES_LOT_PREFIX", format!("{e}")))?;
        let shifts = ShiftSchedule::parse(
            &var("MES_TIMEZONE").unwrap_or_else(|| "UTC".into()),
            &var("MES_DAY_SHIFT_START").unwrap_or_else(|| "08:00".into()),
            &var("MES_NIGHT_SHIFT_START").unwrap_or_else(|| "20:00".into()),
        )
        .map_err(|e| invalid("MES_TIMEZONE/MES_*_SHIFT_START", format!("{e}")))?;

        let bootstrap_admin = match var("MES_BOOTSTRAP_ADMIN_USER") {
            None => None,
            Some(user) => {
                let password = match (
                    var("MES_BOOTSTRAP_ADMIN_PASSWORD_FILE"),
                    var("MES_BOOTSTRAP_ADMIN_PASSWORD"),
                ) {
                    (Some(path), _) => {
                        read_secret_file("MES_BOOTSTRAP_ADMIN_PASSWORD_FILE", &path)?
                    }
                    (None, Some(value)) => value,
                    (None, None) => {
                        return Err(ConfigError::Missing(
                            "MES_BOOTSTRAP_ADMIN_PASSWORD(_FILE) when MES_BOOTSTRAP_ADMIN_USER is set",
                        ));
                    }
                };
                Some((user, password))
            }
        };

        let log_format = match var("MES_LOG_FORMAT").as_deref().unwrap_or("json") {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            other => {
                return Err(invalid(
                    "MES_LOG_FORMAT",
                    format!("`{other}` is not json|text"),
                ));
            }
        };

        Ok(Self {
            database_url,
            listen_addr,
            jwt_secret: jwt_secret.into_bytes(),
            token_ttl: Duration::from_secs(token_ttl),
            plant_code,
            lot_prefix,
            shifts,
            bootstrap_admin,
            log_format,
            max_body_bytes: parse_number(&var, "MES_MAX_BODY_BYTES", 1024 * 1024)?,
            db_max_connections: parse_number(&var, "MES_DB_MAX_CONNECTIONS", 16)?,
            login_attempts_per_minute: parse_number(&var, "MES_LOGIN_ATTEMPTS_PER_MINUTE", 10)?,
            trusted_proxies: TrustedProxies::parse(
                var("MES_TRUSTED_PROXIES").as_deref().unwrap_or(""),
            )
            .map_err(|reason| invalid("MES_TRUSTED_PROXIES", reason))?,
            event_audit: match var("MES_EVENT_AUDIT").as_deref() {
                None | Some("inline") => EventAudit::Inline,
                Some("triggers") => EventAudit::Triggers,
                Some(other) => {
                    return Err(invalid(
                        "MES_EVENT_AUDIT",
                        format!("`{other}` is not inline|triggers"),
                    ));
                }
            },
        })
    }
}

fn parse_number<T: std::str::FromStr>(
    var: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        }),
    }
}

fn read_secret_file(name: &'static str, path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(Path::new(path))
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
        .map_err(|source| ConfigError::File {
            name,
            path: path.into(),
            source,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_follow_the_spec_table() {
        let c = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://x"),
            ("MES_JWT_SECRET", SECRET),
            ("MES_PLANT_CODE", "KR"),
        ]))
        .unwrap();
        assert_eq!(c.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(c.token_ttl, Duration::from_secs(3600));
        assert_eq!(c.lot_prefix.as_str(), "FN");
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.bootstrap_admin.is_none());
    }

    #[test]
    fn secret_file_wins_over_inline_value() {
        let dir = std::env::temp_dir().join(format!("mes-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwt");
        std::fs::write(&file, "ffffffffffffffffffffffffffffffffffff\n").unwrap();
        let c = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://x"),
            ("MES_JWT_SECRET", SECRET),
            ("MES_JWT_SECRET_FILE", file.to_str().unwrap()),
            ("MES_PLANT_CODE", "KR"),
        ]))
        .unwrap();
        assert_eq!(c.jwt_secret, b"ffffffffffffffffffffffffffffffffffff");
    }

    #[test]
    fn missing_and_invalid_values_are_named() {
        let err = Config::from_lookup(lookup(&[("MES_JWT_SECRET", SECRET)])).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"));
        let err = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://x"),
            ("MES_JWT_SECRET", "short"),
            ("MES_PLANT_CODE", "KR"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("MES_JWT_SECRET"));
        let err = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://x"),
            ("MES_JWT_SECRET", SECRET),
            ("MES_PLANT_CODE", "korea"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("MES_PLANT_CODE"));
        let err = Config::from_lookup(lookup(&[
            ("DATABASE_URL", "postgres://x"),
            ("MES_JWT_SECRET", SECRET),
            ("MES_PLANT_CODE", "KR"),
            ("MES_BOOTSTRAP_ADMIN_USER", "admin"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("MES_BOOTSTRAP_ADMIN_PASSWORD"));
    }
}

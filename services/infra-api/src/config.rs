//! Configuration from the environment (SPEC §4; 12-factor, no files besides mounted secrets).

use std::net::SocketAddr;

pub use mes_api::config::LogFormat;

pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:8081";
pub const DEFAULT_HUBBLE_RELAY_ADDR: &str = "hubble-relay.kube-system.svc:80";
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

#[derive(Clone)]
pub struct Config {
    pub listen_addr: SocketAddr,
    /// The plant namespace every cache and request is scoped to.
    pub namespace: String,
    /// Hubble Relay (reserved: network flows are not served yet).
    pub hubble_relay_addr: String,
    pub jwt_secret: Vec<u8>,
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen_addr", &self.listen_addr)
            .field("namespace", &self.namespace)
            .field("hubble_relay_addr", &self.hubble_relay_addr)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
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
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(
            |k| std::env::var(k).ok(),
            || std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok(),
        )
    }

    /// `var` reads a variable; `own_namespace` reads the pod's namespace when in a cluster.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        own_namespace: impl Fn() -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let listen = var("INFRA_LISTEN_ADDR").unwrap_or_else(|| DEFAULT_LISTEN_ADDR.into());
        let listen_addr = listen.parse().map_err(|e| ConfigError::Invalid {
            name: "INFRA_LISTEN_ADDR",
            reason: format!("{e}"),
        })?;
        let namespace = var("INFRA_NAMESPACE")
            .or_else(|| {
                own_namespace()
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
            })
            .unwrap_or_else(|| "default".into());
        let hubble_relay_addr =
            var("HUBBLE_RELAY_ADDR").unwrap_or_else(|| DEFAULT_HUBBLE_RELAY_ADDR.into());
        let jwt_secret = match (var("MES_JWT_SECRET_FILE"), var("MES_JWT_SECRET")) {
            (Some(path), _) => std::fs::read_to_string(&path)
                .map_err(|source| ConfigError::File {
                    name: "MES_JWT_SECRET_FILE",
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_owned(),
            (None, Some(secret)) => secret,
            (None, None) => {
                return Err(ConfigError::Missing(
                    "MES_JWT_SECRET_FILE or MES_JWT_SECRET",
                ));
            }
        };
        if jwt_secret.len() < 32 {
            return Err(ConfigError::Invalid {
                name: "MES_JWT_SECRET",
                reason: "must be at least 32 bytes".into(),
            });
        }
        let log_format = match var("MES_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "MES_LOG_FORMAT",
                    reason: format!("`{other}` is neither `json` nor `text`"),
                });
            }
        };
        Ok(Self {
            listen_addr,
            namespace,
            hubble_relay_addr,
            jwt_secret: jwt_secret.into_bytes(),
            log_format,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_follow_spec_section_4() {
        let c = Config::from_lookup(lookup(&[("MES_JWT_SECRET", SECRET)]), || None).unwrap();
        assert_eq!(c.listen_addr.to_string(), "0.0.0.0:8081");
        assert_eq!(c.namespace, "default");
        assert_eq!(c.hubble_relay_addr, "hubble-relay.kube-system.svc:80");
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn own_namespace_is_used_unless_overridden() {
        let own = || Some("plant-a\n".to_string());
        let c = Config::from_lookup(lookup(&[("MES_JWT_SECRET", SECRET)]), own).unwrap();
        assert_eq!(c.namespace, "plant-a");
        let vars = [("MES_JWT_SECRET", SECRET), ("INFRA_NAMESPACE", "plant-b")];
        let c = Config::from_lookup(lookup(&vars), own).unwrap();
        assert_eq!(c.namespace, "plant-b");
    }

    #[test]
    fn missing_or_short_secret_and_bad_values_are_refused() {
        assert!(Config::from_lookup(lookup(&[]), || None).is_err());
        assert!(Config::from_lookup(lookup(&[("MES_JWT_SECRET", "short")]), || None).is_err());
        let vars = [("MES_JWT_SECRET", SECRET), ("INFRA_LISTEN_ADDR", "nope")];
        assert!(Config::from_lookup(lookup(&vars), || None).is_err());
        let vars = [("MES_JWT_SECRET", SECRET), ("MES_LOG_FORMAT", "xml")];
        assert!(Config::from_lookup(lookup(&vars), || None).is_err());
    }
}

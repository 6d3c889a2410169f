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
    /// Hubble Relay, `host:port`; `None` when switched off (`HUBBLE_RELAY_ADDR=off`).
    pub hubble_relay_addr: Option<String>,
    /// TLS towards the relay (`HUBBLE_TLS=true`); plain HTTP/2 otherwise.
    pub hubble_tls: Option<HubbleTls>,
    pub jwt_secret: Vec<u8>,
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen_addr", &self.listen_addr)
            .field("namespace", &self.namespace)
            .field("hubble_relay_addr", &self.hubble_relay_addr)
            .field("hubble_tls", &self.hubble_tls.is_some())
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}

/// TLS settings for Hubble Relay, PEM contents read once at start.
#[derive(Clone, Default)]
pub struct HubbleTls {
    /// CA bundle that signed the relay's certificate (`HUBBLE_TLS_CA_FILE`); without it the
    /// system roots are used.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key for mutual TLS (`HUBBLE_TLS_CLIENT_CERT_FILE`,
    /// `HUBBLE_TLS_CLIENT_KEY_FILE`), as Cilium's relay asks for when its mTLS is on.
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    /// Name checked against the relay's certificate (`HUBBLE_TLS_SERVER_NAME`); default: the
    /// host of `HUBBLE_RELAY_ADDR`.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for HubbleTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubbleTls")
            .field("ca", &self.ca_pem.is_some())
            .field("client_identity", &self.client_cert_pem.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// Values of `HUBBLE_RELAY_ADDR` that switch the Hubble client off.
const HUBBLE_OFF: [&str; 4] = ["off", "none", "disabled", "false"];

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
        let hubble_relay_addr = match var("HUBBLE_RELAY_ADDR") {
            None => Some(DEFAULT_HUBBLE_RELAY_ADDR.to_owned()),
            Some(v) if HUBBLE_OFF.contains(&v.to_ascii_lowercase().as_str()) => None,
            Some(v) => Some(relay_addr(&v)?),
        };
        let hubble_tls = hubble_tls(&var)?;
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
            hubble_tls,
            jwt_secret: jwt_secret.into_bytes(),
            log_format,
        })
    }
}

/// `host:port` (an `http://` or `https://` prefix is tolerated and dropped: TLS is its own flag).
fn relay_addr(value: &str) -> Result<String, ConfigError> {
    let bare = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .unwrap_or(value)
        .trim_end_matches('/');
    let invalid = |reason: &str| ConfigError::Invalid {
        name: "HUBBLE_RELAY_ADDR",
        reason: format!("`{value}`: {reason}"),
    };
    let (host, port) = bare
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected host:port"))?;
    if host.is_empty() || host.contains('/') {
        return Err(invalid("expected host:port"));
    }
    port.parse::<u16>()
        .map_err(|_| invalid("the port must be a number 1..65535"))?;
    Ok(bare.to_owned())
}

fn hubble_tls(var: &impl Fn(&str) -> Option<String>) -> Result<Option<HubbleTls>, ConfigError> {
    let read = |name: &'static str| -> Result<Option<Vec<u8>>, ConfigError> {
        var(name)
            .map(|path| {
                std::fs::read(&path).map_err(|source| ConfigError::File { name, path, source })
            })
            .transpose()
    };
    let enabled = match var("HUBBLE_TLS").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "HUBBLE_TLS",
                reason: format!("`{other}` is neither `true` nor `false`"),
            });
        }
    };
    let tls = HubbleTls {
        ca_pem: read("HUBBLE_TLS_CA_FILE")?,
        client_cert_pem: read("HUBBLE_TLS_CLIENT_CERT_FILE")?,
        client_key_pem: read("HUBBLE_TLS_CLIENT_KEY_FILE")?,
        server_name: var("HUBBLE_TLS_SERVER_NAME"),
    };
    let any_set = tls.ca_pem.is_some()
        || tls.client_cert_pem.is_some()
        || tls.client_key_pem.is_some()
        || tls.server_name.is_some();
    if !enabled {
        // A CA file without the flag is almost certainly a mistake; say so instead of
        // silently talking plain text.
        return if any_set {
            Err(ConfigError::Invalid {
                name: "HUBBLE_TLS",
                reason: "HUBBLE_TLS_* files are set but HUBBLE_TLS is not `true`".into(),
            })
        } else {
            Ok(None)
        };
    }
    if tls.client_cert_pem.is_some() != tls.client_key_pem.is_some() {
        return Err(ConfigError::Invalid {
            name: "HUBBLE_TLS_CLIENT_CERT_FILE",
            reason: "client certificate and key must be given together".into(),
        });
    }
    Ok(Some(tls))
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
        assert_eq!(
            c.hubble_relay_addr.as_deref(),
            Some("hubble-relay.kube-system.svc:80")
        );
        assert!(c.hubble_tls.is_none());
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

    #[test]
    fn hubble_relay_can_be_switched_off_or_moved_and_tls_needs_its_flag() {
        let vars = [("MES_JWT_SECRET", SECRET), ("HUBBLE_RELAY_ADDR", "off")];
        let c = Config::from_lookup(lookup(&vars), || None).unwrap();
        assert_eq!(c.hubble_relay_addr, None);
        let vars = [
            ("MES_JWT_SECRET", SECRET),
            ("HUBBLE_RELAY_ADDR", "https://relay.example:4245/"),
            ("HUBBLE_TLS", "true"),
            ("HUBBLE_TLS_SERVER_NAME", "relay.hubble-relay.cilium.io"),
        ];
        let c = Config::from_lookup(lookup(&vars), || None).unwrap();
        assert_eq!(c.hubble_relay_addr.as_deref(), Some("relay.example:4245"));
        let tls = c.hubble_tls.unwrap();
        assert_eq!(
            tls.server_name.as_deref(),
            Some("relay.hubble-relay.cilium.io")
        );
        assert!(tls.ca_pem.is_none());
        for bad in ["relay", "relay:http", ":80", "a/b:80"] {
            let vars = [("MES_JWT_SECRET", SECRET), ("HUBBLE_RELAY_ADDR", bad)];
            assert!(
                Config::from_lookup(lookup(&vars), || None).is_err(),
                "{bad}"
            );
        }
        let vars = [("MES_JWT_SECRET", SECRET), ("HUBBLE_TLS_SERVER_NAME", "x")];
        assert!(Config::from_lookup(lookup(&vars), || None).is_err());
        let vars = [("MES_JWT_SECRET", SECRET), ("HUBBLE_TLS", "maybe")];
        assert!(Config::from_lookup(lookup(&vars), || None).is_err());
    }
}

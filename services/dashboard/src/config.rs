//! Configuration from the environment, read once at start (12-factor).

use std::net::SocketAddr;
use std::path::PathBuf;

use hyper::Uri;

pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:8082";

/// `MES_LOG_FORMAT`: JSON lines (default) or text for people at a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `DASHBOARD_LISTEN_ADDR`.
    pub listen_addr: SocketAddr,
    /// `DASHBOARD_ASSETS_DIR`: the built SPA (`index.html` and `assets/`).
    pub assets_dir: PathBuf,
    /// `MES_API_URL`: where `/api/v1` and `/ws` go.
    pub mes_api: Uri,
    /// `INFRA_API_URL`: where `/api/infra` goes; unset = the plant runs without infra-api.
    pub infra_api: Option<Uri>,
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            var(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let listen = var("DASHBOARD_LISTEN_ADDR").unwrap_or_else(|| DEFAULT_LISTEN_ADDR.into());
        let listen_addr = listen.parse().map_err(|e| ConfigError::Invalid {
            name: "DASHBOARD_LISTEN_ADDR",
            reason: format!("{e}"),
        })?;
        let assets_dir = var("DASHBOARD_ASSETS_DIR")
            .map(PathBuf::from)
            .ok_or(ConfigError::Missing("DASHBOARD_ASSETS_DIR"))?;
        let mes_api = var("MES_API_URL").ok_or(ConfigError::Missing("MES_API_URL"))?;
        let mes_api = upstream("MES_API_URL", &mes_api)?;
        let infra_api = var("INFRA_API_URL")
            .map(|url| upstream("INFRA_API_URL", &url))
            .transpose()?;
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
            assets_dir,
            mes_api,
            infra_api,
            log_format,
        })
    }
}

/// An upstream base URL: `http://host[:port][/prefix]` (cluster-internal traffic is plain HTTP;
/// TLS ends at the Ingress in front of the dashboard).
fn upstream(name: &'static str, value: &str) -> Result<Uri, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name, reason };
    let uri: Uri = value
        .parse()
        .map_err(|e| invalid(format!("`{value}`: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid(format!("`{value}` must be an http:// URL")));
    }
    if uri.authority().is_none() {
        return Err(invalid(format!("`{value}` has no host")));
    }
    if uri.query().is_some() {
        return Err(invalid(format!("`{value}` must not have a query")));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_and_required_variables() -> Result<(), ConfigError> {
        let config = lookup(&[
            ("DASHBOARD_ASSETS_DIR", "/srv/web"),
            ("MES_API_URL", "http://mes-api:8080"),
        ])?;
        assert_eq!(config.listen_addr.to_string(), DEFAULT_LISTEN_ADDR);
        assert_eq!(config.assets_dir, PathBuf::from("/srv/web"));
        assert_eq!(config.mes_api.to_string(), "http://mes-api:8080/");
        assert_eq!(config.infra_api, None);
        assert_eq!(config.log_format, LogFormat::Json);

        assert_eq!(
            lookup(&[("MES_API_URL", "http://a")]).err(),
            Some(ConfigError::Missing("DASHBOARD_ASSETS_DIR"))
        );
        assert_eq!(
            lookup(&[("DASHBOARD_ASSETS_DIR", "/x"), ("MES_API_URL", "  ")]).err(),
            Some(ConfigError::Missing("MES_API_URL"))
        );
        Ok(())
    }

    #[test]
    fn upstreams_must_be_plain_http_urls() {
        for bad in [
            "https://mes-api:8080",
            "mes-api:8080",
            "http://x/?a=1",
            "/api",
        ] {
            let error = lookup(&[("DASHBOARD_ASSETS_DIR", "/x"), ("MES_API_URL", bad)]).err();
            assert!(
                matches!(
                    error,
                    Some(ConfigError::Invalid {
                        name: "MES_API_URL",
                        ..
                    })
                ),
                "{bad}: {error:?}"
            );
        }
        let error = lookup(&[
            ("DASHBOARD_ASSETS_DIR", "/x"),
            ("MES_API_URL", "http://a"),
            ("INFRA_API_URL", "ftp://b"),
            ("MES_LOG_FORMAT", "text"),
        ])
        .err();
        assert!(matches!(
            error,
            Some(ConfigError::Invalid {
                name: "INFRA_API_URL",
                ..
            })
        ));
    }
}

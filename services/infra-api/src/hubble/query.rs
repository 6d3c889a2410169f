//! Query parameters of `/api/infra/network/*` → Hubble's `GetFlowsRequest` (pure, no IO).
//!
//! Every request is scoped to the plant namespace: a flow is returned only when its source or
//! its destination is a pod of that namespace. Hubble ANDs the fields inside one `FlowFilter` and
//! ORs the filters of the whitelist, so "either side" conditions become several filters.

use chrono::{DateTime, Duration, Utc};

use crate::hubble::proto::flow::{FlowFilter, Verdict};
use crate::hubble::proto::observer::GetFlowsRequest;

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// Raw query string values, as the handler received them.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct FlowParams {
    pub pod: Option<String>,
    pub namespace: Option<String>,
    /// Comma-separated verdict names, case-insensitive (`dropped`, `forwarded,error`, …).
    pub verdict: Option<String>,
    pub port: Option<String>,
    /// RFC 3339 time, or a duration back from now: `30s`, `15m`, `2h`, `1d`.
    pub since: Option<String>,
    pub limit: Option<String>,
    #[serde(default)]
    pub follow: bool,
}

/// Validated filters.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowQuery {
    /// Pod name prefix in the plant namespace (Hubble matches pod names by prefix).
    pub pod: Option<String>,
    /// Namespace of the peer (the other side of the flow).
    pub namespace: Option<String>,
    pub verdicts: Vec<Verdict>,
    /// Source or destination L4 port.
    pub port: Option<u16>,
    pub since: Option<DateTime<Utc>>,
    /// `None` only for a live stream asked without `limit`/`since` (live flows only).
    pub limit: Option<u64>,
    pub follow: bool,
}

/// A query parameter that is not acceptable, with the reason for the 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidQuery(pub String);

fn bad(msg: impl Into<String>) -> InvalidQuery {
    InvalidQuery(msg.into())
}

const VERDICTS: [Verdict; 7] = [
    Verdict::Forwarded,
    Verdict::Dropped,
    Verdict::Error,
    Verdict::Audit,
    Verdict::Redirected,
    Verdict::Traced,
    Verdict::Translated,
];

pub fn parse_verdict(name: &str) -> Option<Verdict> {
    VERDICTS
        .into_iter()
        .find(|v| v.as_str_name().eq_ignore_ascii_case(name.trim()))
}

/// A Kubernetes object name (RFC 1123 subdomain); anything else could smuggle `/` or regex
/// syntax into Hubble's `namespace/pod` filter syntax.
fn k8s_name(what: &str, value: &str) -> Result<String, InvalidQuery> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(bad(format!(
            "{what} must be a Kubernetes name (lower-case letters, digits, '-' and '.'), not `{value}`"
        )))
    }
}

/// `30s`, `15m`, `2h`, `1d`.
fn parse_duration(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: i64 = digits.parse().ok().filter(|n| *n >= 0)?;
    match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
}

pub fn parse_since(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, InvalidQuery> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.to_utc());
    }
    parse_duration(value)
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| {
            bad(format!(
                "since must be an RFC 3339 time or a duration such as 30s, 15m, 2h, 1d; not `{value}`"
            ))
        })
}

pub fn parse_limit(value: Option<&str>, max: u64) -> Result<Option<u64>, InvalidQuery> {
    value
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| bad(format!("limit must be between 1 and {max}, not `{v}`")))
        })
        .transpose()
}

impl FlowQuery {
    pub fn parse(p: &FlowParams, now: DateTime<Utc>) -> Result<Self, InvalidQuery> {
        fn nonempty(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let pod = nonempty(&p.pod).map(|v| k8s_name("pod", v)).transpose()?;
        let namespace = nonempty(&p.namespace)
            .map(|v| k8s_name("namespace", v))
            .transpose()?;
        let mut verdicts = Vec::new();
        for name in nonempty(&p.verdict).into_iter().flat_map(|v| v.split(',')) {
            let v = parse_verdict(name).ok_or_else(|| {
                bad(format!(
                    "unknown verdict `{}`; one of {}",
                    name.trim(),
                    VERDICTS.map(|v| v.as_str_name()).join(", ")
                ))
            })?;
            if !verdicts.contains(&v) {
                verdicts.push(v);
            }
        }
        let port = nonempty(&p.port)
            .map(|v| {
                v.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad(format!("port must be 1..65535, not `{v}`")))
            })
            .transpose()?;
        let since = nonempty(&p.since)
            .map(|v| parse_since(v, now))
            .transpose()?;
        let limit = parse_limit(nonempty(&p.limit), MAX_LIMIT)?;
        // A list always has a bound; a live stream without one starts with new flows only.
        let limit = match (limit, p.follow) {
            (Some(l), _) => Some(l),
            (None, false) => Some(DEFAULT_LIMIT),
            (None, true) if since.is_some() => Some(DEFAULT_LIMIT),
            (None, true) => None,
        };
        Ok(Self {
            pod,
            namespace,
            verdicts,
            port,
            since,
            limit,
            follow: p.follow,
        })
    }

    /// Only the plant-namespace scope (the service map's query).
    pub fn scope(since: DateTime<Utc>, limit: u64) -> Self {
        Self {
            pod: None,
            namespace: None,
            verdicts: Vec::new(),
            port: None,
            since: Some(since),
            limit: Some(limit),
            follow: false,
        }
    }
}

/// The whitelist for `q` in `plant_ns`: (our pod is the source, or our pod is the destination)
/// × (the port is the source port, or the destination port); verdicts in every filter.
pub fn whitelist(q: &FlowQuery, plant_ns: &str) -> Vec<FlowFilter> {
    let ours = vec![format!("{plant_ns}/{}", q.pod.as_deref().unwrap_or(""))];
    let peer: Vec<String> = q.namespace.iter().map(|ns| format!("{ns}/")).collect();
    let verdicts: Vec<i32> = q.verdicts.iter().map(|v| *v as i32).collect();
    let mut filters = Vec::with_capacity(4);
    for ours_is_source in [true, false] {
        let (source_pod, destination_pod) = if ours_is_source {
            (ours.clone(), peer.clone())
        } else {
            (peer.clone(), ours.clone())
        };
        let base = FlowFilter {
            source_pod,
            destination_pod,
            verdict: verdicts.clone(),
            ..FlowFilter::default()
        };
        match q.port {
            None => filters.push(base),
            Some(port) => {
                filters.push(FlowFilter {
                    source_port: vec![port.to_string()],
                    ..base.clone()
                });
                filters.push(FlowFilter {
                    destination_port: vec![port.to_string()],
                    ..base
                });
            }
        }
    }
    filters
}

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn request(q: &FlowQuery, plant_ns: &str) -> GetFlowsRequest {
    GetFlowsRequest {
        number: q.limit.unwrap_or(0),
        follow: q.follow,
        whitelist: whitelist(q, plant_ns),
        since: q.since.map(timestamp),
        ..GetFlowsRequest::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn params(pairs: &[(&str, &str)]) -> FlowParams {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        FlowParams {
            pod: get("pod"),
            namespace: get("namespace"),
            verdict: get("verdict"),
            port: get("port"),
            since: get("since"),
            limit: get("limit"),
            follow: get("follow").is_some(),
        }
    }

    #[test]
    fn no_filter_is_the_plant_namespace_on_either_side() {
        let q = FlowQuery::parse(&params(&[]), now()).unwrap();
        assert_eq!(q.limit, Some(DEFAULT_LIMIT));
        let r = request(&q, "plant");
        assert_eq!(r.number, DEFAULT_LIMIT);
        assert!(!r.follow);
        assert_eq!(r.since, None);
        assert_eq!(r.whitelist.len(), 2);
        assert_eq!(r.whitelist[0].source_pod, ["plant/"]);
        assert!(r.whitelist[0].destination_pod.is_empty());
        assert!(r.whitelist[1].source_pod.is_empty());
        assert_eq!(r.whitelist[1].destination_pod, ["plant/"]);
    }

    #[test]
    fn pod_peer_namespace_verdicts_and_port_become_four_filters() {
        let q = FlowQuery::parse(
            &params(&[
                ("pod", "mes-api"),
                ("namespace", "kube-system"),
                ("verdict", "dropped, FORWARDED,dropped"),
                ("port", "53"),
                ("limit", "20"),
            ]),
            now(),
        )
        .unwrap();
        let w = whitelist(&q, "plant");
        assert_eq!(w.len(), 4);
        let verdicts = vec![Verdict::Dropped as i32, Verdict::Forwarded as i32];
        for f in &w {
            assert_eq!(f.verdict, verdicts);
        }
        assert_eq!(w[0].source_pod, ["plant/mes-api"]);
        assert_eq!(w[0].destination_pod, ["kube-system/"]);
        assert_eq!(w[0].source_port, ["53"]);
        assert!(w[0].destination_port.is_empty());
        assert_eq!(w[1].destination_port, ["53"]);
        assert!(w[1].source_port.is_empty());
        assert_eq!(w[2].source_pod, ["kube-system/"]);
        assert_eq!(w[2].destination_pod, ["plant/mes-api"]);
        assert_eq!(w[3].destination_port, ["53"]);
        assert_eq!(request(&q, "plant").number, 20);
    }

    #[test]
    fn since_accepts_rfc3339_and_durations() {
        assert_eq!(
            parse_since("15m", now()).unwrap(),
            now() - Duration::minutes(15)
        );
        assert_eq!(
            parse_since("2h", now()).unwrap(),
            now() - Duration::hours(2)
        );
        assert_eq!(
            parse_since("2026-11-25T09:00:00+01:00", now()).unwrap(),
            now() - Duration::hours(2)
        );
        let q = FlowQuery::parse(&params(&[("since", "30s")]), now()).unwrap();
        let ts = request(&q, "plant").since.unwrap();
        assert_eq!(ts.seconds, (now() - Duration::seconds(30)).timestamp());
        for bad in ["yesterday", "15", "m", "-5m", "5w"] {
            assert!(parse_since(bad, now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn live_stream_without_bound_asks_for_new_flows_only() {
        let q = FlowQuery::parse(&params(&[("follow", "true")]), now()).unwrap();
        let r = request(&q, "plant");
        assert!(r.follow);
        assert_eq!(r.number, 0);
        let q = FlowQuery::parse(&params(&[("follow", "true"), ("limit", "5")]), now()).unwrap();
        assert_eq!(request(&q, "plant").number, 5);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        for (k, v) in [
            ("pod", "Mes_API"),
            ("pod", "a/b"),
            ("namespace", "kube-system/"),
            ("verdict", "maybe"),
            ("port", "0"),
            ("port", "70000"),
            ("port", "http"),
            ("limit", "0"),
            ("limit", "1001"),
            ("since", "soon"),
        ] {
            let e = FlowQuery::parse(&params(&[(k, v)]), now()).unwrap_err();
            assert!(!e.0.is_empty(), "{k}={v}");
        }
        // Empty values are "no filter".
        assert!(FlowQuery::parse(&params(&[("pod", ""), ("verdict", " ")]), now()).is_ok());
    }
}

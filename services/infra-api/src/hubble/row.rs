//! Hubble `Flow` → the JSON row the dashboard shows (pure, no IO).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::hubble::proto::flow::{
    self, DropReason, Flow, L7FlowType, TrafficDirection, Verdict, layer4, layer7,
};

/// The pod label that names a component (also what the pods and status endpoints use).
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowRow {
    pub time: Option<DateTime<Utc>>,
    /// `FORWARDED`, `DROPPED`, `ERROR`, `AUDIT`, `REDIRECTED`, `TRACED`, `TRANSLATED`, `UNKNOWN`.
    pub verdict: String,
    /// Why a dropped flow was dropped (`POLICY_DENIED`, …); null otherwise.
    pub drop_reason: Option<String>,
    /// `INGRESS`, `EGRESS` or `UNKNOWN` (seen from the endpoint where the flow was observed).
    pub direction: String,
    /// True for the reply half of a connection; null when Hubble does not know.
    pub is_reply: Option<bool>,
    pub source: EndpointRow,
    pub destination: EndpointRow,
    pub l4: Option<L4Row>,
    pub l7: Option<L7Row>,
    pub node: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct EndpointRow {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// Cilium security identity (numeric).
    pub identity: u32,
    /// Identity labels as Hubble sends them, e.g. `k8s:app.kubernetes.io/component=api`.
    pub labels: Vec<String>,
    /// `Kind/name` of the owning workload, when Hubble knows it.
    pub workload: Option<String>,
    /// Value of the `app.kubernetes.io/component` label, when present.
    pub component: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct L4Row {
    /// `TCP`, `UDP`, `SCTP`, `ICMPv4`, `ICMPv6`.
    pub protocol: &'static str,
    pub source_port: Option<u32>,
    pub destination_port: Option<u32>,
    /// ICMP type and code (null for the port protocols).
    pub icmp_type: Option<u32>,
    pub icmp_code: Option<u32>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct L7Row {
    /// `HTTP`, `DNS` or `OTHER`.
    pub protocol: &'static str,
    /// `REQUEST`, `RESPONSE`, `SAMPLE`, `UNKNOWN`.
    #[serde(rename = "type")]
    pub type_: String,
    /// One line for a table, e.g. `GET /api/lots → 200` or `DNS A mes-api.plant.svc.`.
    pub summary: String,
    pub http_method: Option<String>,
    pub http_path: Option<String>,
    pub http_status: Option<u32>,
    pub dns_query: Option<String>,
    pub dns_rcode: Option<u32>,
    pub latency_ms: Option<f64>,
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

/// The value of label `key` in Hubble's `source:key=value` form (any source: `k8s`, `any`, …).
pub fn label_value<'a>(labels: &'a [String], key: &str) -> Option<&'a str> {
    labels.iter().find_map(|l| {
        let (_, kv) = l.split_once(':')?;
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl EndpointRow {
    pub fn from_endpoint(e: Option<&flow::Endpoint>) -> Self {
        let Some(e) = e else {
            return Self::default();
        };
        Self {
            namespace: nonempty(&e.namespace),
            pod: nonempty(&e.pod_name),
            identity: e.identity,
            labels: e.labels.clone(),
            workload: e.workloads.first().map(|w| {
                if w.kind.is_empty() {
                    w.name.clone()
                } else {
                    format!("{}/{}", w.kind, w.name)
                }
            }),
            component: label_value(&e.labels, COMPONENT_LABEL).map(str::to_owned),
        }
    }
}

/// The path of an HTTP URL as Hubble reports it (`http://host:port/path?query` or `/path`).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    if url.contains("://") {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        rest
    }
}

fn l4(l: &flow::Layer4) -> Option<L4Row> {
    let ports = |protocol, s, d| L4Row {
        protocol,
        source_port: Some(s),
        destination_port: Some(d),
        icmp_type: None,
        icmp_code: None,
    };
    let icmp = |protocol, t, c| L4Row {
        protocol,
        source_port: None,
        destination_port: None,
        icmp_type: Some(t),
        icmp_code: Some(c),
    };
    Some(match l.protocol.as_ref()? {
        layer4::Protocol::Tcp(p) => ports("TCP", p.source_port, p.destination_port),
        layer4::Protocol::Udp(p) => ports("UDP", p.source_port, p.destination_port),
        layer4::Protocol::Sctp(p) => ports("SCTP", p.source_port, p.destination_port),
        layer4::Protocol::IcmPv4(p) => icmp("ICMPv4", p.r#type, p.code),
        layer4::Protocol::IcmPv6(p) => icmp("ICMPv6", p.r#type, p.code),
    })
}

fn l7(l: &flow::Layer7) -> L7Row {
    let type_ = L7FlowType::try_from(l.r#type)
        .map_or("UNKNOWN", |t| match t {
            L7FlowType::UnknownL7Type => "UNKNOWN",
            other => other.as_str_name(),
        })
        .to_owned();
    let latency_ms = (l.latency_ns > 0).then(|| l.latency_ns as f64 / 1e6);
    let mut row = L7Row {
        protocol: "OTHER",
        type_,
        summary: String::new(),
        http_method: None,
        http_path: None,
        http_status: None,
        dns_query: None,
        dns_rcode: None,
        latency_ms,
    };
    match &l.record {
        Some(layer7::Record::Http(h)) => {
            let path = url_path(&h.url).to_owned();
            row.protocol = "HTTP";
            row.summary = if h.code > 0 {
                format!("{} {path} → {}", h.method, h.code)
            } else {
                format!("{} {path}", h.method)
            };
            row.http_method = nonempty(&h.method);
            row.http_path = nonempty(&path);
            row.http_status = (h.code > 0).then_some(h.code);
        }
        Some(layer7::Record::Dns(d)) => {
            row.protocol = "DNS";
            let qtypes = d.qtypes.join(",");
            row.summary = match (row.type_.as_str(), qtypes.is_empty()) {
                ("RESPONSE", _) => format!("DNS answer {} (rcode {})", d.query, d.rcode),
                (_, true) => format!("DNS query {}", d.query),
                (_, false) => format!("DNS query {qtypes} {}", d.query),
            };
            row.dns_query = nonempty(&d.query);
            row.dns_rcode = (row.type_ == "RESPONSE").then_some(d.rcode);
        }
        None => row.summary = "L7".into(),
    }
    row
}

fn drop_reason(f: &Flow) -> Option<String> {
    if f.verdict != Verdict::Dropped as i32 {
        return None;
    }
    // Newer agents fill drop_reason_desc; older ones only the deprecated numeric field.
    let code = if f.drop_reason_desc != 0 {
        f.drop_reason_desc
    } else {
        i32::try_from(f.drop_reason).unwrap_or(0)
    };
    Some(match DropReason::try_from(code) {
        Ok(DropReason::Unknown) => "UNKNOWN".to_owned(),
        Ok(r) => r.as_str_name().to_owned(),
        Err(_) => format!("DROP_REASON_{code}"),
    })
}

impl FlowRow {
    pub fn from_flow(f: &Flow) -> Self {
        let verdict = match Verdict::try_from(f.verdict) {
            Ok(Verdict::Unknown) | Err(_) => "UNKNOWN",
            Ok(v) => v.as_str_name(),
        };
        let direction = match TrafficDirection::try_from(f.traffic_direction) {
            Ok(TrafficDirection::Ingress) => "INGRESS",
            Ok(TrafficDirection::Egress) => "EGRESS",
            _ => "UNKNOWN",
        };
        Self {
            time: time(f.time.as_ref()),
            verdict: verdict.to_owned(),
            drop_reason: drop_reason(f),
            direction: direction.to_owned(),
            is_reply: f.is_reply,
            source: EndpointRow::from_endpoint(f.source.as_ref()),
            destination: EndpointRow::from_endpoint(f.destination.as_ref()),
            l4: f.l4.as_ref().and_then(l4),
            l7: f.l7.as_ref().map(l7),
            node: nonempty(&f.node_name),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::hubble::proto::flow::{Dns, Endpoint, Http, Layer4, Layer7, Tcp, Udp, Workload};

    fn endpoint(ns: &str, pod: &str, component: &str) -> Endpoint {
        Endpoint {
            identity: 4242,
            namespace: ns.into(),
            pod_name: pod.into(),
            labels: vec![
                format!("k8s:app.kubernetes.io/component={component}"),
                format!("k8s:io.kubernetes.pod.namespace={ns}"),
            ],
            workloads: vec![Workload {
                name: "mes-api".into(),
                kind: "Deployment".into(),
            }],
            ..Endpoint::default()
        }
    }

    #[test]
    fn http_flow_maps_every_field() {
        let f = Flow {
            time: Some(prost_types::Timestamp {
                seconds: 1_795_000_000,
                nanos: 5,
            }),
            verdict: Verdict::Forwarded as i32,
            source: Some(endpoint("plant", "dashboard-7d9f-x", "dashboard")),
            destination: Some(endpoint("plant", "mes-api-5c-abc", "api")),
            l4: Some(Layer4 {
                protocol: Some(layer4::Protocol::Tcp(Tcp {
                    source_port: 40000,
                    destination_port: 8080,
                })),
            }),
            l7: Some(Layer7 {
                r#type: L7FlowType::Response as i32,
                latency_ns: 2_500_000,
                record: Some(layer7::Record::Http(Http {
                    code: 200,
                    method: "GET".into(),
                    url: "http://mes-api.plant.svc:8080/api/lots?page=2".into(),
                    protocol: "HTTP/1.1".into(),
                })),
            }),
            traffic_direction: TrafficDirection::Ingress as i32,
            is_reply: Some(true),
            node_name: "node-1".into(),
            ..Flow::default()
        };
        let r = FlowRow::from_flow(&f);
        assert_eq!(r.time.unwrap().timestamp(), 1_795_000_000);
        assert_eq!(r.verdict, "FORWARDED");
        assert_eq!(r.drop_reason, None);
        assert_eq!(r.direction, "INGRESS");
        assert_eq!(r.is_reply, Some(true));
        assert_eq!(r.source.pod.as_deref(), Some("dashboard-7d9f-x"));
        assert_eq!(r.source.component.as_deref(), Some("dashboard"));
        assert_eq!(r.destination.namespace.as_deref(), Some("plant"));
        assert_eq!(r.destination.identity, 4242);
        assert_eq!(
            r.destination.workload.as_deref(),
            Some("Deployment/mes-api")
        );
        assert_eq!(r.destination.labels.len(), 2);
        let l4 = r.l4.unwrap();
        assert_eq!(
            (l4.protocol, l4.source_port, l4.destination_port),
            ("TCP", Some(40000), Some(8080))
        );
        let l7 = r.l7.unwrap();
        assert_eq!(l7.protocol, "HTTP");
        assert_eq!(l7.type_, "RESPONSE");
        assert_eq!(l7.http_path.as_deref(), Some("/api/lots?page=2"));
        assert_eq!(l7.http_status, Some(200));
        assert_eq!(l7.summary, "GET /api/lots?page=2 → 200");
        assert_eq!(l7.latency_ms, Some(2.5));
        assert_eq!(r.node.as_deref(), Some("node-1"));
    }

    #[test]
    fn dropped_dns_flow_has_reason_and_query() {
        let f = Flow {
            verdict: Verdict::Dropped as i32,
            drop_reason_desc: DropReason::PolicyDenied as i32,
            source: Some(endpoint("plant", "station-1", "station")),
            destination: Some(Endpoint {
                labels: vec!["reserved:world".into()],
                identity: 2,
                ..Endpoint::default()
            }),
            l4: Some(Layer4 {
                protocol: Some(layer4::Protocol::Udp(Udp {
                    source_port: 5353,
                    destination_port: 53,
                })),
            }),
            l7: Some(Layer7 {
                r#type: L7FlowType::Request as i32,
                record: Some(layer7::Record::Dns(Dns {
                    query: "example.com.".into(),
                    qtypes: vec!["A".into()],
                    ..Dns::default()
                })),
                ..Layer7::default()
            }),
            traffic_direction: TrafficDirection::Egress as i32,
            ..Flow::default()
        };
        let r = FlowRow::from_flow(&f);
        assert_eq!(r.verdict, "DROPPED");
        assert_eq!(r.drop_reason.as_deref(), Some("POLICY_DENIED"));
        assert_eq!(r.direction, "EGRESS");
        assert_eq!(r.is_reply, None);
        assert_eq!(r.destination.pod, None);
        assert_eq!(r.destination.component, None);
        assert_eq!(r.l4.unwrap().protocol, "UDP");
        let l7 = r.l7.unwrap();
        assert_eq!(l7.dns_query.as_deref(), Some("example.com."));
        assert_eq!(l7.summary, "DNS query A example.com.");
        assert_eq!(l7.dns_rcode, None);
    }

    #[test]
    fn old_numeric_and_unknown_drop_reasons_still_show() {
        let mut f = Flow {
            verdict: Verdict::Dropped as i32,
            drop_reason: 181,
            ..Flow::default()
        };
        assert_eq!(
            FlowRow::from_flow(&f).drop_reason.as_deref(),
            Some("POLICY_DENY")
        );
        f.drop_reason_desc = 250;
        assert_eq!(
            FlowRow::from_flow(&f).drop_reason.as_deref(),
            Some("DROP_REASON_250")
        );
        let empty = FlowRow::from_flow(&Flow::default());
        assert_eq!(empty.verdict, "UNKNOWN");
        assert_eq!(empty.direction, "UNKNOWN");
        assert_eq!(empty.l4, None);
        assert_eq!(empty.source, EndpointRow::default());
    }

    #[test]
    fn url_paths() {
        assert_eq!(url_path("http://a:80/x/y?q=1"), "/x/y?q=1");
        assert_eq!(url_path("https://a"), "/");
        assert_eq!(url_path("/already/a/path"), "/already/a/path");
    }
}

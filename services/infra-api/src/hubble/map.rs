//! The service map: flows aggregated into component → component edges (pure, no IO).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::hubble::row::{EndpointRow, FlowRow};

/// At most this many distinct `PROTO/port` entries are listed per edge.
const MAX_PORTS_PER_EDGE: usize = 10;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct MapNode {
    /// Unique name: the component (or workload, pod…) for the plant namespace, `namespace/name`
    /// for other namespaces, the reserved identity (`world`, `host`, …) otherwise.
    pub id: String,
    /// `component`, `workload`, `pod`, `reserved` or `identity`.
    pub kind: &'static str,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MapEdge {
    pub source: String,
    pub destination: String,
    pub flows: u64,
    pub dropped: u64,
    /// Destination `PROTO/port`s seen, sorted (at most 10).
    pub ports: Vec<String>,
    pub last_seen: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServiceMap {
    pub nodes: Vec<MapNode>,
    pub edges: Vec<MapEdge>,
    /// Flows aggregated (reply halves are not counted: they would draw every edge twice).
    pub flows: u64,
    pub replies_skipped: u64,
}

/// The node an endpoint belongs to: component label, else owning workload, else pod, else
/// Cilium's reserved identity (`reserved:world`…), else the numeric identity.
pub fn node_of(e: &EndpointRow, plant_ns: &str) -> MapNode {
    let in_ns = |name: &str| match e.namespace.as_deref() {
        Some(ns) if ns != plant_ns => format!("{ns}/{name}"),
        _ => name.to_owned(),
    };
    let (id, kind) = if let Some(c) = &e.component {
        (in_ns(c), "component")
    } else if let Some(w) = &e.workload {
        // `Deployment/mes-api` → `mes-api`: the map shows names, the kind is in `kind`.
        (in_ns(w.rsplit('/').next().unwrap_or(w)), "workload")
    } else if let Some(p) = &e.pod {
        (in_ns(p), "pod")
    } else if let Some(r) = e.labels.iter().find_map(|l| l.strip_prefix("reserved:")) {
        (r.to_owned(), "reserved")
    } else {
        (format!("identity:{}", e.identity), "identity")
    };
    MapNode {
        id,
        kind,
        namespace: e.namespace.clone(),
    }
}

#[derive(Default)]
struct EdgeAcc {
    flows: u64,
    dropped: u64,
    ports: BTreeSet<String>,
    last_seen: Option<DateTime<Utc>>,
}

pub fn aggregate<'a>(rows: impl IntoIterator<Item = &'a FlowRow>, plant_ns: &str) -> ServiceMap {
    let mut nodes: BTreeMap<String, MapNode> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), EdgeAcc> = BTreeMap::new();
    let (mut flows, mut replies) = (0, 0);
    for r in rows {
        if r.is_reply == Some(true) {
            replies += 1;
            continue;
        }
        flows += 1;
        let s = node_of(&r.source, plant_ns);
        let d = node_of(&r.destination, plant_ns);
        let acc = edges.entry((s.id.clone(), d.id.clone())).or_default();
        acc.flows += 1;
        if r.verdict == "DROPPED" {
            acc.dropped += 1;
        }
        if let Some(l4) = &r.l4
            && let Some(port) = l4.destination_port
            && acc.ports.len() < MAX_PORTS_PER_EDGE
        {
            acc.ports.insert(format!("{}/{port}", l4.protocol));
        }
        acc.last_seen = acc.last_seen.max(r.time);
        nodes.entry(s.id.clone()).or_insert(s);
        nodes.entry(d.id.clone()).or_insert(d);
    }
    ServiceMap {
        nodes: nodes.into_values().collect(),
        edges: edges
            .into_iter()
            .map(|((source, destination), a)| MapEdge {
                source,
                destination,
                flows: a.flows,
                dropped: a.dropped,
                ports: a.ports.into_iter().collect(),
                last_seen: a.last_seen,
            })
            .collect(),
        flows,
        replies_skipped: replies,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::hubble::row::L4Row;

    fn ep(ns: Option<&str>, component: Option<&str>, pod: Option<&str>) -> EndpointRow {
        EndpointRow {
            namespace: ns.map(Into::into),
            pod: pod.map(Into::into),
            component: component.map(Into::into),
            ..EndpointRow::default()
        }
    }

    fn flow(source: EndpointRow, destination: EndpointRow, verdict: &str, port: u32) -> FlowRow {
        FlowRow {
            time: DateTime::from_timestamp(1_795_000_000 + i64::from(port), 0),
            verdict: verdict.into(),
            drop_reason: None,
            direction: "EGRESS".into(),
            is_reply: Some(false),
            source,
            destination,
            l4: Some(L4Row {
                protocol: "TCP",
                source_port: Some(40000),
                destination_port: Some(port),
                icmp_type: None,
                icmp_code: None,
            }),
            l7: None,
            node: None,
        }
    }

    #[test]
    fn counts_flows_and_drops_per_edge_and_skips_replies() {
        let dash = ep(Some("plant"), Some("dashboard"), Some("dashboard-1"));
        let api = ep(Some("plant"), Some("api"), Some("mes-api-1"));
        let api2 = ep(Some("plant"), Some("api"), Some("mes-api-2"));
        let db = ep(Some("plant"), Some("database"), Some("mes-db-0"));
        let dns = EndpointRow {
            namespace: Some("kube-system".into()),
            workload: Some("Deployment/coredns".into()),
            pod: Some("coredns-abc".into()),
            ..EndpointRow::default()
        };
        let world = EndpointRow {
            labels: vec!["reserved:world".into()],
            identity: 2,
            ..EndpointRow::default()
        };
        let mut reply = flow(api.clone(), dash.clone(), "FORWARDED", 40000);
        reply.is_reply = Some(true);
        let rows = vec![
            flow(dash.clone(), api.clone(), "FORWARDED", 8080),
            flow(dash.clone(), api2.clone(), "FORWARDED", 8080),
            flow(dash.clone(), api.clone(), "DROPPED", 8080),
            flow(api.clone(), db.clone(), "FORWARDED", 5432),
            flow(api.clone(), dns.clone(), "FORWARDED", 53),
            flow(world.clone(), api.clone(), "DROPPED", 8080),
            reply,
        ];
        let m = aggregate(&rows, "plant");
        assert_eq!(m.flows, 6);
        assert_eq!(m.replies_skipped, 1);
        let ids: Vec<&str> = m.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "api",
                "dashboard",
                "database",
                "kube-system/coredns",
                "world"
            ]
        );
        let kinds: Vec<&str> = m.nodes.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [
                "component",
                "component",
                "component",
                "workload",
                "reserved"
            ]
        );
        let edge = |s: &str, d: &str| {
            m.edges
                .iter()
                .find(|e| e.source == s && e.destination == d)
                .unwrap()
                .clone()
        };
        let e = edge("dashboard", "api");
        assert_eq!((e.flows, e.dropped), (3, 1));
        assert_eq!(e.ports, ["TCP/8080"]);
        assert_eq!(edge("api", "database").flows, 1);
        assert_eq!(edge("api", "kube-system/coredns").ports, ["TCP/53"]);
        assert_eq!(
            (edge("world", "api").flows, edge("world", "api").dropped),
            (1, 1)
        );
        assert_eq!(m.edges.len(), 4);
        assert!(
            !m.edges
                .iter()
                .any(|e| e.source == "api" && e.destination == "dashboard")
        );
    }

    #[test]
    fn nodes_fall_back_from_component_to_workload_pod_reserved_identity() {
        let w = EndpointRow {
            namespace: Some("plant".into()),
            workload: Some("StatefulSet/mes-db".into()),
            pod: Some("mes-db-0".into()),
            ..EndpointRow::default()
        };
        assert_eq!(node_of(&w, "plant").id, "mes-db");
        let p = ep(Some("other"), None, Some("job-x"));
        assert_eq!(
            (node_of(&p, "plant").id.as_str(), node_of(&p, "plant").kind),
            ("other/job-x", "pod")
        );
        let i = EndpointRow {
            identity: 16777217,
            ..EndpointRow::default()
        };
        assert_eq!(node_of(&i, "plant").id, "identity:16777217");
    }
}

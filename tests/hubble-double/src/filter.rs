//! Which flows a `GetFlowsRequest` selects, as Hubble Relay decides it: a flow is kept when it
//! matches any whitelist filter (or there is none) and no blacklist filter; inside one filter
//! every non-empty field must match (AND), and a field matches when any of its values does (OR).

use infra_api::hubble::proto::flow::{Endpoint, Flow, FlowFilter, layer4};
use infra_api::hubble::proto::observer::GetFlowsRequest;

/// Whether `flow` is selected by `req`'s filters and its `since`/`until` window.
pub fn selects(req: &GetFlowsRequest, flow: &Flow) -> bool {
    in_window(req, flow)
        && (req.whitelist.is_empty() || req.whitelist.iter().any(|f| matches(f, flow)))
        && !req.blacklist.iter().any(|f| matches(f, flow))
}

/// The stored flows `req` asks for: the last `number` selected ones (`first`: the first ones);
/// `number = 0` means all, except for a follow without `since`, which starts at "now".
pub fn backlog(req: &GetFlowsRequest, stored: &[Flow]) -> Vec<Flow> {
    if req.follow && req.number == 0 && req.since.is_none() {
        return Vec::new();
    }
    let selected: Vec<&Flow> = stored.iter().filter(|f| selects(req, f)).collect();
    let n = usize::try_from(req.number).unwrap_or(usize::MAX);
    let chosen: &[&Flow] = if n == 0 || n >= selected.len() {
        &selected
    } else if req.first {
        &selected[..n]
    } else {
        &selected[selected.len() - n..]
    };
    chosen.iter().map(|f| (*f).clone()).collect()
}

fn in_window(req: &GetFlowsRequest, flow: &Flow) -> bool {
    let at = flow.time.as_ref().map(|t| (t.seconds, t.nanos));
    let after_since = match (&req.since, at) {
        (Some(since), Some(at)) => at >= (since.seconds, since.nanos),
        (Some(_), None) => false,
        (None, _) => true,
    };
    let before_until = match (&req.until, at) {
        (Some(until), Some(at)) => at <= (until.seconds, until.nanos),
        (Some(_), None) => false,
        (None, _) => true,
    };
    after_since && before_until
}

fn matches(filter: &FlowFilter, flow: &Flow) -> bool {
    let (source_port, destination_port) = ports(flow);
    any_or_empty(&filter.source_pod, |p| pod_matches(p, flow.source.as_ref()))
        && any_or_empty(&filter.destination_pod, |p| {
            pod_matches(p, flow.destination.as_ref())
        })
        && any_or_empty(&filter.verdict, |v| *v == flow.verdict)
        && any_or_empty(&filter.source_port, |p| port_matches(p, source_port))
        && any_or_empty(&filter.destination_port, |p| {
            port_matches(p, destination_port)
        })
}

fn any_or_empty<T>(values: &[T], pred: impl Fn(&T) -> bool) -> bool {
    values.is_empty() || values.iter().any(pred)
}

/// `namespace/pod-name-prefix`; `namespace/` is the whole namespace and a value without `/` is
/// a pod-name prefix in `default`, as in Hubble.
fn pod_matches(pattern: &str, endpoint: Option<&Endpoint>) -> bool {
    let Some(endpoint) = endpoint else {
        return false;
    };
    let (namespace, prefix) = pattern.split_once('/').unwrap_or(("default", pattern));
    !endpoint.pod_name.is_empty()
        && endpoint.namespace == namespace
        && endpoint.pod_name.starts_with(prefix)
}

fn port_matches(pattern: &str, port: Option<u32>) -> bool {
    port.is_some_and(|port| pattern.parse::<u32>() == Ok(port))
}

fn ports(flow: &Flow) -> (Option<u32>, Option<u32>) {
    match flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
        Some(layer4::Protocol::Tcp(tcp)) => (Some(tcp.source_port), Some(tcp.destination_port)),
        Some(layer4::Protocol::Udp(udp)) => (Some(udp.source_port), Some(udp.destination_port)),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{endpoint, tcp};
    use infra_api::hubble::proto::flow::Verdict;

    fn flows() -> Vec<Flow> {
        vec![
            tcp(
                endpoint("plant", "dashboard-0", "dashboard"),
                endpoint("plant", "mes-api-0", "backend"),
                8080,
                Verdict::Forwarded,
                100,
            ),
            tcp(
                endpoint("plant", "mes-api-0", "backend"),
                endpoint("plant", "postgres-0", "database"),
                5432,
                Verdict::Forwarded,
                200,
            ),
            tcp(
                endpoint("other", "scanner-0", "scanner"),
                endpoint("plant", "postgres-0", "database"),
                5432,
                Verdict::Dropped,
                300,
            ),
        ]
    }

    fn filter(source_pod: &[&str], destination_pod: &[&str]) -> FlowFilter {
        FlowFilter {
            source_pod: source_pod.iter().map(|s| (*s).to_owned()).collect(),
            destination_pod: destination_pod.iter().map(|s| (*s).to_owned()).collect(),
            ..FlowFilter::default()
        }
    }

    fn times(req: &GetFlowsRequest) -> Vec<i64> {
        backlog(req, &flows())
            .iter()
            .map(|f| f.time.as_ref().map_or(0, |t| t.seconds))
            .collect()
    }

    #[test]
    fn whitelist_filters_are_ored_and_their_fields_anded() {
        let req = GetFlowsRequest {
            whitelist: vec![
                filter(&["plant/mes-api"], &[]),
                FlowFilter {
                    verdict: vec![Verdict::Dropped as i32],
                    ..filter(&["other/"], &["plant/"])
                },
            ],
            ..GetFlowsRequest::default()
        };
        assert_eq!(times(&req), [200, 300]);
        let dropped_from_plant = GetFlowsRequest {
            whitelist: vec![FlowFilter {
                verdict: vec![Verdict::Dropped as i32],
                ..filter(&["plant/"], &[])
            }],
            ..GetFlowsRequest::default()
        };
        assert!(times(&dropped_from_plant).is_empty());
    }

    #[test]
    fn blacklist_excludes_and_ports_compare_as_numbers() {
        let req = GetFlowsRequest {
            blacklist: vec![FlowFilter {
                destination_port: vec!["5432".into()],
                ..FlowFilter::default()
            }],
            ..GetFlowsRequest::default()
        };
        assert_eq!(times(&req), [100]);
    }

    #[test]
    fn number_since_and_first_choose_the_backlog() {
        let last_two = GetFlowsRequest {
            number: 2,
            ..GetFlowsRequest::default()
        };
        assert_eq!(times(&last_two), [200, 300]);
        let first_one = GetFlowsRequest {
            number: 1,
            first: true,
            ..GetFlowsRequest::default()
        };
        assert_eq!(times(&first_one), [100]);
        let since = GetFlowsRequest {
            since: Some(prost_types::Timestamp {
                seconds: 200,
                nanos: 0,
            }),
            ..GetFlowsRequest::default()
        };
        assert_eq!(times(&since), [200, 300]);
        let follow_now = GetFlowsRequest {
            follow: true,
            ..GetFlowsRequest::default()
        };
        assert!(times(&follow_now).is_empty());
    }

    #[test]
    fn a_pod_without_namespace_is_looked_up_in_default() {
        assert!(!pod_matches(
            "mes-api",
            Some(&endpoint("plant", "mes-api-0", "backend"))
        ));
        assert!(pod_matches(
            "mes-api",
            Some(&endpoint("default", "mes-api-0", "backend"))
        ));
    }
}

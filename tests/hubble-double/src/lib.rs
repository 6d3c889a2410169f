//! A fake Hubble Relay for tests (dev-only, never shipped): a real tonic server implementing
//! `observer.Observer` from infra-api's own protos. It selects stored and live flows by the
//! request's whitelist/blacklist, `since`/`until` and `number` as Hubble Relay does (see
//! [`filter`]), records every `GetFlowsRequest`, pushes live flows to followers and counts open
//! streams (so tests see cancellations). What it does not do is listed in docs/testing.md.

// A test double: a failed bind or a poisoned lock here is a failing test, said as loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod filter;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use infra_api::hubble::proto::flow::{
    Endpoint, Flow, Layer4, TrafficDirection, Verdict, Workload, layer4,
};
use infra_api::hubble::proto::observer::observer_server::{Observer, ObserverServer};
use infra_api::hubble::proto::observer::{
    GetFlowsRequest, GetFlowsResponse, ServerStatusRequest, ServerStatusResponse,
    get_flows_response::ResponseTypes,
};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

/// How long [`FakeRelay::stop`] waits for the server to wind down.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

type Follower = (
    GetFlowsRequest,
    mpsc::Sender<Result<GetFlowsResponse, Status>>,
);

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<Vec<GetFlowsRequest>>,
    stored: Mutex<Vec<Flow>>,
    followers: Mutex<Vec<Follower>>,
    open_streams: AtomicUsize,
    /// Follow streams send generated flows without end (for the slow-client test).
    endless: std::sync::atomic::AtomicBool,
}

/// Decrements the open-stream count when tonic drops the response stream (call finished or
/// cancelled by the client).
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Service(Arc<Shared>);

fn response(flow: Flow) -> GetFlowsResponse {
    GetFlowsResponse {
        node_name: flow.node_name.clone(),
        time: flow.time,
        response_types: Some(ResponseTypes::Flow(flow)),
    }
}

type FlowStream = Pin<Box<dyn Stream<Item = Result<GetFlowsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Observer for Service {
    type GetFlowsStream = FlowStream;

    async fn get_flows(
        &self,
        req: Request<GetFlowsRequest>,
    ) -> Result<Response<FlowStream>, Status> {
        let req = req.into_inner();
        self.0.requests.lock().unwrap().push(req.clone());
        self.0.open_streams.fetch_add(1, Ordering::SeqCst);
        let open = Open(self.0.clone());
        let backlog = filter::backlog(&req, &self.0.stored.lock().unwrap());
        let backlog = futures::stream::iter(backlog.into_iter().map(|f| Ok(response(f))));
        let stream: FlowStream = if !req.follow {
            Box::pin(backlog.map(move |item| {
                let _open = &open;
                item
            }))
        } else if self.0.endless.load(Ordering::SeqCst) {
            let generated = futures::stream::iter(0u32..)
                .map(|i| flow(i, now_seconds()))
                .filter(move |f| futures::future::ready(filter::selects(&req, f)))
                .map(|f| Ok(response(f)));
            Box::pin(backlog.chain(generated).map(move |item| {
                let _open = &open;
                item
            }))
        } else {
            let (tx, rx) = mpsc::channel(1024);
            self.0.followers.lock().unwrap().push((req, tx));
            let live = tokio_stream::wrappers::ReceiverStream::new(rx);
            Box::pin(backlog.chain(live).map(move |item| {
                let _open = &open;
                item
            }))
        };
        Ok(Response::new(stream))
    }

    async fn server_status(
        &self,
        _: Request<ServerStatusRequest>,
    ) -> Result<Response<ServerStatusResponse>, Status> {
        let n = self.0.stored.lock().unwrap().len() as u64;
        Ok(Response::new(ServerStatusResponse {
            num_flows: n,
            max_flows: 4095,
            seen_flows: n,
            uptime_ns: 42_000_000_000,
            num_connected_nodes: Some(1),
            num_unavailable_nodes: Some(0),
            unavailable_nodes: vec![],
            version: "fake-relay/1.0".into(),
        }))
    }
}

/// A running fake relay; [`FakeRelay::stop`] takes it down, [`FakeRelay::restart`] brings a
/// new server up on the same port with the same state.
#[derive(Debug)]
pub struct FakeRelay {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeRelay {
    pub async fn start() -> Self {
        Self::start_on(0, Arc::new(Shared::default()), None).await
    }

    /// Serving TLS with `cert_pem`/`key_pem`.
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert_pem, key_pem));
        Self::start_on(0, Arc::new(Shared::default()), Some(tls)).await
    }

    /// Serving TLS with `cert_pem`/`key_pem` and requiring a client certificate issued by
    /// `client_ca_pem` (Cilium's relay with mutual TLS on).
    pub async fn start_mtls(cert_pem: &str, key_pem: &str, client_ca_pem: &str) -> Self {
        let tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert_pem, key_pem))
            .client_ca_root(tonic::transport::Certificate::from_pem(client_ca_pem));
        Self::start_on(0, Arc::new(Shared::default()), Some(tls)).await
    }

    async fn start_on(
        port: u16,
        shared: Arc<Shared>,
        tls: Option<tonic::transport::ServerTlsConfig>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = ObserverServer::new(Service(shared.clone()));
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).unwrap();
        }
        let task = tokio::spawn(async move {
            let _ = builder
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async move {
                        let _ = stopped.await;
                    },
                )
                .await;
        });
        Self {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `host:port` for `HUBBLE_RELAY_ADDR`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Takes the server down (listener closed, connections told to go away).
    pub async fn stop(&mut self) {
        // Live streams would hold a graceful shutdown open: end them first.
        self.shared.followers.lock().unwrap().clear();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(STOP_DEADLINE, task)
                .await
                .expect("fake relay stopped")
                .unwrap();
        }
    }

    /// A new server on the same port, same flows and records.
    pub async fn restart(&mut self) {
        self.stop().await;
        *self = Self::start_on(self.addr.port(), self.shared.clone(), None).await;
    }

    pub fn store(&self, flows: impl IntoIterator<Item = Flow>) {
        self.shared.stored.lock().unwrap().extend(flows);
    }

    /// Sends `flow` to every follower still connected whose request selects it; how many got it.
    pub async fn push(&self, flow: Flow) -> usize {
        let followers: Vec<Follower> = self.shared.followers.lock().unwrap().clone();
        let mut sent = 0;
        for (req, f) in followers {
            if filter::selects(&req, &flow) && f.send(Ok(response(flow.clone()))).await.is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// Follow streams generate flows without end (see [`flow`]), for slow-client tests.
    pub fn set_endless(&self, on: bool) {
        self.shared.endless.store(on, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<GetFlowsRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn open_streams(&self) -> usize {
        self.shared.open_streams.load(Ordering::SeqCst)
    }
}

impl Drop for FakeRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The current time in whole seconds since the Unix epoch.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The endpoint of pod `pod` in `namespace`, labelled as a `component` Deployment's pod.
pub fn endpoint(namespace: &str, pod: &str, component: &str) -> Endpoint {
    Endpoint {
        identity: 10_000 + u32::try_from(component.len()).unwrap_or(0),
        namespace: namespace.into(),
        pod_name: pod.into(),
        labels: vec![
            format!("k8s:app.kubernetes.io/component={component}"),
            format!("k8s:io.kubernetes.pod.namespace={namespace}"),
        ],
        workloads: vec![Workload {
            name: component.into(),
            kind: "Deployment".into(),
        }],
        ..Endpoint::default()
    }
}

/// A TCP flow from `src` to `dst` at second `at`.
pub fn tcp(src: Endpoint, dst: Endpoint, port: u32, verdict: Verdict, at: i64) -> Flow {
    Flow {
        time: Some(prost_types::Timestamp {
            seconds: at,
            nanos: 0,
        }),
        verdict: verdict as i32,
        drop_reason_desc: if verdict == Verdict::Dropped { 133 } else { 0 },
        l4: Some(Layer4 {
            protocol: Some(layer4::Protocol::Tcp(infra_api::hubble::proto::flow::Tcp {
                source_port: 40_000,
                destination_port: port,
            })),
        }),
        source: Some(src),
        destination: Some(dst),
        traffic_direction: TrafficDirection::Egress as i32,
        is_reply: Some(false),
        node_name: "node-1".into(),
        ..Flow::default()
    }
}

/// The `i`-th generated flow of endless mode, at second `at`: dashboard-`i` → mes-api-0 in
/// namespace `plant`.
pub fn flow(i: u32, at: i64) -> Flow {
    tcp(
        endpoint("plant", &format!("dashboard-{i}"), "dashboard"),
        endpoint("plant", "mes-api-0", "api"),
        8080,
        Verdict::Forwarded,
        at,
    )
}

//! The two ways infra-api reads flows: a bounded list (`GetFlows` until the relay ends the
//! stream) and a live stream handed to one HTTP client through a bounded buffer.

use prometheus::{IntCounter, IntGauge};
use tokio::sync::{mpsc, oneshot};
use tonic::Streaming;

use crate::hubble::proto::observer::get_flows_response::ResponseTypes;
use crate::hubble::proto::observer::{GetFlowsRequest, GetFlowsResponse};
use crate::hubble::row::FlowRow;
use crate::hubble::{Hubble, HubbleError};

#[derive(Debug, Default)]
pub struct FlowBatch {
    pub rows: Vec<FlowRow>,
    /// Events Hubble reported as lost (its buffers overflowed) while serving this request.
    pub lost_events: u64,
}

/// What the relay's stream carries that infra-api passes on.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Flow(Box<FlowRow>),
    Lost(u64),
}

fn item(resp: GetFlowsResponse) -> Option<Item> {
    match resp.response_types? {
        ResponseTypes::Flow(f) => Some(Item::Flow(Box::new(FlowRow::from_flow(&f)))),
        ResponseTypes::LostEvents(l) => Some(Item::Lost(l.num_events_lost)),
    }
}

/// A finished list request: every flow the relay sends until it closes the stream, within
/// the request timeout.
pub async fn collect(h: &Hubble, req: GetFlowsRequest) -> Result<FlowBatch, HubbleError> {
    let mut client = h.client()?;
    let cap = usize::try_from(req.number).unwrap_or(usize::MAX);
    let read = async {
        let mut stream = client
            .get_flows(req)
            .await
            .map_err(|s| h.failed(s))?
            .into_inner();
        let mut batch = FlowBatch::default();
        while let Some(resp) = stream.message().await.map_err(|s| h.failed(s))? {
            match item(resp) {
                Some(Item::Flow(row)) => batch.rows.push(*row),
                Some(Item::Lost(n)) => batch.lost_events += n,
                None => {}
            }
            // A relay that ignores `number` must not grow the answer without bound.
            if batch.rows.len() >= cap {
                break;
            }
        }
        Ok(batch)
    };
    tokio::time::timeout(h.options().request_timeout, read)
        .await
        .map_err(|_| h.timed_out())?
}

/// Why a live stream ended (sent as the last SSE event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The relay finished the call.
    RelayClosed,
    /// The relay went away or failed; the client may reconnect.
    Unavailable(String),
    /// The client fell `stream_buffer` flows behind and was dropped.
    SlowClient,
}

impl StreamEnd {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::RelayClosed => "relay_closed",
            Self::Unavailable(_) => "hubble_unavailable",
            Self::SlowClient => "slow_client",
        }
    }
}

/// A live stream for one client: flows in order, then why it ended.
#[derive(Debug)]
pub struct Live {
    pub items: mpsc::Receiver<Item>,
    pub end: oneshot::Receiver<StreamEnd>,
}

/// Metrics a live stream keeps.
#[derive(Debug, Clone)]
pub struct LiveMetrics {
    pub open: IntGauge,
    pub dropped: IntCounter,
}

struct Open(IntGauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Starts a follow call. The relay is read by its own task into a buffer of
/// `stream_buffer` flows: a client that does not keep up is dropped (never the relay stream
/// slowed down for everyone), and a client that goes away cancels the relay call.
pub fn follow(h: &Hubble, req: GetFlowsRequest, m: LiveMetrics) -> Result<Live, HubbleError> {
    let client = h.client()?;
    let permit = h.live_stream_permit()?;
    let (tx, rx) = mpsc::channel(h.options().stream_buffer.max(1));
    let (end_tx, end_rx) = oneshot::channel();
    m.open.inc();
    let open = Open(m.open);
    let hubble = h.clone();
    tokio::spawn(async move {
        let (_open, _permit) = (open, permit);
        let mut client = client;
        // Not bounded by a timeout: a relay may send its response headers only with the
        // first flow, which can be minutes away on a quiet namespace.
        let started = tokio::select! {
            r = client.get_flows(req) => r,
            () = tx.closed() => return,
        };
        let end = match started {
            Ok(resp) => pump(resp.into_inner(), &tx, &hubble, &m.dropped).await,
            Err(s) => Some(StreamEnd::Unavailable(hubble.failed(s).to_string())),
        };
        if let Some(end) = end {
            let _ = end_tx.send(end);
        }
        // Dropping the stream here cancels the call at the relay.
    });
    Ok(Live {
        items: rx,
        end: end_rx,
    })
}

/// `None` when the client went away (nobody to tell).
async fn pump(
    mut stream: Streaming<GetFlowsResponse>,
    tx: &mpsc::Sender<Item>,
    h: &Hubble,
    dropped: &IntCounter,
) -> Option<StreamEnd> {
    loop {
        let msg = tokio::select! {
            m = stream.message() => m,
            () = tx.closed() => return None,
        };
        let resp = match msg {
            Ok(Some(resp)) => resp,
            Ok(None) => return Some(StreamEnd::RelayClosed),
            Err(s) => return Some(StreamEnd::Unavailable(h.failed(s).to_string())),
        };
        let Some(item) = item(resp) else { continue };
        match tx.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                dropped.inc();
                tracing::info!("live flow stream dropped: the client is not keeping up");
                return Some(StreamEnd::SlowClient);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return None,
        }
    }
}

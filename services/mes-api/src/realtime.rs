//! Realtime fan-out through PostgreSQL, no extra broker. After an event commits, its handler
//! hands the event to this replica's publisher, which sends the events of the last few
//! milliseconds as NOTIFYs on `mes_events` in one small asynchronous-commit transaction. Every
//! replica LISTENs once and broadcasts to its WebSocket clients; a client that falls behind is
//! dropped, never waited for.
//!
//! Why not NOTIFY inside the event transaction: PostgreSQL serialises the commits of notifying
//! transactions behind one lock held across the WAL flush, which capped throughput at about one
//! event per fsync. Publishing after commit keeps "only committed work is announced"; an event
//! whose replica dies between commit and publish is not announced (clients reload on reconnect).

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use crate::auth::{self, Action, Permission, Resource};
use crate::error::ApiError;
use crate::state::AppState;

pub const CHANNEL: &str = "mes_events";
/// Messages a client may lag behind before it is dropped.
const CLIENT_BUFFER: usize = 4096;

/// Events waiting for the publisher; when full, new ones are dropped (writers never wait).
const PUBLISH_QUEUE: usize = 65_536;
/// How long the publisher gathers events before sending them.
const PUBLISH_EVERY: Duration = Duration::from_millis(20);
/// NOTIFY payloads must stay under 8000 bytes; events are packed as JSON arrays up to this.
const MAX_PAYLOAD: usize = 7_000;

#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<String>,
    outgoing: tokio::sync::mpsc::Sender<String>,
    pending: std::sync::Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<String>>>>,
}

impl Default for Hub {
    fn default() -> Self {
        let (outgoing, pending) = tokio::sync::mpsc::channel(PUBLISH_QUEUE);
        Self {
            tx: broadcast::channel(CLIENT_BUFFER).0,
            outgoing,
            pending: std::sync::Arc::new(std::sync::Mutex::new(Some(pending))),
        }
    }
}

impl Hub {
    /// Queues a committed event for every replica's clients. Never blocks.
    pub fn publish(&self, event: String) {
        if self.outgoing.try_send(event).is_err() {
            tracing::warn!("realtime publish queue full; an event was not announced");
        }
    }

    /// Sends queued events as batched NOTIFYs for the life of the process.
    pub fn spawn_publisher(&self, db: PgPool) {
        let Some(mut queue) = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(first) = queue.recv().await {
                batch.push(first);
                tokio::time::sleep(PUBLISH_EVERY).await;
                while let Ok(more) = queue.try_recv() {
                    batch.push(more);
                }
                let payloads = pack(&batch);
                batch.clear();
                if let Err(e) = notify(&db, &payloads).await {
                    if db.is_closed() {
                        return;
                    }
                    tracing::warn!(error = %e, lost = payloads.len(), "could not publish realtime events");
                }
            }
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.tx.subscribe()
    }

    /// LISTENs for the life of the process, reconnecting with back-off when the database goes
    /// away (events committed while disconnected are not replayed: clients reload on reconnect).
    pub fn spawn_listener(&self, db: PgPool) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            while !db.is_closed() {
                match listen(&db, &tx).await {
                    Ok(()) => delay = Duration::from_millis(200),
                    Err(_) if db.is_closed() => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "realtime listener lost; reconnecting");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        });
    }
}

/// Packs events into JSON arrays of at most [`MAX_PAYLOAD`] bytes.
fn pack(events: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::from("[");
    for e in events {
        if current.len() > 1 && current.len() + e.len() + 2 > MAX_PAYLOAD {
            current.push(']');
            out.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(e);
    }
    if current.len() > 1 {
        current.push(']');
        out.push(current);
    }
    out
}

async fn notify(db: &PgPool, payloads: &[String]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    // The events are already durable; their announcement need not wait for a flush.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
        .bind(CHANNEL)
        .bind(payloads)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

async fn listen(db: &PgPool, tx: &broadcast::Sender<String>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    // Closing the pool (shutdown, tests) ends the listener instead of keeping a connection.
    listener.ignore_pool_close_event(false);
    listener.listen(CHANNEL).await?;
    tracing::info!("realtime listener subscribed");
    loop {
        let n = listener.recv().await?;
        // No receivers is fine: nobody is watching.
        match serde_json::from_str::<Vec<serde_json::Value>>(n.payload()) {
            Ok(events) => {
                for e in events {
                    let _ = tx.send(e.to_string());
                }
            }
            Err(_) => {
                let _ = tx.send(n.payload().to_owned());
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Browsers cannot set headers on a WebSocket; they may pass the token here or as the first
    /// message instead.
    pub token: Option<String>,
}

/// `GET /ws/realtime`: authenticate (header, `?token=`, or first message), then stream events.
pub async fn ws(
    State(state): State<AppState>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let mut headers = headers;
    if let Some(token) = q.token.as_deref() {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| ApiError::unauthorized("INVALID_TOKEN", "malformed token"))?;
        headers.insert(axum::http::header::AUTHORIZATION, value);
    }
    let authed = if headers.contains_key(axum::http::header::AUTHORIZATION) {
        Some(authorize(&state, &headers).await?)
    } else {
        None
    };
    Ok(upgrade.on_upgrade(move |socket| session(state, socket, authed.is_some())))
}

async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let principal = auth::authenticate(state, headers).await?;
    if !state
        .access
        .allows(principal.role, Permission(Resource::Process, Action::Read))
    {
        return Err(ApiError::forbidden(
            "this role may not watch process events",
        ));
    }
    Ok(())
}

async fn session(state: AppState, mut socket: WebSocket, authed: bool) {
    if !authed {
        // The first message must be the token.
        let token = match tokio::time::timeout(Duration::from_secs(10), socket.recv()).await {
            Ok(Some(Ok(Message::Text(t)))) => t.trim().trim_start_matches("Bearer ").to_owned(),
            _ => return,
        };
        let mut headers = HeaderMap::new();
        let Ok(value) = format!("Bearer {token}").parse() else {
            return;
        };
        headers.insert(axum::http::header::AUTHORIZATION, value);
        if let Err(e) = authorize(&state, &headers).await {
            let _ = socket
                .send(Message::Text(
                    serde_json::json!({ "type": "error", "code": e.code })
                        .to_string()
                        .into(),
                ))
                .await;
            return;
        }
    }
    let mut rx = state.realtime.subscribe();
    let hello = serde_json::json!({ "type": "hello" }).to_string();
    if socket.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Ok(payload) => {
                    if socket.send(Message::Text(payload.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "dropping a slow realtime client");
                    let _ = socket
                        .send(Message::Close(Some(axum::extract::ws::CloseFrame { code: 1013, reason: "too slow; reconnect".into() })))
                        .await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_packed_into_bounded_json_arrays() {
        let events: Vec<String> = (0..500)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(40)))
            .collect();
        let packed = pack(&events);
        assert!(packed.len() > 1);
        let mut seen = Vec::new();
        for p in &packed {
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            let arr: Vec<serde_json::Value> = serde_json::from_str(p).unwrap_or_default();
            seen.extend(arr.into_iter().map(|v| v["n"].as_i64().unwrap_or(-1)));
        }
        assert_eq!(
            seen,
            (0..500).collect::<Vec<i64>>(),
            "every event once, in order"
        );
        assert!(pack(&[]).is_empty());
    }
}

//! Realtime fan-out: every committed event is a Postgres NOTIFY on `mes_events` (sent in the
//! event's own transaction, so only committed work is announced). Each replica LISTENs once and
//! broadcasts to its WebSocket clients; a client that falls behind is dropped, never waited for.

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

#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<String>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CLIENT_BUFFER).0,
        }
    }
}

impl Hub {
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

async fn listen(db: &PgPool, tx: &broadcast::Sender<String>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    // Closing the pool (shutdown, tests) ends the listener instead of keeping a connection.
    listener.ignore_pool_close_event(false);
    listener.listen(CHANNEL).await?;
    tracing::info!("realtime listener subscribed");
    loop {
        let n = listener.recv().await?;
        // No receivers is fine: nobody is watching.
        let _ = tx.send(n.payload().to_owned());
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

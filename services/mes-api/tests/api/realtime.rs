//! Realtime fan-out across replicas: a WebSocket client on one mes-api sees events committed
//! through another, within a second.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::TestApp;
use crate::production::data_for;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws, within: Duration) -> Value {
    loop {
        let msg = tokio::time::timeout(within, ws.next())
            .await
            .expect("no message in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// The next process event (the LOT and serials made just before may still be announced).
async fn next_process_event(ws: &mut Ws, within: Duration) -> Value {
    loop {
        let e = next_json(ws, within).await;
        if e["type"] == "process_event" {
            return e;
        }
    }
}

#[sqlx::test(migrations = false)]
async fn events_written_through_one_replica_reach_clients_of_another(db: PgPool) {
    let writer = TestApp::start(db.clone()).await;
    let reader = TestApp::start(db).await;
    writer.seed_line().await;
    let lot = writer.create_lot(1).await;
    let (_, b) = writer
        .post(
            &format!("/api/v1/lots/{lot}/serials"),
            &writer.admin,
            json!({ "quantity": 1 }),
        )
        .await;
    let sn = b["data"]["serials"][0].as_str().unwrap().to_owned();

    // Token as the first message (what browsers do).
    let url = reader.base.replace("http://", "ws://") + "/ws/realtime";
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Text(reader.admin.clone().into()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await["type"],
        "hello"
    );
    // Token in the query string.
    let url = format!(
        "{}/ws/realtime?token={}",
        reader.base.replace("http://", "ws://"),
        reader.admin
    );
    let (mut ws2, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(
        next_json(&mut ws2, Duration::from_secs(5)).await["type"],
        "hello"
    );

    let (s, _) = writer
        .post(
            "/api/v1/process/start",
            &writer.admin,
            json!({ "serial_number": sn, "process_code": "SPRING", "operator_id": "W1" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for ws in [&mut ws, &mut ws2] {
        let e = next_process_event(ws, Duration::from_secs(1)).await;
        assert_eq!(
            (
                e["type"].as_str(),
                e["event"].as_str(),
                e["serial_number"].as_str()
            ),
            (Some("process_event"), Some("started"), Some(sn.as_str()))
        );
    }
    let (s, _) = writer
        .post(
            "/api/v1/process/complete",
            &writer.admin,
            json!({ "serial_number": sn, "process_code": "SPRING", "is_pass": true,
               "process_specific_data": data_for("SPRING") }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let e = next_process_event(&mut ws, Duration::from_secs(1)).await;
    assert_eq!(
        (
            e["event"].as_str(),
            e["process_code"].as_str(),
            e["is_pass"].as_bool()
        ),
        (Some("completed"), Some("SPRING"), Some(true))
    );
}

#[sqlx::test(migrations = false)]
async fn realtime_refuses_unauthenticated_clients(db: PgPool) {
    let app = TestApp::start(db).await;
    let url = format!(
        "{}/ws/realtime?token=bogus",
        app.base.replace("http://", "ws://")
    );
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let url = app.base.replace("http://", "ws://") + "/ws/realtime";
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Text("not-a-token".into())).await.unwrap();
    let e = next_json(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(e["code"], "INVALID_TOKEN");
}

#[sqlx::test(migrations = false)]
async fn lot_and_serial_creation_are_announced(db: PgPool) {
    let writer = TestApp::start(db.clone()).await;
    let reader = TestApp::start(db).await;
    writer.seed_line().await;
    let url = format!(
        "{}/ws/realtime?token={}",
        reader.base.replace("http://", "ws://"),
        reader.admin
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(
        next_json(&mut ws, Duration::from_secs(5)).await["type"],
        "hello"
    );

    let lot = writer.create_lot(5).await;
    let e = next_json(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(
        (
            e["type"].as_str(),
            e["event"].as_str(),
            e["lot_number"].as_str(),
            e["line_code"].as_str()
        ),
        (
            Some("lot"),
            Some("lot_created"),
            Some(lot.as_str()),
            Some("L1")
        )
    );
    let (s, _) = writer
        .post(
            &format!("/api/v1/lots/{lot}/serials"),
            &writer.admin,
            json!({ "quantity": 2 }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let e = next_json(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(
        (
            e["event"].as_str(),
            e["lot_number"].as_str(),
            e["count"].as_u64()
        ),
        (Some("serials_created"), Some(lot.as_str()), Some(2))
    );
}

//! The Engine.IO upgrade at the packet level: the noop that releases a long-poll during an
//! upgrade goes to the polling transport only — never onto the new WebSocket, where a client
//! reading its next message after `2probe`, `5` would find `6` instead of its echo (the
//! official suite's "ignores HTTP requests with same sid after upgrade").

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use chorus::RawHandlers;
use common::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

async fn echo_server() -> SocketAddr {
    let server = chorus::Server::new(config());
    server.engine_io(
        "/engine.io/",
        RawHandlers::new().on_text(|conn, text| {
            conn.send_text(text);
        }),
    );
    start(server).await
}

async fn get(addr: SocketAddr, query: &str) -> HttpResponse {
    let request = format!(
        "GET /engine.io/?EIO=4&{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    http_request(addr, request.as_bytes()).await
}

async fn open_polling(addr: SocketAddr) -> String {
    let open = get(addr, "transport=polling").await.text();
    let open: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

/// Every text frame that arrives within `wait`.
async fn frames(ws: &mut Ws, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(wait, ws.next()).await {
        if let Message::Text(text) = msg {
            out.push(text.to_string());
        }
    }
    out
}

#[tokio::test]
async fn the_upgrade_noop_never_reaches_the_websocket() {
    let addr = echo_server().await;
    for _ in 0..10 {
        let sid = open_polling(addr).await;
        let mut ws = connect(
            addr,
            &format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"),
        )
        .await;
        ws.send(Message::text("2probe")).await.unwrap();
        ws.send(Message::text("5")).await.unwrap();
        // No long-poll was waiting: nothing but the probe's answer and the echo.
        ws.send(Message::text("4first")).await.unwrap();
        assert_eq!(
            frames(&mut ws, Duration::from_millis(100)).await,
            ["3probe", "4first"],
            "no noop on the WebSocket"
        );
        // A poll sent right after `5` is refused: the session is the WebSocket's now (one
        // that came in before the `5` was read waits up to 100 ms for the upgrade).
        let refused = get(addr, &format!("transport=polling&sid={sid}"))
            .await
            .status;
        assert_eq!(refused, 400);
        ws.send(Message::text("4hello")).await.unwrap();
        assert_eq!(
            frames(&mut ws, Duration::from_millis(100)).await,
            ["4hello"]
        );
    }
}

#[tokio::test]
async fn a_long_poll_waiting_during_the_upgrade_is_released_with_a_noop() {
    let addr = echo_server().await;
    let sid = open_polling(addr).await;
    let query = format!("transport=polling&sid={sid}");
    let waiting = tokio::spawn(async move { get(addr, &query).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "the long-poll waits for data");
    let mut ws = connect(
        addr,
        &format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"),
    )
    .await;
    ws.send(Message::text("2probe")).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "3probe");
    let released = tokio::time::timeout(TIMEOUT, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((released.status, released.text()), (200, "6".to_owned()));
    ws.send(Message::text("5")).await.unwrap();
    ws.send(Message::text("4hello")).await.unwrap();
    assert_eq!(
        frames(&mut ws, Duration::from_millis(200)).await,
        ["4hello"]
    );
}

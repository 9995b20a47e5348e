//! `/metrics` counts what each protocol's clients send and get: a raw, a native and a
//! Socket.IO client (over WebSocket and over long-polling) talk in one server, and the
//! per-protocol counters and gauges say what happened — each by its own count.

mod common;

use std::collections::HashMap;

use common::*;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The `/metrics` samples, by series.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn messages_bytes_and_connections_are_counted_by_protocol() {
    let server = chorus::Server::new(chorus::Config {
        raw_rooms: true,
        ..config()
    });
    chorus::builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;

    let mut raw = connect(addr, "/lobby").await;
    let (mut native, native_id) = native::connect(addr, "").await;
    assert_eq!(native::join(&mut native, 1, "lobby").await["ok"], true);
    let mut sio = socketio::connect(addr, "").await;
    assert_eq!(
        socketio::call(&mut sio, 1, json!(["join", "lobby"])).await["room"],
        "lobby"
    );

    // A raw message of 5 bytes, echoed to its sender: one in, one out.
    raw.send(Message::text("hello")).await.unwrap();
    assert_eq!(recv_text(&mut raw).await, "hello");
    // A native emit to the room: the native and Socket.IO members get it.
    send_json(
        &mut native,
        json!({"type": "emit", "rid": 2, "event": "chat", "data": "hi", "to": {"room": "lobby"}}),
    )
    .await;
    assert_eq!(native::reply(&mut native, 2).await["ok"], true);
    let event = socketio::event(&mut sio).await;
    assert_eq!(event[0], "chat");

    // A long-polling Socket.IO client: its packets are counted too.
    let open = http_raw(
        addr,
        &format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let body = "40";
    let posted = http_raw(
        addr,
        &format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(posted.starts_with("HTTP/1.1 200"), "{posted}");
    let polled = http_raw(
        addr,
        &format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(polled.contains("40{\"sid\""), "{polled}");

    let m = samples(&server.metrics_text());
    let get = |series: &str| {
        m.get(series)
            .copied()
            .unwrap_or_else(|| panic!("no {series}"))
    };
    assert_eq!(get("chorus_connections{protocol=\"raw\"}"), 1.0);
    assert_eq!(get("chorus_connections{protocol=\"native\"}"), 1.0);
    assert_eq!(
        get("chorus_connections{protocol=\"socketio\"}"),
        2.0,
        "two Engine.IO sessions"
    );
    assert_eq!(get("chorus_messages_received_total{protocol=\"raw\"}"), 1.0);
    assert_eq!(get("chorus_received_bytes_total{protocol=\"raw\"}"), 5.0);
    assert_eq!(get("chorus_messages_sent_total{protocol=\"raw\"}"), 1.0);
    assert_eq!(get("chorus_sent_bytes_total{protocol=\"raw\"}"), 5.0);
    // Native: join and emit in; hello, two replies and its own copy of the chat out.
    assert_eq!(
        get("chorus_messages_received_total{protocol=\"native\"}"),
        2.0
    );
    assert!(get("chorus_messages_sent_total{protocol=\"native\"}") >= 4.0);
    // Socket.IO: CONNECT and the join over WebSocket, the CONNECT over polling.
    assert!(get("chorus_messages_received_total{protocol=\"socketio\"}") >= 3.0);
    assert!(get("chorus_messages_sent_total{protocol=\"socketio\"}") >= 4.0);
    assert!(get("chorus_sent_bytes_total{protocol=\"socketio\"}") > 0.0);
    // The chat reached two recipients in namespace `/`; the raw message one in `raw`.
    assert!(get("chorus_deliveries_total{namespace=\"/\"}") >= 2.0);
    assert!(get("chorus_deliveries_total{namespace=\"raw\"}") >= 1.0);

    // To a socket's own room (socket.io's private message): one delivery, counted once.
    let before = get("chorus_deliveries_total{namespace=\"/\"}");
    server.io().to(&native_id).emit("dm", &"psst").unwrap();
    assert_eq!(native::event(&mut native).await.0, "dm");
    let m = samples(&server.metrics_text());
    assert_eq!(m["chorus_deliveries_total{namespace=\"/\"}"], before + 1.0);

    drop(raw);
    drop(native);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let m = samples(&server.metrics_text());
    assert_eq!(
        m["chorus_connections{protocol=\"raw\"}"], 0.0,
        "closed connections leave the gauge"
    );
    assert_eq!(m["chorus_connections{protocol=\"native\"}"], 0.0);
}

/// A store that fails its appends shows in the API's `stats` (and the admin page) and in
/// `/metrics`, and shows well again once it takes a batch.
#[tokio::test]
async fn a_failing_store_shows_in_stats_and_metrics() {
    let store = chorus_store::latch::LatchStore::new();
    let key = "traffic-test-key-0123456789";
    let server = chorus::Server::with_store(
        chorus::Config {
            api_keys: vec![key.into()],
            ..config()
        },
        store.clone(),
    )
    .unwrap();
    let addr = start(server.clone()).await;
    let stats = || async move {
        let body = r#"{}"#;
        let request = format!(
            "POST /api/stats HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let answer: serde_json::Value =
            serde_json::from_slice(&http_request(addr, request.as_bytes()).await.body).unwrap();
        answer["nodes"][0].clone()
    };
    let (mut ws, _) = native::connect(addr, "").await;
    assert_eq!(native::join(&mut ws, 1, "lobby").await["ok"], true);
    let say = |rid: u64| json!({"type": "emit", "rid": rid, "event": "chat", "data": rid, "to": {"room": "lobby"}});
    send_json(&mut ws, say(2)).await;
    assert_eq!(native::reply(&mut ws, 2).await["ok"], true);
    assert_eq!(stats().await["store_ok"], true);

    store.fail(true);
    send_json(&mut ws, say(3)).await;
    assert_eq!(
        native::reply(&mut ws, 3).await["ok"],
        false,
        "not acknowledged"
    );
    let node = stats().await;
    assert_eq!(
        (node["store_ok"].clone(), node["store_failures"].clone()),
        (json!(false), json!(1))
    );
    assert!(server
        .metrics_text()
        .contains("chorus_store_append_failures_total 1\n"));

    store.fail(false);
    send_json(&mut ws, say(4)).await;
    assert_eq!(native::reply(&mut ws, 4).await["ok"], true);
    assert_eq!(stats().await["store_ok"], true);
}

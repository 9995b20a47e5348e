//! A native-protocol (`/ws`) client, by hand: connect, requests and their replies, events.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::{connect as ws_connect, recv_json, send_json, Ws};

/// Connects to `/ws` with `query` (`""`, or `"?token=…"`); the socket and its connection
/// id, from the `hello`.
pub async fn connect(addr: SocketAddr, query: &str) -> (Ws, String) {
    let mut ws = ws_connect(addr, &format!("/ws{query}")).await;
    let hello = recv_json(&mut ws).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    let id = hello["id"].as_str().unwrap().to_owned();
    (ws, id)
}

/// The server's reply to request `rid`, skipping what comes before it.
pub async fn reply(ws: &mut Ws, rid: u64) -> Value {
    loop {
        let msg = recv_json(ws).await;
        if msg["type"] == "reply" && msg["rid"] == rid {
            return msg;
        }
    }
}

/// Joins `room` as request `rid`; the reply.
pub async fn join(ws: &mut Ws, rid: u64, room: &str) -> Value {
    send_json(ws, json!({"type": "join", "rid": rid, "room": room})).await;
    reply(ws, rid).await
}

/// The next event: its name and data, skipping other pushes.
pub async fn event(ws: &mut Ws) -> (String, Value) {
    loop {
        let msg = recv_json(ws).await;
        if msg["type"] == "event" {
            return (
                msg["event"].as_str().unwrap().to_owned(),
                msg["data"].clone(),
            );
        }
    }
}

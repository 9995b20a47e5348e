//! Socket.IO long-polling on a cluster without sticky sessions, through a real
//! `redis-server` started here: each request of one session goes to whichever node, as a
//! round-robin load balancer would send it — the handshake to one, the CONNECT and events
//! to the other, the long-poll to either, the WebSocket upgrade to the one that does not
//! hold the session — and the session works as if it had one node.

mod common;

use std::net::SocketAddr;

use chorus::{builtin, Config, Server};
use common::cluster::until;
use common::redis::Redis;
use common::*;
use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn node_config(redis: &Redis) -> Config {
    Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::None,
        presence_notices: false,
        ..config()
    }
}

async fn node(redis: &Redis) -> (Server, SocketAddr) {
    let server = Server::try_new(node_config(redis)).unwrap();
    builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;
    (server, addr)
}

const PATH: &str = "/socket.io/?EIO=4&transport=polling";

/// A long-polling GET of `sid` at `addr`; the packets of its payload.
async fn poll(addr: SocketAddr, sid: &str) -> Vec<String> {
    let request = format!("GET {PATH}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = http_request(addr, request.as_bytes()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.text().split('\x1e').map(str::to_owned).collect()
}

/// A POST of `packet` for `sid` at `addr`.
async fn post(addr: SocketAddr, sid: &str, packet: &str) {
    let request = format!(
        "POST {PATH}&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{packet}",
        packet.len()
    );
    let response = http_request(addr, request.as_bytes()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "ok");
}

/// Polls `sid` at the nodes in turn until a packet starting with `prefix` comes.
async fn poll_for(nodes: &[SocketAddr], sid: &str, prefix: &str) -> String {
    for round in 0..20 {
        for packet in poll(nodes[round % nodes.len()], sid).await {
            if packet.starts_with(prefix) {
                return packet;
            }
        }
    }
    panic!("no packet starting with {prefix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_session_is_served_by_any_node() {
    let redis = Redis::start();
    let (a, addr_a) = node(&redis).await;
    let (b, addr_b) = node(&redis).await;
    let (node_a, node_b) = (
        a.hub().cluster().unwrap().node(),
        b.hub().cluster().unwrap().node(),
    );
    until("each node knows where the other is", || {
        a.hub().cluster().unwrap().address_of(node_b).is_some()
            && b.hub().cluster().unwrap().address_of(node_a).is_some()
    })
    .await;

    // The handshake on a; everything else of the session on b, or on either.
    let open = http_request(
        addr_a,
        format!("GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await
    .text();
    let open: Value = serde_json::from_str(open.strip_prefix('0').expect(&open)).unwrap();
    let sid = open["sid"].as_str().unwrap().to_owned();
    post(addr_b, &sid, "40").await;
    let connected = poll_for(&[addr_b], &sid, "40").await;
    assert!(connected.starts_with("40{\"sid\":"), "{connected}");
    post(addr_b, &sid, r#"421["join","lobby"]"#).await;
    let joined = poll_for(&[addr_a, addr_b], &sid, "431").await;
    assert!(joined.contains("lobby"), "{joined}");

    // A native client on b and the polling socket share the room, both ways.
    let (mut native_b, _) = native::connect(addr_b, "").await;
    assert_eq!(native::join(&mut native_b, 1, "lobby").await["ok"], true);
    post(addr_b, &sid, r#"422["to","lobby","said","from polling"]"#).await;
    let (name, data) = native::event(&mut native_b).await;
    assert_eq!((name.as_str(), data), ("said", json!("from polling")));
    let emit = json!({"type": "emit", "rid": 2, "event": "said", "data": "to polling",
                      "to": {"room": "lobby"}});
    send_json(&mut native_b, emit).await;
    let said = poll_for(&[addr_b, addr_a], &sid, "42[\"said\"").await;
    assert!(said.contains("to polling"), "{said}");

    // The upgrade to a WebSocket reaches b, which tunnels it to a.
    let mut ws = connect(
        addr_b,
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
    )
    .await;
    ws.send(Message::text("2probe")).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "3probe");
    ws.send(Message::text("5")).await.unwrap();
    ws.send(Message::text(
        r#"423["to","lobby","said","over the tunnel"]"#,
    ))
    .await
    .unwrap();
    // (Its own "to polling" comes first: it was in the room it sent to.)
    assert_eq!(native::event(&mut native_b).await.1, json!("to polling"));
    assert_eq!(
        native::event(&mut native_b).await.1,
        json!("over the tunnel")
    );
    send_json(
        &mut native_b,
        json!({"type": "emit", "rid": 3, "event": "said", "data": "back through it",
               "to": {"room": "lobby"}}),
    )
    .await;
    loop {
        let text = recv_text(&mut ws).await;
        if text == "2" {
            ws.send(Message::text("3")).await.unwrap();
        } else if text.starts_with("42[\"said\"") {
            assert!(text.contains("back through it"), "{text}");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_of_no_live_node_is_unknown_not_forwarded() {
    let redis = Redis::start();
    let (_a, addr_a) = node(&redis).await;
    // A well-formed id naming a node nobody heard of.
    let sid = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY";
    let request = format!("GET {PATH}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = http_request(addr_a, request.as_bytes()).await;
    assert_eq!(response.status, 400);
    assert!(
        response.text().contains("Session ID unknown"),
        "{}",
        response.text()
    );
}

//! Several chorus servers as one, through a real `redis-server` (started here on a free
//! port): a room spans the nodes on every protocol, every node sees one order per room,
//! a connection is reached by id wherever it is, a node publishes each message once and
//! never again what it received, and a node whose broker goes away keeps serving its own
//! clients, then joins the cluster again when the broker is back.

mod common;

use std::net::SocketAddr;

use chorus::{builtin, Config, Server};
use common::cluster::until;
use common::native::{event, reply};
use common::redis::Redis;
use common::*;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

fn node_config(redis: &Redis) -> Config {
    Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::None,
        presence_notices: false,
        raw_rooms: true,
        ..config()
    }
}

/// A node on `redis`, serving, with the built-in Socket.IO events; returns once its link to
/// the broker is up.
async fn node(redis: &Redis) -> (Server, SocketAddr) {
    let server = Server::try_new(node_config(redis)).unwrap();
    builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;
    until("the broker link is up", || {
        server.hub().cluster().is_some_and(|c| c.is_up())
    })
    .await;
    (server, addr)
}

/// A native client of `addr`: its socket and its connection id.
async fn native(addr: SocketAddr) -> (Ws, String) {
    native::connect(addr, "").await
}

async fn join(ws: &mut Ws, rid: u64, room: &str) {
    assert_eq!(native::join(ws, rid, room).await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_spans_the_nodes_on_every_protocol() {
    let redis = Redis::start();
    let (a, addr_a) = node(&redis).await;
    let (_b, addr_b) = node(&redis).await;

    let (mut native_a, _) = native(addr_a).await;
    let (mut native_b, _) = native(addr_b).await;
    let mut sio_b = socketio::connect(addr_b, "").await;
    join(&mut native_a, 1, "lobby").await;
    join(&mut native_b, 1, "lobby").await;
    assert_eq!(
        socketio::call(&mut sio_b, 1, json!(["join", "lobby"])).await["room"],
        "lobby"
    );

    // A native client on one node, to the room: the other node's clients get it.
    let emit = json!({"type": "emit", "rid": 2, "event": "said", "data": "from a",
                      "to": {"room": "lobby", "except_self": true}});
    send_json(&mut native_a, emit).await;
    assert_eq!(reply(&mut native_a, 2).await["ok"], true);
    assert_eq!(event(&mut native_b).await, ("said".into(), json!("from a")));
    assert_eq!(
        socketio::event(&mut sio_b).await,
        [json!("said"), json!("from a")]
    );

    // A Socket.IO client on the other node, through the built-in `to`.
    let ack = socketio::call(&mut sio_b, 2, json!(["to", "lobby", "said", "from b"])).await;
    assert!(ack.get("error").is_none(), "{ack}");
    assert_eq!(event(&mut native_a).await, ("said".into(), json!("from b")));
    assert_eq!(event(&mut native_b).await, ("said".into(), json!("from b")));

    // The library on the first node.
    a.io().to("lobby").emit("said", &"from the server").unwrap();
    for ws in [&mut native_a, &mut native_b] {
        assert_eq!(event(ws).await, ("said".into(), json!("from the server")));
    }
    assert_eq!(
        socketio::event(&mut sio_b).await,
        [json!("said"), json!("from the server")]
    );

    // Raw clients of one room path, one on each node.
    let mut raw_a = connect(addr_a, "/chat").await;
    let mut raw_b = connect(addr_b, "/chat").await;
    until_members(&a, "/chat", 1).await;
    raw_a.send(Message::text("hello from a")).await.unwrap();
    assert_eq!(recv_text(&mut raw_b).await, "hello from a");
    assert_eq!(
        recv_text(&mut raw_a).await,
        "hello from a",
        "echo to sender"
    );
    raw_b.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(recv(&mut raw_a).await, Message::binary(vec![1, 2, 3]));
}

async fn until_members(server: &Server, room: &str, n: usize) {
    let ns = server.hub().get_namespace("raw").unwrap();
    until("raw members", || ns.room_len(room) >= n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_sees_one_order_per_room() {
    let redis = Redis::start();
    let (_a, addr_a) = node(&redis).await;
    let (_b, addr_b) = node(&redis).await;
    let (mut listen_a, _) = native(addr_a).await;
    let (mut listen_b, _) = native(addr_b).await;
    let (mut talk_a, _) = native(addr_a).await;
    let (mut talk_b, _) = native(addr_b).await;
    for ws in [&mut listen_a, &mut listen_b, &mut talk_a, &mut talk_b] {
        join(ws, 1, "lobby").await;
    }
    // Both talkers at once, without waiting for replies.
    const EACH: usize = 200;
    let send = |mut ws: Ws, who: &'static str| async move {
        for i in 0..EACH {
            let emit = json!({"type": "emit", "event": "n", "data": format!("{who}{i}"),
                              "to": {"room": "lobby", "except_self": true}});
            send_json(&mut ws, emit).await;
        }
        ws
    };
    let (talk_a, talk_b) = tokio::join!(send(talk_a, "a"), send(talk_b, "b"));
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    while seen_a.len() < 2 * EACH {
        seen_a.push(event(&mut listen_a).await.1);
    }
    while seen_b.len() < 2 * EACH {
        seen_b.push(event(&mut listen_b).await.1);
    }
    assert_eq!(seen_a, seen_b, "one order on both nodes");
    // Each talker's own messages in the order it sent them.
    for who in ["a", "b"] {
        let mine: Vec<_> = seen_a
            .iter()
            .filter(|v| v.as_str().unwrap().starts_with(who))
            .cloned()
            .collect();
        let sent: Vec<_> = (0..EACH).map(|i| json!(format!("{who}{i}"))).collect();
        assert_eq!(mine, sent);
    }
    drop((talk_a, talk_b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_reached_by_id_on_any_node_and_each_message_is_published_once() {
    let redis = Redis::start();
    let (a, addr_a) = node(&redis).await;
    let (b, addr_b) = node(&redis).await;
    let (mut alice, _) = native(addr_a).await;
    let (mut bob, bob_id) = native(addr_b).await;
    let before = redis.calls("publish");

    let emit = json!({"type": "emit", "rid": 1, "event": "psst", "data": 1,
                      "to": {"conn": bob_id}});
    send_json(&mut alice, emit).await;
    assert_eq!(reply(&mut alice, 1).await["ok"], true);
    assert_eq!(event(&mut bob).await, ("psst".into(), json!(1)));

    // To everyone, from the second node: both get it (the sender too, as on one node).
    let emit = json!({"type": "emit", "rid": 2, "event": "all", "data": 2, "to": {"all": true}});
    send_json(&mut bob, emit).await;
    // Delivered here as everywhere, then acknowledged.
    assert_eq!(event(&mut bob).await, ("all".into(), json!(2)));
    assert_eq!(reply(&mut bob, 2).await["result"]["delivered"], 1);
    assert_eq!(event(&mut alice).await, ("all".into(), json!(2)));

    // An emit to a socket of this node does not leave it.
    b.io().on_connection(|socket| {
        let _ = socket.emit("welcome", &"only here");
    });
    let (mut carol, _) = native(addr_b).await;
    assert_eq!(
        event(&mut carol).await,
        ("welcome".into(), json!("only here"))
    );

    // Two messages, two PUBLISHes: nobody published what it received.
    assert_eq!(redis.calls("publish") - before, 2);
    let published: u64 = [&a, &b]
        .iter()
        .map(|s| {
            s.hub()
                .cluster()
                .unwrap()
                .stats()
                .published
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    assert_eq!(published, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_its_broker_serves_its_own_clients_then_rejoins() {
    let redis = Redis::start();
    let port = redis.port;
    let (a, addr_a) = node(&redis).await;
    let (b, addr_b) = node(&redis).await;
    let (mut here, _) = native(addr_a).await;
    let (mut there, _) = native(addr_b).await;
    join(&mut here, 1, "lobby").await;
    join(&mut there, 1, "lobby").await;

    redis.kill();
    until("both links down", || {
        [&a, &b].iter().all(|s| !s.hub().cluster().unwrap().is_up())
    })
    .await;
    // The node's own room still works, for its own clients.
    let emit = json!({"type": "emit", "rid": 2, "event": "alone", "data": 1,
                      "to": {"room": "lobby"}});
    send_json(&mut here, emit).await;
    assert_eq!(event(&mut here).await, ("alone".into(), json!(1)));
    assert_eq!(reply(&mut here, 2).await["result"]["delivered"], 1);
    let metrics = http_raw(addr_a, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(metrics.contains("chorus_cluster_link_up 0"), "{metrics}");

    // The broker is back on the same port: both nodes subscribe again by themselves.
    let _redis = Redis::start_on(port);
    until("both links up again", || {
        [&a, &b].iter().all(|s| s.hub().cluster().unwrap().is_up())
    })
    .await;
    let emit = json!({"type": "emit", "rid": 3, "event": "together", "data": 2,
                      "to": {"room": "lobby"}});
    send_json(&mut here, emit).await;
    assert_eq!(event(&mut here).await, ("together".into(), json!(2)));
    assert_eq!(reply(&mut here, 3).await["ok"], true);
    assert_eq!(event(&mut there).await, ("together".into(), json!(2)));
}

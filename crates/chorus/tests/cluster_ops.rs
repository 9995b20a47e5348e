//! What the library does to sockets on every node of a cluster, with socket.io's names —
//! `fetch_sockets`, `sockets_join`, `sockets_leave`, `disconnect_sockets`, server-side
//! events with and without answers — through a real `redis-server` started here; and the
//! timeout when a node does not answer (a `chorus serve` process stopped with SIGSTOP).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use chorus::{ClusterError, Config, Server};
use common::cluster::{until, Process};
use common::redis::Redis;
use common::*;
use serde_json::{json, Value};

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
    let addr = start(server.clone()).await;
    (server, addr)
}

fn nodes_known(server: &Server) -> usize {
    server.hub().cluster().map_or(0, |c| c.nodes())
}

/// A native client named `name` of `addr`, in `rooms`.
async fn client(addr: SocketAddr, name: &str, rooms: &[&str]) -> Ws {
    let (mut ws, _) = native::connect(addr, &format!("?name={name}")).await;
    for (i, room) in rooms.iter().enumerate() {
        assert_eq!(native::join(&mut ws, i as u64 + 1, room).await["ok"], true);
    }
    ws
}

fn names(sockets: &[chorus::RemoteSocket]) -> BTreeSet<String> {
    sockets.iter().map(|s| s.name.to_string()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_acts_on_sockets_of_every_node() {
    let redis = Redis::start();
    let (a, addr_a) = node(&redis).await;
    let (b, addr_b) = node(&redis).await;
    let (c, addr_c) = node(&redis).await;
    until("every node knows the two others", || {
        [&a, &b, &c].iter().all(|s| nodes_known(s) == 2)
    })
    .await;
    let _ann = client(addr_a, "ann", &["lobby"]).await;
    let _bob = client(addr_b, "bob", &["lobby", "quiet"]).await;
    let mut cid = client(addr_c, "cid", &["lobby"]).await;
    let _dan = client(addr_c, "dan", &[]).await;

    // fetch_sockets: every node's, with their rooms and where they are.
    let io = a.io();
    let lobby = io.to("lobby").fetch_sockets().await.unwrap();
    assert_eq!(names(&lobby), set(&["ann", "bob", "cid"]));
    let bob = lobby.iter().find(|s| &*s.name == "bob").unwrap();
    assert_eq!(bob.node, Some(b.hub().cluster().unwrap().node()));
    assert!(bob.rooms.iter().any(|r| &**r == "quiet"));
    assert!(lobby.iter().any(|s| &*s.name == "ann" && s.node.is_none()));
    let everyone = io.fetch_sockets().await.unwrap();
    assert_eq!(names(&everyone), set(&["ann", "bob", "cid", "dan"]));
    let loud = io.to("lobby").except_room("quiet").fetch_sockets().await;
    assert_eq!(names(&loud.unwrap()), set(&["ann", "cid"]));

    // sockets_join / sockets_leave: the sockets of every node change rooms.
    assert_eq!(io.to("lobby").sockets_join("vip").await.unwrap(), 3);
    let vip = io.to("vip").fetch_sockets().await.unwrap();
    assert_eq!(names(&vip), set(&["ann", "bob", "cid"]));
    // cid, on node c, is really in the room: a message to it arrives.
    send_json(
        &mut cid,
        json!({"type": "emit", "rid": 9, "event": "said", "data": "in vip", "to": {"room": "vip"}}),
    )
    .await;
    assert_eq!(
        native::reply(&mut cid, 9).await["ok"],
        true,
        "cid is a member of vip"
    );
    assert_eq!(
        io.to("vip")
            .except_room("quiet")
            .sockets_leave("vip")
            .await
            .unwrap(),
        2
    );
    let vip = io.to("vip").fetch_sockets().await.unwrap();
    assert_eq!(names(&vip), set(&["bob"]));

    // Server-side events: the other servers' handlers, and their answers.
    for (server, name) in [(&b, "b"), (&c, "c")] {
        server.io().on_server_side(move |event, data| {
            Some(json!({"node": name, "event": event, "data": data}))
        });
    }
    let mut answers = io
        .server_side_emit_with_ack("ping", &json!({"n": 1}))
        .await
        .unwrap();
    answers.sort_by_key(|v| v["node"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        answers,
        [
            json!({"node": "b", "event": "ping", "data": {"n": 1}}),
            json!({"node": "c", "event": "ping", "data": {"n": 1}}),
        ]
    );
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let got = heard.clone();
    b.io().on_server_side(move |_, data| {
        got.lock().unwrap().push(data);
        None
    });
    io.server_side_emit("note", &json!("no answer wanted"))
        .unwrap();
    until("b hears the note", || !heard.lock().unwrap().is_empty()).await;

    // disconnect_sockets: the connections of every node close.
    assert_eq!(
        io.to("lobby")
            .except_room("quiet")
            .disconnect_sockets()
            .await
            .unwrap(),
        2
    );
    until("ann and cid are gone", || {
        a.hub()
            .get_namespace("/")
            .is_some_and(|ns| ns.room_len("lobby") == 0)
            && c.hub()
                .get_namespace("/")
                .is_some_and(|ns| ns.room_len("lobby") == 0)
    })
    .await;
    let lobby = io.to("lobby").fetch_sockets().await.unwrap();
    assert_eq!(names(&lobby), set(&["bob"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_answer_makes_the_call_time_out() {
    let redis = Redis::start();
    let (a, _addr_a) = node(&redis).await;
    let (other, _) = serve_binary(&[
        "--broker",
        &redis.url(),
        "--store",
        "none",
        "--chat-page",
        "false",
    ])
    .await;
    let mut other = Process(other);
    until("a knows the other node", || nodes_known(&a) == 1).await;
    // Frozen: alive a few seconds more as far as a knows, but silent.
    let pid = other.0.id().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    let asked = a
        .io()
        .to("lobby")
        .timeout(Duration::from_millis(300))
        .fetch_sockets()
        .await;
    other.kill();
    match asked {
        Err(ClusterError::Timeout { answered, expected }) => {
            assert_eq!((answered, expected), (0, 1));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

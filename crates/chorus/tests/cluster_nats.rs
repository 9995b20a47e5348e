//! Several chorus servers as one through a real `nats-server` (started here on a free port):
//! a room spans the nodes on every protocol, in one order per room; presence, the library's
//! calls on every node and long-polling without sticky sessions work as on Redis; and a
//! node whose NATS server goes away serves its own clients, then joins the cluster again.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use chorus::{builtin, Config, Server};
use common::cluster::{link_up, until};
use common::native::{event, reply};
use common::nats::Nats;
use common::*;
use serde_json::json;

fn node_config(nats: &Nats) -> Config {
    Config {
        broker: Some(nats.url()),
        store: chorus::config::StoreKind::None,
        presence_notices: false,
        ..config()
    }
}

/// A node on `nats`, with the built-in Socket.IO events; returns once its link is up.
async fn node(nats: &Nats) -> (Server, SocketAddr) {
    let server = Server::try_new(node_config(nats)).unwrap();
    builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;
    until("the broker link is up", || link_up(&server)).await;
    (server, addr)
}

async fn member(addr: SocketAddr, room: &str) -> Ws {
    let (mut ws, _) = native::connect(addr, "").await;
    assert_eq!(native::join(&mut ws, 1, room).await["ok"], true);
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_spans_the_nodes_in_one_order() {
    let nats = Nats::start();
    let (a, addr_a) = node(&nats).await;
    let (b, addr_b) = node(&nats).await;
    let mut listen_a = member(addr_a, "lobby").await;
    let mut listen_b = member(addr_b, "lobby").await;
    let mut sio_b = socketio::connect(addr_b, "").await;
    assert_eq!(
        socketio::call(&mut sio_b, 1, json!(["join", "lobby"])).await["room"],
        "lobby"
    );
    let talk_a = member(addr_a, "lobby").await;
    let talk_b = member(addr_b, "lobby").await;

    // Two talkers on two nodes at once: every listener sees one order.
    const EACH: usize = 100;
    let send = |mut ws: Ws, who: &'static str| async move {
        for i in 0..EACH {
            let emit = json!({"type": "emit", "event": "n", "data": format!("{who}{i}"),
                              "to": {"room": "lobby", "except_self": true}});
            send_json(&mut ws, emit).await;
        }
        ws
    };
    let (talk_a, talk_b) = tokio::join!(send(talk_a, "a"), send(talk_b, "b"));
    let (mut seen_a, mut seen_b, mut seen_sio) = (Vec::new(), Vec::new(), Vec::new());
    while seen_a.len() < 2 * EACH {
        seen_a.push(event(&mut listen_a).await.1);
    }
    while seen_b.len() < 2 * EACH {
        seen_b.push(event(&mut listen_b).await.1);
    }
    while seen_sio.len() < 2 * EACH {
        let args = socketio::event(&mut sio_b).await;
        if args[0] == "n" {
            seen_sio.push(args[1].clone());
        }
    }
    assert_eq!(seen_a, seen_b, "one order on both nodes");
    assert_eq!(seen_a, seen_sio, "whatever the protocol");
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

    // The library's calls and presence reach the other node through NATS too.
    until("the nodes know each other", || {
        [&a, &b]
            .iter()
            .all(|s| s.hub().cluster().unwrap().nodes() == 1)
    })
    .await;
    let names: BTreeSet<_> = a
        .io()
        .to("lobby")
        .fetch_sockets()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.node.is_some())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([false, true]),
        "sockets of both nodes"
    );
    // Both listeners and the Socket.IO client (the talkers have gone).
    until("presence across nodes", || {
        a.io().members("lobby").len() == 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_nats_serves_its_own_clients_then_rejoins() {
    let nats = Nats::start();
    let port = nats.port;
    let (a, addr_a) = node(&nats).await;
    let (b, addr_b) = node(&nats).await;
    let mut here = member(addr_a, "lobby").await;
    let mut there = member(addr_b, "lobby").await;

    nats.kill();
    until("both links down", || !link_up(&a) && !link_up(&b)).await;
    let emit = json!({"type": "emit", "rid": 2, "event": "alone", "data": 1,
                      "to": {"room": "lobby"}});
    send_json(&mut here, emit).await;
    assert_eq!(event(&mut here).await, ("alone".into(), json!(1)));
    assert_eq!(reply(&mut here, 2).await["ok"], true);

    // Back on the same port: both nodes reconnect and subscribe again by themselves.
    let _nats = Nats::start_on(port);
    until("both links up again", || link_up(&a) && link_up(&b)).await;
    let emit = json!({"type": "emit", "rid": 3, "event": "together", "data": 2,
                      "to": {"room": "lobby"}});
    send_json(&mut here, emit).await;
    assert_eq!(event(&mut here).await, ("together".into(), json!(2)));
    assert_eq!(event(&mut there).await, ("together".into(), json!(2)));
}

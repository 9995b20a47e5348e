//! A chorus node (the library) and a Node socket.io server with the official
//! `@socket.io/redis-adapter` on one real `redis-server`: what the chorus side asks of every
//! node — `fetch_sockets`, `sockets_join`, `server_side_emit_with_ack` — reaches the Node
//! server's sockets and handlers too. (The other direction, and broadcasts both ways, are in
//! `e2e/mixed-cluster.test.mjs`.) Needs Node and `e2e/node_modules` (`scripts/test.sh`
//! installs both before the Rust tests).

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chorus::{builtin, Config, Server};
use common::cluster::{until, Process};
use common::redis::Redis;
use common::*;
use serde_json::json;

fn e2e_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

async fn node_server(redis: &Redis) -> (Process, SocketAddr) {
    assert!(
        e2e_dir()
            .join("node_modules/@socket.io/redis-adapter")
            .exists(),
        "e2e/node_modules is missing: scripts/test.sh installs it (npm ci in e2e/)"
    );
    let port = free_port();
    let child = Command::new("node")
        .arg("cluster-node-server.mjs")
        .current_dir(e2e_dir())
        .env("PORT", port.to_string())
        .env("REDIS_URL", redis.url())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let server = Process(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "the Node server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, addr)
}

/// A chorus node on `redis` speaking the adapter's format, with the built-in events.
async fn chorus_node(redis: &Redis) -> (Server, SocketAddr) {
    let config = Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::None,
        socketio_adapter: Some("socket.io-redis".into()),
        presence_notices: false,
        ..config()
    };
    let chorus = Server::try_new(config).unwrap();
    builtin::install(&chorus.io(), true);
    let addr = start(chorus.clone()).await;
    (chorus, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chorus_side_asks_the_node_servers_too() {
    let redis = Redis::start();
    let (chorus, chorus_addr) = chorus_node(&redis).await;
    let (_node, node_addr) = node_server(&redis).await;

    // A socket on each side, both in "mixed".
    let mut on_node = socketio::connect(node_addr, "").await;
    let mut on_chorus = socketio::connect(chorus_addr, "").await;
    for ws in [&mut on_node, &mut on_chorus] {
        assert_eq!(
            socketio::call(ws, 1, json!(["join", "mixed"])).await["room"],
            "mixed"
        );
    }
    // The Node server is counted once it subscribed (its adapter counts the same way).
    let io = chorus.io();
    let mut sockets = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sockets.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the Node server's socket never listed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        sockets = io.to("mixed").fetch_sockets().await.unwrap_or_default();
    }
    assert_eq!(sockets.len(), 2, "{sockets:?}");
    let remote = sockets.iter().find(|s| s.node.is_some()).unwrap();
    assert!(remote.rooms.iter().any(|r| &**r == "mixed"), "{remote:?}");
    assert_eq!(remote.id.len(), 20, "a socket.io socket id: {remote:?}");

    // A server-side event reaches the Node server's handler; its answer comes back.
    let answers = io
        .server_side_emit_with_ack("ping", &json!(7))
        .await
        .unwrap();
    assert_eq!(answers, [json!({"node": "node", "n": 7})]);

    // sockets_join: the Node server's socket joins too, and hears the room.
    assert!(io.to("mixed").sockets_join("vip").await.is_ok());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        io.to("vip").emit("vip-only", &json!("welcome")).unwrap();
        let got = tokio::time::timeout(Duration::from_millis(300), async {
            loop {
                let args = socketio::event(&mut on_node).await;
                if args[0] == "vip-only" {
                    return args;
                }
            }
        })
        .await;
        if let Ok(args) = got {
            assert_eq!(args[1], "welcome");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Node socket never joined vip"
        );
    }
    until("the chorus socket is in vip too", || {
        chorus
            .hub()
            .get_namespace("/")
            .is_some_and(|ns| ns.room_len("vip") == 1)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_with_acks_gathers_the_node_servers_sockets_answers_too() {
    let redis = Redis::start();
    let (chorus, chorus_addr) = chorus_node(&redis).await;
    let (_node, node_addr) = node_server(&redis).await;
    let mut on_node = socketio::connect(node_addr, "").await;
    let mut on_chorus = socketio::connect(chorus_addr, "").await;
    for ws in [&mut on_node, &mut on_chorus] {
        assert_eq!(
            socketio::call(ws, 1, json!(["join", "vote"])).await["room"],
            "vote"
        );
    }
    let io = chorus.io();
    let deadline = Instant::now() + Duration::from_secs(10);
    while io
        .to("vote")
        .fetch_sockets()
        .await
        .unwrap_or_default()
        .len()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the Node server is never counted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let on_node = socketio::answer_next(on_node, "poll", json!("from node"));
    let on_chorus = socketio::answer_next(on_chorus, "poll", json!("from chorus"));

    // The Node server says how many of its sockets it asked, then each answer: the gather
    // completes as soon as both answered, well before its timeout.
    let started = Instant::now();
    let answers = io
        .to("vote")
        .timeout(Duration::from_secs(4))
        .emit_with_ack("poll", &json!("tea or coffee?"))
        .await
        .unwrap();
    let mut answers: Vec<serde_json::Value> = answers.iter().map(|a| a.parse().unwrap()).collect();
    answers.sort_by_key(|v| v.to_string());
    assert_eq!(answers, [json!("from chorus"), json!("from node")]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let (on_node, on_chorus) = (on_node.await.unwrap().0, on_chorus.await.unwrap().0);

    // Several arguments, one of them binary: both sides' sockets get them as they are.
    let on_node = socketio::answer_next(on_node, "poll", json!("node got it"));
    let on_chorus = socketio::answer_next(on_chorus, "poll", json!("chorus got it"));
    let question = chorus::Data::new(chorus::EventData::Args {
        args: serde_json::value::RawValue::from_string(
            r#"["which file?",{"_placeholder":true,"num":0}]"#.into(),
        )
        .unwrap(),
        attachments: vec![bytes::Bytes::from_static(&[0, 1, 255])],
    });
    let answers = io
        .to("vote")
        .timeout(Duration::from_secs(4))
        .emit_args_with_ack("poll", question)
        .await
        .unwrap();
    assert_eq!(answers.len(), 2);
    let (on_node, asked_on_node) = on_node.await.unwrap();
    let (on_chorus, asked_on_chorus) = on_chorus.await.unwrap();
    for asked in [asked_on_node, asked_on_chorus] {
        assert_eq!(
            asked,
            [
                json!("poll"),
                json!("which file?"),
                json!({"binary": [0, 1, 255]})
            ]
        );
    }
    // Both stay connected, and stop answering.
    let _still_here = (on_node, on_chorus);

    // Nobody answers now: the Node server's count came, its answer did not — incomplete,
    // with what came, once the wait is over.
    let silent = io
        .to("vote")
        .timeout(Duration::from_millis(500))
        .emit_with_ack("poll", &json!("again?"))
        .await;
    match silent {
        Err(chorus::GatherError::Incomplete {
            answers,
            expected,
            silent_nodes,
        }) => {
            assert!(answers.is_empty());
            assert_eq!((expected, silent_nodes), (2, 0), "both sides counted");
        }
        other => panic!("incomplete, not {other:?}"),
    }
}

/// A Socket.IO client of namespace `ns` at `addr`.
async fn connect_to(addr: SocketAddr, ns: &str) -> Ws {
    use futures::SinkExt;
    let mut ws = connect(addr, "/socket.io/?EIO=4&transport=websocket").await;
    assert!(recv_text(&mut ws).await.starts_with("0{"));
    ws.send(tokio_tungstenite::tungstenite::Message::text(format!(
        "40{ns},"
    )))
    .await
    .unwrap();
    let connected = socketio::recv(&mut ws).await;
    assert!(connected.starts_with(&format!("40{ns},{{")), "{connected}");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespace_is_shared_too() {
    let redis = Redis::start();
    let config = Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::None,
        socketio_adapter: Some("socket.io-redis".into()),
        presence_notices: false,
        ..config()
    };
    let chorus = Server::try_new(config).unwrap();
    let admin = chorus.of("/admin");
    admin.on_connection(|socket| {
        let _ = socket.join("staff");
    });
    let chorus_addr = start(chorus.clone()).await;
    let (_node, node_addr) = node_server(&redis).await;
    let _on_node = connect_to(node_addr, "/admin").await;
    let _on_chorus = connect_to(chorus_addr, "/admin").await;
    let mut staff = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while staff.len() < 2 {
        assert!(Instant::now() < deadline, "never both: {staff:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        staff = admin.to("staff").fetch_sockets().await.unwrap_or_default();
    }
    assert_eq!(
        staff.iter().filter(|s| s.node.is_some()).count(),
        1,
        "{staff:?}"
    );
}

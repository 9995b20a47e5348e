//! History across the nodes of a cluster, kept in the Redis server they share (`store =
//! "redis"`), started here on a free port: a room's stored messages get their offsets in
//! one place and reach every node in that order, each once; a node that could not hear the
//! broker for a while reads what it missed from the store; and a client whose node died —
//! `kill -9` of a real `chorus serve` — recovers on another node, over the native protocol
//! and over Socket.IO's connection-state recovery.

mod common;

use std::net::SocketAddr;

use chorus::{Config, Server};
use common::cluster::{link_up, until, Process};
use common::recovering::{said, Client};
use common::redis::Redis;
use common::*;
use serde_json::{json, Value};

fn node_config(redis: &Redis) -> Config {
    Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::Redis,
        presence_notices: false,
        ..config()
    }
}

/// A node on `redis` keeping history there; returns once its link to the broker is up.
async fn node(redis: &Redis) -> (Server, SocketAddr) {
    let server = Server::try_new(node_config(redis)).unwrap();
    let addr = start(server.clone()).await;
    until("the broker link is up", || link_up(&server)).await;
    (server, addr)
}

/// A native client of `addr` in `room`; its position there.
async fn member(addr: SocketAddr, room: &str) -> (Ws, Value) {
    let (mut ws, _) = native::connect(addr, "").await;
    let joined = native::join(&mut ws, 1, room).await;
    assert_eq!(joined["ok"], true, "{joined}");
    (ws, joined["position"].clone())
}

/// The next stored event: its data and offset, with its epoch.
async fn stored(ws: &mut Ws) -> (Value, u64, String) {
    loop {
        let msg = recv_json(ws).await;
        if msg["type"] == "event" {
            let offset = msg["offset"].as_u64().unwrap_or_else(|| panic!("{msg}"));
            let epoch = msg["epoch"].as_str().unwrap().to_owned();
            return (msg["data"].clone(), offset, epoch);
        }
    }
}

/// Emits `data` to `room` as request `rid`, without waiting for the reply.
async fn emit(ws: &mut Ws, rid: u64, room: &str, data: Value) {
    let emit = json!({"type": "emit", "rid": rid, "event": "said", "data": data,
                      "to": {"room": room}});
    send_json(ws, emit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_messages_have_one_numbering_and_one_order_on_every_node() {
    let redis = Redis::start();
    let (_a, addr_a) = node(&redis).await;
    let (_b, addr_b) = node(&redis).await;
    let (mut listen_a, pos_a) = member(addr_a, "lobby").await;
    let (mut listen_b, pos_b) = member(addr_b, "lobby").await;
    assert_eq!(pos_a, pos_b, "one stream, one position: {pos_a} {pos_b}");
    let (talk_a, _) = member(addr_a, "lobby").await;
    let (talk_b, _) = member(addr_b, "lobby").await;

    // Both talkers at once, without waiting for replies.
    const EACH: u64 = 100;
    let send = |mut ws: Ws, who: &'static str| async move {
        for i in 0..EACH {
            emit(&mut ws, 10 + i, "lobby", json!(format!("{who}{i}"))).await;
        }
        for i in 0..EACH {
            let reply = native::reply(&mut ws, 10 + i).await;
            assert_eq!(reply["ok"], true, "{reply}");
            assert!(
                reply["result"]["offset"].is_u64(),
                "acknowledged = stored: {reply}"
            );
        }
        ws
    };
    let (talk_a, talk_b) = tokio::join!(send(talk_a, "a"), send(talk_b, "b"));
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    for _ in 0..2 * EACH {
        seen_a.push(stored(&mut listen_a).await);
        seen_b.push(stored(&mut listen_b).await);
    }
    assert_eq!(seen_a, seen_b, "one order, one numbering on both nodes");
    let offsets: Vec<u64> = seen_a.iter().map(|(_, offset, _)| *offset).collect();
    let expected: Vec<u64> = (1..=2 * EACH).collect();
    assert_eq!(offsets, expected, "offsets without gap or repeat");
    for who in ["a", "b"] {
        let mine: Vec<Value> = seen_a
            .iter()
            .map(|(data, _, _)| data.clone())
            .filter(|v| v.as_str().unwrap().starts_with(who))
            .collect();
        let sent: Vec<Value> = (0..EACH).map(|i| json!(format!("{who}{i}"))).collect();
        assert_eq!(mine, sent, "each talker's order");
    }
    drop((talk_a, talk_b));
}

/// Emits `n` to `lobby` as request `rid`; returns once it is acknowledged.
async fn say(ws: &mut Ws, rid: u64, n: u64) {
    emit(ws, rid, "lobby", json!(n)).await;
    let reply = native::reply(ws, rid).await;
    assert_eq!(reply["ok"], true, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_could_not_hear_the_broker_reads_what_it_missed_from_the_store() {
    let redis = Redis::start();
    let (a, addr_a) = node(&redis).await;
    let (b, addr_b) = node(&redis).await;
    let (mut listen_a, _) = member(addr_a, "lobby").await;
    let (mut listen_b, _) = member(addr_b, "lobby").await;
    let (mut talk, _) = member(addr_a, "lobby").await;
    for n in 1..=3 {
        say(&mut talk, 10 + n, n).await;
    }

    // Both nodes lose their subscriptions, and may not subscribe again for now; messages
    // are still stored (and announced to nobody).
    assert_eq!(
        redis.command(&["ACL", "SETUSER", "default", "-subscribe"]),
        "+OK"
    );
    redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    until("both links are down", || !link_up(&a) && !link_up(&b)).await;
    for n in 4..=6 {
        say(&mut talk, 10 + n, n).await;
    }
    assert_eq!(
        redis.command(&["ACL", "SETUSER", "default", "+subscribe"]),
        "+OK"
    );
    until("both links are up", || link_up(&a) && link_up(&b)).await;
    for n in 7..=9 {
        say(&mut talk, 10 + n, n).await;
    }

    for listener in [&mut listen_a, &mut listen_b] {
        let mut got = Vec::new();
        for _ in 1..=9 {
            let (data, offset, _) = stored(listener).await;
            got.push((data.as_u64().unwrap(), offset));
        }
        let expected: Vec<(u64, u64)> = (1..=9).map(|n| (n, n)).collect();
        assert_eq!(got, expected, "every message once, in order, none missing");
    }
    for server in [&a, &b] {
        let arrivals = server.hub().publisher().unwrap().arrivals();
        let filled = arrivals.filled.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(filled, 3, "the three unheard messages came from the store");
        assert_eq!(arrivals.lost.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
    let metrics = http_raw(
        addr_b,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        metrics.contains("chorus_cluster_history_filled_total 3")
            && metrics.contains("chorus_cluster_history_lost_total 0"),
        "{metrics}"
    );
}

/// `chorus serve` as a node on `redis` keeping history there, with Socket.IO recovery on.
async fn serve_node(redis: &Redis) -> (Process, SocketAddr) {
    let url = redis.url();
    let (child, addr) =
        serve_binary(&["--broker", &url, "--store", "redis", "--chat-page", "false"]).await;
    (Process(child), addr)
}

/// Waits until the node at `addr` hears its broker: its link comes up just after it
/// listens, and a stored message is delivered only once the broker brings it back.
async fn settle(addr: SocketAddr) {
    let (mut probe, _) = member(addr, "probe").await;
    emit(&mut probe, 2, "probe", json!("ping")).await;
    // Its own message, back through the broker (the reply may come before or after).
    let _ = stored(&mut probe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_client_whose_node_was_killed_recovers_on_another_node() {
    let redis = Redis::start();
    let (mut node_a, addr_a) = serve_node(&redis).await;
    let (_node_b, addr_b) = serve_node(&redis).await;
    settle(addr_a).await;
    settle(addr_b).await;

    let (mut alice, _) = member(addr_a, "news").await;
    let (mut bob, _) = member(addr_b, "news").await;
    for n in 1..=2 {
        emit(&mut bob, 10 + n, "news", json!(n)).await;
        assert_eq!(native::reply(&mut bob, 10 + n).await["ok"], true);
    }
    let mut last = (0, String::new());
    for _ in 1..=2 {
        let (_, offset, epoch) = stored(&mut alice).await;
        last = (offset, epoch);
    }
    assert_eq!(last.0, 2);

    // Alice's node dies without a word; messages go on meanwhile, acknowledged.
    node_a.kill();
    for n in 3..=5 {
        emit(&mut bob, 10 + n, "news", json!(n)).await;
        assert_eq!(native::reply(&mut bob, 10 + n).await["ok"], true);
    }

    // Alice comes back through the other node with what she saw last.
    let (mut alice, _) = native::connect(addr_b, "").await;
    send_json(
        &mut alice,
        json!({"type": "join", "rid": 1, "room": "news",
               "since": {"epoch": last.1, "offset": last.0}}),
    )
    .await;
    let mut replayed = Vec::new();
    let joined = loop {
        let msg = recv_json(&mut alice).await;
        if msg["type"] == "event" {
            replayed.push((
                msg["data"].as_u64().unwrap(),
                msg["offset"].as_u64().unwrap(),
            ));
        } else if msg["type"] == "reply" && msg["rid"] == 1 {
            break msg;
        }
    };
    assert_eq!(joined["result"]["recovered"], true, "{joined}");
    assert_eq!(
        replayed,
        [(3, 3), (4, 4), (5, 5)],
        "exactly what she missed"
    );
    // And live again.
    emit(&mut bob, 20, "news", json!(6)).await;
    let (data, offset, _) = stored(&mut alice).await;
    assert_eq!((data, offset), (json!(6), 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socketio_client_whose_node_was_killed_recovers_its_session_on_another_node() {
    let redis = Redis::start();
    let (mut node_a, addr_a) = serve_node(&redis).await;
    let (_node_b, addr_b) = serve_node(&redis).await;
    settle(addr_a).await;
    settle(addr_b).await;

    let mut alice = Client::connect(addr_a, None).await;
    let mut bob = Client::connect(addr_b, None).await;
    alice.join("lobby").await;
    bob.join("lobby").await;
    bob.say("lobby", "seen").await;
    assert_eq!(said(&mut alice, 1).await, ["seen"]);
    let gone = alice.left();
    // Her session record (written by her node's publisher thread within milliseconds of
    // the join) names the room. A node that dies inside that window loses the join from
    // the record: docs/cluster.md says so.
    let key = format!("chorus:s:{}", gone.pid);
    until("alice's session record names the room", || {
        redis.command(&["GET", &key]).contains("lobby")
    })
    .await;

    // Alice's node dies; bob's messages are acknowledged (stored) meanwhile.
    node_a.kill();
    drop(alice);
    for text in ["while", "you", "were", "out"] {
        bob.say("lobby", text).await;
    }

    // socket.io-client reconnects — here, to the other node — with its pid and offset.
    let mut auth = json!({ "pid": gone.pid });
    auth["offset"] = json!(gone.offset.clone().expect("an offset"));
    let mut alice = Client::connect(addr_b, Some(auth)).await;
    assert_eq!(alice.sid, gone.sid, "the same socket id on another node");
    assert_eq!(said(&mut alice, 4).await, ["while", "you", "were", "out"]);
    // Back in the room, live, wherever the message comes from.
    bob.say("lobby", "welcome back").await;
    assert_eq!(said(&mut alice, 1).await, ["welcome back"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senders_stored_and_direct_messages_keep_its_order() {
    let redis = Redis::start();
    let (_a, addr_a) = node(&redis).await;
    let (_b, _addr_b) = node(&redis).await;
    let (mut talk, _) = member(addr_a, "lobby").await;
    let (mut listen, listener) = native::connect(addr_a, "").await;
    assert_eq!(native::join(&mut listen, 1, "lobby").await["ok"], true);

    // To the room (stored, its notice comes back through Redis), then straight to one of
    // this node's connections (no broker): the listener gets them in that order.
    const N: u64 = 50;
    for i in 0..N {
        emit(&mut talk, 100 + 2 * i, "lobby", json!(format!("room {i}"))).await;
        let direct = json!({"type": "emit", "rid": 101 + 2 * i, "event": "said",
                            "data": format!("direct {i}"), "to": {"conn": listener}});
        send_json(&mut talk, direct).await;
    }
    let mut got = Vec::new();
    while got.len() < 2 * N as usize {
        let msg = recv_json(&mut listen).await;
        if msg["type"] == "event" {
            got.push(msg["data"].as_str().unwrap().to_owned());
        }
    }
    let sent: Vec<String> = (0..N)
        .flat_map(|i| [format!("room {i}"), format!("direct {i}")])
        .collect();
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_that_needs_the_broker_is_refused_while_the_node_is_cut_off() {
    let redis = Redis::start();
    let (a, addr_a) = node(&redis).await;
    // Cut off from the broker (Redis itself still answers the store).
    assert_eq!(
        redis.command(&["ACL", "SETUSER", "default", "-subscribe"]),
        "+OK"
    );
    redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    until("the link is down", || !link_up(&a)).await;
    let (mut ws, _) = native::connect(addr_a, "").await;
    let join = json!({"type": "join", "rid": 1, "room": "fresh",
                      "since": {"epoch": "unknown", "offset": 0}});
    send_json(&mut ws, join.clone()).await;
    let refused = native::reply(&mut ws, 1).await;
    assert_eq!(
        refused["ok"], false,
        "told at once, not left waiting: {refused}"
    );
    // Back on the broker: the same join goes through.
    assert_eq!(
        redis.command(&["ACL", "SETUSER", "default", "+subscribe"]),
        "+OK"
    );
    until("the link is up", || link_up(&a)).await;
    let mut again = join;
    again["rid"] = json!(2);
    send_json(&mut ws, again).await;
    let joined = native::reply(&mut ws, 2).await;
    assert_eq!(joined["ok"], true, "{joined}");
}

/// A node on `redis` whose broker subscription lags 400 ms behind (its store commands do
/// not), with the built-in Socket.IO events.
async fn lagging_node(redis: &Redis) -> (Server, SocketAddr) {
    let lagging =
        common::cluster::lagging_subscriptions(redis.port, std::time::Duration::from_millis(400))
            .await;
    let config = Config {
        broker: Some(format!("redis://127.0.0.1:{lagging}")),
        ..node_config(redis)
    };
    let server = Server::try_new(config).unwrap();
    chorus::builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;
    until("the broker link is up", || link_up(&server)).await;
    (server, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_moves_to_a_node_lagging_behind_recovers_without_duplicates() {
    let redis = Redis::start();
    let (_a, addr_a) = node(&redis).await;
    // The second node hears the broker 400 ms late.
    let (_b, addr_b) = lagging_node(&redis).await;

    // Someone on the lagging node follows the room, so that node delivers it live.
    let (mut carol, _) = member(addr_b, "news").await;
    let (mut alice, _) = member(addr_a, "news").await;
    let (mut bob, _) = member(addr_a, "news").await;
    for n in 1..=5 {
        emit(&mut bob, 10 + n, "news", json!(n)).await;
        assert_eq!(native::reply(&mut bob, 10 + n).await["ok"], true);
    }
    let mut last = (0, String::new());
    for _ in 1..=5 {
        let (_, offset, epoch) = stored(&mut alice).await;
        last = (offset, epoch);
    }
    assert_eq!(last.0, 5);

    // At once, Alice moves to the lagging node with what she saw: it has not delivered
    // the last messages yet. She must not get them again, and is told she recovered.
    let (mut alice, _) = native::connect(addr_b, "").await;
    send_json(
        &mut alice,
        json!({"type": "join", "rid": 1, "room": "news",
               "since": {"epoch": last.1, "offset": last.0}}),
    )
    .await;
    let mut replayed = Vec::new();
    let joined = loop {
        let msg = recv_json(&mut alice).await;
        if msg["type"] == "event" {
            replayed.push(msg["offset"].as_u64().unwrap());
        } else if msg["type"] == "reply" && msg["rid"] == 1 {
            break msg;
        }
    };
    assert_eq!(joined["result"]["recovered"], true, "{joined}");
    assert_eq!(joined["result"]["position"]["offset"], 5, "{joined}");
    assert!(replayed.is_empty(), "nothing missed: {replayed:?}");
    emit(&mut bob, 20, "news", json!(6)).await;
    let (data, offset, _) = stored(&mut alice).await;
    assert_eq!(
        (data, offset),
        (json!(6), 6),
        "the next one, not an old one again"
    );
    // The lagging node did deliver everything to its own member, once, in order.
    let mut seen = Vec::new();
    while seen.len() < 6 {
        seen.push(stored(&mut carol).await.1);
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socketio_client_that_moves_to_a_node_lagging_behind_recovers_without_duplicates() {
    let redis = Redis::start();
    let a = Server::try_new(node_config(&redis)).unwrap();
    chorus::builtin::install(&a.io(), true);
    let addr_a = start(a.clone()).await;
    until("the broker link is up", || link_up(&a)).await;
    let (_b, addr_b) = lagging_node(&redis).await;

    // Someone on the lagging node follows the room.
    let mut carol = Client::connect(addr_b, None).await;
    carol.join("lobby").await;
    let mut alice = Client::connect(addr_a, None).await;
    let mut bob = Client::connect(addr_a, None).await;
    alice.join("lobby").await;
    bob.join("lobby").await;
    let key = format!("chorus:s:{}", alice.pid.clone().unwrap());
    until("alice's session record names the room", || {
        redis.command(&["GET", &key]).contains("lobby")
    })
    .await;
    for text in ["one", "two", "three"] {
        bob.say("lobby", text).await;
    }
    assert_eq!(said(&mut alice, 3).await, ["one", "two", "three"]);

    // At once, her connection drops and she comes back through the lagging node, which
    // may not have delivered those messages yet. (Taking the session over from her old
    // node is a round trip through the broker, behind them, which mostly closes that
    // window; the native test above opens it for sure.)
    let gone = alice.drop_connection();
    let mut auth = json!({ "pid": gone.pid });
    auth["offset"] = json!(gone.offset.clone().expect("an offset"));
    let mut alice = Client::connect(addr_b, Some(auth)).await;
    assert_eq!(alice.sid, gone.sid, "recovered: the same socket id");
    bob.say("lobby", "four").await;
    assert_eq!(
        said(&mut alice, 1).await,
        ["four"],
        "the next one, not an old one again"
    );
    assert_eq!(said(&mut carol, 4).await, ["one", "two", "three", "four"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_socketio_sessions_expire_after_their_lease() {
    let redis = Redis::start();
    // Recovery within 2 s: a connected client's record is leased for 2 s + 2 × 1 s,
    // renewed every second.
    let node = |redis: &Redis| {
        let url = redis.url();
        async move {
            let args = [
                "--broker",
                &url,
                "--store",
                "redis",
                "--chat-page",
                "false",
                "--socketio-recovery-secs",
                "2",
            ];
            let (child, addr) = serve_binary(&args).await;
            (Process(child), addr)
        }
    };
    let (mut node_a, addr_a) = node(&redis).await;
    let (_node_b, addr_b) = node(&redis).await;
    settle(addr_a).await;
    settle(addr_b).await;

    let mut alice = Client::connect(addr_a, None).await;
    alice.join("lobby").await;
    let pid = alice.pid.clone().unwrap();
    let key = format!("chorus:s:{pid}");
    let score = || -> u64 {
        let score = redis.command(&["ZSCORE", "chorus:sessions", &pid]);
        score
            .parse()
            .unwrap_or_else(|_| panic!("a finite expiry, not {score:?}"))
    };
    until("alice's record is written", || {
        redis.command(&["GET", &key]).contains("lobby")
    })
    .await;
    let first = score();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(score() > first, "renewed while she is connected");

    // Her node dies: nobody renews her record, which still lets her recover for the
    // recovery window, then expires.
    node_a.kill();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let last = score();
    assert!(
        last >= now() + 2000 - 100,
        "at least the recovery window from now"
    );
    while now() <= last {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(score(), last, "not renewed since");
    let gone = alice.left();
    let mut auth = json!({ "pid": gone.pid });
    if let Some(offset) = &gone.offset {
        auth["offset"] = json!(offset);
    }
    let again = Client::connect(addr_b, Some(auth)).await;
    assert_ne!(again.sid, gone.sid, "expired: a new session");
    // And the store's retention pass (every 10 s, on the live node) removes it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while redis.command(&["EXISTS", &key]) != ":0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the record was never removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

//! A slow disk stalls nothing but the messages that must wait for it: with an append stuck
//! in the history store (a store whose appends wait at a latch the test holds), a native
//! join to another room with history, a replay join, a room without history, and a plain
//! raw room all go on, on a two-worker runtime — no connection task ever waits on the store
//! or on a lock held across it. Then the stuck message is acknowledged with its offset.

mod common;

use chorus::config::HistoryRule;
use chorus::Server;
use chorus_store::latch::LatchStore;
use common::native::reply;
use common::*;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

async fn native(addr: std::net::SocketAddr) -> Ws {
    native::connect(addr, "").await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_waits_for_a_slow_append_but_what_must() {
    let store = LatchStore::new();
    let config = chorus::Config {
        raw_rooms: true,
        presence_notices: false,
        history: vec![HistoryRule {
            pattern: "plain*".into(),
            max_messages: Some(0),
            max_age_secs: None,
        }],
        ..config()
    };
    let server = Server::with_store(config, store.clone()).unwrap();
    let addr = start(server).await;

    let mut alice = native(addr).await;
    send_json(
        &mut alice,
        json!({"type": "join", "rid": 1, "room": "slow"}),
    )
    .await;
    assert_eq!(reply(&mut alice, 1).await["ok"], true);
    let mut bob = native(addr).await;
    send_json(&mut bob, json!({"type": "join", "rid": 1, "room": "other"})).await;
    assert_eq!(reply(&mut bob, 1).await["ok"], true);
    let to_other =
        json!({"type": "emit", "rid": 2, "event": "m", "data": 1, "to": {"room": "other"}});
    send_json(&mut bob, to_other).await;
    assert_eq!(reply(&mut bob, 2).await["result"]["offset"], 1);

    // The disk is stuck: alice's message to "slow" waits in the store.
    store.close();
    let stuck =
        json!({"type": "emit", "rid": 2, "event": "m", "data": "stuck", "to": {"room": "slow"}});
    send_json(&mut alice, stuck).await;
    let waiting = store.clone();
    tokio::task::spawn_blocking(move || waiting.wait_for_appends(2))
        .await
        .unwrap();

    // A join to a room with history that was never touched, and one that replays.
    let mut carol = native(addr).await;
    send_json(
        &mut carol,
        json!({"type": "join", "rid": 1, "room": "fresh"}),
    )
    .await;
    let joined = reply(&mut carol, 1).await;
    assert_eq!(joined["result"]["position"]["offset"], 0, "{joined}");
    let since = json!({"epoch": "lost-epoch", "offset": 0});
    send_json(
        &mut carol,
        json!({"type": "join", "rid": 2, "room": "other", "since": since}),
    )
    .await;
    let replayed = reply(&mut carol, 2).await;
    assert_eq!(replayed["result"]["position"]["offset"], 1, "{replayed}");

    // A room without history, across clients.
    let mut dave = native(addr).await;
    send_json(
        &mut dave,
        json!({"type": "join", "rid": 1, "room": "plain-1"}),
    )
    .await;
    reply(&mut dave, 1).await;
    send_json(
        &mut carol,
        json!({"type": "join", "rid": 3, "room": "plain-1"}),
    )
    .await;
    reply(&mut carol, 3).await;
    let hi = json!({"type": "emit", "rid": 4, "event": "hi", "data": 2, "to": {"room": "plain-1"}});
    send_json(&mut carol, hi).await;
    assert_eq!(reply(&mut carol, 4).await["result"]["delivered"], 2);
    let event = recv_json(&mut dave).await;
    assert_eq!(
        (event["type"].as_str(), event["event"].as_str()),
        (Some("event"), Some("hi"))
    );

    // A plain raw room.
    let mut raw = connect(addr, "/raw-room").await;
    raw.send(Message::text("echo")).await.unwrap();
    assert_eq!(recv_text(&mut raw).await, "echo");

    // All of that while the stuck message has still gone nowhere.
    assert_silent(&mut alice).await;

    store.open();
    let acked = reply(&mut alice, 2).await;
    assert_eq!(
        acked["result"]["offset"], 1,
        "acknowledged once stored: {acked}"
    );
}

//! Presence across the nodes of a cluster, through a real `redis-server` started here: a
//! room's members are every node's, joins and leaves are told on every node, a node that
//! starts late learns the members already there, and the members of a node killed with
//! SIGKILL disappear — with a leave notice — within the bound `docs/cluster.md` gives.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chorus::{Config, Server};
use chorus_core::cluster::{DEAD_AFTER, HEARTBEAT};
use common::cluster::{until, Process};
use common::redis::Redis;
use common::*;
use serde_json::{json, Value};

fn node_config(redis: &Redis) -> Config {
    Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::None,
        presence_notices: true,
        ..config()
    }
}

async fn node(redis: &Redis) -> (Server, SocketAddr) {
    let server = Server::try_new(node_config(redis)).unwrap();
    let addr = start(server.clone()).await;
    until("the broker link is up", || {
        server.hub().cluster().is_some_and(|c| c.is_up())
    })
    .await;
    (server, addr)
}

/// A native client named `name` of `addr`; its socket and connection id.
async fn client(addr: SocketAddr, name: &str) -> (Ws, String) {
    native::connect(addr, &format!("?name={name}")).await
}

/// The names in a member list.
fn names(members: &Value) -> BTreeSet<String> {
    members
        .as_array()
        .unwrap_or_else(|| panic!("a member list: {members}"))
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The next presence notice: its action and the member's name.
async fn notice(ws: &mut Ws) -> (String, String) {
    loop {
        let msg = recv_json(ws).await;
        if msg["type"] == "presence" {
            return (
                msg["action"].as_str().unwrap().to_owned(),
                msg["member"]["name"].as_str().unwrap().to_owned(),
            );
        }
    }
}

/// The next presence notice, if it comes before `deadline`.
async fn notice_by(ws: &mut Ws, deadline: Instant) -> (String, String) {
    use futures::StreamExt;
    loop {
        let next = tokio::time::timeout_at(deadline.into(), ws.next()).await;
        let msg = next.expect("a presence notice in time").unwrap().unwrap();
        let Ok(text) = msg.to_text() else { continue };
        let msg: Value = serde_json::from_str(text).unwrap_or_default();
        if msg["type"] == "presence" {
            return (
                msg["action"].as_str().unwrap().to_owned(),
                msg["member"]["name"].as_str().unwrap().to_owned(),
            );
        }
    }
}

/// The members of `room` as a native `presence` request (rid `rid`) sees them.
async fn presence(ws: &mut Ws, rid: u64, room: &str) -> BTreeSet<String> {
    send_json(ws, json!({"type": "presence", "rid": rid, "room": room})).await;
    let reply = native::reply(ws, rid).await;
    names(&reply["result"]["members"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_joins_and_leaves_are_the_clusters() {
    let redis = Redis::start();
    let (a, addr_a) = node(&redis).await;
    let (_b, addr_b) = node(&redis).await;

    let (mut ann, _) = client(addr_a, "ann").await;
    let joined = native::join(&mut ann, 1, "lobby").await;
    assert_eq!(names(&joined["result"]["members"]), set(&["ann"]));
    // Bob, on the other node, sees ann among the members; ann hears him join.
    let (mut bob, _) = client(addr_b, "bob").await;
    let joined = native::join(&mut bob, 1, "lobby").await;
    let mut members = names(&joined["result"]["members"]);
    for rid in 100..200 {
        if members.len() == 2 {
            break;
        }
        // Ann's join may still be on its way to node b: ask again.
        tokio::time::sleep(Duration::from_millis(20)).await;
        members = presence(&mut bob, rid, "lobby").await;
    }
    assert_eq!(members, set(&["ann", "bob"]));
    assert_eq!(
        notice(&mut ann).await,
        ("join".to_owned(), "bob".to_owned())
    );
    assert_eq!(presence(&mut ann, 2, "lobby").await, set(&["ann", "bob"]));
    // The library's view on node a, too.
    let members: BTreeSet<String> = a
        .io()
        .members("lobby")
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(members, set(&["ann", "bob"]));

    // Bob leaves (by leaving, then by closing): ann hears it, the list follows.
    send_json(
        &mut bob,
        json!({"type": "leave", "rid": 3, "room": "lobby"}),
    )
    .await;
    assert_eq!(native::reply(&mut bob, 3).await["ok"], true);
    assert_eq!(
        notice(&mut ann).await,
        ("leave".to_owned(), "bob".to_owned())
    );
    assert_eq!(presence(&mut ann, 4, "lobby").await, set(&["ann"]));
    assert_eq!(native::join(&mut bob, 5, "lobby").await["ok"], true);
    assert_eq!(
        notice(&mut ann).await,
        ("join".to_owned(), "bob".to_owned())
    );
    drop(bob);
    assert_eq!(
        notice(&mut ann).await,
        ("leave".to_owned(), "bob".to_owned())
    );

    // A node that starts now learns who is already there.
    let (_c, addr_c) = node(&redis).await;
    let (mut cid, _) = client(addr_c, "cid").await;
    let mut seen = BTreeSet::new();
    for attempt in 0..100 {
        let joined = native::join(&mut cid, 10 + attempt, "lobby").await;
        seen = names(&joined["result"]["members"]);
        if seen.contains("ann") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, set(&["ann", "cid"]));
}

async fn serve_node(redis: &Redis) -> (Process, SocketAddr) {
    let url = redis.url();
    let (child, addr) =
        serve_binary(&["--broker", &url, "--store", "none", "--chat-page", "false"]).await;
    (Process(child), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_members_of_a_killed_node_leave_within_the_bound() {
    let redis = Redis::start();
    let (_node_a, addr_a) = serve_node(&redis).await;
    let (mut node_b, addr_b) = serve_node(&redis).await;

    let (mut ann, _) = client(addr_a, "ann").await;
    assert_eq!(native::join(&mut ann, 1, "lobby").await["ok"], true);
    let (mut bob, _) = client(addr_b, "bob").await;
    let (mut eve, _) = client(addr_b, "eve").await;
    assert_eq!(native::join(&mut bob, 1, "lobby").await["ok"], true);
    assert_eq!(native::join(&mut eve, 1, "lobby").await["ok"], true);
    let mut joined = BTreeSet::new();
    while joined.len() < 2 {
        let (action, name) = notice(&mut ann).await;
        assert_eq!(action, "join");
        joined.insert(name);
    }
    assert_eq!(
        presence(&mut ann, 2, "lobby").await,
        set(&["ann", "bob", "eve"])
    );

    // Node b dies without a word. Its members leave within the documented bound (silent
    // for DEAD_AFTER, noticed at the next beat), with room for a busy machine.
    let _ = node_b.0.kill();
    let _ = node_b.0.wait();
    let deadline = Instant::now() + DEAD_AFTER + 2 * HEARTBEAT + Duration::from_secs(3);
    drop((bob, eve));
    let mut left = BTreeSet::new();
    while left.len() < 2 {
        let (action, name) = notice_by(&mut ann, deadline).await;
        assert_eq!(action, "leave");
        left.insert(name);
    }
    assert_eq!(left, set(&["bob", "eve"]));
    assert_eq!(presence(&mut ann, 3, "lobby").await, set(&["ann"]));
}

//! chorus nodes on a real Redis Cluster (three `redis-server` masters started here, one with
//! a replica): the broker finds the cluster by itself and uses sharded pub/sub, so the
//! chorus cluster's traffic stays on the shard that owns its channel; a room spans the
//! nodes in one order; the channel's master dying hands the channel to its replica and the
//! nodes subscribe again; the history store refuses a Redis Cluster with a clear message.

mod common;

use std::net::SocketAddr;

use chorus::{builtin, Config, Server};
use common::cluster::{link_up, until};
use common::native::event;
use common::redis::RedisCluster;
use common::*;
use serde_json::json;

/// The chorus cluster's channel (its slot names the shard that carries it).
const CHANNEL: &str = "chorus:cluster";

fn node_config(seed: String) -> Config {
    Config {
        broker: Some(seed),
        store: chorus::config::StoreKind::None,
        presence_notices: false,
        ..config()
    }
}

/// A node whose seed is `seed`, serving; returns once its link to the broker is up.
async fn node(seed: String) -> (Server, SocketAddr) {
    let server = Server::try_new(node_config(seed)).unwrap();
    builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;
    until("the broker link is up", || link_up(&server)).await;
    (server, addr)
}

async fn listener(addr: SocketAddr, room: &str) -> Ws {
    let (mut ws, _) = native::connect(addr, "").await;
    assert_eq!(native::join(&mut ws, 1, room).await["ok"], true);
    ws
}

/// Sends `n` messages to `room` from a fresh member of it on `addr`, without waiting
/// between.
async fn talk(addr: SocketAddr, room: &str, tag: &str, n: usize) -> Ws {
    let mut ws = listener(addr, room).await;
    for i in 0..n {
        let emit = json!({"type": "emit", "event": "n", "data": format!("{tag}{i}"),
                          "to": {"room": room, "except_self": true}});
        send_json(&mut ws, emit).await;
    }
    ws
}

async fn heard(ws: &mut Ws, n: usize) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    while seen.len() < n {
        seen.push(event(ws).await.1);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_a_redis_cluster_share_rooms_over_one_shard() {
    let redis = RedisCluster::start(CHANNEL, 0);
    // Each node knows a different master of the Redis Cluster: it finds the rest.
    let (_a, addr_a) = node(redis.masters[0].url()).await;
    let (_b, addr_b) = node(redis.masters[2].url()).await;
    let mut on_a = listener(addr_a, "lobby").await;
    let mut on_b = listener(addr_b, "lobby").await;

    const EACH: usize = 100;
    let (talk_a, talk_b) = tokio::join!(
        talk(addr_a, "lobby", "a", EACH),
        talk(addr_b, "lobby", "b", EACH)
    );
    let seen_a = heard(&mut on_a, 2 * EACH).await;
    let seen_b = heard(&mut on_b, 2 * EACH).await;
    assert_eq!(seen_a, seen_b, "one order on both nodes");
    for tag in ["a", "b"] {
        let mine: Vec<_> = seen_a
            .iter()
            .filter(|v| v.as_str().unwrap().starts_with(tag))
            .cloned()
            .collect();
        let sent: Vec<_> = (0..EACH).map(|i| json!(format!("{tag}{i}"))).collect();
        assert_eq!(mine, sent, "each sender's messages in its order, once");
    }
    drop((talk_a, talk_b));

    // Sharded: both nodes subscribe on the owner's shard channel, nobody to the classic
    // channel, and no other master carried a message.
    let owner = &redis.masters[redis.owner];
    let subscribers = raw_shardnumsub(owner.port);
    assert_eq!(subscribers, 2, "both nodes subscribe on the owning shard");
    let spublished = redis.calls("spublish");
    assert!(spublished[redis.owner] > 0, "{spublished:?}");
    for (i, calls) in spublished.iter().enumerate() {
        if i != redis.owner {
            assert_eq!(*calls, 0, "master {i} carried no message: {spublished:?}");
        }
    }
    assert!(
        redis.calls("publish").iter().all(|&n| n == 0),
        "no classic PUBLISH, which the cluster bus would copy to every node"
    );
}

/// `PUBSUB SHARDNUMSUB channel`'s count, read off the wire.
fn raw_shardnumsub(port: u16) -> u64 {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let args = ["PUBSUB", "SHARDNUMSUB", CHANNEL];
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    // *2, $len, channel, :count
    let mut line = String::new();
    for _ in 0..4 {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    line.trim().trim_start_matches(':').parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_s_master_dies_its_replica_takes_over_and_the_nodes_follow() {
    let mut redis = RedisCluster::start(CHANNEL, 1);
    let seed_a = (redis.owner + 1) % 3;
    let seed_b = (redis.owner + 2) % 3;
    let (a, addr_a) = node(redis.masters[seed_a].url()).await;
    let (b, addr_b) = node(redis.masters[seed_b].url()).await;
    let mut on_a = listener(addr_a, "lobby").await;
    let mut on_b = listener(addr_b, "lobby").await;
    let before = talk(addr_a, "lobby", "before", 1).await;
    assert_eq!(heard(&mut on_b, 1).await, [json!("before0")]);
    assert_eq!(heard(&mut on_a, 1).await, [json!("before0")]);
    drop(before);

    // kill -9 the master holding the channel: the replica is promoted within a few node
    // timeouts, the client follows the slot, subscribes again, and the probe says so.
    redis.masters.remove(redis.owner).kill();
    let promoted = &redis.replicas[0];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !promoted
        .command(&["INFO", "replication"])
        .contains("role:master")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica was never promoted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let linked = |server: &Server| {
        let server = server.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                // Down at some point (the connection closed), then up again on the new
                // master: a message crosses.
                if link_up(&server) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the link never came back"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    linked(&a).await;
    linked(&b).await;
    // Whatever was in flight while the master died may be gone (no history store): what is
    // sent once both links are up crosses, in order.
    let mut crossed = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !crossed {
        assert!(
            std::time::Instant::now() < deadline,
            "no message crossed after failover"
        );
        let after = talk(addr_a, "lobby", "after", 1).await;
        if let Ok((_, v)) =
            tokio::time::timeout(std::time::Duration::from_millis(500), event(&mut on_b)).await
        {
            crossed = v == json!("after0");
        }
        drop(after);
    }
    let spublished = promoted.calls("spublish");
    assert!(
        spublished > 0,
        "the promoted replica carries the channel now"
    );
    // The two nodes still see one order.
    let burst = talk(addr_b, "lobby", "burst", 20).await;
    let expect: Vec<_> = (0..20).map(|i| json!(format!("burst{i}"))).collect();
    assert_eq!(tagged(&mut on_a, "burst", 20).await, expect);
    assert_eq!(tagged(&mut on_b, "burst", 20).await, expect);
    drop(burst);
}

/// The next `n` events of `ws` whose data starts with `tag`, skipping others (late copies of
/// the messages sent while the link came back).
async fn tagged(ws: &mut Ws, tag: &str, n: usize) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let data = event(ws).await.1;
        if data.as_str().is_some_and(|s| s.starts_with(tag)) {
            seen.push(data);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_store_refuses_a_redis_cluster_clearly() {
    let redis = RedisCluster::start(CHANNEL, 0);
    let config = Config {
        store: chorus::config::StoreKind::Redis,
        ..node_config(redis.masters[0].url())
    };
    let err = Server::try_new(config).expect_err("a Redis Cluster is refused for history");
    let message = err.to_string();
    assert!(message.contains("Redis Cluster"), "{message}");
    assert!(message.contains("store = \"none\""), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_io_adapter_format_on_a_redis_cluster_leaves_the_node_cut_off_alone() {
    // Node socket.io servers on a Redis Cluster use the sharded adapter, another format:
    // the node says so in its log and serves its own clients, never half-joined.
    let redis = RedisCluster::start(CHANNEL, 0);
    let config = Config {
        socketio_adapter: Some("socket.io-redis".into()),
        ..node_config(redis.masters[0].url())
    };
    let server = Server::try_new(config).unwrap();
    builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;
    let mut ws = listener(addr, "lobby").await;
    let talker = talk(addr, "lobby", "alone", 3).await;
    assert_eq!(
        tagged(&mut ws, "alone", 3).await,
        [json!("alone0"), json!("alone1"), json!("alone2")],
        "its own clients are served"
    );
    assert!(!link_up(&server));
    assert!(redis.calls("spublish").iter().all(|&n| n == 0));
    assert!(redis.calls("ssubscribe").iter().all(|&n| n == 0));
    drop(talker);
}

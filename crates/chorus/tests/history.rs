//! Room history over the native protocol: offsets and epochs on every message of a room
//! that keeps history, acknowledged publishes, the `history` command, and recovery after a
//! reconnect — exactly the missed messages, in order, no gap and no duplicate, even while
//! others keep publishing.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use chorus::config::{HistoryRule, StoreKind};
use chorus::Config;
use common::*;
use serde_json::{json, Value};

/// A native client that keeps request ids apart from pushes.
struct Client {
    ws: Ws,
    rid: u64,
    /// Pushes that arrived while waiting for a reply.
    pushes: std::collections::VecDeque<Value>,
}

impl Client {
    async fn connect(addr: SocketAddr, name: &str) -> Self {
        let mut ws = connect(addr, &format!("/ws?name={name}")).await;
        let hello = recv_json(&mut ws).await;
        assert_eq!(hello["type"], "hello");
        Self {
            ws,
            rid: 0,
            pushes: Default::default(),
        }
    }

    /// Sends `cmd` and returns its reply's `result`; pushes in between are kept.
    async fn request(&mut self, mut cmd: Value) -> Value {
        self.rid += 1;
        cmd["rid"] = json!(self.rid);
        send_json(&mut self.ws, cmd).await;
        loop {
            let msg = recv_json(&mut self.ws).await;
            if msg["type"] == "reply" && msg["rid"] == self.rid {
                assert_eq!(msg["ok"], true, "{msg}");
                return msg["result"].clone();
            }
            self.pushes.push_back(msg);
        }
    }

    /// The next event push.
    async fn event(&mut self) -> Value {
        loop {
            let msg = match self.pushes.pop_front() {
                Some(msg) => msg,
                None => recv_json(&mut self.ws).await,
            };
            if msg["type"] == "event" {
                return msg;
            }
        }
    }

    async fn say(&mut self, room: &str, text: &str) -> Value {
        self.request(json!({"type":"emit","event":"chat","data":{"text":text},"to":{"room":room}}))
            .await
    }
}

fn history_config() -> Config {
    Config {
        store: StoreKind::Memory,
        ..config()
    }
}

#[tokio::test]
async fn messages_get_offsets_and_publishes_are_acknowledged_with_them() {
    let (_, addr) = start_with(history_config()).await;
    let mut alice = Client::connect(addr, "alice").await;
    let mut bob = Client::connect(addr, "bob").await;
    let joined = alice.request(json!({"type":"join","room":"lobby"})).await;
    assert_eq!(joined["position"]["offset"], 0);
    let epoch = joined["position"]["epoch"].as_str().unwrap().to_owned();
    assert!(!epoch.is_empty());
    bob.request(json!({"type":"join","room":"lobby"})).await;
    for i in 1..=3u64 {
        let ack = bob.say("lobby", &format!("m{i}")).await;
        assert_eq!(ack["offset"], i, "{ack}");
        assert_eq!(ack["epoch"], epoch.as_str());
        assert_eq!(ack["delivered"], 2);
        let event = alice.event().await;
        assert_eq!(event["offset"], i);
        assert_eq!(event["epoch"], epoch.as_str());
        assert_eq!(event["data"]["text"], format!("m{i}"));
        assert_eq!(event["from"]["name"], "bob");
    }
}

#[tokio::test]
async fn history_returns_the_last_messages_and_pages_after_a_position() {
    let (_, addr) = start_with(history_config()).await;
    let mut alice = Client::connect(addr, "alice").await;
    alice.request(json!({"type":"join","room":"news"})).await;
    for i in 1..=5 {
        alice.say("news", &format!("n{i}")).await;
    }
    let last = alice
        .request(json!({"type":"history","room":"news","limit":2}))
        .await;
    let texts: Vec<&str> = last["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["n4", "n5"]);
    assert_eq!(last["position"]["offset"], 5);
    assert_eq!(last["events"][0]["from"]["name"], "alice");
    assert!(last["events"][0]["time"].as_u64().unwrap() > 1_600_000_000_000);
    let epoch = last["position"]["epoch"].clone();
    let page = alice
        .request(
            json!({"type":"history","room":"news","after":{"epoch":epoch,"offset":1},"limit":2}),
        )
        .await;
    let offsets: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [2, 3]);
    assert_eq!(page["truncated"], false);
    // Another epoch: nothing to page through, and the reply says so.
    let other = alice
        .request(json!({"type":"history","room":"news","after":{"epoch":"nope","offset":1}}))
        .await;
    assert_eq!(other["events"], json!([]));
    assert_eq!(other["truncated"], true);
}

#[tokio::test]
async fn a_reconnecting_client_gets_exactly_what_it_missed_then_live_messages() {
    let (_, addr) = start_with(history_config()).await;
    let mut alice = Client::connect(addr, "alice").await;
    let mut bob = Client::connect(addr, "bob").await;
    alice.request(json!({"type":"join","room":"lobby"})).await;
    bob.request(json!({"type":"join","room":"lobby"})).await;
    bob.say("lobby", "before").await;
    let seen = alice.event().await;
    let since = json!({"epoch": seen["epoch"], "offset": seen["offset"]});
    drop(alice);
    for i in 1..=3 {
        bob.say("lobby", &format!("missed {i}")).await;
    }
    let mut alice = Client::connect(addr, "alice").await;
    let joined = alice
        .request(json!({"type":"join","room":"lobby","since":since}))
        .await;
    assert_eq!(joined["recovered"], true, "{joined}");
    assert_eq!(joined["replayed"], 3);
    assert_eq!(joined["position"]["offset"], 4);
    // The replay came before the reply, in order.
    let replayed: Vec<(u64, String)> = alice
        .pushes
        .drain(..)
        .filter(|m| m["type"] == "event")
        .map(|m| {
            (
                m["offset"].as_u64().unwrap(),
                m["data"]["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        replayed,
        [
            (2, "missed 1".to_owned()),
            (3, "missed 2".to_owned()),
            (4, "missed 3".to_owned())
        ]
    );
    bob.say("lobby", "live").await;
    let live = alice.event().await;
    assert_eq!(live["offset"], 5);
    assert_eq!(live["data"]["text"], "live");
}

#[tokio::test]
async fn recovery_from_another_epoch_or_beyond_retention_says_so() {
    let config = Config {
        history_max_messages: 3,
        ..history_config()
    };
    let (_, addr) = start_with(config).await;
    let mut bob = Client::connect(addr, "bob").await;
    bob.request(json!({"type":"join","room":"r"})).await;
    let first = bob.say("r", "one").await;
    for i in 0..5 {
        bob.say("r", &format!("more {i}")).await;
    }
    let mut alice = Client::connect(addr, "alice").await;
    let joined = alice
        .request(json!({"type":"join","room":"r","since":{"epoch":first["epoch"],"offset":1}}))
        .await;
    assert_eq!(joined["recovered"], false, "{joined}");
    let mut carol = Client::connect(addr, "carol").await;
    let joined = carol
        .request(json!({"type":"join","room":"r","since":{"epoch":"another","offset":1}}))
        .await;
    assert_eq!(joined["recovered"], false);
    assert_eq!(joined["replayed"], 0);
    // Count retention: only the last 3 are kept.
    let kept = carol.request(json!({"type":"history","room":"r"})).await;
    assert_eq!(kept["events"].as_array().unwrap().len(), 3);
}

/// Recovery while the room is busy: a writer publishes without pause while a reader drops
/// and re-joins with `since` again and again; every offset arrives exactly once, in order.
#[tokio::test]
async fn recovery_under_concurrent_publishing_has_no_gap_and_no_duplicate() {
    let (_, addr) = start_with(history_config()).await;
    let mut writer = Client::connect(addr, "writer").await;
    writer.request(json!({"type":"join","room":"busy"})).await;
    const TOTAL: u64 = 300;
    let writing = tokio::spawn(async move {
        for i in 1..=TOTAL {
            writer.say("busy", &format!("w{i}")).await;
        }
    });
    let mut received: Vec<u64> = Vec::new();
    let mut since: Option<Value> = None;
    while received.last().copied().unwrap_or(0) < TOTAL {
        let mut reader = Client::connect(addr, "reader").await;
        let mut join = json!({"type":"join","room":"busy"});
        if let Some(since) = &since {
            join["since"] = since.clone();
        }
        let joined = reader.request(join).await;
        if since.is_some() {
            assert_eq!(joined["recovered"], true, "{joined}");
        } else {
            // First join: start from where the room is.
            received.extend(1..=joined["position"]["offset"].as_u64().unwrap());
        }
        // Read a few (replayed, then live), then drop the connection mid-stream.
        for _ in 0..25 {
            if received.last().copied().unwrap_or(0) >= TOTAL {
                break;
            }
            let event = tokio::time::timeout(Duration::from_secs(5), reader.event())
                .await
                .expect("an event");
            received.push(event["offset"].as_u64().unwrap());
            since = Some(json!({"epoch": event["epoch"], "offset": event["offset"]}));
        }
    }
    writing.await.unwrap();
    let expected: Vec<u64> = (1..=TOTAL).collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn rooms_without_history_have_no_offsets() {
    let config = Config {
        history: vec![HistoryRule {
            pattern: "tmp:*".into(),
            max_messages: Some(0),
            max_age_secs: None,
        }],
        ..history_config()
    };
    let (_, addr) = start_with(config).await;
    let mut alice = Client::connect(addr, "alice").await;
    let joined = alice.request(json!({"type":"join","room":"tmp:x"})).await;
    assert!(joined.get("position").is_none(), "{joined}");
    let ack = alice.say("tmp:x", "hi").await;
    assert!(ack.get("offset").is_none(), "{ack}");
    let event = alice.event().await;
    assert!(event.get("offset").is_none());
    let joined = alice.request(json!({"type":"join","room":"kept"})).await;
    assert_eq!(joined["position"]["offset"], 0);
}

/// Age retention, end to end on a real SQLite file: a room whose rule keeps messages for
/// one second loses them at the publisher's next retention pass (every 10 s), a recovering
/// client is told it cannot recover them, and a room under the default rule keeps its own.
#[tokio::test]
async fn age_retention_forgets_old_messages_and_recovery_says_so() {
    let dir = std::env::temp_dir().join(format!("chorus-age-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        store: StoreKind::Sqlite,
        data_dir: dir.clone(),
        history: vec![HistoryRule {
            pattern: "brief:*".into(),
            max_messages: None,
            max_age_secs: Some(1),
        }],
        ..config()
    };
    let (_, addr) = start_with(config).await;
    let mut bob = Client::connect(addr, "bob").await;
    bob.request(json!({"type":"join","room":"brief:news"}))
        .await;
    bob.request(json!({"type":"join","room":"lasting"})).await;
    let first = bob.say("brief:news", "soon gone").await;
    bob.say("brief:news", "also gone").await;
    bob.say("lasting", "kept").await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    loop {
        let page = bob
            .request(json!({"type":"history","room":"brief:news"}))
            .await;
        if page["events"].as_array().unwrap().is_empty() {
            // The stream's position survives its messages: offsets never go back.
            assert_eq!(page["position"]["offset"], 2, "{page}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "messages older than their room's max age were still there after 25 s: {page}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let kept = bob
        .request(json!({"type":"history","room":"lasting"}))
        .await;
    assert_eq!(kept["events"][0]["data"]["text"], "kept", "{kept}");

    let mut alice = Client::connect(addr, "alice").await;
    let joined = alice
        .request(
            json!({"type":"join","room":"brief:news","since":{"epoch":first["epoch"],"offset":0}}),
        )
        .await;
    assert_eq!(joined["recovered"], false, "{joined}");
    assert_eq!(joined["replayed"], 0, "{joined}");
    // Later messages are numbered on from where the stream was.
    let next = bob.say("brief:news", "fresh").await;
    assert_eq!(next["offset"], 3, "{next}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! "Acknowledged means recoverable", against the real binary and a real SQLite file: clients
//! publish with acks at a steady rate, the server is killed with SIGKILL, restarted on the
//! same data directory, and every acknowledged message is in history exactly once, in
//! order, and clients recover from their last position. Wiping the data directory changes
//! the epoch, and recovery says it failed.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// `chorus serve` with only the native protocol, over a SQLite store in `dir`.
async fn serve(dir: &Path) -> (Child, SocketAddr) {
    serve_sqlite(
        dir,
        &[
            "--chat-page",
            "false",
            "--raw-rooms",
            "false",
            "--socketio",
            "false",
        ],
    )
    .await
}

async fn client(addr: SocketAddr) -> Ws {
    let mut ws = connect(addr, "/ws").await;
    let hello = recv_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    ws
}

/// Sends `cmd` with `rid` and waits for its reply (events in between are skipped).
async fn request(ws: &mut Ws, rid: u64, mut cmd: Value) -> Value {
    cmd["rid"] = json!(rid);
    send_json(ws, cmd).await;
    loop {
        let msg = recv_json(ws).await;
        if msg["type"] == "reply" && msg["rid"] == rid {
            return msg;
        }
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill_and_clients_recover() {
    let dir = temp_dir("sigkill");
    let (mut server, addr) = serve(&dir).await;

    // Three publishers, each acknowledging every message before the next (a steady rate),
    // until the server is killed under them.
    let mut publishers = Vec::new();
    for p in 0..3 {
        publishers.push(tokio::spawn(async move {
            let mut ws = client(addr).await;
            let joined = request(&mut ws, 1, json!({"type":"join","room":"durable"})).await;
            assert_eq!(joined["ok"], true, "{joined}");
            let mut acked: Vec<(u64, String)> = Vec::new();
            let mut epoch = String::new();
            for i in 0.. {
                let text = format!("p{p}-{i}");
                let emit = json!({"type":"emit","event":"chat","data":{"text":text},"to":{"room":"durable"}});
                let rid = 2 + i;
                if common::send_json_try(&mut ws, {
                    let mut e = emit;
                    e["rid"] = json!(rid);
                    e
                })
                .await
                .is_err()
                {
                    break;
                }
                let reply = loop {
                    match common::recv_json_try(&mut ws).await {
                        Some(msg) if msg["type"] == "reply" && msg["rid"] == rid => break Some(msg),
                        Some(_) => continue,
                        None => break None,
                    }
                };
                let Some(reply) = reply else { break };
                assert_eq!(reply["ok"], true, "{reply}");
                epoch = reply["result"]["epoch"].as_str().unwrap().to_owned();
                acked.push((reply["result"]["offset"].as_u64().unwrap(), text));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (acked, epoch)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
    server.wait().unwrap();
    let mut acked = Vec::new();
    let mut epoch = String::new();
    for publisher in publishers {
        let (mine, e) = publisher.await.unwrap();
        assert!(!mine.is_empty(), "a publisher got no ack before the kill");
        if !e.is_empty() {
            epoch = e;
        }
        acked.extend(mine);
    }
    acked.sort();
    eprintln!("{} messages acknowledged before SIGKILL", acked.len());

    // Restart on the same directory: every acknowledged message is there, once, in order.
    let (mut server, addr) = serve(&dir).await;
    let mut ws = client(addr).await;
    // Page through the whole stream, from its start.
    let mut stored: Vec<(u64, String)> = Vec::new();
    let mut position = Value::Null;
    for rid in 1.. {
        let after = stored.last().map_or(0, |(o, _)| *o);
        let page = request(
            &mut ws,
            rid,
            json!({"type":"history","room":"durable","after":{"epoch":epoch,"offset":after},"limit":500}),
        )
        .await;
        let result = &page["result"];
        assert_eq!(
            result["position"]["epoch"],
            epoch.as_str(),
            "the epoch survives a restart"
        );
        assert_eq!(result["truncated"], false);
        position = result["position"].clone();
        let events = result["events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        stored.extend(events.iter().map(|e| {
            (
                e["offset"].as_u64().unwrap(),
                e["data"]["text"].as_str().unwrap().to_owned(),
            )
        }));
    }
    assert_eq!(stored.first().map(|(o, _)| *o), Some(1));
    assert!(
        stored.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "offsets have a gap or a duplicate"
    );
    let mut texts: Vec<&String> = stored.iter().map(|(_, t)| t).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), stored.len(), "a message is stored twice");
    for message in &acked {
        assert!(stored.contains(message), "acknowledged {message:?} is lost");
    }

    // A client recovers from the last acknowledged position: recovered, and it gets
    // whatever was stored after it.
    let last = acked.iter().map(|(o, _)| *o).max().unwrap();
    let joined = request(
        &mut ws,
        10_000,
        json!({"type":"join","room":"durable","since":{"epoch":epoch,"offset":last}}),
    )
    .await;
    assert_eq!(joined["result"]["recovered"], true, "{joined}");
    let end = position["offset"].as_u64().unwrap();
    assert_eq!(joined["result"]["replayed"], end - last);
    server.kill().unwrap();
    server.wait().unwrap();

    // Wipe the data directory: a new epoch, and recovery from the old one fails loudly.
    std::fs::remove_dir_all(&dir).unwrap();
    let (mut server, addr) = serve(&dir).await;
    let mut ws = client(addr).await;
    let joined = request(
        &mut ws,
        1,
        json!({"type":"join","room":"durable","since":{"epoch":epoch,"offset":last}}),
    )
    .await;
    assert_eq!(joined["result"]["recovered"], false, "{joined}");
    assert_ne!(joined["result"]["position"]["epoch"], epoch.as_str());
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

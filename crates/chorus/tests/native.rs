//! The native protocol at `/ws`, driven by a Rust WebSocket client: every command, its
//! reply, presence, and every error code, with the connection staying usable.

mod common;

use std::net::SocketAddr;

use chorus::Config;
use common::*;
use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Connects and reads the hello; returns the socket and its id.
async fn client(addr: SocketAddr, name: Option<&str>) -> (Ws, String) {
    let path = match name {
        Some(name) => format!("/ws?name={name}"),
        None => "/ws".to_owned(),
    };
    let mut ws = connect(addr, &path).await;
    let hello = recv_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["v"], 1);
    (ws, hello["id"].as_str().unwrap().to_owned())
}

/// Sends a command with `rid` and returns the matching reply, asserting that nothing else
/// arrived in between.
async fn request(ws: &mut Ws, mut cmd: Value, rid: u64) -> Value {
    cmd["rid"] = json!(rid);
    send_json(ws, cmd).await;
    let reply = recv_json(ws).await;
    assert_eq!(reply["type"], "reply", "{reply}");
    assert_eq!(reply["rid"], rid, "{reply}");
    reply
}

async fn ok(ws: &mut Ws, cmd: Value) -> Value {
    let reply = request(ws, cmd, 1).await;
    assert_eq!(reply["ok"], true, "{reply}");
    reply["result"].clone()
}

async fn err(ws: &mut Ws, cmd: Value) -> String {
    let reply = request(ws, cmd, 2).await;
    assert_eq!(reply["ok"], false, "{reply}");
    reply["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn hello_names_and_set() {
    let (_, addr) = start_with(config()).await;
    let mut ws = connect(addr, "/ws?name=%20alice%20").await;
    let hello = recv_json(&mut ws).await;
    assert_eq!(hello["name"], "alice");
    assert_eq!(hello["id"].as_str().unwrap().len(), 16);
    let (mut anon, _) = client(addr, None).await;
    let result = ok(
        &mut anon,
        json!({"type":"set","name":"bob","data":{"color":"teal"}}),
    )
    .await;
    assert_eq!(result["name"], "bob");
    assert_eq!(
        err(&mut anon, json!({"type":"set","name":""})).await,
        "bad_request"
    );
    assert_eq!(ok(&mut anon, json!({"type":"ping"})).await, json!({}));
}

#[tokio::test]
async fn rooms_presence_and_room_emits() {
    // Exact frames of rooms without history (offsets and acks after storing are
    // tests/history.rs's).
    let (_, addr) = start_with(Config {
        store: chorus::config::StoreKind::None,
        ..config()
    })
    .await;
    let (mut alice, alice_id) = client(addr, Some("alice")).await;
    let (mut bob, bob_id) = client(addr, Some("bob")).await;

    let joined = ok(&mut alice, json!({"type":"join","room":"lobby"})).await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 1);
    let joined = ok(&mut bob, json!({"type":"join","room":"lobby"})).await;
    let names: Vec<&str> = joined["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"alice") && names.contains(&"bob"),
        "{names:?}"
    );

    // "bob comes in"
    let notice = recv_json(&mut alice).await;
    assert_eq!(
        notice,
        json!({"type":"presence","room":"lobby","action":"join",
        "member":{"id":bob_id,"name":"bob","data":null}})
    );

    // To the room, sender included: the sender's copy is queued before its reply.
    send_json(
        &mut bob,
        json!({"type":"emit","rid":5,"event":"chat","data":{"text":"hi"},"to":{"room":"lobby"}}),
    )
    .await;
    let expected = json!({"type":"event","event":"chat","room":"lobby",
        "from":{"id":bob_id,"name":"bob"},"data":{"text":"hi"}});
    assert_eq!(recv_json(&mut alice).await, expected);
    assert_eq!(recv_json(&mut bob).await, expected);
    assert_eq!(
        recv_json(&mut bob).await,
        json!({"type":"reply","rid":5,"ok":true,"result":{"delivered":2}})
    );

    // To the room except the sender.
    let result = ok(
        &mut alice,
        json!({"type":"emit","event":"chat","data":"x","to":{"room":"lobby","except_self":true}}),
    )
    .await;
    assert_eq!(result["delivered"], 1);
    assert_eq!(recv_json(&mut bob).await["from"]["id"], alice_id);
    assert_silent(&mut alice).await;

    // Presence query.
    let presence = ok(&mut alice, json!({"type":"presence","room":"lobby"})).await;
    assert_eq!(presence["members"].as_array().unwrap().len(), 2);

    // Name change is announced.
    ok(&mut bob, json!({"type":"set","name":"robert"})).await;
    let update = recv_json(&mut alice).await;
    assert_eq!(update["action"], "update");
    assert_eq!(update["member"]["name"], "robert");

    // Leave: "bob leaves"
    assert_eq!(
        ok(&mut bob, json!({"type":"leave","room":"lobby"})).await["room"],
        "lobby"
    );
    let notice = recv_json(&mut alice).await;
    assert_eq!(notice["action"], "leave");
    assert_eq!(notice["member"]["id"], bob_id);
    assert_eq!(
        err(&mut bob, json!({"type":"leave","room":"lobby"})).await,
        "not_in_room"
    );

    // Disconnect is a leave too.
    ok(&mut bob, json!({"type":"join","room":"lobby"})).await;
    assert_eq!(recv_json(&mut alice).await["action"], "join");
    bob.close(None).await.unwrap();
    let notice = recv_json(&mut alice).await;
    assert_eq!(notice["action"], "leave");
}

#[tokio::test]
async fn emit_to_everyone_and_to_one_connection() {
    let (_, addr) = start_with(config()).await;
    let (mut a, a_id) = client(addr, Some("a")).await;
    let (mut b, b_id) = client(addr, Some("b")).await;
    let (mut c, _) = client(addr, Some("c")).await;

    send_json(
        &mut a,
        json!({"type":"emit","rid":1,"event":"all","data":1,"to":{"all":true}}),
    )
    .await;
    for ws in [&mut a, &mut b, &mut c] {
        let event = recv_json(ws).await;
        assert_eq!(event["event"], "all");
        assert_eq!(event["from"]["id"], a_id);
        assert!(event.get("room").is_none());
    }
    assert_eq!(recv_json(&mut a).await["result"]["delivered"], 3);
    let result = ok(
        &mut a,
        json!({"type":"emit","event":"others","to":{"all":true,"except_self":true}}),
    )
    .await;
    assert_eq!(result["delivered"], 2);
    assert_eq!(recv_json(&mut b).await["data"], Value::Null);
    assert_eq!(recv_json(&mut c).await["event"], "others");
    assert_silent(&mut a).await;

    let result = ok(
        &mut c,
        json!({"type":"emit","event":"dm","data":"psst","to":{"conn":b_id}}),
    )
    .await;
    assert_eq!(result["delivered"], 1);
    assert_eq!(recv_json(&mut b).await["data"], "psst");
    assert_silent(&mut a).await;
}

#[tokio::test]
async fn errors_have_codes_and_the_connection_stays_usable() {
    let (_, addr) = start_with(config()).await;
    let (mut ws, _) = client(addr, None).await;

    // Not JSON at all, without rid: an `error` push.
    ws.send(Message::text("{nope")).await.unwrap();
    let error = recv_json(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "bad_json");
    ws.send(Message::text("[1,2,3]")).await.unwrap();
    assert_eq!(recv_json(&mut ws).await["code"], "bad_json");

    assert_eq!(err(&mut ws, json!({"type":"fly"})).await, "unknown_type");
    assert_eq!(err(&mut ws, json!({"type":"join"})).await, "bad_request");
    assert_eq!(
        err(&mut ws, json!({"type":"join","room":""})).await,
        "bad_room"
    );
    assert_eq!(
        err(&mut ws, json!({"type":"join","room":5})).await,
        "bad_request"
    );
    assert_eq!(
        err(
            &mut ws,
            json!({"type":"emit","event":"x","to":{"room":"never-joined"}})
        )
        .await,
        "not_in_room"
    );
    assert_eq!(
        err(
            &mut ws,
            json!({"type":"emit","event":"x","to":{"conn":"0000000000000000"}})
        )
        .await,
        "no_such_conn"
    );
    assert_eq!(
        err(
            &mut ws,
            json!({"type":"emit","event":"x","to":{"conn":"garbage"}})
        )
        .await,
        "no_such_conn"
    );
    assert_eq!(
        err(&mut ws, json!({"type":"emit","event":"x"})).await,
        "unknown_event"
    );
    assert_eq!(
        err(&mut ws, json!({"type":"presence","room":"lobby"})).await,
        "not_in_room"
    );
    // Deeply nested JSON is refused before it reaches anyone's parser.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    ws.send(Message::text(format!(
        r#"{{"type":"emit","rid":3,"event":"x","to":{{"all":true}},"data":{deep}}}"#
    )))
    .await
    .unwrap();
    let reply = recv_json(&mut ws).await;
    assert_eq!(reply["error"]["code"], "bad_request", "{reply}");

    // Still usable.
    assert_eq!(ok(&mut ws, json!({"type":"ping"})).await, json!({}));
}

#[tokio::test]
async fn binary_events_keep_their_bytes() {
    let (_, addr) = start_with(config()).await;
    let (mut a, _) = client(addr, None).await;
    let (mut b, _) = client(addr, None).await;
    let header = br#"{"type":"emit","rid":9,"event":"file","to":{"all":true,"except_self":true}}"#;
    let mut frame = (header.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(header);
    frame.extend_from_slice(&[0, 1, 2, 255]);
    a.send(Message::binary(frame)).await.unwrap();
    let reply = recv_json(&mut a).await;
    assert_eq!(reply["result"]["delivered"], 1);
    match recv(&mut b).await {
        Message::Binary(bytes) => {
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            let head: Value = serde_json::from_slice(&bytes[4..4 + len]).unwrap();
            assert_eq!(head["event"], "file");
            assert_eq!(&bytes[4 + len..], &[0, 1, 2, 255]);
        }
        other => panic!("{other:?}"),
    }
    // A binary frame with a broken layout.
    a.send(Message::binary(vec![0, 0, 0, 50, b'{']))
        .await
        .unwrap();
    assert_eq!(recv_json(&mut a).await["code"], "bad_frame");
}

#[tokio::test]
async fn client_emits_can_be_forbidden() {
    let (_, addr) = start_with(Config {
        client_emits: false,
        ..config()
    })
    .await;
    let (mut ws, _) = client(addr, None).await;
    assert_eq!(
        err(
            &mut ws,
            json!({"type":"emit","event":"x","to":{"all":true}})
        )
        .await,
        "forbidden"
    );
}

#[tokio::test]
async fn presence_notices_can_be_turned_off() {
    let (_, addr) = start_with(Config {
        presence_notices: false,
        ..config()
    })
    .await;
    let (mut a, _) = client(addr, Some("ann")).await;
    let (mut b, _) = client(addr, Some("bob")).await;
    ok(&mut a, json!({"type":"join","room":"big"})).await;
    let joined = ok(&mut b, json!({"type":"join","room":"big"})).await;
    assert_eq!(joined["members"].as_array().unwrap().len(), 2);
    ok(&mut b, json!({"type":"set","name":"bobby"})).await;
    ok(&mut b, json!({"type":"leave","room":"big"})).await;
    // No join, update or leave notice reached ann; the members list still answers.
    assert_silent(&mut a).await;
    let members = ok(&mut a, json!({"type":"presence","room":"big"})).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn room_limit_per_connection() {
    let (_, addr) = start_with(Config {
        max_rooms_per_conn: 2,
        ..config()
    })
    .await;
    let (mut ws, _) = client(addr, None).await;
    ok(&mut ws, json!({"type":"join","room":"a"})).await;
    ok(&mut ws, json!({"type":"join","room":"b"})).await;
    ok(&mut ws, json!({"type":"join","room":"a"})).await;
    assert_eq!(
        err(&mut ws, json!({"type":"join","room":"c"})).await,
        "too_many_rooms"
    );
}

#[tokio::test]
async fn a_flood_does_not_cost_other_clients_a_message() {
    let (_, addr) = start_with(config()).await;
    let (mut quiet, _) = client(addr, Some("quiet")).await;
    let (mut noisy, _) = client(addr, Some("noisy")).await;
    ok(&mut quiet, json!({"type":"join","room":"r"})).await;
    ok(&mut noisy, json!({"type":"join","room":"r"})).await;
    let _ = recv_json(&mut quiet).await; // noisy's join notice
                                         // Garbage interleaved with real messages.
    for i in 0..200 {
        noisy.send(Message::text("garbage")).await.unwrap();
        send_json(
            &mut noisy,
            json!({"type":"emit","event":"n","data":i,"to":{"room":"r","except_self":true}}),
        )
        .await;
    }
    for i in 0..200 {
        let event = recv_json(&mut quiet).await;
        assert_eq!(event["data"], i);
    }
}

/// `Socket::emit_with_ack` on a native client: the push carries an `ack` number, the
/// client's `ack` command resolves the server's future; an unanswered one times out.
#[tokio::test]
async fn server_events_acknowledged_by_native_clients() {
    let (server, addr) = start_with(config()).await;
    let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    server.io().on_connection(move |socket| {
        let socket = socket.clone();
        let answers = answers_tx.clone();
        socket.clone().on("ask-me", move |_, _, _| {
            let socket = socket.clone();
            let answers = answers.clone();
            tokio::spawn(async move {
                let timeout = std::time::Duration::from_millis(500);
                let first = socket
                    .emit_with_ack("question", &json!({"n": 1}), timeout)
                    .await;
                let _ = answers.send(
                    first
                        .map(|d| d.json_text().unwrap_or("").to_owned())
                        .map_err(|e| e.to_string()),
                );
                let second = socket
                    .emit_with_ack("question", &json!({"n": 2}), timeout)
                    .await;
                let _ = answers.send(
                    second
                        .map(|d| d.json_text().unwrap_or("").to_owned())
                        .map_err(|e| e.to_string()),
                );
            });
        });
    });
    let (mut ws, _) = client(addr, None).await;
    send_json(&mut ws, json!({"type":"emit","event":"ask-me"})).await;
    let push = recv_json(&mut ws).await;
    assert_eq!(push["type"], "event", "{push}");
    assert_eq!(push["event"], "question");
    assert_eq!(push["data"], json!({"n": 1}));
    let ack = push["ack"].as_u64().expect("an ack number");
    send_json(
        &mut ws,
        json!({"type":"ack","ack":ack,"data":{"answer":42}}),
    )
    .await;
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), answers.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.unwrap(), r#"{"answer":42}"#);
    // The second question goes unanswered: the server's future fails with a timeout, and a
    // late answer is ignored without harm.
    let push = recv_json(&mut ws).await;
    assert_eq!(push["data"], json!({"n": 2}));
    let second = tokio::time::timeout(std::time::Duration::from_secs(5), answers.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(second.unwrap_err().contains("within the timeout"));
    send_json(
        &mut ws,
        json!({"type":"ack","ack":push["ack"],"data":"late"}),
    )
    .await;
    let pong = request(&mut ws, json!({"type":"ping"}), 9).await;
    assert_eq!(pong["ok"], true);
}

//! The server API (`POST /api/<method>`), as an application's backend calls it over HTTP:
//! keys, every call, its errors, and what connected clients — native and Socket.IO — see.

mod common;

use std::net::SocketAddr;

use chorus::Config;
use common::*;
use serde_json::{json, Value};

const KEY: &str = "test-api-key-0123456789";

fn api_config() -> Config {
    Config {
        api_keys: vec![KEY.into()],
        jwt_secret: Some(SECRET.into()),
        ..config()
    }
}

/// Calls `method` with `body` and key header `auth` (`None`: no key); status and JSON body.
async fn call_with(addr: SocketAddr, auth: Option<&str>, method: &str, body: &str) -> (u16, Value) {
    let auth = auth.map(|a| format!("{a}\r\n")).unwrap_or_default();
    let request = format!(
        "POST /api/{method} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = http_request(addr, request.as_bytes()).await;
    let value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| panic!("{method}: not JSON: {}", response.text()));
    (response.status, value)
}

async fn call(addr: SocketAddr, method: &str, body: Value) -> (u16, Value) {
    let auth = format!("Authorization: apikey {KEY}");
    call_with(addr, Some(&auth), method, &body.to_string()).await
}

/// Calls that must succeed: the result.
async fn ok(addr: SocketAddr, method: &str, body: Value) -> Value {
    let (status, value) = call(addr, method, body).await;
    assert_eq!(status, 200, "{method}: {value}");
    value
}

#[tokio::test]
async fn a_key_is_needed_and_without_keys_the_api_is_off() {
    let (_server, addr) = start_with(api_config()).await;
    for auth in [
        None,
        Some("Authorization: apikey wrong-key-0123456789"),
        Some("X-Other: x"),
    ] {
        let (status, body) = call_with(addr, auth, "info", "{}").await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    for auth in [
        format!("Authorization: apikey {KEY}"),
        format!("Authorization: Bearer {KEY}"),
        format!("X-API-Key: {KEY}"),
    ] {
        let (status, body) = call_with(addr, Some(&auth), "info", "{}").await;
        assert_eq!(status, 200, "{auth}: {body}");
        assert!(body["server"].as_str().unwrap().starts_with("chorus/"));
    }
    // Every call is a POST.
    let get = http_request(
        addr,
        format!("GET /api/info HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {KEY}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(get.status, 405);
    assert!(get.text().contains("method_not_allowed"), "{}", get.text());
    // The document needs no key.
    let doc = http_request(
        addr,
        format!("GET /api/openapi.json HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(doc.status, 200);
    let doc: Value = serde_json::from_slice(&doc.body).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["paths"]["/api/publish"]["post"].is_object());

    // Keys never show in the configuration's debug form (what a log would print).
    assert!(!format!("{:?}", api_config()).contains(KEY));

    let (_server, off) = start_with(config()).await;
    let (status, body) = call(off, "publish", json!({"room": "r", "event": "e"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("api_off"))
    );
}

#[tokio::test]
async fn a_published_message_reaches_native_and_socketio_clients_and_is_stored() {
    let (server, addr) = start_with(api_config()).await;
    chorus::builtin::install(&server.io(), true);
    let (mut native, _) = native::connect(addr, "").await;
    native::join(&mut native, 1, "news").await;
    let mut sio = socketio::connect(addr, "").await;
    assert_eq!(
        socketio::call(&mut sio, 1, json!(["join", "news"])).await["room"],
        "news"
    );

    let sent = ok(
        addr,
        "publish",
        json!({"room": "news", "event": "headline", "data": {"title": "hi"}}),
    )
    .await;
    assert_eq!(sent["delivered"], 2);
    assert_eq!(sent["offset"], 1);
    let epoch = sent["epoch"].as_str().unwrap().to_owned();

    assert_eq!(
        native::event(&mut native).await,
        ("headline".into(), json!({"title": "hi"}))
    );
    let got = socketio::event(&mut sio).await;
    assert_eq!(&got[..2], [json!("headline"), json!({"title": "hi"})]);

    // Stored: the history has it, and a client that saw nothing recovers it.
    let page = ok(addr, "history", json!({"room": "news"})).await;
    assert_eq!(page["events"][0]["event"], "headline");
    assert_eq!(page["events"][0]["offset"], 1);
    assert_eq!(page["position"]["epoch"], epoch.as_str());
    let (mut late, _) = native::connect(addr, "").await;
    send_json(
        &mut late,
        json!({"type": "join", "rid": 1, "room": "news", "since": {"epoch": epoch, "offset": 0}}),
    )
    .await;
    assert_eq!(native::event(&mut late).await.0, "headline");
    assert_eq!(
        native::reply(&mut late, 1).await["result"]["recovered"],
        true
    );
}

#[tokio::test]
async fn bad_requests_get_their_status_and_code_and_the_server_stays_up() {
    let config = Config {
        max_message_size: 1024,
        ..api_config()
    };
    let (_server, addr) = start_with(config).await;
    let auth = format!("X-API-Key: {KEY}");
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("publish", "{not json".into(), 400, "bad_json"),
        ("publish", "[1,2]".into(), 400, "bad_json"),
        ("publish", "\u{0}".into(), 400, "bad_json"),
        ("publish", r#"{"event":"e"}"#.into(), 400, "bad_request"),
        (
            "publish",
            r#"{"room":"r","event":"e","colour":1}"#.into(),
            400,
            "bad_request",
        ),
        (
            "publish",
            r#"{"room":"","event":"e"}"#.into(),
            400,
            "bad_room",
        ),
        (
            "publish",
            r#"{"room":"a\u0001b","event":"e"}"#.into(),
            400,
            "bad_room",
        ),
        (
            "publish",
            r#"{"room":"r","event":""}"#.into(),
            400,
            "bad_request",
        ),
        (
            "publish",
            format!(r#"{{"room":"r","event":"e","data":{deep}}}"#),
            400,
            "bad_request",
        ),
        (
            "publish",
            format!(
                r#"{{"room":"r","event":"e","data":"{}"}}"#,
                "x".repeat(2000)
            ),
            413,
            "too_large",
        ),
        (
            "publish",
            r#"{"room":"r","event":"e","namespace":"/nowhere"}"#.into(),
            404,
            "no_such_namespace",
        ),
        (
            "publish",
            r#"{"room":"r","event":"e","namespace":"raw"}"#.into(),
            404,
            "no_such_namespace",
        ),
        ("frobnicate", "{}".into(), 404, "unknown_method"),
        ("emit", r#"{"event":"e"}"#.into(), 400, "bad_request"),
        (
            "emit",
            r#"{"conn":"nope","event":"e"}"#.into(),
            400,
            "bad_request",
        ),
        (
            "emit",
            r#"{"conn":"00000000000000ff","event":"e"}"#.into(),
            404,
            "no_such_conn",
        ),
        (
            "emit",
            r#"{"conn":"00000000000000ff","user":"u","event":"e"}"#.into(),
            400,
            "bad_request",
        ),
        (
            "broadcast",
            r#"{"rooms":[],"event":"e"}"#.into(),
            400,
            "bad_request",
        ),
        (
            "history",
            r#"{"room":"r","limit":0}"#.into(),
            400,
            "bad_request",
        ),
        (
            "publish",
            r#"{"room":"r","event":"e","idempotency_key":""}"#.into(),
            400,
            "bad_request",
        ),
        ("batch", r#"{"commands":[]}"#.into(), 400, "bad_request"),
    ];
    for (method, body, status, code) in cases {
        let (got, answer) = call_with(addr, Some(&auth), method, &body).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {body}: {answer}"
        );
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // A body larger than the API takes: refused before it is read whole.
    let huge = format!(
        r#"{{"room":"r","event":"e","data":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let (status, answer) = call_with(addr, Some(&auth), "publish", &huge).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    // Still serving.
    ok(addr, "publish", json!({"room": "r", "event": "e"})).await;
}

/// A server with tokens: `ada` on two connections (native and Socket.IO), `bob` on one.
async fn two_users() -> (SocketAddr, Ws, Ws, Ws, String) {
    let (_server, addr) = start_with(api_config()).await;
    let ada = hs256(json!({"sub": "ada", "name": "Ada"}));
    let bob = hs256(json!({"sub": "bob", "name": "Bob"}));
    let (ada_native, ada_id) = native::connect(addr, &format!("?token={ada}")).await;
    let ada_sio = socketio::connect(addr, &json!({"token": ada}).to_string()).await;
    let (bob_native, _) = native::connect(addr, &format!("?token={bob}")).await;
    (addr, ada_native, ada_sio, bob_native, ada_id)
}

#[tokio::test]
async fn a_user_is_reached_on_every_connection_and_no_one_else_is() {
    let (addr, mut ada_native, mut ada_sio, mut bob, ada_id) = two_users().await;
    let sent = ok(
        addr,
        "emit",
        json!({"user": "ada", "event": "shipped", "data": {"order": 7}}),
    )
    .await;
    assert_eq!(sent["delivered"], 2);
    assert_eq!(
        native::event(&mut ada_native).await,
        ("shipped".into(), json!({"order": 7}))
    );
    assert_eq!(
        socketio::event(&mut ada_sio).await,
        [json!("shipped"), json!({"order": 7})]
    );
    assert_silent(&mut bob).await;

    // One connection by its id.
    let sent = ok(addr, "emit", json!({"conn": ada_id, "event": "just-you"})).await;
    assert_eq!(sent["delivered"], 1);
    assert_eq!(native::event(&mut ada_native).await.0, "just-you");

    // Made to join a room: presence lists both of ada's connections, with her user.
    let joined = ok(addr, "join", json!({"user": "ada", "room": "vip"})).await;
    assert_eq!(joined["changed"], 2);
    let presence = ok(addr, "presence", json!({"room": "vip"})).await;
    let members = presence["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert!(members
        .iter()
        .all(|m| m["user"] == "ada" && m["name"] == "Ada"));
    ok(addr, "join", json!({"user": "bob", "room": "vip"})).await;
    let stats = ok(addr, "presence_stats", json!({"room": "vip"})).await;
    assert_eq!(
        (stats["connections"].as_u64(), stats["users"].as_u64()),
        (Some(3), Some(2))
    );
    let rooms = ok(addr, "rooms", json!({"pattern": "v*"})).await;
    assert_eq!(rooms["rooms"], json!([{"room": "vip", "members": 3}]));
    let left = ok(addr, "leave", json!({"conn": ada_id, "room": "vip"})).await;
    assert_eq!(left["changed"], 1);
    let stats = ok(addr, "presence_stats", json!({"room": "vip"})).await;
    assert_eq!(stats["connections"], 2);

    // Disconnected: both of ada's connections close; bob's stays.
    let gone = ok(addr, "disconnect", json!({"user": "ada"})).await;
    assert_eq!(gone["changed"], 2);
    expect_close(&mut ada_native).await;
    loop {
        match socketio::recv(&mut ada_sio).await.as_str() {
            "41" => break,
            _ => continue,
        }
    }
    native::join(&mut bob, 9, "still-here").await;
    let info = ok(addr, "info", json!({})).await;
    let root = info["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "/")
        .unwrap()
        .clone();
    assert_eq!(
        (root["connections"].as_u64(), root["users"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn a_retried_publish_with_its_key_is_sent_once() {
    let (_server, addr) = start_with(api_config()).await;
    let (mut native, _) = native::connect(addr, "").await;
    native::join(&mut native, 1, "orders").await;
    let body =
        json!({"room": "orders", "event": "placed", "data": 1, "idempotency_key": "order-1"});
    let first = ok(addr, "publish", body.clone()).await;
    let again = ok(addr, "publish", body).await;
    assert_eq!(first, again);
    assert_eq!(native::event(&mut native).await.0, "placed");
    assert_silent(&mut native).await;
    let page = ok(addr, "history", json!({"room": "orders"})).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1);

    // A broadcast: a copy per room, each stored; its key is its own.
    let sent = ok(
        addr,
        "broadcast",
        json!({"rooms": ["orders", "audit"], "event": "placed", "data": 2, "idempotency_key": "order-1"}),
    )
    .await;
    let results = sent["results"].as_array().unwrap();
    assert_eq!(
        (results[0]["room"].as_str(), results[0]["offset"].as_u64()),
        (Some("orders"), Some(2))
    );
    assert_eq!(
        (results[1]["room"].as_str(), results[1]["offset"].as_u64()),
        (Some("audit"), Some(1))
    );
    assert_eq!(
        native::event(&mut native).await,
        ("placed".into(), json!(2))
    );
    // A bad request is refused whatever key it carries, even one seen before; and one bad
    // room refuses the whole broadcast before anything is sent.
    let (status, answer) = call(
        addr,
        "broadcast",
        json!({"rooms": ["orders", ""], "event": "placed", "idempotency_key": "order-1"}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("bad_room"))
    );
    let (status, _) = call(
        addr,
        "publish",
        json!({"room": "orders", "event": "", "idempotency_key": "order-1"}),
    )
    .await;
    assert_eq!(status, 400);
    // The key with another message: refused, not answered for a message never sent.
    let (status, answer) = call(
        addr,
        "publish",
        json!({"room": "orders", "event": "placed", "data": 99, "idempotency_key": "order-1"}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );
    assert_silent(&mut native).await;
}

#[tokio::test]
async fn history_reads_pages_and_removal_keeps_the_offsets_going() {
    let (_server, addr) = start_with(api_config()).await;
    for n in 1..=5 {
        ok(
            addr,
            "publish",
            json!({"room": "log", "event": "line", "data": n}),
        )
        .await;
    }
    let last = ok(addr, "history", json!({"room": "log", "limit": 2})).await;
    let offsets = |page: &Value| -> Vec<u64> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["offset"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(offsets(&last), [4, 5]);
    let epoch = last["position"]["epoch"].clone();
    let after = ok(
        addr,
        "history",
        json!({"room": "log", "after": {"epoch": epoch, "offset": 1}, "limit": 2}),
    )
    .await;
    assert_eq!(offsets(&after), [2, 3]);
    let reversed = ok(
        addr,
        "history",
        json!({"room": "log", "limit": 3, "reverse": true}),
    )
    .await;
    assert_eq!(offsets(&reversed), [5, 4, 3]);

    let removed = ok(addr, "history_remove", json!({"room": "log"})).await;
    assert_eq!(removed["removed"], 5);
    assert!(ok(addr, "history", json!({"room": "log"})).await["events"]
        .as_array()
        .unwrap()
        .is_empty());
    let next = ok(
        addr,
        "publish",
        json!({"room": "log", "event": "line", "data": 6}),
    )
    .await;
    assert_eq!(next["offset"], 6);
    // A client recovering from before the removal is told it could not be replayed.
    let (mut late, _) = native::connect(addr, "").await;
    send_json(
        &mut late,
        json!({"type": "join", "rid": 1, "room": "log", "since": {"epoch": epoch, "offset": 2}}),
    )
    .await;
    assert_eq!(
        native::reply(&mut late, 1).await["result"]["recovered"],
        false
    );
}

#[tokio::test]
async fn a_batch_answers_each_command_in_order() {
    let (_server, addr) = start_with(api_config()).await;
    let answer = ok(
        addr,
        "batch",
        json!({"commands": [
            {"method": "publish", "params": {"room": "a", "event": "e"}},
            {"method": "publish", "params": {"room": "", "event": "e"}},
            {"method": "batch", "params": {"commands": []}},
            {"method": "nope"},
            {"method": "info"},
        ]}),
    )
    .await;
    let replies = answer["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 5);
    assert_eq!(replies[0]["result"]["offset"], 1);
    assert_eq!(replies[1]["error"]["code"], "bad_room");
    assert_eq!(replies[2]["error"]["code"], "bad_request");
    assert_eq!(replies[3]["error"]["code"], "unknown_method");
    assert!(replies[4]["result"]["server"].is_string());
}

/// Two nodes on a real `redis-server`: the API of one reaches a user whose connections are
/// on the other — an event, presence with the user, a join, a disconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_of_one_node_reaches_a_user_on_another() {
    let (_redis, (_a, addr_a), (_b, addr_b)) = two_nodes().await;
    let ada = hs256(json!({"sub": "ada"}));
    let (mut on_b, ada_id) = native::connect(addr_b, &format!("?token={ada}")).await;

    ok(
        addr_a,
        "emit",
        json!({"user": "ada", "event": "hello-from-a", "data": 1}),
    )
    .await;
    assert_eq!(
        native::event(&mut on_b).await,
        ("hello-from-a".into(), json!(1))
    );
    // A connection of the other node, by its id.
    ok(addr_a, "emit", json!({"conn": ada_id, "event": "by-id"})).await;
    assert_eq!(native::event(&mut on_b).await.0, "by-id");

    let joined = ok(addr_a, "join", json!({"user": "ada", "room": "club"})).await;
    assert_eq!(joined["changed"], 1);
    let presence = ok(addr_a, "presence", json!({"room": "club"})).await;
    assert_eq!(presence["members"][0]["user"], "ada");
    assert_eq!(presence["members"][0]["id"], ada_id.as_str());
    let sent = ok(addr_a, "publish", json!({"room": "club", "event": "news"})).await;
    assert_eq!(sent["delivered"], 0, "none of node a's connections");
    assert_eq!(native::event(&mut on_b).await.0, "news");

    // A revocation sent to node a closes a connection holding the token on node b.
    let marked = hs256(json!({"sub": "grace", "jti": "g-1"}));
    let (mut grace_on_b, _) = native::connect(addr_b, &format!("?token={marked}")).await;
    let revoked = ok(addr_a, "revoke", json!({"jti": "g-1"})).await;
    assert_eq!(revoked["closed"], 1);
    assert_eq!(expect_close(&mut grace_on_b).await.1, "token revoked");

    let gone = ok(addr_a, "disconnect", json!({"user": "ada"})).await;
    assert_eq!(gone["changed"], 1);
    expect_close(&mut on_b).await;
}

#[tokio::test]
async fn a_revoked_token_closes_its_connections_and_is_refused_until_it_would_expire() {
    let (_server, addr) = start_with(api_config()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stolen = hs256(json!({"sub": "ada", "jti": "t-1", "iat": now - 60, "exp": now + 600}));
    let other = hs256(json!({"sub": "ada", "jti": "t-2", "iat": now - 60, "exp": now + 600}));
    let (mut by_stolen, _) = native::connect(addr, &format!("?token={stolen}")).await;
    let mut sio_stolen = socketio::connect(addr, &json!({"token": stolen}).to_string()).await;
    let (mut by_other, _) = native::connect(addr, &format!("?token={other}")).await;

    let revoked = ok(
        addr,
        "revoke",
        json!({"jti": "t-1", "expire_at": now + 600}),
    )
    .await;
    assert_eq!(revoked["closed"], 2);
    assert_eq!(
        expect_close(&mut by_stolen).await,
        (3000, "token revoked".to_owned())
    );
    loop {
        if socketio::recv(&mut sio_stolen).await == "41" {
            break;
        }
    }
    native::join(&mut by_other, 1, "still-in").await;
    // The token is refused from now on, on every protocol.
    let refused = http_request(
        addr,
        format!(
            "GET /ws?token={stolen} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    let refused = refused.text();
    assert!(refused.contains("revoked"), "{refused}");

    // Every token of ada issued before now: the other one goes too; one issued later
    // connects.
    let revoked = ok(addr, "revoke", json!({"user": "ada", "issued_before": now})).await;
    assert_eq!(revoked["closed"], 1);
    assert_eq!(expect_close(&mut by_other).await.0, 3000);
    let fresh = hs256(json!({"sub": "ada", "iat": now + 1, "exp": now + 600}));
    native::connect(addr, &format!("?token={fresh}")).await;

    for (body, code) in [
        (json!({"jti": "x", "user": "ada"}), "bad_request"),
        (json!({}), "bad_request"),
        (json!({"jti": "x", "issued_before": 5}), "bad_request"),
        (json!({"jti": "x", "expire_at": 5}), "bad_request"),
    ] {
        let (status, answer) = call(addr, "revoke", body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    // A server that checks no tokens has nothing to revoke.
    let (_plain, plain) = start_with(Config {
        jwt_secret: None,
        ..api_config()
    })
    .await;
    let (status, answer) = call(plain, "revoke", json!({"jti": "x"})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("no_tokens"))
    );
}

#[tokio::test]
async fn metrics_count_api_calls_and_time_stored_messages() {
    let (_server, addr) = start_with(api_config()).await;
    let (mut reader, _) = native::connect(addr, "").await;
    native::join(&mut reader, 1, "timed").await;
    for n in 0..3 {
        ok(
            addr,
            "publish",
            json!({"room": "timed", "event": "tick", "data": n}),
        )
        .await;
    }
    let (status, _) = call_with(addr, None, "publish", "{}").await;
    assert_eq!(status, 401);
    let (status, _) = call(addr, "nonsense", json!({})).await;
    assert_eq!(status, 404);
    let metrics = http_request(
        addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .text();
    let value = |line_start: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in\n{metrics}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(
        value("chorus_api_calls_total{method=\"publish\",outcome=\"ok\"}"),
        3.0
    );
    assert_eq!(
        value("chorus_api_calls_total{method=\"publish\",outcome=\"unauthorized\"}"),
        1.0
    );
    assert_eq!(
        value("chorus_api_calls_total{method=\"unknown\",outcome=\"unknown_method\"}"),
        1.0
    );
    assert_eq!(value("chorus_publish_to_delivery_seconds_count"), 3.0);
    assert_eq!(
        value("chorus_publish_to_delivery_seconds_bucket{le=\"+Inf\"}"),
        3.0
    );
    assert!(value("chorus_store_append_seconds_count") >= 1.0);
    assert!(value("chorus_outbound_queued_bytes{namespace=\"/\"}") >= 0.0);
    assert!(value("chorus_outbound_queue_max_bytes{namespace=\"/\"}") >= 0.0);
}

/// The example Grafana dashboard (docs/grafana-dashboard.json) charts only metrics the
/// server exports: every `chorus_…` name in its queries is in `/metrics` of a server that
/// keeps history, serves the API, has hooks to a backend and is one node of a cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_dashboard_charts_metrics_that_exist() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/grafana-dashboard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let redis = common::redis::Redis::start();
    // Hooks to a backend that is down (and let clients in anyway): their failures count.
    let hooks = chorus::config::HooksConfig {
        url: Some(format!("http://127.0.0.1:{}/hooks", free_port())),
        secret: Some("dashboard-test-secret-0123".into()),
        on_failure: chorus::config::HookFailure::Allow,
        retries: 0,
        ..Default::default()
    };
    let (_server, addr) = start_with(Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::Redis,
        hooks,
        ..api_config()
    })
    .await;
    ok(addr, "info", json!({})).await;
    let (_client, _) = native::connect(addr, "").await;
    let metrics = http_request(
        addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .text();
    let mut names = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("chorus_") {
                    names += 1;
                    assert!(
                        metrics.lines().any(|l| l.starts_with(word)),
                        "{word} (panel {:?}) is not in /metrics",
                        panel["title"]
                    );
                }
            }
        }
    }
    assert!(names >= 25, "{names}");
}

/// A connection id names that connection alone: a client that joined a room named like
/// another's id is not selected in its place.
#[tokio::test]
async fn a_connection_by_id_is_that_connection_and_not_a_room_named_like_it() {
    let (_server, addr) = start_with(api_config()).await;
    let (mut victim, victim_id) = native::connect(addr, "").await;
    let (mut squatter, _) = native::connect(addr, "").await;
    native::join(&mut squatter, 1, &victim_id).await;
    let joined = ok(addr, "join", json!({"conn": victim_id, "room": "vip"})).await;
    assert_eq!(joined["changed"], 1);
    let presence = ok(addr, "presence", json!({"room": "vip"})).await;
    assert_eq!(presence["members"].as_array().unwrap().len(), 1);
    assert_eq!(presence["members"][0]["id"], victim_id.as_str());
    let gone = ok(addr, "disconnect", json!({"conn": victim_id})).await;
    assert_eq!(gone["changed"], 1);
    expect_close(&mut victim).await;
    native::join(&mut squatter, 2, "still-here").await;
}

/// A Socket.IO client whose handshake carried a token, revoked since: a CONNECT without a
/// token of its own (which would reuse the handshake's) is refused.
#[tokio::test]
async fn a_revoked_handshake_token_cannot_connect_another_namespace() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let (server, addr) = start_with(api_config()).await;
    server.of("/chat");
    let stolen = hs256(json!({"sub": "eve", "jti": "e-1"}));
    let own = hs256(json!({"sub": "eve", "jti": "e-2"}));
    let mut ws = connect(
        addr,
        &format!("/socket.io/?EIO=4&transport=websocket&token={stolen}"),
    )
    .await;
    assert!(recv_text(&mut ws).await.starts_with("0{"));
    // `/chat` with a token of its own keeps the connection open; `/` reuses the handshake's.
    ws.send(Message::text(format!(r#"40/chat,{{"token":"{own}"}}"#)))
        .await
        .unwrap();
    assert!(socketio::recv(&mut ws).await.starts_with("40/chat,{"));
    ws.send(Message::text("40")).await.unwrap();
    assert!(socketio::recv(&mut ws).await.starts_with("40{"));
    let revoked = ok(addr, "revoke", json!({"jti": "e-1"})).await;
    assert_eq!(revoked["closed"], 1);
    assert_eq!(socketio::recv(&mut ws).await, "41");
    ws.send(Message::text("40")).await.unwrap();
    let refused = socketio::recv(&mut ws).await;
    assert!(refused.starts_with("44{"), "{refused}");
    assert!(refused.contains("revoked"), "{refused}");
}

/// Two API nodes of a cluster over a real `redis-server` (kept alive by the first value),
/// once each knows the other.
async fn two_nodes() -> (
    common::redis::Redis,
    (chorus::Server, SocketAddr),
    (chorus::Server, SocketAddr),
) {
    let redis = common::redis::Redis::start();
    let node = || Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::None,
        ..api_config()
    };
    let a = start_with(node()).await;
    let b = start_with(node()).await;
    common::cluster::until("each node knows the other", || {
        [&a.0, &b.0]
            .iter()
            .all(|s| s.hub().cluster().is_some_and(|c| c.nodes() == 1))
    })
    .await;
    (redis, a, b)
}

/// `stats` gives every node's figures, and `connections` finds a user's connections and a
/// room's members wherever they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_connections_span_the_cluster() {
    let (_redis, (a, addr_a), (b, addr_b)) = two_nodes().await;
    let ada = hs256(json!({"sub": "ada"}));
    let (mut on_b, ada_id) = native::connect(addr_b, &format!("?token={ada}")).await;
    assert_eq!(native::join(&mut on_b, 1, "lobby").await["ok"], true);
    let (mut on_a, _) = native::connect(addr_a, "").await;
    assert_eq!(native::join(&mut on_a, 1, "lobby").await["ok"], true);

    let stats = ok(addr_a, "stats", json!({})).await;
    assert_eq!(stats["unanswered"], 0);
    let nodes = stats["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{stats}");
    assert_eq!(
        nodes[0]["node"],
        a.hub().cluster().unwrap().node().to_string(),
        "this node first"
    );
    for node in nodes {
        assert_eq!(node["protocols"]["native"]["connections"], 1, "{node}");
        assert!(node["protocols"]["native"]["messages_in"].as_u64().unwrap() >= 1);
        assert_eq!(node["top_rooms"][0]["room"], "lobby");
        assert_eq!(node["broker_up"], true);
        assert_eq!(node["store"], "none");
    }

    // The request went to the other node and back: its round trip is measured.
    let metrics = a.metrics_text();
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chorus_cluster_round_trip_seconds_count "))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(count.parse::<u64>().unwrap() >= 1);

    let found = ok(addr_a, "connections", json!({"user": "ada"})).await;
    let conns = found["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{found}");
    assert_eq!(conns[0]["id"], ada_id);
    assert_eq!(conns[0]["rooms"], json!(["lobby"]));
    assert_eq!(
        conns[0]["node"],
        b.hub().cluster().unwrap().node().to_string()
    );
    let members = ok(addr_a, "connections", json!({"room": "lobby"})).await;
    assert_eq!(members["connections"].as_array().unwrap().len(), 2);
    let (status, body) = call(
        addr_a,
        "connections",
        json!({"user": "ada", "room": "lobby"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
}

/// The admin page is served at /admin only when the API is on (it works through it), as
/// the operator's own page: not to be framed, its own scripts only.
#[tokio::test]
async fn the_admin_page_is_served_with_the_api_and_says_how_to_turn_it_on() {
    let get = |addr: std::net::SocketAddr, path: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        async move { http_request(addr, request.as_bytes()).await }
    };
    let (_server, addr) = start_with(api_config()).await;
    let page = get(addr, "/admin").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/admin/uplot.js"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page
        .header("content-security-policy")
        .is_some_and(|csp| csp.starts_with("default-src 'self'")));
    for asset in [
        "/admin/admin.js",
        "/admin/admin.css",
        "/admin/uplot.js",
        "/admin/uplot.css",
    ] {
        assert_eq!(get(addr, asset).await.status, 200, "{asset}");
    }
    let (_off, addr) = start_with(config()).await;
    let off = get(addr, "/admin").await;
    assert_eq!(off.status, 404);
    assert!(off.text().contains("CHORUS_API_KEYS"), "{}", off.text());
}

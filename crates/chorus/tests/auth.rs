//! JWT authentication and room permissions, with real sockets against a real server.
//!
//! Tokens are signed here with `jsonwebtoken` (HS256 with a test secret; RS256 and ES256
//! with the test-only keys in `tests/fixtures/`). Each test states one rule of
//! `docs/auth.md`: where a token is read, what a bad one gets (`401` before the upgrade, a
//! CONNECT_ERROR for Socket.IO's `auth.token`), what its claims grant (nickname, `join` and
//! `publish` patterns), and what happens at `exp` (close 3000, unless refreshed).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use chorus::{Config, RawHandlers, Server};
use common::*;
use futures::SinkExt;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn rs256(claims: Value) -> String {
    let pem = std::fs::read(fixture("rsa-private.pem")).unwrap();
    sign(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(&pem).unwrap(),
        &claims,
    )
}

fn es256(claims: Value) -> String {
    let pem = std::fs::read(fixture("ec-private.pem")).unwrap();
    sign(
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(&pem).unwrap(),
        &claims,
    )
}

/// Tokens required, HS256, no leeway (so expiry tests are quick and exact).
fn required() -> Config {
    Config {
        jwt_secret: Some(SECRET.into()),
        jwt_leeway_secs: 0,
        anonymous: false,
        ..config()
    }
}

/// Tokens optional: a client without one is anonymous.
fn optional() -> Config {
    Config {
        anonymous: true,
        ..required()
    }
}

fn upgrade_request(path: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: chorus.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         {extra_headers}\r\n"
    )
    .into_bytes()
}

/// Asserts the `401` of a refused token: JSON body, `WWW-Authenticate`, and a message
/// that says `why`.
fn assert_401(resp: &HttpResponse, why: &str) {
    assert_eq!(resp.status, 401, "{resp:?} {}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        resp.header("www-authenticate"),
        Some(r#"Bearer realm="chorus", error="invalid_token""#)
    );
    let body: Value = serde_json::from_str(&resp.text()).unwrap();
    assert_eq!(body["error"], "invalid_token", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(why), "{message:?} should say {why:?}");
}

/// A native client with this query: its socket and its `hello`.
async fn native(addr: SocketAddr, query: &str) -> (Ws, Value) {
    let mut ws = connect(addr, &format!("/ws{query}")).await;
    let hello = recv_json(&mut ws).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    (ws, hello)
}

/// Sends a native command with a `rid` and returns its reply, skipping pushes.
async fn call(ws: &mut Ws, cmd: Value) -> Value {
    send_json(ws, cmd).await;
    loop {
        let msg = recv_json(ws).await;
        if msg["type"] == "reply" {
            return msg;
        }
    }
}

/// The error code of a failed reply.
fn error_code(reply: &Value) -> &str {
    assert_eq!(reply["ok"], false, "{reply}");
    reply["error"]["code"].as_str().unwrap()
}

// 1. Where tokens are read, and what a good one gives.

#[tokio::test]
async fn hs256_token_in_the_query_or_a_bearer_header_names_the_connection() {
    let (_, addr) = start_with(required()).await;
    let token = hs256(json!({ "sub": "u-1", "name": "Alice", "exp": now() + 600 }));
    let (_ws, hello) = native(addr, &format!("?token={token}&name=mallory")).await;
    assert_eq!(hello["name"], "Alice", "the token's name wins over ?name=");

    let token = hs256(json!({ "sub": "u-2" }));
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = recv_json(&mut ws).await;
    assert_eq!(hello["name"], "u-2", "no name claim: the user id");
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_a_public_key() {
    for (key, good, other) in [
        (
            "rsa-public.pem",
            rs256 as fn(Value) -> String,
            es256 as fn(Value) -> String,
        ),
        ("ec-public.pem", es256, rs256),
    ] {
        let config = Config {
            jwt_public_key: Some(fixture(key)),
            anonymous: false,
            ..config()
        };
        let (_, addr) = start_with(config).await;
        let token = good(json!({ "sub": "pk-user", "exp": now() + 600 }));
        let (_ws, hello) = native(addr, &format!("?token={token}")).await;
        assert_eq!(hello["name"], "pk-user", "{key}");

        let wrong = other(json!({ "sub": "pk-user" }));
        let resp = http_request(addr, &upgrade_request(&format!("/ws?token={wrong}"), "")).await;
        assert_401(&resp, "which this server does not accept");
        // An HS256 token "signed" with the public key itself: the classic confusion.
        let pem = std::fs::read(fixture(key)).unwrap();
        let confused = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(&pem),
            &json!({ "sub": "pk-user" }),
        );
        let resp = http_request(addr, &upgrade_request(&format!("/ws?token={confused}"), "")).await;
        assert_401(&resp, "\"HS256\"");
    }
}

#[tokio::test]
async fn unusable_public_keys_stop_the_server_from_starting() {
    for (key, why) in [
        ("rsa-private.pem", "private key"),
        ("ec-p384-public.pem", "P-256"),
        ("README.md", "not a PEM public key"),
        ("missing.pem", "cannot read"),
    ] {
        let config = Config {
            jwt_public_key: Some(fixture(key)),
            ..config()
        };
        let err = Server::try_new(config).unwrap_err().to_string();
        assert!(err.contains(why), "{key}: {err}");
    }
}

// 2. Bad tokens: 401 before the upgrade, on every endpoint, counted.

#[tokio::test]
async fn bad_tokens_get_401_with_a_json_body_before_the_upgrade() {
    // Anonymous access on: a token that is present but bad is refused all the same.
    let (server, addr) = start_with(optional()).await;
    let other_key = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"not the server's secret"),
        &json!({ "sub": "u" }),
    );
    let expired = hs256(json!({ "sub": "u", "exp": now() - 10 }));
    let wrong_alg = sign(
        Algorithm::HS512,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        &json!({ "sub": "u" }),
    );
    let no_sub = hs256(json!({ "name": "nobody" }));
    let cases = [
        (other_key.as_str(), "signature does not verify"),
        (expired.as_str(), "expired"),
        (wrong_alg.as_str(), "\"HS512\""),
        ("garbage", "not a well-formed JWT"),
        (no_sub.as_str(), "`sub`"),
    ];
    let paths = [
        "/ws?token=",
        "/some/raw/room?token=",
        "/socket.io/?EIO=4&transport=websocket&token=",
    ];
    for (token, why) in cases {
        for path in paths {
            let resp = http_request(addr, &upgrade_request(&format!("{path}{token}"), "")).await;
            assert_401(&resp, why);
        }
        let bearer = format!("Authorization: Bearer {token}\r\n");
        assert_401(
            &http_request(addr, &upgrade_request("/ws", &bearer)).await,
            why,
        );
        // The Engine.IO long-polling handshake too.
        let polling = format!(
            "GET /socket.io/?EIO=4&transport=polling&token={token} HTTP/1.1\r\nHost: chorus.test\r\n\r\n"
        );
        assert_401(&http_request(addr, polling.as_bytes()).await, why);
    }
    let metrics = server.metrics_text();
    assert!(
        metrics.contains("chorus_auth_failures_total{reason=\"invalid\"} 20\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chorus_auth_failures_total{reason=\"expired\"} 5\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chorus_handshakes_refused_total{status=\"401\"} 25\n"),
        "{metrics}"
    );
    // And no anonymous client is hurt by any of it.
    let (_ws, hello) = native(addr, "").await;
    assert!(hello["name"].as_str().unwrap().starts_with("user"));
}

#[tokio::test]
async fn without_a_token_anonymous_off_is_401_and_anonymous_on_lets_the_client_in() {
    let (server, addr) = start_with(required()).await;
    for path in ["/ws", "/a/raw/room", "/ws?token="] {
        assert_401(
            &http_request(addr, &upgrade_request(path, "")).await,
            "token is required",
        );
    }
    assert!(server
        .metrics_text()
        .contains("chorus_auth_failures_total{reason=\"missing\"} 3\n"));

    let (_, addr) = start_with(optional()).await;
    let (_ws, hello) = native(addr, "?name=guest").await;
    assert_eq!(hello["name"], "guest");
    let _raw = connect(addr, "/a/raw/room").await;
}

#[tokio::test]
async fn servers_without_a_key_ignore_tokens() {
    let (_, addr) = start_with(config()).await;
    let (_ws, hello) = native(addr, "?token=anything&name=bob").await;
    assert_eq!(hello["name"], "bob");
}

// 3. What the claims grant.

#[tokio::test]
async fn the_name_claim_is_the_nickname_in_hello_and_presence_and_set_cannot_change_it() {
    let (_, addr) = start_with(optional()).await;
    let (mut watcher, _) = native(addr, "?name=watcher").await;
    call(&mut watcher, json!({"type":"join","rid":1,"room":"lobby"})).await;

    let token = hs256(json!({ "sub": "u-7", "name": "Grace" }));
    let (mut grace, hello) = native(addr, &format!("?token={token}")).await;
    assert_eq!(hello["name"], "Grace");
    let joined = call(&mut grace, json!({"type":"join","rid":1,"room":"lobby"})).await;
    assert_eq!(joined["ok"], true, "{joined}");
    let presence = recv_json(&mut watcher).await;
    assert_eq!(presence["action"], "join");
    assert_eq!(presence["member"]["name"], "Grace");

    let renamed = call(&mut grace, json!({"type":"set","rid":2,"name":"Mallory"})).await;
    assert_eq!(error_code(&renamed), "forbidden");
    let data = call(
        &mut grace,
        json!({"type":"set","rid":3,"data":{"mood":"ok"}}),
    )
    .await;
    assert_eq!(data["ok"], true, "{data}");
    assert_eq!(data["result"]["name"], "Grace");
}

#[tokio::test]
async fn join_and_publish_claims_limit_what_a_native_client_may_do() {
    let (_, addr) = start_with(required()).await;
    let token = hs256(json!({
        "sub": "reader", "join": ["chat:*", "news"], "publish": ["chat:general"]
    }));
    let (mut ws, _) = native(addr, &format!("?token={token}")).await;

    let refused = call(&mut ws, json!({"type":"join","rid":1,"room":"lobby"})).await;
    assert_eq!(error_code(&refused), "forbidden");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("lobby"));
    let history = call(&mut ws, json!({"type":"history","rid":2,"room":"lobby"})).await;
    assert_eq!(error_code(&history), "forbidden");
    for (rid, room) in [(3, "chat:general"), (4, "chat:random"), (5, "news")] {
        let joined = call(&mut ws, json!({"type":"join","rid":rid,"room":room})).await;
        assert_eq!(joined["ok"], true, "{joined}");
    }

    let emit =
        |rid: u64, to: Value| json!({"type":"emit","rid":rid,"event":"chat","data":"hi","to":to});
    let sent = call(&mut ws, emit(6, json!({"room":"chat:general"}))).await;
    assert_eq!(sent["ok"], true, "{sent}");
    for (rid, to) in [
        (7, json!({"room":"chat:random"})),
        (8, json!({"room":"news"})),
        (9, json!({"all":true})),
        (10, json!({"conn":"0000000000000000"})),
    ] {
        let reply = call(&mut ws, emit(rid, to.clone())).await;
        assert_eq!(error_code(&reply), "forbidden", "{to}");
    }
    // Events to the server's own handlers are the application's business.
    let own = call(
        &mut ws,
        json!({"type":"emit","rid":11,"event":"nobody-handles-this"}),
    )
    .await;
    assert_eq!(error_code(&own), "unknown_event");
}

#[tokio::test]
async fn raw_rooms_refuse_rooms_the_token_may_not_join_and_close_read_only_senders() {
    let (_, addr) = start_with(optional()).await;
    let token = hs256(json!({ "sub": "listener", "join": ["/news/*"], "publish": [] }));
    let resp = http_request(
        addr,
        &upgrade_request(&format!("/sports?token={token}"), ""),
    )
    .await;
    assert_eq!(resp.status, 403, "{}", resp.text());
    assert!(resp.text().contains("/sports"), "{}", resp.text());

    let mut listener = connect(addr, &format!("/news/today?token={token}")).await;
    let mut publisher = connect(addr, "/news/today").await;
    publisher
        .send(Message::text("extra! extra!"))
        .await
        .unwrap();
    assert_eq!(recv_text(&mut listener).await, "extra! extra!");

    listener.send(Message::text("me too")).await.unwrap();
    let (code, reason) = expect_close(&mut listener).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("publishing"), "{reason}");
    // The anonymous publisher heard its own echo, not the refused message.
    assert_eq!(recv_text(&mut publisher).await, "extra! extra!");
    assert_silent(&mut publisher).await;
}

#[tokio::test]
async fn library_code_sees_the_identity() {
    let server = Server::new(optional());
    server.io().on_connection(|socket| {
        let who = socket.identity().map(|id| {
            json!({ "user": id.user_id, "role": id.claims.get("role"), "name": &*socket.name() })
        });
        let _ = socket.emit("whoami", &who);
    });
    server.raw(
        "/lib",
        RawHandlers::new().on_connection(|conn| {
            let user = conn.identity().map(|id| id.user_id.clone());
            conn.send_text(user.unwrap_or_else(|| "anonymous".into()));
        }),
    );
    let addr = start(server).await;
    let token = hs256(json!({ "sub": "u-9", "name": "Ada", "role": "admin" }));

    let (mut ws, _) = native(addr, &format!("?token={token}")).await;
    let event = recv_json(&mut ws).await;
    assert_eq!(
        event["data"],
        json!({ "user": "u-9", "role": "admin", "name": "Ada" })
    );
    let (mut anon, _) = native(addr, "").await;
    assert_eq!(recv_json(&mut anon).await["data"], Value::Null);

    let mut raw = connect(addr, &format!("/lib?token={token}")).await;
    assert_eq!(recv_text(&mut raw).await, "u-9");
    let mut raw = connect(addr, "/lib").await;
    assert_eq!(recv_text(&mut raw).await, "anonymous");

    // A Socket.IO client with the token on the handshake URL.
    let mut sio = sio_open(addr, &format!("&token={token}")).await;
    sio.send(Message::text("40")).await.unwrap();
    assert!(sio_recv(&mut sio).await.starts_with(r#"40{"sid":""#));
    assert_eq!(
        sio_recv(&mut sio).await,
        r#"42["whoami",{"name":"Ada","role":"admin","user":"u-9"}]"#
    );
}

// 4. Expiry and refresh.

#[tokio::test]
async fn an_expired_token_closes_the_connection_with_3000() {
    let (server, addr) = start_with(required()).await;
    let token = hs256(json!({ "sub": "u", "exp": now() + 2 }));
    let started = Instant::now();
    let (mut ws, _) = native(addr, &format!("?token={token}")).await;
    let mut raw = connect(addr, &format!("/room?token={token}")).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (3000, "token expired".to_owned())
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed {:?} after connecting, before exp",
        started.elapsed()
    );
    assert_eq!(
        expect_close(&mut raw).await,
        (3000, "token expired".to_owned())
    );
    assert!(server
        .metrics_text()
        .contains("chorus_disconnects_total{reason=\"token_expired\"} 2\n"));
}

#[tokio::test]
async fn refresh_replaces_the_token_and_the_connection_outlives_the_old_exp() {
    let (_, addr) = start_with(required()).await;
    let old_exp = now() + 2;
    let token = hs256(json!({ "sub": "u", "name": "Old", "exp": old_exp, "join": ["a", "b"] }));
    let (mut ws, _) = native(addr, &format!("?token={token}")).await;
    for (rid, room) in [(1, "a"), (2, "b")] {
        let joined = call(&mut ws, json!({"type":"join","rid":rid,"room":room})).await;
        assert_eq!(joined["ok"], true, "{joined}");
    }

    let new_exp = now() + 60;
    let fresh = hs256(json!({ "sub": "u", "name": "New", "exp": new_exp, "join": ["a"] }));
    let reply = call(&mut ws, json!({"type":"refresh","rid":3,"token":fresh})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        reply["result"],
        json!({ "expires_at": new_exp, "name": "New", "left": ["b"] })
    );
    let joined = call(&mut ws, json!({"type":"join","rid":4,"room":"b"})).await;
    assert_eq!(
        error_code(&joined),
        "forbidden",
        "the new token's permissions"
    );

    // Past the old expiry, the connection is still there.
    let wait = Duration::from_secs(old_exp.saturating_sub(now())) + Duration::from_millis(700);
    tokio::time::sleep(wait).await;
    let pong = call(&mut ws, json!({"type":"ping","rid":5})).await;
    assert_eq!(pong["ok"], true, "{pong}");
}

#[tokio::test]
async fn refresh_refuses_another_user_bad_tokens_and_anonymous_connections() {
    let (_, addr) = start_with(optional()).await;
    let token = hs256(json!({ "sub": "u", "exp": now() + 600 }));
    let (mut ws, _) = native(addr, &format!("?token={token}")).await;
    let cases = [
        (hs256(json!({ "sub": "someone-else" })), "forbidden"),
        (
            hs256(json!({ "sub": "u", "exp": now() - 5 })),
            "invalid_token",
        ),
        ("not.a.jwt".to_owned(), "invalid_token"),
    ];
    for (rid, (fresh, code)) in cases.into_iter().enumerate() {
        let reply = call(&mut ws, json!({"type":"refresh","rid":rid,"token":fresh})).await;
        assert_eq!(error_code(&reply), code, "{reply}");
    }
    let (mut anon, _) = native(addr, "").await;
    let reply = call(&mut anon, json!({"type":"refresh","rid":1,"token":token})).await;
    assert_eq!(error_code(&reply), "forbidden");
}

// 5. Socket.IO: `auth.token` at CONNECT, the built-ins, expiry.

/// A Socket.IO WebSocket session (extra query appended), past its open packet.
async fn sio_open(addr: SocketAddr, query: &str) -> Ws {
    let mut ws = connect(
        addr,
        &format!("/socket.io/?EIO=4&transport=websocket{query}"),
    )
    .await;
    let open = recv_text(&mut ws).await;
    assert!(open.starts_with(r#"0{"sid":""#), "{open}");
    ws
}

/// The next Socket.IO packet, answering Engine.IO pings.
async fn sio_recv(ws: &mut Ws) -> String {
    loop {
        let text = recv_text(ws).await;
        if text != "2" {
            return text;
        }
        ws.send(Message::text("3")).await.unwrap();
    }
}

#[tokio::test]
async fn socketio_connect_checks_auth_token() {
    let (server, addr) = start_with(required()).await;
    // No token on the handshake: it may still come in CONNECT.
    let mut ws = sio_open(addr, "").await;

    ws.send(Message::text("40")).await.unwrap();
    let refused: Value =
        serde_json::from_str(sio_recv(&mut ws).await.strip_prefix("44").unwrap()).unwrap();
    assert_eq!(refused["message"], "token required");
    assert_eq!(refused["data"]["error"], "invalid_token");

    let bad = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"wrong"),
        &json!({ "sub": "u" }),
    );
    ws.send(Message::text(format!(r#"40{{"token":"{bad}"}}"#)))
        .await
        .unwrap();
    let refused: Value =
        serde_json::from_str(sio_recv(&mut ws).await.strip_prefix("44").unwrap()).unwrap();
    assert_eq!(refused["message"], "invalid token");
    assert_eq!(refused["data"]["error"], "invalid_token");
    assert!(refused["data"]["message"]
        .as_str()
        .unwrap()
        .contains("signature"));

    // The session survives its refusals: the right token gets in.
    let good = hs256(json!({ "sub": "sio-user", "name": "Lin" }));
    ws.send(Message::text(format!(r#"40{{"token":"{good}"}}"#)))
        .await
        .unwrap();
    assert!(sio_recv(&mut ws).await.starts_with(r#"40{"sid":""#));
    let members = server.io().sockets();
    assert_eq!(members.len(), 1);
    assert_eq!(&*members[0].name(), "Lin");
    assert_eq!(members[0].identity().unwrap().user_id, "sio-user");

    // Long-polling: a handshake without a token is let through, one with a bad token not.
    let polling = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: chorus.test\r\n\r\n";
    assert_eq!(http_request(addr, polling.as_bytes()).await.status, 200);
    let metrics = server.metrics_text();
    assert!(
        metrics.contains("chorus_auth_failures_total{reason=\"missing\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("chorus_auth_failures_total{reason=\"invalid\"} 1\n"));
}

/// Emits `args` with ack id `id` and returns the ack's first argument.
async fn sio_ask(ws: &mut Ws, id: u32, args: Value) -> Value {
    ws.send(Message::text(format!("42{id}{args}")))
        .await
        .unwrap();
    let answer = sio_recv(ws).await;
    let body = answer
        .strip_prefix(&format!("43{id}"))
        .unwrap_or_else(|| panic!("{answer}"));
    serde_json::from_str::<Value>(body).unwrap()[0].clone()
}

#[tokio::test]
async fn socketio_builtins_follow_the_token() {
    let server = Server::new(required());
    chorus::builtin::install(&server.io(), true);
    let addr = start(server).await;
    let token = hs256(json!({ "sub": "u", "join": ["chat:*"], "publish": [] }));
    let mut ws = sio_open(addr, "").await;
    ws.send(Message::text(format!(r#"40{{"token":"{token}"}}"#)))
        .await
        .unwrap();
    assert!(sio_recv(&mut ws).await.starts_with(r#"40{"sid":""#));

    let forbidden = |answer: &Value| answer["error"]["code"] == "forbidden";
    assert!(forbidden(
        &sio_ask(&mut ws, 1, json!(["join", "lobby"])).await
    ));
    let joined = sio_ask(&mut ws, 2, json!(["join", "chat:a"])).await;
    assert_eq!(joined["room"], "chat:a", "{joined}");
    assert!(forbidden(
        &sio_ask(&mut ws, 3, json!(["to", "chat:a", "msg", "hi"])).await
    ));
    assert!(forbidden(
        &sio_ask(&mut ws, 4, json!(["broadcast", "msg", "hi"])).await
    ));
    assert!(forbidden(
        &sio_ask(&mut ws, 5, json!(["set", { "name": "x" }])).await
    ));
    let other = hs256(json!({ "sub": "someone-else" }));
    assert!(forbidden(
        &sio_ask(&mut ws, 6, json!(["refresh", other])).await
    ));
    let exp = now() + 600;
    let fresh = hs256(json!({ "sub": "u", "exp": exp, "join": ["chat:*"], "publish": ["chat:*"] }));
    let refreshed = sio_ask(&mut ws, 7, json!(["refresh", fresh])).await;
    assert_eq!(refreshed["expires_at"], exp, "{refreshed}");
    let sent = sio_ask(&mut ws, 8, json!(["to", "chat:a", "msg", "hi"])).await;
    assert_eq!(sent["delivered"], 0, "{sent}");
}

#[tokio::test]
async fn an_expired_socketio_token_disconnects_the_socket() {
    let (server, addr) = start_with(required()).await;
    let token = hs256(json!({ "sub": "u", "exp": now() + 2 }));
    let mut ws = sio_open(addr, &format!("&token={token}")).await;
    ws.send(Message::text("40")).await.unwrap();
    assert!(sio_recv(&mut ws).await.starts_with(r#"40{"sid":""#));
    assert_eq!(sio_recv(&mut ws).await, "41", "a server-side DISCONNECT");
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, 1000);
    assert!(server.io().sockets().is_empty());

    // A handshake token that has expired by the time of CONNECT is refused there.
    let token = hs256(json!({ "sub": "u", "exp": now() + 1 }));
    let mut ws = sio_open(addr, &format!("&token={token}")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ws.send(Message::text("40")).await.unwrap();
    let refused = sio_recv(&mut ws).await;
    assert!(
        refused.starts_with("44") && refused.contains("expired"),
        "{refused}"
    );
}

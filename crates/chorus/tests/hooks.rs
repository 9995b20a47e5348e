//! Hooks to the application's backend, against a real HTTP backend this test starts on a
//! loopback port: it checks every request's signature as a backend would, decides
//! connects, joins and publishes, records the membership events — and can be slow or
//! broken on demand, to see that chorus's behaviour stays bounded.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chorus::config::{HookAsk, HookFailure, HooksConfig};
use chorus::Config;
use common::*;
use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const HOOK_SECRET: &str = "hooks-secret-0123456789";

/// How the backend behaves: by default it decides at once.
/// Answers every request with a 500.
const BROKEN: u8 = 1;
/// Answers after [`SLOW`].
const SLOW_ALL: u8 = 2;
/// Answers publishes after [`SLOW`], the rest at once.
const SLOW_PUBLISH: u8 = 3;
/// Answers joins after [`SLOW`], the rest at once.
const SLOW_JOIN: u8 = 4;
const SLOW: Duration = Duration::from_secs(5);

/// One request the backend got.
#[derive(Debug, Clone)]
struct Seen {
    hook: String,
    body: Value,
}

#[derive(Default)]
struct Backend {
    mode: AtomicU8,
    seen: parking_lot::Mutex<Vec<Seen>>,
    bad_signatures: AtomicU64,
}

impl Backend {
    fn seen(&self, hook: &str) -> Vec<Value> {
        self.seen
            .lock()
            .iter()
            .filter(|s| s.hook == hook)
            .map(|s| s.body.clone())
            .collect()
    }

    /// The events told so far, as `type room user` lines.
    fn events(&self) -> Vec<String> {
        self.seen("events")
            .iter()
            .flat_map(|batch| batch["events"].as_array().cloned().unwrap_or_default())
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["type"].as_str().unwrap(),
                    e["room"].as_str().unwrap(),
                    e["user"].as_str().unwrap_or("-")
                )
            })
            .collect()
    }
}

/// Checks the signature the way docs/hooks.md tells a backend to: HMAC-SHA256 of
/// `<timestamp>.<body>` under the shared secret, and a timestamp close to now.
fn signed(headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(timestamp), Some(signature)) = (
        headers
            .get("x-chorus-timestamp")
            .and_then(|v| v.to_str().ok()),
        headers
            .get("x-chorus-signature")
            .and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let Some(hex) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Ok(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = timestamp
        .parse::<u64>()
        .is_ok_and(|t| t.abs_diff(now) <= 300);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, HOOK_SECRET.as_bytes());
    let message = [timestamp.as_bytes(), b".", body].concat();
    fresh && ring::hmac::verify(&key, &message, &tag).is_ok()
}

async fn hook(
    State(backend): State<Arc<Backend>>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !signed(&headers, &body) {
        backend.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap();
    backend.seen.lock().push(Seen {
        hook: hook.clone(),
        body: body.clone(),
    });
    match backend.mode.load(Ordering::Relaxed) {
        BROKEN => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        SLOW_ALL => tokio::time::sleep(SLOW).await,
        SLOW_PUBLISH if hook == "publish" => tokio::time::sleep(SLOW).await,
        SLOW_JOIN if hook == "join" => tokio::time::sleep(Duration::from_millis(500)).await,
        _ => {}
    }
    let decision = match hook.as_str() {
        "connect" => {
            let cookie = body["headers"]["cookie"].as_str().unwrap_or("");
            let session = body["auth"]["session"].as_str().unwrap_or("");
            if cookie.contains("session=banned") || session == "banned" {
                // A refusal as a 403, the way many backends already say no.
                return (
                    StatusCode::FORBIDDEN,
                    axum::Json(json!({"reason": "banned"})),
                )
                    .into_response();
            }
            if cookie.contains("session=ada") || session == "ada" {
                json!({"allow": true, "user": "ada", "name": "Ada", "data": {"role": "admin"}})
            } else {
                json!({"allow": true})
            }
        }
        "join" if body["room"].as_str().is_some_and(|r| r.contains("secret")) => {
            json!({"allow": false, "reason": "members only"})
        }
        "publish" if body["data"].to_string().contains("spam") => {
            json!({"allow": false, "reason": "no spam here"})
        }
        _ => json!({"allow": true}),
    };
    axum::Json(decision).into_response()
}

/// The backend, listening on a loopback port.
async fn backend() -> (Arc<Backend>, SocketAddr) {
    let backend = Arc::new(Backend::default());
    let app = Router::new()
        .route("/hooks/{hook}", axum::routing::post(hook))
        .with_state(backend.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (backend, addr)
}

fn hooked(backend: SocketAddr) -> Config {
    Config {
        hooks: HooksConfig {
            url: Some(format!("http://{backend}/hooks")),
            secret: Some(HOOK_SECRET.into()),
            // Generous: on a loaded test machine the backend may take a while, and a
            // timeout here would be the test's failure, not chorus's.
            timeout_ms: 5000,
            ..HooksConfig::default()
        },
        ..config()
    }
}

/// A WebSocket handshake to `path` with `cookie`: the socket, or the refusal's status and
/// body.
async fn connect_with_cookie(
    addr: SocketAddr,
    path: &str,
    cookie: &str,
) -> Result<Ws, (u16, String)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("the handshake hung")
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("{other}"),
    }
}

/// A native client with `cookie`; its socket and `hello`.
async fn native_with_cookie(addr: SocketAddr, cookie: &str) -> (Ws, Value) {
    let mut ws = connect_with_cookie(addr, "/ws", cookie).await.unwrap();
    let hello = recv_json(&mut ws).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    (ws, hello)
}

#[tokio::test]
async fn the_backend_decides_who_connects_and_says_who_they_are() {
    let (backend, backend_addr) = backend().await;
    let (server, addr) = start_with(hooked(backend_addr)).await;

    let (mut ada, hello) = native_with_cookie(addr, "session=ada; theme=dark").await;
    assert_eq!(hello["name"], "Ada", "the backend's name: {hello}");
    let id = hello["id"].as_str().unwrap().to_owned();
    let joined = native::join(&mut ada, 1, "lobby").await;
    assert_eq!(joined["ok"], true, "{joined}");
    let members = server.io().members("lobby");
    assert_eq!(members.len(), 1);
    assert_eq!(&*members[0].name, "Ada");
    assert_eq!(
        members[0].data.as_deref().map(|d| d.get()),
        Some(r#"{"role":"admin"}"#)
    );
    // Calls for a user (the server API's) reach the connection the backend named.
    assert_eq!(
        server.io().to_user("ada").emit("note", &"for ada").unwrap(),
        1
    );
    assert_eq!(
        native::event(&mut ada).await,
        ("note".into(), json!("for ada"))
    );
    assert!(!id.is_empty());

    let connect = &backend.seen("connect")[0];
    assert_eq!(connect["protocol"], "native");
    assert_eq!(connect["path"], "/ws");
    assert_eq!(connect["headers"]["cookie"], "session=ada; theme=dark");
    assert_eq!(connect["addr"], "127.0.0.1");
    assert_eq!(connect["user"], Value::Null, "no token");

    // A refusal before the upgrade, with the backend's reason.
    let (status, body) = connect_with_cookie(addr, "/ws", "session=banned")
        .await
        .unwrap_err();
    assert_eq!(status, 403);
    assert!(body.contains("banned"), "{body}");
    // Anyone else is let in, with no user.
    let (_guest, hello) = native_with_cookie(addr, "session=guest").await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(backend.bad_signatures.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn joins_and_publishes_wait_for_the_backend_in_the_order_sent() {
    let (backend, backend_addr) = backend().await;
    let (_server, addr) = start_with(hooked(backend_addr)).await;
    let (mut ada, _) = native_with_cookie(addr, "session=ada").await;
    let (mut bob, _) = native_with_cookie(addr, "session=bob").await;
    assert_eq!(native::join(&mut bob, 1, "lobby").await["ok"], true);

    // Sent back to back: the emit is carried out after the join, though both wait for
    // the backend.
    send_json(&mut ada, json!({"type": "join", "rid": 1, "room": "lobby"})).await;
    send_json(
        &mut ada,
        json!({"type": "emit", "rid": 2, "event": "chat", "data": "hello", "to": {"room": "lobby"}}),
    )
    .await;
    send_json(
        &mut ada,
        json!({"type": "emit", "rid": 3, "event": "chat", "data": "buy spam", "to": {"room": "lobby"}}),
    )
    .await;
    send_json(
        &mut ada,
        json!({"type": "join", "rid": 4, "room": "secret-room"}),
    )
    .await;
    send_json(
        &mut ada,
        json!({"type": "emit", "rid": 5, "event": "chat", "data": "bye", "to": {"room": "lobby"}}),
    )
    .await;
    assert_eq!(native::reply(&mut ada, 1).await["ok"], true);
    let sent = native::reply(&mut ada, 2).await;
    assert_eq!(sent["ok"], true, "{sent}");
    let spam = native::reply(&mut ada, 3).await;
    assert_eq!(spam["error"]["code"], "forbidden", "{spam}");
    assert_eq!(spam["error"]["message"], "no spam here");
    let secret = native::reply(&mut ada, 4).await;
    assert_eq!(secret["error"]["code"], "forbidden");
    assert_eq!(secret["error"]["message"], "members only");
    assert_eq!(native::reply(&mut ada, 5).await["ok"], true);

    // Bob hears what the backend allowed, in order, and nothing else.
    assert_eq!(
        native::event(&mut bob).await,
        ("chat".into(), json!("hello"))
    );
    assert_eq!(native::event(&mut bob).await, ("chat".into(), json!("bye")));

    let publish = backend
        .seen("publish")
        .into_iter()
        .find(|p| p["data"] == "hello")
        .unwrap();
    assert_eq!(publish["protocol"], "native");
    assert_eq!(publish["event"], "chat");
    assert_eq!(publish["to"], json!({"room": "lobby"}));
    assert_eq!(publish["user"], "ada");
    assert_eq!(backend.bad_signatures.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn the_backend_hears_of_rooms_occupied_and_vacated_in_order() {
    let (backend, backend_addr) = backend().await;
    let (_server, addr) = start_with(hooked(backend_addr)).await;
    let (mut ada, _) = native_with_cookie(addr, "session=ada").await;
    let (mut guest, _) = native_with_cookie(addr, "session=guest").await;
    assert_eq!(native::join(&mut ada, 1, "lobby").await["ok"], true);
    assert_eq!(native::join(&mut guest, 1, "lobby").await["ok"], true);
    send_json(
        &mut guest,
        json!({"type": "leave", "rid": 2, "room": "lobby"}),
    )
    .await;
    assert_eq!(native::reply(&mut guest, 2).await["ok"], true);
    ada.close(None).await.unwrap();
    let want = [
        "room_occupied lobby -",
        "member_joined lobby ada",
        "member_joined lobby -",
        "member_left lobby -",
        "member_left lobby ada",
        "room_vacated lobby -",
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.events().len() < want.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(backend.events(), want);
    let batch = &backend.seen("events")[0];
    assert_eq!(batch["events"][0]["namespace"], "/");
    assert!(batch["events"][0]["at"].as_u64().unwrap() > 1_700_000_000_000);
}

#[tokio::test]
async fn a_broken_backend_denies_or_allows_as_configured_after_its_retries() {
    let (backend, backend_addr) = backend().await;
    backend.mode.store(BROKEN, Ordering::Relaxed);
    let (server, addr) = start_with(hooked(backend_addr)).await;
    let (status, body) = connect_with_cookie(addr, "/ws", "session=ada")
        .await
        .unwrap_err();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("did not answer"), "{body}");
    // One try and one retry (`retries = 1`).
    assert_eq!(backend.seen("connect").len(), 2);
    let metrics = server.metrics_text();
    assert!(
        metrics.contains("chorus_hook_requests_total{hook=\"connect\",outcome=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("chorus_hook_seconds_count{hook=\"connect\"} 1"),
        "{metrics}"
    );

    let mut open = hooked(backend_addr);
    open.hooks.on_failure = HookFailure::Allow;
    let (_server, addr) = start_with(open).await;
    let (mut ws, _) = native_with_cookie(addr, "session=ada").await;
    assert_eq!(
        native::join(&mut ws, 1, "secret-room").await["ok"],
        true,
        "fails open"
    );
}

#[tokio::test]
async fn a_slow_backend_is_bounded_by_the_timeout_and_each_connection_waits_alone() {
    let (backend, backend_addr) = backend().await;
    backend.mode.store(SLOW_ALL, Ordering::Relaxed);
    let mut config = hooked(backend_addr);
    config.hooks.timeout_ms = 300;
    let (server, addr) = start_with(config).await;
    let started = Instant::now();
    let (status, _) = connect_with_cookie(addr, "/ws", "session=ada")
        .await
        .unwrap_err();
    assert_eq!(status, 503);
    assert!(
        started.elapsed() < SLOW,
        "answered before the backend did: the timeout, not the backend, bounds it"
    );

    // Publishes wait for a slow backend; past the lane's 64, the client is told at once,
    // and its connection stays usable.
    backend.mode.store(SLOW_PUBLISH, Ordering::Relaxed);
    let mut config = hooked(backend_addr);
    config.hooks.timeout_ms = 3000;
    config.hooks.ask = vec![HookAsk::Publish];
    let (server2, addr) = start_with(config).await;
    let (mut ws, _) = native::connect(addr, "").await;
    for rid in 1..=80u64 {
        let emit =
            json!({"type": "emit", "rid": rid, "event": "chat", "data": rid, "to": {"all": true}});
        send_json(&mut ws, emit).await;
    }
    let busy = native::reply(&mut ws, 80).await;
    assert_eq!(busy["error"]["code"], "unavailable", "{busy}");
    assert!(busy["error"]["message"]
        .as_str()
        .unwrap()
        .contains("too many"));
    assert!(server2.metrics_text().contains("chorus_hook_busy_total "));
    // Another connection is not held up by this one's lane.
    let (mut other, _) = native::connect(addr, "").await;
    send_json(&mut other, json!({"type": "ping", "rid": 1})).await;
    assert_eq!(native::reply(&mut other, 1).await["ok"], true);
    drop(server);
}

#[tokio::test]
async fn raw_rooms_ask_for_the_connect_the_room_and_each_message() {
    let (backend, backend_addr) = backend().await;
    let (_server, addr) = start_with(Config {
        raw_rooms: true,
        ..hooked(backend_addr)
    })
    .await;
    let (status, body) = connect_with_cookie(addr, "/secret", "session=ada")
        .await
        .unwrap_err();
    assert_eq!(status, 403);
    assert!(body.contains("members only"), "{body}");
    let mut ada = connect_with_cookie(addr, "/lobby", "session=ada")
        .await
        .unwrap();
    let mut bob = connect_with_cookie(addr, "/lobby", "session=bob")
        .await
        .unwrap();
    ada.send(Message::text("spam, spam")).await.unwrap();
    ada.send(Message::text("hi bob")).await.unwrap();
    ada.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        recv_text(&mut bob).await,
        "hi bob",
        "the refused message is dropped"
    );
    assert_eq!(recv(&mut bob).await, Message::binary(vec![1u8, 2, 3]));
    let join = &backend.seen("join")[0];
    assert_eq!(join["protocol"], "raw");
    assert_eq!(join["room"], "/secret");
    assert_eq!(join["user"], "ada");
    let binary = backend
        .seen("publish")
        .into_iter()
        .find(|p| p["data"].get("$binary").is_some())
        .unwrap();
    assert_eq!(binary["data"], json!({"$binary": "AQID"}));
    assert_eq!(binary["event"], Value::Null);
}

#[tokio::test]
async fn socketio_clients_are_asked_with_their_auth_payload() {
    let (backend, backend_addr) = backend().await;
    let server = chorus::Server::new(hooked(backend_addr));
    chorus::builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;

    // Refused at CONNECT with the backend's reason.
    let mut ws = connect(addr, "/socket.io/?EIO=4&transport=websocket").await;
    assert!(recv_text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text(r#"40{"session":"banned"}"#))
        .await
        .unwrap();
    let refused = socketio::recv(&mut ws).await;
    assert_eq!(refused, r#"44{"message":"banned"}"#);

    let mut ada = socketio::connect(addr, r#"{"session":"ada"}"#).await;
    let connect = backend
        .seen("connect")
        .into_iter()
        .find(|c| c["auth"]["session"] == "ada")
        .unwrap();
    assert_eq!(connect["protocol"], "socket.io");
    assert_eq!(connect["namespace"], "/");
    let joined = socketio::call(&mut ada, 1, json!(["join", "lobby"])).await;
    assert_eq!(joined["room"], "lobby", "{joined}");
    assert_eq!(joined["members"][0]["name"], "Ada");
    let secret = socketio::call(&mut ada, 2, json!(["join", "secret"])).await;
    assert_eq!(secret["error"]["code"], "forbidden", "{secret}");
    assert_eq!(secret["error"]["message"], "members only");
    let spam = socketio::call(&mut ada, 3, json!(["to", "lobby", "chat", "spam!"])).await;
    assert_eq!(spam["error"]["message"], "no spam here", "{spam}");
    let sent = socketio::call(&mut ada, 4, json!(["to", "lobby", "chat", "hello"])).await;
    assert_eq!(sent["delivered"], 0, "{sent}");
    let publish = backend
        .seen("publish")
        .into_iter()
        .find(|p| p["data"] == "hello")
        .unwrap();
    assert_eq!(publish["protocol"], "socket.io");
    assert_eq!(publish["user"], "ada");
    assert_eq!(backend.bad_signatures.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_connection_that_leaves_while_the_backend_thinks_leaves_nothing_behind() {
    let (backend, backend_addr) = backend().await;
    backend.mode.store(SLOW_JOIN, Ordering::Relaxed);
    let (server, addr) = start_with(hooked(backend_addr)).await;
    let (mut ws, _) = native::connect(addr, "").await;
    send_json(&mut ws, json!({"type": "join", "rid": 1, "room": "lobby"})).await;
    send_json(&mut ws, json!({"type": "join", "rid": 2, "room": "lobby2"})).await;
    // Gone before the backend answered the first join.
    tokio::time::sleep(Duration::from_millis(100)).await;
    ws.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.io().members("lobby").len(), 0, "no ghost member");
    let rooms: usize = server
        .hub()
        .namespaces()
        .iter()
        .map(|ns| ns.room_count())
        .sum();
    assert_eq!(rooms, 0);
    assert_eq!(
        backend.seen("join").len(),
        1,
        "the second join was dropped, not asked"
    );
    assert!(backend.events().is_empty(), "{:?}", backend.events());
}

#[tokio::test]
async fn what_the_token_refuses_is_refused_without_asking() {
    let (backend, backend_addr) = backend().await;
    let (_server, addr) = start_with(Config {
        jwt_secret: Some(SECRET.into()),
        ..hooked(backend_addr)
    })
    .await;
    let token = hs256(json!({"sub": "ada", "join": ["public:*"], "publish": ["public:*"]}));
    let (mut ws, _) = native::connect(addr, &format!("?token={token}")).await;
    let joined = native::join(&mut ws, 1, "private").await;
    assert_eq!(joined["error"]["code"], "forbidden", "{joined}");
    send_json(
        &mut ws,
        json!({"type": "emit", "rid": 2, "event": "x", "data": 1, "to": {"room": "private"}}),
    )
    .await;
    assert_eq!(
        native::reply(&mut ws, 2).await["error"]["code"],
        "forbidden"
    );
    assert_eq!(native::join(&mut ws, 3, "public:a").await["ok"], true);
    assert_eq!(
        backend.seen("join").len(),
        1,
        "only the join the token allows is asked"
    );
    assert!(backend.seen("publish").is_empty());
    let connect = &backend.seen("connect")[0];
    assert_eq!(connect["user"], "ada", "the token's user, checked first");
}

#[test]
fn hooks_need_a_secret_and_an_http_url() {
    let with = |url: &str, secret: Option<&str>| Config {
        hooks: HooksConfig {
            url: Some(url.into()),
            secret: secret.map(Into::into),
            ..HooksConfig::default()
        },
        ..Config::default()
    };
    assert!(with("http://127.0.0.1:1/h", Some(HOOK_SECRET))
        .validate()
        .is_ok());
    assert!(with("https://backend.example/h", Some(HOOK_SECRET))
        .validate()
        .is_ok());
    let err = with("http://127.0.0.1:1/h", None).validate().unwrap_err();
    assert!(err.to_string().contains("hooks.secret"), "{err}");
    assert!(with("http://127.0.0.1:1/h", Some("short"))
        .validate()
        .is_err());
    assert!(with("ftp://127.0.0.1/h", Some(HOOK_SECRET))
        .validate()
        .is_err());
    assert!(with("not a url", Some(HOOK_SECRET)).validate().is_err());
    assert!(with("http://127.0.0.1:1/h?x=1", Some(HOOK_SECRET))
        .validate()
        .is_err());
    assert!(with("http://user:pw@127.0.0.1:1/h", Some(HOOK_SECRET))
        .validate()
        .is_err());
    let toml = Config::from_toml(
        "[hooks]\nurl = \"http://127.0.0.1:9/h\"\nsecret = \"0123456789abcdef\"\nask = [\"join\"]\non_failure = \"allow\"\n",
        "test",
    )
    .unwrap();
    assert_eq!(toml.hooks.ask, vec![HookAsk::Join]);
    assert_eq!(toml.hooks.on_failure, HookFailure::Allow);
    assert!(Config::from_toml("[hooks]\nurl = \"http://x/h\"\nsecrte = \"x\"\n", "test").is_err());
}

//! Socket.IO and Engine.IO under hostile input, with real sockets against a real server:
//! each request, packet or silence a client can get wrong, the exact answer the server
//! gives (HTTP 400 with `{"code":N,"message":…}`, a closed WebSocket, a `CONNECT_ERROR`),
//! and, where it matters, a second client on the same server that keeps working after.
//! Last, the positive case: Socket.IO and native `/ws` clients share rooms.
//!
//! Long-polling is spoken by hand over TCP ([`Polling`]), the WebSocket transport with
//! tokio-tungstenite; Engine.IO pings are answered only where a test says so.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chorus::{Config, ConnectError, Server};
use common::*;
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const PATH: &str = "/socket.io/";

/// Starts a server whose `/` namespace answers `echo` with `echo` (the same arguments)
/// and joins the room its `join` event names, acknowledging with the room's name.
async fn server(config: Config) -> (Server, SocketAddr) {
    let server = Server::new(config);
    server.io().on_connection(|socket| {
        socket.on("echo", |socket, data, _ack| {
            let _ = socket.emit_args("echo", data);
        });
        socket.on("join", |socket, data, ack| {
            let room = data.as_str().unwrap_or_default();
            socket.join(&room).unwrap();
            ack.send(&room);
        });
    });
    let addr = start(server.clone()).await;
    (server, addr)
}

/// A raw HTTP/1.1 request to `PATH` with this query.
fn request(method: &str, query: &str, headers: &str, body: &str) -> Vec<u8> {
    let length = if method == "GET" || method == "OPTIONS" {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    format!(
        "{method} {PATH}?{query} HTTP/1.1\r\nHost: chorus.test\r\nConnection: close\r\n\
         {length}{headers}\r\n{body}"
    )
    .into_bytes()
}

/// Asserts an Engine.IO error response: the status, the JSON content type, and the body
/// exactly as the reference server writes it.
fn assert_engine_error(resp: &HttpResponse, status: u16, code: u8, message: &str) {
    assert_eq!(resp.status, status, "{resp:?} {}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        resp.text(),
        format!(r#"{{"code":{code},"message":"{message}"}}"#)
    );
}

/// A long-polling Engine.IO session, spoken by hand.
struct Polling {
    addr: SocketAddr,
    sid: String,
}

impl Polling {
    /// The handshake GET: a new session, not yet in any namespace.
    async fn open(addr: SocketAddr) -> Self {
        let resp = http_request(addr, &request("GET", "EIO=4&transport=polling", "", "")).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let text = resp.text();
        let open: Value = serde_json::from_str(text.strip_prefix('0').expect("open packet"))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        Self {
            addr,
            sid: open["sid"].as_str().unwrap().to_owned(),
        }
    }

    /// A session connected to the `/` namespace.
    async fn connect(addr: SocketAddr) -> Self {
        let client = Self::open(addr).await;
        client.send("40").await;
        let packets = client.recv().await;
        assert_eq!(packets.len(), 1, "{packets:?}");
        assert!(packets[0].starts_with(r#"40{"sid":""#), "{packets:?}");
        client
    }

    fn query(&self) -> String {
        format!("EIO=4&transport=polling&sid={}", self.sid)
    }

    async fn get(&self) -> HttpResponse {
        http_request(self.addr, &request("GET", &self.query(), "", "")).await
    }

    async fn post(&self, body: &str) -> HttpResponse {
        let headers = "Content-Type: text/plain;charset=UTF-8\r\n";
        http_request(self.addr, &request("POST", &self.query(), headers, body)).await
    }

    /// POSTs packets and expects them taken.
    async fn send(&self, body: &str) {
        let resp = self.post(body).await;
        assert_eq!((resp.status, resp.text().as_str()), (200, "ok"));
    }

    /// The next packets the server sends. Its pings are answered and left out, as are
    /// noops; polls again until something else comes.
    async fn recv(&self) -> Vec<String> {
        loop {
            let resp = self.get().await;
            assert_eq!(resp.status, 200, "{}", resp.text());
            let mut packets = Vec::new();
            for packet in resp.text().split('\x1e') {
                match packet {
                    "2" => self.send("3").await,
                    "6" => {}
                    other => packets.push(other.to_owned()),
                }
            }
            if !packets.is_empty() {
                return packets;
            }
        }
    }

    /// Emits `echo` and expects it back: the session works.
    async fn assert_echo(&self, text: &str) {
        let packet = format!(r#"42["echo",{}]"#, json!(text));
        self.send(&packet).await;
        assert_eq!(self.recv().await, vec![packet]);
    }

    /// The session no longer exists.
    async fn assert_gone(&self) {
        assert_engine_error(&self.get().await, 400, 1, "Session ID unknown");
    }
}

/// A WebSocket Engine.IO session, past its open packet, in no namespace yet.
async fn ws_open(addr: SocketAddr) -> Ws {
    let mut ws = connect(addr, &format!("{PATH}?EIO=4&transport=websocket")).await;
    let open = recv_text(&mut ws).await;
    assert!(open.starts_with(r#"0{"sid":""#), "{open}");
    ws
}

/// A WebSocket session connected to the `/` namespace.
async fn ws_connect(addr: SocketAddr) -> Ws {
    let mut ws = ws_open(addr).await;
    ws.send(Message::text("40")).await.unwrap();
    let connected = ws_recv(&mut ws).await;
    assert!(connected.starts_with(r#"40{"sid":""#), "{connected}");
    ws
}

/// The next packet on a WebSocket session, answering pings.
async fn ws_recv(ws: &mut Ws) -> String {
    loop {
        let text = recv_text(ws).await;
        if text == "2" {
            ws.send(Message::text("3")).await.unwrap();
            continue;
        }
        return text;
    }
}

/// Emits `echo` and expects it back: the session works.
async fn ws_assert_echo(ws: &mut Ws, text: &str) {
    let packet = format!(r#"42["echo",{}]"#, json!(text));
    ws.send(Message::text(packet.clone())).await.unwrap();
    assert_eq!(ws_recv(ws).await, packet);
}

/// Waits (at most a generous 5 s) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// 1. Unknown session ids.

#[tokio::test]
async fn unknown_sid_is_400_code_1_on_get_post_and_websocket() {
    let (_, addr) = server(config()).await;
    let query = "EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAAAA";
    let get = http_request(addr, &request("GET", query, "", "")).await;
    assert_engine_error(&get, 400, 1, "Session ID unknown");
    let post = http_request(addr, &request("POST", query, "", "40")).await;
    assert_engine_error(&post, 400, 1, "Session ID unknown");
    let ws = http_request(
        addr,
        &request(
            "GET",
            "EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAAAA",
            "Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
            "",
        ),
    )
    .await;
    assert_engine_error(&ws, 400, 1, "Session ID unknown");
}

// 2. Bad handshakes.

#[tokio::test]
async fn bad_version_transport_or_handshake_method_get_their_codes() {
    let (_, addr) = server(config()).await;
    for query in [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=3&transport=polling",
    ] {
        let resp = http_request(addr, &request("GET", query, "", "")).await;
        assert_engine_error(&resp, 400, 5, "Unsupported protocol version");
    }
    for query in ["EIO=4", "EIO=4&transport=carrier-pigeon"] {
        let resp = http_request(addr, &request("GET", query, "", "")).await;
        assert_engine_error(&resp, 400, 0, "Transport unknown");
    }
    for method in ["POST", "PUT"] {
        let resp = http_request(addr, &request(method, "EIO=4&transport=polling", "", "40")).await;
        assert_engine_error(&resp, 400, 2, "Bad handshake method");
    }
}

// 3. A malformed Engine.IO packet in a POST.

#[tokio::test]
async fn malformed_polling_packet_is_400_and_ends_only_that_session() {
    let (server, addr) = server(config()).await;
    let other = Polling::connect(addr).await;
    let bad = Polling::connect(addr).await;
    assert_engine_error(&bad.post("abc").await, 400, 3, "Bad request");
    bad.assert_gone().await;
    other.assert_echo("still here").await;
    assert_eq!(server.io().sockets().len(), 1);
}

// 4. A malformed Engine.IO packet on a WebSocket.

#[tokio::test]
async fn malformed_websocket_packet_closes_only_that_websocket() {
    let (_, addr) = server(config()).await;
    let mut other = ws_connect(addr).await;
    for (packet, reason) in [
        ("abc", "parse error"),
        ("", "parse error"),
        ("0", "unexpected packet"),
    ] {
        let mut bad = ws_connect(addr).await;
        bad.send(Message::text(packet)).await.unwrap();
        assert_eq!(
            expect_close(&mut bad).await,
            (1002, reason.to_owned()),
            "{packet:?}"
        );
        ws_assert_echo(&mut other, packet).await;
    }
}

// 5. Malformed Socket.IO packets: each closes the sender's connection, and only that.

/// Sends `frame` (a whole Engine.IO text frame) on a connected session and expects it
/// closed with `parse error`, while another client carries on.
async fn socketio_parse_error(frame: &str) {
    let (server, addr) = server(config()).await;
    let mut other = ws_connect(addr).await;
    let mut bad = ws_connect(addr).await;
    bad.send(Message::text(frame)).await.unwrap();
    assert_eq!(expect_close(&mut bad).await, (1002, "parse error".into()));
    ws_assert_echo(&mut other, "unaffected").await;
    eventually("the bad socket leaves", || server.io().sockets().len() == 1).await;
}

#[tokio::test]
async fn socketio_unknown_packet_type_closes() {
    socketio_parse_error("49").await;
}

#[tokio::test]
async fn socketio_event_payload_not_an_array_closes() {
    socketio_parse_error("42{}").await;
}

#[tokio::test]
async fn socketio_non_numeric_ack_id_closes() {
    socketio_parse_error(r#"42abc["x"]"#).await;
}

#[tokio::test]
async fn socketio_reserved_event_name_closes() {
    socketio_parse_error(r#"42["connect"]"#).await;
}

#[tokio::test]
async fn socketio_invalid_json_closes() {
    socketio_parse_error(r#"42["echo","#).await;
}

#[tokio::test]
async fn socketio_nesting_deeper_than_64_closes() {
    let deep = format!(r#"42["echo",{}{}]"#, "[".repeat(65), "]".repeat(65));
    socketio_parse_error(&deep).await;
}

// 6. Binary attachments that do not match their announcement.

const ONE_ATTACHMENT: &str = r#"451-["upload",{"_placeholder":true,"num":0}]"#;

/// Sends `frames` on a connected session and expects it closed with `parse error`, while
/// another client carries on.
async fn attachment_error(frames: Vec<Message>) {
    let (_, addr) = server(config()).await;
    let mut other = ws_connect(addr).await;
    let mut bad = ws_connect(addr).await;
    for frame in frames {
        bad.send(frame).await.unwrap();
    }
    assert_eq!(expect_close(&mut bad).await, (1002, "parse error".into()));
    ws_assert_echo(&mut other, "unaffected").await;
}

#[tokio::test]
async fn more_attachments_than_announced_closes() {
    attachment_error(vec![
        Message::text(ONE_ATTACHMENT),
        Message::binary(vec![1, 2, 3]),
        Message::binary(vec![4, 5, 6]),
    ])
    .await;
}

#[tokio::test]
async fn unannounced_binary_frame_closes() {
    attachment_error(vec![Message::binary(vec![1, 2, 3])]).await;
}

#[tokio::test]
async fn text_packet_while_an_attachment_is_due_closes() {
    attachment_error(vec![
        Message::text(ONE_ATTACHMENT),
        Message::text(r#"42["echo","too soon"]"#),
    ])
    .await;
}

// 7. Polling bodies over maxPayload.

#[tokio::test]
async fn oversized_polling_post_is_413_before_it_is_read_whole() {
    let (_, addr) = server(Config {
        max_message_size: 1000,
        ..config()
    })
    .await;
    let resp = http_request(addr, &request("GET", "EIO=4&transport=polling", "", "")).await;
    let open: Value = serde_json::from_str(&resp.text()[1..]).unwrap();
    assert_eq!(open["maxPayload"], 1000);

    // Announced too large: answered after a few bytes, the rest never sent.
    let client = Polling::open(addr).await;
    let head = format!(
        "POST {PATH}?{} HTTP/1.1\r\nHost: chorus.test\r\nContent-Length: 100000\r\n\r\n4{}",
        client.query(),
        "x".repeat(99)
    );
    let resp = http_request(addr, head.as_bytes()).await;
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (413, "payload larger than maxPayload\n")
    );
    client.assert_gone().await;

    // Chunked, streaming past the limit with no end in sight.
    let client = Polling::open(addr).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {PATH}?{} HTTP/1.1\r\nHost: chorus.test\r\nTransfer-Encoding: chunked\r\n\r\n",
        client.query()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("190\r\n4{}\r\n", "x".repeat(399));
    for _ in 0..3 {
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    let resp = read_response(&mut stream).await;
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (413, "payload larger than maxPayload\n")
    );
    client.assert_gone().await;
}

// 8. Clients that never answer pings.

fn short_heartbeat() -> Config {
    Config {
        ping_interval_ms: 200,
        ping_timeout_ms: 200,
        ..config()
    }
}

/// Asserts the socket and its room membership are gone from the `/` namespace.
async fn assert_socket_and_rooms_gone(server: &Server) {
    eventually("the socket leaves the namespace", || {
        server.io().sockets().is_empty()
    })
    .await;
    assert!(server.io().members("lobby").is_empty());
    assert_eq!(server.hub().get_namespace("/").unwrap().room_count(), 0);
}

#[tokio::test]
async fn silent_polling_client_is_dropped_after_ping_timeout() {
    let (server, addr) = server(short_heartbeat()).await;
    let client = Polling::connect(addr).await;
    client.send(r#"421["join","lobby"]"#).await;
    assert_eq!(client.recv().await, vec![r#"431["lobby"]"#.to_owned()]);
    assert_eq!(server.io().sockets().len(), 1);
    assert_eq!(server.io().members("lobby").len(), 1);
    // From here on the client neither polls nor answers.
    assert_socket_and_rooms_gone(&server).await;
    client.assert_gone().await;
}

#[tokio::test]
async fn silent_websocket_client_is_closed_after_ping_timeout() {
    let (server, addr) = server(short_heartbeat()).await;
    let mut ws = ws_connect(addr).await;
    ws.send(Message::text(r#"421["join","lobby"]"#))
        .await
        .unwrap();
    assert_eq!(ws_recv(&mut ws).await, r#"431["lobby"]"#);
    assert_eq!(server.io().members("lobby").len(), 1);
    // Reads the pings, never answers them.
    assert_eq!(expect_close(&mut ws).await, (1000, "ping timeout".into()));
    assert_socket_and_rooms_gone(&server).await;
}

// 9. Two long-polls at once.

#[tokio::test]
async fn two_concurrent_polls_end_the_session() {
    let (_, addr) = server(config()).await;
    let client = Polling::open(addr).await;
    let waiting = tokio::spawn({
        let request = request("GET", &client.query(), "", "");
        async move { http_request(addr, &request).await }
    });
    // Give the first poll time to arrive and wait (nothing is queued for it).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = client.get().await;
    let first = waiting.await.unwrap();
    // Whichever arrived first was waiting: it gets the close packet, the other a 400.
    let (closed, refused) = if first.status == 200 {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!((closed.status, closed.text().as_str()), (200, "1"));
    assert_engine_error(&refused, 400, 3, "Bad request");
    client.assert_gone().await;
}

// 10. CONNECT refused.

#[tokio::test]
async fn refused_namespaces_get_connect_error() {
    let (server, addr) = server(config()).await;
    server
        .of("/admin")
        .middleware(|_| Err(ConnectError::new("admins only")));
    server.of("/vault").middleware(|_| {
        Err(ConnectError::new("locked").with_data(json!({"retry": false, "code": 42})))
    });
    let mut ws = ws_open(addr).await;
    ws.send(Message::text("40/random,")).await.unwrap();
    assert_eq!(
        ws_recv(&mut ws).await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    ws.send(Message::text("40/admin,")).await.unwrap();
    assert_eq!(
        ws_recv(&mut ws).await,
        r#"44/admin,{"message":"admins only"}"#
    );
    ws.send(Message::text(r#"40/vault,{"token":"guess"}"#))
        .await
        .unwrap();
    assert_eq!(
        ws_recv(&mut ws).await,
        r#"44/vault,{"message":"locked","data":{"code":42,"retry":false}}"#
    );
    // Refusals end nothing: the same session still joins `/`.
    ws.send(Message::text("40")).await.unwrap();
    assert!(ws_recv(&mut ws).await.starts_with(r#"40{"sid":""#));
    ws_assert_echo(&mut ws, "in").await;
}

// 11. No CONNECT in time.

fn short_connect_timeout() -> Config {
    Config {
        connect_timeout_ms: 1000,
        ..config()
    }
}

#[tokio::test]
async fn polling_session_without_connect_is_closed_at_connect_timeout() {
    let (_, addr) = server(short_connect_timeout()).await;
    let client = Polling::open(addr).await;
    let resp = client.get().await;
    assert_eq!((resp.status, resp.text().as_str()), (200, "1"));
    client.assert_gone().await;
}

#[tokio::test]
async fn websocket_session_without_connect_is_closed_at_connect_timeout() {
    let (_, addr) = server(short_connect_timeout()).await;
    let mut ws = ws_open(addr).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1000, "connect timeout".into())
    );
}

// 12. CORS for long-polling.

#[tokio::test]
async fn polling_cors_refuses_other_origins_and_echoes_allowed_ones() {
    let (_, addr) = server(Config {
        allowed_origins: vec!["https://app.example".into()],
        ..config()
    })
    .await;
    let handshake = "EIO=4&transport=polling";
    let evil = http_request(
        addr,
        &request("GET", handshake, "Origin: https://evil.example\r\n", ""),
    )
    .await;
    assert_engine_error(&evil, 403, 4, "Forbidden");

    let allowed = "Origin: https://app.example\r\n";
    let ok = http_request(addr, &request("GET", handshake, allowed, "")).await;
    assert_eq!(ok.status, 200);
    assert!(ok.text().starts_with(r#"0{"sid":""#), "{}", ok.text());
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));

    let preflight = http_request(
        addr,
        &request(
            "OPTIONS",
            handshake,
            "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type\r\n",
            "",
        ),
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    let methods = preflight.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
}

// The positive case: one hub, two protocols.

#[tokio::test]
async fn socketio_and_native_clients_share_rooms() {
    let (server, addr) = server(config()).await;
    let mut sio = ws_connect(addr).await;
    sio.send(Message::text(r#"421["join","lobby"]"#))
        .await
        .unwrap();
    assert_eq!(ws_recv(&mut sio).await, r#"431["lobby"]"#);

    let mut native = connect(addr, "/ws?name=nat").await;
    assert_eq!(recv_json(&mut native).await["type"], "hello");
    send_json(&mut native, json!({"type":"join","rid":1,"room":"lobby"})).await;
    let joined = recv_json(&mut native).await;
    assert_eq!(joined["ok"], true, "{joined}");
    assert_eq!(joined["result"]["members"].as_array().unwrap().len(), 2);

    // A native emit to the room reaches the Socket.IO client as an EVENT.
    send_json(
        &mut native,
        json!({"type":"emit","rid":2,"event":"chat","data":{"text":"hi"},"to":{"room":"lobby"}}),
    )
    .await;
    // The room keeps history, and recovery is on by default: the stored event carries
    // its offset as the last argument, the one socket.io-client keeps.
    let chat: Value =
        serde_json::from_str(ws_recv(&mut sio).await.strip_prefix("42").unwrap()).unwrap();
    assert_eq!(
        (&chat[0], &chat[1]),
        (&json!("chat"), &json!({"text":"hi"}))
    );
    let offset = chat[2].as_str().expect("an offset");
    assert_eq!(recv_json(&mut native).await["event"], "chat");
    let reply = recv_json(&mut native).await;
    assert_eq!(reply["result"]["delivered"], 2);
    // `<seq>-<tag>`: the message's store-wide sequence number, signed by the server.
    let (seq, tag) = offset.split_once('-').expect("<seq>-<tag>");
    let seq: u64 = seq.parse().unwrap();
    assert!(seq >= 1, "{offset}");
    assert_eq!(tag.len(), 16, "{offset}");

    // A server emit to the room reaches both, each in its own protocol.
    let delivered = server
        .io()
        .to("lobby")
        .emit("news", &json!({"n": 1}))
        .unwrap();
    assert_eq!(delivered, 2);
    let news: Value =
        serde_json::from_str(ws_recv(&mut sio).await.strip_prefix("42").unwrap()).unwrap();
    assert_eq!((&news[0], &news[1]), (&json!("news"), &json!({"n": 1})));
    let next: u64 = news[2]
        .as_str()
        .unwrap()
        .split_once('-')
        .unwrap()
        .0
        .parse()
        .unwrap();
    assert!(next > seq, "sequence numbers grow");
    let news = recv_json(&mut native).await;
    assert_eq!(
        (&news["type"], &news["event"], &news["room"], &news["data"]),
        (
            &json!("event"),
            &json!("news"),
            &json!("lobby"),
            &json!({"n": 1})
        )
    );
}

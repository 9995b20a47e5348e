//! The seed-program examples (`examples/p*.rs`), driven for real: each test starts the
//! example's own `server()` on a free port and talks to it with a WebSocket client and plain
//! HTTP/1.1 — the Socket.IO ones with the minimal Socket.IO client in [`sio`] — checking what
//! the seed program does. Every read has a timeout, so a broken example fails its test
//! instead of hanging it.

// The Socket.IO examples each include `examples/support/js.rs`, so this test crate, which
// includes them all, compiles it once per example.
#![allow(clippy::duplicate_mod)]

#[path = "../../../examples/p1_hello.rs"]
#[allow(dead_code, unreachable_pub)]
mod p1;
#[path = "../../../examples/p10_suffix.rs"]
#[allow(dead_code, unreachable_pub)]
mod p10;
#[path = "../../../examples/p11_socketio_chat.rs"]
#[allow(dead_code, unreachable_pub)]
mod p11;
#[path = "../../../examples/p2_socketio_broadcast.rs"]
#[allow(dead_code, unreachable_pub)]
mod p2;
#[path = "../../../examples/p3_scream.rs"]
#[allow(dead_code, unreachable_pub)]
mod p3;
#[path = "../../../examples/p4_socketio_emit.rs"]
#[allow(dead_code, unreachable_pub)]
mod p4;
#[path = "../../../examples/p5_chat_room.rs"]
#[allow(dead_code, unreachable_pub)]
mod p5;
#[path = "../../../examples/p6_socketio_chat_room.rs"]
#[allow(dead_code, unreachable_pub)]
mod p6;
#[path = "../../../examples/p7_broadcast.rs"]
#[allow(dead_code, unreachable_pub)]
mod p7;
#[path = "../../../examples/p8_express_ws.rs"]
#[allow(dead_code, unreachable_pub)]
mod p8;
#[path = "../../../examples/p9_group_chat.rs"]
#[allow(dead_code, unreachable_pub)]
mod p9;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single step may take.
const STEP: Duration = Duration::from_secs(5);

/// Runs `fut`, failing the test with `what` if it takes longer than [`STEP`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Serves `server` on a free local port.
async fn start(server: chorus::Server) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(server.serve(listener));
    addr
}

async fn connect(addr: SocketAddr, path: &str) -> Ws {
    let url = format!("ws://{addr}{path}");
    let (ws, _response) = within(&format!("connect {url}"), connect_async(&url))
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    ws
}

/// The next data message (pings and pongs skipped).
async fn recv(ws: &mut Ws) -> Message {
    within("waiting for a message", async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(msg)) => return msg,
                Some(Err(e)) => panic!("read error: {e}"),
                None => panic!("connection ended"),
            }
        }
    })
    .await
}

/// The next message, which must be text.
async fn recv_text(ws: &mut Ws) -> String {
    match recv(ws).await {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The next message, which must be binary.
async fn recv_binary(ws: &mut Ws) -> Vec<u8> {
    match recv(ws).await {
        Message::Binary(data) => data.to_vec(),
        other => panic!("expected a binary message, got {other:?}"),
    }
}

/// Asserts that nothing arrives for a little while.
async fn assert_quiet(ws: &mut Ws) {
    if let Ok(msg) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
        panic!("expected no message, got {msg:?}");
    }
}

async fn send_text(ws: &mut Ws, text: &str) {
    within("sending", ws.send(Message::text(text)))
        .await
        .expect("send");
}

async fn send_binary(ws: &mut Ws, data: &[u8]) {
    within("sending", ws.send(Message::binary(data.to_vec())))
        .await
        .expect("send");
}

/// Closes with 1000 and waits for the server's close.
async fn close(mut ws: Ws) {
    within("closing", async {
        ws.close(None).await.expect("close");
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// A plain HTTP/1.1 response.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    /// Header lines, names lower-cased.
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` over a fresh TCP connection, HTTP/1.1 by hand.
async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    within(&format!("GET {path}"), async {
        let mut tcp = TcpStream::connect(addr).await.expect("tcp connect");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8(raw).expect("UTF-8 response");
        let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut response = HttpResponse {
            status,
            headers,
            body: body.to_owned(),
        };
        if response.header("transfer-encoding") == Some("chunked") {
            response.body = dechunk(&response.body);
        }
        response
    })
    .await
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// `GET /` serves the page, as HTML.
async fn assert_page(addr: SocketAddr, page: &str) {
    let response = http_get(addr, "/").await;
    assert_eq!(response.status, 200, "{response:?}");
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(response.body, page);
}

#[tokio::test]
async fn p1_greets_each_client() {
    let addr = start(p1::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p1.html")).await;

    let mut ws = connect(addr, "/").await;
    assert_eq!(recv_text(&mut ws).await, "message from server");
    send_text(&mut ws, "hello from client!").await;
    let mut other = connect(addr, "/").await;
    assert_eq!(recv_text(&mut other).await, "message from server");
    // The server only logs what it receives.
    assert_quiet(&mut ws).await;
    close(ws).await;
    close(other).await;
}

#[tokio::test]
async fn p3_screams_back() {
    let addr = start(p3::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p3.html")).await;

    let mut ws = connect(addr, "/").await;
    send_text(&mut ws, "hi").await;
    assert_eq!(recv_text(&mut ws).await, "HI!!!");
    send_text(&mut ws, "Hello WebSockets!").await;
    assert_eq!(recv_text(&mut ws).await, "HELLO WEBSOCKETS!!!!");
    close(ws).await;
}

#[tokio::test]
async fn p5_chat_room_sends_enter_message_and_leave_to_everyone() {
    let addr = start(p5::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p5.html")).await;

    let mut a = connect(addr, "/").await;
    assert_eq!(
        recv_text(&mut a).await,
        r#"{"type":0,"info":"user1 comes in !!!"}"#
    );
    let mut b = connect(addr, "/").await;
    let enter2 = r#"{"type":0,"info":"user2 comes in !!!"}"#;
    assert_eq!(recv_text(&mut b).await, enter2);
    assert_eq!(recv_text(&mut a).await, enter2);

    send_text(&mut a, "hello").await;
    let said = r#"{"type":1,"info":"user1: hello"}"#;
    assert_eq!(recv_text(&mut a).await, said);
    assert_eq!(recv_text(&mut b).await, said);

    send_text(&mut b, "hi \"there\"").await;
    let said = r#"{"type":1,"info":"user2: hi \"there\""}"#;
    assert_eq!(recv_text(&mut a).await, said);
    assert_eq!(recv_text(&mut b).await, said);

    close(b).await;
    assert_eq!(
        recv_text(&mut a).await,
        r#"{"type":2,"info":"user2 leaves."}"#
    );

    // Nicknames keep counting: the next client is user3.
    let mut c = connect(addr, "/").await;
    let enter3 = r#"{"type":0,"info":"user3 comes in !!!"}"#;
    assert_eq!(recv_text(&mut c).await, enter3);
    assert_eq!(recv_text(&mut a).await, enter3);
    close(a).await;
    assert_eq!(
        recv_text(&mut c).await,
        r#"{"type":2,"info":"user1 leaves."}"#
    );
    close(c).await;
}

#[tokio::test]
async fn p7_sends_every_message_to_every_client_keeping_the_binary_flag() {
    let addr = start(p7::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p7.html")).await;

    // Each client's first message coming back to it shows that it is registered.
    let mut a = connect(addr, "/").await;
    send_text(&mut a, "a is here").await;
    assert_eq!(recv_text(&mut a).await, "a is here");
    let mut b = connect(addr, "/").await;
    send_text(&mut b, "b is here").await;
    assert_eq!(recv_text(&mut b).await, "b is here");
    assert_eq!(recv_text(&mut a).await, "b is here");

    send_text(&mut a, "text from a").await;
    assert_eq!(recv_text(&mut a).await, "text from a");
    assert_eq!(recv_text(&mut b).await, "text from a");

    let bytes = [0u8, 1, 2, 0xff, b'x'];
    send_binary(&mut b, &bytes).await;
    assert_eq!(recv_binary(&mut a).await, bytes);
    assert_eq!(recv_binary(&mut b).await, bytes);

    // A closed client gets nothing more, and the others go on.
    close(b).await;
    send_text(&mut a, "alone").await;
    assert_eq!(recv_text(&mut a).await, "alone");
    close(a).await;
}

/// The `count` of `GET /clients`, once it equals `want` (connections register and leave
/// asynchronously).
async fn wait_for_clients(addr: SocketAddr, want: u64) -> serde_json::Value {
    within(&format!("waiting for {want} client(s)"), async {
        loop {
            let response = http_get(addr, "/clients").await;
            assert_eq!(response.status, 200, "{response:?}");
            let content_type = response.header("content-type").unwrap_or_default();
            assert_eq!(content_type, "application/json");
            let list: serde_json::Value = serde_json::from_str(&response.body).expect("JSON");
            if list["count"] == want {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn p8_serves_talk_and_data_on_one_port_and_lists_clients() {
    let addr = start(p8::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p8.html")).await;

    let data = http_get(addr, "/data").await;
    assert_eq!(data.status, 200, "{data:?}");
    assert_eq!(data.body, "122222");

    let list = wait_for_clients(addr, 0).await;
    assert_eq!(list["clients"], serde_json::json!([]));

    let mut a = connect(addr, "/talk").await;
    send_text(&mut a, "over /talk").await;
    assert_eq!(recv_text(&mut a).await, "over /talk");
    send_binary(&mut a, b"\x00bin").await;
    assert_eq!(recv_binary(&mut a).await, b"\x00bin");
    let list = wait_for_clients(addr, 1).await;
    let client = &list["clients"][0];
    assert_eq!(client["id"].as_str().map(str::len), Some(16), "{list}");
    assert!(
        client["addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{list}"
    );

    let mut b = connect(addr, "/talk").await;
    send_text(&mut b, "b").await;
    assert_eq!(recv_text(&mut b).await, "b");
    wait_for_clients(addr, 2).await;
    // Echo only: a's message does not reach b.
    assert_quiet(&mut b).await;

    close(a).await;
    wait_for_clients(addr, 1).await;
    close(b).await;
    wait_for_clients(addr, 0).await;

    // /data still answers plain HTTP while /talk is WebSocket only.
    let talk = http_get(addr, "/talk").await;
    assert_ne!(talk.status, 200, "{talk:?}");
}

#[tokio::test]
async fn p9_echoes_to_the_sender_and_sends_to_everyone_else() {
    let addr = start(p9::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p9.html")).await;

    let mut a = connect(addr, "/").await;
    send_text(&mut a, "周杰伦：a").await;
    assert_eq!(recv_text(&mut a).await, "周杰伦：a");
    let mut b = connect(addr, "/").await;
    send_text(&mut b, "周杰伦：b").await;
    assert_eq!(recv_text(&mut b).await, "周杰伦：b");
    assert_eq!(recv_text(&mut a).await, "周杰伦：b");
    let mut c = connect(addr, "/").await;
    send_text(&mut c, "周杰伦：c").await;
    assert_eq!(recv_text(&mut c).await, "周杰伦：c");
    assert_eq!(recv_text(&mut a).await, "周杰伦：c");
    assert_eq!(recv_text(&mut b).await, "周杰伦：c");

    send_text(&mut a, "hello").await;
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(recv_text(ws).await, "hello");
    }
    send_binary(&mut c, b"\x01\x02").await;
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(recv_binary(ws).await, b"\x01\x02");
    }
    // Exactly once each: the sender's echo is not doubled by the broadcast.
    for ws in [&mut a, &mut b, &mut c] {
        assert_quiet(ws).await;
    }
    close(a).await;
    close(b).await;
    close(c).await;
}

#[tokio::test]
async fn p10_answers_with_the_seed_suffix() {
    let addr = start(p10::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p10.html")).await;

    let mut ws = connect(addr, "/").await;
    send_text(&mut ws, "床前明月光，原来是惠康;").await;
    assert_eq!(
        recv_text(&mut ws).await,
        "床前明月光，原来是惠康;举头望明月，低头思故乡,"
    );
    send_text(&mut ws, "").await;
    assert_eq!(recv_text(&mut ws).await, "举头望明月，低头思故乡,");
    close(ws).await;
}

/// A minimal Socket.IO v5 client on the Engine.IO v4 WebSocket transport, enough to drive the
/// Socket.IO seed examples: the open packet, CONNECT to `/`, events both ways as raw packet
/// text (so payload shapes and key order are checked exactly), pings answered.
mod sio {
    use super::{recv_text, send_text, SocketAddr, Ws};
    use std::time::Duration;

    pub(super) struct Client {
        ws: Ws,
        /// The socket's id in `/`, from the server's CONNECT answer.
        pub(super) sid: String,
    }

    /// Opens `/socket.io/` over WebSocket with `query` (`&key=value…`, or empty) added to
    /// the URL, checks the open packet and joins namespace `/`.
    pub(super) async fn connect(addr: SocketAddr, query: &str) -> Client {
        let path = format!("/socket.io/?EIO=4&transport=websocket{query}");
        let mut ws = super::connect(addr, &path).await;
        let open = recv_text(&mut ws).await;
        let handshake: serde_json::Value = open
            .strip_prefix('0')
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| panic!("expected an Engine.IO open packet, got {open:?}"));
        assert!(handshake["sid"].is_string(), "{open}");
        assert!(handshake["pingInterval"].is_u64(), "{open}");
        send_text(&mut ws, "40").await;
        let mut client = Client {
            ws,
            sid: String::new(),
        };
        let answer = client.recv().await;
        let answer: serde_json::Value = answer
            .strip_prefix("40")
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| panic!("expected the CONNECT answer 40{{…}}, got {answer:?}"));
        client.sid = answer["sid"].as_str().expect("a sid").to_owned();
        client
    }

    impl Client {
        /// The next Engine.IO packet other than a ping (each ping is answered with a pong).
        async fn recv(&mut self) -> String {
            loop {
                let text = recv_text(&mut self.ws).await;
                if text != "2" {
                    return text;
                }
                send_text(&mut self.ws, "3").await;
            }
        }

        /// Sends one packet, e.g. `42["chat message","hi"]`.
        pub(super) async fn send(&mut self, packet: &str) {
            send_text(&mut self.ws, packet).await;
        }

        /// The next packet must be exactly `packet`.
        pub(super) async fn expect(&mut self, packet: &str) {
            assert_eq!(self.recv().await, packet, "socket {}", self.sid);
        }

        /// Nothing but pings arrives for a little while.
        pub(super) async fn assert_quiet(&mut self) {
            if let Ok(packet) = tokio::time::timeout(Duration::from_millis(200), self.recv()).await
            {
                panic!("socket {}: expected nothing, got {packet:?}", self.sid);
            }
        }

        /// Closes the WebSocket (the server sees `transport close`).
        pub(super) async fn close(self) {
            super::close(self.ws).await;
        }

        /// Leaves namespace `/` (`41`: the server sees `client namespace disconnect`). The
        /// transport stays open, as with socket.io, until the client closes it.
        pub(super) async fn disconnect(&mut self) {
            self.send("41").await;
        }
    }
}

#[tokio::test]
async fn p2_sends_chat_event_to_every_other_client_as_server_msg() {
    let addr = start(p2::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p2.html")).await;

    let mut a = sio::connect(addr, "").await;
    let mut b = sio::connect(addr, "").await;
    let mut c = sio::connect(addr, "").await;

    a.send(r#"42["chatEvent","hello 你好"]"#).await;
    b.expect(r#"42["ServerMsg","hello 你好"]"#).await;
    c.expect(r#"42["ServerMsg","hello 你好"]"#).await;
    // Never back to the sender.
    a.assert_quiet().await;

    // `function (msg)` takes the first argument only; any JSON value goes through as it is.
    c.send(r#"42["chatEvent",{"x":[1,null,"<b>"]},2]"#).await;
    a.expect(r#"42["ServerMsg",{"x":[1,null,"<b>"]}]"#).await;
    b.expect(r#"42["ServerMsg",{"x":[1,null,"<b>"]}]"#).await;
    // No argument: `undefined`, which socket.io sends as null.
    b.send(r#"42["chatEvent"]"#).await;
    a.expect(r#"42["ServerMsg",null]"#).await;
    c.expect(r#"42["ServerMsg",null]"#).await;

    // A client that left gets nothing; the others go on.
    b.close().await;
    a.send(r#"42["chatEvent","still here"]"#).await;
    c.expect(r#"42["ServerMsg","still here"]"#).await;
    a.assert_quiet().await;
    c.assert_quiet().await;
    a.close().await;
    c.close().await;
}

#[tokio::test]
async fn p4_emits_student_to_one_enter_to_all_and_answers_msg() {
    let addr = start(p4::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p4.html")).await;
    // The page's `<script src='sicket.io.js'>` is sent to the Socket.IO client.
    let script = http_get(addr, "/sicket.io.js").await;
    assert_eq!(script.status, 307, "{script:?}");
    assert_eq!(script.header("location"), Some("/socket.io/socket.io.js"));

    // `student` to the new client alone, then `enter` to every client, itself included.
    let mut a = sio::connect(addr, "&username=ada").await;
    let student =
        |sid: &str| format!(r#"42["student",{{"roomID":"{sid}","textMessage":"hello"}}]"#);
    a.expect(&student(&a.sid)).await;
    a.expect(r#"42["enter","ada comes in !!!"]"#).await;

    // The query is URL-decoded (张三).
    let mut b = sio::connect(addr, "&username=%E5%BC%A0%E4%B8%89").await;
    assert_ne!(a.sid, b.sid);
    b.expect(&student(&b.sid)).await;
    b.expect(r#"42["enter","张三 comes in !!!"]"#).await;
    a.expect(r#"42["enter","张三 comes in !!!"]"#).await;

    // `msg` is answered to its sender only.
    a.send(r#"42["msg","你好服务器"]"#).await;
    a.expect(r#"42["msg","你好浏览器"]"#).await;
    b.send(r#"42["msg",{"any":"value"}]"#).await;
    b.expect(r#"42["msg","你好浏览器"]"#).await;
    a.assert_quiet().await;

    // Without a username (the seed's page connects so): the seed's `undefined`.
    let mut c = sio::connect(addr, "").await;
    c.expect(&student(&c.sid)).await;
    for client in [&mut c, &mut a, &mut b] {
        client
            .expect(r#"42["enter","undefined comes in !!!"]"#)
            .await;
    }

    // Leaving is only logged.
    c.disconnect().await;
    b.close().await;
    a.assert_quiet().await;
    c.assert_quiet().await;
    a.close().await;
    c.close().await;
}

#[tokio::test]
async fn p6_chat_room_emits_enter_message_and_leave_to_everyone() {
    let addr = start(p6::server()).await;
    // The seed's page with its one socket.io client URL pointed at the server's own.
    let page = include_str!("../../../examples/pages/p6.html").replace(
        "https://cdnjs.cloudflare.com/ajax/libs/socket.io/2.0.3/socket.io.js",
        "/socket.io/socket.io.js",
    );
    assert!(page.contains(r#"<script src="/socket.io/socket.io.js"></script>"#));
    assert_page(addr, &page).await;

    let mut a = sio::connect(addr, "").await;
    a.expect(r#"42["enter","user1 comes in !!!"]"#).await;
    let mut b = sio::connect(addr, "").await;
    b.expect(r#"42["enter","user2 comes in !!!"]"#).await;
    a.expect(r#"42["enter","user2 comes in !!!"]"#).await;

    a.send(r#"42["message","hello"]"#).await;
    for client in [&mut a, &mut b] {
        client.expect(r#"42["message","user1: hello"]"#).await;
    }
    b.send(r#"42["message","hi \"there\" <b>"]"#).await;
    for client in [&mut a, &mut b] {
        client
            .expect(r#"42["message","user2: hi \"there\" <b>"]"#)
            .await;
    }
    // `${str}` is JavaScript's String(str).
    a.send(r#"42["message",{"an":"object"}]"#).await;
    for client in [&mut a, &mut b] {
        client
            .expect(r#"42["message","user1: [object Object]"]"#)
            .await;
    }
    a.send(r#"42["message",[1,null,"x"],"second"]"#).await;
    for client in [&mut a, &mut b] {
        client.expect(r#"42["message","user1: 1,,x"]"#).await;
    }
    b.send(r#"42["message"]"#).await;
    for client in [&mut a, &mut b] {
        client.expect(r#"42["message","user2: undefined"]"#).await;
    }

    b.close().await;
    a.expect(r#"42["leave","user2 leaves."]"#).await;

    // Nicknames keep counting: the next client is user3.
    let mut c = sio::connect(addr, "").await;
    c.expect(r#"42["enter","user3 comes in !!!"]"#).await;
    a.expect(r#"42["enter","user3 comes in !!!"]"#).await;
    // Leaving the namespace is leaving, the transport still open.
    a.disconnect().await;
    c.expect(r#"42["leave","user1 leaves."]"#).await;
    a.assert_quiet().await;
    a.close().await;
    c.assert_quiet().await;
    c.close().await;
}

#[tokio::test]
async fn p11_sends_chat_message_to_everyone() {
    let addr = start(p11::server()).await;
    assert_page(addr, include_str!("../../../examples/pages/p11.html")).await;

    let mut a = sio::connect(addr, "").await;
    let mut b = sio::connect(addr, "").await;

    a.send(r#"42["chat message","床前明月光 <script>"]"#).await;
    for client in [&mut a, &mut b] {
        client
            .expect(r#"42["chat message","床前明月光 <script>"]"#)
            .await;
    }
    // The first argument only, as it is.
    b.send(r#"42["chat message",{"n":1.5},"dropped"]"#).await;
    for client in [&mut a, &mut b] {
        client.expect(r#"42["chat message",{"n":1.5}]"#).await;
    }
    b.send(r#"42["chat message"]"#).await;
    for client in [&mut a, &mut b] {
        client.expect(r#"42["chat message",null]"#).await;
    }
    // Exactly once each.
    a.assert_quiet().await;
    b.assert_quiet().await;

    // Leaving is only logged; the others go on.
    b.close().await;
    a.send(r#"42["chat message","alone"]"#).await;
    a.expect(r#"42["chat message","alone"]"#).await;
    a.assert_quiet().await;
    a.close().await;
}

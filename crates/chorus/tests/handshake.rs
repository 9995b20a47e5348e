//! HTTP and the opening handshake: one port for both, and every refusal explained.

mod common;

use common::*;

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test]
async fn health_page_and_client_are_served() {
    let (_, addr) = start_with(config()).await;
    let health = http_raw(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let page = http_raw(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("text/html"));
    let js = http_raw(
        addr,
        "GET /chorus.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(js.starts_with("HTTP/1.1 200"), "{js}");
    assert!(js.contains("javascript"));
    let missing = http_raw(
        addr,
        "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

#[tokio::test]
async fn wrong_version_gets_426_with_the_version_we_speak() {
    let (_, addr) = start_with(config()).await;
    let response = http_raw(
        addr,
        &format!(
            "GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY}\
             Sec-WebSocket-Version: 8\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{response}"
    );
}

#[tokio::test]
async fn malformed_upgrades_get_400_with_a_reason() {
    let (_, addr) = start_with(config()).await;
    let cases = [
        // No key.
        ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Key"),
        // A key that is not 16 bytes of base64.
        ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Key"),
        // No `Connection: Upgrade`.
        ("Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", "Connection"),
        // Upgrade to something else.
        ("Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", "Upgrade"),
    ];
    for (headers, reason) in cases {
        let response = http_raw(
            addr,
            &format!("GET /r HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"),
        )
        .await;
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{headers}: {response}"
        );
        assert!(response.contains(reason), "{headers}: {response}");
    }
    // A POST handshake.
    let response = http_raw(
        addr,
        &format!("POST /r HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("GET"), "{response}");
}

#[tokio::test]
async fn incomplete_request_does_not_hurt_the_server() {
    let (_, addr) = start_with(config()).await;
    // Half a request line, then gone.
    {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /room HTTP/1.1\r\nUpgrade: webs")
            .await
            .unwrap();
    }
    // Garbage instead of HTTP.
    let garbage = http_raw(addr, "\x16\x03\x01 not http at all\r\n\r\n").await;
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    // The server still works.
    let mut ws = connect(addr, "/room").await;
    use futures::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text("still here"))
        .await
        .unwrap();
    assert_eq!(recv_text(&mut ws).await, "still here");
}

#[tokio::test]
async fn plain_get_on_a_websocket_endpoint_says_so() {
    let (_, addr) = start_with(config()).await;
    let response = http_raw(
        addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(response.contains("WebSocket endpoint"), "{response}");
}

#[tokio::test]
async fn subprotocols_are_negotiated() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (_, addr) = start_with(config()).await;
    // Native: chorus.v1 is selected when offered.
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "other, chorus.v1".parse().unwrap(),
    );
    let (_, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chorus.v1");
    // Raw rooms accept the client's first offer, as `ws` does.
    let mut req = format!("ws://{addr}/room").into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat, superchat".parse().unwrap());
    let (_, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_only_when_enabled() {
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    let (_, addr) = start_with(chorus::Config {
        compression: true,
        ..config()
    })
    .await;
    let head = handshake_head(addr, "/room", offer).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate"),
        "{head}"
    );
    assert!(head.contains("server_no_context_takeover"), "{head}");

    let (_, addr) = start_with(config()).await;
    let head = handshake_head(addr, "/room", offer).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
}

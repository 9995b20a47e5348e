//! Two library calls a Socket.IO server needs: an ack with no arguments (socket.io's
//! `callback()`), and closing a socket's connection without a DISCONNECT (what a server does
//! to test its clients' reconnects) — seen by a Socket.IO client and a native client.

mod common;

use common::*;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

fn server() -> chorus::Server {
    let server = chorus::Server::new(config());
    server.io().on_connection(|socket| {
        socket.on("ping-me", |_socket, _data, ack| ack.done());
        socket.on("drop-me", |socket, _data, _ack| socket.close_transport());
    });
    server
}

#[tokio::test]
async fn an_ack_with_no_arguments_and_a_transport_closed_without_a_disconnect() {
    let addr = start(server()).await;

    // Socket.IO: the callback gets no arguments: `431[]`.
    let mut sio = socketio::connect(addr, "").await;
    sio.send(Message::text(r#"421["ping-me"]"#)).await.unwrap();
    assert_eq!(socketio::recv(&mut sio).await, "431[]");
    // Dropped: no DISCONNECT packet (`41`) before the close, so the client will reconnect.
    sio.send(Message::text(r#"42["drop-me"]"#)).await.unwrap();
    let code = loop {
        match tokio::time::timeout(TIMEOUT, futures::StreamExt::next(&mut sio)).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(Message::Text(text)))) => {
                assert!(
                    !text.starts_with("41"),
                    "no DISCONNECT before the close: {text}"
                )
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1001));

    // Native: an empty result; then the connection closes with 1001.
    let (mut ws, _) = native::connect(addr, "").await;
    send_json(
        &mut ws,
        json!({"type": "emit", "rid": 1, "event": "ping-me"}),
    )
    .await;
    let reply = native::reply(&mut ws, 1).await;
    assert_eq!(
        (reply["ok"].clone(), reply["result"].clone()),
        (json!(true), json!({}))
    );
    send_json(&mut ws, json!({"type": "emit", "event": "drop-me"})).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(
        (code, reason.as_str()),
        (1001, "transport closed by the server")
    );
}

//! The server the official protocol test suites expect, on 127.0.0.1:3000 (`--port N` to
//! change it):
//!
//! * at `/socket.io/`, Socket.IO as socketio/socket.io-protocol's test suite requires:
//!   namespaces `/` and `/custom`, each connection greeted with an `auth` event echoing its
//!   CONNECT payload, `message` answered by `message-back` with the same arguments,
//!   `message-with-ack` acknowledged with the same arguments (binary attachments kept);
//! * at `/engine.io/`, a raw Engine.IO echo server for socketio/engine.io-protocol's suite;
//! * both with pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000 and a
//!   1000 ms connect timeout.
//!
//! ```sh
//! cargo run --release --example socketio_conformance
//! scripts/socketio-conformance.sh   # runs both suites against it
//! ```

use chorus::{Config, RawHandlers, Server};
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut port = 3000;
    while let Some(arg) = args.next() {
        if arg == "--port" {
            port = args
                .next()
                .and_then(|p| p.parse().ok())
                .expect("--port takes a port number");
        }
    }
    let server = Server::new(Config {
        host: [127, 0, 0, 1].into(),
        port,
        ping_interval_ms: 300,
        ping_timeout_ms: 200,
        max_message_size: 1_000_000,
        connect_timeout_ms: 1_000,
        // The suites test socket.io's defaults, which have no connection-state recovery:
        // a CONNECT answer with `sid` alone.
        socketio_recovery_secs: 0,
        ..Config::embedded()
    });
    for namespace in ["/", "/custom"] {
        server.of(namespace).on_connection(|socket| {
            let auth = socket.handshake().auth_json().unwrap_or("{}");
            let auth = RawValue::from_string(auth.to_owned()).expect("auth is JSON");
            // The suite's WebSocket helper (ws 8.5, `once` listeners re-armed after each
            // `await`) loses a message that arrives in the same TCP read as the one before
            // it. Chorus writes everything queued in one batch, so the CONNECT answer and
            // an `auth` emitted right away would share a read: the emit waits a moment.
            let greeted = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let _ = greeted.emit("auth", &auth);
            });
            socket.on("message", |socket, data, _ack| {
                let _ = socket.emit_args("message-back", data);
            });
            socket.on("message-with-ack", |_socket, data, ack| ack.send_data(data));
        });
    }
    server.engine_io(
        "/engine.io/",
        RawHandlers::new()
            .on_text(|conn, text| {
                conn.send_text(text);
            })
            .on_binary(|conn, data| {
                conn.send_binary(data.clone());
            }),
    );
    println!("socket.io conformance server on http://127.0.0.1:{port}/socket.io/ and /engine.io/");
    server.listen().await
}

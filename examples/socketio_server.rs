//! The Socket.IO server API in one program: namespaces, rooms, broadcasts with exclusions,
//! acks in both directions, binary, a connect middleware, and server-side disconnects.
//!
//! It is also the app the end-to-end tests in `e2e/socketio/` and
//! `e2e/python/test_socketio.py` run against (its behaviour is specified at the top of
//! `e2e/socketio/reference-server.mjs`, which implements the same app on Node socket.io so
//! the tests can be checked against the reference).
//!
//! ```sh
//! PORT=3100 cargo run --example socketio_server
//! ```
//! and, from a Node program, `io("http://127.0.0.1:3100", { auth: { user: "ada" } })`.

use std::time::Duration;

use chorus::{Config, ConnectError, Data, EventData, Server};
use serde_json::{json, value::RawValue};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let config = Config {
        host: [127, 0, 0, 1].into(),
        port: env("PORT").unwrap_or(3100),
        ping_interval_ms: env("PING_INTERVAL").unwrap_or(25_000),
        ping_timeout_ms: env("PING_TIMEOUT").unwrap_or(20_000),
        max_message_size: 1_000_000,
        // The test app is specified as socket.io with its defaults, which have no
        // connection-state recovery (no `pid`, no offset arguments).
        socketio_recovery_secs: 0,
        ..Config::embedded()
    };
    let server = Server::new(config);

    let io = server.io();
    let everyone = io.clone();
    io.on_connection(move |socket| {
        let auth = socket.handshake().auth_json().unwrap_or("{}");
        let auth: Box<RawValue> = RawValue::from_string(auth.to_owned()).expect("JSON");
        let _ = socket.emit("welcome", &json!({ "id": socket.id(), "auth": auth }));

        socket.on("echo", |socket, data, ack| {
            if ack.wanted() {
                ack.send_data(data);
            } else {
                let _ = socket.emit_args("echo", data);
            }
        });
        socket.on("join", |socket, data, ack| match data.as_str() {
            Some(room) => match socket.join(&room) {
                Ok(_) => ack.send(&room),
                Err(err) => ack.error(&err.to_string()),
            },
            None => ack.error("join takes a room name"),
        });
        socket.on("leave", |socket, data, ack| match data.as_str() {
            Some(room) => {
                let _ = socket.leave(&room);
                ack.send(&room);
            }
            None => ack.error("leave takes a room name"),
        });
        socket.on("to-room", |socket, data, _ack| {
            if let (Some(room), Some(event), Some(payload)) =
                (text(&data, 0), text(&data, 1), data.arg(2))
            {
                socket.to(&room).emit_args(&event, payload);
            }
        });
        let io = everyone.clone();
        socket.on("to-room-all", move |_socket, data, _ack| {
            if let (Some(room), Some(event), Some(payload)) =
                (text(&data, 0), text(&data, 1), data.arg(2))
            {
                io.to(&room).emit_args(&event, payload);
            }
        });
        let io = everyone.clone();
        socket.on("to-room-except", move |_socket, data, _ack| {
            if let (Some(room), Some(except), Some(event), Some(payload)) =
                (text(&data, 0), text(&data, 1), text(&data, 2), data.arg(3))
            {
                io.to(&room).except_room(&except).emit_args(&event, payload);
            }
        });
        socket.on("broadcast", |socket, data, _ack| {
            if let (Some(event), Some(payload)) = (text(&data, 0), data.arg(1)) {
                socket.broadcast().emit_args(&event, payload);
            }
        });
        socket.on("ask", |socket, data, ack| {
            let socket = socket.clone();
            tokio::spawn(async move {
                match socket
                    .emit_args_with_ack("question", data, Duration::from_secs(2))
                    .await
                {
                    Ok(answer) => {
                        // { answer: <the client's first argument> }, binary parts kept.
                        let (args, attachments) = answer.to_args();
                        let items: Vec<&RawValue> =
                            serde_json::from_str(args.get()).unwrap_or_default();
                        let first = items.first().map_or("null", |a| a.get());
                        let wrapped = RawValue::from_string(format!(r#"[{{"answer":{first}}}]"#))
                            .expect("JSON");
                        ack.send_data(Data::new(EventData::Args {
                            args: wrapped,
                            attachments,
                        }));
                    }
                    Err(_) => ack.send(&json!({ "error": "timeout" })),
                }
            });
        });
        socket.on("size", |_socket, data, ack| {
            let n = match (data.as_str(), data.bytes()) {
                (Some(text), _) => text.encode_utf16().count() as i64,
                (None, Some(bytes)) => bytes.len() as i64,
                _ => -1,
            };
            ack.send(&n);
        });
        socket.on("kick", |socket, _data, _ack| socket.disconnect());
    });

    let admin = server.of("/admin");
    admin.middleware(|handshake| {
        let token = handshake
            .auth::<serde_json::Value>()
            .and_then(Result::ok)
            .and_then(|auth| {
                auth.get("token")
                    .and_then(|t| t.as_str())
                    .map(str::to_owned)
            });
        match token.as_deref() {
            Some("secret") => Ok(()),
            _ => Err(ConnectError::new("not authorized")),
        }
    });
    admin.on_connection(|socket| {
        let _ = socket.emit("welcome", &json!({ "nsp": "/admin" }));
    });

    println!(
        "socket.io server on http://127.0.0.1:{}/socket.io/",
        server.config().port
    );
    server.listen().await
}

/// An environment variable, parsed.
fn env<T: std::str::FromStr>(key: &str) -> Option<T> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

/// Argument `index` as a string.
fn text(data: &Data, index: usize) -> Option<String> {
    data.arg(index).and_then(|d| d.as_str())
}

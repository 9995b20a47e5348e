//! Seed program P6 (seed 001, §6.2 "通过socket.io改造聊天室"): the chat room of P5
//! (`examples/p5_chat_room.rs`) on Socket.IO events. Each client gets the nickname `userN`
//! (`user1`, `user2`, … in order of arrival), and every client, the sender included
//! (`io.emit`), receives `enter` `userN comes in !!!`, `message` `userN: text` and `leave`
//! `userN leaves.`. Logs only `running...` at start, as the seed does.
//!
//! ```sh
//! cargo run --example p6_socketio_chat_room   # or: … p6_socketio_chat_room -- 4000
//! ```
//!
//! Then open <http://localhost:3000/> in two tabs: the seed's page (`examples/pages/p6.html`,
//! committed verbatim) with one URL changed. The seed loads socket.io client 2.0.3 from
//! cdnjs.cloudflare.com, which speaks Engine.IO 3 (Socket.IO protocol v4), a protocol this
//! server — like socket.io 3 and later — does not speak; the page is served with that
//! script URL replaced by the server's own `/socket.io/socket.io.js` (the official client,
//! whose `io()`, `emit` and `on` the page uses unchanged). Run it from the repository root
//! after `./scripts/test.sh` (or `npm i socket.io-client`) so the client bundle is found.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, Server};

#[path = "support/js.rs"]
mod js;

/// The seed's chat page, as committed.
const PAGE: &str = include_str!("pages/p6.html");

/// The socket.io client the seed's page loads, and the one the server serves instead.
const SEED_CLIENT: &str = "https://cdnjs.cloudflare.com/ajax/libs/socket.io/2.0.3/socket.io.js";
const SERVED_CLIENT: &str = "/socket.io/socket.io.js";

/// Builds the server: the chat room on the default namespace and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    let io = server.io();
    let everyone = io.clone();
    let client_count = Arc::new(AtomicUsize::new(0));
    io.on_connection(move |socket| {
        let n = client_count.fetch_add(1, Ordering::Relaxed) + 1;
        socket.set_name(format!("user{n}"));
        let _ = everyone.emit("enter", &format!("{} comes in !!!", socket.name()));

        let io = everyone.clone();
        socket.on("message", move |socket, data, _ack| {
            // `${socket.nickname}: ${str}`, `str` being the first argument.
            let str = js::string(data.arg(0).as_ref());
            let _ = io.emit("message", &format!("{}: {str}", socket.name()));
        });
        // The socket has already left: `leave` goes to everyone else.
        let io = everyone.clone();
        socket.on_disconnect(move |socket, _reason| {
            let _ = io.emit("leave", &format!("{} leaves.", socket.name()));
        });
    });
    let page = PAGE.replace(SEED_CLIENT, SERVED_CLIENT);
    server.http(axum::Router::new().route("/", get(move || async move { Html(page) })));
    server
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!("running...");
    server().serve(listener).await
}

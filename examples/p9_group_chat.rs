//! Seed program P9 (seed 003, the `ws` group chat on 8080): every message comes back to its
//! sender (`ws.send(message)`) and goes to every *other* open client too
//! (`wss.broadcastToElse(message, ws)`); the client's address is taken from the request (and
//! logged here).
//!
//! ```sh
//! cargo run --example p9_group_chat     # or: cargo run --example p9_group_chat -- 9000
//! ```
//!
//! Then open <http://localhost:8080/> in two or more tabs: the seed's page
//! (`examples/pages/p9.html`, verbatim) appends every message it receives.

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, Conn, RawHandlers, Server, WsMessage};

/// The seed's page, served at `/`.
const PAGE: &str = include_str!("pages/p9.html");

/// `ws.send(message); wss.broadcastToElse(message, ws)`.
fn incoming(ws: &Conn, message: WsMessage) {
    ws.send(message.clone());
    ws.broadcast_others(message);
}

/// Builds the server: the group chat endpoint at `/` and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    let handlers = RawHandlers::new()
        .on_connection(|ws| {
            // `let ip = req.connection.remoteAddress`
            match ws.remote_addr() {
                Some(addr) => println!("client connected from {}", addr.ip()),
                None => println!("client connected"),
            }
        })
        .on_text(|ws, message| incoming(ws, WsMessage::text(message)))
        .on_binary(|ws, message| incoming(ws, WsMessage::binary(message.clone())));
    server.raw("/", handlers);
    server.http(axum::Router::new().route("/", get(|| async { Html(PAGE) })));
    server
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!("group chat on ws://localhost:{port}/, page at http://localhost:{port}/");
    server().serve(listener).await
}

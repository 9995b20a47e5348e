//! Seed program P7 (seed 002, "搭建基础的 websocket 服务", the `ws` server on 8080): logs each
//! client's address; every message, text or binary (the binary flag kept), goes to every open
//! client, the sender included; logs the close code and reason, and errors.
//!
//! ```sh
//! cargo run --example p7_broadcast      # or: cargo run --example p7_broadcast -- 9000
//! ```
//!
//! Then open <http://localhost:8080/> in two or more tabs: the seed's page
//! (`examples/pages/p7.html`, verbatim) shows the last message received.

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, RawHandlers, Server, WsMessage};

/// The seed's page, served at `/`.
const PAGE: &str = include_str!("pages/p7.html");

/// Builds the server: the broadcast endpoint at `/` and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    // `wss.clients.forEach(client => client.send(data, { binary: isBinary }))` is
    // `conn.broadcast`: every client of the endpoint, the sender included.
    let handlers = RawHandlers::new()
        .on_connection(|conn| match conn.remote_addr() {
            Some(addr) => println!("{}", addr.ip()),
            None => println!("undefined"),
        })
        .on_text(|conn, data| {
            conn.broadcast(WsMessage::text(data));
        })
        .on_binary(|conn, data| {
            conn.broadcast(WsMessage::binary(data.clone()));
        })
        .on_close(|_conn, code, reason| {
            // No code: the connection dropped without a closing handshake (`ws` says 1006).
            println!("{} {reason}", code.unwrap_or(1006));
        })
        .on_error(|_conn, error| println!("{error}"));
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
    println!("ws server on ws://localhost:{port}/, page at http://localhost:{port}/");
    server().serve(listener).await
}

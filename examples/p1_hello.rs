//! Seed program P1 (seed 000, "第一个简单WebSocket应用", the `ws` server): on port 3000 it logs
//! each connection (`one client is connected`) and each message it receives, and greets every
//! new client with `message from server`.
//!
//! ```sh
//! cargo run --example p1_hello          # or: cargo run --example p1_hello -- 4000
//! ```
//!
//! Then open <http://localhost:3000/>: the seed's page (`examples/pages/p1.html`, verbatim)
//! sends `hello from client!` on open and logs the greeting in the browser console.

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, RawHandlers, Server};

/// The seed's browser page, served at `/`.
const PAGE: &str = include_str!("pages/p1.html");

/// Builds the server: the `ws` endpoint at `/` and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    server.raw(
        "/",
        RawHandlers::new()
            .on_connection(|conn| {
                println!("one client is connected");
                conn.send_text("message from server");
            })
            .on_text(|_conn, msg| println!("{msg}"))
            .on_binary(|_conn, msg| println!("{msg:?}")),
    );
    server.http(axum::Router::new().route("/", get(|| async { Html(PAGE) })));
    server
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!("ws server on ws://localhost:{port}/, page at http://localhost:{port}/");
    server().serve(listener).await
}

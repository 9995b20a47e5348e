//! Seed program P10 (seed 004, the `ws` `server.js` on 3000): answers each message with the
//! message followed by the fixed suffix `举头望明月，低头思故乡,`; logs `有个人进来了` when a
//! client connects and `ta又走了！呜呜呜` when it leaves.
//!
//! ```sh
//! cargo run --example p10_suffix        # or: cargo run --example p10_suffix -- 4000
//! ```
//!
//! Then open <http://localhost:3000/>: the seed's page (`examples/pages/p10.html`, verbatim)
//! sends `床前明月光，原来是惠康;` and logs `床前明月光，原来是惠康;举头望明月，低头思故乡,` in the
//! browser console.

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, RawHandlers, Server};

/// The seed's page, served at `/`.
const PAGE: &str = include_str!("pages/p10.html");

/// The seed's suffix, exactly.
const SUFFIX: &str = "举头望明月，低头思故乡,";

/// Builds the server: the endpoint at `/` and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    server.raw(
        "/",
        RawHandlers::new()
            .on_connection(|_ws| println!("有个人进来了"))
            // `ws.send(data + '举头望明月，低头思故乡,')`
            .on_text(|ws, data| {
                ws.send_text(format!("{data}{SUFFIX}"));
            })
            // A binary message is a Buffer in `ws`; `+` turns it into UTF-8 text.
            .on_binary(|ws, data| {
                ws.send_text(format!("{}{SUFFIX}", String::from_utf8_lossy(data)));
            })
            .on_close(|_ws, _code, _reason| println!("ta又走了！呜呜呜")),
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

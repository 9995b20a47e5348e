//! Seed program P3 (seed 001, §4.1 `wsServer.js`, the nodejs-websocket "scream server"):
//! text `hi` comes back as `HI!!!` (upper case plus `!!!`); logs each connection, each text
//! received, the close code and errors.
//!
//! ```sh
//! cargo run --example p3_scream         # or: cargo run --example p3_scream -- 4000
//! ```
//!
//! Then open <http://localhost:3000/>: seed 001's client code (`examples/pages/p3.html`,
//! pointed at `ws://localhost:3000/` as the seed's step 3 says) sends `hi` once open and logs
//! `Received Message: HI!!!` in the browser console.

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, RawHandlers, Server};

/// Seed 001's client page, served at `/`.
const PAGE: &str = include_str!("pages/p3.html");

/// Builds the server: the scream endpoint at `/` and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    server.raw(
        "/",
        RawHandlers::new()
            .on_connection(|conn| {
                println!("New connection");
                // The seed also listens for `connect` ("开启连接"); the connection is open here.
                println!("开启连接 {}", addr(conn));
            })
            .on_text(|conn, str| {
                println!("Received {str}");
                conn.send_text(str.to_uppercase() + "!!!");
            })
            .on_close(|_conn, code, _reason| {
                // No code: the connection dropped without a closing handshake (or the close
                // frame carried none); nodejs-websocket reports 1006 then.
                println!("关闭连接 {}", code.unwrap_or(1006));
            })
            .on_error(|_conn, error| println!("异常关闭 {error}")),
    );
    server.http(axum::Router::new().route("/", get(|| async { Html(PAGE) })));
    server
}

fn addr(conn: &chorus::Conn) -> String {
    conn.remote_addr()
        .map_or_else(|| "?".to_owned(), |a| a.to_string())
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

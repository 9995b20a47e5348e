//! Seed program P5 (seed 001, §6.1 "聊天室", the nodejs-websocket chat room): each client gets
//! the nickname `userN` (`user1`, `user2`, … in order of arrival), and every client receives
//! JSON `{"type":T,"info":"..."}` for each event: type 0 `userN comes in !!!`, type 1
//! `userN: text`, type 2 `userN leaves.`.
//!
//! ```sh
//! cargo run --example p5_chat_room      # or: cargo run --example p5_chat_room -- 4000
//! ```
//!
//! Then open <http://localhost:3000/> in two or more tabs: the seed's page
//! (`examples/pages/p5.html`, verbatim) shows the events coloured by type.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, Conn, RawHandlers, Server, WsMessage};
use serde::Serialize;

/// The seed's chat page, served at `/`.
const PAGE: &str = include_str!("pages/p5.html");

/// The seed's message: `{type, info}`, in that key order as `JSON.stringify` writes it.
#[derive(Serialize)]
struct Mes<'a> {
    r#type: u8,
    info: &'a str,
}

/// The seed's `broadcast(type, info)`: to every connection of the endpoint.
fn broadcast(conn: &Conn, r#type: u8, info: &str) {
    let text = serde_json::to_string(&Mes { r#type, info }).expect("serialisable");
    conn.broadcast(WsMessage::text(text));
}

/// Builds the server: the chat endpoint at `/` and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    let client_count = Arc::new(AtomicUsize::new(0));
    let handlers = RawHandlers::new()
        .on_connection(move |conn| {
            println!("New connection");
            let n = client_count.fetch_add(1, Ordering::Relaxed) + 1;
            conn.set_name(format!("user{n}"));
            broadcast(conn, 0, &format!("{} comes in !!!", conn.name()));
        })
        .on_text(|conn, str| {
            broadcast(conn, 1, &format!("{}: {str}", conn.name()));
        })
        .on_close(|conn, _code, _reason| {
            broadcast(conn, 2, &format!("{} leaves.", conn.name()));
        })
        .on_error(|_conn, code| println!("异常关闭 {code}"));
    server.raw("/", handlers);
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
    println!("running...");
    server().serve(listener).await
}

//! Seed program P11 (seed 004, "Socket.io", `server.js` with express on 3000): the
//! Socket.IO chat. Serves the page at `/`; the event `chat message` goes out, with the same
//! value, to every client, the sender included (`io.emit`). Logs `有个connection进入了聊天室`
//! for each client, each message, and `connection离开了` when a client leaves. Like the seed
//! (whose listen callback only returns the string `服务器开启`), it prints nothing at start.
//!
//! ```sh
//! cargo run --example p11_socketio_chat       # or: cargo run --example p11_socketio_chat -- 3300
//! ```
//!
//! Run it from the repository root, where `/socket.io/socket.io.js` is found in
//! `./node_modules` or `./e2e/node_modules` (`npm i socket.io-client`). Then open
//! <http://localhost:3000/> in two or more tabs: the seed's page (`examples/pages/p11.html`,
//! verbatim) loads the client from this server, and what is typed in one tab shows up in
//! every tab. `e2e/browser/seed-socketio.test.mjs` drives it in Chromium.

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, Server};

#[path = "support/js.rs"]
mod js;

/// The seed's page, served at `/`.
const PAGE: &str = include_str!("pages/p11.html");

/// Builds the server: the chat on the default namespace and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    let io = server.io();
    let everyone = io.clone();
    io.on_connection(move |socket| {
        println!("有个connection进入了聊天室");
        let io = everyone.clone();
        socket.on("chat message", move |_socket, data, _ack| {
            // `msg => …`: the first argument only, `undefined` if none.
            let msg = data.arg(0);
            println!("{}", js::log(msg.as_ref()));
            match msg {
                Some(msg) => {
                    io.all().emit_args("chat message", msg);
                }
                // socket.io sends `undefined` as `null`.
                None => {
                    let _ = io.emit("chat message", &());
                }
            }
        });
        socket.on_disconnect(|_socket, _reason| println!("connection离开了"));
    });
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
    server().serve(listener).await
}

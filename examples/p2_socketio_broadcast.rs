//! Seed program P2 (seed 000, "socket.io", `index.js` with express on 3000): serves the page at
//! `/`; the event `chatEvent` from one client goes out as `ServerMsg`, with the same value, to
//! every *other* client (`socket.broadcast.emit`), never back to its sender. Logs
//! `a socker is connected` (sic) for each client and `msg from client<msg>` for each
//! `chatEvent`.
//!
//! ```sh
//! cargo run --example p2_socketio_broadcast   # or: … p2_socketio_broadcast -- 4000
//! ```
//!
//! Run it from the repository root, where `/socket.io/socket.io.js` is found in
//! `./node_modules` or `./e2e/node_modules` (`npm i socket.io-client`). Then open
//! <http://localhost:3000/> in two or more tabs: the seed's page (`examples/pages/p2.html`,
//! verbatim) sends what is typed as `chatEvent` and logs each `ServerMsg` in the browser
//! console — in every tab but the one that sent it.

use axum::response::Html;
use axum::routing::get;
use chorus::{Config, Server};

#[path = "support/js.rs"]
mod js;

/// The seed's page, served at `/`.
const PAGE: &str = include_str!("pages/p2.html");

/// Builds the server: Socket.IO on the default namespace and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    server.io().on_connection(|socket| {
        println!("a socker is connected");
        socket.on("chatEvent", |socket, data, _ack| {
            // `function (msg)`: the first argument only, `undefined` if none.
            let msg = data.arg(0);
            println!("msg from client{}", js::string(msg.as_ref()));
            let others = socket.broadcast();
            match msg {
                Some(msg) => {
                    others.emit_args("ServerMsg", msg);
                }
                // socket.io sends `undefined` as `null`.
                None => {
                    let _ = others.emit("ServerMsg", &());
                }
            }
        });
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
    println!("server at {port}");
    server().serve(listener).await
}

//! Seed program P4 (seed 001, §5 "socket.io", 5.2–5.6): emitting to one client and to all.
//! A client connects with `query: username=…`; the server logs `用户<socket.id>连接`, sends
//! that client alone `student` `{"roomID": …, "textMessage": "hello"}` (§5.3) and every
//! client `enter` `<username> comes in !!!` (§5.4); a `msg` event is logged and answered
//! with `msg` `你好浏览器` to its sender only (§5.6); a disconnect logs `用户<socket.id>断开连接`.
//!
//! The seed gives these as fragments, and two of their names are never defined:
//! * `clientRoomID` (§5.3): here the client's `socket.id`, the name of the one room
//!   socket.io puts every socket in, and the one room id a server knows for a client that
//!   says nothing else.
//! * `socket.nickname` (§5.4): here the `username` of the connection's query (§5.2), and
//!   `undefined` — what the seed's template string would show — when there is none.
//!
//! ```sh
//! cargo run --example p4_socketio_emit        # or: cargo run --example p4_socketio_emit -- 4000
//! ```
//!
//! Run it from the repository root, where `/socket.io/socket.io.js` is found in
//! `./node_modules` or `./e2e/node_modules` (`npm i socket.io-client`). Then open
//! <http://localhost:3000/>: the seed's page (`examples/pages/p4.html`, verbatim) emits
//! `msg` `你好服务器` and logs the answer in the browser console. The page loads the client
//! from `sicket.io.js` (sic: the seed's name for a copy downloaded beforehand), which this
//! server answers with a redirect to `/socket.io/socket.io.js`; it connects without a
//! query, so it is announced as `undefined comes in !!!`. A Node client shows the rest:
//! `io("http://localhost:3000", { query: "username=ada" })`.

use axum::response::{Html, Redirect};
use axum::routing::get;
use chorus::{Config, ConnId, Server};
use serde::Serialize;

#[path = "support/js.rs"]
mod js;

/// The seed's page, served at `/`.
const PAGE: &str = include_str!("pages/p4.html");

/// §5.3's payload, `{"roomID": …, "textMessage": "hello"}`, keys in that order.
#[derive(Serialize)]
struct Student {
    #[serde(rename = "roomID")]
    room_id: ConnId,
    #[serde(rename = "textMessage")]
    text_message: &'static str,
}

/// Builds the server: Socket.IO on the default namespace, the page at `/` and the page's
/// `sicket.io.js`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    let io = server.io();
    let everyone = io.clone();
    io.on_connection(move |socket| {
        println!("用户{}连接", socket.id());
        let nickname = socket
            .query("username")
            .unwrap_or_else(|| "undefined".to_owned());
        let student = Student {
            room_id: socket.id(),
            text_message: "hello",
        };
        let _ = socket.emit("student", &student);
        let _ = everyone.emit("enter", &format!("{nickname} comes in !!!"));

        socket.on("msg", |socket, data, _ack| {
            println!("{}", js::log(data.arg(0).as_ref()));
            let _ = socket.emit("msg", &"你好浏览器");
        });
        socket.on_disconnect(|socket, _reason| println!("用户{}断开连接", socket.id()));
    });
    server.http(
        axum::Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route(
                "/sicket.io.js",
                get(|| async { Redirect::temporary("/socket.io/socket.io.js") }),
            ),
    );
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

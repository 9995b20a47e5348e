//! Seed program P8 (seed 002, "`ws` + `express` 的使用", `express-ws`): a WebSocket endpoint
//! `/talk` and an HTTP route `GET /data` (answering `122222`) on the same port, 8080, and the
//! server can list its connected clients (`wsInstance.getWss().clients`).
//!
//! The seed's `/talk` handler only logs `连接了`; here it also logs how many clients are
//! connected, and echoes each message back so that the endpoint does something visible. The
//! client list is served as JSON at `GET /clients`:
//! `{"count":1,"clients":[{"id":"...","addr":"127.0.0.1:53412"}]}`.
//!
//! ```sh
//! cargo run --example p8_express_ws     # or: cargo run --example p8_express_ws -- 9000
//! ```
//!
//! Then open <http://localhost:8080/> (`examples/pages/p8.html`; the seed has no page for
//! this program): it connects to `/talk`, fetches `/data` and `/clients`.

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use chorus::{Config, RawEndpoint, RawHandlers, Server};
use serde::Serialize;

/// A minimal page for `/talk` and `/data`, served at `/`.
const PAGE: &str = include_str!("pages/p8.html");

#[derive(Serialize)]
struct Clients {
    count: usize,
    clients: Vec<Client>,
}

#[derive(Serialize)]
struct Client {
    id: String,
    addr: Option<String>,
}

/// Builds the server: `/talk`, `GET /data`, `GET /clients` and the page at `/`.
pub fn server() -> Server {
    let server = Server::new(Config::embedded());
    // `app.ws('/talk', (ws, req) => console.log('连接了'))`, plus the client count
    // (`wsInstance.getWss().clients`).
    let handlers = RawHandlers::new()
        .on_connection(|conn| {
            println!("连接了");
            println!("{} client(s) connected", conn.endpoint().client_count());
        })
        .on_text(|conn, text| {
            conn.send_text(text);
        })
        .on_binary(|conn, data| {
            conn.send_binary(data.clone());
        })
        .on_close(|conn, _code, _reason| {
            println!("{} client(s) connected", conn.endpoint().client_count());
        });
    let talk = server.raw("/talk", handlers);
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        // `app.get('/data', (req, res) => res.send('122222'))`
        .route("/data", get(|| async { Html("122222") }))
        .route("/clients", get(clients))
        .with_state(talk);
    server.http(app);
    server
}

/// The connected clients of `/talk` (`wsInstance.getWss().clients`).
async fn clients(State(talk): State<RawEndpoint>) -> Json<Clients> {
    let clients: Vec<Client> = talk
        .clients()
        .iter()
        .map(|conn| Client {
            id: conn.id().to_string(),
            addr: conn.remote_addr().map(|a| a.to_string()),
        })
        .collect();
    Json(Clients {
        count: clients.len(),
        clients,
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!("ws at ws://localhost:{port}/talk, http://localhost:{port}/data and /clients");
    server().serve(listener).await
}

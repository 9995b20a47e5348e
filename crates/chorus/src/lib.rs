//! # chorus
//!
//! A real-time message server and library for WebSocket applications — chat, notifications,
//! live comments, games — with rooms, events with acks, presence, and plain WebSocket
//! endpoints, all on one port beside your HTTP routes.
//!
//! ## Raw level, the `ws` way
//!
//! ```no_run
//! use chorus::{RawHandlers, Server};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::default();
//! server.raw(
//!     "/",
//!     RawHandlers::new()
//!         .on_connection(|conn| {
//!             println!("client {} from {:?}", conn.id(), conn.remote_addr());
//!             conn.send_text("message from server");
//!         })
//!         .on_text(|conn, text| {
//!             conn.send_text(text.to_uppercase() + "!!!");
//!         }),
//! );
//! server.listen().await
//! # }
//! ```
//!
//! ## Event level, the socket.io way
//!
//! ```no_run
//! use chorus::Server;
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::default();
//! let io = server.io();
//! let everyone = io.clone();
//! io.on_connection(move |socket| {
//!     let everyone = everyone.clone();
//!     socket.on("chat message", move |_socket, data, ack| {
//!         let text = data.as_str().unwrap_or_default();
//!         let _ = everyone.emit("chat message", &text);
//!         ack.send(&serde_json::json!({ "ok": true }));
//!     });
//!     socket.on_disconnect(|socket, reason| println!("{} left: {reason}", socket.name()));
//! });
//! server.listen().await
//! # }
//! ```
//!
//! ## Beside your own routes (the `express-ws` case)
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use chorus::{RawHandlers, Server};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::default();
//! server.raw("/talk", RawHandlers::new().on_text(|conn, text| { conn.send_text(text); }));
//! let app: Router = Router::new()
//!     .route("/data", get(|| async { "122222" }))
//!     .merge(server.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! # Layout
//!
//! * [`config`] — [`Config`], every limit and switch with its default.
//! * [`server`] — [`Server`]: the hub, the endpoints and the router on one port.
//! * `listener` — the accept loop: connection limits, handshake timeout.
//! * `tls` — `https://` and `wss://` on the same port (rustls).
//! * `metrics` — counters of every limit that fires, served at `/metrics`.
//! * `upgrade` — the WebSocket handshake checks (400 / 426 / 403 with reasons).
//! * [`auth`] — JWTs checked at the handshake (401), the [`Identity`] they give a
//!   connection, room permissions, expiry (close 3000) and refresh.
//! * `transport` — the per-connection task: reads frames, writes queued messages in
//!   batches.
//! * `outlet` — where a connection's bytes leave: data frames written past the codec,
//!   gathered per thread, with no write buffer per connection.
//! * [`raw`] — plain WebSocket: [`RawHandlers`], [`Conn`], [`RawEndpoint`], raw rooms.
//! * [`io`] — the event level: [`Io`], [`Socket`], [`Emitter`], [`Ack`].
//! * `native` — the native protocol session behind `/ws` (see `docs/protocol.md`).
//! * `assets` — the chat page and `chorus.js`, embedded.
//!
//! The hub itself (rooms, fan-out, presence) is the `chorus-core` crate; the protocol codecs
//! are `chorus-proto`.

pub mod auth;
pub mod builtin;
pub mod config;
pub mod io;
pub mod listener;
pub mod raw;
pub mod server;

mod assets;
mod engineio;
mod inlet;
/// Entry points for the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::inlet::read_frames;
}
mod metrics;
mod native;
mod outlet;
mod pulse;
mod rate;
mod socketio;
mod storage;
mod tls;
mod transport;
mod upgrade;

pub use auth::{AuthError, Identity, Patterns, RefreshError, Refreshed};
pub use chorus_core::{ConnId, EventData, HubError, PeerInfo};
pub use chorus_proto::{MessageKind, WsMessage};
pub use config::{Config, ConfigError};
pub use io::{Ack, AckError, ConnectError, Data, EmitError, Emitter, Handshake, Io, Socket};
pub use raw::{Conn, RawEndpoint, RawHandlers};
pub use server::{Server, StartError};
pub use tls::TlsError;
pub use transport::Closed;
pub use upgrade::HandshakeError;

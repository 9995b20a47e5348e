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
//! The modules follow a message's way through the server, from the socket up:
//!
//! * [`config`] — [`Config`], every limit and switch with its default.
//! * `wire` — from a TCP connection to WebSocket messages: the accept loop and its limits
//!   ([`listener`]), TLS, the handshake checks, the socket's inlet and outlet, the
//!   connection task with its heartbeat and rate limit, every close code.
//! * `session` — the protocols: raw WebSocket endpoints and raw rooms ([`RawHandlers`],
//!   [`Conn`], [`RawEndpoint`]), the native protocol at `/ws`, Engine.IO (long-polling,
//!   WebSocket, upgrade, heartbeat), Socket.IO (namespaces, acks, binary, recovery, and
//!   the [`builtin`] events of `chorus serve`); each turns a client's frames into calls of
//!   the event layer and the hub.
//! * `events` — the event level: [`Io`], [`Socket`], [`Emitter`], [`Ack`], [`Data`],
//!   [`Handshake`], [`DynamicIo`], broadcasts with acks; what it does when an op of this
//!   node or another asks.
//! * `admin_ui` — the official Socket.IO admin UI's `/admin` namespace, on the event level.
//! * [`auth`] — JWTs checked at the handshake (401), the [`Identity`] they give a
//!   connection, room permissions, expiry (close 3000), refresh and revocation.
//! * `api` — the server API at `/api` for the application's backend (publish, emit to a
//!   user, disconnect, presence, history, revoke, …), its keys, idempotency and OpenAPI
//!   document.
//! * `hooks` — the hooks to the application's backend: it is asked whether a client may
//!   connect, join or publish (and says who the client is), and told of rooms occupied and
//!   vacated; signed requests, timeouts, retries, each connection's ordered lane.
//! * `http` — the router: `/healthz`, `/readyz`, `/metrics`, the embedded web assets, the
//!   API, and the endpoints above on one port.
//! * `refusal` — every way a request is turned away, and the HTTP status each gets.
//! * `metrics` — counters of every limit that fires, served at `/metrics`.
//! * `server` — [`Server`]: the hub, the sessions and the router, wired together.
//!
//! The hub itself (rooms, fan-out, presence, history) is the `chorus-core` crate; the
//! protocol codecs, the WebSocket frame codec among them, are `chorus-proto`.
//! `docs/architecture.md` follows one message through all of them.

mod admin_ui;
mod api;
pub mod auth;
pub mod config;
mod events;
mod hooks;
mod http;
mod metrics;
mod refusal;
mod server;
mod session;
mod wire;

pub use session::socketio::builtin;
pub use wire::listener;

pub use auth::{AuthError, Identity, Patterns, RefreshError, Refreshed};
pub use chorus_core::{ConnId, EventData, HubError, PeerInfo};
pub use chorus_proto::{MessageKind, WsMessage};
pub use config::{Config, ConfigError};
pub use events::{
    Ack, AckError, ClusterError, ConnectError, Data, DynamicIo, EmitError, Emitter, GatherError,
    Handshake, Io, RemoteSocket, Sent, Socket,
};
pub use server::{Server, StartError};
pub use session::raw::{Conn, RawEndpoint, RawHandlers};
pub use wire::{Closed, HandshakeError, TlsError};

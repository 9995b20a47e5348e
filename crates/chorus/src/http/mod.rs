//! HTTP: the router that serves every path of the port — health, metrics, the web assets,
//! the WebSocket and Engine.IO endpoints, and the application's own routes.
//!
//! Routing, in order: `/healthz`, `/metrics` and the embedded web assets; Engine.IO paths
//! (`/socket.io/` and [`crate::Server::engine_io`] endpoints) and the official Socket.IO
//! browser client; the application's router ([`crate::Server::http`]) for plain HTTP; `/ws`,
//! the native protocol; paths registered with [`crate::Server::raw`]; then, for any other
//! path, a WebSocket handshake joins the raw room of that path (when `raw_rooms` is on) and
//! plain HTTP gets the chat page at `/` or a 404.
//!
//! * [`routes`] — [`Routes`], what the router dispatches to, and the router itself.
//! * [`assets`] — the chat page, `chorus.js` and the socket.io client, embedded.

pub(crate) mod assets;
pub(crate) mod routes;

pub(crate) use routes::Routes;

//! The wire: from a TCP connection to a stream of WebSocket messages and back.
//!
//! What happens to a connection before any protocol sees it, in the order it happens:
//!
//! * [`listener`] — the accept loop: connection limits in all and per address, the header
//!   timeout (slowloris), TLS ([`tls`]) on the same port.
//! * [`handshake`] — the WebSocket opening handshake: its checks, what the request tells
//!   about the client ([`HandshakeInfo`]), the `101`.
//! * [`socket`] — the upgraded socket: where its frames come from, where they leave by.
//! * [`inlet`] — frames read, with no read buffer per idle connection (the decoding itself
//!   is `chorus_proto::ws`, sans-IO).
//! * [`outlet`] — frames written, gathered per thread, with no write buffer per connection.
//! * [`connection`] — the task that owns one WebSocket: reads frames into its [`Session`],
//!   writes its queue in [`batch`]es, keeps its heartbeat on the server's [`pulse`], its
//!   rate ([`rate`]), and ends it ([`closing`]).
//! * [`session`] — [`Session`], what a protocol is to a connection, and [`Closed`].
//! * [`close`] — every close code the server sends, chosen in one place.
//! * [`error`] — [`WireError`](error::WireError), why a socket stopped.
//!
//! Nothing here knows a protocol above WebSocket frames: sessions (raw, native, Engine.IO)
//! are handed in.

pub(crate) mod batch;
pub(crate) mod close;
pub(crate) mod closing;
pub(crate) mod connection;
pub(crate) mod error;
pub(crate) mod handshake;
pub(crate) mod inlet;
pub mod listener;
pub(crate) mod outlet;
pub(crate) mod pulse;
pub(crate) mod rate;
pub(crate) mod session;
pub(crate) mod socket;
pub(crate) mod tls;

pub use handshake::HandshakeError;
pub(crate) use handshake::HandshakeInfo;
pub use session::Closed;
pub(crate) use session::Session;
pub use tls::TlsError;

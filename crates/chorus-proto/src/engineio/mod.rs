//! Engine.IO, protocol version 4: the transport layer under Socket.IO.
//!
//! Engine.IO gives a session with heartbeats over HTTP long-polling, WebSocket, or polling
//! first and a WebSocket upgrade later. Its packets are a type digit and data:
//!
//! | type | name    | sent by | data |
//! |------|---------|---------|------|
//! | `0`  | open    | server  | the handshake JSON (`sid`, `upgrades`, `pingInterval`, …) |
//! | `1`  | close   | both    | none |
//! | `2`  | ping    | both    | none; `probe` while upgrading |
//! | `3`  | pong    | both    | echoes the ping's |
//! | `4`  | message | both    | text, or binary (a binary frame, or `b<base64>` in polling) |
//! | `5`  | upgrade | client  | none |
//! | `6`  | noop    | server  | none |
//!
//! * [`packet`] decodes one packet from a WebSocket message or a polling part into a
//!   [`Packet`], and encodes the server's packets as [`WsMessage`](crate::WsMessage)s;
//! * [`payload`] splits polling request bodies into packets and joins messages into polling
//!   response bodies.
//!
//! Sessions, timers and transports live in the server; this module only turns bytes into
//! packets and back. The specification is the `engine.io-protocol` repository's README.

pub mod packet;
pub mod payload;

pub use packet::{close, message, noop, open, ping, pong, DecodeError, Packet};
pub use payload::{decode_payload, encode_payload, encoded_len, SEPARATOR};

/// The protocol version this module speaks: the `EIO` query value clients send.
pub const PROTOCOL: u32 = 4;

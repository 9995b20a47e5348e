//! Sans-IO codecs for chorus.
//!
//! Bytes in, typed values out, and typed values in, bytes out: nothing here touches a
//! socket, a clock or a task, which is what makes the codecs easy to test and to fuzz.
//!
//! # Layout
//!
//! * [`message`] — [`WsMessage`], one WebSocket data message (text or binary) as the
//!   transports read and write it, payload in shared [`bytes::Bytes`].
//! * [`native`] — the native JSON protocol spoken at `/ws` (see `docs/protocol.md`):
//!   [`native::Command`]s decoded from client frames, pushes and replies encoded for them.
//! * [`engineio`] — Engine.IO v4, the transport layer of Socket.IO: packets from WebSocket
//!   frames and polling parts, polling payloads (`0x1e`-separated, `b<base64>` for binary),
//!   and the server's packets as [`WsMessage`]s.
//! * [`socketio`] — Socket.IO v5 packets, the data of Engine.IO `message`s: decoding what a
//!   client sends (namespaces, events, acks, binary placeholders and attachments) and
//!   encoding what the server sends, ready to write with the Engine.IO `4` in front.
//! * [`ws`] — WebSocket frames (RFC 6455): a server's decoder of client frames (masking,
//!   UTF-8, sizes, control frames, fragments) fed whatever bytes have arrived, and the
//!   header of the frames it writes.
//!
//! A private `json` module holds the JSON text helpers they share (nesting depth, string
//! quoting).

pub mod engineio;
mod json;
pub mod message;
pub mod native;
pub mod socketio;
#[cfg(test)]
mod test_rng;
pub mod ws;

pub use json::depth as json_depth;
pub use message::{MessageKind, WsMessage};

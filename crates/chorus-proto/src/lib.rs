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
//!
//! Engine.IO and Socket.IO codecs will live beside `native` as sibling modules.

pub mod message;
pub mod native;

pub use message::{MessageKind, WsMessage};

//! The native chorus protocol, version 1 (`docs/protocol.md` is the specification).
//!
//! * [`command`] decodes what a client sends into a [`Command`], or a [`DecodeError`]
//!   carrying the request id so the error can still be answered;
//! * [`push`] encodes what the server sends: `hello`, replies, events, presence, errors;
//! * [`binary`] is the layout of binary frames (length-prefixed JSON header + raw payload);
//! * [`error`] holds the stable [`ErrorCode`]s.
//!
//! JSON `data` travels as [`serde_json::value::RawValue`]: the server never re-parses or
//! re-serialises a payload it only forwards, so a broadcast costs one encode of the envelope.

pub mod binary;
pub mod command;
pub mod error;
pub mod push;

pub use command::{Command, DecodeError, EmitTarget, Limits, NameError, Position, Rid};
pub use error::ErrorCode;
pub use push::{EventData, EventPush, Member, PresenceAction, Sender};

/// The protocol version spoken by this crate.
pub const VERSION: u32 = 1;

/// The WebSocket subprotocol name a client may offer to pin version 1.
pub const SUBPROTOCOL: &str = "chorus.v1";

//! Socket.IO, protocol version 5: namespaces, events, acknowledgements and binary data,
//! carried in Engine.IO `message` packets (see [`crate::engineio`]).
//!
//! | type | name          | payload |
//! |------|---------------|---------|
//! | `0`  | CONNECT       | client: optional `auth` object; server: `{"sid":…}` |
//! | `1`  | DISCONNECT    | none |
//! | `2`  | EVENT         | `["name", args…]`, optional ack id |
//! | `3`  | ACK           | `[args…]`, with the id of the event acknowledged |
//! | `4`  | CONNECT_ERROR | `{"message":…}` (or a string, from old peers) |
//! | `5`  | BINARY_EVENT  | as EVENT, binary values replaced by placeholders |
//! | `6`  | BINARY_ACK    | as ACK, binary values replaced by placeholders |
//!
//! * [`packet`] decodes a client's packet into a [`Packet`];
//! * [`encode`] builds the server's packets, Engine.IO `4` included, as
//!   [`WsMessage`](crate::WsMessage)s ready for either transport;
//! * [`error`] — [`DecodeError`], why a packet could not be decoded;
//! * [`msgpack`] — the MessagePack parser's form (`socket.io-msgpack-parser`), translated
//!   to and from the default one;
//! * [`binary`] checks placeholders against the announced attachment count and collects the
//!   attachment frames that follow a binary packet.
//!
//! Namespaces, rooms and handlers are the hub's business; this module only turns text into
//! packets and back. The specification is the `socket.io-protocol` repository's README; where
//! it is silent, the reference parser (`socket.io-parser` v4) decides.

pub mod binary;
pub mod encode;
pub mod error;
pub mod msgpack;
pub mod packet;

pub use binary::{check_placeholders, placeholder, placeholder_num, Attachments};
pub use encode::{ack, connect, connect_error, disconnect, event, Args};
pub use error::DecodeError;
pub use packet::{Limits, Packet, RESERVED_EVENTS};

/// The protocol version this module speaks.
pub const PROTOCOL: u32 = 5;

//! What travels on a connection's outbound queue: a message for it alone, a [`Broadcast`]
//! shared with other recipients, or the request to close.

use std::sync::Arc;

use chorus_proto::WsMessage;

use crate::{Broadcast, Encoded, Format};

/// Why the server closes a connection: a WebSocket close code and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// RFC 6455 close code.
    pub code: u16,
    /// Human-readable reason (at most 123 bytes on the wire).
    pub reason: Arc<str>,
}

impl CloseReason {
    /// A close reason.
    pub fn new(code: u16, reason: impl Into<Arc<str>>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

/// One item on a connection's outbound queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A message for this connection alone, or a raw message shared as bytes.
    Message(WsMessage),
    /// Messages for this connection alone that must be written together, in order (a
    /// Socket.IO packet and its binary attachments).
    Messages(Box<[WsMessage]>),
    /// A message shared by many recipients.
    Shared(Arc<Broadcast>),
    /// Close the connection after everything queued before it is written.
    Close(CloseReason),
}

impl Outbound {
    /// The bytes this item counts for against a queue's byte limit. Stable for the item's
    /// life, so adding it on push and subtracting it on pop balance exactly.
    pub fn weight(&self) -> usize {
        match self {
            Outbound::Message(msg) => msg.payload.len(),
            Outbound::Messages(msgs) => msgs.iter().map(|m| m.payload.len()).sum(),
            Outbound::Shared(shared) => shared.weight,
            Outbound::Close(_) => 0,
        }
    }

    /// The messages to write to a connection speaking `format`: none for a close, or for a
    /// broadcast that has no form in that format.
    pub fn messages_for(&self, format: Format) -> &[WsMessage] {
        match self {
            Outbound::Message(msg) => std::slice::from_ref(msg),
            Outbound::Messages(msgs) => msgs,
            Outbound::Shared(shared) => shared.encoded(format).map_or(&[], Encoded::messages),
            Outbound::Close(_) => &[],
        }
    }
}

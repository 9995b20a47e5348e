//! One WebSocket data message, independent of any WebSocket library.
//!
//! The hub and the codecs hand these around; the transport turns them into frames. The
//! payload is [`Bytes`] so a broadcast encoded once is shared by every recipient: cloning a
//! `WsMessage` bumps a reference count and copies nothing.

use bytes::Bytes;

/// Whether a message travels in a text or a binary frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A text frame: the payload is valid UTF-8.
    Text,
    /// A binary frame: any bytes.
    Binary,
}

/// A complete WebSocket data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsMessage {
    /// Text or binary.
    pub kind: MessageKind,
    /// The message bytes; for [`MessageKind::Text`] always valid UTF-8.
    pub payload: Bytes,
}

impl WsMessage {
    /// A text message. Taking a `String` (or `&'static str`) keeps the UTF-8 promise.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            kind: MessageKind::Text,
            payload: Bytes::from(text.into()),
        }
    }

    /// A text message from bytes the caller has already checked to be UTF-8
    /// (a received text frame, or JSON this crate encoded).
    pub fn text_from_utf8(payload: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&payload).is_ok());
        Self {
            kind: MessageKind::Text,
            payload,
        }
    }

    /// A binary message.
    pub fn binary(payload: impl Into<Bytes>) -> Self {
        Self {
            kind: MessageKind::Binary,
            payload: payload.into(),
        }
    }

    /// True for a binary message.
    pub fn is_binary(&self) -> bool {
        self.kind == MessageKind::Binary
    }

    /// The payload as text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self.kind {
            // Text payloads are UTF-8 by construction; a failed check would be a bug upstream.
            MessageKind::Text => std::str::from_utf8(&self.payload).ok(),
            MessageKind::Binary => None,
        }
    }
}

//! What travels on a connection's outbound queue.
//!
//! Fan-out puts the *same* [`Broadcast`] (behind an `Arc`) on every recipient's queue; the
//! first writer that needs a given wire format encodes it and caches the bytes, every other
//! writer reuses them. A broadcast to ten thousand native clients is encoded once.

use std::sync::{Arc, OnceLock};

use chorus_proto::WsMessage;

use crate::event::{Event, PresenceNotice};

/// The wire formats a connection may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// Plain WebSocket: payloads are delivered as they are, events are not delivered.
    Raw,
    /// The native JSON protocol.
    Native,
}

const FORMATS: usize = 2;

impl WireFormat {
    fn index(self) -> usize {
        match self {
            WireFormat::Raw => 0,
            WireFormat::Native => 1,
        }
    }
}

/// A message shared by many recipients, encoded at most once per wire format.
#[derive(Debug)]
pub struct Broadcast {
    body: Body,
    weight: usize,
    encoded: [OnceLock<Option<WsMessage>>; FORMATS],
}

/// Bytes a broadcast is counted as on a queue before it is encoded: its data and names,
/// plus room for the envelope.
const ENVELOPE: usize = 96;

#[derive(Debug)]
enum Body {
    Event(Event),
    Presence(PresenceNotice),
}

impl Broadcast {
    /// Wraps an event.
    pub fn event(event: Event) -> Arc<Self> {
        let weight = ENVELOPE
            + event.name.len()
            + event.data.len()
            + event.room.as_ref().map_or(0, |r| r.len());
        Arc::new(Self {
            body: Body::Event(event),
            weight,
            encoded: Default::default(),
        })
    }

    /// Wraps a presence notice.
    pub fn presence(notice: PresenceNotice) -> Arc<Self> {
        let weight = ENVELOPE
            + notice.room.len()
            + notice.member.name.len()
            + notice.member.data.as_ref().map_or(0, |d| d.get().len());
        Arc::new(Self {
            body: Body::Presence(notice),
            weight,
            encoded: Default::default(),
        })
    }

    /// The event, if this is one.
    pub fn as_event(&self) -> Option<&Event> {
        match &self.body {
            Body::Event(event) => Some(event),
            Body::Presence(_) => None,
        }
    }

    /// The message for `format`, encoding it on first use; `None` if this kind of message
    /// does not exist in that format (events on a raw connection).
    pub fn encoded(&self, format: WireFormat) -> Option<&WsMessage> {
        self.encoded[format.index()]
            .get_or_init(|| match (&self.body, format) {
                (_, WireFormat::Raw) => None,
                (Body::Event(event), WireFormat::Native) => Some(event.encode_native()),
                (Body::Presence(notice), WireFormat::Native) => Some(notice.encode_native()),
            })
            .as_ref()
    }
}

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
            Outbound::Shared(shared) => shared.weight,
            Outbound::Close(_) => 0,
        }
    }

    /// The message to write to a connection speaking `format`; `None` for a close, or for a
    /// broadcast that has no form in that format.
    pub fn message_for(&self, format: WireFormat) -> Option<&WsMessage> {
        match self {
            Outbound::Message(msg) => Some(msg),
            Outbound::Shared(shared) => shared.encoded(format),
            Outbound::Close(_) => None,
        }
    }
}

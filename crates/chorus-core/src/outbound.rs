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
    /// Socket.IO v5 over Engine.IO v4: a text packet, then one binary message per
    /// attachment. The same bytes serve the WebSocket and the long-polling transports.
    SocketIo,
    /// Socket.IO for a server with connection-state recovery on: as [`WireFormat::SocketIo`],
    /// and an event stored in a room's history carries its offset ([`Event::offset`]) as
    /// its last argument, where socket.io clients look for it.
    SocketIoRecovery,
}

const FORMATS: usize = 4;

impl WireFormat {
    fn index(self) -> usize {
        match self {
            WireFormat::Raw => 0,
            WireFormat::Native => 1,
            WireFormat::SocketIo => 2,
            WireFormat::SocketIoRecovery => 3,
        }
    }

    /// True for both Socket.IO formats.
    pub fn is_socketio(self) -> bool {
        matches!(self, WireFormat::SocketIo | WireFormat::SocketIoRecovery)
    }
}

/// A message in one wire format: usually one WebSocket message, several when a protocol
/// sends binary attachments after a text packet (Socket.IO). The messages of one item are
/// always written together, in order.
#[derive(Debug, Clone)]
pub enum Encoded {
    /// One message.
    One(WsMessage),
    /// Several messages that must not be separated.
    Many(Box<[WsMessage]>),
}

impl Encoded {
    /// The messages, in order.
    pub fn messages(&self) -> &[WsMessage] {
        match self {
            Encoded::One(msg) => std::slice::from_ref(msg),
            Encoded::Many(msgs) => msgs,
        }
    }

    /// Total payload bytes.
    pub fn len(&self) -> usize {
        self.messages().iter().map(|m| m.payload.len()).sum()
    }

    /// True when there is no payload at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<WsMessage> for Encoded {
    fn from(msg: WsMessage) -> Self {
        Encoded::One(msg)
    }
}

/// A message shared by many recipients, encoded at most once per wire format.
#[derive(Debug)]
pub struct Broadcast {
    body: Body,
    weight: usize,
    encoded: [OnceLock<Option<Encoded>>; FORMATS],
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
    /// does not exist in that format (events other than a raw room's messages on a raw
    /// connection, presence for Socket.IO).
    pub fn encoded(&self, format: WireFormat) -> Option<&Encoded> {
        self.encoded[format.index()]
            .get_or_init(|| match (&self.body, format) {
                (Body::Event(event), WireFormat::Raw) => event.encode_raw().map(Encoded::One),
                (Body::Presence(_), WireFormat::Raw) => None,
                (Body::Event(event), WireFormat::Native) => Some(event.encode_native().into()),
                (Body::Presence(notice), WireFormat::Native) => Some(notice.encode_native().into()),
                (Body::Event(event), WireFormat::SocketIo) => Some(event.encode_socketio(false)),
                (Body::Event(event), WireFormat::SocketIoRecovery) => {
                    Some(event.encode_socketio(true))
                }
                (Body::Presence(_), WireFormat::SocketIo | WireFormat::SocketIoRecovery) => None,
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
    pub fn messages_for(&self, format: WireFormat) -> &[WsMessage] {
        match self {
            Outbound::Message(msg) => std::slice::from_ref(msg),
            Outbound::Messages(msgs) => msgs,
            Outbound::Shared(shared) => shared.encoded(format).map_or(&[], Encoded::messages),
            Outbound::Close(_) => &[],
        }
    }
}

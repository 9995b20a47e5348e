//! The messages the event layer fans out, before any wire format is chosen.
//!
//! An [`Event`] or [`PresenceNotice`] is built once per broadcast and wrapped in a
//! [`crate::Broadcast`], which encodes it lazily for each wire format its recipients speak.

use std::sync::Arc;

use bytes::Bytes;
use chorus_proto::native::{self, push};
use chorus_proto::WsMessage;
use serde_json::value::RawValue;

use crate::ConnId;

/// Who sent an event.
#[derive(Debug, Clone)]
pub struct SenderInfo {
    /// The sender's connection id.
    pub id: ConnId,
    /// The sender's nickname when it sent the event.
    pub name: Arc<str>,
}

/// An event's data.
#[derive(Debug, Clone)]
pub enum EventData {
    /// A JSON value, kept as its text.
    Json(Box<RawValue>),
    /// Raw bytes.
    Binary(Bytes),
}

impl EventData {
    /// JSON `null`.
    pub fn null() -> Self {
        EventData::Json(RawValue::from_string("null".into()).expect("null is JSON"))
    }

    /// Serialises a value into event data.
    pub fn json(value: &impl serde::Serialize) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(EventData::Json)
    }

    /// Encoded size in bytes, for size limits.
    pub fn len(&self) -> usize {
        match self {
            EventData::Json(raw) => raw.get().len(),
            EventData::Binary(bytes) => bytes.len(),
        }
    }

    /// True when [`EventData::len`] is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<native::command::Payload> for EventData {
    fn from(payload: native::command::Payload) -> Self {
        match payload {
            native::command::Payload::Json(raw) => EventData::Json(raw),
            native::command::Payload::Binary(bytes) => EventData::Binary(bytes),
        }
    }
}

/// A named event with data, possibly sent to a room and possibly from a connection.
#[derive(Debug, Clone)]
pub struct Event {
    /// Event name.
    pub name: Arc<str>,
    /// Event data.
    pub data: EventData,
    /// The room it was sent to.
    pub room: Option<Arc<str>>,
    /// The sender; `None` for server-originated events.
    pub from: Option<SenderInfo>,
}

impl Event {
    /// Encodes the event in the native protocol.
    pub fn encode_native(&self) -> WsMessage {
        let id;
        let from = match &self.from {
            Some(sender) => {
                id = sender.id.to_string();
                Some(push::Sender {
                    id: &id,
                    name: &sender.name,
                })
            }
            None => None,
        };
        push::EventPush {
            event: &self.name,
            data: match &self.data {
                EventData::Json(raw) => push::EventData::Json(raw),
                EventData::Binary(bytes) => push::EventData::Binary(bytes),
            },
            room: self.room.as_deref(),
            from,
        }
        .encode()
    }
}

/// A change in a room's membership.
#[derive(Debug, Clone)]
pub struct PresenceNotice {
    /// The room.
    pub room: Arc<str>,
    /// What happened.
    pub action: push::PresenceAction,
    /// Who.
    pub member: crate::PeerInfo,
}

impl PresenceNotice {
    /// Encodes the notice in the native protocol.
    pub fn encode_native(&self) -> WsMessage {
        let id = self.member.id.to_string();
        push::presence(
            &self.room,
            self.action,
            &push::Member {
                id: &id,
                name: &self.member.name,
                data: self.member.data.as_deref(),
            },
        )
    }
}

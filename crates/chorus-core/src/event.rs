//! The messages the event layer fans out, before any wire format is chosen.
//!
//! An [`Event`] is built once per broadcast and wrapped in a [`crate::Broadcast`], which
//! has it encoded lazily by each wire format its recipients speak ([`crate::format`]).

use std::sync::Arc;

use bytes::Bytes;
use chorus_proto::{MessageKind, WsMessage};
use serde_json::value::RawValue;

use crate::{ConnId, DataKind, StoredEvent, StreamPos};

/// Who sent an event.
#[derive(Debug, Clone)]
pub struct SenderInfo {
    /// The sender's connection id.
    pub id: ConnId,
    /// The sender's nickname when it sent the event.
    pub name: Arc<str>,
}

/// An event's data.
///
/// Most events carry one value: JSON or bytes. Socket.IO lets an emit carry any number of
/// arguments, with binary values anywhere inside them; [`EventData::Args`] keeps those as they
/// came, so a Socket.IO client receives exactly what another one sent. A native client
/// receives `Args` as a JSON array (see [`EventData::to_json`]).
#[derive(Debug, Clone)]
pub enum EventData {
    /// A JSON value, kept as its text.
    Json(Box<RawValue>),
    /// Raw bytes.
    Binary(Bytes),
    /// Several arguments: a JSON array in which each binary value is a placeholder
    /// `{"_placeholder":true,"num":N}` standing for `attachments[N]`.
    Args {
        /// The arguments, as a JSON array.
        args: Box<RawValue>,
        /// The binary values the placeholders refer to.
        attachments: Vec<Bytes>,
    },
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
            EventData::Args { args, attachments } => {
                args.get().len() + attachments.iter().map(Bytes::len).sum::<usize>()
            }
        }
    }

    /// The data as one JSON value, for receivers that cannot take binary frames apart
    /// (native clients, JSON-only handlers): arguments become an array, and each binary
    /// value inside them becomes `{"$binary":"<base64>"}`. `None` for [`EventData::Binary`].
    pub fn to_json(&self) -> Option<std::borrow::Cow<'_, RawValue>> {
        use std::borrow::Cow;
        match self {
            EventData::Json(raw) => Some(Cow::Borrowed(raw)),
            EventData::Binary(_) => None,
            EventData::Args { args, attachments } if attachments.is_empty() => {
                Some(Cow::Borrowed(args))
            }
            EventData::Args { args, attachments } => {
                let mut value: serde_json::Value = serde_json::from_str(args.get()).ok()?;
                inline_attachments(&mut value, attachments);
                serde_json::value::to_raw_value(&value).ok().map(Cow::Owned)
            }
        }
    }

    /// True when [`EventData::len`] is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Equal when they carry the same JSON text and the same bytes (ops compare by value).
impl PartialEq for EventData {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (EventData::Json(a), EventData::Json(b)) => a.get() == b.get(),
            (EventData::Binary(a), EventData::Binary(b)) => a == b,
            (
                EventData::Args {
                    args: a,
                    attachments: x,
                },
                EventData::Args {
                    args: b,
                    attachments: y,
                },
            ) => a.get() == b.get() && x == y,
            _ => false,
        }
    }
}

impl Eq for EventData {}

/// Replaces each Socket.IO placeholder in `value` with `{"$binary":"<base64>"}`.
fn inline_attachments(value: &mut serde_json::Value, attachments: &[Bytes]) {
    use base64::Engine;
    use serde_json::Value;
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| inline_attachments(v, attachments)),
        Value::Object(map) => {
            let num = (map.len() == 2 && map.get("_placeholder") == Some(&Value::Bool(true)))
                .then(|| map.get("num").and_then(Value::as_u64))
                .flatten();
            match num.and_then(|n| attachments.get(usize::try_from(n).ok()?)) {
                Some(bytes) => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                    *value = serde_json::json!({ "$binary": b64 });
                }
                None => map
                    .values_mut()
                    .for_each(|v| inline_attachments(v, attachments)),
            }
        }
        _ => {}
    }
}

/// The event name of a plain WebSocket text message ([`Event::raw`]).
pub const RAW_TEXT: &str = "text";
/// The event name of a plain WebSocket binary message ([`Event::raw`]).
pub const RAW_BINARY: &str = "binary";

/// A named event with data, possibly sent to a room and possibly from a connection.
#[derive(Debug, Clone)]
pub struct Event {
    /// The namespace it was sent in (`/` for the main one); Socket.IO addresses packets by it.
    pub namespace: Arc<str>,
    /// Event name.
    pub name: Arc<str>,
    /// Event data.
    pub data: EventData,
    /// The room it was sent to.
    pub room: Option<Arc<str>>,
    /// The sender; `None` for server-originated events.
    pub from: Option<SenderInfo>,
    /// Its place in the room's stream, for a room that keeps history.
    pub pos: Option<StreamPos>,
    /// Its store-wide sequence number once stored (see [`crate::store`]); 0 otherwise.
    pub seq: u64,
    /// The offset a Socket.IO client with connection-state recovery is given for it (its
    /// last argument), set by the publisher when recovery is on: see
    /// [`crate::Publisher::recovery_offset`].
    pub offset: Option<Arc<str>>,
}

impl Event {
    /// The event as a store keeps it, published to its room but `except`.
    pub fn to_stored(&self, time_ms: u64, except: Option<ConnId>) -> StoredEvent {
        let (kind, data, attachments) = match &self.data {
            EventData::Json(raw) => (
                DataKind::Json,
                Bytes::copy_from_slice(raw.get().as_bytes()),
                Vec::new(),
            ),
            EventData::Binary(bytes) => (DataKind::Binary, bytes.clone(), Vec::new()),
            EventData::Args { args, attachments } => (
                DataKind::Args,
                Bytes::copy_from_slice(args.get().as_bytes()),
                attachments.clone(),
            ),
        };
        StoredEvent {
            name: self.name.clone(),
            kind,
            data,
            attachments,
            from: self
                .from
                .as_ref()
                .map(|f| (Arc::from(f.id.to_string()), f.name.clone())),
            except: except.map(|id| Arc::from(id.to_string())),
            time_ms,
        }
    }

    /// Rebuilds a stored event of `room` in namespace `namespace`, at `pos` with sequence
    /// number `seq`. Data a store returns
    /// damaged (not JSON where JSON was stored) becomes `null` rather than failing a replay.
    pub fn from_stored(
        namespace: Arc<str>,
        room: Arc<str>,
        stored: StoredEvent,
        pos: StreamPos,
        seq: u64,
    ) -> Self {
        let json = |bytes: &Bytes| {
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| RawValue::from_string(text.to_owned()).ok())
        };
        let data = match stored.kind {
            DataKind::Json => json(&stored.data).map_or_else(EventData::null, EventData::Json),
            DataKind::Binary => EventData::Binary(stored.data),
            DataKind::Args => match json(&stored.data) {
                Some(args) => EventData::Args {
                    args,
                    attachments: stored.attachments,
                },
                None => EventData::null(),
            },
        };
        Event {
            namespace,
            name: stored.name,
            data,
            room: Some(room),
            from: stored.from.and_then(|(id, name)| {
                Some(SenderInfo {
                    id: id.parse().ok()?,
                    name,
                })
            }),
            pos: Some(pos),
            seq,
            offset: None,
        }
    }

    /// A plain WebSocket message as an event (so a raw room's messages can be stored and
    /// replayed like any other): named [`RAW_TEXT`] or [`RAW_BINARY`] after its frame
    /// type, the payload as binary data. [`Event::as_raw`] gives it back.
    pub fn raw(
        namespace: Arc<str>,
        room: Option<Arc<str>>,
        msg: WsMessage,
        from: Option<SenderInfo>,
    ) -> Self {
        let name = match msg.kind {
            MessageKind::Text => RAW_TEXT,
            MessageKind::Binary => RAW_BINARY,
        };
        Event {
            namespace,
            name: Arc::from(name),
            data: EventData::Binary(msg.payload),
            room,
            from,
            pos: None,
            seq: 0,
            offset: None,
        }
    }

    /// The plain WebSocket message an [`Event::raw`] was made of; `None` for any other
    /// event.
    pub fn as_raw(&self) -> Option<WsMessage> {
        let EventData::Binary(payload) = &self.data else {
            return None;
        };
        match &*self.name {
            RAW_BINARY => Some(WsMessage::binary(payload.clone())),
            // Stored as text, so UTF-8: a damaged store's bytes are not sent as text.
            RAW_TEXT => std::str::from_utf8(payload)
                .is_ok()
                .then(|| WsMessage::text_from_utf8(payload.clone())),
            _ => None,
        }
    }
}

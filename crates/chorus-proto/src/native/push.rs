//! Encoding what the server sends: `hello`, `reply`, `event`, `presence` and `error`.
//!
//! Each encoder writes the JSON once into a fresh buffer and returns a [`WsMessage`] whose
//! payload can be shared by every recipient. Strings go through `serde_json` for escaping;
//! `data` is spliced in as the raw JSON text it arrived as.

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use super::binary;
use super::error::ErrorCode;
use super::Rid;
use crate::WsMessage;

/// Who sent an event, as shown to its recipients.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sender<'a> {
    /// The sender's connection id.
    pub id: &'a str,
    /// The sender's nickname.
    pub name: &'a str,
}

/// A room member as listed in presence.
#[derive(Debug, Clone, Serialize)]
pub struct Member<'a> {
    /// Connection id.
    pub id: &'a str,
    /// Nickname.
    pub name: &'a str,
    /// User data set with `set`, `null` if none.
    pub data: Option<&'a RawValue>,
}

/// What changed in a room's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceAction {
    /// A member joined.
    Join,
    /// A member left (or disconnected).
    Leave,
    /// A member changed nickname or data.
    Update,
}

impl PresenceAction {
    fn as_str(self) -> &'static str {
        match self {
            PresenceAction::Join => "join",
            PresenceAction::Leave => "leave",
            PresenceAction::Update => "update",
        }
    }
}

/// An event's data, borrowed for encoding.
#[derive(Debug, Clone, Copy)]
pub enum EventData<'a> {
    /// JSON text.
    Json(&'a RawValue),
    /// Raw bytes: the push becomes a binary frame.
    Binary(&'a [u8]),
}

/// An `event` push.
#[derive(Debug, Clone, Copy)]
pub struct EventPush<'a> {
    /// Event name.
    pub event: &'a str,
    /// Event data.
    pub data: EventData<'a>,
    /// The room it was sent to, if any.
    pub room: Option<&'a str>,
    /// The sending connection, if a client sent it.
    pub from: Option<Sender<'a>>,
    /// Set when the server wants this client to acknowledge the event: the client answers
    /// with an `ack` command carrying the same number.
    pub ack: Option<u64>,
    /// The event's place in its room's history: `(epoch, offset)`.
    pub pos: Option<(&'a str, u64)>,
}

impl EventPush<'_> {
    /// Encodes the push: a text frame for JSON data, a binary frame for bytes.
    pub fn encode(&self) -> WsMessage {
        let mut out = Vec::with_capacity(64 + self.event.len() + self.data_len());
        out.extend_from_slice(br#"{"type":"event","event":"#);
        push_str(&mut out, self.event);
        if let Some(room) = self.room {
            out.extend_from_slice(br#","room":"#);
            push_str(&mut out, room);
        }
        if let Some(from) = self.from {
            out.extend_from_slice(br#","from":"#);
            serde_json::to_writer(&mut out, &from).expect("writing to a Vec cannot fail");
        }
        if let Some(ack) = self.ack {
            out.extend_from_slice(br#","ack":"#);
            out.extend_from_slice(ack.to_string().as_bytes());
        }
        if let Some((epoch, offset)) = self.pos {
            out.extend_from_slice(br#","offset":"#);
            out.extend_from_slice(offset.to_string().as_bytes());
            out.extend_from_slice(br#","epoch":"#);
            push_str(&mut out, epoch);
        }
        match self.data {
            EventData::Json(data) => {
                out.extend_from_slice(br#","data":"#);
                out.extend_from_slice(data.get().as_bytes());
                out.push(b'}');
                WsMessage::text_from_utf8(Bytes::from(out))
            }
            EventData::Binary(bytes) => {
                out.push(b'}');
                WsMessage::binary(binary::encode(&out, bytes))
            }
        }
    }

    fn data_len(&self) -> usize {
        match self.data {
            EventData::Json(data) => data.get().len(),
            EventData::Binary(_) => 0,
        }
    }
}

/// The greeting sent first on every connection.
pub fn hello(id: &str, name: &str, server: &str) -> WsMessage {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(br#"{"type":"hello","v":"#);
    out.extend_from_slice(super::VERSION.to_string().as_bytes());
    out.extend_from_slice(br#","id":"#);
    push_str(&mut out, id);
    out.extend_from_slice(br#","name":"#);
    push_str(&mut out, name);
    out.extend_from_slice(br#","server":"#);
    push_str(&mut out, server);
    out.push(b'}');
    WsMessage::text_from_utf8(Bytes::from(out))
}

/// A successful reply; `result` must serialise to a JSON object.
pub fn reply_ok(rid: &Rid, result: &impl Serialize) -> WsMessage {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(br#"{"type":"reply","rid":"#);
    out.extend_from_slice(rid.as_json().as_bytes());
    out.extend_from_slice(br#","ok":true,"result":"#);
    serde_json::to_writer(&mut out, result).expect("writing to a Vec cannot fail");
    out.push(b'}');
    WsMessage::text_from_utf8(Bytes::from(out))
}

/// A failed reply.
pub fn reply_err(rid: &Rid, code: ErrorCode, message: &str) -> WsMessage {
    let mut out = Vec::with_capacity(96 + message.len());
    out.extend_from_slice(br#"{"type":"reply","rid":"#);
    out.extend_from_slice(rid.as_json().as_bytes());
    out.extend_from_slice(br#","ok":false,"error":{"code":"#);
    push_str(&mut out, code.as_str());
    out.extend_from_slice(br#","message":"#);
    push_str(&mut out, message);
    out.extend_from_slice(b"}}");
    WsMessage::text_from_utf8(Bytes::from(out))
}

/// An `error` push, for failures that have no request id to answer.
pub fn error(code: ErrorCode, message: &str) -> WsMessage {
    let mut out = Vec::with_capacity(64 + message.len());
    out.extend_from_slice(br#"{"type":"error","code":"#);
    push_str(&mut out, code.as_str());
    out.extend_from_slice(br#","message":"#);
    push_str(&mut out, message);
    out.push(b'}');
    WsMessage::text_from_utf8(Bytes::from(out))
}

/// A `presence` push: someone joined, left or changed in `room`.
pub fn presence(room: &str, action: PresenceAction, member: &Member<'_>) -> WsMessage {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(br#"{"type":"presence","room":"#);
    push_str(&mut out, room);
    out.extend_from_slice(br#","action":"#);
    push_str(&mut out, action.as_str());
    out.extend_from_slice(br#","member":"#);
    serde_json::to_writer(&mut out, member).expect("writing to a Vec cannot fail");
    out.push(b'}');
    WsMessage::text_from_utf8(Bytes::from(out))
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(msg: &WsMessage) -> Value {
        serde_json::from_slice(&msg.payload).unwrap()
    }

    #[test]
    fn event_text() {
        let data = RawValue::from_string(r#"{"t":"<b>hi</b>"}"#.into()).unwrap();
        let msg = EventPush {
            event: "chat\"x",
            data: EventData::Json(&data),
            room: Some("lobby"),
            from: Some(Sender {
                id: "ab",
                name: "al\nice",
            }),
            ack: None,
            pos: None,
        }
        .encode();
        assert!(!msg.is_binary());
        assert_eq!(
            json(&msg),
            serde_json::json!({"type":"event","event":"chat\"x","room":"lobby",
                "from":{"id":"ab","name":"al\nice"},"data":{"t":"<b>hi</b>"}})
        );
    }

    #[test]
    fn event_binary() {
        let msg = EventPush {
            event: "f",
            data: EventData::Binary(b"\x00\xff"),
            room: None,
            from: None,
            ack: None,
            pos: None,
        }
        .encode();
        assert!(msg.is_binary());
        let (header, payload) = binary::split(&msg.payload).unwrap();
        assert_eq!(header, r#"{"type":"event","event":"f"}"#);
        assert_eq!(&payload[..], b"\x00\xff");
    }

    #[test]
    fn replies_and_errors() {
        let rid: Rid = match super::super::Command::decode_text(
            r#"{"type":"ping","rid":"r1"}"#,
            &Default::default(),
        )
        .unwrap()
        {
            super::super::Command::Ping { rid } => rid.unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(
            json(&reply_ok(&rid, &serde_json::json!({"delivered":2}))),
            serde_json::json!({"type":"reply","rid":"r1","ok":true,"result":{"delivered":2}})
        );
        assert_eq!(
            json(&reply_err(&rid, ErrorCode::NotInRoom, "no \"x\"")),
            serde_json::json!({"type":"reply","rid":"r1","ok":false,
                "error":{"code":"not_in_room","message":"no \"x\""}})
        );
        assert_eq!(
            json(&error(ErrorCode::BadJson, "eh")),
            serde_json::json!({"type":"error","code":"bad_json","message":"eh"})
        );
        assert_eq!(
            json(&hello("id1", "user1", "chorus/0.1.0")),
            serde_json::json!({"type":"hello","v":1,"id":"id1","name":"user1","server":"chorus/0.1.0"})
        );
        let member = Member {
            id: "x",
            name: "bob",
            data: None,
        };
        assert_eq!(
            json(&presence("r", PresenceAction::Join, &member)),
            serde_json::json!({"type":"presence","room":"r","action":"join",
                "member":{"id":"x","name":"bob","data":null}})
        );
    }
}

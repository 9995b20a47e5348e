//! [`Envelope`]: a published message as it travels between nodes, and its binary form.
//!
//! One message published on a node is one envelope on the broker: what it is (an event or a
//! plain frame), who it goes to (the audience, the rooms and the connection left out), who
//! sent it, and where it comes from — the origin node and its sequence number there, so a
//! node knows its own messages when they come back and never publishes what it received.
//!
//! The form is ours, small and versioned: a version byte, then fixed-width integers
//! (little-endian) and length-prefixed byte strings (a LEB128 length). Decoding checks every
//! length against what is left and every string for UTF-8 and every JSON value for JSON,
//! so a corrupt or hostile envelope is an [`EnvelopeError`], never a panic or a huge
//! allocation; payloads are slices of the received buffer, not copies.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use chorus_proto::{MessageKind, WsMessage};
use serde_json::value::RawValue;

use crate::{Audience, ConnId, Event, EventData, SenderInfo, Target};

/// The form's version; a node refuses envelopes of another.
const VERSION: u8 = 1;
/// Where the sequence number is: after the version and the origin.
const SEQ_AT: usize = 9;

/// Most rooms an audience or an exclusion names in one envelope.
const MAX_ROOMS: u64 = 4096;
/// Most binary attachments one event carries.
pub(super) const MAX_ATTACHMENTS: u64 = 4096;

/// A node's identity in a cluster: random, fresh at every start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub u64);

impl NodeId {
    /// A fresh random id.
    pub fn random() -> Self {
        NodeId(rand::random())
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What an envelope carries.
#[derive(Debug, Clone)]
pub enum Payload {
    /// An event, encoded by each recipient's format.
    Event {
        /// Its name.
        name: Arc<str>,
        /// Its data.
        data: EventData,
        /// Its sender, shown to recipients.
        from: Option<SenderInfo>,
    },
    /// A plain WebSocket message, delivered as it is.
    Frame(WsMessage),
}

/// A published message on its way between nodes.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The node it was published on.
    pub origin: NodeId,
    /// Its number among the origin's envelopes.
    pub seq: u64,
    /// Its namespace.
    pub namespace: Arc<str>,
    /// Who it goes to.
    pub to: Target,
    /// Members of these rooms are left out.
    pub except_rooms: Vec<Arc<str>>,
    /// This connection is left out.
    pub except: Option<ConnId>,
    /// Dropped for a recipient whose queue is full.
    pub volatile: bool,
    /// What it is.
    pub payload: Payload,
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// It ends before its last field.
    #[error("the envelope is cut short")]
    Short,
    /// Another version of the form.
    #[error("envelope version {0} (this node reads {VERSION})")]
    Version(u8),
    /// A tag names nothing.
    #[error("unknown {what} tag {tag}")]
    Tag {
        /// Which field.
        what: &'static str,
        /// Its value.
        tag: u8,
    },
    /// A length or count is out of bounds.
    #[error("{0} out of bounds")]
    Bounds(&'static str),
    /// A string is not UTF-8, or a JSON value not JSON.
    #[error("{0} is malformed")]
    Malformed(&'static str),
    /// Bytes are left after the last field.
    #[error("{0} bytes after the envelope")]
    Trailing(usize),
}

// Flags.
const VOLATILE: u8 = 1;
const HAS_EXCEPT: u8 = 2;
const HAS_FROM: u8 = 4;

// Target tags.
const TO_ROOM: u8 = 0;
const TO_ROOMS: u8 = 1;
const TO_EVERYONE: u8 = 2;
const TO_CONN: u8 = 3;
const TO_USER: u8 = 4;

// Payload tags.
const FRAME_TEXT: u8 = 0;
const FRAME_BINARY: u8 = 1;
const EVENT_JSON: u8 = 2;
const EVENT_BINARY: u8 = 3;
const EVENT_ARGS: u8 = 4;

impl Envelope {
    /// Its binary form.
    pub fn encode(&self) -> Bytes {
        let payload = match &self.payload {
            Payload::Frame(msg) => PayloadRef::Frame(msg),
            Payload::Event { name, data, from } => PayloadRef::Event {
                name,
                data,
                from: from.as_ref(),
            },
        };
        let mut bytes = Parts {
            origin: self.origin,
            namespace: &self.namespace,
            to: self.to.audience(),
            except_rooms: &self.except_rooms,
            except: self.except,
            volatile: self.volatile,
            payload,
        }
        .encode();
        Envelope::set_seq(&mut bytes, self.seq);
        bytes.freeze()
    }

    /// Sets the sequence number of an encoded envelope (the route numbers an envelope
    /// under its node's order lock, after encoding it without).
    pub(crate) fn set_seq(bytes: &mut BytesMut, seq: u64) {
        bytes[SEQ_AT..SEQ_AT + 8].copy_from_slice(&seq.to_le_bytes());
    }

    /// The origin and number of an encoded envelope, read from its header alone: all a
    /// node needs of its own envelopes when they come back.
    pub fn peek(bytes: &[u8]) -> Option<(NodeId, u64)> {
        let header = bytes.get(..SEQ_AT + 8)?;
        if header[0] != VERSION {
            return None;
        }
        let origin = u64::from_le_bytes(header[1..SEQ_AT].try_into().ok()?);
        let seq = u64::from_le_bytes(header[SEQ_AT..].try_into().ok()?);
        Some((NodeId(origin), seq))
    }

    /// Reads an envelope; its byte payloads are slices of `bytes`.
    pub fn decode(bytes: Bytes) -> Result<Envelope, EnvelopeError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(EnvelopeError::Version(version));
        }
        let origin = NodeId(r.u64()?);
        let seq = r.u64()?;
        let flags = r.u8()?;
        let namespace = r.name("namespace")?;
        let to = match r.u8()? {
            TO_ROOM => Target::Room(r.name("room")?),
            TO_ROOMS => Target::Rooms(r.names()?),
            TO_EVERYONE => Target::Everyone,
            TO_CONN => Target::Conn(ConnId::from_u64(r.u64()?)),
            TO_USER => Target::User(r.name("user")?),
            tag => {
                return Err(EnvelopeError::Tag {
                    what: "target",
                    tag,
                })
            }
        };
        let except_rooms = r.names()?;
        let except = if flags & HAS_EXCEPT != 0 {
            Some(ConnId::from_u64(r.u64()?))
        } else {
            None
        };
        let from = if flags & HAS_FROM != 0 {
            let id = ConnId::from_u64(r.u64()?);
            Some(SenderInfo {
                id,
                name: r.name("sender name")?,
            })
        } else {
            None
        };
        let payload = match r.u8()? {
            tag @ (FRAME_TEXT | FRAME_BINARY) => {
                let payload = r.bytes()?;
                let kind = if tag == FRAME_TEXT {
                    if std::str::from_utf8(&payload).is_err() {
                        return Err(EnvelopeError::Malformed("text frame"));
                    }
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                Payload::Frame(WsMessage { kind, payload })
            }
            tag @ (EVENT_JSON | EVENT_BINARY | EVENT_ARGS) => {
                let name = r.name("event name")?;
                let data = match tag {
                    EVENT_JSON => EventData::Json(r.json("event data")?),
                    EVENT_BINARY => EventData::Binary(r.bytes()?),
                    _ => {
                        let args = r.json("event arguments")?;
                        let n = r.count(MAX_ATTACHMENTS, "attachments")?;
                        let mut attachments = Vec::with_capacity(n);
                        for _ in 0..n {
                            attachments.push(r.bytes()?);
                        }
                        EventData::Args { args, attachments }
                    }
                };
                Payload::Event { name, data, from }
            }
            tag => {
                return Err(EnvelopeError::Tag {
                    what: "payload",
                    tag,
                })
            }
        };
        if !r.0.is_empty() {
            return Err(EnvelopeError::Trailing(r.0.len()));
        }
        Ok(Envelope {
            origin,
            seq,
            namespace,
            to,
            except_rooms,
            except,
            volatile: flags & VOLATILE != 0,
            payload,
        })
    }

    /// The event it carries in its namespace, named after its room if it goes to one (as
    /// the route names a message it delivers itself); `None` for a plain frame.
    pub fn event(&self) -> Option<Event> {
        let Payload::Event { name, data, from } = &self.payload else {
            return None;
        };
        let room = match &self.to {
            Target::Room(room) => Some(room.clone()),
            Target::Rooms(rooms) if rooms.len() == 1 => Some(rooms[0].clone()),
            _ => None,
        };
        Some(Event {
            namespace: self.namespace.clone(),
            name: name.clone(),
            data: data.clone(),
            room,
            from: from.clone(),
            pos: None,
            seq: 0,
            offset: None,
        })
    }
}

/// What an envelope says, borrowed from the message being published: encoded without
/// copying it first.
pub(crate) struct Parts<'a> {
    pub(crate) origin: NodeId,
    pub(crate) namespace: &'a str,
    pub(crate) to: Audience<'a>,
    pub(crate) except_rooms: &'a [Arc<str>],
    pub(crate) except: Option<ConnId>,
    pub(crate) volatile: bool,
    pub(crate) payload: PayloadRef<'a>,
}

/// [`Payload`], borrowed.
pub(crate) enum PayloadRef<'a> {
    Frame(&'a WsMessage),
    Event {
        name: &'a str,
        data: &'a EventData,
        from: Option<&'a SenderInfo>,
    },
}

impl Parts<'_> {
    /// The envelope's binary form, numbered 0 (see [`Envelope::set_seq`]).
    pub(crate) fn encode(&self) -> BytesMut {
        let size = match &self.payload {
            PayloadRef::Frame(msg) => msg.payload.len(),
            PayloadRef::Event { name, data, .. } => name.len() + data.len() + 16,
        };
        let mut out = BytesMut::with_capacity(64 + self.namespace.len() + size);
        out.put_u8(VERSION);
        out.put_u64_le(self.origin.0);
        out.put_u64_le(0);
        let from = match &self.payload {
            PayloadRef::Event { from, .. } => *from,
            PayloadRef::Frame(_) => None,
        };
        let mut flags = 0;
        if self.volatile {
            flags |= VOLATILE;
        }
        if self.except.is_some() {
            flags |= HAS_EXCEPT;
        }
        if from.is_some() {
            flags |= HAS_FROM;
        }
        out.put_u8(flags);
        put_bytes(&mut out, self.namespace.as_bytes());
        match self.to {
            Audience::Room(room) => {
                out.put_u8(TO_ROOM);
                put_bytes(&mut out, room.as_bytes());
            }
            Audience::Rooms(rooms) => {
                out.put_u8(TO_ROOMS);
                put_names(&mut out, rooms);
            }
            Audience::Everyone => out.put_u8(TO_EVERYONE),
            Audience::Conn(id) => {
                out.put_u8(TO_CONN);
                out.put_u64_le(id.as_u64());
            }
            Audience::User(user) => {
                out.put_u8(TO_USER);
                put_bytes(&mut out, user.as_bytes());
            }
        }
        put_names(&mut out, self.except_rooms);
        if let Some(except) = self.except {
            out.put_u64_le(except.as_u64());
        }
        if let Some(from) = from {
            out.put_u64_le(from.id.as_u64());
            put_bytes(&mut out, from.name.as_bytes());
        }
        match &self.payload {
            PayloadRef::Frame(msg) => {
                out.put_u8(match msg.kind {
                    MessageKind::Text => FRAME_TEXT,
                    MessageKind::Binary => FRAME_BINARY,
                });
                put_bytes(&mut out, &msg.payload);
            }
            PayloadRef::Event { name, data, .. } => match data {
                EventData::Json(raw) => {
                    out.put_u8(EVENT_JSON);
                    put_bytes(&mut out, name.as_bytes());
                    put_bytes(&mut out, raw.get().as_bytes());
                }
                EventData::Binary(bytes) => {
                    out.put_u8(EVENT_BINARY);
                    put_bytes(&mut out, name.as_bytes());
                    put_bytes(&mut out, bytes);
                }
                EventData::Args { args, attachments } => {
                    out.put_u8(EVENT_ARGS);
                    put_bytes(&mut out, name.as_bytes());
                    put_bytes(&mut out, args.get().as_bytes());
                    put_len(&mut out, attachments.len());
                    for attachment in attachments {
                        put_bytes(&mut out, attachment);
                    }
                }
            },
        }
        out
    }
}

pub(super) fn put_len(out: &mut BytesMut, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.put_u8(byte);
            return;
        }
        out.put_u8(byte | 0x80);
    }
}

pub(super) fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.put_slice(bytes);
}

pub(super) fn put_names(out: &mut BytesMut, names: &[Arc<str>]) {
    put_len(out, names.len());
    for name in names {
        put_bytes(out, name.as_bytes());
    }
}

/// What is left of an envelope being read.
pub(super) struct Reader(pub(super) Bytes);

impl Reader {
    pub(super) fn u8(&mut self) -> Result<u8, EnvelopeError> {
        if self.0.is_empty() {
            return Err(EnvelopeError::Short);
        }
        Ok(self.0.get_u8())
    }

    pub(super) fn u64(&mut self) -> Result<u64, EnvelopeError> {
        if self.0.len() < 8 {
            return Err(EnvelopeError::Short);
        }
        Ok(self.0.get_u64_le())
    }

    /// A LEB128 length, at most 2^35 (five bytes).
    pub(super) fn len(&mut self) -> Result<u64, EnvelopeError> {
        let mut n = 0u64;
        for shift in (0..35).step_by(7) {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(EnvelopeError::Bounds("length"))
    }

    pub(super) fn count(&mut self, max: u64, what: &'static str) -> Result<usize, EnvelopeError> {
        let n = self.len()?;
        // Every counted item takes at least one byte: more than are left is a lie.
        if n > max || n > self.0.len() as u64 {
            return Err(EnvelopeError::Bounds(what));
        }
        Ok(n as usize)
    }

    pub(super) fn bytes(&mut self) -> Result<Bytes, EnvelopeError> {
        let n = self.len()?;
        if n > self.0.len() as u64 {
            return Err(EnvelopeError::Short);
        }
        Ok(self.0.split_to(n as usize))
    }

    pub(super) fn name(&mut self, what: &'static str) -> Result<Arc<str>, EnvelopeError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(&bytes)
            .map(Arc::from)
            .map_err(|_| EnvelopeError::Malformed(what))
    }

    pub(super) fn names(&mut self) -> Result<Vec<Arc<str>>, EnvelopeError> {
        let n = self.count(MAX_ROOMS, "room count")?;
        (0..n).map(|_| self.name("room")).collect()
    }

    pub(super) fn json(&mut self, what: &'static str) -> Result<Box<RawValue>, EnvelopeError> {
        let bytes = self.bytes()?;
        let text = std::str::from_utf8(&bytes).map_err(|_| EnvelopeError::Malformed(what))?;
        RawValue::from_string(text.to_owned()).map_err(|_| EnvelopeError::Malformed(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn sample(payload: Payload, to: Target) -> Envelope {
        Envelope {
            origin: NodeId(0x0102_0304_0506_0708),
            seq: 42,
            namespace: Arc::from("/chat"),
            to,
            except_rooms: vec![Arc::from("muted"), Arc::from("ünï")],
            except: Some(ConnId::from_u64(7)),
            volatile: true,
            payload,
        }
    }

    fn same(a: &Envelope, b: &Envelope) {
        assert_eq!(a.origin, b.origin);
        assert_eq!(a.seq, b.seq);
        assert_eq!(a.namespace, b.namespace);
        assert_eq!(a.to, b.to);
        assert_eq!(a.except_rooms, b.except_rooms);
        assert_eq!(a.except, b.except);
        assert_eq!(a.volatile, b.volatile);
        match (&a.payload, &b.payload) {
            (Payload::Frame(x), Payload::Frame(y)) => assert_eq!(x, y),
            (
                Payload::Event { name, data, from },
                Payload::Event {
                    name: n2,
                    data: d2,
                    from: f2,
                },
            ) => {
                assert_eq!(name, n2);
                assert_eq!(format!("{data:?}"), format!("{d2:?}"));
                assert_eq!(format!("{from:?}"), format!("{f2:?}"));
            }
            _ => panic!("payload kinds differ"),
        }
    }

    fn payloads() -> Vec<Payload> {
        let from = Some(SenderInfo {
            id: ConnId::from_u64(9),
            name: Arc::from("alice"),
        });
        vec![
            Payload::Frame(WsMessage::text("hello")),
            Payload::Frame(WsMessage::binary(Bytes::from_static(&[0, 1, 2, 255]))),
            Payload::Event {
                name: Arc::from("said"),
                data: EventData::Json(raw(r#"{"text":"hi","n":[1,2]}"#)),
                from: from.clone(),
            },
            Payload::Event {
                name: Arc::from("blob"),
                data: EventData::Binary(Bytes::from(vec![7u8; 300])),
                from: None,
            },
            Payload::Event {
                name: Arc::from("args"),
                data: EventData::Args {
                    args: raw(r#"[1,{"_placeholder":true,"num":0}]"#),
                    attachments: vec![Bytes::from_static(b"\x00\x01"), Bytes::new()],
                },
                from,
            },
        ]
    }

    #[test]
    fn every_kind_of_envelope_reads_back_as_it_was_written() {
        let targets = [
            Target::Room(Arc::from("lobby")),
            Target::Rooms(vec![Arc::from("a"), Arc::from("b")]),
            Target::Everyone,
            Target::Conn(ConnId::from_u64(u64::MAX)),
        ];
        for payload in payloads() {
            for to in &targets {
                let mut envelope = sample(payload.clone(), to.clone());
                let back = Envelope::decode(envelope.encode()).unwrap();
                same(&envelope, &back);
                envelope.except = None;
                envelope.except_rooms.clear();
                envelope.volatile = false;
                let back = Envelope::decode(envelope.encode()).unwrap();
                same(&envelope, &back);
            }
        }
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_an_error_or_an_envelope_never_a_panic() {
        for payload in payloads() {
            let bytes = sample(payload, Target::Room(Arc::from("r"))).encode();
            for cut in 0..bytes.len() {
                assert!(
                    Envelope::decode(bytes.slice(..cut)).is_err(),
                    "cut at {cut}"
                );
            }
            for at in 0..bytes.len() {
                for bit in 0..8 {
                    let mut flipped = bytes.to_vec();
                    flipped[at] ^= 1 << bit;
                    let _ = Envelope::decode(Bytes::from(flipped));
                }
            }
        }
    }

    #[test]
    fn the_fuzz_seeds_are_envelopes() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/cluster_envelope");
        let mut n = 0;
        for entry in std::fs::read_dir(seeds).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            if bytes.first() != Some(&VERSION) {
                // A stored message's notice or a marker (`stored`'s tests read those).
                continue;
            }
            let envelope = Envelope::decode(Bytes::from(bytes.clone())).unwrap();
            assert_eq!(envelope.encode(), bytes);
            n += 1;
        }
        assert!(n >= 5);
    }

    #[test]
    fn the_number_is_set_after_encoding() {
        let envelope = sample(payloads().remove(2), Target::Everyone);
        let mut bytes = BytesMut::from(envelope.encode());
        Envelope::set_seq(&mut bytes, 77);
        let bytes = bytes.freeze();
        assert_eq!(Envelope::peek(&bytes), Some((envelope.origin, 77)));
        assert_eq!(Envelope::peek(&bytes[..16]), None);
        let back = Envelope::decode(bytes).unwrap();
        assert_eq!(back.seq, 77);
        assert_eq!(back.origin, envelope.origin);
    }

    #[test]
    fn lies_about_lengths_and_versions_are_refused() {
        let bytes = sample(payloads().remove(0), Target::Everyone).encode();
        let mut other = bytes.to_vec();
        other[0] = 2;
        assert_eq!(
            Envelope::decode(Bytes::from(other)).unwrap_err(),
            EnvelopeError::Version(2)
        );
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        assert_eq!(
            Envelope::decode(Bytes::from(trailing)).unwrap_err(),
            EnvelopeError::Trailing(1)
        );
        // A namespace "4 GiB long", and a length that never ends.
        let mut huge = bytes[..18].to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            Envelope::decode(Bytes::from(huge)).unwrap_err(),
            EnvelopeError::Short
        );
        let mut endless = bytes[..18].to_vec();
        endless.extend_from_slice(&[0xff; 6]);
        assert_eq!(
            Envelope::decode(Bytes::from(endless)).unwrap_err(),
            EnvelopeError::Bounds("length")
        );
    }

    #[test]
    fn a_text_frame_must_be_utf8_and_json_must_be_json() {
        let mut text = sample(Payload::Frame(WsMessage::text("é")), Target::Everyone)
            .encode()
            .to_vec();
        let at = text.len() - 1;
        text[at] = 0xff;
        assert_eq!(
            Envelope::decode(Bytes::from(text)).unwrap_err(),
            EnvelopeError::Malformed("text frame")
        );
        let json = sample(
            Payload::Event {
                name: Arc::from("e"),
                data: EventData::Json(raw("[1]")),
                from: None,
            },
            Target::Everyone,
        )
        .encode();
        let mut broken = json.to_vec();
        let at = broken.len() - 1;
        broken[at] = b'}';
        assert_eq!(
            Envelope::decode(Bytes::from(broken)).unwrap_err(),
            EnvelopeError::Malformed("event data")
        );
    }
}

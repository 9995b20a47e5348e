//! [`Signal`]: what nodes tell each other about themselves, beside the messages they carry —
//! a change in a room's membership, "I am alive", "tell me your members", and the answer.
//!
//! Presence is cluster-wide: a node announces its own connections' joins, leaves and
//! updates, keeps the members other nodes announced, and drops a node's members when that
//! node stops beating (see `presence`). The form is the envelope's (`envelope`): fixed
//! integers, length-prefixed strings, every length checked — behind its own first byte.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::value::RawValue;

use super::envelope::{put_bytes, put_len, put_names, EnvelopeError, Reader, MAX_ATTACHMENTS};
use super::NodeId;
use crate::ops::{Op, Reply, Revocation, Revoked, Selector, SocketInfo};
use crate::{ConnId, EventData, PeerInfo, PresenceAction};

/// The first byte of a signal.
pub const SIGNAL: u8 = 4;

/// Most members one snapshot carries.
const MAX_MEMBERS: u64 = 1 << 20;

// Kinds.
const PRESENCE: u8 = 0;
const HEARTBEAT: u8 = 1;
const ASK: u8 = 2;
const SNAPSHOT: u8 = 3;
const REQUEST: u8 = 4;
const REPLY: u8 = 5;

/// One member of one room of one namespace, as a snapshot lists it.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The namespace.
    pub ns: Arc<str>,
    /// The room.
    pub room: Arc<str>,
    /// Who.
    pub member: PeerInfo,
}

/// What a node tells the others.
#[derive(Debug, Clone)]
pub enum Control {
    /// A connection of the sender joined, left or changed in a room.
    Presence {
        /// What happened, where and to whom.
        membership: Membership,
        /// Joined, left, changed.
        action: PresenceAction,
    },
    /// The sender is alive, and other nodes reach its HTTP at this address (`host:port`),
    /// if it said (Engine.IO long-polling requests are forwarded there).
    Heartbeat(Option<Arc<str>>),
    /// The sender (new, or back on the broker) asks every node for its members.
    Ask,
    /// Every member the sender's connections make, in every room: what it answers an ask
    /// with. It replaces whatever the receiver knew of the sender's members.
    Snapshot(Vec<Membership>),
    /// Run `op` on your connections of namespace `ns`, and reply to request `id`.
    Request {
        /// The request's number at its sender.
        id: u64,
        /// The namespace.
        ns: Arc<str>,
        /// What to do.
        op: Op,
    },
    /// The answer to request `id` of node `to`.
    Reply {
        /// The request's number at `to`.
        id: u64,
        /// The node that asked.
        to: NodeId,
        /// The answer.
        reply: Reply,
    },
}

/// A control message and the node it comes from.
#[derive(Debug, Clone)]
pub struct Signal {
    /// The node that sent it.
    pub origin: NodeId,
    /// What it says.
    pub control: Control,
}

impl Signal {
    /// Whether `bytes` is a signal.
    pub fn is_signal(bytes: &[u8]) -> bool {
        bytes.first() == Some(&SIGNAL)
    }

    /// Its binary form.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(64);
        out.put_u8(SIGNAL);
        out.put_u64_le(self.origin.0);
        match &self.control {
            Control::Presence { membership, action } => {
                out.put_u8(PRESENCE);
                out.put_u8(match action {
                    PresenceAction::Join => 0,
                    PresenceAction::Leave => 1,
                    PresenceAction::Update => 2,
                });
                put_membership(&mut out, membership);
            }
            Control::Heartbeat(address) => {
                out.put_u8(HEARTBEAT);
                put_bytes(&mut out, address.as_deref().unwrap_or("").as_bytes());
            }
            Control::Ask => out.put_u8(ASK),
            Control::Snapshot(members) => {
                out.put_u8(SNAPSHOT);
                put_len(&mut out, members.len());
                for membership in members {
                    put_membership(&mut out, membership);
                }
            }
            Control::Request { id, ns, op } => {
                out.put_u8(REQUEST);
                out.put_u64_le(*id);
                put_bytes(&mut out, ns.as_bytes());
                put_op(&mut out, op);
            }
            Control::Reply { id, to, reply } => {
                out.put_u8(REPLY);
                out.put_u64_le(*id);
                out.put_u64_le(to.0);
                put_reply(&mut out, reply);
            }
        }
        out.freeze()
    }

    /// Reads a signal.
    pub fn decode(bytes: Bytes) -> Result<Signal, EnvelopeError> {
        let mut r = Reader(bytes);
        let tag = r.u8()?;
        if tag != SIGNAL {
            return Err(EnvelopeError::Tag {
                what: "signal",
                tag,
            });
        }
        let origin = NodeId(r.u64()?);
        let control = match r.u8()? {
            PRESENCE => {
                let action = match r.u8()? {
                    0 => PresenceAction::Join,
                    1 => PresenceAction::Leave,
                    2 => PresenceAction::Update,
                    tag => {
                        return Err(EnvelopeError::Tag {
                            what: "presence action",
                            tag,
                        })
                    }
                };
                Control::Presence {
                    membership: membership(&mut r)?,
                    action,
                }
            }
            HEARTBEAT => {
                let address = r.name("address")?;
                Control::Heartbeat((!address.is_empty()).then_some(address))
            }
            ASK => Control::Ask,
            SNAPSHOT => {
                let n = r.count(MAX_MEMBERS, "member count")?;
                Control::Snapshot(
                    (0..n)
                        .map(|_| membership(&mut r))
                        .collect::<Result<_, _>>()?,
                )
            }
            REQUEST => Control::Request {
                id: r.u64()?,
                ns: r.name("namespace")?,
                op: op(&mut r)?,
            },
            REPLY => Control::Reply {
                id: r.u64()?,
                to: NodeId(r.u64()?),
                reply: reply(&mut r)?,
            },
            tag => {
                return Err(EnvelopeError::Tag {
                    what: "signal kind",
                    tag,
                })
            }
        };
        if !r.0.is_empty() {
            return Err(EnvelopeError::Trailing(r.0.len()));
        }
        Ok(Signal { origin, control })
    }
}

fn put_selector(out: &mut BytesMut, s: &Selector) {
    put_names(out, &s.rooms);
    put_names(out, &s.except_rooms);
    put_names(out, &s.users);
    put_len(out, s.conns.len());
    for id in &s.conns {
        out.put_u64_le(id.as_u64());
    }
}

fn selector(r: &mut Reader) -> Result<Selector, EnvelopeError> {
    Ok(Selector {
        rooms: r.names()?,
        except_rooms: r.names()?,
        users: r.names()?,
        conns: {
            let n = r.count(MAX_MEMBERS, "connection count")?;
            let mut conns = Vec::with_capacity(n);
            for _ in 0..n {
                conns.push(crate::ConnId::from_u64(r.u64()?));
            }
            conns
        },
    })
}

fn put_op(out: &mut BytesMut, op: &Op) {
    match op {
        Op::Fetch(s) => {
            out.put_u8(0);
            put_selector(out, s);
        }
        Op::Join(s, rooms) => {
            out.put_u8(1);
            put_selector(out, s);
            put_names(out, rooms);
        }
        Op::Leave(s, rooms) => {
            out.put_u8(2);
            put_selector(out, s);
            put_names(out, rooms);
        }
        Op::Disconnect(s) => {
            out.put_u8(3);
            put_selector(out, s);
        }
        Op::Emit { event, data, ack } => {
            out.put_u8(4);
            put_bytes(out, event.as_bytes());
            put_bytes(out, data);
            out.put_u8(u8::from(*ack));
        }
        Op::EmitWithAck {
            selector,
            except,
            event,
            data,
            wait_ms,
        } => {
            out.put_u8(5);
            put_selector(out, selector);
            put_data(out, except.as_deref().map(str::as_bytes));
            put_bytes(out, event.as_bytes());
            put_event_data(out, data);
            out.put_u64_le(*wait_ms);
        }
        Op::Revoke(revocation) => {
            out.put_u8(6);
            match &revocation.what {
                Revoked::Token(jti) => {
                    out.put_u8(0);
                    put_bytes(out, jti.as_bytes());
                }
                Revoked::User {
                    user,
                    issued_before,
                } => {
                    out.put_u8(1);
                    put_bytes(out, user.as_bytes());
                    out.put_u64_le(*issued_before);
                }
            }
            out.put_u64_le(revocation.until);
        }
        Op::Stats => out.put_u8(7),
    }
}

fn op(r: &mut Reader) -> Result<Op, EnvelopeError> {
    Ok(match r.u8()? {
        0 => Op::Fetch(selector(r)?),
        7 => Op::Stats,
        1 => Op::Join(selector(r)?, r.names()?),
        2 => Op::Leave(selector(r)?, r.names()?),
        3 => Op::Disconnect(selector(r)?),
        4 => Op::Emit {
            event: r.name("event name")?,
            data: r.bytes()?,
            ack: r.u8()? != 0,
        },
        5 => Op::EmitWithAck {
            selector: selector(r)?,
            except: match r.u8()? {
                0 => None,
                1 => Some(r.name("socket id")?),
                tag => {
                    return Err(EnvelopeError::Tag {
                        what: "except",
                        tag,
                    })
                }
            },
            event: r.name("event name")?,
            data: event_data(r)?,
            wait_ms: r.u64()?,
        },
        6 => Op::Revoke(Revocation {
            what: match r.u8()? {
                0 => Revoked::Token(r.name("token id")?),
                1 => Revoked::User {
                    user: r.name("user")?,
                    issued_before: r.u64()?,
                },
                tag => {
                    return Err(EnvelopeError::Tag {
                        what: "revocation",
                        tag,
                    })
                }
            },
            until: r.u64()?,
        }),
        tag => return Err(EnvelopeError::Tag { what: "op", tag }),
    })
}

fn put_data(out: &mut BytesMut, data: Option<&[u8]>) {
    match data {
        Some(data) => {
            out.put_u8(1);
            put_bytes(out, data);
        }
        None => out.put_u8(0),
    }
}

fn put_reply(out: &mut BytesMut, reply: &Reply) {
    match reply {
        Reply::Sockets(sockets) => {
            out.put_u8(0);
            put_len(out, sockets.len());
            for s in sockets {
                put_bytes(out, s.id.as_bytes());
                put_bytes(out, s.name.as_bytes());
                put_data(out, s.data.as_ref().map(|d| d.get().as_bytes()));
                put_names(out, &s.rooms);
                put_data(out, s.user.as_deref().map(str::as_bytes));
            }
        }
        Reply::Done(n) => {
            out.put_u8(1);
            out.put_u64_le(*n);
        }
        Reply::Ack(answer) => {
            out.put_u8(2);
            put_data(out, answer.as_deref());
        }
        Reply::Acks { expected, answers } => {
            out.put_u8(3);
            out.put_u64_le(*expected);
            put_len(out, answers.len());
            for answer in answers {
                put_event_data(out, answer);
            }
        }
    }
}

/// Event data: its kind, then its parts.
fn put_event_data(out: &mut BytesMut, data: &EventData) {
    match data {
        EventData::Json(raw) => {
            out.put_u8(0);
            put_bytes(out, raw.get().as_bytes());
        }
        EventData::Binary(bytes) => {
            out.put_u8(1);
            put_bytes(out, bytes);
        }
        EventData::Args { args, attachments } => {
            out.put_u8(2);
            put_bytes(out, args.get().as_bytes());
            put_len(out, attachments.len());
            for attachment in attachments {
                put_bytes(out, attachment);
            }
        }
    }
}

fn event_data(r: &mut Reader) -> Result<EventData, EnvelopeError> {
    Ok(match r.u8()? {
        0 => EventData::Json(r.json("event data")?),
        1 => EventData::Binary(r.bytes()?),
        2 => {
            let args = r.json("event arguments")?;
            let n = r.count(MAX_ATTACHMENTS, "attachments")?;
            let mut attachments = Vec::with_capacity(n);
            for _ in 0..n {
                attachments.push(r.bytes()?);
            }
            EventData::Args { args, attachments }
        }
        tag => {
            return Err(EnvelopeError::Tag {
                what: "event data",
                tag,
            })
        }
    })
}

fn reply(r: &mut Reader) -> Result<Reply, EnvelopeError> {
    Ok(match r.u8()? {
        0 => {
            let n = r.count(MAX_MEMBERS, "socket count")?;
            let mut sockets = Vec::with_capacity(n);
            for _ in 0..n {
                sockets.push(SocketInfo {
                    id: r.name("socket id")?,
                    name: r.name("socket name")?,
                    data: json_data(r)?,
                    rooms: r.names()?,
                    user: match r.u8()? {
                        0 => None,
                        1 => Some(r.name("user")?),
                        tag => return Err(EnvelopeError::Tag { what: "user", tag }),
                    },
                });
            }
            Reply::Sockets(sockets)
        }
        1 => Reply::Done(r.u64()?),
        2 => Reply::Ack(match r.u8()? {
            0 => None,
            1 => Some(r.bytes()?),
            tag => {
                return Err(EnvelopeError::Tag {
                    what: "answer",
                    tag,
                })
            }
        }),
        3 => {
            let expected = r.u64()?;
            let n = r.count(MAX_MEMBERS, "answer count")?;
            let mut answers = Vec::with_capacity(n);
            for _ in 0..n {
                answers.push(event_data(r)?);
            }
            Reply::Acks { expected, answers }
        }
        tag => return Err(EnvelopeError::Tag { what: "reply", tag }),
    })
}

/// Optional JSON data: a flag, then the text.
fn json_data(r: &mut Reader) -> Result<Option<Arc<RawValue>>, EnvelopeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let bytes = r.bytes()?;
            let text =
                std::str::from_utf8(&bytes).map_err(|_| EnvelopeError::Malformed("member data"))?;
            let raw = RawValue::from_string(text.to_owned())
                .map_err(|_| EnvelopeError::Malformed("member data"))?;
            Ok(Some(Arc::from(raw)))
        }
        tag => Err(EnvelopeError::Tag {
            what: "member data",
            tag,
        }),
    }
}

fn put_membership(out: &mut BytesMut, m: &Membership) {
    put_bytes(out, m.ns.as_bytes());
    put_bytes(out, m.room.as_bytes());
    out.put_u64_le(m.member.id.as_u64());
    put_bytes(out, m.member.name.as_bytes());
    put_data(out, m.member.data.as_ref().map(|d| d.get().as_bytes()));
}

fn membership(r: &mut Reader) -> Result<Membership, EnvelopeError> {
    let ns = r.name("namespace")?;
    let room = r.name("room")?;
    let id = ConnId::from_u64(r.u64()?);
    let name = r.name("member name")?;
    let data = json_data(r)?;
    Ok(Membership {
        ns,
        room,
        member: PeerInfo { id, name, data },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, data: Option<&str>) -> Membership {
        Membership {
            ns: Arc::from("/"),
            room: Arc::from("lobby ✓"),
            member: PeerInfo {
                id: ConnId::from_u64(id),
                name: Arc::from("ann"),
                data: data.map(|d| Arc::from(RawValue::from_string(d.to_owned()).unwrap())),
            },
        }
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn same(a: &Signal, b: &Signal) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn every_signal_round_trips_and_every_cut_is_an_error() {
        let signals = [
            Control::Presence {
                membership: member(7, Some(r#"{"role":"op"}"#)),
                action: PresenceAction::Join,
            },
            Control::Presence {
                membership: member(8, None),
                action: PresenceAction::Leave,
            },
            Control::Heartbeat(None),
            Control::Heartbeat(Some(Arc::from("10.0.0.7:3000"))),
            Control::Ask,
            Control::Snapshot(vec![member(1, None), member(2, Some("[1,2]"))]),
            Control::Snapshot(Vec::new()),
            Control::Request {
                id: 12,
                ns: Arc::from("/"),
                op: Op::Revoke(Revocation {
                    what: Revoked::Token(Arc::from("jti-1")),
                    until: 1_900_000_000,
                }),
            },
            Control::Request {
                id: 13,
                ns: Arc::from("/"),
                op: Op::Revoke(Revocation {
                    what: Revoked::User {
                        user: Arc::from("ada"),
                        issued_before: 1_800_000_000,
                    },
                    until: 1_900_000_000,
                }),
            },
            Control::Request {
                id: 14,
                ns: Arc::from("/"),
                op: Op::Stats,
            },
            Control::Request {
                id: 9,
                ns: Arc::from("/chat"),
                op: Op::Join(
                    Selector {
                        rooms: vec![Arc::from("a")],
                        except_rooms: vec![Arc::from("b")],
                        users: vec![Arc::from("ada")],
                        conns: vec![crate::ConnId::from_u64(7)],
                    },
                    vec![Arc::from("c"), Arc::from("d")],
                ),
            },
            Control::Request {
                id: 10,
                ns: Arc::from("/"),
                op: Op::Emit {
                    event: Arc::from("hello"),
                    data: Bytes::from_static(b"{\"x\":1}"),
                    ack: true,
                },
            },
            Control::Reply {
                id: 9,
                to: NodeId(3),
                reply: Reply::Sockets(vec![SocketInfo {
                    id: Arc::from("0000000000000005"),
                    name: Arc::from("eve"),
                    data: None,
                    rooms: vec![Arc::from("a")],
                    user: Some(Arc::from("u-eve")),
                }]),
            },
            Control::Reply {
                id: 10,
                to: NodeId(3),
                reply: Reply::Ack(Some(Bytes::from_static(b"true"))),
            },
            Control::Request {
                id: 11,
                ns: Arc::from("/chat"),
                op: Op::EmitWithAck {
                    selector: Selector::room("vote"),
                    except: Some(Arc::from("0000000000000009")),
                    event: Arc::from("poll"),
                    data: EventData::Args {
                        args: raw(r#"[1,{"_placeholder":true,"num":0}]"#),
                        attachments: vec![Bytes::from_static(&[0, 255])],
                    },
                    wait_ms: 1500,
                },
            },
            Control::Reply {
                id: 11,
                to: NodeId(3),
                reply: Reply::Acks {
                    expected: 3,
                    answers: vec![
                        EventData::Json(raw("\"yes\"")),
                        EventData::Binary(Bytes::from_static(&[0, 1, 2])),
                        EventData::Args {
                            args: raw(r#"[1,{"_placeholder":true,"num":0}]"#),
                            attachments: vec![Bytes::from_static(b"xy")],
                        },
                    ],
                },
            },
        ];
        for control in signals {
            let signal = Signal {
                origin: NodeId(0xfeed),
                control,
            };
            let bytes = signal.encode();
            assert!(Signal::is_signal(&bytes));
            same(&Signal::decode(bytes.clone()).unwrap(), &signal);
            for end in 0..bytes.len() {
                assert!(Signal::decode(bytes.slice(..end)).is_err(), "cut at {end}");
            }
        }
    }

    #[test]
    fn the_fuzz_seeds_of_signals_read_back() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/cluster_envelope");
        let mut n = 0;
        for entry in std::fs::read_dir(seeds).unwrap() {
            let bytes = Bytes::from(std::fs::read(entry.unwrap().path()).unwrap());
            if Signal::is_signal(&bytes) {
                assert_eq!(Signal::decode(bytes.clone()).unwrap().encode(), bytes);
                n += 1;
            }
        }
        assert!(n >= 3);
    }

    #[test]
    fn bad_member_data_and_kinds_are_refused() {
        let mut bytes = Signal {
            origin: NodeId(1),
            control: Control::Presence {
                membership: member(7, Some("{}")),
                action: PresenceAction::Update,
            },
        }
        .encode()
        .to_vec();
        let last = bytes.len() - 1;
        bytes[last] = b'{';
        assert_eq!(
            Signal::decode(bytes.into()).unwrap_err(),
            EnvelopeError::Malformed("member data")
        );
        let mut kind = Signal {
            origin: NodeId(1),
            control: Control::Ask,
        }
        .encode()
        .to_vec();
        kind[9] = 99;
        assert!(Signal::decode(kind.into()).is_err());
    }
}

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

use super::envelope::{put_bytes, put_len, EnvelopeError, Reader};
use super::NodeId;
use crate::{ConnId, PeerInfo, PresenceAction};

/// The first byte of a signal.
pub const SIGNAL: u8 = 4;

/// Most members one snapshot carries.
const MAX_MEMBERS: u64 = 1 << 20;

// Kinds.
const PRESENCE: u8 = 0;
const HEARTBEAT: u8 = 1;
const ASK: u8 = 2;
const SNAPSHOT: u8 = 3;

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

fn put_membership(out: &mut BytesMut, m: &Membership) {
    put_bytes(out, m.ns.as_bytes());
    put_bytes(out, m.room.as_bytes());
    out.put_u64_le(m.member.id.as_u64());
    put_bytes(out, m.member.name.as_bytes());
    match &m.member.data {
        Some(data) => {
            out.put_u8(1);
            put_bytes(out, data.get().as_bytes());
        }
        None => out.put_u8(0),
    }
}

fn membership(r: &mut Reader) -> Result<Membership, EnvelopeError> {
    let ns = r.name("namespace")?;
    let room = r.name("room")?;
    let id = ConnId::from_u64(r.u64()?);
    let name = r.name("member name")?;
    let data = match r.u8()? {
        0 => None,
        1 => {
            let bytes = r.bytes()?;
            let text =
                std::str::from_utf8(&bytes).map_err(|_| EnvelopeError::Malformed("member data"))?;
            let raw = RawValue::from_string(text.to_owned())
                .map_err(|_| EnvelopeError::Malformed("member data"))?;
            Some(Arc::from(raw))
        }
        tag => {
            return Err(EnvelopeError::Tag {
                what: "member data",
                tag,
            })
        }
    };
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

//! The three protocols the bench speaks, as sans-IO helpers: the frames to send (join,
//! publish) and what a received text frame means ([`Inbound`]).
//!
//! Nothing here touches a socket, so every encoder and classifier is unit-tested on
//! bytes. The classifiers are deliberately cheap scans rather than full parsers: they
//! run once per delivery, and at a million deliveries a second a JSON parse per frame
//! would make the generator the bottleneck it is trying to measure past. They only need
//! to recognise what the bench itself caused; everything else is [`Inbound::Other`].
//!
//! | proto | joins by | a publish reaches | a delivery looks like |
//! |---|---|---|---|
//! | raw | connecting to `/<room>` | every member, sender included | the body itself |
//! | native | `join` command, `reply` | every member, sender included | `{"type":"event",…,"data":"<body>"}` |
//! | socketio | `join` event, ack | every *other* member | `42["m","<body>"]` |

pub(crate) mod native;
pub(crate) mod raw;
pub(crate) mod socketio;

use bytes::Bytes;
use clap::ValueEnum;
use memchr::memmem::Finder;
use serde::Serialize;

use crate::payload::{self, Stamp};

/// Which protocol to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Proto {
    /// Plain WebSocket rooms: the path is the room.
    Raw,
    /// chorus's `/ws` JSON protocol.
    Native,
    /// Socket.IO v5 over Engine.IO v4, WebSocket transport only.
    Socketio,
}

/// What one text frame from the server means to the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbound<'a> {
    /// A published message reached this connection; the slice is its body.
    Delivery(&'a [u8]),
    /// The server answered request `id` (a native `reply`, a Socket.IO ack).
    Reply {
        /// The request id.
        id: u64,
        /// False when the server refused the request.
        ok: bool,
    },
    /// Engine.IO ping: answer [`socketio::PONG`] at once or the server drops us.
    Ping,
    /// The session's opening frame: native `hello`, Engine.IO open.
    Greeting,
    /// Socket.IO connected us to the namespace.
    Connected,
    /// Socket.IO refused the namespace connection.
    Refused,
    /// Anything the bench does not need (presence, errors without an id, …).
    Other,
}

/// The request id a join uses; publishes with an ack use ids from
/// [`FIRST_PUBLISH_ID`] on, so the two never collide.
pub(crate) const JOIN_ID: u64 = 1;

/// Request id of the publish with seq 0; seq `s` uses `FIRST_PUBLISH_ID + s`.
pub(crate) const FIRST_PUBLISH_ID: u64 = 2;

impl Proto {
    /// The path and query to connect to, for connection `index` that will be in `room`.
    pub(crate) fn path(self, room: &str, index: usize) -> String {
        match self {
            Proto::Raw => raw::path(room),
            Proto::Native => native::path(index),
            Proto::Socketio => socketio::PATH.to_owned(),
        }
    }

    /// Whether a publisher receives its own messages.
    pub(crate) fn echoes_to_sender(self) -> bool {
        !matches!(self, Proto::Socketio)
    }

    /// The frame that joins `room`; `None` where connecting joined already (raw).
    pub(crate) fn join(self, room: &str) -> Option<Bytes> {
        match self {
            Proto::Raw => None,
            Proto::Native => Some(native::join(room, JOIN_ID)),
            Proto::Socketio => Some(socketio::join(room, JOIN_ID)),
        }
    }

    /// The frame that publishes `stamp` as a body of `size` bytes to `room`, asking for
    /// an acknowledgement with id `ack` if given. Raw has no acknowledgements: `ack` is
    /// ignored there. One allocation: the body is written straight into the frame.
    pub(crate) fn publish(self, room: &str, stamp: Stamp, size: usize, ack: Option<u64>) -> Bytes {
        let mut out = Vec::with_capacity(size + room.len() + 80);
        match self {
            Proto::Raw => {}
            Proto::Native => native::publish_head(&mut out, room, ack),
            Proto::Socketio => socketio::publish_head(&mut out, room, ack),
        }
        payload::write(&mut out, stamp, size);
        match self {
            Proto::Raw => {}
            Proto::Native => out.extend_from_slice(native::PUBLISH_TAIL),
            Proto::Socketio => out.extend_from_slice(socketio::PUBLISH_TAIL),
        }
        Bytes::from(out)
    }

    /// What a text frame from the server means.
    pub(crate) fn classify(self, text: &[u8]) -> Inbound<'_> {
        match self {
            Proto::Raw => raw::classify(text),
            Proto::Native => native::classify(text),
            Proto::Socketio => socketio::classify(text),
        }
    }
}

/// The bytes after the first occurrence of `key` in `text`. Takes a prebuilt
/// [`Finder`]: building one per call cost more than the search itself.
fn after<'a>(text: &'a [u8], key: &Finder<'_>) -> Option<&'a [u8]> {
    key.find(text).map(|at| &text[at + key.needle().len()..])
}

/// A JSON string value without escapes: the bytes up to the closing quote.
fn until_quote(text: &[u8]) -> Option<&[u8]> {
    memchr::memchr(b'"', text).map(|end| &text[..end])
}

/// A leading decimal number and the bytes after it.
fn leading_number(text: &[u8]) -> Option<(u64, &[u8])> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let value = std::str::from_utf8(&text[..digits]).ok()?.parse().ok()?;
    Some((value, &text[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        seq: 3,
        sent_ns: 99,
    };

    #[test]
    fn every_proto_reads_back_its_own_publish_as_a_delivery_body() {
        // What a receiver gets for each proto's publish of the same body.
        let body = b"3 99 xxxxxxxxxxx";
        let raw = Proto::Raw.publish("r", STAMP, 16, None);
        assert_eq!(&raw[..], body);
        assert_eq!(Proto::Raw.classify(&raw), Inbound::Delivery(body));

        let native_event = br#"{"type":"event","event":"m","room":"r","from":{"id":"1","name":"b0"},"data":"3 99 xxxxxxxxxxx"}"#;
        assert_eq!(
            Proto::Native.classify(native_event),
            Inbound::Delivery(body)
        );

        let sio_event = br#"42["m","3 99 xxxxxxxxxxx"]"#;
        assert_eq!(Proto::Socketio.classify(sio_event), Inbound::Delivery(body));
    }

    #[test]
    fn body_size_excludes_the_envelope() {
        for proto in [Proto::Raw, Proto::Native, Proto::Socketio] {
            let frame = proto.publish("room", STAMP, 64, Some(9));
            let at = memchr::memmem::find(&frame, b"3 99 ").unwrap();
            let body_len = frame[at..].iter().take_while(|&&b| b != b'"').count();
            assert_eq!(body_len, 64, "{proto:?}");
        }
    }

    #[test]
    fn only_raw_joins_by_path() {
        assert_eq!(Proto::Raw.join("r"), None);
        assert!(Proto::Native.join("r").is_some());
        assert!(Proto::Socketio.join("r").is_some());
        assert_eq!(Proto::Raw.path("bfan", 3), "/bfan");
        assert_eq!(Proto::Native.path("bfan", 3), "/ws?name=b3");
        assert_eq!(
            Proto::Socketio.path("bfan", 3),
            "/socket.io/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(leading_number(b"12,x"), Some((12, &b",x"[..])));
        assert_eq!(leading_number(b"x"), None);
        assert_eq!(leading_number(b"99999999999999999999"), None);
    }
}

//! One Engine.IO packet: decoding what a client sends, encoding what the server sends.
//!
//! On a WebSocket each frame is one packet: a text frame is `<type digit><data>`, a binary
//! frame is a binary `message` with no type byte at all. A polling payload carries the same
//! text packets, plus binary messages spelled `b<base64>` (see [`super::payload`]).
//!
//! Decoding never copies a payload: the packet's data is a slice of the frame's [`Bytes`].
//! Encoders return the [`WsMessage`] to write on a WebSocket; the polling transport joins the
//! same messages into a payload, so each packet is encoded once for either transport.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::Bytes;

use crate::json;
use crate::{MessageKind, WsMessage};

/// A packet received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0`: only servers send it; decoded so the caller can refuse it.
    Open,
    /// `1`: the client is closing the session.
    Close,
    /// `2`: a ping; during the WebSocket upgrade its data is `probe`.
    Ping(Bytes),
    /// `3`: a pong, answering the server's ping (its data echoes the ping's).
    Pong(Bytes),
    /// `4`: a message: text without the leading `4`, or binary.
    Message(WsMessage),
    /// `5`: the client completes the upgrade to WebSocket.
    Upgrade,
    /// `6`: a no-op, used to end a pending poll during the upgrade.
    Noop,
}

/// Why a packet or a polling payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A packet with no bytes at all: not even a type.
    #[error("empty Engine.IO packet")]
    Empty,
    /// The first character is not a packet type `0`-`6` (or `b` in a polling payload).
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownType(char),
    /// A `b` packet of a polling payload whose data is not base64.
    #[error("binary Engine.IO packet is not valid base64")]
    BadBase64,
    /// A text packet of a polling payload that is not UTF-8.
    #[error("text Engine.IO packet is not valid UTF-8")]
    NotUtf8,
    /// A polling request body with no bytes.
    #[error("empty Engine.IO polling payload")]
    EmptyPayload,
    /// A polling payload with more packets than the caller allows.
    #[error("Engine.IO polling payload has more than {0} packets")]
    TooManyPackets(usize),
}

/// Standard base64 that accepts data with or without `=` padding, as clients differ.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Packet {
    /// Decodes one WebSocket message.
    ///
    /// A text frame is `<type digit><data>`; a `message` packet's data stays a text message.
    /// A binary frame is a binary `message`, returned as it is. Text frames are trusted to be
    /// UTF-8, as [`WsMessage`] promises; the packet's data keeps that promise.
    pub fn from_ws(msg: WsMessage) -> Result<Packet, DecodeError> {
        match msg.kind {
            MessageKind::Binary => Ok(Packet::Message(msg)),
            MessageKind::Text => Self::from_text(msg.payload),
        }
    }

    /// Decodes one packet of a polling payload (the bytes between two separators).
    ///
    /// `b<base64>` is a binary `message`; anything else is a text packet as on a WebSocket,
    /// and must be UTF-8.
    pub fn from_polling(part: Bytes) -> Result<Packet, DecodeError> {
        match part.first() {
            None => Err(DecodeError::Empty),
            Some(b'b') => {
                let data = BASE64_LENIENT
                    .decode(&part[1..])
                    .map_err(|_| DecodeError::BadBase64)?;
                Ok(Packet::Message(WsMessage::binary(data)))
            }
            Some(_) => {
                std::str::from_utf8(&part).map_err(|_| DecodeError::NotUtf8)?;
                Self::from_text(part)
            }
        }
    }

    /// Decodes `<type digit><data>` from bytes known (or promised) to be UTF-8.
    fn from_text(text: Bytes) -> Result<Packet, DecodeError> {
        let Some(&ty) = text.first() else {
            return Err(DecodeError::Empty);
        };
        let data = || text.slice(1..);
        Ok(match ty {
            b'0' => Packet::Open,
            b'1' => Packet::Close,
            b'2' => Packet::Ping(data()),
            b'3' => Packet::Pong(data()),
            // The type digit is ASCII, so what follows it is still UTF-8; built directly
            // rather than through `text_from_utf8` so a broken promise upstream cannot panic.
            b'4' => Packet::Message(WsMessage {
                kind: MessageKind::Text,
                payload: data(),
            }),
            b'5' => Packet::Upgrade,
            b'6' => Packet::Noop,
            _ => return Err(DecodeError::UnknownType(first_char(&text))),
        })
    }
}

/// The first character of `bytes`, for error messages; U+FFFD if it is not UTF-8.
fn first_char(bytes: &[u8]) -> char {
    let head = &bytes[..bytes.len().min(4)];
    String::from_utf8_lossy(head)
        .chars()
        .next()
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The `open` packet that starts a session:
/// `0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}`.
pub fn open(
    sid: &str,
    upgrades: &[&str],
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    max_payload: u64,
) -> WsMessage {
    use std::fmt::Write as _;
    let upgrades_len: usize = upgrades.iter().map(|u| json::quoted_len(u) + 1).sum();
    // 128 covers the fixed text (68 bytes) and three `u64`s of up to 20 digits.
    let mut out = String::with_capacity(128 + json::quoted_len(sid) + upgrades_len);
    out.push_str(r#"0{"sid":"#);
    json::push_quoted(&mut out, sid);
    out.push_str(r#","upgrades":["#);
    for (i, upgrade) in upgrades.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::push_quoted(&mut out, upgrade);
    }
    write!(
        out,
        r#"],"pingInterval":{ping_interval_ms},"pingTimeout":{ping_timeout_ms},"maxPayload":{max_payload}}}"#
    )
    .expect("writing to a String cannot fail");
    WsMessage::text(out)
}

/// The `close` packet: `1`.
pub fn close() -> WsMessage {
    WsMessage::text("1")
}

/// The server's heartbeat `ping` packet: `2`.
pub fn ping() -> WsMessage {
    WsMessage::text("2")
}

/// A `pong` packet echoing a client ping's data: `3probe` answers `2probe`.
///
/// The data came from a text packet, so it is UTF-8; anything else is replaced rather than
/// put in a text frame.
pub fn pong(data: &[u8]) -> WsMessage {
    let data = String::from_utf8_lossy(data);
    let mut out = String::with_capacity(1 + data.len());
    out.push('3');
    out.push_str(&data);
    WsMessage::text(out)
}

/// The `noop` packet: `6`.
pub fn noop() -> WsMessage {
    WsMessage::text("6")
}

/// A text `message` packet: `4` then the text.
pub fn message(text: &str) -> WsMessage {
    let mut out = String::with_capacity(1 + text.len());
    out.push('4');
    out.push_str(text);
    WsMessage::text(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn text(s: &'static str) -> WsMessage {
        WsMessage::text(s)
    }

    #[test]
    fn ws_text_packets() {
        assert_eq!(Packet::from_ws(text("0")), Ok(Packet::Open));
        assert_eq!(Packet::from_ws(text("1")), Ok(Packet::Close));
        assert_eq!(
            Packet::from_ws(text("2probe")),
            Ok(Packet::Ping(Bytes::from_static(b"probe")))
        );
        assert_eq!(Packet::from_ws(text("2")), Ok(Packet::Ping(Bytes::new())));
        assert_eq!(
            Packet::from_ws(text("3probe")),
            Ok(Packet::Pong(Bytes::from_static(b"probe")))
        );
        assert_eq!(
            Packet::from_ws(text("4hello é")),
            Ok(Packet::Message(text("hello é")))
        );
        assert_eq!(Packet::from_ws(text("4")), Ok(Packet::Message(text(""))));
        assert_eq!(Packet::from_ws(text("5")), Ok(Packet::Upgrade));
        assert_eq!(Packet::from_ws(text("6")), Ok(Packet::Noop));
    }

    #[test]
    fn ws_message_shares_the_frame() {
        let frame = Bytes::from_static(b"4hello");
        let Ok(Packet::Message(msg)) = Packet::from_ws(WsMessage::text_from_utf8(frame.clone()))
        else {
            panic!("not a message");
        };
        assert_eq!(msg.payload.as_ptr(), frame[1..].as_ptr());
    }

    #[test]
    fn ws_binary_is_a_message_as_is() {
        let msg = WsMessage::binary(vec![1, 2, 3, 4]);
        assert_eq!(Packet::from_ws(msg.clone()), Ok(Packet::Message(msg)));
        let empty = WsMessage::binary(Bytes::new());
        assert_eq!(Packet::from_ws(empty.clone()), Ok(Packet::Message(empty)));
    }

    #[test]
    fn ws_errors() {
        assert_eq!(Packet::from_ws(text("")), Err(DecodeError::Empty));
        assert_eq!(
            Packet::from_ws(text("abc")),
            Err(DecodeError::UnknownType('a'))
        );
        assert_eq!(
            Packet::from_ws(text("7")),
            Err(DecodeError::UnknownType('7'))
        );
        assert_eq!(
            Packet::from_ws(text("bAQID")),
            Err(DecodeError::UnknownType('b'))
        );
        assert_eq!(
            Packet::from_ws(text("é4")),
            Err(DecodeError::UnknownType('é'))
        );
        // A broken UTF-8 promise upstream is reported, not a panic.
        let broken = WsMessage {
            kind: MessageKind::Text,
            payload: Bytes::from_static(b"\xff4"),
        };
        assert_eq!(
            Packet::from_ws(broken),
            Err(DecodeError::UnknownType(char::REPLACEMENT_CHARACTER))
        );
    }

    #[test]
    fn polling_packets() {
        assert_eq!(
            Packet::from_polling(Bytes::from_static(b"2probe")),
            Ok(Packet::Ping(Bytes::from_static(b"probe")))
        );
        assert_eq!(
            Packet::from_polling(Bytes::from_static(b"4hello")),
            Ok(Packet::Message(text("hello")))
        );
        assert_eq!(
            Packet::from_polling(Bytes::from_static(b"bAQIDBA==")),
            Ok(Packet::Message(WsMessage::binary(vec![1, 2, 3, 4])))
        );
        // Padding is optional on input.
        assert_eq!(
            Packet::from_polling(Bytes::from_static(b"bAQIDBA")),
            Ok(Packet::Message(WsMessage::binary(vec![1, 2, 3, 4])))
        );
        assert_eq!(
            Packet::from_polling(Bytes::from_static(b"b")),
            Ok(Packet::Message(WsMessage::binary(Bytes::new())))
        );
    }

    #[test]
    fn polling_errors() {
        assert_eq!(Packet::from_polling(Bytes::new()), Err(DecodeError::Empty));
        assert_eq!(
            Packet::from_polling(Bytes::from_static(b"abc")),
            Err(DecodeError::UnknownType('a'))
        );
        for bad in [&b"b!!!!"[..], b"bAQIDBA=x", b"bA"] {
            assert_eq!(
                Packet::from_polling(Bytes::from_static(bad)),
                Err(DecodeError::BadBase64),
                "{bad:?}"
            );
        }
        assert_eq!(
            Packet::from_polling(Bytes::from_static(b"4\xff\xfe")),
            Err(DecodeError::NotUtf8)
        );
    }

    #[test]
    fn encoders() {
        assert_eq!(
            open("abc\"d", &["websocket"], 25000, 20000, 1_000_000).as_text(),
            Some(
                r#"0{"sid":"abc\"d","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
            )
        );
        assert_eq!(
            open("s", &[], 1, 2, 3).as_text(),
            Some(r#"0{"sid":"s","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3}"#)
        );
        assert_eq!(
            open("s", &["websocket", "webtransport"], 1, 2, 3).as_text(),
            Some(
                r#"0{"sid":"s","upgrades":["websocket","webtransport"],"pingInterval":1,"pingTimeout":2,"maxPayload":3}"#
            )
        );
        assert_eq!(close().as_text(), Some("1"));
        assert_eq!(ping().as_text(), Some("2"));
        assert_eq!(pong(b"probe").as_text(), Some("3probe"));
        assert_eq!(pong(b"").as_text(), Some("3"));
        assert_eq!(pong(b"\xff").as_text(), Some("3\u{fffd}"));
        assert_eq!(noop().as_text(), Some("6"));
        assert_eq!(message("hello").as_text(), Some("4hello"));
    }

    #[test]
    fn encoded_packets_decode_back() {
        let ping = Packet::from_ws(pong(b"probe")).unwrap();
        assert_eq!(ping, Packet::Pong(Bytes::from_static(b"probe")));
        assert_eq!(
            Packet::from_ws(message("hi")),
            Ok(Packet::Message(text("hi")))
        );
        assert_eq!(Packet::from_ws(noop()), Ok(Packet::Noop));
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = Rng::new(0x5eed);
        for _ in 0..20_000 {
            let _ = Packet::from_polling(Bytes::from(rng.bytes(16)));
            let _ = Packet::from_ws(WsMessage::binary(rng.bytes(8)));
            let _ = Packet::from_ws(WsMessage::text(rng.string(16)));
            let _ = Packet::from_polling(Bytes::from(rng.string(16)));
        }
    }
}

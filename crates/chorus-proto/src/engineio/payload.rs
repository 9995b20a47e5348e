//! Polling payloads: several Engine.IO packets in one HTTP body.
//!
//! A payload is packets joined by the record separator `0x1e`. Text packets appear as on a
//! WebSocket (`<type digit><data>`); a binary message becomes `b` followed by its standard
//! base64. The polling transport decodes request bodies with [`decode_payload`] and builds
//! response bodies from the very [`WsMessage`]s a WebSocket session would write, with
//! [`encode_payload`], bounding a response with [`encoded_len`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;

use super::packet::{DecodeError, Packet};
use crate::{MessageKind, WsMessage};

/// The record separator between the packets of a polling payload.
pub const SEPARATOR: u8 = 0x1e;

/// Splits a polling request body on [`SEPARATOR`] and decodes each packet.
///
/// The packets share `body`'s memory. A body with more than `max_packets` packets is refused
/// before any is decoded; so is an empty body, and one with an empty packet in it.
pub fn decode_payload(body: Bytes, max_packets: usize) -> Result<Vec<Packet>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::EmptyPayload);
    }
    let count = body
        .iter()
        .filter(|&&b| b == SEPARATOR)
        .count()
        .saturating_add(1);
    if count > max_packets {
        return Err(DecodeError::TooManyPackets(max_packets));
    }
    let mut packets = Vec::with_capacity(count);
    let mut start = 0;
    // `0x1e` never occurs inside a multi-byte UTF-8 character, so splitting on it keeps
    // every text packet whole.
    for end in body
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == SEPARATOR)
        .map(|(i, _)| i)
        .chain(std::iter::once(body.len()))
    {
        packets.push(Packet::from_polling(body.slice(start..end))?);
        start = end + 1;
    }
    Ok(packets)
}

/// Appends `messages` to a polling response body, in order, separated by [`SEPARATOR`].
///
/// A text message is copied as it is: it already starts with its type digit. A binary
/// message becomes `b` and the standard base64 (with padding) of its payload. If `out` is
/// not empty a separator goes before the first message too, so repeated calls build one body.
///
/// Text is not escaped: a text message holding `0x1e` would read back as two packets.
/// Socket.IO packets never do, as JSON escapes every control character.
pub fn encode_payload<'a>(messages: impl IntoIterator<Item = &'a WsMessage>, out: &mut Vec<u8>) {
    for msg in messages {
        if !out.is_empty() {
            out.push(SEPARATOR);
        }
        match msg.kind {
            MessageKind::Text => out.extend_from_slice(&msg.payload),
            MessageKind::Binary => {
                out.push(b'b');
                let start = out.len();
                out.resize(start + base64_len(msg.payload.len()), 0);
                let written = STANDARD
                    .encode_slice(&msg.payload, &mut out[start..])
                    .expect("the buffer is sized by `encoded_len`");
                debug_assert_eq!(start + written, out.len());
            }
        }
    }
}

/// How many bytes [`encode_payload`] adds for `msg`, counting a separator before it.
///
/// The first message of a body has no separator, so summing this over a response
/// overestimates by one byte: a safe bound against `maxPayload`.
pub fn encoded_len(msg: &WsMessage) -> usize {
    let body = match msg.kind {
        MessageKind::Text => msg.payload.len(),
        MessageKind::Binary => base64_len(msg.payload.len()).saturating_add(1),
    };
    body.saturating_add(1)
}

/// Padded base64 length of `n` bytes.
fn base64_len(n: usize) -> usize {
    base64::encoded_len(n, true).expect("a payload in memory has a base64 length in usize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn body(messages: &[WsMessage]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_payload(messages, &mut out);
        out
    }

    #[test]
    fn official_vector_round_trips() {
        let wire = Bytes::from_static(b"4hello\x1ebAQIDBA==");
        let packets = decode_payload(wire.clone(), 16).unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message(WsMessage::text("hello")),
                Packet::Message(WsMessage::binary(vec![1, 2, 3, 4])),
            ]
        );
        let out = body(&[
            super::super::message("hello"),
            WsMessage::binary(vec![1, 2, 3, 4]),
        ]);
        assert_eq!(out, wire);
    }

    #[test]
    fn decodes_single_and_control_packets() {
        assert_eq!(
            decode_payload(Bytes::from_static(b"2probe"), 1),
            Ok(vec![Packet::Ping(Bytes::from_static(b"probe"))])
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"6\x1e1"), 2),
            Ok(vec![Packet::Noop, Packet::Close])
        );
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            decode_payload(Bytes::new(), 16),
            Err(DecodeError::EmptyPayload)
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"abc"), 16),
            Err(DecodeError::UnknownType('a'))
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"4a\x1e\x1e4b"), 16),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"4a\x1e"), 16),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"4a\x1e4b\x1e4c"), 2),
            Err(DecodeError::TooManyPackets(2))
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"6"), 0),
            Err(DecodeError::TooManyPackets(0))
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"6\x1eb*"), 2),
            Err(DecodeError::BadBase64)
        );
        assert_eq!(
            decode_payload(Bytes::from_static(b"6\x1e4\xc3"), 2),
            Err(DecodeError::NotUtf8)
        );
    }

    #[test]
    fn encode_appends_with_separators() {
        assert_eq!(body(&[]), b"");
        assert_eq!(body(&[WsMessage::binary(Bytes::new())]), b"b");
        let mut out = Vec::new();
        encode_payload(&[super::super::ping()], &mut out);
        encode_payload(&[super::super::noop()], &mut out);
        assert_eq!(out, b"2\x1e6");
    }

    #[test]
    fn encoded_len_bounds_the_body() {
        let mut rng = Rng::new(42);
        for _ in 0..500 {
            let msgs: Vec<WsMessage> = (0..rng.below(4))
                .map(|_| {
                    if rng.below(2) == 0 {
                        WsMessage::binary(rng.bytes(12))
                    } else {
                        // No 0x1e: a text message must not contain the separator.
                        super::super::message(&rng.string_from(12, "4{}[]\",:ab é😀\n"))
                    }
                })
                .collect();
            let total: usize = msgs.iter().map(encoded_len).sum();
            let out = body(&msgs);
            assert_eq!(total.saturating_sub(1), out.len());
            // And the body decodes back to the same messages.
            if !msgs.is_empty() {
                let back = decode_payload(Bytes::from(out), msgs.len()).unwrap();
                for (msg, packet) in msgs.iter().zip(back) {
                    let Packet::Message(got) = packet else {
                        panic!("not a message: {packet:?}");
                    };
                    match msg.kind {
                        MessageKind::Binary => assert_eq!(&got, msg),
                        MessageKind::Text => assert_eq!(got.payload, msg.payload.slice(1..)),
                    }
                }
            }
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = Rng::new(0xfeed);
        for _ in 0..20_000 {
            let _ = decode_payload(Bytes::from(rng.bytes(24)), 4);
            let _ = decode_payload(Bytes::from(rng.string(24)), 4);
        }
    }
}

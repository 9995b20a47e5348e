//! Engine.IO polling payloads: packets joined by `0x1e`, binary ones as `b<base64>`.
//!
//! Besides "never panics", it checks:
//!
//! * the packet limit: a body of `n` packets decodes with a limit of `n`, and is refused with
//!   `TooManyPackets` below it, before anything else is looked at;
//! * a decoded body has one packet per part, each what [`Packet::from_polling`] makes of it;
//! * the same packets, encoded the way the server writes a response body, decode back to
//!   themselves, and [`encoded_len`] bounds that body as documented (sum minus one).
#![no_main]

use bytes::Bytes;
use chorus_proto::engineio::{self, decode_payload, encoded_len, DecodeError, Packet, SEPARATOR};
use chorus_proto::WsMessage;
use libfuzzer_sys::fuzz_target;

/// The limit the server uses by default is of this order; the exact number does not matter.
const MAX_PACKETS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let parts = data.iter().filter(|&&b| b == SEPARATOR).count() + 1;

    let decoded = decode_payload(body.clone(), MAX_PACKETS);
    if data.is_empty() {
        assert_eq!(decoded, Err(DecodeError::EmptyPayload));
        return;
    }
    if parts > MAX_PACKETS {
        assert_eq!(decoded, Err(DecodeError::TooManyPackets(MAX_PACKETS)));
        return;
    }
    assert_eq!(
        decode_payload(body.clone(), parts - 1),
        Err(DecodeError::TooManyPackets(parts - 1))
    );

    let each: Result<Vec<Packet>, DecodeError> = data
        .split(|&b| b == SEPARATOR)
        .map(|part| Packet::from_polling(Bytes::copy_from_slice(part)))
        .collect();
    assert_eq!(decoded, each);
    let Ok(packets) = decoded else {
        return;
    };
    assert_eq!(packets.len(), parts);

    let messages: Vec<WsMessage> = packets.iter().map(server_side).collect();
    let mut out = Vec::new();
    engineio::encode_payload(&messages, &mut out);
    let total: usize = messages.iter().map(encoded_len).sum();
    assert_eq!(total - 1, out.len());
    assert_eq!(decode_payload(Bytes::from(out), parts), Ok(packets));
});

/// The message the server would write to send `packet` itself.
fn server_side(packet: &Packet) -> WsMessage {
    let text = |ty: char, data: &[u8]| {
        let data = std::str::from_utf8(data).expect("text packets are UTF-8");
        WsMessage::text(format!("{ty}{data}"))
    };
    match packet {
        Packet::Open => WsMessage::text("0"),
        Packet::Close => engineio::close(),
        Packet::Ping(data) => text('2', data),
        Packet::Pong(data) => engineio::pong(data),
        Packet::Message(msg) => match msg.as_text() {
            Some(t) => engineio::message(t),
            None => msg.clone(),
        },
        Packet::Upgrade => WsMessage::text("5"),
        Packet::Noop => engineio::noop(),
    }
}

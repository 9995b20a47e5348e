//! One Engine.IO packet: from a WebSocket text frame, a binary frame, and a polling part.
//!
//! Besides "never panics", it checks:
//!
//! * a binary frame is always a binary `message`, as it is;
//! * a text frame decodes exactly when it starts with a type digit `0`-`6`, and the data of a
//!   `message`, `ping` or `pong` is the rest of the frame, still UTF-8 (text messages);
//!   what the server echoes (`pong`) or sends (`message`) decodes back to the same data;
//! * a polling part that is not `b…` decodes as the same text frame would (or is refused as
//!   not UTF-8); a `b…` part is a binary message whose base64 is the part's, padding aside.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use chorus_proto::engineio::{self, DecodeError, Packet};
use chorus_proto::{MessageKind, WsMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);

    let binary = WsMessage::binary(bytes.clone());
    assert_eq!(Packet::from_ws(binary.clone()), Ok(Packet::Message(binary)));

    let text = std::str::from_utf8(data).ok();
    if let Some(text) = text {
        let packet = Packet::from_ws(WsMessage::text(text));
        check_text(text, &packet);
    }

    let polled = Packet::from_polling(bytes.clone());
    match data.first() {
        None => assert_eq!(polled, Err(DecodeError::Empty)),
        Some(b'b') => match polled {
            Ok(Packet::Message(msg)) => {
                assert_eq!(msg.kind, MessageKind::Binary);
                let again = STANDARD.encode(&msg.payload);
                assert_eq!(
                    again.trim_end_matches('='),
                    // Decoded, so ASCII.
                    std::str::from_utf8(&data[1..])
                        .unwrap()
                        .trim_end_matches('=')
                );
                // What the server sends in a polling response decodes to the same bytes.
                let mut body = Vec::new();
                engineio::encode_payload([&msg], &mut body);
                assert_eq!(
                    Packet::from_polling(Bytes::from(body)),
                    Ok(Packet::Message(msg))
                );
            }
            Ok(other) => panic!("b… decoded to {other:?}"),
            Err(err) => assert_eq!(err, DecodeError::BadBase64),
        },
        Some(_) => match text {
            Some(text) => assert_eq!(polled, Packet::from_ws(WsMessage::text(text))),
            None => assert_eq!(polled, Err(DecodeError::NotUtf8)),
        },
    }
});

fn check_text(text: &str, packet: &Result<Packet, DecodeError>) {
    let rest = || Bytes::copy_from_slice(&text.as_bytes()[1..]);
    let Some(first) = text.chars().next() else {
        assert_eq!(packet, &Err(DecodeError::Empty));
        return;
    };
    match packet {
        Err(err) => {
            assert!(!('0'..='6').contains(&first), "{text:?}: {err}");
            assert_eq!(err, &DecodeError::UnknownType(first));
        }
        Ok(packet) => {
            assert!(('0'..='6').contains(&first), "{text:?}: {packet:?}");
            match packet {
                Packet::Message(msg) => {
                    assert_eq!(msg.kind, MessageKind::Text);
                    assert_eq!(msg.as_text(), Some(&text[1..]));
                    assert_eq!(
                        Packet::from_ws(engineio::message(&text[1..])),
                        Ok(Packet::Message(msg.clone()))
                    );
                }
                Packet::Ping(data) => {
                    assert_eq!(data, &rest());
                    assert_eq!(
                        Packet::from_ws(engineio::pong(data)),
                        Ok(Packet::Pong(data.clone()))
                    );
                }
                Packet::Pong(data) => assert_eq!(data, &rest()),
                Packet::Open | Packet::Close | Packet::Upgrade | Packet::Noop => {}
            }
        }
    }
}

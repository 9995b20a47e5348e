//! Socket.IO packets, with the binary attachments that follow them.
//!
//! The input is a packet's text, then the attachment frames, each after a `0x1e` (as if the
//! packets of a polling payload): `452-["m",{"_placeholder":true,"num":0},…]\x1e<bytes>…`.
//! Besides "never panics", it checks:
//!
//! * a decoded packet keeps the limits: at most `max_attachments`, and for a binary packet
//!   the placeholders and the attachment count agree;
//! * [`Attachments`] takes exactly the announced frames, says when it is complete, refuses
//!   the next one, and hands them back in order;
//! * the server's encoders give back what was decoded: an event re-encoded with
//!   [`socketio::event`] (and an ack with [`socketio::ack`]) travels through Engine.IO and
//!   decodes to the same namespace, id, name, arguments and attachment count; `connect`,
//!   `disconnect` and `connect_error` keep the namespace;
//! * [`check_placeholders`] never panics on any decoded arguments and any count.
#![no_main]

use bytes::Bytes;
use chorus_proto::socketio::{
    self, check_placeholders, Args, Attachments, DecodeError, Limits, Packet,
};
use chorus_proto::{engineio, WsMessage};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0x1e);
    let Some(Ok(text)) = parts.next().map(std::str::from_utf8) else {
        return;
    };
    let frames: Vec<&[u8]> = parts.collect();
    let limits = Limits::default();

    let packet = match Packet::decode(text, &limits) {
        Ok(packet) => packet,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    let count = packet.attachments();
    assert!(count <= limits.max_attachments);

    let args = match &packet {
        Packet::Event { args, .. } | Packet::Ack { args, .. } => Some(args.as_ref()),
        _ => None,
    };
    if let Some(args) = args {
        assert!(args.get().starts_with('['), "{}", args.get());
        if count > 0 {
            assert_eq!(check_placeholders(args, count), Ok(()));
        }
        let _ = check_placeholders(args, frames.len());
    }

    if count > 0 {
        let mut attachments = Attachments::new(count);
        assert_eq!(attachments.expected(), count);
        for (i, frame) in frames.iter().enumerate() {
            let pushed = attachments.push(Bytes::copy_from_slice(frame));
            if i < count {
                assert_eq!(pushed, Ok(i + 1 == count));
            } else {
                assert_eq!(pushed, Err(DecodeError::ExtraAttachment(count)));
            }
        }
        assert_eq!(attachments.is_complete(), frames.len() >= count);
        let got = attachments.into_vec();
        assert_eq!(got.len(), frames.len().min(count));
        for (got, frame) in got.iter().zip(&frames) {
            assert_eq!(&got[..], *frame);
        }
    }

    round_trip(&packet, &limits);
});

/// Encodes `packet` as the server would send it and decodes it again.
fn round_trip(packet: &Packet, limits: &Limits) {
    match packet {
        Packet::Event {
            nsp,
            id,
            name,
            args,
            attachments,
        } => {
            let msg = socketio::event(nsp, *id, name, Args::Spread(args), *attachments);
            match decode_sent(msg, limits) {
                Packet::Event {
                    nsp: n,
                    id: i,
                    name: na,
                    args: a,
                    attachments: at,
                } => {
                    assert_eq!((&n, &i, &na, &at), (nsp, id, name, attachments));
                    assert_eq!(a.get(), args.get());
                }
                other => panic!("{packet:?} came back as {other:?}"),
            }
        }
        Packet::Ack {
            nsp,
            id,
            args,
            attachments,
        } => {
            let msg = socketio::ack(nsp, *id, Args::Spread(args), *attachments);
            match decode_sent(msg, limits) {
                Packet::Ack {
                    nsp: n,
                    id: i,
                    args: a,
                    attachments: at,
                } => {
                    assert_eq!((&n, &i, &at), (nsp, id, attachments));
                    // An ack's arguments are kept as sent, spaces and all; the encoder writes
                    // the items without the spaces around them.
                    assert_eq!(items(&a), items(args));
                }
                other => panic!("{packet:?} came back as {other:?}"),
            }
        }
        Packet::Connect { nsp, .. } => {
            let back = decode_sent(socketio::connect(nsp, "sid", Some("pid")), limits);
            assert!(matches!(&back, Packet::Connect { nsp: n, auth: Some(_) } if n == nsp));
        }
        Packet::Disconnect { nsp } => {
            let back = decode_sent(socketio::disconnect(nsp), limits);
            assert!(matches!(&back, Packet::Disconnect { nsp: n } if n == nsp));
        }
        Packet::ConnectError { nsp, .. } => {
            let back = decode_sent(socketio::connect_error(nsp, "no", None), limits);
            assert!(matches!(&back, Packet::ConnectError { nsp: n, .. } if n == nsp));
        }
    }
}

/// A message the server sent, read as a client would: Engine.IO, then Socket.IO.
fn decode_sent(msg: WsMessage, limits: &Limits) -> Packet {
    let text = match engineio::Packet::from_ws(msg.clone()) {
        Ok(engineio::Packet::Message(inner)) => inner,
        other => panic!("{msg:?} is not an Engine.IO message: {other:?}"),
    };
    let text = text.as_text().expect("a text message");
    Packet::decode(text, limits).unwrap_or_else(|e| panic!("{text:?} does not decode: {e}"))
}

fn items(array: &RawValue) -> Vec<&str> {
    let items: Vec<&RawValue> = serde_json::from_str(array.get()).expect("an array");
    items.iter().map(|item| item.get()).collect()
}

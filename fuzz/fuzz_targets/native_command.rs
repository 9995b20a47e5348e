//! The native protocol's command decoder, on text and on binary frames.
//!
//! The input is tried three ways: as a binary frame as it is, as a text frame (when it is
//! UTF-8), and as the JSON header of a binary frame. Besides "never panics", it checks:
//!
//! * a decoded command obeys the [`Limits`] and the protocol's rules (rooms, names, events,
//!   history limits, scalar request ids), and what the server would answer with it
//!   (`reply`, `event` push) is valid JSON echoing the same id, name and history position;
//! * an error's request id, when it has one, makes a valid `reply`;
//! * a binary frame decodes only to a binary `emit` or `ack` whose payload is the bytes after
//!   the header, and laying the header and payload out again gives the frame back;
//! * the same JSON decodes as a binary frame's header exactly when it is an `emit` or an
//!   `ack` as text, to the same command.
#![no_main]

use bytes::Bytes;
use chorus_proto::native::command::{check_room, Payload};
use chorus_proto::native::{
    binary, push, Command, DecodeError, EmitTarget, EventData, EventPush, Limits, Position,
};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();

    let frame = Bytes::copy_from_slice(data);
    match Command::decode_binary(&frame, &limits) {
        Ok(cmd) => {
            check_command(&cmd, &limits);
            let (header, payload) = binary::split(&frame).expect("a decoded frame splits");
            let (Command::Emit {
                data: Payload::Binary(bytes),
                ..
            }
            | Command::Ack {
                data: Payload::Binary(bytes),
                ..
            }) = &cmd
            else {
                panic!("a binary frame decoded to {cmd:?}");
            };
            assert_eq!(bytes, &payload);
            assert_eq!(binary::encode(header.as_bytes(), &payload), frame);
        }
        Err(err) => check_error(&err),
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let as_text = Command::decode_text(text, &limits);
    match &as_text {
        Ok(cmd) => check_command(cmd, &limits),
        Err(err) => check_error(err),
    }

    if text.len() <= binary::MAX_HEADER {
        let frame = binary::encode(text.as_bytes(), b"\x00\xff");
        let as_binary = Command::decode_binary(&frame, &limits);
        match (&as_text, &as_binary) {
            (
                Ok(Command::Emit {
                    rid,
                    event,
                    to,
                    data: Payload::Json(_),
                }),
                Ok(Command::Emit {
                    rid: b_rid,
                    event: b_event,
                    to: b_to,
                    data: Payload::Binary(bytes),
                }),
            ) => {
                assert_eq!((rid, event, to), (b_rid, b_event, b_to));
                assert_eq!(&bytes[..], b"\x00\xff");
            }
            (
                Ok(Command::Ack {
                    ack,
                    data: Payload::Json(_),
                }),
                Ok(Command::Ack {
                    ack: b_ack,
                    data: Payload::Binary(bytes),
                }),
            ) => {
                assert_eq!(ack, b_ack);
                assert_eq!(&bytes[..], b"\x00\xff");
            }
            (Ok(Command::Emit { .. } | Command::Ack { .. }), _) | (_, Ok(_)) => {
                panic!("text {as_text:?} but binary {as_binary:?}")
            }
            _ => {}
        }
    }
});

fn check_command(cmd: &Command, limits: &Limits) {
    if let Some(rid) = cmd.rid() {
        let reply = object(push::reply_ok(rid, &serde_json::json!({})).payload.as_ref());
        assert_eq!(reply["rid"].get(), rid.as_json());
        let first = rid.as_json().as_bytes()[0];
        assert!(
            first == b'"' || first == b'-' || first.is_ascii_digit(),
            "rid {rid:?}"
        );
    }
    match cmd {
        Command::Join { room, since, .. } => {
            assert_eq!(check_room(room, limits), Ok(()));
            if let Some(since) = since {
                check_position(since);
            }
        }
        Command::Leave { room, .. } | Command::Presence { room, .. } => {
            assert_eq!(check_room(room, limits), Ok(()));
        }
        Command::History {
            room, after, limit, ..
        } => {
            assert_eq!(check_room(room, limits), Ok(()));
            assert!((1..=limits.max_history).contains(limit), "limit {limit}");
            if let Some(after) = after {
                check_position(after);
            }
        }
        Command::Set { name, data, .. } => {
            if let Some(name) = name {
                assert_eq!(name.trim(), name);
                let chars = name.chars().count();
                assert!((1..=limits.max_name_len).contains(&chars));
                assert!(!name.chars().any(char::is_control));
            }
            if let Some(data) = data {
                assert!(data.get().len() <= limits.max_user_data);
            }
        }
        Command::Emit {
            event, data, to, ..
        } => {
            let chars = event.chars().count();
            assert!((1..=limits.max_event_len).contains(&chars));
            let room = match to {
                Some(EmitTarget::Room { room, .. }) => {
                    assert_eq!(check_room(room, limits), Ok(()));
                    Some(room.as_str())
                }
                _ => None,
            };
            // What recipients get: the event push, with the name and data as sent.
            let data = match data {
                Payload::Json(json) => EventData::Json(json),
                Payload::Binary(bytes) => EventData::Binary(bytes),
            };
            let pushed = EventPush {
                event,
                data,
                room,
                from: Some(push::Sender {
                    id: "c1",
                    name: "fuzz",
                }),
                ack: Some(u64::MAX),
                pos: Some(("epoch", 7)),
            }
            .encode();
            let header = match data {
                EventData::Json(json) => {
                    let header = object(&pushed.payload);
                    assert_eq!(header["data"].get(), json.get());
                    header
                }
                EventData::Binary(bytes) => {
                    let (header, payload) = binary::split(&pushed.payload).expect("push splits");
                    assert_eq!(&payload[..], bytes);
                    object(header.as_bytes())
                }
            };
            let name: String = serde_json::from_str(header["event"].get()).expect("a string");
            assert_eq!(&name, event);
            assert_eq!(header["ack"].get(), u64::MAX.to_string());
        }
        Command::Ping { .. } => {}
        Command::Refresh { token, .. } => {
            assert!((1..=limits.max_token_len).contains(&token.len()));
        }
        Command::Ack { data, .. } => {
            if let Payload::Json(json) = data {
                serde_json::from_str::<&RawValue>(json.get()).expect("ack data is JSON");
            }
        }
    }
}

/// A position a client sent comes back intact in the pushes that carry one.
fn check_position(pos: &Position) {
    let pushed = EventPush {
        event: "e",
        data: EventData::Binary(b""),
        room: None,
        from: None,
        ack: None,
        pos: Some((&pos.epoch, pos.offset)),
    }
    .encode();
    let (header, _) = binary::split(&pushed.payload).expect("push splits");
    let header = object(header.as_bytes());
    let epoch: String = serde_json::from_str(header["epoch"].get()).expect("a string");
    assert_eq!(epoch, pos.epoch);
    assert_eq!(header["offset"].get(), pos.offset.to_string());
}

fn check_error(err: &DecodeError) {
    assert!(!err.message.is_empty());
    let _ = err.to_string();
    match &err.rid {
        Some(rid) => {
            let reply = object(&push::reply_err(rid, err.code, &err.message).payload);
            assert_eq!(reply["rid"].get(), rid.as_json());
            let error: Value = serde_json::from_str(reply["error"].get()).expect("an object");
            assert_eq!(error["message"].as_str(), Some(err.message.as_str()));
        }
        None => {
            let error = object(&push::error(err.code, &err.message).payload);
            assert_eq!(error["code"].get(), format!("\"{}\"", err.code));
        }
    }
}

/// A JSON object, each value kept as its text: serde_json's `Value` refuses some JSON that
/// a `RawValue` keeps (numbers beyond f64, like `1e400`), and the server forwards those.
fn object(json: &[u8]) -> HashMap<String, Box<RawValue>> {
    serde_json::from_slice(json)
        .unwrap_or_else(|e| panic!("not a JSON object ({e}): {}", String::from_utf8_lossy(json)))
}

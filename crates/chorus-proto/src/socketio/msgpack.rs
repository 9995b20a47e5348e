//! The MessagePack parser (`socket.io-msgpack-parser`): each packet is one binary message,
//! the MessagePack map `{type, nsp, data, id}`, binary values inside `data` as MessagePack
//! binaries — no placeholders, no attachment frames, and no `BINARY_EVENT` / `BINARY_ACK`
//! types (an event with binary is an `EVENT`).
//!
//! The rest of chorus speaks the default parser's form (a text packet whose binary values
//! are placeholders, and its attachments), so this module translates at the edge:
//! [`decode`] turns a client's MessagePack packet into that form and through
//! [`Packet::decode`] (one validation for both parsers), and [`encode`] turns a packet the
//! server built into MessagePack. [`pack`] and [`unpack`] convert values, placeholders to
//! binaries and back.

use bytes::Bytes;
use rmpv::Value as Pack;
use serde_json::{Map, Number, Value as Json};

use super::{DecodeError, Limits, Packet};

/// Deepest nesting a MessagePack packet is read with (below it, [`Limits::max_depth`]
/// applies to the JSON it becomes).
const MAX_DEPTH: usize = 128;

/// A client's MessagePack packet as a [`Packet`] and its attachments.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<(Packet, Vec<Bytes>), DecodeError> {
    let value = rmpv::decode::read_value_with_max_depth(&mut &bytes[..], MAX_DEPTH)
        .map_err(|err| DecodeError::BadJson(format!("MessagePack: {err}")))?;
    let Pack::Map(entries) = &value else {
        return Err(DecodeError::BadPayload {
            packet: "MessagePack",
            expected: "a map",
        });
    };
    let field = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v)
    };
    let ty = field("type")
        .and_then(Pack::as_u64)
        .filter(|t| *t <= 4)
        .ok_or(DecodeError::UnknownType('?'))?;
    let nsp = match field("nsp") {
        Some(Pack::String(s)) => s.as_str().unwrap_or("/").to_owned(),
        None => "/".to_owned(),
        Some(_) => {
            return Err(DecodeError::BadPayload {
                packet: "MessagePack",
                expected: "a string namespace",
            })
        }
    };
    // notepack.io writes `undefined` (a packet's absent `data` or `id`) as an extension.
    let absent = |v: &&Pack| matches!(v, Pack::Nil | Pack::Ext(..));
    let mut attachments = Vec::new();
    let data = field("data")
        .filter(|v| !absent(v))
        .map(|d| unpack(d, &mut attachments));
    if attachments.len() > limits.max_attachments {
        return Err(DecodeError::TooManyAttachments(limits.max_attachments));
    }
    let id = match field("id").filter(|v| !absent(v)) {
        None => None,
        Some(id) => Some(id.as_u64().ok_or(DecodeError::BadAckId)?),
    };
    // The default parser's text for the same packet, read the default parser's way.
    let binary = !attachments.is_empty() && matches!(ty, 2 | 3);
    let mut text = String::new();
    text.push(char::from(
        b'0' + u8::try_from(ty).unwrap_or(9) + if binary { 3 } else { 0 },
    ));
    if binary {
        text.push_str(&attachments.len().to_string());
        text.push('-');
    }
    if nsp != "/" {
        text.push_str(&nsp);
        text.push(',');
    }
    if let Some(id) = id {
        text.push_str(&id.to_string());
    }
    if let Some(data) = data {
        text.push_str(&data.to_string());
    }
    let packet = Packet::decode(&text, limits)?;
    Ok((packet, attachments))
}

/// A packet the server built in the default form (its text, and the attachments its
/// placeholders stand for) as one MessagePack packet.
pub fn encode(text: &str, attachments: &[Bytes]) -> Result<Vec<u8>, DecodeError> {
    let limits = Limits {
        max_attachments: usize::MAX,
        max_depth: usize::MAX,
    };
    let packet = Packet::decode(text, &limits)?;
    let (ty, nsp, data, id): (u64, &str, Option<Json>, Option<u64>) = match &packet {
        Packet::Connect { nsp, auth } => (0, nsp, auth.as_deref().map(json), None),
        Packet::Disconnect { nsp } => (1, nsp, None, None),
        Packet::Event {
            nsp,
            id,
            name,
            args,
            ..
        } => {
            let mut items = vec![Json::String(name.clone())];
            if let Json::Array(args) = json(args) {
                items.extend(args);
            }
            (2, nsp, Some(Json::Array(items)), *id)
        }
        Packet::Ack { nsp, id, args, .. } => (3, nsp, Some(json(args)), Some(*id)),
        Packet::ConnectError { nsp, data } => (4, nsp, Some(json(data)), None),
    };
    let mut map = vec![
        (Pack::from("type"), Pack::from(ty)),
        (Pack::from("nsp"), Pack::from(nsp)),
    ];
    if let Some(data) = data {
        map.push((Pack::from("data"), pack(&data, attachments)));
    }
    if let Some(id) = id {
        map.push((Pack::from("id"), Pack::from(id)));
    }
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &Pack::Map(map))
        .expect("writing MessagePack to a Vec does not fail");
    Ok(out)
}

fn json(raw: &serde_json::value::RawValue) -> Json {
    serde_json::from_str(raw.get()).unwrap_or(Json::Null)
}

/// MessagePack → JSON; a binary becomes a placeholder for the attachment it is added as.
pub fn unpack(value: &Pack, attachments: &mut Vec<Bytes>) -> Json {
    match value {
        Pack::Nil | Pack::Ext(..) => Json::Null,
        Pack::Boolean(b) => Json::Bool(*b),
        Pack::Integer(n) => n
            .as_u64()
            .map(Number::from)
            .or_else(|| n.as_i64().map(Number::from))
            .map_or(Json::Null, Json::Number),
        Pack::F32(f) => Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number),
        Pack::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Pack::String(s) => Json::String(s.as_str().map_or_else(
            || String::from_utf8_lossy(s.as_bytes()).into_owned(),
            str::to_owned,
        )),
        Pack::Binary(bytes) => {
            attachments.push(Bytes::copy_from_slice(bytes));
            serde_json::json!({"_placeholder": true, "num": attachments.len() - 1})
        }
        Pack::Array(items) => Json::Array(items.iter().map(|v| unpack(v, attachments)).collect()),
        Pack::Map(entries) => {
            let mut object = Map::new();
            for (k, v) in entries {
                let key = match k {
                    Pack::String(s) => s.as_str().unwrap_or_default().to_owned(),
                    other => other.to_string(),
                };
                object.insert(key, unpack(v, attachments));
            }
            Json::Object(object)
        }
    }
}

/// JSON → MessagePack; a placeholder becomes the attachment it stands for.
pub fn pack(value: &Json, attachments: &[Bytes]) -> Pack {
    match value {
        Json::Null => Pack::Nil,
        Json::Bool(b) => Pack::Boolean(*b),
        Json::Number(n) => n
            .as_u64()
            .map(Pack::from)
            .or_else(|| n.as_i64().map(Pack::from))
            .unwrap_or_else(|| Pack::F64(n.as_f64().unwrap_or_default())),
        Json::String(s) => Pack::from(s.as_str()),
        Json::Array(items) => Pack::Array(items.iter().map(|v| pack(v, attachments)).collect()),
        Json::Object(object) => {
            if object.get("_placeholder") == Some(&Json::Bool(true)) {
                let n = object.get("num").and_then(Json::as_u64).unwrap_or(u64::MAX);
                if let Some(bytes) = usize::try_from(n).ok().and_then(|n| attachments.get(n)) {
                    return Pack::Binary(bytes.to_vec());
                }
            }
            Pack::Map(
                object
                    .iter()
                    .map(|(k, v)| (Pack::from(k.as_str()), pack(v, attachments)))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(value: &Pack) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    fn map(entries: Vec<(&str, Pack)>) -> Pack {
        Pack::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Pack::from(k), v))
                .collect(),
        )
    }

    #[test]
    fn a_clients_event_with_binary_is_the_default_parsers_binary_event() {
        let message = packed(&map(vec![
            ("type", Pack::from(2)),
            ("nsp", Pack::from("/chat")),
            (
                "data",
                Pack::Array(vec![
                    Pack::from("file"),
                    Pack::Binary(vec![0, 1, 255]),
                    map(vec![("n", Pack::from(1))]),
                ]),
            ),
            ("id", Pack::from(7)),
        ]));
        let (packet, attachments) = decode(&message, &Limits::default()).unwrap();
        let Packet::Event {
            nsp,
            id,
            name,
            args,
            attachments: n,
        } = packet
        else {
            panic!("an event");
        };
        assert_eq!(
            (nsp.as_str(), id, name.as_str(), n),
            ("/chat", Some(7), "file", 1)
        );
        assert_eq!(args.get(), r#"[{"_placeholder":true,"num":0},{"n":1}]"#);
        assert_eq!(attachments, [Bytes::from_static(&[0, 1, 255])]);
    }

    #[test]
    fn connect_and_ack_read_as_the_default_parser_reads_them() {
        let connect = packed(&map(vec![
            ("type", Pack::from(0)),
            ("nsp", Pack::from("/")),
            ("data", map(vec![("token", Pack::from("t"))])),
        ]));
        let (packet, _) = decode(&connect, &Limits::default()).unwrap();
        assert!(
            matches!(packet, Packet::Connect { ref nsp, auth: Some(ref a) } if nsp == "/" && a.get() == r#"{"token":"t"}"#)
        );
        let ack = packed(&map(vec![
            ("type", Pack::from(3)),
            ("nsp", Pack::from("/")),
            ("data", Pack::Array(vec![Pack::from("ok")])),
            ("id", Pack::from(3)),
        ]));
        let (packet, _) = decode(&ack, &Limits::default()).unwrap();
        assert!(matches!(packet, Packet::Ack { id: 3, ref args, .. } if args.get() == r#"["ok"]"#));
    }

    #[test]
    fn undefined_data_and_id_are_absent() {
        // What socket.io-client writes for a CONNECT without auth: data undefined.
        let undefined = Pack::Ext(0, vec![0]);
        let connect = packed(&map(vec![
            ("type", Pack::from(0)),
            ("nsp", Pack::from("/")),
            ("data", undefined.clone()),
            ("id", undefined),
        ]));
        let (packet, _) = decode(&connect, &Limits::default()).unwrap();
        assert!(matches!(packet, Packet::Connect { auth: None, .. }));
    }

    #[test]
    fn bad_packets_are_errors_not_panics() {
        for bad in [
            packed(&Pack::from(1)),
            packed(&map(vec![
                ("type", Pack::from(9)),
                ("nsp", Pack::from("/")),
            ])),
            packed(&map(vec![("type", Pack::from(2)), ("nsp", Pack::from(1))])),
            packed(&map(vec![
                ("type", Pack::from(2)),
                ("nsp", Pack::from("/")),
                ("data", Pack::from("not an array")),
            ])),
            packed(&map(vec![
                ("type", Pack::from(2)),
                ("nsp", Pack::from("/")),
                ("data", Pack::Array(vec![Pack::from("connect")])),
            ])),
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
            vec![0x91; 100_000],
        ] {
            assert!(decode(&bad, &Limits::default()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_servers_packets_become_maps_with_binaries_in_place() {
        let event = encode(
            r#"51-/chat,["file",{"_placeholder":true,"num":0},"x"]"#,
            &[Bytes::from_static(b"bin")],
        )
        .unwrap();
        let value = rmpv::decode::read_value(&mut &event[..]).unwrap();
        assert_eq!(
            value,
            map(vec![
                ("type", Pack::from(2)),
                ("nsp", Pack::from("/chat")),
                (
                    "data",
                    Pack::Array(vec![
                        Pack::from("file"),
                        Pack::Binary(b"bin".to_vec()),
                        Pack::from("x"),
                    ])
                ),
            ])
        );
        let connect = encode(r#"0{"sid":"abc"}"#, &[]).unwrap();
        assert_eq!(
            rmpv::decode::read_value(&mut &connect[..]).unwrap(),
            map(vec![
                ("type", Pack::from(0)),
                ("nsp", Pack::from("/")),
                ("data", map(vec![("sid", Pack::from("abc"))])),
            ])
        );
        let ack = encode(r#"3/x,12[1]"#, &[]).unwrap();
        assert_eq!(
            rmpv::decode::read_value(&mut &ack[..]).unwrap(),
            map(vec![
                ("type", Pack::from(3)),
                ("nsp", Pack::from("/x")),
                ("data", Pack::Array(vec![Pack::from(1)])),
                ("id", Pack::from(12)),
            ])
        );
        // Back through the client's side of it: the same packet.
        let (packet, attachments) = decode(&event, &Limits::default()).unwrap();
        assert!(matches!(packet, Packet::Event { ref name, .. } if name == "file"));
        assert_eq!(attachments, [Bytes::from_static(b"bin")]);
    }
}

//! Socket.IO packets: decoding what a client sends, encoding what the server sends.
//!
//! A packet is the text of one Engine.IO `message`, without the Engine.IO `4`:
//!
//! ```text
//! <type digit>[<attachments>-][<nsp>,][<ack id>][<JSON>]
//! ```
//!
//! Decoding follows the reference JavaScript parser (`socket.io-parser` v4): the same fields
//! in the same order, and the same rule for which JSON each type may carry. It is stricter
//! only where the JavaScript is loose by accident (an attachment count with no digits, an
//! ack id past 2^64, an event or ack with no payload at all). JSON is kept as the text it
//! arrived as ([`RawValue`]): the server forwards arguments, it does not interpret them.
//! What the server sends is built by [`super::encode`].

use serde_json::value::RawValue;

use super::binary;
use super::error::DecodeError;
use crate::json;

/// Event names a client may not emit: the server and the client libraries use them.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Bounds the decoder enforces; the server passes its configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most binary attachments one packet may announce. Default 16.
    pub max_attachments: usize,
    /// Deepest nesting of arrays and objects in a packet's JSON. The server rarely parses
    /// what it forwards, but its recipients do, and some JSON parsers recurse. Default 64.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attachments: 16,
            max_depth: 64,
        }
    }
}

/// A packet received from a client.
///
/// `BINARY_EVENT` and `BINARY_ACK` decode to [`Packet::Event`] and [`Packet::Ack`] with
/// `attachments` > 0; their binary frames follow (see [`binary::Attachments`]).
#[derive(Debug, Clone)]
pub enum Packet {
    /// `0`: join a namespace.
    Connect {
        /// The namespace, `/` by default.
        nsp: String,
        /// The `auth` object the client passed, if any.
        auth: Option<Box<RawValue>>,
    },
    /// `1`: leave a namespace.
    Disconnect {
        /// The namespace.
        nsp: String,
    },
    /// `2` (or `5` with attachments): an event.
    Event {
        /// The namespace.
        nsp: String,
        /// The ack id, if the client wants an acknowledgement.
        id: Option<u64>,
        /// The event name (a numeric name is given in decimal).
        name: String,
        /// The arguments after the name, as a JSON array: `[1,"2"]`, or `[]`.
        args: Box<RawValue>,
        /// How many binary attachments follow; 0 for a plain event.
        attachments: usize,
    },
    /// `3` (or `6` with attachments): the client acknowledges a server event.
    Ack {
        /// The namespace.
        nsp: String,
        /// The id of the event acknowledged.
        id: u64,
        /// The acknowledgement's arguments, as a JSON array.
        args: Box<RawValue>,
        /// How many binary attachments follow; 0 for a plain ack.
        attachments: usize,
    },
    /// `4`: only servers send it; decoded so the caller can refuse it.
    ConnectError {
        /// The namespace.
        nsp: String,
        /// The error: a JSON string or object.
        data: Box<RawValue>,
    },
}

const EVENT_PAYLOAD: &str = "a JSON array starting with the event name";

impl Packet {
    /// Decodes one packet from the text of an Engine.IO `message`.
    ///
    /// For a binary packet the placeholders are checked against the announced count; the
    /// attachments themselves are the caller's to collect.
    pub fn decode(text: &str, limits: &Limits) -> Result<Packet, DecodeError> {
        let Some(ty) = text.chars().next() else {
            return Err(DecodeError::Empty);
        };
        if !matches!(ty, '0'..='6') {
            return Err(DecodeError::UnknownType(ty));
        }
        let mut rest = &text[1..];

        let mut attachments = 0;
        if matches!(ty, '5' | '6') {
            let digits = leading_digits(rest);
            if digits == 0 || rest.as_bytes().get(digits) != Some(&b'-') {
                return Err(DecodeError::BadAttachments);
            }
            let too_many = DecodeError::TooManyAttachments(limits.max_attachments);
            attachments = rest[..digits].parse().map_err(|_| too_many.clone())?;
            if attachments > limits.max_attachments {
                return Err(too_many);
            }
            rest = &rest[digits + 1..];
        }

        let mut nsp = "/";
        if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            nsp = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
        }
        let nsp = nsp.to_owned();

        let digits = leading_digits(rest);
        let id = match digits {
            0 => None,
            _ => Some(
                rest[..digits]
                    .parse::<u64>()
                    .map_err(|_| DecodeError::BadAckId)?,
            ),
        };
        rest = &rest[digits..];

        let payload = if rest.is_empty() {
            None
        } else {
            if json::depth(rest) > limits.max_depth {
                return Err(DecodeError::TooDeep(limits.max_depth));
            }
            Some(rest)
        };

        match ty {
            '0' => {
                let auth = payload.map(parse).transpose()?;
                if auth.as_ref().is_some_and(|auth| !is_object(auth)) {
                    return Err(bad_payload("CONNECT", "absent or a JSON object"));
                }
                Ok(Packet::Connect {
                    nsp,
                    auth: auth.map(ToOwned::to_owned),
                })
            }
            '1' => match payload {
                None => Ok(Packet::Disconnect { nsp }),
                Some(json) => {
                    parse(json)?;
                    Err(bad_payload("DISCONNECT", "absent"))
                }
            },
            '4' => {
                let expected = "a JSON string or object";
                let data = parse(payload.ok_or(bad_payload("CONNECT_ERROR", expected))?)?;
                if !(is_object(data) || data.get().starts_with('"')) {
                    return Err(bad_payload("CONNECT_ERROR", expected));
                }
                Ok(Packet::ConnectError {
                    nsp,
                    data: data.to_owned(),
                })
            }
            '2' | '5' => {
                let json = payload.ok_or(bad_payload("EVENT", EVENT_PAYLOAD))?;
                let (name, args) = split_event(json)?;
                if attachments > 0 {
                    binary::check_placeholders(&args, attachments)?;
                }
                Ok(Packet::Event {
                    nsp,
                    id,
                    name,
                    args,
                    attachments,
                })
            }
            _ => {
                let args = parse(payload.ok_or(bad_payload("ACK", "a JSON array"))?)?;
                if !args.get().starts_with('[') {
                    return Err(bad_payload("ACK", "a JSON array"));
                }
                let id = id.ok_or(DecodeError::MissingAckId)?;
                if attachments > 0 {
                    binary::check_placeholders(args, attachments)?;
                }
                Ok(Packet::Ack {
                    nsp,
                    id,
                    args: args.to_owned(),
                    attachments,
                })
            }
        }
    }

    /// The packet's namespace.
    pub fn nsp(&self) -> &str {
        match self {
            Packet::Connect { nsp, .. }
            | Packet::Disconnect { nsp }
            | Packet::Event { nsp, .. }
            | Packet::Ack { nsp, .. }
            | Packet::ConnectError { nsp, .. } => nsp,
        }
    }

    /// How many binary attachments follow the packet (0 for all but binary events and acks).
    pub fn attachments(&self) -> usize {
        match self {
            Packet::Event { attachments, .. } | Packet::Ack { attachments, .. } => *attachments,
            _ => 0,
        }
    }
}

fn leading_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

fn parse(json: &str) -> Result<&RawValue, DecodeError> {
    serde_json::from_str(json).map_err(|err| DecodeError::BadJson(err.to_string()))
}

fn is_object(value: &RawValue) -> bool {
    value.get().starts_with('{')
}

fn bad_payload(packet: &'static str, expected: &'static str) -> DecodeError {
    DecodeError::BadPayload { packet, expected }
}

/// Splits an event's JSON array into its name and the array of the remaining arguments.
fn split_event(json: &str) -> Result<(String, Box<RawValue>), DecodeError> {
    let items: Vec<&RawValue> = serde_json::from_str(json).map_err(|err| {
        if err.is_data() {
            bad_payload("EVENT", EVENT_PAYLOAD)
        } else {
            DecodeError::BadJson(err.to_string())
        }
    })?;
    let (first, rest) = items
        .split_first()
        .ok_or(bad_payload("EVENT", EVENT_PAYLOAD))?;
    let first = first.get();
    let name = if first.starts_with('"') {
        let name: String =
            serde_json::from_str(first).map_err(|err| DecodeError::BadJson(err.to_string()))?;
        if RESERVED_EVENTS.contains(&name.as_str()) {
            return Err(DecodeError::ReservedEvent(name));
        }
        name
    } else {
        number_name(first).ok_or(bad_payload("EVENT", EVENT_PAYLOAD))?
    };
    let len = rest.iter().map(|item| item.get().len() + 1).sum::<usize>() + 1;
    let mut args = String::with_capacity(len.max(2));
    args.push('[');
    for (i, item) in rest.iter().enumerate() {
        if i > 0 {
            args.push(',');
        }
        args.push_str(item.get());
    }
    args.push(']');
    let args = RawValue::from_string(args).map_err(|err| DecodeError::BadJson(err.to_string()))?;
    Ok((name, args))
}

/// The name of an event named by a number, as JavaScript would turn it into a string for
/// integers (`42`, `-1`, `1e3` → `1000`); other numbers in Rust's shortest form, which
/// agrees with JavaScript for ordinary values (`1.5`). `None` if `json` is not a number.
fn number_name(json: &str) -> Option<String> {
    if !json.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None;
    }
    let number: serde_json::Number = serde_json::from_str(json).ok()?;
    if let Some(n) = number.as_i64() {
        return Some(n.to_string());
    }
    if let Some(n) = number.as_u64() {
        return Some(n.to_string());
    }
    let f = number.as_f64()?;
    if f.fract() == 0.0 && f.abs() < 1e21 {
        Some(format!("{:.0}", f + 0.0))
    } else {
        Some(f.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use crate::WsMessage;

    fn decode(text: &str) -> Result<Packet, DecodeError> {
        Packet::decode(text, &Limits::default())
    }

    /// Decodes an event and flattens it for comparison.
    fn event_of(text: &str) -> (String, Option<u64>, String, String, usize) {
        match decode(text).unwrap() {
            Packet::Event {
                nsp,
                id,
                name,
                args,
                attachments,
            } => (nsp, id, name, args.get().to_owned(), attachments),
            other => panic!("{text}: {other:?}"),
        }
    }

    /// The vectors as they travel: an Engine.IO text frame whose `message` data is the
    /// Socket.IO packet.
    fn decode_frame(frame: &'static str) -> Result<Packet, DecodeError> {
        use crate::engineio;
        match engineio::Packet::from_ws(WsMessage::text(frame)) {
            Ok(engineio::Packet::Message(msg)) => decode(msg.as_text().unwrap()),
            other => panic!("{frame}: {other:?}"),
        }
    }

    #[test]
    fn official_vectors_through_engineio() {
        let two = r#"[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        match decode_frame(
            r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        )
        .unwrap()
        {
            Packet::Event {
                nsp,
                id,
                name,
                args,
                attachments,
            } => {
                assert_eq!(
                    (nsp.as_str(), id, name.as_str(), attachments),
                    ("/", None, "message", 2)
                );
                assert_eq!(args.get(), two);
            }
            other => panic!("{other:?}"),
        }
        let with_ack = decode_frame(
            r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        assert!(matches!(
            with_ack,
            Ok(Packet::Event {
                id: Some(789),
                attachments: 2,
                ..
            })
        ));
        let plain = decode_frame(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#);
        assert!(matches!(
            plain,
            Ok(Packet::Event {
                id: Some(456),
                attachments: 0,
                ..
            })
        ));
        match decode_frame(r#"40{"token":"123"}"#).unwrap() {
            Packet::Connect { nsp, auth } => {
                assert_eq!(nsp, "/");
                assert_eq!(auth.unwrap().get(), r#"{"token":"123"}"#);
            }
            other => panic!("{other:?}"),
        }
        match decode_frame(r#"40/custom,{"token":"abc"}"#).unwrap() {
            Packet::Connect { nsp, auth } => {
                assert_eq!(nsp, "/custom");
                assert_eq!(auth.unwrap().get(), r#"{"token":"abc"}"#);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(decode_frame("41/custom"), Ok(Packet::Disconnect { nsp }) if nsp == "/custom")
        );
        assert!(matches!(
            decode_frame("42{}"),
            Err(DecodeError::BadPayload { .. })
        ));
        assert!(matches!(
            decode_frame(r#"42abc["message"]"#),
            Err(DecodeError::BadJson(_))
        ));
        assert_eq!(
            decode_frame("4abc").unwrap_err(),
            DecodeError::UnknownType('a')
        );
        assert_eq!(decode_frame("4").unwrap_err(), DecodeError::Empty);
    }

    #[test]
    fn connect_packets() {
        for (text, nsp, auth) in [
            ("0", "/", None),
            (r#"0{"token":"123"}"#, "/", Some(r#"{"token":"123"}"#)),
            (
                r#"0/custom,{"token":"abc"}"#,
                "/custom",
                Some(r#"{"token":"abc"}"#),
            ),
            ("0/custom,", "/custom", None),
            ("0/custom", "/custom", None),
        ] {
            match decode(text).unwrap() {
                Packet::Connect { nsp: n, auth: a } => {
                    assert_eq!(n, nsp, "{text}");
                    assert_eq!(a.as_deref().map(RawValue::get), auth, "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn disconnect_packets() {
        for (text, nsp) in [
            ("1", "/"),
            ("1/custom,", "/custom"),
            ("1/custom", "/custom"),
        ] {
            match decode(text).unwrap() {
                Packet::Disconnect { nsp: n } => assert_eq!(n, nsp),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn event_packets() {
        assert_eq!(
            event_of(r#"2["message-with-ack",1,"2",{"3":[false]}]"#),
            (
                "/".into(),
                None,
                "message-with-ack".into(),
                r#"[1,"2",{"3":[false]}]"#.into(),
                0
            )
        );
        assert_eq!(
            event_of(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#),
            (
                "/".into(),
                Some(456),
                "message-with-ack".into(),
                r#"[1,"2",{"3":[false]}]"#.into(),
                0
            )
        );
        assert_eq!(
            event_of(r#"2/custom,7[ "hi" , [ 1 ] ]"#),
            ("/custom".into(), Some(7), "hi".into(), "[[ 1 ]]".into(), 0)
        );
        assert_eq!(
            event_of(r#"2["only"]"#),
            ("/".into(), None, "only".into(), "[]".into(), 0)
        );
        assert_eq!(event_of(r#"2["esc\"aped\n"]"#).2, "esc\"aped\n");
        // Numeric names become their decimal string.
        assert_eq!(event_of("2[42,true]").2, "42");
        assert_eq!(event_of("2[-1]").2, "-1");
        assert_eq!(event_of("2[1e3]").2, "1000");
        assert_eq!(event_of("2[1.5]").2, "1.5");
        assert_eq!(event_of("2[-0.0]").2, "0");
        assert_eq!(
            event_of("2[18446744073709551615]").2,
            "18446744073709551615"
        );
    }

    #[test]
    fn binary_event_packets() {
        let two = r#"[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        assert_eq!(
            event_of(&format!(r#"52-["message",{}"#, &two[1..])),
            ("/".into(), None, "message".into(), two.into(), 2)
        );
        assert_eq!(
            event_of(&format!(r#"52-789["message-with-ack",{}"#, &two[1..])),
            (
                "/".into(),
                Some(789),
                "message-with-ack".into(),
                two.into(),
                2
            )
        );
        assert_eq!(
            event_of(&format!(r#"52-/custom,1["m",{}"#, &two[1..])).0,
            "/custom"
        );
        // Zero attachments is a plain event; placeholders are then left alone.
        assert_eq!(event_of(&format!(r#"50-["m",{}"#, &two[1..])).4, 0);
        assert_eq!(
            decode(&format!(r#"52-["m",{}"#, &two[1..]))
                .unwrap()
                .attachments(),
            2
        );
    }

    #[test]
    fn ack_packets() {
        match decode(r#"3456[1,"2",{"3":[false]}]"#).unwrap() {
            Packet::Ack {
                nsp,
                id,
                args,
                attachments,
            } => {
                assert_eq!((nsp.as_str(), id, attachments), ("/", 456, 0));
                assert_eq!(args.get(), r#"[1,"2",{"3":[false]}]"#);
            }
            other => panic!("{other:?}"),
        }
        let binary = decode(r#"61-/custom,9[{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(binary.nsp(), "/custom");
        assert_eq!(binary.attachments(), 1);
        assert!(matches!(binary, Packet::Ack { id: 9, .. }));
        assert!(matches!(
            decode("3/x,1[]").unwrap(),
            Packet::Ack { id: 1, .. }
        ));
    }

    #[test]
    fn connect_error_packets() {
        for (text, data) in [
            (r#"4"nope""#, r#""nope""#),
            (r#"4/a,{"message":"x"}"#, r#"{"message":"x"}"#),
        ] {
            match decode(text).unwrap() {
                Packet::ConnectError { data: d, .. } => assert_eq!(d.get(), data),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(decode("4/a,1\"x\"").unwrap().attachments(), 0);
    }

    #[test]
    fn accessors() {
        assert_eq!(decode("0/a,").unwrap().nsp(), "/a");
        assert_eq!(decode("1").unwrap().nsp(), "/");
        assert_eq!(decode(r#"4/b,"x""#).unwrap().nsp(), "/b");
        assert_eq!(decode(r#"2/c,["e"]"#).unwrap().nsp(), "/c");
        assert_eq!(decode("3/d,1[]").unwrap().nsp(), "/d");
        assert_eq!(decode("0").unwrap().attachments(), 0);
    }

    #[test]
    fn framing_errors() {
        use DecodeError::*;
        assert_eq!(decode("").unwrap_err(), Empty);
        assert_eq!(decode("abc").unwrap_err(), UnknownType('a'));
        assert_eq!(decode("7[]").unwrap_err(), UnknownType('7'));
        assert_eq!(decode("é").unwrap_err(), UnknownType('é'));
        for bad in ["5", "5-[\"m\"]", "52[\"m\"]", "5x-[\"m\"]", "6-1[]"] {
            assert_eq!(decode(bad).unwrap_err(), BadAttachments, "{bad}");
        }
        assert_eq!(decode("517-[\"m\"]").unwrap_err(), TooManyAttachments(16));
        assert_eq!(
            decode("599999999999999999999999-[\"m\"]").unwrap_err(),
            TooManyAttachments(16)
        );
        assert_eq!(
            decode("218446744073709551616[\"m\"]").unwrap_err(),
            BadAckId
        );
        assert!(matches!(
            decode("218446744073709551615[\"m\"]"),
            Ok(Packet::Event {
                id: Some(u64::MAX),
                ..
            })
        ));
        let deep = format!("2[\"m\",{}{}]", "[".repeat(64), "]".repeat(64));
        assert_eq!(decode(&deep).unwrap_err(), TooDeep(64));
        let ok = format!("2[\"m\",{}{}]", "[".repeat(63), "]".repeat(63));
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn payload_errors() {
        use DecodeError::*;
        let bad = |packet, expected| BadPayload { packet, expected };
        assert!(matches!(decode("2abc[\"m\"]").unwrap_err(), BadJson(_)));
        assert!(matches!(decode("0{").unwrap_err(), BadJson(_)));
        assert!(matches!(decode("1/a,{").unwrap_err(), BadJson(_)));
        assert!(matches!(decode("3/a,1[").unwrap_err(), BadJson(_)));
        assert!(matches!(decode("4[").unwrap_err(), BadJson(_)));
        assert!(matches!(decode("2[\"m\"] x").unwrap_err(), BadJson(_)));

        assert_eq!(
            decode("0[]").unwrap_err(),
            bad("CONNECT", "absent or a JSON object")
        );
        assert_eq!(
            decode("0\"s\"").unwrap_err(),
            bad("CONNECT", "absent or a JSON object")
        );
        assert_eq!(decode("1/a,{}").unwrap_err(), bad("DISCONNECT", "absent"));
        assert_eq!(
            decode("4").unwrap_err(),
            bad("CONNECT_ERROR", "a JSON string or object")
        );
        assert_eq!(
            decode("4[]").unwrap_err(),
            bad("CONNECT_ERROR", "a JSON string or object")
        );
        for event in [
            "2", "2{}", "2[]", "2[null]", "2[{}]", "2\"m\"", "21", "2[1e400]",
        ] {
            let err = decode(event).unwrap_err();
            assert!(
                err == bad("EVENT", EVENT_PAYLOAD) || matches!(err, BadJson(_)),
                "{event}: {err}"
            );
        }
        assert_eq!(decode("2{}").unwrap_err(), bad("EVENT", EVENT_PAYLOAD));
        for name in RESERVED_EVENTS {
            assert_eq!(
                decode(&format!("2[\"{name}\",1]")).unwrap_err(),
                ReservedEvent(name.into())
            );
        }
        assert_eq!(decode("31").unwrap_err(), bad("ACK", "a JSON array"));
        assert_eq!(decode("31{}").unwrap_err(), bad("ACK", "a JSON array"));
        assert_eq!(decode("3[]").unwrap_err(), MissingAckId);
        assert_eq!(decode("3/a,[]").unwrap_err(), MissingAckId);
    }

    #[test]
    fn placeholder_errors_surface_in_decode() {
        use DecodeError::*;
        assert_eq!(
            decode(r#"51-["m",{"_placeholder":true,"num":1}]"#).unwrap_err(),
            PlaceholderOutOfRange { num: 1, count: 1 }
        );
        assert_eq!(
            decode(r#"52-["m",{"_placeholder":true,"num":0}]"#).unwrap_err(),
            UnusedAttachment(1)
        );
        assert_eq!(decode(r#"61-1[]"#).unwrap_err(), UnusedAttachment(0));
        assert_eq!(
            decode(r#"61-1[{"_placeholder":true}]"#).unwrap_err(),
            BadPlaceholder
        );
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = Rng::new(0x50c0);
        let limits = Limits::default();
        let seeds = [
            r#"452-789/nsp,["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            r#"2/custom,12["ev",1,"2",{"3":[false]}]"#,
            r#"3456[1,"2"]"#,
            r#"0/custom,{"token":"abc"}"#,
            r#"4{"message":"x"}"#,
            "1/custom,",
        ];
        for _ in 0..20_000 {
            let _ = Packet::decode(&rng.string(24), &limits);
            let seed = seeds[rng.below(seeds.len())];
            let _ = Packet::decode(&rng.mutate(seed, 4), &limits);
            let _ = Packet::decode(&rng.mutate(&seed[1..], 4), &limits);
        }
    }
}

//! Decoding client commands.
//!
//! A command arrives as a text frame (a JSON object) or as a binary frame (see
//! [`super::binary`]). Decoding is two-step: serde reads the frame into `Wire`, a flat
//! struct of optional fields that accepts any known or unknown field, then `Command::from_wire`
//! checks what the `type` requires. Splitting it this way means a malformed command still
//! yields its request id, so the error goes back as a `reply` the client is waiting for.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::binary;
use super::error::ErrorCode;
use crate::json;

/// Bounds the decoder enforces on names and user data; the server passes its configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest room name, in characters.
    pub max_room_len: usize,
    /// Longest event name, in characters.
    pub max_event_len: usize,
    /// Longest nickname, in characters (after trimming).
    pub max_name_len: usize,
    /// Largest `set.data`, encoded, in bytes.
    pub max_user_data: usize,
    /// Deepest nesting of arrays and objects in `data`. The server never parses what it
    /// forwards, but its recipients do, and some JSON parsers recurse.
    pub max_depth: usize,
    /// Most messages one `history` read returns.
    pub max_history: usize,
    /// Longest `refresh` token, in bytes (a JWT with a few claims is well under 1 KiB;
    /// the bound only keeps a hostile client from making the server verify megabytes).
    pub max_token_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_room_len: 128,
            max_event_len: 128,
            max_name_len: 64,
            max_user_data: 4096,
            max_depth: 64,
            max_history: 1000,
            max_token_len: 8192,
        }
    }
}

/// A request id: the client's JSON number or string, echoed back verbatim in the `reply`.
#[derive(Debug, Clone)]
pub struct Rid(Box<RawValue>);

impl Rid {
    /// The JSON text of the id, ready to splice into a reply.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    fn checked(raw: Box<RawValue>) -> Option<Self> {
        // Numbers and strings only: an object or array as an id is almost surely a bug
        // on the client's side, and echoing it would let it grow replies without bound.
        let first = raw.get().as_bytes().first().copied();
        matches!(first, Some(b'"' | b'-' | b'0'..=b'9')).then_some(Self(raw))
    }
}

impl PartialEq for Rid {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// Who an `emit` goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitTarget {
    /// Every member of a room the sender has joined.
    Room {
        /// The room.
        room: String,
        /// Leave the sender out.
        except_self: bool,
    },
    /// Every connection of the event layer.
    All {
        /// Leave the sender out.
        except_self: bool,
    },
    /// One connection, by id.
    Conn(String),
}

/// The data of an `emit`: JSON text, or raw bytes from a binary frame.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A JSON value, kept as its original text.
    Json(Box<RawValue>),
    /// Bytes from a binary frame.
    Binary(Bytes),
}

/// A decoded client command.
#[derive(Debug, Clone)]
pub enum Command {
    /// Set nickname and/or user data.
    Set {
        /// Request id.
        rid: Option<Rid>,
        /// New nickname, trimmed.
        name: Option<String>,
        /// New user data.
        data: Option<Box<RawValue>>,
    },
    /// Join a room.
    Join {
        /// Request id.
        rid: Option<Rid>,
        /// The room.
        room: String,
        /// Recover from here: the position of the last message of this room the client
        /// saw before it lost its connection.
        since: Option<Position>,
    },
    /// Leave a room.
    Leave {
        /// Request id.
        rid: Option<Rid>,
        /// The room.
        room: String,
    },
    /// Send an event.
    Emit {
        /// Request id.
        rid: Option<Rid>,
        /// Event name.
        event: String,
        /// Event data.
        data: Payload,
        /// Recipients; `None` means "to the server's own handlers only".
        to: Option<EmitTarget>,
    },
    /// List a room's members.
    Presence {
        /// Request id.
        rid: Option<Rid>,
        /// The room.
        room: String,
    },
    /// Read a room's history: the last `limit` messages, or up to `limit` after `after`.
    History {
        /// Request id.
        rid: Option<Rid>,
        /// The room.
        room: String,
        /// Read after this position instead of the last messages.
        after: Option<Position>,
        /// Most messages to return.
        limit: usize,
    },
    /// Replace the connection's token (JWT) before the current one expires: same user,
    /// new expiry and permissions.
    Refresh {
        /// Request id.
        rid: Option<Rid>,
        /// The new token, as issued (not yet verified).
        token: String,
    },
    /// Application-level ping.
    Ping {
        /// Request id.
        rid: Option<Rid>,
    },
    /// The answer to an event the server pushed with an `ack` number.
    Ack {
        /// The push's `ack` number.
        ack: u64,
        /// The answer.
        data: Payload,
    },
}

impl Command {
    /// The request id, if the client asked for a reply.
    pub fn rid(&self) -> Option<&Rid> {
        match self {
            Command::Set { rid, .. }
            | Command::Join { rid, .. }
            | Command::Leave { rid, .. }
            | Command::Emit { rid, .. }
            | Command::Presence { rid, .. }
            | Command::History { rid, .. }
            | Command::Refresh { rid, .. }
            | Command::Ping { rid } => rid.as_ref(),
            Command::Ack { .. } => None,
        }
    }

    /// Decodes a text frame.
    pub fn decode_text(text: &str, limits: &Limits) -> Result<Self, DecodeError> {
        let wire: Wire = match serde_json::from_str(text) {
            Ok(wire) => wire,
            Err(err) => return Err(DecodeError::from_serde(text, err)),
        };
        Self::from_wire(wire, None, limits)
    }

    /// Decodes a binary frame: header, then raw payload.
    pub fn decode_binary(frame: &Bytes, limits: &Limits) -> Result<Self, DecodeError> {
        let (header, payload) = binary::split(frame).map_err(|why| DecodeError {
            rid: None,
            code: ErrorCode::BadFrame,
            message: why.to_string(),
        })?;
        let wire: Wire = match serde_json::from_str(header) {
            Ok(wire) => wire,
            Err(err) => {
                let mut error = DecodeError::from_serde(header, err);
                if error.code == ErrorCode::BadJson {
                    error.code = ErrorCode::BadFrame;
                }
                return Err(error);
            }
        };
        if !matches!(wire.ty.as_deref(), Some("emit" | "ack")) {
            return Err(DecodeError {
                rid: wire.rid.and_then(Rid::checked),
                code: ErrorCode::BadFrame,
                message: "only `emit` and `ack` may be sent in a binary frame".into(),
            });
        }
        Self::from_wire(wire, Some(payload), limits)
    }

    fn from_wire(wire: Wire, binary: Option<Bytes>, limits: &Limits) -> Result<Self, DecodeError> {
        if let Some(data) = &wire.data {
            if json::depth(data.get()) > limits.max_depth {
                let rid = wire.rid.and_then(Rid::checked);
                return Err(DecodeError::bad_request(
                    rid,
                    format!("`data` is nested deeper than {} levels", limits.max_depth),
                ));
            }
        }
        let rid = match wire.rid {
            None => None,
            Some(raw) => match Rid::checked(raw) {
                Some(rid) => Some(rid),
                None => {
                    return Err(DecodeError::bad_request(
                        None,
                        "`rid` must be a number or a string",
                    ))
                }
            },
        };
        let Some(ty) = wire.ty else {
            return Err(DecodeError {
                rid,
                code: ErrorCode::UnknownType,
                message: "missing `type`".into(),
            });
        };
        let room = |rid: &Option<Rid>| -> Result<String, DecodeError> {
            let room = wire
                .room
                .clone()
                .ok_or_else(|| DecodeError::bad_request(rid.clone(), "missing `room`"))?;
            check_room(&room, limits).map_err(|err| DecodeError {
                rid: rid.clone(),
                code: ErrorCode::BadRoom,
                message: err.to_string(),
            })?;
            Ok(room)
        };
        match ty.as_str() {
            "set" => {
                let name =
                    match wire.name {
                        None => None,
                        Some(name) => Some(check_name(&name, limits).map_err(|err| {
                            DecodeError::bad_request(rid.clone(), err.to_string())
                        })?),
                    };
                if let Some(data) = &wire.data {
                    if data.get().len() > limits.max_user_data {
                        return Err(DecodeError::bad_request(
                            rid,
                            format!("`data` is over {} bytes", limits.max_user_data),
                        ));
                    }
                }
                Ok(Command::Set {
                    rid,
                    name,
                    data: wire.data,
                })
            }
            "join" => Ok(Command::Join {
                room: room(&rid)?,
                since: wire.since,
                rid,
            }),
            "history" => {
                let limit = match wire.limit {
                    None => limits.max_history,
                    Some(0) => {
                        return Err(DecodeError::bad_request(rid, "`limit` must be at least 1"))
                    }
                    Some(n) => usize::try_from(n)
                        .unwrap_or(usize::MAX)
                        .min(limits.max_history),
                };
                Ok(Command::History {
                    room: room(&rid)?,
                    after: wire.after,
                    limit,
                    rid,
                })
            }
            "leave" => Ok(Command::Leave {
                room: room(&rid)?,
                rid,
            }),
            "presence" => Ok(Command::Presence {
                room: room(&rid)?,
                rid,
            }),
            "ping" => Ok(Command::Ping { rid }),
            "refresh" => {
                let token = wire
                    .token
                    .ok_or_else(|| DecodeError::bad_request(rid.clone(), "missing `token`"))?;
                if token.is_empty() || token.len() > limits.max_token_len {
                    return Err(DecodeError::bad_request(
                        rid,
                        format!("`token` must be 1 to {} bytes", limits.max_token_len),
                    ));
                }
                Ok(Command::Refresh { rid, token })
            }
            "ack" => {
                let ack = wire
                    .ack
                    .ok_or_else(|| DecodeError::bad_request(rid.clone(), "missing `ack`"))?;
                let data = match (binary, wire.data) {
                    (Some(bytes), _) => Payload::Binary(bytes),
                    (None, Some(json)) => Payload::Json(json),
                    (None, None) => Payload::Json(null()),
                };
                Ok(Command::Ack { ack, data })
            }
            "emit" => {
                let event = wire
                    .event
                    .ok_or_else(|| DecodeError::bad_request(rid.clone(), "missing `event`"))?;
                let chars = event.chars().count();
                if chars == 0 || chars > limits.max_event_len {
                    return Err(DecodeError::bad_request(
                        rid,
                        format!("`event` must be 1 to {} characters", limits.max_event_len),
                    ));
                }
                let to = match wire.to {
                    None => None,
                    Some(to) => Some(to.into_target(&rid, limits)?),
                };
                let data = match (binary, wire.data) {
                    (Some(bytes), _) => Payload::Binary(bytes),
                    (None, Some(json)) => Payload::Json(json),
                    (None, None) => Payload::Json(null()),
                };
                Ok(Command::Emit {
                    rid,
                    event,
                    data,
                    to,
                })
            }
            other => Err(DecodeError {
                rid,
                code: ErrorCode::UnknownType,
                message: format!("unknown command type `{}`", truncate(other, 64)),
            }),
        }
    }
}

/// Why a frame could not be decoded, with the request id when it could still be read.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// The request id, if the frame had a usable one.
    pub rid: Option<Rid>,
    /// The error code to report.
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
}

impl DecodeError {
    fn bad_request(rid: Option<Rid>, message: impl Into<String>) -> Self {
        Self {
            rid,
            code: ErrorCode::BadRequest,
            message: message.into(),
        }
    }

    /// Classifies a serde failure: not JSON at all (`bad_json`), or a JSON object with a
    /// field of the wrong type (`bad_request`, with the rid if it can be recovered).
    fn from_serde(text: &str, err: serde_json::Error) -> Self {
        if err.is_data() {
            #[derive(Deserialize)]
            struct RidOnly {
                rid: Option<Box<RawValue>>,
            }
            let rid = serde_json::from_str::<RidOnly>(text)
                .ok()
                .and_then(|r| r.rid)
                .and_then(Rid::checked);
            // `is_data` also covers "a JSON value that is not an object".
            let is_object = text.trim_start().starts_with('{');
            return Self {
                rid,
                code: if is_object {
                    ErrorCode::BadRequest
                } else {
                    ErrorCode::BadJson
                },
                message: err.to_string(),
            };
        }
        Self {
            rid: None,
            code: ErrorCode::BadJson,
            message: err.to_string(),
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Every field any command may carry, all optional. Unknown fields are ignored, which is
/// what lets version 1 grow new optional fields without breaking old servers.
#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    ty: Option<String>,
    rid: Option<Box<RawValue>>,
    name: Option<String>,
    room: Option<String>,
    event: Option<String>,
    data: Option<Box<RawValue>>,
    to: Option<WireTarget>,
    ack: Option<u64>,
    since: Option<Position>,
    after: Option<Position>,
    limit: Option<u64>,
    token: Option<String>,
}

/// A place in a room's history: the stream's epoch and a message offset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Position {
    /// The room stream's epoch, as the server gave it.
    pub epoch: String,
    /// A message offset.
    pub offset: u64,
}

#[derive(Deserialize)]
struct WireTarget {
    room: Option<String>,
    #[serde(default)]
    all: bool,
    conn: Option<String>,
    #[serde(default)]
    except_self: bool,
}

impl WireTarget {
    fn into_target(self, rid: &Option<Rid>, limits: &Limits) -> Result<EmitTarget, DecodeError> {
        match (self.room, self.all, self.conn) {
            (Some(room), false, None) => {
                check_room(&room, limits).map_err(|err| DecodeError {
                    rid: rid.clone(),
                    code: ErrorCode::BadRoom,
                    message: err.to_string(),
                })?;
                Ok(EmitTarget::Room {
                    room,
                    except_self: self.except_self,
                })
            }
            (None, true, None) => Ok(EmitTarget::All {
                except_self: self.except_self,
            }),
            (None, false, Some(conn)) => Ok(EmitTarget::Conn(conn)),
            _ => Err(DecodeError::bad_request(
                rid.clone(),
                "`to` needs exactly one of `room`, `all: true` or `conn`",
            )),
        }
    }
}

/// Why a room name or a nickname was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A room name empty or longer than the limit (in characters).
    #[error("room names are 1 to {0} characters")]
    RoomLength(usize),
    /// A room name with a control character.
    #[error("room names may not contain control characters")]
    RoomControl,
    /// A nickname empty (after trimming) or longer than the limit (in characters).
    #[error("names are 1 to {0} characters after trimming")]
    NameLength(usize),
    /// A nickname with a control character.
    #[error("names may not contain control characters")]
    NameControl,
}

/// Checks a room name against the protocol's rules.
pub fn check_room(room: &str, limits: &Limits) -> Result<(), NameError> {
    let chars = room.chars().count();
    if chars == 0 || chars > limits.max_room_len {
        return Err(NameError::RoomLength(limits.max_room_len));
    }
    if room.chars().any(char::is_control) {
        return Err(NameError::RoomControl);
    }
    Ok(())
}

/// Trims and checks a nickname.
pub fn check_name(name: &str, limits: &Limits) -> Result<String, NameError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > limits.max_name_len {
        return Err(NameError::NameLength(limits.max_name_len));
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::NameControl);
    }
    Ok(name.to_owned())
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).expect("`null` is JSON")
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<Command, DecodeError> {
        Command::decode_text(text, &Limits::default())
    }

    #[test]
    fn join_with_rid() {
        let cmd = decode(r#"{"type":"join","rid":7,"room":"lobby","future":1}"#).unwrap();
        match cmd {
            Command::Join {
                rid,
                room,
                since: None,
            } => {
                assert_eq!(rid.unwrap().as_json(), "7");
                assert_eq!(room, "lobby");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn emit_targets() {
        let cmd =
            decode(r#"{"type":"emit","rid":"a","event":"chat","data":{"x":[1,2]},"to":{"room":"r","except_self":true}}"#)
                .unwrap();
        match cmd {
            Command::Emit {
                rid,
                event,
                data: Payload::Json(data),
                to,
            } => {
                assert_eq!(rid.unwrap().as_json(), "\"a\"");
                assert_eq!(event, "chat");
                assert_eq!(data.get(), r#"{"x":[1,2]}"#);
                assert_eq!(
                    to,
                    Some(EmitTarget::Room {
                        room: "r".into(),
                        except_self: true
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        let cmd = decode(r#"{"type":"emit","event":"e","to":{"all":true}}"#).unwrap();
        assert!(matches!(
            cmd,
            Command::Emit { to: Some(EmitTarget::All { except_self: false }), data: Payload::Json(ref d), .. } if d.get() == "null"
        ));
        let err = decode(r#"{"type":"emit","rid":1,"event":"e","to":{"all":true,"room":"x"}}"#)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert_eq!(err.rid.unwrap().as_json(), "1");
    }

    #[test]
    fn garbage_is_bad_json() {
        for text in ["", "nope", "{", "[1,2]", "42", "\"str\""] {
            let err = decode(text).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadJson, "{text}");
            assert!(err.rid.is_none());
        }
    }

    #[test]
    fn wrong_field_type_keeps_rid() {
        let err = decode(r#"{"type":"join","rid":9,"room":5}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert_eq!(err.rid.unwrap().as_json(), "9");
    }

    #[test]
    fn unknown_and_missing_type() {
        let err = decode(r#"{"type":"dance","rid":1}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownType);
        let err = decode(r#"{"rid":1}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownType);
        assert_eq!(err.rid.unwrap().as_json(), "1");
    }

    #[test]
    fn rid_must_be_scalar() {
        let err = decode(r#"{"type":"ping","rid":{"a":1}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(err.rid.is_none());
    }

    #[test]
    fn room_rules() {
        let err = decode(r#"{"type":"join","rid":1,"room":""}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRoom);
        let err = decode(r#"{"type":"join","rid":1,"room":"a\u0007b"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRoom);
        let long = "x".repeat(129);
        let err = decode(&format!(r#"{{"type":"join","room":"{long}"}}"#)).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRoom);
    }

    #[test]
    fn set_trims_and_bounds() {
        match decode(r#"{"type":"set","name":"  alice "}"#).unwrap() {
            Command::Set { name, .. } => assert_eq!(name.as_deref(), Some("alice")),
            other => panic!("{other:?}"),
        }
        let err = decode(r#"{"type":"set","name":"   "}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        let big = format!(r#"{{"type":"set","data":"{}"}}"#, "x".repeat(5000));
        assert_eq!(decode(&big).unwrap_err().code, ErrorCode::BadRequest);
    }

    #[test]
    fn depth_is_bounded() {
        assert_eq!(json::depth(r#"{"a":[1,{"b":"[[[\\"]]"}]}"#), 3);
        let deep = format!(
            r#"{{"type":"emit","rid":1,"event":"e","data":{}{}}}"#,
            "[".repeat(65),
            "]".repeat(65)
        );
        let err = decode(&deep).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert_eq!(err.rid.unwrap().as_json(), "1");
        let ok = format!(
            r#"{{"type":"emit","event":"e","data":{}{}}}"#,
            "[".repeat(64),
            "]".repeat(64)
        );
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn binary_emit() {
        let frame = binary::encode(
            br#"{"type":"emit","rid":3,"event":"file","to":{"all":true}}"#,
            b"\x00\x01\xff",
        );
        match Command::decode_binary(&frame, &Limits::default()).unwrap() {
            Command::Emit {
                data: Payload::Binary(bytes),
                event,
                ..
            } => {
                assert_eq!(&bytes[..], b"\x00\x01\xff");
                assert_eq!(event, "file");
            }
            other => panic!("{other:?}"),
        }
        let frame = binary::encode(br#"{"type":"join","room":"x"}"#, b"");
        assert_eq!(
            Command::decode_binary(&frame, &Limits::default())
                .unwrap_err()
                .code,
            ErrorCode::BadFrame
        );
        for bad in [
            &b""[..],
            b"\x00\x00",
            b"\x00\x00\x00\x09{}",
            b"\x00\x00\x00\x02no",
        ] {
            let err = Command::decode_binary(&Bytes::copy_from_slice(bad), &Limits::default())
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::BadFrame, "{bad:?}");
        }
    }

    #[test]
    fn refresh_carries_a_token() {
        match decode(r#"{"type":"refresh","rid":4,"token":"a.b.c"}"#).unwrap() {
            Command::Refresh { rid, token } => {
                assert_eq!(rid.unwrap().as_json(), "4");
                assert_eq!(token, "a.b.c");
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            r#"{"type":"refresh","rid":4}"#,
            r#"{"type":"refresh","rid":4,"token":""}"#,
            r#"{"type":"refresh","rid":4,"token":7}"#,
        ] {
            let err = decode(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadRequest, "{bad}");
            assert_eq!(err.rid.unwrap().as_json(), "4", "{bad}");
        }
        let long = format!(
            r#"{{"type":"refresh","rid":1,"token":"{}"}}"#,
            "x".repeat(8193)
        );
        assert_eq!(decode(&long).unwrap_err().code, ErrorCode::BadRequest);
        // Only `emit` and `ack` travel in binary frames.
        let frame = binary::encode(br#"{"type":"refresh","token":"a.b.c"}"#, b"");
        let err = Command::decode_binary(&frame, &Limits::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadFrame);
    }

    #[test]
    fn ack_answers_a_server_event() {
        let limits = Limits::default();
        match Command::decode_text(r#"{"type":"ack","ack":3,"data":{"ok":true}}"#, &limits) {
            Ok(Command::Ack {
                ack: 3,
                data: Payload::Json(data),
            }) => assert_eq!(data.get(), r#"{"ok":true}"#),
            other => panic!("{other:?}"),
        }
        let missing = Command::decode_text(r#"{"type":"ack","data":1}"#, &limits).unwrap_err();
        assert_eq!(missing.code, ErrorCode::BadRequest);
        let negative = Command::decode_text(r#"{"type":"ack","ack":-1}"#, &limits).unwrap_err();
        assert_eq!(negative.code, ErrorCode::BadRequest);
        let frame = binary::encode(
            br#"{"type":"ack","ack":7}"#,
            &Bytes::from_static(b"\x00\x01"),
        );
        match Command::decode_binary(&frame, &limits) {
            Ok(Command::Ack {
                ack: 7,
                data: Payload::Binary(bytes),
            }) => assert_eq!(&bytes[..], b"\x00\x01"),
            other => panic!("{other:?}"),
        }
    }
}

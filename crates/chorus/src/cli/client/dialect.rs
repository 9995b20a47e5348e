//! What `chorus client` speaks over the WebSocket: [`Dialect::Raw`] (text and binary frames
//! as they are), [`Dialect::Native`] (chorus's JSON commands at `/ws`) or
//! [`Dialect::SocketIo`] (Engine.IO v4 over WebSocket with Socket.IO v5 on top: the opening
//! handshake, the heartbeat, CONNECT to the namespace, events, acks, binary attachments).
//!
//! Each turns a line the user typed into frames, and each frame the server sent into a
//! [`Shown`]: one JSON object (what a script reads, one per line) and a short text for a
//! person. A line starting with `/` is a command: `/quit`, `/close [code] [reason]`, and
//! the dialect's own (`/binary`, `/join`, `/emit`, …; `/help` lists them).

use base64::Engine as _;
use bytes::Bytes;
use chorus_proto::socketio::{self, binary::Attachments, encode::Args, Packet};
use serde_json::{json, Value};
use yawc::{Frame, OpCode};

/// What the server said, shown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shown {
    /// For a script: one JSON object.
    pub(crate) json: Value,
    /// For a person.
    pub(crate) text: String,
}

impl Shown {
    fn new(json: Value, text: impl Into<String>) -> Self {
        Self {
            json,
            text: text.into(),
        }
    }
}

/// What a line asks for.
pub(crate) enum Said {
    /// These frames, in order.
    Send(Vec<Frame>),
    /// Close with this code and reason.
    Close(u16, String),
    /// Leave now.
    Quit,
    /// Nothing to send; tell the user this.
    Note(String),
}

impl std::fmt::Debug for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Said::Send(frames) => f
                .debug_tuple("Send")
                .field(
                    &frames
                        .iter()
                        .map(|frame| frame.payload())
                        .collect::<Vec<_>>(),
                )
                .finish(),
            Said::Close(code, reason) => f.debug_tuple("Close").field(code).field(reason).finish(),
            Said::Quit => f.write_str("Quit"),
            Said::Note(note) => f.debug_tuple("Note").field(note).finish(),
        }
    }
}

/// The protocol spoken, with its state.
#[derive(Debug)]
pub(crate) enum Dialect {
    Raw,
    Native { rid: u64 },
    SocketIo(Box<SocketIo>),
}

/// A Socket.IO client's state.
#[derive(Debug)]
pub(crate) struct SocketIo {
    namespace: String,
    /// The CONNECT payload, sent once Engine.IO has opened.
    auth: Option<Value>,
    next_ack: u64,
    /// A binary event or ack waiting for its attachments.
    pending: Option<(Packet, Attachments)>,
    /// Whether the namespace accepted the CONNECT; until then what the user says waits
    /// here (an event before it would be a protocol error).
    connected: bool,
    waiting: Waiting,
    /// Why the namespace refused the CONNECT, if it did: nothing more can be sent.
    refused: Option<String>,
}

/// Frames waiting for the CONNECT answer.
#[derive(Default)]
struct Waiting(Vec<Frame>);

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} frames", self.0.len())
    }
}

const RAW_HELP: &str =
    "type a line to send it as text; /binary <base64> sends bytes; /close [code] [reason]; /quit";
const NATIVE_HELP: &str =
    "type a JSON command ({\"type\":\"join\",\"room\":\"lobby\"}) or: /join ROOM, /leave ROOM, \
/emit ROOM EVENT [JSON], /all EVENT [JSON], /history ROOM, /presence ROOM, /ping; /close, /quit";
const SOCKETIO_HELP: &str =
    "type [\"event\", args…] to emit with an ack, or /emit EVENT [JSON]; /close, /quit";

impl Dialect {
    pub(crate) fn socketio(namespace: String, auth: Option<Value>) -> Self {
        Dialect::SocketIo(Box::new(SocketIo {
            namespace,
            auth,
            next_ack: 1,
            pending: None,
            connected: false,
            waiting: Waiting::default(),
            refused: None,
        }))
    }

    /// What the user's `line` sends.
    pub(crate) fn said(&mut self, line: &str) -> Said {
        let line = line.trim_end_matches(['\r', '\n']);
        let (command, rest) = match line.strip_prefix('/') {
            Some(command) => {
                let (command, rest) = command.split_once(' ').unwrap_or((command, ""));
                (Some(command), rest.trim())
            }
            None => (None, line),
        };
        match command {
            Some("quit" | "exit") => return Said::Quit,
            Some("close") => {
                let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                return match code {
                    "" => Said::Close(1000, String::new()),
                    code => match code.parse::<u16>() {
                        Ok(code) if code == 1000 || (3000..5000).contains(&code) => {
                            Said::Close(code, reason.to_owned())
                        }
                        _ => Said::Note("a close code is 1000 or 3000–4999".into()),
                    },
                };
            }
            Some("help") => return Said::Note(self.help().into()),
            _ => {}
        }
        match self {
            Dialect::Raw => match command {
                None => Said::Send(vec![Frame::text(line.to_owned())]),
                Some("binary") => match base64::engine::general_purpose::STANDARD.decode(rest) {
                    Ok(bytes) => Said::Send(vec![Frame::binary(bytes)]),
                    Err(err) => Said::Note(format!("/binary takes base64: {err}")),
                },
                Some(other) => Said::Note(format!("no command /{other}: {RAW_HELP}")),
            },
            Dialect::Native { rid } => {
                let command = match command {
                    None if line.trim_start().starts_with('{') => {
                        return Said::Send(vec![Frame::text(line.to_owned())])
                    }
                    None if line.trim().is_empty() => return Said::Note(String::new()),
                    None => return Said::Note(NATIVE_HELP.into()),
                    Some(command) => command,
                };
                *rid += 1;
                let rid = *rid;
                let (first, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let value = match command {
                    "join" | "leave" | "history" | "presence" if !first.is_empty() => {
                        json!({"type": command, "rid": rid, "room": first})
                    }
                    "ping" => json!({"type": "ping", "rid": rid}),
                    "emit" if !first.is_empty() => {
                        let (event, data) = tail.split_once(' ').unwrap_or((tail, ""));
                        if event.is_empty() {
                            return Said::Note("/emit ROOM EVENT [JSON]".into());
                        }
                        json!({"type": "emit", "rid": rid, "event": event, "data": value_of(data), "to": {"room": first}})
                    }
                    "all" if !first.is_empty() => json!({
                        "type": "emit", "rid": rid, "event": first, "data": value_of(tail), "to": {"all": true}
                    }),
                    _ => return Said::Note(NATIVE_HELP.into()),
                };
                Said::Send(vec![Frame::text(value.to_string())])
            }
            Dialect::SocketIo(io) => {
                if let Some(why) = &io.refused {
                    return Said::Note(format!(
                        "the namespace refused the connection ({why}): /quit"
                    ));
                }
                let args: Vec<Value> = match command {
                    None if line.trim().is_empty() => return Said::Note(String::new()),
                    None => match serde_json::from_str::<Value>(line) {
                        Ok(Value::Array(args)) if args.first().is_some_and(Value::is_string) => {
                            args
                        }
                        _ => return Said::Note(SOCKETIO_HELP.into()),
                    },
                    Some("emit") if !rest.is_empty() => {
                        let (event, data) = rest.split_once(' ').unwrap_or((rest, ""));
                        let mut args = vec![Value::String(event.to_owned())];
                        if !data.trim().is_empty() {
                            args.push(value_of(data));
                        }
                        args
                    }
                    Some(_) => return Said::Note(SOCKETIO_HELP.into()),
                };
                let id = io.next_ack;
                io.next_ack += 1;
                let name = args[0].as_str().unwrap_or_default().to_owned();
                let rest = serde_json::value::to_raw_value(&args[1..]).expect("JSON");
                let packet =
                    socketio::encode::event(&io.namespace, Some(id), &name, Args::Spread(&rest), 0);
                // The encoder writes the Engine.IO message type too (`42…`).
                let frame = Frame::text(packet.as_text().unwrap_or_default().to_owned());
                if !io.connected {
                    io.waiting.0.push(frame);
                    return Said::Send(Vec::new());
                }
                Said::Send(vec![frame])
            }
        }
    }

    fn help(&self) -> &'static str {
        match self {
            Dialect::Raw => RAW_HELP,
            Dialect::Native { .. } => NATIVE_HELP,
            Dialect::SocketIo(_) => SOCKETIO_HELP,
        }
    }

    /// What a frame from the server shows, and what it answers (a heartbeat, a CONNECT).
    pub(crate) fn heard(&mut self, frame: &Frame) -> (Vec<Shown>, Vec<Frame>) {
        match frame.opcode() {
            OpCode::Close => {
                let code = frame.close_code().map_or(1005, u16::from);
                let reason = frame.close_reason().ok().flatten().unwrap_or("").to_owned();
                let shown = Shown::new(
                    json!({"type": "close", "code": code, "reason": reason}),
                    format!("closed by the server: {code} {reason}"),
                );
                return (vec![shown], Vec::new());
            }
            OpCode::Text | OpCode::Binary => {}
            _ => return (Vec::new(), Vec::new()),
        }
        let payload = frame.payload();
        match self {
            Dialect::Raw => (
                vec![raw(frame.opcode() == OpCode::Text, payload)],
                Vec::new(),
            ),
            Dialect::Native { .. } => {
                let shown = match (frame.opcode(), serde_json::from_slice::<Value>(payload)) {
                    (OpCode::Text, Ok(value)) => {
                        let text = value.to_string();
                        Shown::new(value, text)
                    }
                    _ => raw(frame.opcode() == OpCode::Text, payload),
                };
                (vec![shown], Vec::new())
            }
            Dialect::SocketIo(io) => io.heard(frame.opcode() == OpCode::Text, payload),
        }
    }
}

impl SocketIo {
    fn heard(&mut self, text: bool, payload: &Bytes) -> (Vec<Shown>, Vec<Frame>) {
        if !text {
            return self.attachment(payload.clone());
        }
        let text = String::from_utf8_lossy(payload);
        // The packet type is one ASCII digit; anything else is unreadable, not a panic.
        let (kind, body) = match text.char_indices().nth(1) {
            Some((at, _)) => text.split_at(at),
            None => (&*text, ""),
        };
        match kind {
            // Engine.IO open: join the namespace.
            "0" => {
                let auth = self.auth.as_ref().map(Value::to_string).unwrap_or_default();
                let nsp = match self.namespace.as_str() {
                    "/" => String::new(),
                    nsp => format!("{nsp},"),
                };
                let shown = Shown::new(
                    json!({"type": "open", "handshake": serde_json::from_str::<Value>(body).unwrap_or(Value::Null)}),
                    "engine.io open",
                );
                (vec![shown], vec![Frame::text(format!("40{nsp}{auth}"))])
            }
            // The heartbeat.
            "2" => (Vec::new(), vec![Frame::text(format!("3{body}"))]),
            "1" => (
                vec![Shown::new(json!({"type": "close"}), "engine.io closed")],
                Vec::new(),
            ),
            "6" => (Vec::new(), Vec::new()),
            "4" => match Packet::decode(body, &socketio::Limits::default()) {
                Ok(packet) if packet.attachments() > 0 => {
                    let expected = packet.attachments();
                    self.pending = Some((packet, Attachments::new(expected)));
                    (Vec::new(), Vec::new())
                }
                Ok(packet) => {
                    // Accepted: what the user said meanwhile goes now.
                    let answers = match &packet {
                        Packet::Connect { nsp, .. } if *nsp == self.namespace => {
                            self.connected = true;
                            std::mem::take(&mut self.waiting.0)
                        }
                        Packet::ConnectError { nsp, data } if *nsp == self.namespace => {
                            self.refused = Some(data.get().to_owned());
                            self.waiting.0.clear();
                            Vec::new()
                        }
                        _ => Vec::new(),
                    };
                    (vec![show(packet, &[])], answers)
                }
                Err(err) => (vec![unreadable(&text, &err.to_string())], Vec::new()),
            },
            _ => (
                vec![unreadable(&text, "not an Engine.IO packet")],
                Vec::new(),
            ),
        }
    }

    fn attachment(&mut self, bytes: Bytes) -> (Vec<Shown>, Vec<Frame>) {
        let Some((_, attachments)) = &mut self.pending else {
            return (vec![raw(false, &bytes)], Vec::new());
        };
        match attachments.push(bytes) {
            Ok(true) => {
                let (packet, attachments) = self.pending.take().expect("pending");
                (vec![show(packet, &attachments.into_vec())], Vec::new())
            }
            Ok(false) => (Vec::new(), Vec::new()),
            Err(err) => {
                self.pending = None;
                (vec![unreadable("", &err.to_string())], Vec::new())
            }
        }
    }
}

/// A Socket.IO packet, its binary values as `{"$binary": base64}`.
fn show(packet: Packet, attachments: &[Bytes]) -> Shown {
    let args = |args: &serde_json::value::RawValue| {
        let data = if attachments.is_empty() {
            chorus_core::EventData::Json(args.to_owned())
        } else {
            chorus_core::EventData::Args {
                args: args.to_owned(),
                attachments: attachments.to_vec(),
            }
        };
        data.to_json()
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
            .unwrap_or(Value::Null)
    };
    match packet {
        Packet::Connect { nsp, auth } => {
            let sid = auth
                .and_then(|a| serde_json::from_str::<Value>(a.get()).ok())
                .and_then(|a| a.get("sid").cloned())
                .unwrap_or(Value::Null);
            Shown::new(
                json!({"type": "connect", "namespace": nsp, "sid": sid}),
                format!("connected to {nsp} as {}", sid.as_str().unwrap_or("?")),
            )
        }
        Packet::ConnectError { nsp, data } => {
            let data: Value = serde_json::from_str(data.get()).unwrap_or(Value::Null);
            let message = data["message"]
                .as_str()
                .or(data.as_str())
                .unwrap_or("")
                .to_owned();
            Shown::new(
                json!({"type": "connect_error", "namespace": nsp, "data": data}),
                format!("refused by {nsp}: {message}"),
            )
        }
        Packet::Disconnect { nsp } => Shown::new(
            json!({"type": "disconnect", "namespace": nsp}),
            format!("disconnected from {nsp} by the server"),
        ),
        Packet::Event {
            nsp,
            id,
            name,
            args: a,
            ..
        } => {
            let args = args(&a);
            let text = format!(
                "{name} {}",
                args.as_array()
                    .map(|a| a.iter().map(Value::to_string).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            );
            Shown::new(
                json!({"type": "event", "namespace": nsp, "event": name, "args": args, "id": id}),
                text,
            )
        }
        Packet::Ack {
            nsp, id, args: a, ..
        } => {
            let args = args(&a);
            let text = format!("ack {id}: {args}");
            Shown::new(
                json!({"type": "ack", "namespace": nsp, "id": id, "args": args}),
                text,
            )
        }
    }
}

/// A raw frame: text as it is, bytes in base64.
fn raw(text: bool, payload: &Bytes) -> Shown {
    if text {
        let text = String::from_utf8_lossy(payload).into_owned();
        return Shown::new(json!({"type": "text", "data": text}), text);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(payload);
    Shown::new(
        json!({"type": "binary", "base64": b64}),
        format!("[{} bytes] {b64}", payload.len()),
    )
}

fn unreadable(text: &str, why: &str) -> Shown {
    Shown::new(
        json!({"type": "unreadable", "data": text, "error": why}),
        format!("unreadable ({why}): {text}"),
    )
}

/// A JSON value typed after a command; a bare word is a string, nothing is `null`.
fn value_of(text: &str) -> Value {
    let text = text.trim();
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(said: Said) -> Vec<String> {
        match said {
            Said::Send(frames) => frames
                .iter()
                .map(|f| String::from_utf8_lossy(f.payload()).into_owned())
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn native_commands_become_json() {
        let mut native = Dialect::Native { rid: 0 };
        assert_eq!(
            sent(native.said("/join lobby")),
            [r#"{"rid":1,"room":"lobby","type":"join"}"#]
        );
        let emit: Value =
            serde_json::from_str(&sent(native.said("/emit lobby chat {\"text\":\"hi\"}"))[0])
                .unwrap();
        assert_eq!(
            emit,
            json!({"type": "emit", "rid": 2, "event": "chat", "data": {"text": "hi"}, "to": {"room": "lobby"}})
        );
        let word: Value = serde_json::from_str(&sent(native.said("/all shout hello"))[0]).unwrap();
        assert_eq!(word["data"], "hello");
        assert_eq!(
            sent(native.said(r#"{"type":"ping"}"#)),
            [r#"{"type":"ping"}"#]
        );
        assert!(matches!(native.said("hello"), Said::Note(_)));
        assert!(matches!(native.said("/close 4000 bye"), Said::Close(4000, r) if r == "bye"));
        assert!(matches!(native.said("/close 1006"), Said::Note(_)));
        assert!(matches!(native.said("/quit"), Said::Quit));
    }

    #[test]
    fn socketio_opens_beats_and_reads_binary_events() {
        let mut io = Dialect::socketio("/chat".into(), Some(json!({"token": "t"})));
        let (shown, answer) = io.heard(&Frame::text(r#"0{"sid":"x","pingInterval":25000}"#));
        assert_eq!(shown[0].json["type"], "open");
        assert_eq!(answer[0].payload().as_ref(), br#"40/chat,{"token":"t"}"#);
        let (_, pong) = io.heard(&Frame::text("2"));
        assert_eq!(pong[0].payload().as_ref(), b"3");
        assert!(
            sent(io.said(r#"["early"]"#)).is_empty(),
            "waits for the CONNECT answer"
        );
        let (shown, early) = io.heard(&Frame::text(r#"40/chat,{"sid":"abc"}"#));
        assert_eq!(
            shown[0].json,
            json!({"type": "connect", "namespace": "/chat", "sid": "abc"})
        );
        assert_eq!(early[0].payload().as_ref(), br#"42/chat,1["early"]"#);
        let (shown, _) = io.heard(&Frame::text(
            r#"451-/chat,["file",{"_placeholder":true,"num":0}]"#,
        ));
        assert!(shown.is_empty(), "waits for the attachment");
        let (shown, _) = io.heard(&Frame::binary(vec![1u8, 2, 3]));
        assert_eq!(shown[0].json["args"], json!([{"$binary": "AQID"}]));
        assert_eq!(shown[0].json["event"], "file");
        assert_eq!(
            sent(io.said(r#"["join","lobby"]"#)),
            [r#"42/chat,2["join","lobby"]"#]
        );
        assert_eq!(
            sent(io.said("/emit to [1,2]")),
            [r#"42/chat,3["to",[1,2]]"#]
        );
        let (shown, _) = io.heard(&Frame::text(r#"43/chat,1[{"room":"lobby"}]"#));
        assert_eq!(
            shown[0].json,
            json!({"type": "ack", "namespace": "/chat", "id": 1, "args": [{"room": "lobby"}]})
        );
    }

    #[test]
    fn raw_frames_as_they_are() {
        let mut raw = Dialect::Raw;
        assert_eq!(
            sent(raw.said("hello /not a command")),
            ["hello /not a command"]
        );
        match raw.said("/binary AQID") {
            Said::Send(frames) => assert_eq!(frames[0].payload().as_ref(), [1, 2, 3]),
            other => panic!("{other:?}"),
        }
        let mut io = Dialect::socketio("/".into(), None);
        let (shown, _) = io.heard(&Frame::text("é garbage"));
        assert_eq!(shown[0].json["type"], "unreadable", "not a panic");
        let (shown, _) = raw.heard(&Frame::binary(vec![255u8]));
        assert_eq!(shown[0].json, json!({"type": "binary", "base64": "/w=="}));
        let (shown, _) = raw.heard(&Frame::close(yawc::close::CloseCode::Away, b"bye"));
        assert_eq!(
            shown[0].json,
            json!({"type": "close", "code": 1001, "reason": "bye"})
        );
    }
}

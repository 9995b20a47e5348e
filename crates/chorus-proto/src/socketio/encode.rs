//! Encoding the Socket.IO packets the server sends.
//!
//! Each encoder returns the whole Engine.IO message, `4` included, as a [`WsMessage`]: that
//! is what both transports write (a WebSocket text frame, or one part of a polling payload),
//! so a packet is encoded once and a broadcast shares it. Each is built in one `String`
//! whose size is computed before writing; debug builds check the computation.
//!
//! Arguments are spliced in as the JSON text they are ([`RawValue`]); names and messages go
//! through JSON string quoting. A namespace is given as decoded packets give it: `/` for the
//! default one (written as nothing; an empty string means the same), else starting with `/`.

use std::fmt::Write as _;

use serde_json::value::RawValue;

use crate::json;
use crate::WsMessage;

/// Arguments for an encoded event or ack.
#[derive(Debug, Clone, Copy)]
pub enum Args<'a> {
    /// No arguments.
    None,
    /// One argument: any JSON value.
    One(&'a RawValue),
    /// A JSON array whose items are the arguments (a decoded packet's `args`). A value that
    /// is not an array is sent as one argument.
    Spread(&'a RawValue),
}

impl Args<'_> {
    /// The arguments as comma-separated JSON, without brackets.
    fn items(&self) -> &str {
        match self {
            Args::None => "",
            Args::One(value) => value.get(),
            Args::Spread(array) => {
                let text = array.get().trim();
                match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                    Some(inner) => inner.trim(),
                    None => text,
                }
            }
        }
    }
}

/// `CONNECT` accepted: `40{"sid":"X"}`, or `40/custom,{"sid":"X"}`; with a private
/// session id for connection-state recovery, `40{"sid":"X","pid":"Y"}`.
pub fn connect(nsp: &str, sid: &str, pid: Option<&str>) -> WsMessage {
    const SID: &str = r#"{"sid":"#;
    const PID: &str = r#","pid":"#;
    let cap = 2
        + nsp_len(nsp)
        + SID.len()
        + json::quoted_len(sid)
        + pid.map_or(0, |pid| PID.len() + json::quoted_len(pid))
        + 1;
    let mut out = String::with_capacity(cap);
    out.push_str("40");
    push_nsp(&mut out, nsp);
    out.push_str(SID);
    json::push_quoted(&mut out, sid);
    if let Some(pid) = pid {
        out.push_str(PID);
        json::push_quoted(&mut out, pid);
    }
    out.push('}');
    finish(out, cap)
}

/// `CONNECT_ERROR`: `44/random,{"message":"Invalid namespace"}`, with `,"data":…` when
/// `data` is given.
pub fn connect_error(nsp: &str, message: &str, data: Option<&RawValue>) -> WsMessage {
    const MESSAGE: &str = r#"{"message":"#;
    const DATA: &str = r#","data":"#;
    let data_len = data.map_or(0, |data| DATA.len() + data.get().len());
    let cap = 2 + nsp_len(nsp) + MESSAGE.len() + json::quoted_len(message) + data_len + 1;
    let mut out = String::with_capacity(cap);
    out.push_str("44");
    push_nsp(&mut out, nsp);
    out.push_str(MESSAGE);
    json::push_quoted(&mut out, message);
    if let Some(data) = data {
        out.push_str(DATA);
        out.push_str(data.get());
    }
    out.push('}');
    finish(out, cap)
}

/// `DISCONNECT` from a namespace: `41`, or `41/custom,`.
pub fn disconnect(nsp: &str) -> WsMessage {
    let cap = 2 + nsp_len(nsp);
    let mut out = String::with_capacity(cap);
    out.push_str("41");
    push_nsp(&mut out, nsp);
    finish(out, cap)
}

/// `EVENT`: `42["name",…]`, or `BINARY_EVENT` `45<n>-["name",…]` when `attachments` > 0
/// (the arguments then hold the placeholders, and the caller sends the attachments after).
/// A namespace other than `/` goes before the ack id: `42/custom,7["name"]`.
pub fn event(
    nsp: &str,
    id: Option<u64>,
    name: &str,
    args: Args<'_>,
    attachments: usize,
) -> WsMessage {
    let items = args.items();
    let items_len = if items.is_empty() { 0 } else { 1 + items.len() };
    let cap = 2 + header_len(nsp, id, attachments) + 1 + json::quoted_len(name) + items_len + 1;
    let mut out = String::with_capacity(cap);
    out.push_str(if attachments > 0 { "45" } else { "42" });
    push_header(&mut out, nsp, id, attachments);
    out.push('[');
    json::push_quoted(&mut out, name);
    if !items.is_empty() {
        out.push(',');
        out.push_str(items);
    }
    out.push(']');
    finish(out, cap)
}

/// `ACK` of a client's event: `43456[…]`, or `BINARY_ACK` `46<n>-456[…]` when
/// `attachments` > 0.
pub fn ack(nsp: &str, id: u64, args: Args<'_>, attachments: usize) -> WsMessage {
    let items = args.items();
    let cap = 2 + header_len(nsp, Some(id), attachments) + 2 + items.len();
    let mut out = String::with_capacity(cap);
    out.push_str(if attachments > 0 { "46" } else { "43" });
    push_header(&mut out, nsp, Some(id), attachments);
    out.push('[');
    out.push_str(items);
    out.push(']');
    finish(out, cap)
}

fn is_default_nsp(nsp: &str) -> bool {
    nsp.is_empty() || nsp == "/"
}

/// Length of the `<nsp>,` part: nothing for the default namespace.
fn nsp_len(nsp: &str) -> usize {
    if is_default_nsp(nsp) {
        0
    } else {
        nsp.len() + 1
    }
}

fn push_nsp(out: &mut String, nsp: &str) {
    if !is_default_nsp(nsp) {
        out.push_str(nsp);
        out.push(',');
    }
}

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Length of `[<attachments>-][<nsp>,][<id>]`.
fn header_len(nsp: &str, id: Option<u64>, attachments: usize) -> usize {
    let attachments = match attachments {
        0 => 0,
        n => digits(n as u64) + 1,
    };
    attachments + nsp_len(nsp) + id.map_or(0, digits)
}

fn push_header(out: &mut String, nsp: &str, id: Option<u64>, attachments: usize) {
    if attachments > 0 {
        write!(out, "{attachments}-").expect("writing to a String cannot fail");
    }
    push_nsp(out, nsp);
    if let Some(id) = id {
        write!(out, "{id}").expect("writing to a String cannot fail");
    }
}

fn finish(out: String, cap: usize) -> WsMessage {
    debug_assert_eq!(out.len(), cap, "encoder size computed wrongly: {out}");
    WsMessage::text(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketio::binary;
    use crate::socketio::Packet;
    use crate::test_rng::Rng;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    fn text(msg: &WsMessage) -> &str {
        msg.as_text().unwrap()
    }

    /// Decodes an encoded packet, Engine.IO `4` stripped.
    fn decode(msg: &WsMessage) -> Packet {
        let text = text(msg);
        assert!(text.starts_with('4'), "{text}");
        Packet::decode(&text[1..], &Default::default()).unwrap()
    }

    #[test]
    fn encode_connect_disconnect_error() {
        assert_eq!(text(&connect("/", "X", None)), r#"40{"sid":"X"}"#);
        assert_eq!(
            text(&connect("/custom", "X", None)),
            r#"40/custom,{"sid":"X"}"#
        );
        assert_eq!(text(&connect("", "a\"b", None)), r#"40{"sid":"a\"b"}"#);
        assert_eq!(
            text(&connect("/", "X", Some("P"))),
            r#"40{"sid":"X","pid":"P"}"#
        );
        assert_eq!(
            text(&connect("/c", "X", Some("P"))),
            r#"40/c,{"sid":"X","pid":"P"}"#
        );
        assert_eq!(
            text(&connect_error("/random", "Invalid namespace", None)),
            r#"44/random,{"message":"Invalid namespace"}"#
        );
        assert_eq!(
            text(&connect_error("/", "no", Some(&raw(r#"{"code":1}"#)))),
            r#"44{"message":"no","data":{"code":1}}"#
        );
        assert_eq!(text(&disconnect("/")), "41");
        assert_eq!(text(&disconnect("/custom")), "41/custom,");
    }

    #[test]
    fn encode_events() {
        let spread = raw(r#"[1,"2",{"3":[true]}]"#);
        assert_eq!(
            text(&event("/", None, "message-back", Args::Spread(&spread), 0)),
            r#"42["message-back",1,"2",{"3":[true]}]"#
        );
        assert_eq!(
            text(&event("/", None, "auth", Args::One(&raw("{}")), 0)),
            r#"42["auth",{}]"#
        );
        assert_eq!(
            text(&event(
                "/custom",
                None,
                "auth",
                Args::One(&raw(r#"{"token":"abc"}"#)),
                0
            )),
            r#"42/custom,["auth",{"token":"abc"}]"#
        );
        assert_eq!(
            text(&event("/", None, "e", Args::Spread(&raw("[]")), 0)),
            r#"42["e"]"#
        );
        assert_eq!(
            text(&event("/", None, "e", Args::Spread(&raw("[ ]")), 0)),
            r#"42["e"]"#
        );
        assert_eq!(text(&event("/", None, "e", Args::None, 0)), r#"42["e"]"#);
        assert_eq!(
            text(&event("/", None, "e", Args::Spread(&raw("5")), 0)),
            r#"42["e",5]"#
        );
        assert_eq!(
            text(&event("/c", Some(12), "q\"\n", Args::None, 0)),
            r#"42/c,12["q\"\n"]"#
        );
        let ph = binary::placeholder(0);
        assert_eq!(
            text(&event("/", Some(1), "bin", Args::One(&ph), 1)),
            r#"451-1["bin",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(
            text(&event("/x", None, "bin", Args::One(&ph), 10)),
            r#"4510-/x,["bin",{"_placeholder":true,"num":0}]"#
        );
    }

    #[test]
    fn encode_acks() {
        let args = raw(r#"[1,"2",{"3":[false]}]"#);
        assert_eq!(
            text(&ack("/", 456, Args::Spread(&args), 0)),
            r#"43456[1,"2",{"3":[false]}]"#
        );
        let two = raw(r#"[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
        assert_eq!(
            text(&ack("/", 789, Args::Spread(&two), 2)),
            r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
        );
        assert_eq!(text(&ack("/", 0, Args::None, 0)), "430[]");
        assert_eq!(
            text(&ack("/a", 1, Args::One(&raw("null")), 0)),
            "43/a,1[null]"
        );
    }

    #[test]
    fn encoded_packets_decode_back() {
        let args = raw(r#"[1,"2",{"3":[true]}]"#);
        match decode(&event("/chat", Some(3), "say", Args::Spread(&args), 0)) {
            Packet::Event {
                nsp,
                id,
                name,
                args: back,
                attachments,
            } => {
                assert_eq!(
                    (nsp.as_str(), id, name.as_str(), attachments),
                    ("/chat", Some(3), "say", 0)
                );
                assert_eq!(back.get(), args.get());
            }
            other => panic!("{other:?}"),
        }
        let msg = ack("/", u64::MAX, Args::Spread(&args), 0);
        assert!(matches!(decode(&msg), Packet::Ack { id: u64::MAX, .. }));
        let ph = binary::placeholder(0);
        let msg = ack("/x", 5, Args::One(&ph), 1);
        assert_eq!(decode(&msg).attachments(), 1);
        assert!(matches!(
            decode(&connect("/a", "s", None)),
            Packet::Connect { .. }
        ));
        assert!(matches!(decode(&disconnect("/a")), Packet::Disconnect { nsp } if nsp == "/a"));
        assert!(matches!(
            decode(&connect_error("/a", "m", None)),
            Packet::ConnectError { .. }
        ));
    }

    #[test]
    fn random_names_round_trip() {
        let mut rng = Rng::new(3);
        let args = raw("[1]");
        for _ in 0..2000 {
            let name = format!("n{}", rng.string(12));
            let nsp = format!("/{}", rng.string_from(6, "abc-_é"));
            let id = (rng.below(2) == 0).then(|| rng.next());
            match decode(&event(&nsp, id, &name, Args::Spread(&args), 0)) {
                Packet::Event {
                    nsp: n,
                    id: i,
                    name: back,
                    args: a,
                    ..
                } => assert_eq!((n, i, back, a.get()), (nsp, id, name, "[1]")),
                other => panic!("{other:?}"),
            }
        }
    }
}

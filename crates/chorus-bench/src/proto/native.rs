//! chorus's native `/ws` JSON protocol, the parts the bench uses.
//!
//! The server greets with `{"type":"hello",…}`; `join` is answered by a `reply` with the
//! same `rid`; an `emit` to a room reaches every member, the sender included, as
//! `{"type":"event","event":"m",…,"data":"<body>"}`; an `emit` with a `rid` is also
//! answered by a `reply` (for a room with history, once the message is stored).
//!
//! The classifier finds fields by scanning for `"key":` rather than parsing: the server
//! writes `type` first, and an escaped string can never contain the unescaped sequence
//! `"data":"`, so the first match is the real field whatever the field order.

use std::sync::LazyLock;

use bytes::Bytes;
use memchr::memmem::Finder;

use super::{after, leading_number, until_quote, Inbound};

/// How the server starts every frame; the type is read straight off it.
const TYPE_FIRST: &[u8] = br#"{"type":""#;

/// How the server starts the events the bench publishes.
const OUR_EVENT: &[u8] = br#"{"type":"event","event":"m","#;

static TYPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""type":""#));
static EVENT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""event":""#));
static DATA: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""data":""#));
static RID: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""rid":"#));
static OK: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br#""ok":"#));

/// The path of connection `index`; the name shows up in the server's presence lists.
pub(super) fn path(index: usize) -> String {
    format!("/ws?name=b{index}")
}

/// The `join` command for `room` with request id `rid`.
pub(super) fn join(room: &str, rid: u64) -> Bytes {
    Bytes::from(format!(r#"{{"type":"join","rid":{rid},"room":"{room}"}}"#))
}

/// Everything of an `emit` before the body. Without `rid` the emit is fire-and-forget;
/// with one the server replies.
pub(super) fn publish_head(out: &mut Vec<u8>, room: &str, rid: Option<u64>) {
    out.extend_from_slice(br#"{"type":"emit","event":"m","#);
    if let Some(rid) = rid {
        out.extend_from_slice(format!(r#""rid":{rid},"#).as_bytes());
    }
    out.extend_from_slice(br#""to":{"room":""#);
    out.extend_from_slice(room.as_bytes());
    out.extend_from_slice(br#""},"data":""#);
}

/// Everything of an `emit` after the body.
pub(super) const PUBLISH_TAIL: &[u8] = br#""}"#;

/// What a native frame means.
pub(super) fn classify(text: &[u8]) -> Inbound<'_> {
    // Fast path: a delivery as chorus encodes it, known without looking for the fields.
    if text.starts_with(OUR_EVENT) {
        return match after(text, &DATA).and_then(until_quote) {
            Some(body) => Inbound::Delivery(body),
            None => Inbound::Other,
        };
    }
    let kind = match text.strip_prefix(TYPE_FIRST) {
        Some(rest) => until_quote(rest),
        None => after(text, &TYPE).and_then(until_quote),
    };
    let Some(kind) = kind else {
        return Inbound::Other;
    };
    match kind {
        b"event" => {
            let ours = after(text, &EVENT).and_then(until_quote) == Some(b"m");
            match after(text, &DATA).and_then(until_quote) {
                Some(body) if ours => Inbound::Delivery(body),
                _ => Inbound::Other,
            }
        }
        b"reply" => match after(text, &RID).and_then(leading_number) {
            Some((id, _)) => Inbound::Reply {
                id,
                ok: after(text, &OK).is_some_and(|v| v.starts_with(b"true")),
            },
            None => Inbound::Other,
        },
        b"hello" => Inbound::Greeting,
        _ => Inbound::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_join() {
        assert_eq!(
            &join("bfan", 1)[..],
            br#"{"type":"join","rid":1,"room":"bfan"}"#
        );
    }

    #[test]
    fn encodes_emit_with_and_without_rid() {
        let mut out = Vec::new();
        publish_head(&mut out, "r1", None);
        out.extend_from_slice(b"0 5 ");
        out.extend_from_slice(PUBLISH_TAIL);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"emit","event":"m","to":{"room":"r1"},"data":"0 5 "})
        );

        let mut out = Vec::new();
        publish_head(&mut out, "r1", Some(42));
        out.extend_from_slice(PUBLISH_TAIL);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["rid"], 42);
    }

    #[test]
    fn finds_data_in_any_field_order() {
        let a = br#"{"type":"event","event":"m","room":"r","from":{"id":"7","name":"b1"},"data":"1 2 x"}"#;
        let b = br#"{"data":"1 2 x","from":{"name":"b1","id":"7"},"type":"event","room":"r","event":"m"}"#;
        assert_eq!(classify(a), Inbound::Delivery(b"1 2 x"));
        assert_eq!(classify(b), Inbound::Delivery(b"1 2 x"));
    }

    #[test]
    fn other_events_are_not_deliveries() {
        let other = br#"{"type":"event","event":"chat","data":"1 2 x"}"#;
        assert_eq!(classify(other), Inbound::Other);
        // A name that merely looks like a data field is escaped, so it cannot match.
        let tricky =
            br#"{"type":"event","event":"m","from":{"name":"\"data\":\"9 9"},"data":"1 2"}"#;
        assert_eq!(classify(tricky), Inbound::Delivery(b"1 2"));
    }

    #[test]
    fn reads_replies() {
        let ok = br#"{"type":"reply","rid":1,"ok":true,"result":{"room":"r","members":[]}}"#;
        assert_eq!(classify(ok), Inbound::Reply { id: 1, ok: true });
        let stored = br#"{"type":"reply","rid":77,"ok":true,"result":{"delivered":3,"offset":9}}"#;
        assert_eq!(classify(stored), Inbound::Reply { id: 77, ok: true });
        let err =
            br#"{"type":"reply","rid":5,"ok":false,"error":{"code":"not_in_room","message":"x"}}"#;
        assert_eq!(classify(err), Inbound::Reply { id: 5, ok: false });
    }

    #[test]
    fn greeting_and_others() {
        let hello = br#"{"type":"hello","v":1,"id":"3","name":"b0","server":"chorus/0.1.0"}"#;
        assert_eq!(classify(hello), Inbound::Greeting);
        let presence = br#"{"type":"presence","room":"r","action":"join","member":{"id":"4"}}"#;
        assert_eq!(classify(presence), Inbound::Other);
        assert_eq!(classify(b"not json"), Inbound::Other);
    }
}

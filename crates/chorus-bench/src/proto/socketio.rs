//! Socket.IO v5 over Engine.IO v4, WebSocket transport, main namespace: the frames the
//! bench sends and the ones it recognises.
//!
//! Each WebSocket text frame is one Engine.IO packet: a type digit, then data. The ones
//! that matter:
//!
//! | frame | meaning |
//! |---|---|
//! | `0{"sid":…}` | Engine.IO open, the server's first frame |
//! | `2` / `3` | ping (from the server) / pong (our answer, due at once) |
//! | `40…` | Socket.IO connect: we send `40`, the server answers `40{"sid":…}` |
//! | `44…` | Socket.IO connect error |
//! | `42[id]["event",args…]` | Socket.IO event, with an ack id if the sender wants one |
//! | `43id[args…]` | Socket.IO ack of event `id` |
//!
//! Rooms are server business in Socket.IO; chorus answers a `join` event and a `to`
//! event (`to(room, event, args…)` → every *other* member gets `event(args…)`).

use bytes::Bytes;

use super::{leading_number, until_quote, Inbound};

/// The WebSocket path of an Engine.IO v4 connection that skips long-polling.
pub(super) const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// Connects to the main namespace.
pub(crate) const CONNECT: &str = "40";

/// The answer to an Engine.IO ping.
pub(crate) const PONG: &str = "3";

/// The `join` event for `room`, asking for ack `id`.
pub(super) fn join(room: &str, id: u64) -> Bytes {
    Bytes::from(format!(r#"42{id}["join","{room}"]"#))
}

/// Everything of a `to` event before the body: `42[id]["to","<room>","m","`.
pub(super) fn publish_head(out: &mut Vec<u8>, room: &str, ack: Option<u64>) {
    out.extend_from_slice(b"42");
    if let Some(id) = ack {
        out.extend_from_slice(id.to_string().as_bytes());
    }
    out.extend_from_slice(br#"["to",""#);
    out.extend_from_slice(room.as_bytes());
    out.extend_from_slice(br#"","m",""#);
}

/// Everything of a `to` event after the body.
pub(super) const PUBLISH_TAIL: &[u8] = br#""]"#;

/// What an Engine.IO frame means.
pub(super) fn classify(text: &[u8]) -> Inbound<'_> {
    match text {
        b"2" => Inbound::Ping,
        [b'0', ..] => Inbound::Greeting,
        [b'4', b'0', ..] => Inbound::Connected,
        [b'4', b'4', ..] => Inbound::Refused,
        [b'4', b'2', rest @ ..] => event(rest),
        [b'4', b'3', rest @ ..] => ack(rest),
        _ => Inbound::Other,
    }
}

/// `[id]["m","<body>"…]`: a delivery of ours; other events are not.
fn event(rest: &[u8]) -> Inbound<'_> {
    // The server may ask for an ack; the bench never asks it to, but skip an id anyway.
    let args = match leading_number(rest) {
        Some((_, args)) => args,
        None => rest,
    };
    match args.strip_prefix(br#"["m",""#).and_then(until_quote) {
        Some(body) => Inbound::Delivery(body),
        None => Inbound::Other,
    }
}

/// `id[args…]`: an ack; chorus acks a refused request with `[{"error":…}]`.
fn ack(rest: &[u8]) -> Inbound<'_> {
    match leading_number(rest) {
        Some((id, args)) => Inbound::Reply {
            id,
            ok: !args.starts_with(br#"[{"error""#),
        },
        None => Inbound::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_join() {
        assert_eq!(&join("bfan", 1)[..], br#"421["join","bfan"]"#);
    }

    #[test]
    fn encodes_to_with_and_without_ack() {
        let mut out = Vec::new();
        publish_head(&mut out, "be0", None);
        out.extend_from_slice(b"1 2 x");
        out.extend_from_slice(PUBLISH_TAIL);
        assert_eq!(out, br#"42["to","be0","m","1 2 x"]"#);

        let mut out = Vec::new();
        publish_head(&mut out, "be0", Some(17));
        out.extend_from_slice(b"1 2 x");
        out.extend_from_slice(PUBLISH_TAIL);
        assert_eq!(out, br#"4217["to","be0","m","1 2 x"]"#);
        // The args after the id are valid JSON.
        let args: serde_json::Value = serde_json::from_slice(&out[4..]).unwrap();
        assert_eq!(args, serde_json::json!(["to", "be0", "m", "1 2 x"]));
    }

    #[test]
    fn engine_io_control_packets() {
        assert_eq!(classify(b"2"), Inbound::Ping);
        assert_eq!(
            classify(br#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#),
            Inbound::Greeting
        );
        assert_eq!(classify(b"3"), Inbound::Other);
        assert_eq!(classify(b"1"), Inbound::Other);
        // A ping with a probe payload is not the bare heartbeat.
        assert_eq!(classify(b"2probe"), Inbound::Other);
    }

    #[test]
    fn namespace_connect_and_refusal() {
        assert_eq!(classify(br#"40{"sid":"xyz"}"#), Inbound::Connected);
        assert_eq!(classify(b"40"), Inbound::Connected);
        assert_eq!(classify(br#"44{"message":"nope"}"#), Inbound::Refused);
    }

    #[test]
    fn deliveries() {
        assert_eq!(
            classify(br#"42["m","5 6 xx"]"#),
            Inbound::Delivery(b"5 6 xx")
        );
        assert_eq!(classify(br#"429["m","5 6"]"#), Inbound::Delivery(b"5 6"));
        assert_eq!(classify(br#"42["presence",{"a":1}]"#), Inbound::Other);
        assert_eq!(classify(br#"42["m",{"a":1}]"#), Inbound::Other);
    }

    #[test]
    fn acks() {
        assert_eq!(
            classify(br#"431[{"room":"r","members":[]}]"#),
            Inbound::Reply { id: 1, ok: true }
        );
        assert_eq!(
            classify(br#"43250[{"delivered":0}]"#),
            Inbound::Reply { id: 250, ok: true }
        );
        assert_eq!(
            classify(br#"437[{"error":{"code":"not_in_room","message":"x"}}]"#),
            Inbound::Reply { id: 7, ok: false }
        );
        assert_eq!(classify(b"43[]"), Inbound::Other);
    }
}

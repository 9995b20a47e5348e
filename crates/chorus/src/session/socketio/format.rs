//! Socket.IO's wire formats: an event as an `EVENT` packet in its namespace (a
//! `BINARY_EVENT` and its attachments when it carries binary), the same bytes for the
//! WebSocket and long-polling transports. Presence has no form in Socket.IO.
//!
//! Two formats: a server with connection-state recovery on gives every event stored in a
//! room's history its offset ([`chorus_core::Event::offset`]) as its last argument, where
//! socket.io clients look for it; one without does not.

use std::sync::LazyLock;

use bytes::Bytes;
use chorus_core::{Encode, Encoded, Event, EventData, Format};
use chorus_proto::socketio::{self, binary, Args};
use chorus_proto::WsMessage;
use serde_json::value::RawValue;

use super::parser::{to_msgpack, Parser};

/// The Socket.IO format, registered once.
pub(crate) fn socketio() -> Format {
    static FORMAT: LazyLock<Format> = LazyLock::new(|| Format::register(&SocketIo));
    *FORMAT
}

/// The Socket.IO format of a server with connection-state recovery, registered once.
pub(crate) fn socketio_recovery() -> Format {
    static FORMAT: LazyLock<Format> = LazyLock::new(|| Format::register(&SocketIoRecovery));
    *FORMAT
}

/// The MessagePack parser's Socket.IO formats, without and with recovery offsets.
fn socketio_msgpack() -> Format {
    static FORMAT: LazyLock<Format> = LazyLock::new(|| Format::register(&SocketIoMsgpack));
    *FORMAT
}

fn socketio_msgpack_recovery() -> Format {
    static FORMAT: LazyLock<Format> = LazyLock::new(|| Format::register(&SocketIoMsgpackRecovery));
    *FORMAT
}

/// The format of a server's Socket.IO clients: with or without recovery offsets, in its
/// parser's form.
pub(crate) fn for_server(recovery: bool, parser: Parser) -> Format {
    match (parser.is_msgpack(), recovery) {
        (false, false) => socketio(),
        (false, true) => socketio_recovery(),
        (true, false) => socketio_msgpack(),
        (true, true) => socketio_msgpack_recovery(),
    }
}

/// True for every Socket.IO format.
pub(crate) fn is_socketio(format: Format) -> bool {
    [socketio(), socketio_recovery()].contains(&format)
        || (format.name().starts_with("socket.io+msgpack"))
}

struct SocketIo;
struct SocketIoRecovery;
struct SocketIoMsgpack;
struct SocketIoMsgpackRecovery;

impl Encode for SocketIoMsgpack {
    fn name(&self) -> &'static str {
        "socket.io+msgpack"
    }

    fn event(&self, event: &Event) -> Option<Encoded> {
        Some(msgpack(encode(event, None)))
    }
}

impl Encode for SocketIoMsgpackRecovery {
    fn name(&self) -> &'static str {
        "socket.io+msgpack+recovery"
    }

    fn event(&self, event: &Event) -> Option<Encoded> {
        Some(msgpack(encode(event, event.offset.as_deref())))
    }
}

/// The default form of a packet as one MessagePack message.
fn msgpack(encoded: Encoded) -> Encoded {
    match to_msgpack(encoded.messages()) {
        Some(message) => message.into(),
        None => encoded,
    }
}

impl Encode for SocketIo {
    fn name(&self) -> &'static str {
        "socket.io"
    }

    fn event(&self, event: &Event) -> Option<Encoded> {
        Some(encode(event, None))
    }
}

impl Encode for SocketIoRecovery {
    fn name(&self) -> &'static str {
        "socket.io+recovery"
    }

    fn event(&self, event: &Event) -> Option<Encoded> {
        Some(encode(event, event.offset.as_deref()))
    }
}

/// The event as a Socket.IO `EVENT` (or `BINARY_EVENT` and its attachments) packet in its
/// namespace, with `offset` appended to its arguments when given.
fn encode(event: &Event, offset: Option<&str>) -> Encoded {
    let nsp = &event.namespace;
    if let Some(offset) = offset {
        return encode_with_offset(event, offset);
    }
    match &event.data {
        EventData::Json(raw) => socketio::event(nsp, None, &event.name, Args::One(raw), 0).into(),
        EventData::Binary(bytes) => {
            let placeholder = binary::placeholder(0);
            let packet = socketio::event(nsp, None, &event.name, Args::One(&placeholder), 1);
            with_attachments(packet, std::slice::from_ref(bytes))
        }
        EventData::Args { args, attachments } => {
            let packet = socketio::event(
                nsp,
                None,
                &event.name,
                Args::Spread(args),
                attachments.len(),
            );
            with_attachments(packet, attachments)
        }
    }
}

/// [`encode`] with `offset` appended to the arguments.
fn encode_with_offset(event: &Event, offset: &str) -> Encoded {
    let offset = serde_json::to_string(offset).expect("a string serialises");
    let (args, attachments): (String, &[Bytes]) = match &event.data {
        EventData::Json(raw) => (format!("[{},{offset}]", raw.get()), &[]),
        EventData::Binary(bytes) => (
            format!("[{},{offset}]", binary::placeholder(0).get()),
            std::slice::from_ref(bytes),
        ),
        EventData::Args { args, attachments } => {
            let inner = args.get().trim();
            let inner = inner
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .unwrap_or("")
                .trim();
            let args = if inner.is_empty() {
                format!("[{offset}]")
            } else {
                format!("[{inner},{offset}]")
            };
            (args, attachments)
        }
    };
    let args = RawValue::from_string(args).expect("a JSON array built from JSON values");
    let packet = socketio::event(
        &event.namespace,
        None,
        &event.name,
        Args::Spread(&args),
        attachments.len(),
    );
    with_attachments(packet, attachments)
}

/// A Socket.IO packet and the binary messages of its attachments, written together.
fn with_attachments(packet: WsMessage, attachments: &[Bytes]) -> Encoded {
    if attachments.is_empty() {
        return packet.into();
    }
    let mut messages = Vec::with_capacity(1 + attachments.len());
    messages.push(packet);
    messages.extend(attachments.iter().cloned().map(WsMessage::binary));
    Encoded::Many(messages.into_boxed_slice())
}

//! Acknowledgements in both directions.
//!
//! * [`Ack`] answers a client's event: a native reply (`{"type":"reply","rid":…}`) or a
//!   Socket.IO `ACK` packet, whichever protocol the client speaks.
//! * [`Pending`] is a socket's table of the server's own emits waiting for the client's
//!   answer (`Socket::emit_with_ack`): an id, a oneshot, and nothing else. It is bounded
//!   by [`MAX_PENDING`] so a client that never answers cannot grow it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chorus_core::{EventData, Outbound, Peer};
use chorus_proto::native::{push, ErrorCode, Rid};
use chorus_proto::socketio::{self, binary, Args};
use chorus_proto::WsMessage;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::Data;

/// Most server-to-client acks a socket may have outstanding.
pub(crate) const MAX_PENDING: usize = 1024;

/// Why [`crate::Socket::emit_with_ack`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// The client did not answer in time.
    #[error("the client did not acknowledge within the timeout")]
    Timeout,
    /// The socket disconnected before answering.
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
    /// Too many acks are already outstanding on this socket.
    #[error("too many unacknowledged emits on this socket ({MAX_PENDING})")]
    TooMany,
    /// The data could not be serialised.
    #[error("cannot serialise event data: {0}")]
    Json(#[from] serde_json::Error),
}

/// Where an answer goes.
pub(crate) enum Reply {
    /// A native request id.
    Native(Rid),
    /// A Socket.IO ack id in a namespace.
    SocketIo { nsp: Arc<str>, id: u64 },
}

/// The answer to a client's event. Send it with [`Ack::send`] or [`Ack::error`].
///
/// If it is dropped unanswered: a native client that asked for a reply gets `{}`; a
/// Socket.IO client gets nothing, as with socket.io (its own timeout decides).
pub struct Ack {
    reply: Option<Reply>,
    peer: Arc<Peer>,
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack")
            .field("wanted", &self.reply.is_some())
            .finish()
    }
}

impl Ack {
    pub(crate) fn new(reply: Option<Reply>, peer: Arc<Peer>) -> Self {
        Self { reply, peer }
    }

    /// True if the client asked for a reply.
    pub fn wanted(&self) -> bool {
        self.reply.is_some()
    }

    /// Replies with one value. A native client gets it as the reply's `result` (a
    /// non-object is wrapped as `{"value": ...}`); a Socket.IO client's callback gets it as
    /// its one argument.
    pub fn send(mut self, result: &impl Serialize) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        let msg = match reply {
            Reply::Native(rid) => {
                let value = serde_json::to_value(result).unwrap_or(serde_json::Value::Null);
                if value.is_object() {
                    push::reply_ok(&rid, &value)
                } else {
                    push::reply_ok(&rid, &serde_json::json!({ "value": value }))
                }
            }
            Reply::SocketIo { nsp, id } => {
                let raw = serde_json::value::to_raw_value(result)
                    .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("JSON"));
                socketio::ack(&nsp, id, Args::One(&raw), 0)
            }
        };
        self.peer.push(Outbound::Message(msg));
    }

    /// Replies with event data as it is: a Socket.IO client's callback gets the same
    /// arguments, binary included (what an echo needs); a native client gets the data as
    /// JSON (see [`EventData::to_json`]).
    pub fn send_data(mut self, data: Data) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        let item = match reply {
            Reply::Native(rid) => {
                let value: serde_json::Value = match data.inner().to_json() {
                    Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
                    None => serde_json::json!({ "$binary": data
                        .bytes()
                        .map(|b| base64::engine::general_purpose::STANDARD.encode(b)) }),
                };
                let result = if value.is_object() {
                    value
                } else {
                    serde_json::json!({ "value": value })
                };
                Outbound::Message(push::reply_ok(&rid, &result))
            }
            Reply::SocketIo { nsp, id } => socketio_packet(data.into_inner(), |args, n| {
                socketio::ack(&nsp, id, args, n)
            }),
        };
        self.peer.push(item);
    }

    /// Replies with an error: a native error reply (`bad_request`), or for a Socket.IO
    /// client one argument `{"error": message}`.
    pub fn error(mut self, message: &str) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        let msg = match reply {
            Reply::Native(rid) => push::reply_err(&rid, ErrorCode::BadRequest, message),
            Reply::SocketIo { nsp, id } => {
                let raw = serde_json::value::to_raw_value(&serde_json::json!({ "error": message }))
                    .expect("a JSON object");
                socketio::ack(&nsp, id, Args::One(&raw), 0)
            }
        };
        self.peer.push(Outbound::Message(msg));
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(Reply::Native(rid)) = self.reply.take() {
            self.peer.push(Outbound::Message(push::reply_ok(
                &rid,
                &serde_json::json!({}),
            )));
        }
    }
}

/// A Socket.IO packet carrying `data` as its arguments, with its binary attachments after
/// it: one queue item, so nothing can come between them.
pub(crate) fn socketio_packet(
    data: EventData,
    packet: impl FnOnce(Args<'_>, usize) -> WsMessage,
) -> Outbound {
    match data {
        EventData::Json(raw) => Outbound::Message(packet(Args::One(&raw), 0)),
        EventData::Binary(bytes) => {
            let placeholder = binary::placeholder(0);
            let text = packet(Args::One(&placeholder), 1);
            Outbound::Messages(Box::new([text, WsMessage::binary(bytes)]))
        }
        EventData::Args { args, attachments } if attachments.is_empty() => {
            Outbound::Message(packet(Args::Spread(&args), 0))
        }
        EventData::Args { args, attachments } => {
            let mut messages = Vec::with_capacity(1 + attachments.len());
            messages.push(packet(Args::Spread(&args), attachments.len()));
            messages.extend(attachments.into_iter().map(WsMessage::binary));
            Outbound::Messages(messages.into_boxed_slice())
        }
    }
}

/// A socket's server-to-client acks awaiting the client's answer.
#[derive(Default)]
pub(crate) struct Pending {
    next_id: u64,
    waiting: HashMap<u64, oneshot::Sender<Data>>,
}

impl Pending {
    /// Reserves an id; `None` if too many are outstanding.
    pub(crate) fn register(&mut self) -> Option<(u64, oneshot::Receiver<Data>)> {
        if self.waiting.len() >= MAX_PENDING {
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id, tx);
        Some((id, rx))
    }

    /// Delivers the client's answer; unknown ids (late, or never asked) are ignored.
    pub(crate) fn resolve(&mut self, id: u64, data: Data) {
        if let Some(tx) = self.waiting.remove(&id) {
            let _ = tx.send(data);
        }
    }

    /// Forgets an id that timed out.
    pub(crate) fn forget(&mut self, id: u64) {
        self.waiting.remove(&id);
    }

    /// Fails every waiting emit (the socket is gone).
    pub(crate) fn clear(&mut self) {
        self.waiting.clear();
    }
}

//! Acknowledgements in both directions.
//!
//! * [`Ack`] answers a client's event, in whichever protocol the client speaks (the
//!   session's [`Responder`] frames it).
//! * [`Pending`] is a socket's table of the server's own emits waiting for the client's
//!   answer (`Socket::emit_with_ack`): an id, a oneshot, and nothing else. It is bounded
//!   by [`MAX_PENDING`] so a client that never answers cannot grow it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chorus_core::Peer;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::data::Data;
use super::wire::{Answer, Responder};

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

/// The answer to a client's event. Send it with [`Ack::send`] or [`Ack::error`].
///
/// If it is dropped unanswered: a native client that asked for a reply gets `{}`; a
/// Socket.IO client gets nothing, as with socket.io (its own timeout decides).
pub struct Ack {
    reply: Option<Box<dyn Responder>>,
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
    pub(crate) fn new(reply: Option<Box<dyn Responder>>, peer: Arc<Peer>) -> Self {
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
        let raw = serde_json::value::to_raw_value(result)
            .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("JSON"));
        self.peer.push(reply.answer(Answer::Json(raw)));
    }

    /// Replies with event data as it is: a Socket.IO client's callback gets the same
    /// arguments, binary included (what an echo needs); a native client gets the data as
    /// JSON (see [`chorus_core::EventData::to_json`]).
    pub fn send_data(mut self, data: Data) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        self.peer
            .push(reply.answer(Answer::Data(data.into_inner())));
    }

    /// Replies with nothing — socket.io's `callback()`: a Socket.IO client's callback is
    /// called with no arguments, a native client's reply has an empty `result` (`{}`).
    pub fn done(mut self) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        self.peer.push(reply.answer(Answer::Nothing));
    }

    /// Replies with an error: a native error reply (`bad_request`), or for a Socket.IO
    /// client one argument `{"error": message}`.
    pub fn error(mut self, message: &str) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        self.peer.push(reply.answer(Answer::Error(message)));
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(item) = self.reply.take().and_then(|reply| reply.unanswered()) {
            self.peer.push(item);
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

//! What a socket's protocol does for the event layer, handed in by the session that opened
//! the socket: the only protocol knowledge an [`crate::Io`] or a [`crate::Socket`] has.
//!
//! The event API is the same for a native `/ws` client and a Socket.IO one; what differs —
//! how an event asking for an answer is framed, how an answer reaches the client, what a
//! server-side disconnect sends, what a recovery session wants to know of joins — is here,
//! as traits the sessions implement (`session::native`, `session::socketio`).

use std::sync::Arc;

use chorus_core::{ConnId, EventData, Outbound, StreamPos};
use serde_json::value::RawValue;

/// A socket's protocol.
pub(crate) trait Wire: Send + Sync + 'static {
    /// True for a Socket.IO client.
    fn is_socketio(&self) -> bool {
        false
    }

    /// True for a client that came back after a lost connection and was restored.
    fn recovered(&self) -> bool {
        false
    }

    /// Event `name` with `data` for this client, asking it to answer with `id`.
    fn event_with_ack(
        &self,
        namespace: &Arc<str>,
        name: &str,
        data: EventData,
        id: u64,
    ) -> Outbound;

    /// The server disconnects the socket `id` from `namespace` (`Socket::disconnect`):
    /// what to do.
    fn disconnect(&self, namespace: &Arc<str>, id: ConnId) -> Disconnect;

    /// The socket is joining `room`: what hears where the join started, if the protocol
    /// keeps track (a Socket.IO recovery session records the room at once, and its position
    /// when it is known).
    fn joining(&self, _room: &str) -> Option<Box<dyn Joining>> {
        None
    }

    /// The socket left `room`.
    fn left(&self, _room: &str) {}

    /// The socket is gone, for `reason`.
    fn closed(&self, _reason: &str) {}
}

/// A join in progress, as a protocol records it ([`Wire::joining`]). Dropped untold, the
/// join did not happen.
pub(crate) trait Joining: Send {
    /// The join started at `pos` in the room's stream (`None`: a room without history).
    fn started(self: Box<Self>, pos: Option<StreamPos>);

    /// Where the join started cannot be told (the store failed).
    fn unknown(self: Box<Self>);
}

/// How the answer to one client event reaches the client: made by the session for each
/// event that asks for one (a native request id, a Socket.IO ack id).
pub(crate) trait Responder: Send {
    /// The answer, framed for the client.
    fn answer(self: Box<Self>, answer: Answer<'_>) -> Outbound;

    /// What the client gets when the handler drops the answer unsent, if anything.
    fn unanswered(self: Box<Self>) -> Option<Outbound> {
        None
    }
}

/// What a handler answers with.
pub(crate) enum Answer<'a> {
    /// One JSON value.
    Json(Box<RawValue>),
    /// Event data as it is (several arguments, binary inside them).
    Data(EventData),
    /// An error, with a message.
    Error(&'a str),
    /// Nothing: the client's callback gets no arguments.
    Nothing,
}

/// How a socket the server disconnects goes ([`Wire::disconnect`]).
#[derive(Debug, Default)]
pub(crate) struct Disconnect {
    /// Told to the client first (Socket.IO's DISCONNECT of the namespace).
    pub(crate) notice: Option<Outbound>,
    /// The socket is gone at once (its handlers run now), rather than when its connection
    /// closes.
    pub(crate) gone: bool,
    /// The connection is closed (1000) after the notice.
    pub(crate) close_connection: bool,
}

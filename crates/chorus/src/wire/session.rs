//! [`Session`]: what a protocol is to the transport — a receiver of a connection's messages
//! and of its end — and [`Closed`], how the connection ended.
//!
//! A WebSocket connection ([`super::connection`]) drives one session; an Engine.IO session
//! drives the layer above it (Socket.IO, a raw message endpoint) through the same trait,
//! whichever transport (long-polling or WebSocket) carries it. Sessions react without
//! awaiting: what they send goes on the connection's bounded queue.

use chorus_proto::WsMessage;

/// The protocol logic of one connection, driven by [`super::connection::run`].
pub(crate) trait Session: Send + Unpin {
    /// A complete text or binary message from the client.
    fn on_message(&mut self, msg: WsMessage);
    /// The connection is over; called exactly once.
    fn on_close(&mut self, closed: &Closed);
}

/// A session too large to sit in the connection's task (see [`super::connection::TASK_FUTURE_BUDGET`]) is
/// boxed by whoever spawns it.
impl<T: Session + ?Sized> Session for Box<T> {
    fn on_message(&mut self, msg: WsMessage) {
        (**self).on_message(msg);
    }

    fn on_close(&mut self, closed: &Closed) {
        (**self).on_close(closed);
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Default)]
pub struct Closed {
    /// The close code sent or received, if any.
    pub code: Option<u16>,
    /// The close reason sent or received.
    pub reason: String,
    /// True if the server started the close.
    pub by_server: bool,
    /// The protocol or I/O error that ended the connection, if one did.
    pub error: Option<String>,
}

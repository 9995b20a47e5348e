//! What a Socket.IO client's protocol does for the event layer: events that ask for an
//! answer and answers to the client's own (ACK packets, binary attachments after them), the
//! server's disconnect of one namespace, and what the recovery session hears of joins.

use std::sync::{Arc, Weak};

use chorus_core::{ConnId, EventData, Outbound, StreamPos};
use chorus_proto::socketio::{self, binary, Args};
use chorus_proto::WsMessage;

use super::link::Link;
use super::parser::Parser;
use super::recovery::{RoomJoin, SessionLink};
use crate::events::wire::{Answer, Disconnect, Joining, Responder, Wire};

/// A Socket.IO socket's protocol: its namespace, on a connection that may carry others,
/// with its recovery session when the server keeps them.
pub(crate) struct SocketIoWire {
    pub(crate) link: Weak<Link>,
    pub(crate) session: Option<SessionLink>,
    pub(crate) recovered: bool,
    pub(crate) parser: Parser,
}

impl Wire for SocketIoWire {
    fn is_socketio(&self) -> bool {
        true
    }

    fn recovered(&self) -> bool {
        self.recovered
    }

    fn event_with_ack(
        &self,
        namespace: &Arc<str>,
        name: &str,
        data: EventData,
        id: u64,
    ) -> Outbound {
        self.parser.out(packet(data, |args, n| {
            socketio::event(namespace, Some(id), name, args, n)
        }))
    }

    /// The client is told it was disconnected from this namespace (its reason: `io server
    /// disconnect`, and it does not reconnect by itself); the connection underneath closes
    /// once no namespace is left on it.
    fn disconnect(&self, namespace: &Arc<str>, id: ConnId) -> Disconnect {
        let remaining = self
            .link
            .upgrade()
            .map_or(0, |link| link.remove(namespace, id));
        Disconnect {
            notice: Some(
                self.parser
                    .out(Outbound::Message(socketio::disconnect(namespace))),
            ),
            gone: true,
            close_connection: remaining == 0,
        }
    }

    fn joining(&self, room: &str) -> Option<Box<dyn Joining>> {
        let join = self.session.as_ref()?.joining(room)?;
        Some(Box::new(join))
    }

    fn left(&self, room: &str) {
        if let Some(session) = &self.session {
            session.left(room);
        }
    }

    fn closed(&self, reason: &str) {
        if let Some(session) = &self.session {
            session.closed(reason);
        }
    }
}

impl Joining for RoomJoin {
    fn started(self: Box<Self>, pos: Option<StreamPos>) {
        RoomJoin::started(*self, pos);
    }

    fn unknown(self: Box<Self>) {
        RoomJoin::unknown(*self);
    }
}

/// The ACK of a client's event `id` in namespace `nsp`.
pub(crate) struct AckReply {
    pub(crate) nsp: Arc<str>,
    pub(crate) id: u64,
    pub(crate) parser: Parser,
}

impl Responder for AckReply {
    fn answer(self: Box<Self>, answer: Answer<'_>) -> Outbound {
        let (nsp, id) = (&self.nsp, self.id);
        let packet = match answer {
            Answer::Json(raw) => Outbound::Message(socketio::ack(nsp, id, Args::One(&raw), 0)),
            Answer::Nothing => Outbound::Message(socketio::ack(nsp, id, Args::None, 0)),
            Answer::Data(data) => packet(data, |args, n| socketio::ack(nsp, id, args, n)),
            Answer::Error(message) => {
                let raw = serde_json::value::to_raw_value(&serde_json::json!({ "error": message }))
                    .expect("a JSON object");
                Outbound::Message(socketio::ack(nsp, id, Args::One(&raw), 0))
            }
        };
        self.parser.out(packet)
    }
}

/// A Socket.IO packet carrying `data` as its arguments, with its binary attachments after
/// it: one queue item, so nothing can come between them.
pub(crate) fn packet(
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

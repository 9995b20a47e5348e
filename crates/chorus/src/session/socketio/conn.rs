//! One Socket.IO connection: the packets of one Engine.IO session, turned into socket
//! events.
//!
//! Binary packets arrive in pieces — the text packet announcing `N` attachments, then `N`
//! binary messages — and are dispatched once complete. Anything that breaks the protocol
//! (a packet that does not decode, a binary message nobody announced, a text packet where
//! an attachment was due) ends the connection with reason `parse error`; the client's
//! other namespaces go with it, other clients never notice.
//!
//! Tokens: each namespace a client joins is a socket with its own identity — the CONNECT
//! packet's `auth.token` when it has one, else the token of the Engine.IO handshake
//! (`?token=`, `Authorization: Bearer`). A refused token is a CONNECT_ERROR
//! `{"message":"invalid token","data":{"error":"invalid_token","message":…}}` (`token
//! required` when there is none and anonymous access is off); the session stays open for
//! another try. When a socket's token expires the socket is disconnected by the server.

use std::sync::Arc;
use std::time::Duration;

use chorus_core::{EventData, Mailbox, Outbound};
use chorus_proto::socketio::{self, binary, Packet};
use chorus_proto::{MessageKind, WsMessage};
use serde_json::value::RawValue;

use super::connect::Connector;
use super::link::Link;
use super::wire::AckReply;
use super::{Namespaces, SocketIoConfig};
use crate::events::wire::Responder;
use crate::events::{self, Ack, Data};
use crate::session::engineio::EngineSession;
use crate::wire::{close, Closed, HandshakeInfo, Session};

/// A binary packet waiting for its attachments.
struct Incomplete {
    packet: Packet,
    attachments: binary::Attachments,
}

/// The Socket.IO layer of one Engine.IO session.
pub(crate) struct SocketIoConn {
    namespaces: Arc<Namespaces>,
    connector: Connector,
    incomplete: Option<Incomplete>,
}

impl SocketIoConn {
    /// The layer for a new session; starts its connect timeout.
    pub(crate) fn new(
        namespaces: Arc<Namespaces>,
        session: &Arc<EngineSession>,
        info: HandshakeInfo,
        config: SocketIoConfig,
    ) -> Self {
        let link = Arc::new(Link::default());
        spawn_connect_timeout(
            link.clone(),
            session.mailbox.clone(),
            config.connect_timeout,
        );
        Self {
            namespaces,
            connector: Connector {
                mailbox: session.mailbox.clone(),
                info: Arc::new(info),
                link,
                config,
            },
            incomplete: None,
        }
    }

    fn fail(&mut self) {
        self.incomplete = None;
        self.connector
            .mailbox
            .close(close::protocol_error("parse error"));
    }

    fn on_packet(&mut self, packet: Packet, attachments: Vec<bytes::Bytes>) {
        match packet {
            Packet::Connect { nsp, auth } => self.connect(nsp, auth),
            Packet::Disconnect { nsp } => {
                if let Some(socket) = self.connector.link.take(&nsp) {
                    events::close(&socket, "client namespace disconnect");
                }
            }
            Packet::Event {
                nsp,
                id,
                name,
                args,
                ..
            } => {
                // Packets for a namespace the client has not joined are ignored, as the
                // reference server does.
                let Some(socket) = self.connector.link.get(&nsp) else {
                    return;
                };
                let handler = socket.handler(&name);
                if handler.is_none() && !socket.hears_any() {
                    // Nobody listens: the data is not even read.
                    return;
                }
                let data = Data::new(event_data(args, attachments));
                socket.heard(&name, &data);
                let Some(handler) = handler else {
                    return;
                };
                let reply = id.map(|id| {
                    Box::new(AckReply {
                        nsp: socket.namespace().clone(),
                        id,
                        parser: self.connector.config.parser,
                    }) as Box<dyn Responder>
                });
                let ack = Ack::new(reply, socket.peer().clone());
                handler(&socket, data, ack);
            }
            Packet::Ack { nsp, id, args, .. } => {
                if let Some(socket) = self.connector.link.get(&nsp) {
                    socket.resolve_ack(id, Data::new(event_data(args, attachments)));
                }
            }
            Packet::ConnectError { .. } => self.fail(),
        }
    }

    fn connect(&mut self, nsp: String, auth: Option<Box<RawValue>>) {
        match self.namespaces.resolve(&nsp) {
            Some(io) => self.connector.connect(io, &nsp, auth),
            None => {
                let packet = socketio::connect_error(&nsp, "Invalid namespace", None);
                let packet = self.connector.config.parser.out(Outbound::Message(packet));
                self.connector.mailbox.push(packet);
            }
        }
    }
}

impl Session for SocketIoConn {
    fn on_message(&mut self, msg: WsMessage) {
        if self.connector.config.parser.is_msgpack() {
            // A whole packet, binary values inside it; a text packet is another parser's.
            if msg.kind != MessageKind::Binary {
                return self.fail();
            }
            match socketio::msgpack::decode(&msg.payload, &self.connector.config.limits) {
                Ok((packet, attachments)) => self.on_packet(packet, attachments),
                Err(err) => {
                    tracing::debug!(%err, "socket.io: bad MessagePack packet");
                    self.fail();
                }
            }
            return;
        }
        if let Some(incomplete) = self.incomplete.as_mut() {
            if msg.kind != MessageKind::Binary {
                return self.fail();
            }
            match incomplete.attachments.push(msg.payload) {
                Ok(false) => {}
                Ok(true) => {
                    let Incomplete {
                        packet,
                        attachments,
                    } = self.incomplete.take().expect("checked above");
                    self.on_packet(packet, attachments.into_vec());
                }
                Err(_) => self.fail(),
            }
            return;
        }
        let Some(text) = msg.as_text() else {
            // A binary message nobody announced.
            return self.fail();
        };
        match Packet::decode(text, &self.connector.config.limits) {
            Ok(packet) if packet.attachments() > 0 => {
                self.incomplete = Some(Incomplete {
                    attachments: binary::Attachments::new(packet.attachments()),
                    packet,
                });
            }
            Ok(packet) => self.on_packet(packet, Vec::new()),
            Err(err) => {
                tracing::debug!(%err, "socket.io: bad packet");
                self.fail();
            }
        }
    }

    fn on_close(&mut self, closed: &Closed) {
        let reason = if closed.reason.is_empty() {
            "transport close"
        } else {
            closed.reason.as_str()
        };
        for socket in self.connector.link.drain() {
            events::close(&socket, reason);
        }
    }
}

/// Event data from a packet's arguments: one argument as itself (a lone binary one as
/// bytes), several as they came.
fn event_data(args: Box<RawValue>, attachments: Vec<bytes::Bytes>) -> EventData {
    let one = match serde_json::from_str::<Vec<&RawValue>>(args.get()) {
        Ok(items) if items.len() == 1 => Some(items[0].to_owned()),
        _ => None,
    };
    match (one, attachments.len()) {
        (Some(item), 0) => EventData::Json(item),
        (Some(item), 1) if binary::placeholder_num(&item) == Some(0) => {
            EventData::Binary(attachments.into_iter().next().expect("one attachment"))
        }
        _ => EventData::Args { args, attachments },
    }
}

/// Closes a connection that has not joined any namespace in time. The task ends as soon
/// as the connection joins one or closes, so a connected socket keeps no timer for it.
fn spawn_connect_timeout(link: Arc<Link>, mailbox: Arc<Mailbox>, timeout: Duration) {
    tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            () = mailbox.closing() => return,
            () = link.joined() => return,
        }
        if !link.joined_once() {
            mailbox.close(close::normal("connect timeout"));
        }
    });
}

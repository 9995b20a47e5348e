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

use super::recovery::SessionLink;
use super::wire::{AckReply, SocketIoWire};
use super::{Link, Namespaces, SocketIoConfig};
use crate::auth::{self, AuthError, Identity};
use crate::events::wire::Responder;
use crate::events::{self, Ack, Data, Handshake, Io, Socket};
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
    mailbox: Arc<Mailbox>,
    /// The request, shared with every socket of this connection.
    info: Arc<HandshakeInfo>,
    link: Arc<Link>,
    incomplete: Option<Incomplete>,
    config: SocketIoConfig,
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
            mailbox: session.mailbox.clone(),
            info: Arc::new(info),
            link,
            incomplete: None,
            config,
        }
    }

    fn fail(&mut self) {
        self.incomplete = None;
        self.mailbox.close(close::protocol_error("parse error"));
    }

    fn on_packet(&mut self, packet: Packet, attachments: Vec<bytes::Bytes>) {
        match packet {
            Packet::Connect { nsp, auth } => self.connect(nsp, auth),
            Packet::Disconnect { nsp } => {
                if let Some(socket) = self.link.take(&nsp) {
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
                let Some(socket) = self.link.get(&nsp) else {
                    return;
                };
                let Some(handler) = socket.handler(&name) else {
                    return;
                };
                let reply = id.map(|id| {
                    Box::new(AckReply {
                        nsp: socket.namespace().clone(),
                        id,
                    }) as Box<dyn Responder>
                });
                let ack = Ack::new(reply, socket.peer().clone());
                handler(&socket, Data::new(event_data(args, attachments)), ack);
            }
            Packet::Ack { nsp, id, args, .. } => {
                if let Some(socket) = self.link.get(&nsp) {
                    socket.resolve_ack(id, Data::new(event_data(args, attachments)));
                }
            }
            Packet::ConnectError { .. } => self.fail(),
        }
    }

    fn connect(&mut self, nsp: String, auth: Option<Box<RawValue>>) {
        let Some(io) = self.namespaces.get(&nsp) else {
            self.mailbox.push(Outbound::Message(socketio::connect_error(
                &nsp,
                "Invalid namespace",
                None,
            )));
            return;
        };
        if self.link.contains(&nsp) {
            return;
        }
        let identity = match self.identify(auth.as_deref()) {
            Ok(identity) => identity,
            Err(err) => {
                let message = match err {
                    AuthError::Missing => "token required",
                    _ => "invalid token",
                };
                let data = serde_json::value::to_raw_value(&err.to_json()).ok();
                self.mailbox.push(Outbound::Message(socketio::connect_error(
                    &nsp,
                    message,
                    data.as_deref(),
                )));
                return;
            }
        };
        let grant = auth::grant_for(self.config.auth.as_ref(), identity.as_ref());
        let handshake = Handshake::new(self.info.clone(), auth.map(Arc::from), grant.clone());
        if let Err(refused) = io.admit(&handshake) {
            let data = refused
                .data
                .as_ref()
                .and_then(|d| serde_json::value::to_raw_value(d).ok());
            self.mailbox.push(Outbound::Message(socketio::connect_error(
                &nsp,
                &refused.message,
                data.as_deref(),
            )));
            return;
        }
        let name = identity.as_ref().map(|id| Arc::from(id.nickname()));
        let sub = identity
            .as_ref()
            .map(|id| Arc::<str>::from(id.user_id.as_str()));
        let nsp: Arc<str> = Arc::from(nsp);
        let (socket, session) = match self.restore(&io, &nsp, &handshake, name.clone(), &sub) {
            Some(restored) => restored,
            None => self.start(&io, &nsp, handshake, name, sub),
        };
        if let Some(session) = session {
            session.set_socket(&socket);
        }
        if let Some(grant) = &grant {
            // At expiry the server disconnects the socket, as `socket.disconnect()` would.
            let weak = Arc::downgrade(&socket.inner);
            grant.arm(move || {
                if let Some(inner) = weak.upgrade() {
                    Socket { inner }.disconnect();
                }
            });
        }
        if socket.connected() {
            self.link.insert(nsp, socket);
        }
    }

    /// A new socket in `io` (with a new recovery session, if the server keeps them).
    fn start(
        &self,
        io: &Io,
        nsp: &Arc<str>,
        handshake: Handshake,
        name: Option<Arc<str>>,
        sub: Option<Arc<str>>,
    ) -> (Socket, Option<SessionLink>) {
        let peer = io.inner.ns.attach(self.mailbox.clone(), name);
        let session = self.config.recovery.as_ref().map(|recovery| {
            let session = recovery.create(nsp.clone(), peer.id(), sub);
            recovery.own(&session)
        });
        // The CONNECT answer goes first, before any handler can emit.
        let pid = session.as_ref().map(|s| s.pid().clone());
        peer.push(Outbound::Message(socketio::connect(
            nsp,
            &peer.id().to_string(),
            pid.as_deref(),
        )));
        let socket = io.open(peer, handshake, self.wire(nsp, session.clone(), false));
        (socket, session)
    }

    /// The socket a reconnecting client left, restored — same id, rooms, and every stored
    /// message it missed (see `recovery.rs`) — if its CONNECT claims a session it may have
    /// back and nothing it missed is lost.
    fn restore(
        &self,
        io: &Io,
        nsp: &Arc<str>,
        handshake: &Handshake,
        name: Option<Arc<str>>,
        sub: &Option<Arc<str>>,
    ) -> Option<(Socket, Option<SessionLink>)> {
        let recovery = self.config.recovery.as_ref()?;
        let claim = recovery.claim(handshake.auth.as_deref())?;
        let found = recovery.find(claim, nsp, sub.as_deref())?;
        // Taken only if the old socket is gone from the namespace (it may still be on its
        // way out): if not, the client starts afresh and the session waits as it was.
        let Some(peer) = io.inner.ns.attach_as(found.sid, self.mailbox.clone(), name) else {
            recovery.release(found);
            return None;
        };
        let connect = socketio::connect(nsp, &peer.id().to_string(), Some(found.pid()));
        let restored = recovery.publisher().restore(
            &io.inner.ns,
            &peer,
            &found.rooms,
            found.after_seq,
            recovery.max_replay(),
            || {
                peer.push(Outbound::Message(connect));
            },
        );
        let restored = match restored {
            Ok(Some(restored)) => restored,
            Ok(None) => {
                io.inner.ns.disconnect(&peer);
                recovery.forget(found);
                return None;
            }
            Err(err) => {
                // The store failed: the session is kept for a later try.
                tracing::warn!(%err, "socket.io: restoring a session failed");
                io.inner.ns.disconnect(&peer);
                recovery.release(found);
                return None;
            }
        };
        tracing::debug!(replayed = restored.replayed, "socket.io: session recovered");
        let session = recovery.own(found.session());
        let socket = io.open(
            peer,
            handshake.clone(),
            self.wire(nsp, Some(session.clone()), true),
        );
        Some((socket, Some(session)))
    }

    fn wire(
        &self,
        nsp: &Arc<str>,
        session: Option<SessionLink>,
        recovered: bool,
    ) -> Box<SocketIoWire> {
        Box::new(SocketIoWire {
            nsp: nsp.clone(),
            link: Arc::downgrade(&self.link),
            session,
            recovered,
        })
    }

    /// Who a CONNECT proves the client to be: its `auth.token` verified, else the
    /// handshake's identity (still unexpired), else anonymous if that is allowed.
    fn identify(&self, auth: Option<&RawValue>) -> Result<Option<Arc<Identity>>, AuthError> {
        let Some(checker) = &self.config.auth else {
            return Ok(None);
        };
        #[derive(serde::Deserialize)]
        struct AuthToken {
            token: Option<serde_json::Value>,
        }
        let token = auth
            .and_then(|raw| serde_json::from_str::<AuthToken>(raw.get()).ok())
            .and_then(|a| a.token);
        match token {
            Some(serde_json::Value::String(token)) if !token.is_empty() => {
                checker.verify(&token).map(|id| Some(Arc::new(id)))
            }
            // An empty or null token is no token.
            Some(serde_json::Value::String(_) | serde_json::Value::Null) | None => {
                match &self.info.identity {
                    Some(identity) if checker.verifier.expired(identity) => {
                        checker.count(&AuthError::Expired);
                        Err(AuthError::Expired)
                    }
                    Some(identity) => Ok(Some(identity.clone())),
                    None if checker.anonymous() => Ok(None),
                    None => {
                        checker.count(&AuthError::Missing);
                        Err(AuthError::Missing)
                    }
                }
            }
            Some(_) => {
                let err = AuthError::Malformed("`auth.token` must be a string".into());
                checker.count(&err);
                Err(err)
            }
        }
    }
}

impl Session for SocketIoConn {
    fn on_message(&mut self, msg: WsMessage) {
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
        match Packet::decode(text, &self.config.limits) {
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
        for socket in self.link.drain() {
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

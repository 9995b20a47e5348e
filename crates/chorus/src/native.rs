//! The native protocol session: one `/ws` client's commands carried out against the hub.
//!
//! Every command is decoded by `chorus_proto::native`, applied here, and answered on the
//! client's own queue — so a reply is ordered with the events around it. A bad frame gets
//! an error reply (or an `error` push when it has no request id) and the connection stays
//! usable.

use std::sync::Arc;

use chorus_core::{Broadcast, ConnId, Event, EventData, HubError, Outbound, PeerInfo, Target};
use chorus_proto::native::{self, push, Command, EmitTarget, ErrorCode, Limits, Rid};
use chorus_proto::{MessageKind, WsMessage};
use serde::Serialize;

use crate::io::{Ack, Data, Io, Reply, Socket};
use crate::transport::{Closed, Session};

/// A native-protocol connection.
pub(crate) struct NativeSession {
    pub(crate) io: Io,
    pub(crate) socket: Socket,
    pub(crate) limits: Limits,
    pub(crate) client_emits: bool,
}

#[derive(Serialize)]
struct MemberOut<'a> {
    id: String,
    name: &'a str,
    data: Option<&'a serde_json::value::RawValue>,
}

fn members_json(members: &[PeerInfo]) -> Vec<MemberOut<'_>> {
    members
        .iter()
        .map(|m| MemberOut {
            id: m.id.to_string(),
            name: &m.name,
            data: m.data.as_deref(),
        })
        .collect()
}

impl NativeSession {
    fn reply(&self, rid: Option<&Rid>, result: &impl Serialize) {
        if let Some(rid) = rid {
            self.socket
                .peer()
                .push(Outbound::Message(push::reply_ok(rid, result)));
        }
    }

    fn fail(&self, rid: Option<&Rid>, code: ErrorCode, message: &str) {
        let msg = match rid {
            Some(rid) => push::reply_err(rid, code, message),
            None => push::error(code, message),
        };
        self.socket.peer().push(Outbound::Message(msg));
    }

    fn fail_hub(&self, rid: Option<&Rid>, err: &HubError) {
        self.fail(rid, err.code(), &err.to_string());
    }

    fn handle(&mut self, cmd: Command) {
        let ns = &self.io.inner.ns;
        let peer = self.socket.peer().clone();
        match cmd {
            Command::Ack { ack, data } => self.socket.resolve_ack(ack, Data::new(data.into())),
            Command::Ping { rid } => self.reply(rid.as_ref(), &serde_json::json!({})),
            Command::Set { rid, name, data } => {
                let data = data.map(Arc::from);
                peer.set(name.map(Arc::from), data);
                ns.announce_update(&peer);
                self.reply(rid.as_ref(), &serde_json::json!({ "name": &*peer.name() }));
            }
            Command::Join { rid, room } => match ns.join(&peer, &room) {
                Ok(members) => self.reply(
                    rid.as_ref(),
                    &serde_json::json!({ "room": room, "members": members_json(&members) }),
                ),
                Err(err) => self.fail_hub(rid.as_ref(), &err),
            },
            Command::Leave { rid, room } => match ns.leave(&peer, &room) {
                Ok(()) => self.reply(rid.as_ref(), &serde_json::json!({ "room": room })),
                Err(err) => self.fail_hub(rid.as_ref(), &err),
            },
            Command::Presence { rid, room } => {
                if !peer.in_room(&room) {
                    return self.fail_hub(rid.as_ref(), &HubError::NotInRoom(room));
                }
                let members = ns.members(&room);
                self.reply(
                    rid.as_ref(),
                    &serde_json::json!({ "room": room, "members": members_json(&members) }),
                );
            }
            Command::Emit {
                rid,
                event,
                data,
                to: None,
            } => match self.socket.handler(&event) {
                Some(handler) => handler(
                    &self.socket,
                    Data::new(data.into()),
                    Ack::new(rid.map(Reply::Native), peer),
                ),
                None => self.fail(
                    rid.as_ref(),
                    ErrorCode::UnknownEvent,
                    &format!("no handler for event {event:?}; give `to` to send it to clients"),
                ),
            },
            Command::Emit {
                rid,
                event,
                data,
                to: Some(to),
            } => {
                if !self.client_emits {
                    return self.fail(
                        rid.as_ref(),
                        ErrorCode::Forbidden,
                        "this server does not let clients emit to other clients",
                    );
                }
                match self.emit(&event, data.into(), to) {
                    Ok(delivered) => {
                        self.reply(rid.as_ref(), &serde_json::json!({ "delivered": delivered }))
                    }
                    Err(err) => self.fail_hub(rid.as_ref(), &err),
                }
            }
        }
    }

    fn emit(&self, event: &str, data: EventData, to: EmitTarget) -> Result<usize, HubError> {
        let ns = &self.io.inner.ns;
        let me = self.socket.id();
        let (target, room) = match &to {
            EmitTarget::Room { room, except_self } => {
                if !self.socket.peer().in_room(room) {
                    return Err(HubError::NotInRoom(room.clone()));
                }
                (
                    Target::Room {
                        room,
                        except: except_self.then_some(me),
                    },
                    Some(Arc::<str>::from(room.as_str())),
                )
            }
            EmitTarget::All { except_self } => (
                Target::All {
                    except: except_self.then_some(me),
                },
                None,
            ),
            EmitTarget::Conn(id) => {
                let target = id
                    .parse::<ConnId>()
                    .ok()
                    .filter(|id| ns.peer(*id).is_some_and(|p| !p.is_closing()))
                    .ok_or_else(|| HubError::NoSuchConn(id.clone()))?;
                (Target::Conn(target), None)
            }
        };
        let event = Event {
            namespace: ns.name().clone(),
            name: Arc::from(event),
            data,
            room,
            from: Some(self.socket.sender()),
        };
        Ok(ns.broadcast(target, Outbound::Shared(Broadcast::event(event)), false))
    }
}

impl Session for NativeSession {
    fn on_message(&mut self, msg: WsMessage) {
        let decoded = match msg.kind {
            MessageKind::Text => match msg.as_text() {
                Some(text) => Command::decode_text(text, &self.limits),
                None => return,
            },
            MessageKind::Binary => Command::decode_binary(&msg.payload, &self.limits),
        };
        match decoded {
            Ok(cmd) => self.handle(cmd),
            Err(err) => self.fail(err.rid.as_ref(), err.code, &err.message),
        }
    }

    fn on_close(&mut self, closed: &Closed) {
        let reason = match (&closed.error, closed.by_server) {
            (Some(_), _) => "transport error",
            (None, true) => "server namespace disconnect",
            (None, false) => "client namespace disconnect",
        };
        self.io.close(&self.socket, reason);
    }
}

/// Decoder limits from the server configuration.
pub(crate) fn limits() -> Limits {
    native::Limits::default()
}

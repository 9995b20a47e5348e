//! The native protocol session: one `/ws` client's commands carried out against the hub.
//!
//! Every command is decoded by `chorus_proto::native`, applied here, and answered on the
//! client's own queue — so a reply is ordered with the events around it. A bad frame gets
//! an error reply (or an `error` push when it has no request id) and the connection stays
//! usable.
//!
//! A connection with a token ([`crate::auth`]) is held to it here: `join` and `history`
//! need the `join` claim to allow the room, `emit` to other clients the `publish` claim,
//! its name is the token's (`set` may change only its data), and `refresh` replaces the
//! token. Anything else is `forbidden`.

mod history;
mod wire;

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use chorus_core::{
    Broadcast, ConnId, Event, EventData, HubError, Outbound, PeerInfo, Publisher, StreamPos,
    Target, WireFormat,
};
use chorus_proto::native::{self, push, Command, EmitTarget, ErrorCode, Limits, Position, Rid};
use chorus_proto::{MessageKind, WsMessage};
use serde::Serialize;

use self::history::{history_json, position_json};
use self::wire::{NativeWire, Reply};
use crate::auth::{self, Grant};
use crate::events::wire::Responder;
use crate::events::{Ack, Data, Handshake, Io, Socket};
use crate::refusal::Refusal;
use crate::session::Context;
use crate::wire::handshake::{handshake, offered_protocols};
use crate::wire::{connection, Closed, HandshakeInfo, Session};

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

    /// The connection's token, if it has one.
    fn grant(&self) -> Option<&Arc<Grant>> {
        self.socket.handshake().grant.as_ref()
    }

    /// `Err(message)` if the token does not let the connection into `room`.
    fn check_join(&self, room: &str) -> Result<(), String> {
        match self.grant() {
            Some(grant) if !grant.may_join(room) => {
                Err(format!("your token does not allow joining room {room:?}"))
            }
            _ => Ok(()),
        }
    }

    /// `Err(message)` if the token does not let the connection send to `to`.
    fn check_publish(&self, to: &EmitTarget) -> Result<(), String> {
        let Some(grant) = self.grant() else {
            return Ok(());
        };
        match to {
            EmitTarget::Room { room, .. } if !grant.may_publish(room) => Err(format!(
                "your token does not allow publishing to room {room:?}"
            )),
            EmitTarget::All { .. } | EmitTarget::Conn(_) if !grant.may_publish_anywhere() => {
                Err("your token allows publishing to some rooms only, not to everyone or to one connection".into())
            }
            _ => Ok(()),
        }
    }

    fn refresh(&self, rid: Option<&Rid>, token: &str) {
        match self.socket.refresh(token) {
            Ok(refreshed) => self.reply(
                rid,
                &serde_json::json!({
                    "expires_at": refreshed.identity.expires_at_unix(),
                    "name": refreshed.identity.nickname(),
                    "left": refreshed.left.iter().map(|r| &**r).collect::<Vec<_>>(),
                }),
            ),
            Err(err) => self.fail(rid, err.code(), &err.to_string()),
        }
    }

    fn handle(&mut self, cmd: Command) {
        if let Command::Join { rid, room, .. } | Command::History { rid, room, .. } = &cmd {
            if let Err(why) = self.check_join(room) {
                return self.fail(rid.as_ref(), ErrorCode::Forbidden, &why);
            }
        }
        let ns = &self.io.inner.ns;
        let peer = self.socket.peer().clone();
        match cmd {
            Command::Ack { ack, data } => self.socket.resolve_ack(ack, Data::new(data.into())),
            Command::Ping { rid } => self.reply(rid.as_ref(), &serde_json::json!({})),
            Command::Refresh { rid, token } => self.refresh(rid.as_ref(), &token),
            Command::Set { rid, name, data } => {
                if name.is_some() && self.grant().is_some() {
                    return self.fail(
                        rid.as_ref(),
                        ErrorCode::Forbidden,
                        "the name of a connection with a token is the token's (`name` claim); `set` may change only `data`",
                    );
                }
                let data = data.map(Arc::from);
                peer.set(name.map(Arc::from), data);
                ns.announce_update(&peer);
                self.reply(rid.as_ref(), &serde_json::json!({ "name": &*peer.name() }));
            }
            Command::Join { rid, room, since } => match self.io.history_for(&room) {
                Some(publisher) => self.join_with_history(&publisher, rid, room, since),
                None => match ns.join(&peer, &room) {
                    Ok(members) => self.reply(
                        rid.as_ref(),
                        &serde_json::json!({ "room": room, "members": members_json(&members) }),
                    ),
                    Err(err) => self.fail_hub(rid.as_ref(), &err),
                },
            },
            Command::History {
                rid,
                room,
                after,
                limit,
            } => self.history(rid, room, after, limit),
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
                    Ack::new(
                        rid.map(|rid| Box::new(Reply(rid)) as Box<dyn Responder>),
                        peer,
                    ),
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
                if let Err(why) = self.check_publish(&to) {
                    return self.fail(rid.as_ref(), ErrorCode::Forbidden, &why);
                }
                match self.emit(&event, data.into(), to, rid.clone()) {
                    Ok(Some(delivered)) => {
                        self.reply(rid.as_ref(), &serde_json::json!({ "delivered": delivered }))
                    }
                    // Published to a room with history: the reply comes once it is stored.
                    Ok(None) => {}
                    Err(err) => self.fail_hub(rid.as_ref(), &err),
                }
            }
        }
    }

    /// A join in a room that keeps history goes through the publisher's gate, so the
    /// position in the reply is exactly where the client's live messages start, and a
    /// `since` replays what it missed before any of them.
    fn join_with_history(
        &self,
        publisher: &Arc<Publisher>,
        rid: Option<Rid>,
        room: String,
        since: Option<Position>,
    ) {
        let asked = since.is_some();
        let since = since.map(|p| StreamPos {
            epoch: Arc::from(p.epoch),
            offset: p.offset,
        });
        let room: Arc<str> = Arc::from(room);
        let limit = publisher.retention(&room).map_or(1000, |r| {
            usize::try_from(r.max_messages).unwrap_or(usize::MAX)
        });
        match publisher.join(&self.io.inner.ns, self.socket.peer(), &room, since, limit) {
            Ok(joined) => {
                let mut result = serde_json::json!({
                    "room": &*room,
                    "members": members_json(&joined.members),
                    "position": position_json(&joined.pos),
                });
                if asked {
                    result["recovered"] = joined.recovered.into();
                    result["replayed"] = joined.replayed.into();
                }
                self.reply(rid.as_ref(), &result);
            }
            Err(err) => self.fail_hub(rid.as_ref(), &err),
        }
    }

    /// Reads history off the connection's task (a store read may touch the disk).
    fn history(&self, rid: Option<Rid>, room: String, after: Option<Position>, limit: usize) {
        let Some(publisher) = self.io.history_for(&room) else {
            let empty = serde_json::json!({ "room": room, "events": [], "position": null, "truncated": false });
            return self.reply(rid.as_ref(), &empty);
        };
        let store = publisher.store().clone();
        let stream = chorus_core::publisher::stream_name(self.io.inner.ns.name(), &room);
        let peer = self.socket.peer().clone();
        tokio::task::spawn_blocking(move || {
            let page = match &after {
                Some(after) => store.read_after(&stream, Some(&after.epoch), after.offset, limit),
                None => store.read_last(&stream, limit),
            };
            let Some(rid) = rid else { return };
            let msg = match page {
                Ok(page) => push::reply_ok(&rid, &history_json(&room, &page)),
                Err(err) => push::reply_err(&rid, ErrorCode::Internal, &err.to_string()),
            };
            peer.push(Outbound::Message(msg));
        });
    }

    /// Sends an event; `Some(delivered)` when it went out at once and the caller replies,
    /// `None` when the reply to `rid` is sent with the delivery: by the publisher once the
    /// message is stored (a room with history), or once this client's earlier publishes
    /// are delivered (so its messages keep their order).
    fn emit(
        &self,
        event: &str,
        data: EventData,
        to: EmitTarget,
        rid: Option<Rid>,
    ) -> Result<Option<usize>, HubError> {
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
            pos: None,
            seq: 0,
            offset: None,
        };
        if let (Target::Room { room, except }, Some(publisher)) = (target, self.publisher_for(&to))
        {
            let peer = self.socket.peer().clone();
            publisher.publish(
                ns.clone(),
                Arc::from(room),
                event,
                except,
                Some(Box::new(move |published| {
                    let Some(rid) = rid else { return };
                    let msg = match published {
                        Ok(p) => push::reply_ok(
                            &rid,
                            &serde_json::json!({
                                "delivered": p.delivered,
                                "offset": p.pos.offset,
                                "epoch": &*p.pos.epoch,
                            }),
                        ),
                        Err(err) => push::reply_err(&rid, ErrorCode::Internal, &err.to_string()),
                    };
                    peer.push(Outbound::Message(msg));
                })),
            );
            return Ok(None);
        }
        let item = Outbound::Shared(Broadcast::event(event));
        let Some(publisher) = self.io.inner.publisher.clone() else {
            return Ok(Some(ns.broadcast(target, item, false)));
        };
        // After this client's publishes still being stored, never before them; the reply
        // goes out right after the delivery, wherever that runs.
        let owned = match target {
            Target::Room { room, except } => (Some(Arc::<str>::from(room)), except, None),
            Target::All { except } => (None, except, None),
            Target::Conn(id) => (None, None, Some(id)),
        };
        let (ns, peer) = (ns.clone(), self.socket.peer().clone());
        publisher.in_order(me, move || {
            let target = match (&owned.0, owned.2) {
                (_, Some(id)) => Target::Conn(id),
                (Some(room), None) => Target::Room {
                    room,
                    except: owned.1,
                },
                (None, None) => Target::All { except: owned.1 },
            };
            let delivered = ns.broadcast(target, item, false);
            if let Some(rid) = rid {
                let result = serde_json::json!({ "delivered": delivered });
                peer.push(Outbound::Message(push::reply_ok(&rid, &result)));
            }
        });
        Ok(None)
    }

    fn publisher_for(&self, to: &EmitTarget) -> Option<Arc<Publisher>> {
        match to {
            EmitTarget::Room { room, .. } => self.io.history_for(room),
            _ => None,
        }
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

/// Opens a native client at `/ws`: the handshake (with `chorus.v1` if offered), its token
/// and the namespace's middlewares, then the connection, greeted with `hello` before any
/// handler can emit.
pub(crate) fn accept(ctx: &Context, io: &Io, req: Request) -> Response {
    let offered = offered_protocols(req.headers());
    let protocol = offered
        .iter()
        .find(|p| p.as_str() == native::SUBPROTOCOL)
        .cloned();
    let mut grant = None;
    let admit = |info: &mut HandshakeInfo| {
        ctx.authenticate(info, false)?;
        grant = auth::grant_for(ctx.auth.as_ref(), info.identity.as_ref());
        io.admit(&Handshake::new(Arc::new(info.clone()), None, grant.clone()))
            .map_err(|err| Refusal::Refused(err.message))
    };
    let (response, upgraded, info) = match handshake::<Refusal>(req, protocol, &ctx.config, admit) {
        Ok(accepted) => accepted,
        Err(refused) => return ctx.refuse(refused),
    };
    // A token's name wins over `?name=`: the token is what the server trusts.
    let name = match &info.identity {
        Some(identity) => Some(Arc::from(identity.nickname())),
        None => info
            .query("name")
            .and_then(|n| native::command::check_name(&n, &limits()).ok())
            .map(Arc::from),
    };
    let (peer, queue) = io.inner.ns.connect(WireFormat::Native, name);
    if let Some(grant) = &grant {
        grant.arm(auth::close_on_expiry(peer.mailbox()));
    }
    // The greeting goes first, before any handler can emit.
    peer.push(Outbound::Message(push::hello(
        &peer.id().to_string(),
        &peer.name(),
        concat!("chorus/", env!("CARGO_PKG_VERSION")),
    )));
    let socket = io.open(
        peer,
        Handshake::new(Arc::new(info), None, grant),
        Box::new(NativeWire),
    );
    // Boxed: inline, it would take the connection's task past its budget.
    let session = Box::new(NativeSession {
        io: io.clone(),
        socket,
        limits: limits(),
        client_emits: ctx.config.client_emits,
    });
    connection::spawn(upgraded, queue, session, ctx.transport());
    response
}

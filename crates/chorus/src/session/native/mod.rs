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
//!
//! With hooks to the application's backend that decide joins or publishes, every command
//! goes through the connection's [`Lane`] and is carried out once the backend said yes —
//! in the order the client sent them; a `no` is a `forbidden` reply with the backend's
//! reason, no answer an `unavailable` one (or what `on_failure` says).

pub(crate) mod format;
pub(crate) mod history;
mod wire;

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use chorus_core::{
    Access, Action, Audience, Client, Code, ConnId, EventData, HubError, JoinDone, Outbound,
    PeerInfo, Publish, Receipt, Replay, StreamPos,
};
use chorus_proto::native::{self, push, Command, EmitTarget, ErrorCode, Limits, Position, Rid};
use chorus_proto::{MessageKind, WsMessage};
use serde::Serialize;

use self::format::{event_data, native};
use self::history::{history_json, position_json};
use self::wire::{NativeWire, Reply};
use crate::auth::{self, Grant};
use crate::config::HookAsk;
use crate::events::wire::Responder;
use crate::events::{Ack, Data, Handshake, Io, Socket};
use crate::hooks::{Asker, Destination, Hooks, Lane, Verdict};
use crate::refusal::Refusal;
use crate::session::Context;
use crate::wire::handshake::{handshake, offered_protocols};
use crate::wire::{connection, Closed, HandshakeInfo, Session};

/// A native-protocol connection.
#[derive(Clone)]
pub(crate) struct NativeSession {
    pub(crate) io: Io,
    pub(crate) socket: Socket,
    /// The connection and its token's rights, as the hub checks what it asks for.
    pub(crate) client: Client,
    pub(crate) limits: Limits,
    /// The hooks, when the backend decides joins or publishes.
    pub(crate) hooks: Option<Arc<Hooks>>,
    /// The connection's ordered way through the backend, made by its first command.
    pub(crate) lane: Option<Lane>,
}

/// The native protocol's error code for a hub refusal (the same names).
fn error_code(code: Code) -> ErrorCode {
    match code {
        Code::Forbidden => ErrorCode::Forbidden,
        Code::NotInRoom => ErrorCode::NotInRoom,
        Code::NoSuchConn => ErrorCode::NoSuchConn,
        Code::TooManyRooms => ErrorCode::TooManyRooms,
        Code::Internal => ErrorCode::Internal,
    }
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
        self.fail(rid, error_code(err.code()), &err.to_string());
    }

    /// The connection's token, if it has one.
    fn grant(&self) -> Option<&Arc<Grant>> {
        self.socket.handshake().grant.as_ref()
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

    /// Carries `cmd` out once the backend allowed it (a join, a history read, an emit to
    /// clients; anything else waits only for the commands before it).
    fn through_backend(&mut self, hooks: Arc<Hooks>, cmd: Command) {
        let rid = match &cmd {
            // An answer to the server, and a token's refresh (which must not wait behind
            // slow questions past the old token's expiry), go at once.
            Command::Ack { .. } | Command::Refresh { .. } => return self.handle(cmd),
            Command::Ping { rid }
            | Command::Set { rid, .. }
            | Command::Join { rid, .. }
            | Command::History { rid, .. }
            | Command::Leave { rid, .. }
            | Command::Presence { rid, .. }
            | Command::Emit { rid, .. } => rid.clone(),
        };
        // What the server refuses by itself (the token, the policy) is refused before the
        // backend is asked.
        if let Some(err) = self.refused_here(&cmd) {
            return self.fail_hub(rid.as_ref(), &err);
        }
        let mut me = self.clone();
        me.lane = None;
        let asked = rid.clone();
        let counter = hooks.clone();
        let job = async move {
            let rid = asked;
            let user = me.io.inner.ns.user_of(me.socket.id());
            let conn = me.socket.id().to_string();
            let asker = Asker {
                protocol: "native",
                namespace: me.io.name(),
                conn: &conn,
                user: user.as_deref(),
            };
            let verdict = match &cmd {
                Command::Join { room, .. } | Command::History { room, .. }
                    if hooks.asks(HookAsk::Join) =>
                {
                    Some(hooks.join(asker, room).await)
                }
                Command::Emit {
                    to: Some(to),
                    event,
                    data,
                    ..
                } if hooks.asks(HookAsk::Publish) => {
                    let to = match to {
                        EmitTarget::Room { room, .. } => Destination::Room(room),
                        EmitTarget::All { .. } => Destination::All(true),
                        EmitTarget::Conn(id) => Destination::Conn(id),
                    };
                    let data = event_data(data.clone());
                    Some(hooks.publish(asker, to, Some(event), &data).await)
                }
                _ => None,
            };
            // The connection may have closed while the backend thought.
            if !me.socket.connected() {
                return;
            }
            match verdict {
                None | Some(Verdict::Allow(_)) => me.handle(cmd),
                Some(Verdict::Deny(reason)) => me.fail(rid.as_ref(), ErrorCode::Forbidden, &reason),
                Some(Verdict::Unavailable) => me.fail(
                    rid.as_ref(),
                    ErrorCode::Unavailable,
                    "the application's backend did not answer; try again",
                ),
            }
        };
        let lane = self.lane.get_or_insert_with(Lane::default);
        if lane.run(job).is_err() {
            counter.busy();
            self.fail(
                rid.as_ref(),
                ErrorCode::Unavailable,
                "too many requests are waiting for the application's backend",
            );
        }
    }

    /// The server's own refusal of `cmd` (its token's rights, `client_emits`), if any.
    fn refused_here(&self, cmd: &Command) -> Option<HubError> {
        let ns = &self.io.inner.ns;
        match cmd {
            Command::Join { room, .. } | Command::History { room, .. } => {
                ns.permit(&self.client, Action::Join(room)).err()
            }
            Command::Emit { to: Some(to), .. } => {
                let room: Arc<str>;
                let audience = match to {
                    EmitTarget::Room { room: name, .. } => {
                        room = Arc::from(name.as_str());
                        Audience::Room(&room)
                    }
                    EmitTarget::All { .. } => Audience::Everyone,
                    EmitTarget::Conn(id) => Audience::Conn(id.parse::<ConnId>().ok()?),
                };
                ns.permit(&self.client, Action::Publish(&audience)).err()
            }
            _ => None,
        }
    }

    fn handle(&mut self, cmd: Command) {
        if let Command::Join { rid, room, .. } | Command::History { rid, room, .. } = &cmd {
            if let Err(err) = self.io.inner.ns.permit(&self.client, Action::Join(room)) {
                return self.fail_hub(rid.as_ref(), &err);
            }
        }
        let ns = &self.io.inner.ns;
        let peer = self.socket.peer().clone();
        match cmd {
            Command::Ack { ack, data } => self.socket.resolve_ack(ack, Data::new(event_data(data))),
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
            Command::Join { rid, room, since } => self.join(rid, room, since),
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
            } => {
                let data = Data::new(event_data(data));
                self.socket.heard(&event, &data);
                match self.socket.handler(&event) {
                    Some(handler) => handler(
                        &self.socket,
                        data,
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
                }
            }
            Command::Emit {
                rid,
                event,
                data,
                to: Some(to),
            } => self.emit(&event, event_data(data), to, rid),
        }
    }

    /// Joins a room in order with its stream: in a room that keeps history the reply's
    /// position is exactly where the client's live messages start, and a `since` replays
    /// what it missed before any of them. The reply comes once the join is done (at once,
    /// or after a store read off this task); a message the client sends to the room
    /// meanwhile is not refused.
    fn join(&self, rid: Option<Rid>, room: String, since: Option<Position>) {
        let asked = since.is_some();
        let replay = match since {
            Some(since) => Replay::After {
                limit: self.io.history_for(&room).map_or(1000, |publisher| {
                    publisher.retention(&room).map_or(1000, |r| {
                        usize::try_from(r.max_messages).unwrap_or(usize::MAX)
                    })
                }),
                since: StreamPos {
                    epoch: Arc::from(since.epoch),
                    offset: since.offset,
                },
            },
            None => Replay::None,
        };
        let peer = self.socket.peer().clone();
        let name = room.clone();
        let done: JoinDone = Box::new(move |joined| {
            let Some(rid) = rid else { return };
            let msg = match joined {
                Ok(joined) => {
                    let mut result = serde_json::json!({
                        "room": room,
                        "members": members_json(&joined.members),
                    });
                    if let Some(pos) = &joined.pos {
                        result["position"] = position_json(pos);
                        if asked {
                            result["recovered"] = joined.recovered.into();
                            result["replayed"] = joined.replayed.into();
                        }
                    }
                    push::reply_ok(&rid, &result)
                }
                Err(err) => push::reply_err(&rid, error_code(err.code()), &err.to_string()),
            };
            peer.push(Outbound::Message(msg));
        });
        let ns = &self.io.inner.ns;
        ns.join_ordered(self.socket.peer(), &name, replay, true, done);
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

    /// Sends an event to other clients, on this client's behalf: the hub checks its rights
    /// and replies once the event went out — at once, or once stored in a room with
    /// history (acknowledged means recoverable), or after this client's messages still
    /// being stored (its order is kept).
    fn emit(&self, event: &str, data: EventData, to: EmitTarget, rid: Option<Rid>) {
        let me = self.socket.id();
        let room: Arc<str>;
        let (audience, except) = match &to {
            EmitTarget::Room {
                room: name,
                except_self,
            } => {
                room = Arc::from(name.as_str());
                (Audience::Room(&room), except_self.then_some(me))
            }
            EmitTarget::All { except_self } => (Audience::Everyone, except_self.then_some(me)),
            EmitTarget::Conn(id) => match id.parse::<ConnId>() {
                Ok(id) => (Audience::Conn(id), None),
                Err(_) => return self.fail_hub(rid.as_ref(), &HubError::NoSuchConn(id.clone())),
            },
        };
        let mut publish = Publish::event(event, data, audience);
        publish.except = except;
        publish.from = Some(self.socket.peer());
        publish.client = Some(&self.client);
        let ns = &self.io.inner.ns;
        let Some(rid) = rid else {
            if let Err(err) = ns.publish(publish, None) {
                self.fail_hub(None, &err);
            }
            return;
        };
        let peer = self.socket.peer().clone();
        ns.publish_then(publish, move |receipt: Result<Receipt, HubError>| {
            let msg = match receipt {
                Ok(Receipt {
                    delivered,
                    pos: Some(pos),
                }) => push::reply_ok(
                    &rid,
                    &serde_json::json!({
                        "delivered": delivered,
                        "offset": pos.offset,
                        "epoch": &*pos.epoch,
                    }),
                ),
                Ok(Receipt {
                    delivered,
                    pos: None,
                }) => push::reply_ok(&rid, &serde_json::json!({ "delivered": delivered })),
                Err(err) => push::reply_err(&rid, error_code(err.code()), &err.to_string()),
            };
            peer.push(Outbound::Message(msg));
        });
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
            Ok(cmd) => match self.hooks.clone() {
                Some(hooks) => self.through_backend(hooks, cmd),
                None => self.handle(cmd),
            },
            Err(err) => self.fail(err.rid.as_ref(), err.code, &err.message),
        }
    }

    fn on_close(&mut self, closed: &Closed) {
        if let Some(lane) = &self.lane {
            lane.close();
        }
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

/// Opens a native client at `/ws`: the handshake (with `chorus.v1` if offered), its token,
/// the namespace's middlewares and the backend's connect hook, then the connection,
/// greeted with `hello` before any handler can emit.
pub(crate) async fn accept(ctx: &Context, io: &Io, req: Request) -> Response {
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
    let who = match crate::hooks::connect(ctx.hooks.as_ref(), "native", io.name(), &info).await {
        Ok(who) => who,
        Err(refused) => return ctx.refuse(refused),
    };
    // A token's name wins over the backend's, and that over `?name=`: the token is what
    // the server trusts most.
    let name = match &info.identity {
        Some(identity) => Some(Arc::from(identity.nickname())),
        None => who.name.clone().or_else(|| {
            info.query("name")
                .and_then(|n| native::command::check_name(&n, &limits()).ok())
                .map(Arc::from)
        }),
    };
    let (peer, queue) = io.inner.ns.connect(native(), name);
    let user = info
        .identity
        .as_ref()
        .map(|id| &*id.user_id)
        .or(who.user.as_deref());
    if let Some(user) = user {
        io.inner.ns.set_user(&peer, user);
    }
    if let Some(data) = who.data {
        peer.set(None, Some(data));
    }
    if let Some(grant) = &grant {
        grant.arm(auth::close_on_expiry(peer.mailbox()));
    }
    // The greeting goes first, before any handler can emit.
    peer.push(Outbound::Message(push::hello(
        &peer.id().to_string(),
        &peer.name(),
        concat!("chorus/", env!("CARGO_PKG_VERSION")),
    )));
    let access = grant.clone().map(|grant| grant as Arc<dyn Access>);
    let client = Client {
        peer: peer.clone(),
        access,
    };
    let socket = io.open(
        peer,
        Handshake::new(Arc::new(info), None, grant),
        Box::new(NativeWire),
    );
    // Boxed: inline, it would take the connection's task past its budget.
    let session = Box::new(NativeSession {
        io: io.clone(),
        socket,
        client,
        limits: limits(),
        hooks: ctx
            .hooks
            .clone()
            .filter(|hooks| hooks.asks(HookAsk::Join) || hooks.asks(HookAsk::Publish)),
        lane: None,
    });
    connection::spawn(
        upgraded,
        queue,
        session,
        ctx.transport(crate::metrics::Protocol::Native),
    );
    response
}

//! Raw rooms: every path `chorus serve` does not claim is a room, and every message a
//! client sends there goes to everyone in it — the sender too, unless `echo_to_sender` is
//! off — with the binary flag kept. The seeds' own pages work against it unchanged.
//!
//! A room named in `raw_room_history` keeps its messages (stored before they go out, like
//! any room with history) and gives a client that enters it its last `raw_room_replay`
//! messages first, as plain messages: the join is ordered with the room's stream (its store
//! read made off the connection's task), before the `101`, so nothing said after the
//! client sees its socket open can miss it, and nothing is seen twice.
//!
//! With hooks to the application's backend, a client is let in once the backend allowed
//! its connect and its join of the room (the path), and each message it sends goes to the
//! room once the backend allowed the publish, in the order sent. A raw client has no way
//! to be told a message was refused: a refused one is dropped (and counted at `/metrics`).

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use chorus_core::{
    Access, Audience, Body, Client, EventData, HubError, JoinDone, Namespace, Publish, Replay,
};
use chorus_proto::WsMessage;

use super::format::raw;
use crate::auth;
use crate::config::HookAsk;
use crate::hooks::{self, Allowed, Asker, Destination, Hooks, Lane, Verdict};
use crate::refusal::Refusal;
use crate::session::Context;
use crate::wire::handshake::{handshake, offered_protocols};
use crate::wire::{close, connection, Closed, HandshakeInfo, Session};

/// The raw rooms of a server: their namespace (whose policy names the rooms that keep
/// history, `raw_room_history`).
#[derive(Debug, Clone)]
pub(crate) struct RawRooms {
    pub(crate) ns: Arc<Namespace>,
    /// What every connection shares.
    shared: Arc<Shared>,
}

/// What every raw room connection shares: one pointer in each, not three (every
/// connection's task pays for its session's size).
#[derive(Debug)]
pub(crate) struct Shared {
    ns: Arc<Namespace>,
    echo_to_sender: bool,
    /// The hooks, when the backend decides publishes.
    hooks: Option<Arc<Hooks>>,
}

impl RawRooms {
    pub(crate) fn new(ns: Arc<Namespace>, echo_to_sender: bool, hooks: Option<Arc<Hooks>>) -> Self {
        let hooks = hooks.filter(|hooks| hooks.asks(HookAsk::Publish));
        let shared = Arc::new(Shared {
            ns: ns.clone(),
            echo_to_sender,
            hooks,
        });
        Self { ns, shared }
    }

    /// Opens a client of the room its path names: the handshake, its token (which must
    /// allow joining the room), then the connection, already a member.
    pub(crate) async fn accept(&self, ctx: &Context, req: Request) -> Response {
        let protocol = offered_protocols(req.headers()).into_iter().next();
        let ns = &self.ns;
        let mut grant = None;
        let admit = |info: &mut HandshakeInfo| {
            ctx.authenticate(info, false)?;
            grant = auth::grant_for(ctx.auth.as_ref(), info.identity.as_ref());
            let access = grant.as_deref().map(|grant| grant as &dyn Access);
            ns.permit_join(access, info.uri.path())
                .map_err(|err| Refusal::Forbidden(err.to_string()))
        };
        let (response, upgraded, info) =
            match handshake::<Refusal>(req, protocol, &ctx.config, admit) {
                Ok(accepted) => accepted,
                Err(refused) => return ctx.refuse(refused),
            };
        let who = match self.ask(ctx, &info).await {
            Ok(who) => who,
            Err(refused) => return ctx.refuse(refused),
        };
        let name = match &info.identity {
            Some(identity) => Some(Arc::from(identity.nickname())),
            None => who.name.clone(),
        };
        let (peer, queue) = ns.connect(raw(), name);
        let user = info
            .identity
            .as_ref()
            .map(|id| &*id.user_id)
            .or(who.user.as_deref());
        if let Some(user) = user {
            ns.set_user(&peer, user);
        }
        if let Some(data) = who.data {
            peer.set(None, Some(data));
        }
        if let Some(grant) = &grant {
            grant.arm(auth::close_on_expiry(peer.mailbox()));
        }
        let client = Client {
            peer,
            access: grant.clone().map(|grant| grant as Arc<dyn Access>),
        };
        let peer = &client.peer;
        let room: Arc<str> = Arc::from(info.uri.path());
        // In a room with history its last messages first, then live: the join is ordered
        // with the room's stream, its store read made off this task. Done before the
        // `101`, so nothing said after the client sees its socket open can miss it.
        let (joined, join) = tokio::sync::oneshot::channel();
        let replay = Replay::Last(ctx.config.raw_room_replay);
        let done: JoinDone = Box::new(move |result| drop(joined.send(result)));
        ns.join_ordered(peer, &room, replay, false, done);
        match join.await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(%err, "raw room join failed"),
            Err(_) => tracing::warn!("raw room join failed: the publisher has stopped"),
        }
        // The room's own copy of its name, rather than one more per connection.
        let room = peer.room(&room).unwrap_or(room);
        tracing::debug!(id = %peer.id(), %room, addr = ?info.remote_addr, "raw client joined");
        let session = RoomSession {
            shared: self.shared.clone(),
            client,
            room,
            lane: None,
        };
        connection::spawn(
            upgraded,
            queue,
            session,
            ctx.transport(crate::metrics::Protocol::Raw),
        );
        response
    }

    /// The backend's connect hook, then its join hook for the room (the path): who the
    /// client is, or the refusal to answer with.
    async fn ask(&self, ctx: &Context, info: &HandshakeInfo) -> Result<Allowed, Refusal> {
        let who = hooks::connect(ctx.hooks.as_ref(), "raw", self.ns.name(), info).await?;
        let Some(hooks) = ctx.hooks.as_ref().filter(|hooks| hooks.asks(HookAsk::Join)) else {
            return Ok(who);
        };
        let user = info
            .identity
            .as_ref()
            .map(|id| &*id.user_id)
            .or(who.user.as_deref());
        // Not a connection yet: the backend knows it by the room and the user.
        let asker = Asker {
            protocol: "raw",
            namespace: self.ns.name(),
            conn: "",
            user,
        };
        match hooks.join(asker, info.uri.path()).await {
            Verdict::Allow(_) => Ok(who),
            Verdict::Deny(reason) => Err(Refusal::Refused(reason)),
            Verdict::Unavailable => Err(Refusal::Unavailable),
        }
    }
}

/// A connection in a raw room: every message goes to the room.
pub(crate) struct RoomSession {
    pub(crate) shared: Arc<Shared>,
    /// The connection, and what its token lets it do (held for the connection's life: the
    /// token keeps its place in the expiry clock).
    pub(crate) client: Client,
    pub(crate) room: Arc<str>,
    /// Its way through the backend, when the backend decides publishes: made by its first
    /// message.
    pub(crate) lane: Option<Lane>,
}

impl RoomSession {
    /// Sends `msg` to the room once the backend allowed it; dropped if it did not.
    fn through_backend(&self, hooks: &Arc<Hooks>, lane: &Lane, msg: WsMessage) {
        let hooks = hooks.clone();
        let (shared, client, room) = (self.shared.clone(), self.client.clone(), self.room.clone());
        let job = async move {
            let data = match msg.as_text() {
                Some(text) => EventData::json(&text).unwrap_or_else(|_| EventData::null()),
                None => EventData::Binary(msg.payload.clone()),
            };
            let ns = &shared.ns;
            let user = ns.user_of(client.peer.id());
            let conn = client.peer.id().to_string();
            let asker = Asker {
                protocol: "raw",
                namespace: ns.name(),
                conn: &conn,
                user: user.as_deref(),
            };
            match hooks
                .publish(asker, Destination::Room(&room), None, &data)
                .await
            {
                Verdict::Allow(_) => publish(&shared, &client, &room, msg),
                refused => {
                    tracing::debug!(conn, %room, ?refused, "raw message refused by the backend: dropped")
                }
            }
        };
        if lane.run(job).is_err() {
            self.shared.hooks.as_ref().inspect(|hooks| hooks.busy());
            tracing::debug!(room = %self.room, "raw message dropped: too many waiting for the backend");
        }
    }
}

/// Sends a raw client's message to its room.
fn publish(shared: &Shared, client: &Client, room: &Arc<str>, msg: WsMessage) {
    let (ns, echo_to_sender) = (&shared.ns, shared.echo_to_sender);
    let peer = &client.peer;
    let mut publish = Publish::new(Body::Frame(msg), Audience::Room(room));
    publish.except = (!echo_to_sender).then(|| peer.id());
    publish.from = Some(peer);
    publish.client = Some(client);
    // Stored first in a room with history, then delivered in the room's order.
    if let Err(err) = ns.publish(publish, None) {
        // 1008, policy violation: the client broke the terms of its token. Closing
        // rather than dropping silently tells a misconfigured client at once.
        if !matches!(err, HubError::Store(_)) {
            peer.close(close::forbidden(err.to_string()));
        }
    }
}

impl Session for RoomSession {
    fn on_message(&mut self, msg: WsMessage) {
        if let Some(hooks) = self.shared.hooks.clone() {
            let lane = self.lane.get_or_insert_with(Lane::default).clone();
            return self.through_backend(&hooks, &lane, msg);
        }
        publish(&self.shared, &self.client, &self.room, msg);
    }

    fn on_close(&mut self, closed: &Closed) {
        if let Some(lane) = &self.lane {
            lane.close();
        }
        let peer = &self.client.peer;
        tracing::debug!(id = %peer.id(), room = %self.room, code = ?closed.code, "raw client left");
        self.shared.ns.disconnect(peer);
    }
}

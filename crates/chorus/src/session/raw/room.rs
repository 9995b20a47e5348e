//! Raw rooms: every path `chorus serve` does not claim is a room, and every message a
//! client sends there goes to everyone in it — the sender too, unless `echo_to_sender` is
//! off — with the binary flag kept. The seeds' own pages work against it unchanged.
//!
//! A room named in `raw_room_history` keeps its messages (stored before they go out, like
//! any room with history) and gives a client that enters it its last `raw_room_replay`
//! messages first, as plain messages: the join is ordered with the room's stream (its store
//! read made off the connection's task), before the `101`, so nothing said after the
//! client sees its socket open can miss it, and nothing is seen twice.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use chorus_core::{Access, Audience, Body, Client, HubError, JoinDone, Namespace, Publish, Replay};
use chorus_proto::WsMessage;

use super::format::raw;
use crate::auth;
use crate::refusal::Refusal;
use crate::session::Context;
use crate::wire::handshake::{handshake, offered_protocols};
use crate::wire::{close, connection, Closed, HandshakeInfo, Session};

/// The raw rooms of a server: their namespace (whose policy names the rooms that keep
/// history, `raw_room_history`).
#[derive(Debug, Clone)]
pub(crate) struct RawRooms {
    pub(crate) ns: Arc<Namespace>,
}

impl RawRooms {
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
        let name = info.identity.as_ref().map(|id| Arc::from(id.nickname()));
        let (peer, queue) = ns.connect(raw(), name);
        if let Some(identity) = &info.identity {
            ns.set_user(&peer, &identity.user_id);
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
            ns: ns.clone(),
            client,
            room,
            echo_to_sender: ctx.config.echo_to_sender,
        };
        connection::spawn(upgraded, queue, session, ctx.transport());
        response
    }
}

/// A connection in a raw room: every message goes to the room.
pub(crate) struct RoomSession {
    pub(crate) ns: Arc<Namespace>,
    /// The connection, and what its token lets it do (held for the connection's life: the
    /// token keeps its place in the expiry clock).
    pub(crate) client: Client,
    pub(crate) room: Arc<str>,
    pub(crate) echo_to_sender: bool,
}

impl Session for RoomSession {
    fn on_message(&mut self, msg: WsMessage) {
        let peer = &self.client.peer;
        let mut publish = Publish::new(Body::Frame(msg), Audience::Room(&self.room));
        publish.except = (!self.echo_to_sender).then(|| peer.id());
        publish.from = Some(peer);
        publish.client = Some(&self.client);
        // Stored first in a room with history, then delivered in the room's order.
        if let Err(err) = self.ns.publish(publish, None) {
            // 1008, policy violation: the client broke the terms of its token. Closing
            // rather than dropping silently tells a misconfigured client at once.
            if !matches!(err, HubError::Store(_)) {
                peer.close(close::forbidden(err.to_string()));
            }
        }
    }

    fn on_close(&mut self, closed: &Closed) {
        let peer = &self.client.peer;
        tracing::debug!(id = %peer.id(), room = %self.room, code = ?closed.code, "raw client left");
        self.ns.disconnect(peer);
    }
}

//! Raw rooms: every path `chorus serve` does not claim is a room, and every message a
//! client sends there goes to everyone in it — the sender too, unless `echo_to_sender` is
//! off — with the binary flag kept. The seeds' own pages work against it unchanged.
//!
//! A room named in `raw_room_history` keeps its messages (stored before they go out, like
//! any room with history) and gives a client that enters it its last `raw_room_replay`
//! messages first, as plain messages: the join is ordered with the room's stream under the
//! publisher's gate, before the `101`, so nothing said after the client sees its socket
//! open can miss it, and nothing is seen twice.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use chorus_core::{Event, Namespace, Outbound, Peer, Publisher, SenderInfo, Target, WireFormat};
use chorus_proto::WsMessage;

use crate::auth::{self, Grant};
use crate::refusal::Refusal;
use crate::session::Context;
use crate::wire::handshake::{handshake, offered_protocols};
use crate::wire::{close, connection, Closed, HandshakeInfo, Session};

/// The raw rooms of a server: their namespace, and where rooms with history are stored.
#[derive(Debug, Clone)]
pub(crate) struct RawRooms {
    pub(crate) ns: Arc<Namespace>,
    pub(crate) publisher: Option<Arc<Publisher>>,
}

impl RawRooms {
    /// The publisher, if raw room `room` keeps history (`raw_room_history` names it and
    /// its retention keeps messages).
    fn history(&self, ctx: &Context, room: &str) -> Option<Arc<Publisher>> {
        self.publisher.clone().filter(|publisher| {
            ctx.config
                .raw_room_history
                .iter()
                .any(|pattern| chorus_core::history::glob(pattern, room))
                && publisher.retention(room).is_some()
        })
    }

    /// Opens a client of the room its path names: the handshake, its token (which must
    /// allow joining the room), then the connection, already a member.
    pub(crate) fn accept(&self, ctx: &Context, req: Request) -> Response {
        let protocol = offered_protocols(req.headers()).into_iter().next();
        let admit = |info: &mut HandshakeInfo| {
            ctx.authenticate(info, false)?;
            match &info.identity {
                Some(identity) if !identity.join.allows(info.uri.path()) => {
                    Err(Refusal::Forbidden(format!(
                        "your token does not allow joining room {:?}",
                        info.uri.path()
                    )))
                }
                _ => Ok(()),
            }
        };
        let (response, upgraded, info) =
            match handshake::<Refusal>(req, protocol, &ctx.config, admit) {
                Ok(accepted) => accepted,
                Err(refused) => return ctx.refuse(refused),
            };
        let ns = self.ns.clone();
        let room: Arc<str> = Arc::from(info.uri.path());
        let name = info.identity.as_ref().map(|id| Arc::from(id.nickname()));
        let may_publish = info
            .identity
            .as_ref()
            .is_none_or(|identity| identity.publish.allows(&room));
        let grant = auth::grant_for(ctx.auth.as_ref(), info.identity.as_ref());
        let (peer, queue) = ns.connect(WireFormat::Raw, name);
        if let Some(grant) = &grant {
            grant.arm(auth::close_on_expiry(peer.mailbox()));
        }
        let history = self.history(ctx, &room);
        let joined = match &history {
            // Its last messages first, then live: the join is ordered with the room's
            // stream under the publisher's gate.
            Some(publisher) => {
                let replay = ctx.config.raw_room_replay;
                publisher.join_last(&ns, &peer, &room, replay).map(drop)
            }
            None => ns.enter(&peer, &room).map(drop),
        };
        if let Err(err) = joined {
            tracing::warn!(%err, "raw room join failed");
        }
        // The room's own copy of its name, rather than one more per connection.
        let room = peer.room(&room).unwrap_or(room);
        tracing::debug!(id = %peer.id(), %room, addr = ?info.remote_addr, "raw client joined");
        let session = RoomSession {
            ns,
            peer,
            room,
            echo_to_sender: ctx.config.echo_to_sender,
            may_publish,
            history,
            _grant: grant,
        };
        connection::spawn(upgraded, queue, session, ctx.transport());
        response
    }
}

/// A connection in a raw room: every message goes to the room.
pub(crate) struct RoomSession {
    pub(crate) ns: Arc<Namespace>,
    pub(crate) peer: Arc<Peer>,
    pub(crate) room: Arc<str>,
    pub(crate) echo_to_sender: bool,
    /// Whether the client's token lets it publish to the room (decided once: a raw client
    /// cannot refresh its token). One that may not is closed at its first message.
    pub(crate) may_publish: bool,
    /// Held for the connection's life: it keeps its place in the expiry clock.
    pub(crate) _grant: Option<Arc<Grant>>,
    /// Where the room's messages are stored first, if it keeps history
    /// (`raw_room_history`).
    pub(crate) history: Option<Arc<Publisher>>,
}

/// Why a raw-room client that may only listen is closed when it sends.
const READ_ONLY_CLOSE: &str = "your token does not allow publishing to this room";

impl Session for RoomSession {
    fn on_message(&mut self, msg: WsMessage) {
        if !self.may_publish {
            // 1008, policy violation: the client broke the terms of its token. Closing
            // rather than dropping silently tells a misconfigured client at once.
            self.peer.close(close::forbidden(READ_ONLY_CLOSE));
            return;
        }
        let except = (!self.echo_to_sender).then(|| self.peer.id());
        if let Some(publisher) = &self.history {
            // Stored, then delivered in the room's order; replayed to later comers.
            let from = SenderInfo {
                id: self.peer.id(),
                name: self.peer.name(),
            };
            let event = Event::raw(self.ns.name().clone(), self.room.clone(), msg, from);
            publisher.publish(self.ns.clone(), self.room.clone(), event, except, None);
            return;
        }
        self.ns.broadcast(
            Target::Room {
                room: &self.room,
                except,
            },
            Outbound::Message(msg),
            false,
        );
    }

    fn on_close(&mut self, closed: &Closed) {
        tracing::debug!(id = %self.peer.id(), room = %self.room, code = ?closed.code, "raw client left");
        self.ns.disconnect(&self.peer);
    }
}

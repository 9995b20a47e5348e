//! The one route every message takes into the hub.
//!
//! A raw client's frame, a native client's `emit`, a Socket.IO event, the library's
//! `emit` / `to` / `broadcast`, and (next) the server API and the broker between nodes: each
//! becomes a [`Publish`] and goes through [`Namespace::publish`], which
//!
//! 1. checks what a client may do, once, when the message is published on a client's
//!    behalf ([`Namespace::permit`]: the namespace's `client_emits`, the client's [`Access`]
//!    — its token's rights — and membership of the room it sends to);
//! 2. decides *store or broadcast*: a message to one room that keeps history (and is not
//!    volatile) goes through the [`crate::Publisher`] — stored, numbered, delivered, then
//!    acknowledged; anything else is delivered now;
//! 3. keeps each sender's order: a message from a connection whose earlier messages are
//!    still being stored is delivered after them, whatever its target;
//! 4. reports the outcome: how many connections it reached, and its place in the room's
//!    stream when it was stored ([`Receipt`]).
//!
//! Refusals are [`HubError`]s with one set of codes for every protocol.

mod message;

use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use self::message::{Access, Action, Audience, Body, Client, Done, Publish, Receipt, Routed};
use crate::{Broadcast, ConnId, Event, Forbidden, HubError, Namespace, Outbound, Peer, SenderInfo};

impl Namespace {
    /// Publishes a message: the one way in (see the module docs). A refusal is returned
    /// and nothing is sent; otherwise `done`, if given, is called exactly once with the
    /// [`Receipt`] — at once for a message delivered now, on the publisher's thread for one
    /// that was stored first (it must not block).
    pub fn publish(
        self: &Arc<Self>,
        msg: Publish<'_>,
        done: Option<Done>,
    ) -> Result<Routed, HubError> {
        if let Some(client) = msg.client {
            self.permit(client, Action::Publish(&msg.to))?;
        }
        self.published.fetch_add(1, Ordering::Relaxed);
        let Publish {
            body,
            to,
            except_rooms,
            except,
            from,
            client: _,
            volatile,
        } = msg;
        let stored = match (to.single_room(), except_rooms.is_empty(), volatile) {
            (Some(room), true, false) => self.history_for(room).map(|p| (p.clone(), room.clone())),
            _ => None,
        };
        if let Some((publisher, room)) = stored {
            let in_room = |id: ConnId| self.peer(id).is_some_and(|p| p.in_room(&room));
            let expected = self
                .room_len(&room)
                .saturating_sub(usize::from(except.is_some_and(in_room)));
            let event = self.event(body, Some(room.clone()), from.map(|p| &**p));
            let rooms: Arc<dyn crate::publisher::Rooms> = self.clone();
            publisher.publish(rooms, room, event, except, from.cloned(), done);
            return Ok(Routed::Later { expected });
        }
        let item = match body {
            Body::Frame(msg) => Outbound::Message(msg),
            body => {
                let room = to.single_room().cloned();
                Outbound::Shared(Broadcast::event(self.event(body, room, from.map(|p| &**p))))
            }
        };
        let ns = self.clone();
        let deliver = move || {
            let delivered = ns.deliver(&to, &except_rooms, except, item, volatile);
            if let Some(done) = done {
                done(Ok(Receipt {
                    delivered,
                    pos: None,
                }));
            }
            delivered
        };
        // After the sender's messages still being stored, never before them.
        match (self.publisher(), from) {
            (Some(publisher), Some(from)) if from.mailbox().holds() => {
                publisher.in_order(from.clone(), deliver);
                Ok(Routed::Later { expected: 0 })
            }
            _ => Ok(Routed::Now(deliver())),
        }
    }

    /// Whether `client` may do `action` here: the one check of a client's rights, with the
    /// same refusals whichever protocol asked.
    pub fn permit(&self, client: &Client, action: Action<'_>) -> Result<(), HubError> {
        let access = client.access.as_deref();
        match action {
            Action::Join(room) => self.permit_join(access, room)?,
            Action::Publish(to) => {
                if !self.policy.client_emits {
                    return Err(Forbidden::ClientEmits.into());
                }
                match (to.single_room(), access) {
                    (Some(room), Some(access)) if !access.may_publish(room) => {
                        return Err(Forbidden::Publish(room.to_string()).into());
                    }
                    (None, Some(access)) if !access.may_publish_anywhere() => {
                        return Err(Forbidden::PublishAnywhere.into());
                    }
                    _ => {}
                }
                match to {
                    Audience::Rooms(rooms) => {
                        if let Some(room) = rooms.iter().find(|r| !client.peer.in_room(r)) {
                            return Err(HubError::NotInRoom(room.to_string()));
                        }
                    }
                    Audience::Conn(id) => {
                        if self.peer(*id).is_none_or(|p| p.is_closing()) {
                            return Err(HubError::NoSuchConn(id.to_string()));
                        }
                    }
                    Audience::Everyone => {}
                }
            }
        }
        Ok(())
    }

    /// Whether a client with `access` may join (or read the history of) `room`: the join
    /// half of [`Namespace::permit`], for a client that has no connection yet (a raw
    /// room's handshake).
    pub fn permit_join(&self, access: Option<&dyn Access>, room: &str) -> Result<(), HubError> {
        if access.is_some_and(|a| !a.may_join(room)) {
            return Err(Forbidden::Join(room.to_owned()).into());
        }
        Ok(())
    }

    /// The event a body becomes in this namespace: named after `room` when it goes to one.
    fn event(&self, body: Body, room: Option<Arc<str>>, from: Option<&Peer>) -> Event {
        let from = from.map(|peer| SenderInfo {
            id: peer.id(),
            name: peer.name(),
        });
        match body {
            Body::Event { name, data } => Event {
                namespace: self.name().clone(),
                name,
                data,
                room,
                from,
                pos: None,
                seq: 0,
                offset: None,
            },
            Body::Frame(msg) => Event::raw(self.name().clone(), room, msg, from),
        }
    }
}

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
mod nodes;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use self::message::Outgoing;
pub use self::message::{Access, Action, Body, Client, Publish, Routed};
use crate::audience::{Audience, Target};
use crate::publisher::Rooms;
use crate::{
    Broadcast, ConnId, Done, Event, Forbidden, HubError, Namespace, Outbound, Peer, Receipt,
    SenderInfo,
};

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
        self.route(msg, done).map_err(|(err, _)| err)
    }

    /// [`Namespace::publish`], telling `done` the outcome whatever it is — the [`Receipt`],
    /// or the refusal. `done` is boxed only for a message that cannot be delivered at once
    /// (stored first, or behind its sender's messages being stored): a message delivered
    /// now costs no allocation for it.
    pub fn publish_then<F>(self: &Arc<Self>, msg: Publish<'_>, done: F)
    where
        F: FnOnce(Result<Receipt, HubError>) + Send + 'static,
    {
        if let Err((err, Some(done))) = self.route(msg, Some(done)) {
            done(Err(err));
        }
    }

    /// The route, counting what it takes; a refusal gives `done` back, untold.
    fn route<F>(
        self: &Arc<Self>,
        msg: Publish<'_>,
        done: Option<F>,
    ) -> Result<Routed, (HubError, Option<F>)>
    where
        F: FnOnce(Result<Receipt, HubError>) + Send + 'static,
    {
        let routed = self.take(msg, done);
        if routed.is_ok() {
            self.published.fetch_add(1, Ordering::Relaxed);
        }
        routed
    }

    /// The route itself.
    fn take<F>(
        self: &Arc<Self>,
        msg: Publish<'_>,
        done: Option<F>,
    ) -> Result<Routed, (HubError, Option<F>)>
    where
        F: FnOnce(Result<Receipt, HubError>) + Send + 'static,
    {
        // A client's message to one room: whether it is in the room is checked as the
        // message is delivered, under the room's lock, when it goes out here and now (the
        // common case: no lock of the connection per message); before it goes anywhere
        // otherwise (stored, held back, through the cluster).
        let mut member_of_room = None;
        if let Some(client) = msg.client {
            let checked = match msg.to.single_room() {
                Some(room) if msg.except_rooms.is_empty() => {
                    member_of_room = Some((client, room));
                    self.rights(client, Action::Publish(&msg.to))
                }
                _ => self.permit(client, Action::Publish(&msg.to)),
            };
            if let Err(err) = checked {
                return Err((err, done));
            }
        }
        let Publish {
            body,
            to,
            except_rooms,
            except,
            from,
            client: _,
            volatile,
        } = msg;
        let room = to.single_room();
        let stored = match (room, except_rooms.is_empty(), volatile) {
            (Some(room), true, false) => self.history_for(room).map(|p| (p.clone(), room.clone())),
            _ => None,
        };
        let held = from.filter(|from| self.publisher().is_some() && from.mailbox().holds());
        if stored.is_some() || held.is_some() || self.cluster.is_some() {
            if let Some((client, _)) = member_of_room.take() {
                if let Err(err) = self.reaches(client, &to) {
                    return Err((err, done));
                }
            }
        }
        if let Some((publisher, room)) = stored {
            let in_room = |id: ConnId| self.peer(id).is_some_and(|p| p.in_room(&room));
            let expected = self
                .room_len(&room)
                .saturating_sub(usize::from(except.is_some_and(in_room)));
            let event = self.event(body, Some(room.clone()), from.map(|p| &**p));
            let rooms: Arc<dyn Rooms> = self.clone();
            let done = done.map(|done| Box::new(done) as Done);
            publisher.publish(rooms, room, event, except, from.cloned(), done);
            return Ok(Routed::Later { expected });
        }
        if let Some(cluster) = &self.cluster {
            let msg = Outgoing {
                body,
                to,
                except_rooms,
                except,
                from,
                volatile,
            };
            return self.through_cluster(cluster, msg, held, done);
        }
        let item = match body {
            Body::Frame(msg) => Outbound::Message(msg),
            body => {
                let event = self.event(body, room.cloned(), from.map(|p| &**p));
                Outbound::Shared(Broadcast::event(event))
            }
        };
        // After the sender's messages still being stored, never before them.
        if let (Some(publisher), Some(from)) = (self.publisher(), held) {
            let ns = self.clone();
            let (to, except_rooms) = (Target::from(to), except_rooms.to_vec());
            publisher.in_order(from.clone(), move || {
                let delivered = ns.deliver(&to.audience(), &except_rooms, except, item, volatile);
                tell(done, delivered);
                delivered
            });
            return Ok(Routed::Later { expected: 0 });
        }
        let delivered = match member_of_room {
            Some((client, room)) => {
                let sender = client.peer.id();
                match self.deliver_room_from(room, sender, except, &item, volatile) {
                    Some(delivered) => delivered,
                    None => return Err((HubError::NotInRoom(room.to_string()), done)),
                }
            }
            None => self.deliver(&to, except_rooms, except, item, volatile),
        };
        tell(done, delivered);
        Ok(Routed::Now(delivered))
    }

    /// Whether `client` may do `action` here: the one check of what a client asks for, with
    /// the same refusals whichever protocol asked — its rights, then for a message, whether
    /// it may address its audience.
    pub fn permit(&self, client: &Client, action: Action<'_>) -> Result<(), HubError> {
        self.rights(client, action)?;
        match action {
            Action::Publish(to) => self.reaches(client, to),
            Action::Join(_) => Ok(()),
        }
    }

    /// What the client's rights allow: the namespace's policy and its [`Access`].
    fn rights(&self, client: &Client, action: Action<'_>) -> Result<(), HubError> {
        let access = client.access.as_deref();
        match action {
            Action::Join(room) => self.permit_join(access, room),
            Action::Publish(to) => {
                if !self.policy.client_emits {
                    return Err(Forbidden::ClientEmits.into());
                }
                match (to.single_room(), access) {
                    (Some(room), Some(access)) if !access.may_publish(room) => {
                        Err(Forbidden::Publish(room.to_string()).into())
                    }
                    (None, Some(access)) if !access.may_publish_anywhere() => {
                        Err(Forbidden::PublishAnywhere.into())
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// Whether a client's message may go to `to`: rooms it is in, a connection that exists.
    fn reaches(&self, client: &Client, to: &Audience<'_>) -> Result<(), HubError> {
        match *to {
            Audience::Room(room) if !client.peer.in_room(room) => {
                Err(HubError::NotInRoom(room.to_string()))
            }
            Audience::Rooms(rooms) => match rooms.iter().find(|r| !client.peer.in_room(r)) {
                Some(room) => Err(HubError::NotInRoom(room.to_string())),
                None => Ok(()),
            },
            // On a node of a cluster, the connection may be another node's.
            Audience::Conn(id)
                if self.cluster.is_none() && self.peer(id).is_none_or(|p| p.is_closing()) =>
            {
                Err(HubError::NoSuchConn(id.to_string()))
            }
            _ => Ok(()),
        }
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

/// Tells `done` of a message delivered, unstored, to `delivered` connections.
fn tell<F: FnOnce(Result<Receipt, HubError>)>(done: Option<F>, delivered: usize) {
    if let Some(done) = done {
        done(Ok(Receipt {
            delivered,
            pos: None,
        }));
    }
}

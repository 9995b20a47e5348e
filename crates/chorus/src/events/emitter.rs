//! [`Emitter`]: a broadcast being built — `io.to("a").to("b").except_room("c").emit(...)`.
//!
//! However it is built, an emit is one [`Publish`] through the hub's one route
//! (`chorus_core::Namespace::publish`): stored first when it goes to one room that keeps
//! history, encoded at most once per wire format, and after the sender's messages still
//! being stored.

use std::sync::Arc;

use bytes::Bytes;
use chorus_core::{
    Access, Audience, Client, ConnId, EventData, HubError, Namespace, Peer, Publish, Receipt,
    Routed,
};
use serde::Serialize;

use super::data::Data;
use super::error::EmitError;
use crate::auth::Grant;

/// A broadcast being built: who it goes to (rooms, or everyone), who is left out, and how.
/// The event is encoded at most once per wire format, whoever receives it. An event for one
/// room that keeps history is stored and numbered first (see [`chorus_core::Publisher`]).
#[derive(Debug, Clone)]
pub struct Emitter {
    ns: Arc<Namespace>,
    rooms: Vec<Arc<str>>,
    except_rooms: Vec<Arc<str>>,
    except: Option<ConnId>,
    /// A user whose every connection it goes to (instead of rooms).
    user: Option<Arc<str>>,
    /// One connection it goes to, by id (instead of rooms or a user).
    conn: Option<ConnId>,
    /// The connection it is sent from: shown as the sender, and its order is kept.
    from: Option<Arc<Peer>>,
    /// The sender's token, if it has one.
    grant: Option<Arc<Grant>>,
    /// Sent on behalf of `from`'s client, held to what the client may do itself.
    on_behalf: bool,
    volatile: bool,
    /// How long calls on every node wait for the other nodes.
    wait: Option<std::time::Duration>,
}

impl Emitter {
    pub(crate) fn new(
        ns: Arc<Namespace>,
        from: Option<Arc<Peer>>,
        grant: Option<Arc<Grant>>,
    ) -> Self {
        Self {
            ns,
            rooms: Vec::new(),
            except_rooms: Vec::new(),
            except: None,
            user: None,
            conn: None,
            from,
            grant,
            on_behalf: false,
            volatile: false,
            wait: None,
        }
    }

    /// Adds a room: the event goes to the members of every room added (each member once).
    /// Without any room it goes to everyone in the namespace.
    pub fn to(mut self, room: &str) -> Self {
        self.user = None;
        self.conn = None;
        if !self.rooms.iter().any(|r| &**r == room) {
            self.rooms.push(Arc::from(room));
        }
        self
    }

    /// Sends to every connection of `user` (its token's `sub`), on every node, whatever
    /// its protocol: a notification for a person rather than a room. An emitter goes to
    /// rooms or to one user: this replaces the rooms added before, and [`Emitter::to`]
    /// after it replaces the user. The calls on every node select the user's connections
    /// too (`io.to_user("ada").disconnect_sockets()`).
    pub fn to_user(mut self, user: &str) -> Self {
        self.rooms.clear();
        self.conn = None;
        self.user = Some(Arc::from(user));
        self
    }

    /// One connection by its id, and only it (a room named like the id is not it).
    pub(crate) fn for_conn(mut self, id: ConnId) -> Self {
        self.rooms.clear();
        self.user = None;
        self.conn = Some(id);
        self
    }

    pub(crate) fn user(&self) -> Option<&Arc<str>> {
        self.user.as_ref()
    }

    pub(crate) fn conn(&self) -> Option<ConnId> {
        self.conn
    }

    /// Leaves out the members of `room` (socket.io's `except`).
    pub fn except_room(mut self, room: &str) -> Self {
        self.except_rooms.push(Arc::from(room));
        self
    }

    /// Leaves one socket out.
    pub fn except(mut self, id: ConnId) -> Self {
        self.except = Some(id);
        self
    }

    /// How long [`Emitter::fetch_sockets`] and the other calls on every node wait for the
    /// other nodes (5 s unless set).
    pub fn timeout(mut self, wait: std::time::Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    pub(crate) fn wait(&self) -> std::time::Duration {
        self.wait.unwrap_or(super::everywhere::DEFAULT_TIMEOUT)
    }

    pub(crate) fn namespace(&self) -> &Arc<Namespace> {
        &self.ns
    }

    pub(crate) fn except_id(&self) -> Option<ConnId> {
        self.except
    }

    pub(crate) fn rooms(&self) -> &[Arc<str>] {
        &self.rooms
    }

    pub(crate) fn except_rooms(&self) -> &[Arc<str>] {
        &self.except_rooms
    }

    /// Drops the event for recipients whose queue is full instead of disconnecting them.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Holds the emit to what the sending socket's client may do itself — the server's
    /// `client_emits`, its token's `publish` claim, membership of the room — as the
    /// built-in events of `chorus serve` do for the clients that use them.
    pub(crate) fn on_behalf(mut self) -> Self {
        self.on_behalf = true;
        self
    }

    /// Sends a JSON event; returns how many sockets it was queued for. A message to one
    /// room with history is stored first: the count is then the room's members now. A
    /// message from a socket whose earlier messages to such rooms are still being stored
    /// goes out after them (order per sender is kept), and the count is then 0.
    pub fn emit(self, event: &str, data: &impl Serialize) -> Result<usize, EmitError> {
        let data = EventData::json(data)?;
        Ok(self.publish(event, data, now)?)
    }

    /// Sends a binary event.
    pub fn emit_binary(self, event: &str, data: impl Into<Bytes>) -> usize {
        self.publish(event, EventData::Binary(data.into()), now)
            .unwrap_or(0)
    }

    /// Sends event data as it is (for instance what a handler received: several
    /// arguments, binary inside them).
    pub fn emit_args(self, event: &str, data: Data) -> usize {
        self.publish(event, data.into_inner(), now).unwrap_or(0)
    }

    /// Sends event data, then calls `done` once the event is *safe*: for a room that keeps
    /// history, after it is stored (with its place in the room's stream), so an
    /// acknowledgement built on it means "recoverable"; otherwise once it is delivered.
    /// `done` gets how many connections the event was queued for, or why it was refused or
    /// could not be stored.
    pub fn emit_args_then(
        self,
        event: &str,
        data: Data,
        done: impl FnOnce(Result<Sent, HubError>) + Send + 'static,
    ) {
        self.publish(event, data.into_inner(), |publish, ns| {
            ns.publish_then(publish, move |receipt: Result<Receipt, HubError>| {
                done(receipt.map(|r| Sent {
                    delivered: r.delivered,
                    pos: r.pos,
                }));
            });
        });
    }

    /// The one way out: the [`Publish`] this emitter makes, handed to `send` with the
    /// namespace to publish it in.
    fn publish<R>(
        self,
        event: &str,
        data: EventData,
        send: impl FnOnce(Publish<'_>, &Arc<Namespace>) -> R,
    ) -> R {
        let to = match (&self.user, self.conn, self.rooms.is_empty()) {
            (Some(user), _, _) => Audience::User(user),
            (None, Some(id), _) => Audience::Conn(id),
            (None, None, true) => Audience::Everyone,
            (None, None, false) => Audience::Rooms(&self.rooms),
        };
        let mut publish = Publish::event(event, data, to);
        publish.except_rooms = &self.except_rooms;
        publish.except = self.except;
        publish.volatile = self.volatile;
        publish.from = self.from.as_ref();
        let client = match (&self.from, self.on_behalf) {
            (Some(peer), true) => Some(Client {
                peer: peer.clone(),
                access: self.grant.clone().map(|grant| grant as Arc<dyn Access>),
            }),
            _ => None,
        };
        publish.client = client.as_ref();
        send(publish, &self.ns)
    }
}

/// Publishes with no one to tell: how many connections it was queued for (or will be,
/// once stored).
fn now(publish: Publish<'_>, ns: &Arc<Namespace>) -> Result<usize, HubError> {
    Ok(match ns.publish(publish, None)? {
        Routed::Now(delivered) => delivered,
        Routed::Later { expected } => expected,
    })
}

/// What [`Emitter::emit_args_then`] reports once an event is safe.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Connections it was queued for.
    pub delivered: usize,
    /// Its place in the room's stream, for a room that keeps history.
    pub pos: Option<chorus_core::StreamPos>,
}

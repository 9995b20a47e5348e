//! What goes through the route: a [`Publish`] (its [`Body`], its [`Audience`], who sends it
//! and on whose behalf), the [`Access`] a client's rights are checked against, and what comes
//! back at once ([`Routed`]; later, a [`crate::Receipt`]).

use std::sync::Arc;

use chorus_proto::WsMessage;

use crate::{Audience, ConnId, EventData, Peer};

/// What a client's credentials let it do (its token's rights, in the server). Checked by
/// [`crate::Namespace::permit`] for what a client asks for itself; the server's own code is not
/// held to it.
pub trait Access: Send + Sync {
    /// May it join (and read the history of) `room`?
    fn may_join(&self, room: &str) -> bool;
    /// May it publish to `room`?
    fn may_publish(&self, room: &str) -> bool;
    /// May it publish to everyone, to one connection, or to several rooms at once?
    fn may_publish_anywhere(&self) -> bool;
}

/// A client on whose behalf something is asked: checked against the namespace's policy,
/// its [`Access`] (none: anonymous, or a server that checks no tokens, may do anything the
/// policy allows) and its rooms.
#[derive(Clone)]
pub struct Client {
    /// The client's connection.
    pub peer: Arc<Peer>,
    /// Its rights.
    pub access: Option<Arc<dyn Access>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.peer.id())
            .field("access", &self.access.is_some())
            .finish()
    }
}

/// What a client asks to do.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Join a room (or read its history).
    Join(&'a str),
    /// Publish to an audience.
    Publish(&'a Audience<'a>),
}

/// What is published.
#[derive(Debug, Clone)]
pub enum Body {
    /// An event, encoded for each recipient's wire format.
    Event {
        /// Its name.
        name: Arc<str>,
        /// Its data.
        data: EventData,
    },
    /// A plain WebSocket message, delivered as it is: for a namespace whose clients all
    /// speak one wire format in which it is already framed (raw rooms, raw endpoints).
    /// Stored as an [`crate::Event::raw`].
    Frame(WsMessage),
}

/// One message on its way in. It borrows the connections it names: the route keeps only
/// what it needs, when it needs it (a message that is stored holds its sender until it is
/// delivered), so a plain message costs no reference count.
#[derive(Debug, Clone)]
pub struct Publish<'a> {
    /// What it is.
    pub body: Body,
    /// Who it goes to.
    pub to: Audience<'a>,
    /// Members of these rooms are left out.
    pub except_rooms: &'a [Arc<str>],
    /// This connection is left out (usually the sender).
    pub except: Option<ConnId>,
    /// The connection it comes from, if any: shown to recipients as its sender, and its
    /// messages keep their order.
    pub from: Option<&'a Arc<Peer>>,
    /// The client it is published on behalf of, whose rights are checked; `None` for the
    /// server's own code.
    pub client: Option<&'a Client>,
    /// Dropped for a recipient whose queue is full, instead of disconnecting it; never
    /// stored.
    pub volatile: bool,
}

impl<'a> Publish<'a> {
    /// `body` to `to`, from the server, with nobody left out.
    pub fn new(body: Body, to: Audience<'a>) -> Self {
        Self {
            body,
            to,
            except_rooms: &[],
            except: None,
            from: None,
            client: None,
            volatile: false,
        }
    }

    /// The event `name` with `data`.
    pub fn event(name: &str, data: EventData, to: Audience<'a>) -> Self {
        Self::new(
            Body::Event {
                name: Arc::from(name),
                data,
            },
            to,
        )
    }
}

/// What [`crate::Namespace::publish`] did at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    /// Delivered now, to this many connections.
    Now(usize),
    /// On its way: stored first (it will reach the room's members then, `expected` of them
    /// now), or queued behind the sender's messages still being stored (`expected` 0).
    Later {
        /// The room's members now, for a stored message.
        expected: usize,
    },
}

/// A message on its way to the cluster.
pub(crate) struct Outgoing<'a> {
    pub(crate) body: Body,
    pub(crate) to: Audience<'a>,
    pub(crate) except_rooms: &'a [Arc<str>],
    pub(crate) except: Option<ConnId>,
    pub(crate) from: Option<&'a Arc<Peer>>,
    pub(crate) volatile: bool,
}

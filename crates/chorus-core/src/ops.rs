//! [`Op`]: what a server does to the connections of a namespace that are in some rooms —
//! list them, make them join or leave rooms, disconnect them — or says to the other servers
//! of a cluster (a server-side event). On a cluster the library runs an op on every node
//! (`crate::cluster`'s requests) and merges the [`Reply`]s; `Namespace::run` is one
//! node's part.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

/// Which connections an op is for: the members of `rooms`, the connections of `users` and
/// the connections `conns` (everyone if there are none of these), but the members of
/// `except_rooms`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// The rooms whose members it selects (a connection's id stands for that connection,
    /// as socket.io addresses one socket).
    pub rooms: Vec<Arc<str>>,
    /// The rooms whose members it leaves out.
    pub except_rooms: Vec<Arc<str>>,
    /// The users (tokens' `sub`) whose connections it selects.
    pub users: Vec<Arc<str>>,
    /// Connections it selects by id — only those, unlike a room named like an id, which a
    /// client may have made.
    pub conns: Vec<crate::ConnId>,
}

impl Selector {
    /// Everyone.
    pub fn everyone() -> Self {
        Self::default()
    }

    /// The members of `room`.
    pub fn room(room: &str) -> Self {
        Self {
            rooms: vec![Arc::from(room)],
            ..Self::default()
        }
    }

    /// One connection, by its id.
    pub fn conn(id: crate::ConnId) -> Self {
        Self {
            conns: vec![id],
            ..Self::default()
        }
    }

    /// The connections of `user`.
    pub fn user(user: &str) -> Self {
        Self {
            users: vec![Arc::from(user)],
            ..Self::default()
        }
    }
}

/// What to do with the connections a selector picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// List them.
    Fetch(Selector),
    /// Make them join these rooms.
    Join(Selector, Vec<Arc<str>>),
    /// Make them leave these rooms.
    Leave(Selector, Vec<Arc<str>>),
    /// Close their connections.
    Disconnect(Selector),
    /// Send them an event and collect each one's acknowledgement (socket.io's broadcast
    /// with acks), for at most `wait_ms`: what the namespace's
    /// [`crate::namespace::EventLayer`] does with them.
    EmitWithAck {
        /// Who gets it.
        selector: Selector,
        /// A connection left out by id (the sender of a `socket.broadcast`).
        except: Option<Arc<str>>,
        /// The event's name.
        event: Arc<str>,
        /// Its data: one value, or several arguments ([`crate::EventData::Args`]), binary
        /// values included, as a plain emit carries them.
        data: crate::EventData,
        /// How long the acknowledgements are waited for, in milliseconds.
        wait_ms: u64,
    },
    /// Tokens no longer accepted, on every node: connections holding one are closed (the
    /// server API's `revoke`; what it does is the namespace's revoker's).
    Revoke(Revocation),
    /// Each node's figures (the server API's `stats`, the admin page's charts): its
    /// reporter's JSON, as [`Reply::Ack`].
    Stats,
    /// A server-side event for the other servers' handler: its name, its data (JSON text),
    /// and whether the sender waits for each handler's answer.
    Emit {
        /// The event's name.
        event: Arc<str>,
        /// Its data, JSON text.
        data: Bytes,
        /// Whether the sender wants the handlers' answers.
        ack: bool,
    },
}

/// Tokens revoked: one token by its id (`jti`), or every token of a user issued before a
/// time. Remembered until `until`, after which such tokens have expired anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What is revoked.
    pub what: Revoked,
    /// Until when (Unix seconds) it is remembered.
    pub until: u64,
}

/// What a [`Revocation`] revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The token with this `jti` claim.
    Token(Arc<str>),
    /// The tokens of this user (`sub`) issued (`iat`) before this time, in Unix seconds.
    User {
        /// The user.
        user: Arc<str>,
        /// Tokens issued before it are revoked.
        issued_before: u64,
    },
}

/// What a server does with a revocation (see [`Op::Revoke`]): how many connections it
/// closed.
#[derive(Clone)]
pub struct Revoker(pub(crate) Arc<dyn Fn(&Revocation) -> u64 + Send + Sync>);

impl Revoker {
    /// A revoker.
    pub fn new(f: impl Fn(&Revocation) -> u64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for Revoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Revoker(..)")
    }
}

/// What a server answers to [`Op::Stats`]: its figures, as JSON text.
#[derive(Clone)]
pub struct Reporter(pub(crate) Arc<dyn Fn() -> Bytes + Send + Sync>);

impl Reporter {
    /// A reporter.
    pub fn new(f: impl Fn() -> Bytes + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter(..)")
    }
}

/// A connection as a fetch lists it, from whichever node holds it.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// Its id: a chorus connection's ([`crate::ConnId`], as text), or a socket of a Node
    /// socket.io server in a mixed cluster.
    pub id: Arc<str>,
    /// Its nickname.
    pub name: Arc<str>,
    /// Its user data.
    pub data: Option<Arc<RawValue>>,
    /// The rooms it is in.
    pub rooms: Vec<Arc<str>>,
    /// The user behind it (its token's `sub`), if it has one.
    pub user: Option<Arc<str>>,
}

/// One node's answer to an op.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The connections a fetch selected there.
    Sockets(Vec<SocketInfo>),
    /// How many connections a join, leave or disconnect changed there.
    Done(u64),
    /// The server-side handler's answer (JSON text), if it gave one.
    Ack(Option<Bytes>),
    /// A broadcast with acks there: to how many connections it went, and the answers
    /// that came in time.
    Acks {
        /// Connections it was sent to.
        expected: u64,
        /// Their acknowledgements, in the order they came.
        answers: Vec<crate::EventData>,
    },
}

/// A broadcast with acks to this node's connections (see [`Op::EmitWithAck`]).
#[derive(Debug)]
pub struct AckBroadcast {
    /// The connections it goes to.
    pub peers: Vec<Arc<crate::Peer>>,
    /// The event's name.
    pub event: Arc<str>,
    /// Its data.
    pub data: crate::EventData,
    /// How long the acknowledgements are waited for.
    pub wait: std::time::Duration,
}

/// What a server does with another server's server-side event (its name and data): its
/// answer, if it gives one.
#[derive(Clone)]
pub struct ServerHandler(pub(crate) Arc<HandlerFn>);

/// The function inside a [`ServerHandler`].
type HandlerFn = dyn Fn(&str, &RawValue) -> Option<Box<RawValue>> + Send + Sync;

impl ServerHandler {
    /// A handler.
    pub fn new(
        f: impl Fn(&str, &RawValue) -> Option<Box<RawValue>> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for ServerHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerHandler(..)")
    }
}

//! [`Op`]: what a server does to the connections of a namespace that are in some rooms —
//! list them, make them join or leave rooms, disconnect them — or says to the other servers
//! of a cluster (a server-side event). On a cluster the library runs an op on every node
//! (`crate::cluster`'s requests) and merges the [`Reply`]s; [`Namespace::run`] is one
//! node's part.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::{ConnId, Namespace, Outbound, Peer};

/// Which connections an op is for: the members of `rooms` (everyone if there is none), but
/// the members of `except_rooms`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// The rooms whose members it selects; empty for everyone.
    pub rooms: Vec<Arc<str>>,
    /// The rooms whose members it leaves out.
    pub except_rooms: Vec<Arc<str>>,
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

/// A connection as a fetch lists it, from whichever node holds it.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// Its id.
    pub id: ConnId,
    /// Its nickname.
    pub name: Arc<str>,
    /// Its user data.
    pub data: Option<Arc<RawValue>>,
    /// The rooms it is in.
    pub rooms: Vec<Arc<str>>,
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
}

/// What a server does with another server's server-side event (its name and data): its
/// answer, if it gives one.
#[derive(Clone)]
pub struct ServerHandler(Arc<HandlerFn>);

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

impl Namespace {
    /// Runs `op` on this node's connections.
    pub fn run(&self, op: &Op) -> Reply {
        match op {
            Op::Fetch(selector) => Reply::Sockets(
                self.select(selector)
                    .iter()
                    .map(|peer| SocketInfo {
                        id: peer.id(),
                        name: peer.name(),
                        data: peer.data(),
                        rooms: peer.rooms(),
                    })
                    .collect(),
            ),
            Op::Join(selector, rooms) => {
                let mut changed = 0;
                for peer in self.select(selector) {
                    for room in rooms {
                        if !peer.in_room(room) && self.enter(&peer, room).is_ok() {
                            changed += 1;
                        }
                    }
                }
                Reply::Done(changed)
            }
            Op::Leave(selector, rooms) => {
                let mut changed = 0;
                for peer in self.select(selector) {
                    for room in rooms {
                        if self.leave(&peer, room).is_ok() {
                            changed += 1;
                        }
                    }
                }
                Reply::Done(changed)
            }
            Op::Disconnect(selector) => {
                let peers = self.select(selector);
                for peer in &peers {
                    peer.push(Outbound::Close(crate::CloseReason {
                        code: 1000,
                        reason: Arc::from("disconnected by the server"),
                    }));
                }
                Reply::Done(peers.len() as u64)
            }
            Op::Emit { event, data, .. } => {
                let handler = self.server_handler.read().clone();
                let data = std::str::from_utf8(data)
                    .ok()
                    .and_then(|text| RawValue::from_string(text.to_owned()).ok());
                let answer = match (handler, data) {
                    (Some(handler), Some(data)) => (handler.0)(event, &data),
                    _ => None,
                };
                Reply::Ack(answer.map(|a| Bytes::from(a.get().to_owned())))
            }
        }
    }

    /// Sets what this namespace does with other servers' server-side events.
    pub fn on_server_event(&self, handler: ServerHandler) {
        *self.server_handler.write() = Some(handler);
    }

    /// This node's connections a selector picks, each once, closing ones left out.
    fn select(&self, selector: &Selector) -> Vec<Arc<Peer>> {
        let mut peers: Vec<Arc<Peer>> = if selector.rooms.is_empty() {
            self.peers()
        } else {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for room in &selector.rooms {
                for member in self.members_here(room) {
                    if seen.insert(member.id()) {
                        out.push(member);
                    }
                }
            }
            out
        };
        peers.retain(|peer| {
            !peer.is_closing() && !selector.except_rooms.iter().any(|room| peer.in_room(room))
        });
        peers
    }
}

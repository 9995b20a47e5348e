//! Socket.IO v5 on top of Engine.IO: namespaces, events, acks, binary attachments.
//!
//! Socket.IO clients are [`crate::Socket`]s like native clients: the namespace `/` is the
//! same [`crate::Io`] (and the same rooms) as `/ws`, and named namespaces are more `Io`s,
//! made with [`crate::Server::of`]. What this module adds is the protocol: one Engine.IO
//! session ([`conn::SocketIoConn`]) multiplexes the client's namespaces, each a socket of
//! its own with its own id, all writing to the session's one queue.
//!
//! * [`conn`] — the per-connection protocol: CONNECT (tokens, middlewares, `Invalid
//!   namespace`), EVENT and ACK (with binary attachments), DISCONNECT, and the connect
//!   timeout.
//! * [`connect`] — a CONNECT: tokens, middlewares, a new socket or a restored one.
//! * [`link`] — [`link::Link`], the namespaces one connection has joined.
//! * [`parser`] — the default parser or MessagePack, as the server's clients speak.
//! * [`recovery`] — connection-state recovery (`pid` / offsets), backed by the store.
//! * [`wire`] — what the protocol does for the event layer: acks, disconnects, recovery.
//! * [`builtin`] — the events `chorus serve` answers for clients (`join`, `to`, …).

pub mod builtin;
pub(crate) mod conn;
pub(crate) mod connect;
pub(crate) mod format;
pub(crate) mod link;
pub(crate) mod parser;
pub(crate) mod recovery;
pub(crate) mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::events::Io;

/// The Socket.IO namespaces of a server, by name, and the dynamic ones it makes when a
/// client asks for a name one of them matches.
#[derive(Default)]
pub(crate) struct Namespaces {
    by_name: RwLock<HashMap<String, Io>>,
    dynamic: RwLock<Vec<Dynamic>>,
    /// Told of every namespace, those there and each new one.
    watchers: RwLock<Vec<Arc<NamespaceWatcher>>>,
    /// Held while a namespace is made: one `Io` per name, made whole before anyone sees it.
    making: parking_lot::Mutex<()>,
}

/// A family of namespaces made on demand (`Server::of_matching`): which names it takes,
/// and what makes one.
pub(crate) struct Dynamic {
    pub(crate) matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
    pub(crate) make: Box<MakeFn>,
}

/// What is told of each namespace ([`Namespaces::watch`]).
pub(crate) type NamespaceWatcher = dyn Fn(&Io) + Send + Sync;

/// What makes a namespace of a dynamic family (`None` once the server is gone).
pub(crate) type MakeFn = dyn Fn(&str) -> Option<Io> + Send + Sync;

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces")
            .field("names", &self.by_name.read().len())
            .field("dynamic", &self.dynamic.read().len())
            .finish()
    }
}

impl Namespaces {
    pub(crate) fn get(&self, name: &str) -> Option<Io> {
        self.by_name.read().get(name).cloned()
    }

    /// The namespace `name`, made now if a dynamic family takes the name (the first that
    /// does, in the order they were added).
    pub(crate) fn resolve(&self, name: &str) -> Option<Io> {
        if let Some(io) = self.get(name) {
            return Some(io);
        }
        self.get_or_make(name, || {
            let dynamic = self.dynamic.read();
            let family = dynamic.iter().find(|d| (d.matches)(name))?;
            (family.make)(name)
        })
    }

    /// The namespace `name`, or the one `make` makes (whole: handlers set), kept as it —
    /// one maker at a time, so a name is made once and nobody sees it half made.
    pub(crate) fn get_or_make(&self, name: &str, make: impl FnOnce() -> Option<Io>) -> Option<Io> {
        let _making = self.making.lock();
        if let Some(io) = self.get(name) {
            return Some(io);
        }
        Some(self.insert(name, make()?))
    }

    /// Keeps `io` as namespace `name` unless there is one already; returns the one kept.
    pub(crate) fn insert(&self, name: &str, io: Io) -> Io {
        let (kept, new) = {
            let mut by_name = self.by_name.write();
            match by_name.get(name) {
                Some(kept) => (kept.clone(), false),
                None => {
                    by_name.insert(name.to_owned(), io.clone());
                    (io, true)
                }
            }
        };
        if new {
            let watchers = self.watchers.read().clone();
            for w in watchers {
                w(&kept);
            }
        }
        kept
    }

    /// Has `f` told of every namespace: each there now, and each made later.
    pub(crate) fn watch(&self, f: Arc<NamespaceWatcher>) {
        self.watchers.write().push(f.clone());
        let there: Vec<Io> = self.by_name.read().values().cloned().collect();
        for io in there {
            f(&io);
        }
    }

    /// Every namespace there now.
    pub(crate) fn all(&self) -> Vec<Io> {
        self.by_name.read().values().cloned().collect()
    }

    pub(crate) fn add_dynamic(&self, dynamic: Dynamic) {
        self.dynamic.write().push(dynamic);
    }
}

/// Settings of the Socket.IO layer.
#[derive(Debug, Clone)]
pub(crate) struct SocketIoConfig {
    /// How long a new connection may take to join its first namespace.
    pub(crate) connect_timeout: Duration,
    /// Decoder bounds.
    pub(crate) limits: chorus_proto::socketio::Limits,
    /// Token checks at CONNECT (`auth.token`); `None` when the server checks no tokens.
    pub(crate) auth: Option<Arc<crate::auth::Auth>>,
    /// Connection-state recovery; `None` when it is off (or the server keeps no store).
    pub(crate) recovery: Option<Arc<recovery::Recovery>>,
    /// The parser every client of the server speaks.
    pub(crate) parser: parser::Parser,
    /// The application's backend, when it decides who may connect.
    pub(crate) hooks: Option<Arc<crate::hooks::Hooks>>,
}

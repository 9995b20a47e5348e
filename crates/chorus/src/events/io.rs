//! [`Io`]: the event layer of one namespace — its sockets, its connection handler and
//! middlewares, and broadcasts to everyone, a room, or everyone but a room.

use std::collections::HashMap;
use std::sync::Arc;

use chorus_core::{ConnId, Namespace, Peer, PeerInfo, Publisher};
use parking_lot::RwLock;
use serde::Serialize;

use super::emitter::Emitter;
use super::error::EmitError;
use super::handshake::{ConnectError, Handshake};
use super::socket::{close, Io, IoInner, Socket};
use super::wire::Wire;

impl Io {
    pub(crate) fn new(ns: Arc<Namespace>) -> Self {
        let inner = Arc::new(IoInner {
            ns,
            on_connection: RwLock::new(None),
            middlewares: RwLock::new(Vec::new()),
            sockets: RwLock::new(HashMap::new()),
            watchers: RwLock::new(Vec::new()),
            hooks: std::sync::OnceLock::new(),
        });
        inner
            .ns
            .set_event_layer(Arc::new(super::layer::Layer(Arc::downgrade(&inner))));
        Self { inner }
    }

    pub(crate) fn from_inner(inner: Arc<IoInner>) -> Self {
        Self { inner }
    }

    pub(crate) fn namespace(&self) -> &Arc<Namespace> {
        &self.inner.ns
    }

    /// The namespace's name (`/` for the main one).
    pub fn name(&self) -> &Arc<str> {
        self.inner.ns.name()
    }

    /// The publisher, if `room` keeps history.
    pub(crate) fn history_for(&self, room: &str) -> Option<Arc<Publisher>> {
        self.inner.ns.history_for(room).cloned()
    }

    /// Sets the handler called for each new socket, where you register its event handlers.
    pub fn on_connection(&self, f: impl Fn(&Socket) + Send + Sync + 'static) {
        *self.inner.on_connection.write() = Some(Arc::new(f));
    }

    /// Adds a connect middleware (socket.io's `io.use`): it sees each client's
    /// [`Handshake`] before the client joins the namespace, and may refuse it. Middlewares
    /// run in the order they were added; the first refusal wins.
    pub fn middleware(
        &self,
        f: impl Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync + 'static,
    ) {
        self.inner.middlewares.write().push(Arc::new(f));
    }

    /// Sends an event to every socket. Returns how many it was queued for.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<usize, EmitError> {
        self.all().emit(event, data)
    }

    /// An emitter for every socket.
    pub fn all(&self) -> Emitter {
        Emitter::new(self.inner.ns.clone(), None, None)
    }

    /// An emitter for the members of `room` (chain [`Emitter::to`] for more rooms).
    pub fn to(&self, room: &str) -> Emitter {
        self.all().to(room)
    }

    /// An emitter for every connection of `user` (its token's `sub`), on every node
    /// ([`Emitter::to_user`]).
    pub fn to_user(&self, user: &str) -> Emitter {
        self.all().to_user(user)
    }

    /// An emitter for every socket but the members of `room`.
    pub fn except_room(&self, room: &str) -> Emitter {
        self.all().except_room(room)
    }

    /// The socket with this id, if connected.
    pub fn socket(&self, id: ConnId) -> Option<Socket> {
        self.inner.sockets.read().get(&id).cloned()
    }

    /// Every connected socket.
    pub fn sockets(&self) -> Vec<Socket> {
        self.inner.sockets.read().values().cloned().collect()
    }

    /// The members of a room.
    pub fn members(&self, room: &str) -> Vec<PeerInfo> {
        self.inner.ns.members(room)
    }

    /// Runs the middlewares on a handshake.
    pub(crate) fn admit(&self, handshake: &Handshake) -> Result<(), ConnectError> {
        let middlewares = self.inner.middlewares.read().clone();
        middlewares.iter().try_for_each(|f| f(handshake))
    }

    /// Registers a connected client as a socket and runs the connection handler. Whatever
    /// the protocol owes the client before any handler can emit (its greeting, the CONNECT
    /// answer) must already be queued.
    pub(crate) fn open(
        &self,
        peer: Arc<Peer>,
        handshake: Handshake,
        wire: Box<dyn Wire>,
    ) -> Socket {
        let socket = Socket::new(peer, self.inner.clone(), handshake, wire);
        self.inner
            .sockets
            .write()
            .insert(socket.id(), socket.clone());
        let watchers = self.inner.watchers.read().clone();
        for w in watchers {
            w.connected(&socket);
        }
        let on_connection = self.inner.on_connection.read().clone();
        if let Some(f) = on_connection {
            f(&socket);
        }
        socket
    }

    /// Adds a watcher of the namespace's sockets.
    pub(crate) fn watch(&self, watcher: Arc<dyn super::socket::Watcher>) {
        self.inner.watchers.write().push(watcher);
    }

    pub(crate) fn close(&self, socket: &Socket, reason: &str) {
        close(socket, reason);
    }
}

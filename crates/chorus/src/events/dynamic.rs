//! [`DynamicIo`]: a family of Socket.IO namespaces made on demand — socket.io's
//! `io.of(/^\/board-\d+$/)` — when a client connects to a name the family takes
//! ([`crate::Server::of_matching`]). Each is an [`Io`] of its own (its sockets, its
//! rooms); the family holds the connection handler and middlewares they share.

use std::sync::Arc;

use parking_lot::RwLock;

use super::handshake::{ConnectError, Handshake};
use super::socket::{ConnectFn, Io, MiddlewareFn, Socket};

/// Most namespaces one family makes: clients choose the names, and a namespace made stays.
pub(crate) const MAX_NAMESPACES: usize = 10_000;

/// A family of namespaces made on demand: set its connection handler and middlewares
/// once, for every namespace of the family, made already or later.
#[derive(Clone, Default)]
pub struct DynamicIo {
    inner: Arc<Family>,
}

#[derive(Default)]
struct Family {
    on_connection: RwLock<Option<ConnectFn>>,
    middlewares: RwLock<Vec<MiddlewareFn>>,
    /// The namespaces made so far; its lock also orders handler changes with new members.
    children: RwLock<Vec<Io>>,
}

impl std::fmt::Debug for DynamicIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicIo")
            .field("namespaces", &self.inner.children.read().len())
            .finish()
    }
}

impl DynamicIo {
    /// Sets the handler called for each new socket of every namespace of the family
    /// ([`Io::on_connection`]); `socket.namespace()` says which one.
    pub fn on_connection(&self, f: impl Fn(&Socket) + Send + Sync + 'static) {
        let f: ConnectFn = Arc::new(f);
        let children = self.inner.children.write();
        *self.inner.on_connection.write() = Some(f.clone());
        for io in children.iter() {
            *io.inner.on_connection.write() = Some(f.clone());
        }
    }

    /// Adds a connect middleware to every namespace of the family ([`Io::middleware`]).
    pub fn middleware(
        &self,
        f: impl Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync + 'static,
    ) {
        let f: MiddlewareFn = Arc::new(f);
        let children = self.inner.children.write();
        self.inner.middlewares.write().push(f.clone());
        for io in children.iter() {
            io.inner.middlewares.write().push(f.clone());
        }
    }

    /// The namespaces of the family made so far.
    pub fn namespaces(&self) -> Vec<Io> {
        self.inner.children.read().clone()
    }

    /// Whether the family may make one more namespace: at most [`MAX_NAMESPACES`], since
    /// clients choose the names.
    pub(crate) fn admits_more(&self) -> bool {
        self.inner.children.read().len() < MAX_NAMESPACES
    }

    /// Makes `io` one of the family: its handler and middlewares are the family's.
    pub(crate) fn adopt(&self, io: &Io) {
        let mut children = self.inner.children.write();
        if children.iter().any(|c| c.name() == io.name()) {
            return;
        }
        if let Some(f) = self.inner.on_connection.read().clone() {
            *io.inner.on_connection.write() = Some(f);
        }
        io.inner
            .middlewares
            .write()
            .extend(self.inner.middlewares.read().iter().cloned());
        children.push(io.clone());
    }
}

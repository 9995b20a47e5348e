//! [`Io`]: the event layer of one namespace — its sockets, its connection handler and
//! middlewares, and broadcasts to everyone, a room, or everyone but a room.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chorus_core::{ConnId, Namespace, Peer, PeerInfo, Publisher};
use parking_lot::RwLock;
use serde::Serialize;

use super::wire::Wire;
use super::{ConnectError, EmitError, Emitter, Handshake, Socket};

type ConnectFn = Arc<dyn Fn(&Socket) + Send + Sync>;
type MiddlewareFn = Arc<dyn Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync>;

/// The event layer of a server.
///
/// ```
/// use chorus::{Config, Server};
/// use futures::{SinkExt, StreamExt};
/// use serde_json::{json, Value};
/// use tokio_tungstenite::tungstenite::Message;
///
/// # #[tokio::main] async fn main() {
/// let server = Server::new(Config { chat_page: false, ..Config::embedded() });
/// server.io().on_connection(|socket| {
///     socket.on("add", |_socket, data, ack| {
///         let [a, b]: [i64; 2] = data.parse().unwrap();
///         ack.send(&json!({ "sum": a + b }));
///     });
/// });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// tokio::spawn(server.serve(listener));
///
/// let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
/// let hello = ws.next().await.unwrap().unwrap();
/// assert!(hello.to_text().unwrap().contains(r#""type":"hello""#));
/// ws.send(Message::text(r#"{"type":"emit","rid":1,"event":"add","data":[2,3]}"#)).await.unwrap();
/// let reply = ws.next().await.unwrap().unwrap();
/// let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
/// assert_eq!(reply["result"]["sum"], 5);
/// # }
/// ```
#[derive(Clone)]
pub struct Io {
    pub(crate) inner: Arc<IoInner>,
}

pub(crate) struct IoInner {
    pub(crate) ns: Arc<Namespace>,
    on_connection: RwLock<Option<ConnectFn>>,
    middlewares: RwLock<Vec<MiddlewareFn>>,
    sockets: RwLock<HashMap<ConnId, Socket>>,
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("namespace", self.inner.ns.name())
            .field("sockets", &self.inner.sockets.read().len())
            .finish()
    }
}

impl Io {
    pub(crate) fn new(ns: Arc<Namespace>) -> Self {
        Self {
            inner: Arc::new(IoInner {
                ns,
                on_connection: RwLock::new(None),
                middlewares: RwLock::new(Vec::new()),
                sockets: RwLock::new(HashMap::new()),
            }),
        }
    }

    pub(crate) fn from_inner(inner: Arc<IoInner>) -> Self {
        Self { inner }
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
        Emitter::new(self.inner.ns.clone(), None)
    }

    /// An emitter for the members of `room` (chain [`Emitter::to`] for more rooms).
    pub fn to(&self, room: &str) -> Emitter {
        self.all().to(room)
    }

    /// An emitter for everyone but the members of `room`.
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
        let on_connection = self.inner.on_connection.read().clone();
        if let Some(f) = on_connection {
            f(&socket);
        }
        socket
    }

    pub(crate) fn close(&self, socket: &Socket, reason: &str) {
        close(socket, reason);
    }
}

/// Takes a socket out of its namespace (rooms, presence), fails its pending acks and runs
/// its disconnect handlers. Only the first call for a socket does anything.
pub(crate) fn close(socket: &Socket, reason: &str) {
    let inner = &socket.inner;
    if !inner.connected.swap(false, Ordering::AcqRel) {
        return;
    }
    inner.io.sockets.write().remove(&socket.id());
    inner.io.ns.disconnect(&inner.peer);
    inner.wire.closed(reason);
    inner.acks.lock().clear();
    let handlers = std::mem::take(&mut *inner.on_disconnect.lock());
    for f in handlers {
        f(socket, reason);
    }
    inner.handlers.write().clear();
}

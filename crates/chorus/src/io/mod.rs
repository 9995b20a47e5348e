//! The event level, the socket.io way: `io.on_connection`, `socket.on("event")`,
//! `socket.emit`, rooms, broadcasts and acks.
//!
//! An [`Io`] is the event layer of one namespace: `/` (which native `/ws` clients and
//! Socket.IO clients share, rooms included) or a named Socket.IO namespace
//! (`server.of("/admin")`). Each client is a [`Socket`], whatever protocol it speaks.
//! Handlers are plain closures that run on the connection's task: they may emit, join,
//! reply and spawn, but should not block. Emits never wait — they queue on each recipient's
//! bounded queue.
//!
//! * `socket` — [`Socket`]: one client; handlers, emits, rooms, acks, disconnect.
//! * `emitter` — [`Emitter`]: a broadcast being built (rooms, exclusions, volatile).
//! * `data` — [`Data`]: an event's data, parsed only when asked.
//! * `ack` — [`Ack`], the answer to a client's event, and the table of the server's own
//!   emits awaiting the client's answer.

mod ack;
mod data;
mod emitter;
mod socket;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chorus_core::{ConnId, HubError, Namespace, Peer, PeerInfo, Publisher};
use http::HeaderMap;
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::auth::{Grant, Identity};
use crate::raw::HandshakeInfo;

pub(crate) use ack::Reply;
pub use ack::{Ack, AckError};
pub use data::Data;
pub use emitter::{Emitter, Sent};
pub(crate) use socket::EventFn;
pub use socket::Socket;
pub(crate) use socket::{SocketInner, Wire};

type ConnectFn = Arc<dyn Fn(&Socket) + Send + Sync>;
type MiddlewareFn = Arc<dyn Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync>;

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The data could not be serialised to JSON.
    #[error("cannot serialise event data: {0}")]
    Json(#[from] serde_json::Error),
    /// The hub refused (for example: not in the room).
    #[error(transparent)]
    Hub(#[from] HubError),
}

/// A connection refused by a middleware ([`Io::middleware`]). A Socket.IO client gets it
/// as a `connect_error` with this message (and data); a native client's handshake is
/// answered `403 Forbidden` with the message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// Shown to the client.
    pub message: String,
    /// Extra details for the client (Socket.IO's `err.data`).
    pub data: Option<serde_json::Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds details for the client.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// What a client said when it connected: the HTTP request's headers, query and cookies,
/// for Socket.IO the `auth` payload of its CONNECT packet, and who its token proved it
/// to be.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Shared: a Socket.IO connection's namespaces all have the same request.
    pub(crate) info: Arc<HandshakeInfo>,
    pub(crate) auth: Option<Arc<RawValue>>,
    /// The socket's token, verified: `None` for an anonymous client.
    pub(crate) grant: Option<Arc<Grant>>,
}

impl Handshake {
    pub(crate) fn new(
        info: Arc<HandshakeInfo>,
        auth: Option<Arc<RawValue>>,
        grant: Option<Arc<Grant>>,
    ) -> Self {
        Self { info, auth, grant }
    }

    /// Who the client's token says it is: user id, display name, the rooms it may join
    /// and publish to, every claim. `None` for an anonymous client (or a server that
    /// checks no tokens). After a native `refresh`, the new token's identity.
    ///
    /// Chorus enforces the `join` and `publish` claims on what clients ask for themselves;
    /// what your handlers do ([`Socket::join`], emits) is up to you — check
    /// `identity.join.allows(room)` where the client chooses the room.
    pub fn identity(&self) -> Option<Arc<Identity>> {
        self.grant.as_ref().map(|grant| grant.identity())
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }

    /// The request's headers, less those that served only the WebSocket upgrade
    /// (`Connection`, `Upgrade`, `Sec-WebSocket-Key`, `-Version` and `-Extensions`).
    pub fn headers(&self) -> &HeaderMap {
        &self.info.headers
    }

    /// A query parameter of the request URL.
    pub fn query(&self, key: &str) -> Option<String> {
        self.info.query(key)
    }

    /// A cookie sent with the request.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.info.cookie(name)
    }

    /// The Socket.IO `auth` payload as JSON text (`None` for native clients, or when the
    /// client sent none).
    pub fn auth_json(&self) -> Option<&str> {
        self.auth.as_deref().map(RawValue::get)
    }

    /// The Socket.IO `auth` payload, deserialised.
    pub fn auth<T: DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        self.auth_json().map(serde_json::from_str)
    }
}

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
    /// Where messages of rooms with history go; `None` when the server keeps no history.
    pub(crate) publisher: Option<Arc<Publisher>>,
    on_connection: RwLock<Option<ConnectFn>>,
    middlewares: RwLock<Vec<MiddlewareFn>>,
    sockets: RwLock<HashMap<ConnId, Socket>>,
}

impl IoInner {
    /// The publisher, if `room` keeps history.
    pub(crate) fn history_for(&self, room: &str) -> Option<&Arc<Publisher>> {
        self.publisher
            .as_ref()
            .filter(|p| p.retention(room).is_some())
    }
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
    pub(crate) fn new(ns: Arc<Namespace>, publisher: Option<Arc<Publisher>>) -> Self {
        Self {
            inner: Arc::new(IoInner {
                ns,
                publisher,
                on_connection: RwLock::new(None),
                middlewares: RwLock::new(Vec::new()),
                sockets: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The namespace's name (`/` for the main one).
    pub fn name(&self) -> &Arc<str> {
        self.inner.ns.name()
    }

    /// The publisher, if `room` keeps history.
    pub(crate) fn history_for(&self, room: &str) -> Option<Arc<Publisher>> {
        self.inner.history_for(room).cloned()
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
        Emitter::new(self.inner.ns.clone(), self.inner.publisher.clone(), None)
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
    pub(crate) fn open(&self, peer: Arc<Peer>, handshake: Handshake, wire: Wire) -> Socket {
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
    if let Some(session) = socket.session() {
        session.closed(reason);
    }
    inner.acks.lock().clear();
    let handlers = std::mem::take(&mut *inner.on_disconnect.lock());
    for f in handlers {
        f(socket, reason);
    }
    inner.handlers.write().clear();
}

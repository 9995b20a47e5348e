//! [`Socket`]: one client of the event layer, whichever protocol it speaks.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chorus_core::{
    Audience, ConnId, EventData, HubError, Namespace, Outbound, Peer, PeerInfo, Publish, Routed,
};
use http::HeaderMap;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use super::ack::{Ack, AckError, Pending};
use super::data::Data;
use super::emitter::Emitter;
use super::error::EmitError;
use super::handshake::{ConnectError, Handshake};
use super::wire::Wire;
use crate::auth::{Identity, RefreshError, Refreshed};
use crate::wire::close;

pub(crate) type EventFn = Arc<dyn Fn(&Socket, Data, Ack) + Send + Sync>;
/// A listener of every event a client sends (socket.io's `onAny`).
pub(crate) type AnyFn = Arc<dyn Fn(&Socket, &str, &Data) + Send + Sync>;
type DisconnectFn = Box<dyn FnOnce(&Socket, &str) + Send>;

/// One client of the event layer. Cheap to clone; all clones are the same socket.
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Arc<SocketInner>,
}

pub(crate) struct SocketInner {
    pub(crate) peer: Arc<Peer>,
    pub(crate) io: Arc<IoInner>,
    pub(crate) handshake: Handshake,
    /// What its protocol does for the event layer.
    pub(crate) wire: Box<dyn Wire>,
    /// By event name. A short list searched in order rather than a map: a socket has a
    /// handful of events, and a map's table costs every socket ~0.3 KiB more.
    pub(crate) handlers: RwLock<Vec<(Cow<'static, str>, EventFn)>>,
    /// Listeners of every event, before its handler (usually none: `has_any` says so
    /// without the lock).
    pub(crate) any: RwLock<Vec<AnyFn>>,
    pub(crate) has_any: AtomicBool,
    pub(crate) on_disconnect: Mutex<Vec<DisconnectFn>>,
    pub(crate) data: Mutex<http::Extensions>,
    pub(crate) acks: Mutex<Pending>,
    pub(crate) connected: AtomicBool,
    /// When it connected (for those who list sockets: the admin UI).
    pub(crate) connected_at: std::time::SystemTime,
    /// Listeners of every event sent to this socket; made by the first one.
    pub(crate) outgoing: std::sync::OnceLock<Box<Outgoing>>,
}

/// A socket's listeners of every event it is sent (socket.io's `onAnyOutgoing`), and the
/// channel they hear through: its queue hands each event on as it is queued, and a task
/// calls the listeners in that order, off the publisher's path.
pub(crate) struct Outgoing {
    listeners: RwLock<Vec<AnyFn>>,
    told: tokio::sync::mpsc::UnboundedSender<(Arc<str>, EventData)>,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("namespace", self.namespace())
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(
        peer: Arc<Peer>,
        io: Arc<IoInner>,
        handshake: Handshake,
        wire: Box<dyn Wire>,
    ) -> Self {
        Socket {
            inner: Arc::new(SocketInner {
                peer,
                io,
                handshake,
                wire,
                handlers: RwLock::new(Vec::new()),
                any: RwLock::new(Vec::new()),
                has_any: AtomicBool::new(false),
                on_disconnect: Mutex::new(Vec::new()),
                data: Mutex::new(http::Extensions::new()),
                acks: Mutex::new(Pending::default()),
                connected: AtomicBool::new(true),
                connected_at: std::time::SystemTime::now(),
                outgoing: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The socket's id (for a Socket.IO client, its `socket.id` in this namespace).
    pub fn id(&self) -> ConnId {
        self.inner.peer.id()
    }

    /// The namespace the socket is in (`/` for the main one).
    pub fn namespace(&self) -> &Arc<str> {
        self.inner.io.ns.name()
    }

    /// True for a Socket.IO client, false for a native one.
    pub fn is_socketio(&self) -> bool {
        self.inner.wire.is_socketio()
    }

    /// True for a Socket.IO client that came back after losing its connection and was
    /// restored: same id, same rooms, and every message it missed in rooms with history
    /// already replayed (socket.io's `socket.recovered`; see `docs/socketio.md`). Handlers
    /// registered in `on_connection` are registered again, per-socket data is not restored.
    pub fn recovered(&self) -> bool {
        self.inner.wire.recovered()
    }

    /// True until the socket disconnects.
    pub fn connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// The nickname.
    pub fn name(&self) -> Arc<str> {
        self.inner.peer.name()
    }

    /// Sets the nickname; rooms the socket is in see a presence update.
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        self.inner.peer.set(Some(name.into()), None);
        self.inner.io.ns.announce_update(&self.inner.peer);
    }

    /// What the client said when it connected: headers, query, cookies, auth payload.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    /// Who the client's token says it is (`None` for an anonymous client): see
    /// [`Handshake::identity`].
    pub fn identity(&self) -> Option<Arc<Identity>> {
        self.inner.handshake.identity()
    }

    /// Replaces the socket's token with `token` before it expires: it must verify and be
    /// for the same user (`sub`). The new token's expiry, permissions and name take effect
    /// at once; rooms its `join` claim no longer allows are left. This is what the native
    /// `refresh` command and `chorus serve`'s Socket.IO `refresh` event do.
    pub fn refresh(&self, token: &str) -> Result<Refreshed, RefreshError> {
        let grant = self
            .inner
            .handshake
            .grant
            .as_ref()
            .ok_or(RefreshError::NoToken)?;
        let before = grant.identity();
        let identity = grant.refresh(token)?;
        if identity.nickname() != before.nickname() {
            self.set_name(identity.nickname());
        }
        let left = self
            .rooms()
            .into_iter()
            .filter(|room| !identity.join.allows(room) && self.leave(room).is_ok())
            .collect();
        Ok(Refreshed { identity, left })
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.handshake.remote_addr()
    }

    /// The handshake request's headers, less those that served only the WebSocket upgrade
    /// (`Connection`, `Upgrade`, `Sec-WebSocket-Key`, `-Version` and `-Extensions`).
    pub fn headers(&self) -> &HeaderMap {
        self.inner.handshake.headers()
    }

    /// A query parameter of the handshake URL.
    pub fn query(&self, key: &str) -> Option<String> {
        self.inner.handshake.query(key)
    }

    /// A cookie sent with the handshake.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.inner.handshake.cookie(name)
    }

    /// Registers the handler for an event sent by this client. The handler gets the data
    /// and an [`Ack`] to answer with.
    pub fn on(&self, event: &str, f: impl Fn(&Socket, Data, Ack) + Send + Sync + 'static) {
        self.set_handler(Cow::Owned(event.to_owned()), Arc::new(f));
    }

    /// Adds a listener of every event this client sends (socket.io's `socket.onAny`): it
    /// gets the event's name and data before the event's own handler runs, whether or not
    /// there is one. Listeners run in the order they were added.
    pub fn on_any(&self, f: impl Fn(&Socket, &str, &Data) + Send + Sync + 'static) {
        self.inner.any.write().push(Arc::new(f));
        self.inner.has_any.store(true, Ordering::Release);
    }

    /// Adds a listener of every event sent to this socket (socket.io's
    /// `socket.onAnyOutgoing`): its own emits, with or without an ack, and every broadcast
    /// it receives — in the order they were queued for it, each once, whichever node sent
    /// it. Listeners run on a task of their own, after the event is queued, not in the
    /// sender's path. Acks answering the client are not events and are not told.
    pub fn on_any_outgoing(&self, f: impl Fn(&Socket, &str, &Data) + Send + Sync + 'static) {
        let outgoing = self.inner.outgoing.get_or_init(|| {
            let (told, mut heard) = tokio::sync::mpsc::unbounded_channel();
            let queued = told.clone();
            self.inner.peer.mailbox().observe_outgoing(
                self.namespace().clone(),
                Box::new(move |event: &chorus_core::Event| {
                    let _ = queued.send((event.name.clone(), event.data.clone()));
                }),
            );
            let socket = Arc::downgrade(&self.inner);
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        while let Some((event, data)) = heard.recv().await {
                            let Some(inner) = socket.upgrade() else {
                                return;
                            };
                            Socket { inner }.sent(&event, &Data::new(data));
                        }
                    });
                }
                Err(_) => tracing::error!(
                    "on_any_outgoing called outside a tokio runtime: its listeners will not run"
                ),
            }
            Box::new(Outgoing {
                listeners: RwLock::new(Vec::new()),
                told,
            })
        });
        outgoing.listeners.write().push(Arc::new(f));
    }

    /// Tells the [`Socket::on_any_outgoing`] listeners of an event sent to this socket.
    fn sent(&self, event: &str, data: &Data) {
        let Some(outgoing) = self.inner.outgoing.get() else {
            return;
        };
        let listeners = outgoing.listeners.read().clone();
        for f in listeners {
            f(self, event, data);
        }
    }

    /// Whether an [`Socket::on_any`] listener is set.
    pub(crate) fn hears_any(&self) -> bool {
        self.inner.has_any.load(Ordering::Acquire)
    }

    /// Tells the [`Socket::on_any`] listeners of an event the client sent.
    pub(crate) fn heard(&self, event: &str, data: &Data) {
        if !self.hears_any() {
            return;
        }
        let listeners = self.inner.any.read().clone();
        for f in listeners {
            f(self, event, data);
        }
    }

    /// Registers handlers shared with other sockets (made once, referenced by each).
    pub(crate) fn on_each(&self, table: &[(&'static str, EventFn)]) {
        self.inner.handlers.write().reserve_exact(table.len());
        for (event, f) in table {
            self.set_handler(Cow::Borrowed(event), f.clone());
        }
    }

    fn set_handler(&self, event: Cow<'static, str>, f: EventFn) {
        let mut handlers = self.inner.handlers.write();
        match handlers.iter_mut().find(|(name, _)| *name == event) {
            Some(slot) => slot.1 = f,
            None => {
                handlers.reserve_exact(1);
                handlers.push((event, f));
            }
        }
    }

    /// Registers a handler called once when the socket disconnects, with the reason
    /// (socket.io's reasons: `client namespace disconnect`, `server namespace disconnect`,
    /// `transport close`, `transport error`, `ping timeout`, `parse error`,
    /// `server shutting down`).
    pub fn on_disconnect(&self, f: impl FnOnce(&Socket, &str) + Send + 'static) {
        self.inner.on_disconnect.lock().push(Box::new(f));
    }

    /// Sends an event to this socket.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), EmitError> {
        self.push_event(event, EventData::json(data)?)
    }

    /// Sends binary data as an event to this socket.
    pub fn emit_binary(&self, event: &str, data: impl Into<Bytes>) -> Result<(), EmitError> {
        self.push_event(event, EventData::Binary(data.into()))
    }

    /// Sends event data as it is (several arguments, binary inside them).
    pub fn emit_args(&self, event: &str, data: Data) -> Result<(), EmitError> {
        self.push_event(event, data.into_inner())
    }

    fn push_event(&self, event: &str, data: EventData) -> Result<(), EmitError> {
        let to = Audience::Conn(self.id());
        match self
            .inner
            .io
            .ns
            .publish(Publish::event(event, data, to), None)?
        {
            Routed::Now(1) => Ok(()),
            _ => Err(HubError::Closed.into()),
        }
    }

    /// Sends an event and waits for the client to acknowledge it, at most `timeout`: a
    /// Socket.IO client's callback, or a native client's `ack` command (chorus.js answers
    /// with what the handler returns). The answer comes back as [`Data`].
    pub async fn emit_with_ack(
        &self,
        event: &str,
        data: &impl Serialize,
        timeout: Duration,
    ) -> Result<Data, AckError> {
        let data = EventData::json(data)?;
        self.emit_args_with_ack(event, Data(data), timeout).await
    }

    /// [`Socket::emit_with_ack`] with event data as it is.
    pub async fn emit_args_with_ack(
        &self,
        event: &str,
        data: Data,
        timeout: Duration,
    ) -> Result<Data, AckError> {
        if !self.connected() {
            return Err(AckError::Disconnected);
        }
        let (id, answer) = self.inner.acks.lock().register().ok_or(AckError::TooMany)?;
        // Encoded for this socket alone (with its ack id), so not seen by its queue's
        // observer: told here once queued.
        let told = self
            .inner
            .outgoing
            .get()
            .map(|_| (Arc::from(event), data.clone().into_inner()));
        let item = self
            .inner
            .wire
            .event_with_ack(self.namespace(), event, data.into_inner(), id);
        if !self.inner.peer.push(item) {
            self.inner.acks.lock().forget(id);
            return Err(AckError::Disconnected);
        }
        if let (Some(told), Some(outgoing)) = (told, self.inner.outgoing.get()) {
            let _ = outgoing.told.send(told);
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(data)) => Ok(data),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => {
                self.inner.acks.lock().forget(id);
                Err(AckError::Timeout)
            }
        }
    }

    /// Joins a room; returns its members.
    ///
    /// Not restricted by the client's token: your code decides (the `join` claim limits
    /// what the client asks for itself: native `join`, the Socket.IO built-ins).
    ///
    /// In a room with history the join is ordered with the room's messages: the socket
    /// receives every message delivered after its join and none before, and its place in
    /// the room's stream is known at once or shortly after (read off the connection's task
    /// when no message of the room has gone out since the server started), for the
    /// Socket.IO recovery session that remembers it.
    pub fn join(&self, room: &str) -> Result<Vec<PeerInfo>, HubError> {
        // A handle kept past the disconnect (a handler that finished late) must not put
        // the id back in a room: a restored socket may have it now.
        if !self.connected() {
            return Err(HubError::Closed);
        }
        // Recorded by the protocol before the join, told its position when known (at once,
        // or once a store read or the room's next delivery tells it) even if the connection
        // is lost meanwhile; dropped untold if the join is refused.
        let joining = self.inner.wire.joining(room);
        let name: Arc<str> = Arc::from(room);
        let at = Box::new(
            move |pos: Result<Option<chorus_core::StreamPos>, HubError>| {
                let Some(joining) = joining else { return };
                match pos {
                    Ok(pos) => joining.started(pos),
                    Err(err) => {
                        tracing::warn!(%err, room = %name, "the room's position could not be read");
                        joining.unknown();
                    }
                }
            },
        );
        let members = self.inner.io.ns.join_at(&self.inner.peer, room, at)?;
        self.watched(room, true);
        Ok(members)
    }

    /// Tells the namespace's watchers of a room joined or left.
    fn watched(&self, room: &str, joined: bool) {
        let watchers = self.inner.io.watchers.read().clone();
        for w in watchers {
            w.room(self, room, joined);
        }
    }

    /// Whether this socket's client may join `room` if it asks to itself: the hub's check
    /// of its token's `join` claim, the one chorus makes for a native `join` and the
    /// built-in Socket.IO `join`. [`Socket::join`] does not make it: your code decides.
    pub fn check_join(&self, room: &str) -> Result<(), HubError> {
        let access = self.inner.handshake.grant.as_deref();
        self.inner
            .io
            .ns
            .permit_join(access.map(|grant| grant as &dyn chorus_core::Access), room)
    }

    /// Leaves a room.
    pub fn leave(&self, room: &str) -> Result<(), HubError> {
        self.inner.io.ns.leave(&self.inner.peer, room)?;
        self.inner.wire.left(room);
        self.watched(room, false);
        Ok(())
    }

    /// The rooms this socket is in.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.inner.peer.rooms()
    }

    /// An emitter for the other members of `room` (the sender left out, as in socket.io's
    /// `socket.to(room)`). Events carry this socket as their sender.
    pub fn to(&self, room: &str) -> Emitter {
        self.emitter().to(room).except(self.id())
    }

    /// An emitter for every socket of the namespace but this one (socket.io's
    /// `socket.broadcast`).
    pub fn broadcast(&self) -> Emitter {
        self.emitter().except(self.id())
    }

    /// An emitter from this socket: it is shown as the sender, and its order is kept.
    fn emitter(&self) -> Emitter {
        let grant = self.inner.handshake.grant.clone();
        Emitter::new(
            self.inner.io.ns.clone(),
            Some(self.inner.peer.clone()),
            grant,
        )
    }

    /// Closes the connection under the socket, without a word at the protocol's level (no
    /// Socket.IO DISCONNECT): to its client it is a lost connection, and a Socket.IO client
    /// reconnects by itself (recovering its session where the server keeps them) — what a
    /// server does to test its clients' reconnects, or to shed a connection at once. The
    /// close code is 1001 (going away) where the transport has one.
    pub fn close_transport(&self) {
        if !self.connected() {
            return;
        }
        self.inner
            .peer
            .push(Outbound::Close(chorus_core::CloseReason {
                code: 1001,
                reason: Arc::from("transport closed by the server"),
            }));
    }

    /// Disconnects the socket. A native client's connection is closed (1000). A Socket.IO
    /// client is told it was disconnected from this namespace (its reason: `io server
    /// disconnect`, and it does not reconnect by itself); the connection underneath closes
    /// once no namespace is left on it.
    pub fn disconnect(&self) {
        if !self.connected() {
            return;
        }
        let plan = self.inner.wire.disconnect(self.namespace(), self.id());
        if let Some(notice) = plan.notice {
            self.inner.peer.push(notice);
        }
        if plan.gone {
            close(self, "server namespace disconnect");
        }
        if plan.close_connection {
            let reason = close::normal("disconnected by server");
            self.inner.peer.push(Outbound::Close(reason));
        }
    }

    /// Stores per-socket data of any type (one value per type).
    pub fn insert_data<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.inner.data.lock().insert(value);
    }

    /// A copy of the per-socket data of type `T`.
    pub fn data<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.inner.data.lock().get::<T>().cloned()
    }

    pub(crate) fn peer(&self) -> &Arc<Peer> {
        &self.inner.peer
    }

    pub(crate) fn handler(&self, event: &str) -> Option<EventFn> {
        let handlers = self.inner.handlers.read();
        handlers
            .iter()
            .find(|(name, _)| name == event)
            .map(|(_, f)| f.clone())
    }

    /// Delivers a Socket.IO client's answer to one of our emits.
    pub(crate) fn resolve_ack(&self, id: u64, data: Data) {
        self.inner.acks.lock().resolve(id, data);
    }
}

/// One namespace's event layer, shared by its [`crate::Io`] handle and each of its sockets:
/// the hub's namespace, the handlers, and the sockets by id. Defined beside [`Socket`],
/// which needs it to take itself out; `Io` is its public face (`io.rs`).
pub(crate) struct IoInner {
    pub(crate) ns: Arc<Namespace>,
    pub(crate) on_connection: RwLock<Option<ConnectFn>>,
    pub(crate) middlewares: RwLock<Vec<MiddlewareFn>>,
    pub(crate) sockets: RwLock<HashMap<ConnId, Socket>>,
    /// What watches the namespace besides the application (the admin UI's namespace).
    pub(crate) watchers: RwLock<Vec<Arc<dyn Watcher>>>,
    /// The server's hooks to the application's backend (the built-in events ask it).
    pub(crate) hooks: std::sync::OnceLock<Arc<crate::hooks::Hooks>>,
}

/// Something told of every socket of a namespace as it connects (before the application's
/// handler) and of each room it joins or leaves through [`Socket::join`] /
/// [`Socket::leave`].
pub(crate) trait Watcher: Send + Sync {
    fn connected(&self, socket: &Socket);
    fn room(&self, socket: &Socket, room: &str, joined: bool);
}

pub(crate) type ConnectFn = Arc<dyn Fn(&Socket) + Send + Sync>;
pub(crate) type MiddlewareFn = Arc<dyn Fn(&Handshake) -> Result<(), ConnectError> + Send + Sync>;

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

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("namespace", self.inner.ns.name())
            .field("sockets", &self.inner.sockets.read().len())
            .finish()
    }
}

impl Socket {
    /// The event layer of the socket's namespace: `socket.io().emit(...)` reaches everyone
    /// (socket.io's `io.emit` from inside a handler, without capturing `io`).
    pub fn io(&self) -> super::Io {
        Io::from_inner(self.inner.io.clone())
    }
}

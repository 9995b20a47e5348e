//! The event level, the socket.io way: `io.on_connection`, `socket.on("event")`,
//! `socket.emit`, rooms, broadcasts and acks.
//!
//! [`Io`] is the event layer of a server (one namespace, `/`). Each client of the native
//! protocol (and, later, of Socket.IO) is a [`Socket`]. Handlers are plain closures that run
//! on the connection's task: they may emit, join, reply and spawn, but should not block.
//! Emits never wait — they queue on each recipient's bounded queue.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use chorus_core::{
    Broadcast, CloseReason, ConnId, Event, EventData, HubError, Namespace, Outbound, Peer,
    PeerInfo, SenderInfo, Target,
};
use chorus_proto::native::{push, ErrorCode, Rid};
use http::HeaderMap;
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::raw::HandshakeInfo;

type ConnectFn = Arc<dyn Fn(&Socket) + Send + Sync>;
type EventFn = Arc<dyn Fn(&Socket, Data, Ack) + Send + Sync>;
type DisconnectFn = Box<dyn FnOnce(&Socket, &str) + Send>;

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

/// The event layer of a server.
///
/// ```
/// use chorus::{Config, Server};
/// use futures::{SinkExt, StreamExt};
/// use serde_json::{json, Value};
/// use tokio_tungstenite::tungstenite::Message;
///
/// # #[tokio::main] async fn main() {
/// let server = Server::new(Config { chat_page: false, ..Config::default() });
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
                sockets: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Sets the handler called for each new socket, where you register its event handlers.
    pub fn on_connection(&self, f: impl Fn(&Socket) + Send + Sync + 'static) {
        *self.inner.on_connection.write() = Some(Arc::new(f));
    }

    /// Sends an event to every socket. Returns how many it was queued for.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<usize, EmitError> {
        self.all().emit(event, data)
    }

    /// An emitter for every socket.
    pub fn all(&self) -> Emitter {
        Emitter::new(self.inner.ns.clone(), Scope::All, None)
    }

    /// An emitter for the members of `room`.
    pub fn to(&self, room: &str) -> Emitter {
        Emitter::new(self.inner.ns.clone(), Scope::Room(room.to_owned()), None)
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

    pub(crate) fn open(&self, peer: Arc<Peer>, info: HandshakeInfo) -> Socket {
        let socket = Socket {
            inner: Arc::new(SocketInner {
                peer,
                io: self.inner.clone(),
                info,
                handlers: RwLock::new(HashMap::new()),
                on_disconnect: Mutex::new(Vec::new()),
                data: Mutex::new(http::Extensions::new()),
            }),
        };
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
        self.inner.sockets.write().remove(&socket.id());
        self.inner.ns.disconnect(&socket.inner.peer);
        let handlers = std::mem::take(&mut *socket.inner.on_disconnect.lock());
        for f in handlers {
            f(socket, reason);
        }
        socket.inner.handlers.write().clear();
    }
}

/// One client of the event layer. Cheap to clone; all clones are the same socket.
#[derive(Clone)]
pub struct Socket {
    inner: Arc<SocketInner>,
}

struct SocketInner {
    peer: Arc<Peer>,
    io: Arc<IoInner>,
    info: HandshakeInfo,
    handlers: RwLock<HashMap<String, EventFn>>,
    on_disconnect: Mutex<Vec<DisconnectFn>>,
    data: Mutex<http::Extensions>,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

impl Socket {
    /// The socket's id.
    pub fn id(&self) -> ConnId {
        self.inner.peer.id()
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

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.info.remote_addr
    }

    /// The handshake request's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.info.headers
    }

    /// A query parameter of the handshake URL.
    pub fn query(&self, key: &str) -> Option<String> {
        self.inner.info.query(key)
    }

    /// A cookie sent with the handshake.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.inner.info.cookie(name)
    }

    /// Registers the handler for an event sent by this client. The handler gets the data
    /// and an [`Ack`] to answer with; an unanswered ack replies `{}` when dropped.
    pub fn on(&self, event: &str, f: impl Fn(&Socket, Data, Ack) + Send + Sync + 'static) {
        self.inner
            .handlers
            .write()
            .insert(event.to_owned(), Arc::new(f));
    }

    /// Registers a handler called once when the socket disconnects, with the reason.
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

    fn push_event(&self, event: &str, data: EventData) -> Result<(), EmitError> {
        let event = Event {
            name: Arc::from(event),
            data,
            room: None,
            from: None,
        };
        if self
            .inner
            .peer
            .push(Outbound::Shared(Broadcast::event(event)))
        {
            Ok(())
        } else {
            Err(HubError::Closed.into())
        }
    }

    /// Joins a room; returns its members.
    pub fn join(&self, room: &str) -> Result<Vec<PeerInfo>, HubError> {
        self.inner.io.ns.join(&self.inner.peer, room)
    }

    /// Leaves a room.
    pub fn leave(&self, room: &str) -> Result<(), HubError> {
        self.inner.io.ns.leave(&self.inner.peer, room)
    }

    /// The rooms this socket is in.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.inner.peer.rooms()
    }

    /// An emitter for the other members of `room` (the sender left out, as in socket.io's
    /// `socket.to(room)`). Events carry this socket as their sender.
    pub fn to(&self, room: &str) -> Emitter {
        Emitter::new(
            self.inner.io.ns.clone(),
            Scope::Room(room.to_owned()),
            Some(self.sender()),
        )
        .except(self.id())
    }

    /// An emitter for every socket but this one (socket.io's `socket.broadcast`).
    pub fn broadcast(&self) -> Emitter {
        Emitter::new(self.inner.io.ns.clone(), Scope::All, Some(self.sender())).except(self.id())
    }

    /// Disconnects the socket (close code 1000).
    pub fn disconnect(&self) {
        self.inner.peer.push(Outbound::Close(CloseReason::new(
            1000,
            "disconnected by server",
        )));
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
        self.inner.handlers.read().get(event).cloned()
    }

    pub(crate) fn sender(&self) -> SenderInfo {
        SenderInfo {
            id: self.id(),
            name: self.name(),
        }
    }
}

#[derive(Debug, Clone)]
enum Scope {
    All,
    Room(String),
}

/// A broadcast being built: `io.to("room").except(id).emit(...)`.
#[derive(Debug, Clone)]
pub struct Emitter {
    ns: Arc<Namespace>,
    scope: Scope,
    except: Option<ConnId>,
    from: Option<SenderInfo>,
    volatile: bool,
}

impl Emitter {
    fn new(ns: Arc<Namespace>, scope: Scope, from: Option<SenderInfo>) -> Self {
        Self {
            ns,
            scope,
            except: None,
            from,
            volatile: false,
        }
    }

    /// Leaves one socket out.
    pub fn except(mut self, id: ConnId) -> Self {
        self.except = Some(id);
        self
    }

    /// Drops the event for recipients whose queue is full instead of disconnecting them.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Sends a JSON event; returns how many sockets it was queued for.
    pub fn emit(self, event: &str, data: &impl Serialize) -> Result<usize, EmitError> {
        let data = EventData::json(data)?;
        Ok(self.emit_data(event, data))
    }

    /// Sends a binary event.
    pub fn emit_binary(self, event: &str, data: impl Into<Bytes>) -> usize {
        self.emit_data(event, EventData::Binary(data.into()))
    }

    pub(crate) fn emit_data(self, event: &str, data: EventData) -> usize {
        let room = match &self.scope {
            Scope::Room(room) => Some(Arc::<str>::from(room.as_str())),
            Scope::All => None,
        };
        let event = Event {
            name: Arc::from(event),
            data,
            room,
            from: self.from,
        };
        let target = match &self.scope {
            Scope::All => Target::All {
                except: self.except,
            },
            Scope::Room(room) => Target::Room {
                room,
                except: self.except,
            },
        };
        self.ns.broadcast(
            target,
            Outbound::Shared(Broadcast::event(event)),
            self.volatile,
        )
    }
}

/// An event's data, parsed only if the handler asks.
#[derive(Debug, Clone)]
pub struct Data(pub(crate) EventData);

impl Data {
    /// Deserialises JSON data into `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match &self.0 {
            EventData::Json(raw) => serde_json::from_str(raw.get()),
            EventData::Binary(_) => Err(serde::de::Error::custom("binary data, not JSON")),
        }
    }

    /// The JSON text, if the data is JSON.
    pub fn json_text(&self) -> Option<&str> {
        match &self.0 {
            EventData::Json(raw) => Some(raw.get()),
            EventData::Binary(_) => None,
        }
    }

    /// The bytes, if the data is binary.
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.0 {
            EventData::Binary(bytes) => Some(bytes),
            EventData::Json(_) => None,
        }
    }

    /// A string, if the data is a JSON string.
    pub fn as_str(&self) -> Option<String> {
        self.parse::<String>().ok()
    }

    /// The underlying event data.
    pub fn into_inner(self) -> EventData {
        self.0
    }
}

/// The answer to a client's event. Send it with [`Ack::send`] or [`Ack::error`]; if it is
/// dropped unanswered and the client asked for a reply, the reply is `{}`.
pub struct Ack {
    rid: Option<Rid>,
    peer: Arc<Peer>,
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack")
            .field("wanted", &self.rid.is_some())
            .finish()
    }
}

impl Ack {
    pub(crate) fn new(rid: Option<Rid>, peer: Arc<Peer>) -> Self {
        Self { rid, peer }
    }

    /// True if the client asked for a reply.
    pub fn wanted(&self) -> bool {
        self.rid.is_some()
    }

    /// Replies with a result (serialised as the reply's `result`; a non-object is wrapped
    /// as `{"value": ...}`).
    pub fn send(mut self, result: &impl Serialize) {
        if let Some(rid) = self.rid.take() {
            let value = serde_json::to_value(result).unwrap_or(serde_json::Value::Null);
            let msg = if value.is_object() {
                push::reply_ok(&rid, &value)
            } else {
                push::reply_ok(&rid, &serde_json::json!({ "value": value }))
            };
            self.peer.push(Outbound::Message(msg));
        }
    }

    /// Replies with an error.
    pub fn error(mut self, message: &str) {
        if let Some(rid) = self.rid.take() {
            self.peer.push(Outbound::Message(push::reply_err(
                &rid,
                ErrorCode::BadRequest,
                message,
            )));
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(rid) = self.rid.take() {
            self.peer.push(Outbound::Message(push::reply_ok(
                &rid,
                &serde_json::json!({}),
            )));
        }
    }
}

//! The library's raw level: a [`RawEndpoint`] at a path, its [`RawHandlers`], and a
//! [`Conn`] per client — the counterpart of `ws`'s `new WebSocket.Server(...)` and
//! `wss.on('connection', ...)`. Served over plain WebSocket ([`crate::Server::raw`]) or over
//! Engine.IO ([`crate::Server::engine_io`]).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use chorus_core::{
    Audience, Body, CloseReason, ConnId, Namespace, Outbound, Peer, Publish, Routed,
};
use chorus_proto::{MessageKind, WsMessage};
use http::{HeaderMap, Uri};
use parking_lot::{Mutex, RwLock};

use crate::auth::{self, Grant, Identity};
use crate::refusal::Refusal;
use crate::session::Context;
use crate::wire::handshake::{handshake, offered_protocols};
use crate::wire::{connection, Closed, HandshakeInfo, Session};

type ConnFn = Arc<dyn Fn(&Conn) + Send + Sync>;
type TextFn = Arc<dyn Fn(&Conn, &str) + Send + Sync>;
type BinaryFn = Arc<dyn Fn(&Conn, &Bytes) + Send + Sync>;
type CloseFn = Arc<dyn Fn(&Conn, Option<u16>, &str) + Send + Sync>;
type ErrorFn = Arc<dyn Fn(&Conn, &str) + Send + Sync>;

/// The handlers of a raw endpoint. Each runs on the connection's task and should not block;
/// spawn a task (with a cloned [`Conn`]) for slow work.
#[derive(Clone, Default)]
pub struct RawHandlers {
    on_connection: Option<ConnFn>,
    on_text: Option<TextFn>,
    on_binary: Option<BinaryFn>,
    on_close: Option<CloseFn>,
    on_error: Option<ErrorFn>,
    pub(crate) protocols: Option<Vec<String>>,
}

impl fmt::Debug for RawHandlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawHandlers")
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

impl RawHandlers {
    /// No handlers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Called once the WebSocket is open.
    pub fn on_connection(mut self, f: impl Fn(&Conn) + Send + Sync + 'static) -> Self {
        self.on_connection = Some(Arc::new(f));
        self
    }

    /// Called for each text message.
    pub fn on_text(mut self, f: impl Fn(&Conn, &str) + Send + Sync + 'static) -> Self {
        self.on_text = Some(Arc::new(f));
        self
    }

    /// Called for each binary message.
    pub fn on_binary(mut self, f: impl Fn(&Conn, &Bytes) + Send + Sync + 'static) -> Self {
        self.on_binary = Some(Arc::new(f));
        self
    }

    /// Called once when the connection is over, with the close code and reason: the code
    /// of the close frame (1005 if it carried none), or `None` if the connection dropped
    /// without a closing handshake.
    pub fn on_close(
        mut self,
        f: impl Fn(&Conn, Option<u16>, &str) + Send + Sync + 'static,
    ) -> Self {
        self.on_close = Some(Arc::new(f));
        self
    }

    /// Called when a protocol or I/O error ends the connection (before `on_close`).
    pub fn on_error(mut self, f: impl Fn(&Conn, &str) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(f));
        self
    }

    /// Subprotocols this endpoint speaks, in server preference order. The first one the
    /// client offers is selected. Without this, the client's first offer is accepted (as
    /// `ws` does).
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = Some(protocols.into_iter().map(Into::into).collect());
        self
    }
}

/// One plain WebSocket client, as handlers see it. Cheap to clone; all clones are the same
/// connection.
#[derive(Clone)]
pub struct Conn {
    inner: Arc<ConnInner>,
}

struct ConnInner {
    peer: Arc<Peer>,
    info: HandshakeInfo,
    endpoint: RawEndpoint,
    data: Mutex<http::Extensions>,
    /// Held for the connection's life: it keeps its place in the expiry clock.
    grant: Option<Arc<Grant>>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id())
            .field("remote_addr", &self.remote_addr())
            .field("path", &self.path())
            .finish()
    }
}

impl Conn {
    fn new(
        peer: Arc<Peer>,
        info: HandshakeInfo,
        endpoint: RawEndpoint,
        grant: Option<Arc<Grant>>,
    ) -> Self {
        Self {
            inner: Arc::new(ConnInner {
                peer,
                info,
                endpoint,
                data: Mutex::new(http::Extensions::new()),
                grant,
            }),
        }
    }

    /// The endpoint this client is connected to: its other clients, and broadcast.
    pub fn endpoint(&self) -> &RawEndpoint {
        &self.inner.endpoint
    }

    /// Sends a message to every client of this endpoint, this one included (the seeds'
    /// `wss.clients.forEach(client => client.send(data))`). Returns how many got it.
    pub fn broadcast(&self, msg: WsMessage) -> usize {
        self.inner.endpoint.broadcast(msg)
    }

    /// Sends a message to every other client of this endpoint (the seeds'
    /// `broadcastToElse`). Returns how many got it.
    pub fn broadcast_others(&self, msg: WsMessage) -> usize {
        self.inner.endpoint.broadcast_except(msg, self.id())
    }

    /// The connection id.
    pub fn id(&self) -> ConnId {
        self.inner.peer.id()
    }

    /// The client's address, when the server was started with connect info (as
    /// [`crate::Server::serve`] does).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.info.remote_addr
    }

    /// The request path.
    pub fn path(&self) -> &str {
        self.inner.info.uri.path()
    }

    /// The request URI (path and query).
    pub fn uri(&self) -> &Uri {
        &self.inner.info.uri
    }

    /// The handshake request's headers, less those that served only the WebSocket upgrade
    /// (`Connection`, `Upgrade`, `Sec-WebSocket-Key`, `-Version` and `-Extensions`).
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.info.headers
    }

    /// A query parameter of the handshake URL, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        self.inner.info.query(key)
    }

    /// A cookie sent with the handshake.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.inner.info.cookie(name)
    }

    /// The negotiated subprotocol.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.info.protocol.as_deref()
    }

    /// Who the client's token says it is (`None` for an anonymous client, or when the
    /// server checks no tokens). See `docs/auth.md`.
    pub fn identity(&self) -> Option<Arc<Identity>> {
        self.inner.grant.as_ref().map(|grant| grant.identity())
    }

    /// The connection's nickname (`userN` unless set).
    pub fn name(&self) -> Arc<str> {
        self.inner.peer.name()
    }

    /// Sets the nickname.
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        self.inner.peer.set(Some(name.into()), None);
    }

    /// Queues a text message. Returns `false` if the connection is closing (or its queue
    /// overflowed, which closes it).
    pub fn send_text(&self, text: impl Into<String>) -> bool {
        self.send(WsMessage::text(text))
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: impl Into<Bytes>) -> bool {
        self.send(WsMessage::binary(data))
    }

    /// Queues a message.
    pub fn send(&self, msg: WsMessage) -> bool {
        let to = Audience::Conn(self.id());
        self.inner.endpoint.publish(msg, to, None) == 1
    }

    /// Closes the connection with a code and reason, after what is already queued.
    pub fn close(&self, code: u16, reason: impl Into<Arc<str>>) {
        self.inner
            .peer
            .push(Outbound::Close(CloseReason::new(code, reason)));
    }

    /// Stores per-connection data of any type (one value per type).
    pub fn insert_data<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.inner.data.lock().insert(value);
    }

    /// A copy of the per-connection data of type `T`.
    pub fn data<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.inner.data.lock().get::<T>().cloned()
    }

    /// True while the connection is open and not closing.
    pub fn is_open(&self) -> bool {
        !self.inner.peer.is_closing()
    }

    pub(crate) fn peer(&self) -> &Arc<Peer> {
        &self.inner.peer
    }
}

/// A raw endpoint once registered: the set of its clients, and broadcast to them.
#[derive(Clone, Debug)]
pub struct RawEndpoint {
    pub(crate) inner: Arc<RawEndpointInner>,
}

pub(crate) struct RawEndpointInner {
    pub(crate) path: String,
    pub(crate) handlers: RawHandlers,
    pub(crate) ns: Arc<Namespace>,
    /// Clients come over Engine.IO (polling or WebSocket), not plain WebSocket: text
    /// messages travel as Engine.IO message packets.
    engine_io: bool,
    conns: RwLock<HashMap<ConnId, Conn>>,
}

impl fmt::Debug for RawEndpointInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEndpoint")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RawEndpoint {
    pub(crate) fn new(
        path: String,
        handlers: RawHandlers,
        ns: Arc<Namespace>,
        engine_io: bool,
    ) -> Self {
        Self {
            inner: Arc::new(RawEndpointInner {
                path,
                handlers,
                ns,
                engine_io,
                conns: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// A message as this endpoint's clients receive it: as it is over plain WebSocket,
    /// a text message becomes an Engine.IO message packet over Engine.IO.
    fn frame(&self, msg: WsMessage) -> WsMessage {
        match (self.inner.engine_io, msg.as_text()) {
            (true, Some(text)) => chorus_proto::engineio::message(text),
            _ => msg,
        }
    }

    /// The path this endpoint serves.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// Every connected client.
    pub fn clients(&self) -> Vec<Conn> {
        self.inner.conns.read().values().cloned().collect()
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.inner.conns.read().len()
    }

    /// Sends a message to every client; returns how many it was queued for.
    pub fn broadcast(&self, msg: WsMessage) -> usize {
        self.publish(msg, Audience::Everyone, None)
    }

    /// Sends a message to every client but `except` (the seeds' `broadcastToElse`).
    pub fn broadcast_except(&self, msg: WsMessage, except: ConnId) -> usize {
        self.publish(msg, Audience::Everyone, Some(except))
    }

    /// Publishes a message of the server's to this endpoint's clients, framed as they
    /// receive it; how many it was queued for.
    fn publish(&self, msg: WsMessage, to: Audience, except: Option<ConnId>) -> usize {
        let mut publish = Publish::new(Body::Frame(self.frame(msg)), to);
        publish.except = except;
        match self.inner.ns.publish(publish, None) {
            Ok(Routed::Now(delivered)) => delivered,
            // The endpoint's namespace keeps no history and has no client on whose behalf
            // the server publishes: nothing can wait or be refused.
            Ok(Routed::Later { .. }) | Err(_) => 0,
        }
    }

    /// Opens a WebSocket client of this endpoint: the handshake (with the subprotocol the
    /// handlers choose) and its token, then the connection.
    pub(crate) fn accept(&self, ctx: &Context, req: Request) -> Response {
        let offered = offered_protocols(req.headers());
        let protocol = match &self.inner.handlers.protocols {
            Some(ours) => ours.iter().find(|p| offered.contains(p)).cloned(),
            None => offered.first().cloned(),
        };
        let admit = |info: &mut HandshakeInfo| ctx.authenticate(info, false);
        let (response, upgraded, info) =
            match handshake::<Refusal>(req, protocol, &ctx.config, admit) {
                Ok(accepted) => accepted,
                Err(refused) => return ctx.refuse(refused),
            };
        let name = info.identity.as_ref().map(|id| Arc::from(id.nickname()));
        let (peer, queue) = self.inner.ns.connect(super::format::raw(), name);
        let grant = auth::grant_for(ctx.auth.as_ref(), info.identity.as_ref());
        let session = self.open(peer, info, grant);
        connection::spawn(
            upgraded,
            queue,
            session,
            ctx.transport(crate::metrics::Protocol::Raw),
        );
        response
    }

    /// Registers a connection and runs `on_connection`. A `grant` is armed here: the
    /// connection is closed with 3000 when its token expires.
    pub(crate) fn open(
        &self,
        peer: Arc<Peer>,
        info: HandshakeInfo,
        grant: Option<Arc<Grant>>,
    ) -> EndpointSession {
        if let Some(identity) = &info.identity {
            self.inner.ns.set_user(&peer, &identity.user_id);
        }
        if let Some(grant) = &grant {
            grant.arm(auth::close_on_expiry(peer.mailbox()));
        }
        let conn = Conn::new(peer, info, self.clone(), grant);
        self.inner.conns.write().insert(conn.id(), conn.clone());
        if let Some(f) = &self.inner.handlers.on_connection {
            f(&conn);
        }
        EndpointSession {
            endpoint: self.clone(),
            conn,
        }
    }
}

/// A connection of a library raw endpoint: frames go to the user's handlers.
pub(crate) struct EndpointSession {
    endpoint: RawEndpoint,
    conn: Conn,
}

impl Session for EndpointSession {
    fn on_message(&mut self, msg: WsMessage) {
        let handlers = &self.endpoint.inner.handlers;
        match msg.kind {
            MessageKind::Text => {
                if let (Some(f), Some(text)) = (&handlers.on_text, msg.as_text()) {
                    f(&self.conn, text);
                }
            }
            MessageKind::Binary => {
                if let Some(f) = &handlers.on_binary {
                    f(&self.conn, &msg.payload);
                }
            }
        }
    }

    fn on_close(&mut self, closed: &Closed) {
        let inner = &self.endpoint.inner;
        inner.conns.write().remove(&self.conn.id());
        inner.ns.disconnect(self.conn.peer());
        if let (Some(f), Some(error)) = (&inner.handlers.on_error, &closed.error) {
            f(&self.conn, error);
        }
        if let Some(f) = &inner.handlers.on_close {
            f(&self.conn, closed.code, &closed.reason);
        }
    }
}

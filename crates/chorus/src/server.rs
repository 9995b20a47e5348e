//! The server: configuration, the hub, the endpoints, and the HTTP router that serves them
//! all on one port.
//!
//! Routing, in order: `/healthz`, `/metrics` and the embedded web assets; `/ws`, the native protocol;
//! paths registered with [`Server::raw`]; then, for any other path, a WebSocket handshake
//! joins the raw room of that path (when `raw_rooms` is on) and plain HTTP gets the chat
//! page at `/` or a 404.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chorus_core::{Hub, HubConfig, Namespace, Outbound, WireFormat};
use http::StatusCode;
use parking_lot::RwLock;

use crate::assets;
use crate::auth::{self, Auth};
use crate::config::Config;
use crate::engineio::{Engine, EngineConfig};
use crate::io::{Handshake, Io, Wire};
use crate::listener::{self, Admission, ConnSlot};
use crate::metrics::{Event as MetricEvent, Metrics};
use crate::native::{self, NativeSession};
use crate::pulse::Pulse;
use crate::raw::{HandshakeInfo, RawEndpoint, RawHandlers, RoomSession};
use crate::socketio::conn::SocketIoConn;
use crate::socketio::{Namespaces, SocketIoConfig};
use crate::transport;
use crate::upgrade::{self, HandshakeError};

/// The path of the native protocol endpoint.
pub const NATIVE_PATH: &str = "/ws";
/// The hub namespace of the event layer.
const EVENT_NAMESPACE: &str = "/";
/// The hub namespace of raw rooms.
const RAW_ROOMS_NAMESPACE: &str = "raw";

/// A chorus server: cheap to clone, every clone is the same server.
///
/// ```
/// use chorus::{Config, RawHandlers, Server};
/// use futures::{SinkExt, StreamExt};
/// use tokio_tungstenite::tungstenite::Message;
///
/// # #[tokio::main] async fn main() {
/// let server = Server::new(Config { chat_page: false, ..Config::embedded() });
/// server.raw("/scream", RawHandlers::new().on_text(|conn, text| {
///     conn.send_text(text.to_uppercase() + "!!!");
/// }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// tokio::spawn(server.serve(listener));
///
/// let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/scream")).await.unwrap();
/// ws.send(Message::text("hi")).await.unwrap();
/// let reply = ws.next().await.unwrap().unwrap();
/// assert_eq!(reply.into_text().unwrap().as_str(), "HI!!!");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    hub: Hub,
    io: Io,
    publisher: Option<Arc<chorus_core::Publisher>>,
    namespaces: Arc<Namespaces>,
    engines: RwLock<Vec<(String, Arc<Engine>)>>,
    socketio_client: std::sync::OnceLock<Option<bytes::Bytes>>,
    raw_rooms: Arc<Namespace>,
    endpoints: RwLock<HashMap<String, RawEndpoint>>,
    http: RwLock<Option<Router>>,
    admission: Arc<Admission>,
    shutdown: tokio::sync::watch::Sender<bool>,
    metrics: Arc<Metrics>,
    /// Token checks; `None` when no key is configured.
    auth: Option<Arc<Auth>>,
    /// The WebSocket transport's settings, shared by every connection: with WebSocket
    /// pings, and without them for Engine.IO (its heartbeat is its own).
    transport: [Arc<transport::TransportConfig>; 2],
}

/// The WebSocket transport's settings under `config`.
fn transport_config(
    config: &Config,
    metrics: &Arc<Metrics>,
    ws_pings: bool,
) -> Arc<transport::TransportConfig> {
    Arc::new(transport::TransportConfig {
        ping_interval: Duration::from_millis(config.ping_interval_ms),
        ping_timeout: Duration::from_millis(config.ping_timeout_ms),
        rate: (config.max_messages_per_sec > 0)
            .then_some((config.max_messages_per_sec, config.message_burst)),
        metrics: metrics.clone(),
        pulse: ws_pings.then(|| Pulse::new(Duration::from_millis(config.ping_interval_ms))),
    })
}

/// Why a server could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The history store could not be opened.
    #[error("opening the history store: {0}")]
    Store(#[from] chorus_core::StoreError),
    /// The token verification key could not be loaded.
    #[error("loading the token key: {0}")]
    Key(#[from] auth::KeyError),
}

impl Default for Server {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Server {
    /// A server with this configuration.
    ///
    /// # Panics
    ///
    /// If the history store cannot be opened (a `sqlite` store whose `data_dir` is not
    /// writable, say) or `jwt_public_key` cannot be loaded; [`Server::try_new`] returns
    /// that as an error instead.
    pub fn new(config: Config) -> Self {
        Self::try_new(config).unwrap_or_else(|err| panic!("chorus: {err}"))
    }

    /// A server with this configuration, or why its history store or its token key
    /// cannot be opened.
    pub fn try_new(config: Config) -> Result<Self, StartError> {
        let metrics = Arc::<Metrics>::default();
        let auth = Auth::from_config(&config, metrics.clone())?;
        let publisher = crate::storage::publisher(&config)?;
        if let Some(publisher) = &publisher {
            if !(config.socketio && config.socketio_recovery_secs > 0) {
                // Socket.IO sessions a previous run left open can never recover now: let
                // the store's retention pass remove them. (With recovery on, `Recovery`
                // gives them their time instead.)
                let now = chorus_core::publisher::now_ms();
                if let Err(err) = publisher.store().expire_open_sessions(now) {
                    tracing::warn!(%err, "cannot expire the previous run's socket.io sessions");
                }
            }
        }
        let hub = Hub::new(HubConfig {
            queue: chorus_core::QueueLimits {
                messages: config.queue_capacity,
                bytes: config.queue_max_bytes,
            },
            max_rooms_per_conn: config.max_rooms_per_conn,
        });
        let presence = config.presence_notices;
        let io = Io::new(hub.namespace(EVENT_NAMESPACE, presence), publisher.clone());
        let raw_rooms = hub.namespace(RAW_ROOMS_NAMESPACE, false);
        let admission = Admission::new(config.max_connections, config.max_connections_per_ip);
        let namespaces = Arc::new(Namespaces::default());
        namespaces.insert(EVENT_NAMESPACE, io.clone());
        let transport = [
            transport_config(&config, &metrics, true),
            transport_config(&config, &metrics, false),
        ];
        let server = Self {
            inner: Arc::new(Inner {
                config,
                publisher,
                hub,
                io,
                namespaces,
                engines: RwLock::new(Vec::new()),
                socketio_client: std::sync::OnceLock::new(),
                raw_rooms,
                endpoints: RwLock::new(HashMap::new()),
                http: RwLock::new(None),
                admission,
                shutdown: tokio::sync::watch::channel(false).0,
                metrics,
                auth,
                transport,
            }),
        };
        if server.inner.config.socketio {
            server.mount_socketio();
        }
        Ok(server)
    }

    fn engine_config(&self, format: WireFormat) -> EngineConfig {
        let config = &self.inner.config;
        EngineConfig {
            ping_interval: Duration::from_millis(config.ping_interval_ms),
            ping_timeout: Duration::from_millis(config.ping_timeout_ms),
            max_payload: config.max_message_size,
            upgrade_timeout: Duration::from_secs(10),
            queue: chorus_core::QueueLimits {
                messages: config.queue_capacity,
                bytes: config.queue_max_bytes,
            },
            format,
        }
    }

    fn mount_engine(&self, path: &str, engine: Arc<Engine>) {
        let path = path.trim_end_matches('/').to_owned();
        let mut engines = self.inner.engines.write();
        engines.retain(|(p, _)| *p != path);
        engines.push((path, engine));
    }

    fn mount_socketio(&self) {
        let namespaces = self.inner.namespaces.clone();
        let config = &self.inner.config;
        let recovery = self
            .inner
            .publisher
            .clone()
            .filter(|_| config.socketio_recovery_secs > 0)
            .map(|publisher| {
                let max = Duration::from_secs(config.socketio_recovery_secs);
                // Half the outbound queue: the replay and what arrives meanwhile must fit.
                let max_replay = (config.queue_capacity / 2).max(1);
                crate::socketio::recovery::Recovery::start(publisher, max, max_replay)
            });
        // With recovery on, stored events carry their offset (as socket.io's do then).
        let format = match recovery {
            Some(_) => WireFormat::SocketIoRecovery,
            None => WireFormat::SocketIo,
        };
        let sio = SocketIoConfig {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            limits: chorus_proto::socketio::Limits::default(),
            auth: self.inner.auth.clone(),
            recovery,
        };
        let engine = Engine::new(
            self.engine_config(format),
            Box::new(move |session, info| {
                Box::new(SocketIoConn::new(
                    namespaces.clone(),
                    session,
                    info,
                    sio.clone(),
                ))
            }),
        );
        self.mount_engine(&self.inner.config.socketio_path, engine);
    }

    /// The Socket.IO namespace `name` (`/admin`), created on first use: its own sockets
    /// and rooms. `of("/")` is [`Server::io`], the namespace native clients share.
    pub fn of(&self, name: &str) -> Io {
        if let Some(io) = self.inner.namespaces.get(name) {
            return io;
        }
        let io = Io::new(
            self.inner
                .hub
                .namespace(name, self.inner.config.presence_notices),
            self.inner.publisher.clone(),
        );
        self.inner.namespaces.insert(name, io.clone());
        self.inner.namespaces.get(name).unwrap_or(io)
    }

    /// Serves a raw Engine.IO endpoint at `path`: clients connect with an Engine.IO client
    /// (long-polling, WebSocket, or polling upgraded to WebSocket) and exchange plain
    /// messages with these handlers, as on a [`Server::raw`] WebSocket endpoint.
    pub fn engine_io(&self, path: &str, handlers: RawHandlers) -> RawEndpoint {
        let ns = self
            .inner
            .hub
            .namespace(&format!("engine.io:{path}"), false);
        let endpoint = RawEndpoint::new(path.to_owned(), handlers, ns, true);
        let opened = endpoint.clone();
        let auth = self.inner.auth.clone();
        let engine = Engine::new(
            self.engine_config(WireFormat::Raw),
            Box::new(move |session, info| {
                let name = info.identity.as_ref().map(|id| Arc::from(id.nickname()));
                let peer = opened.inner.ns.attach(session.mailbox.clone(), name);
                let grant = auth::grant_for(auth.as_ref(), info.identity.as_ref());
                Box::new(opened.open(peer, info, grant))
            }),
        );
        self.mount_engine(path, engine);
        endpoint
    }

    fn engine_at(&self, path: &str) -> Option<Arc<Engine>> {
        let path = path.trim_end_matches('/');
        self.inner
            .engines
            .read()
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, e)| e.clone())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The hub (for inspection: namespaces, rooms, connection counts).
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// The event layer: `io.on_connection(|socket| socket.on("event", ...))`.
    pub fn io(&self) -> Io {
        self.inner.io.clone()
    }

    /// Serves a plain WebSocket endpoint at `path` with these handlers, replacing any
    /// earlier one at the same path. The returned handle lists and broadcasts to its
    /// clients.
    pub fn raw(&self, path: &str, handlers: RawHandlers) -> RawEndpoint {
        let ns = self.inner.hub.namespace(&format!("endpoint:{path}"), false);
        let endpoint = RawEndpoint::new(path.to_owned(), handlers, ns, false);
        self.inner
            .endpoints
            .write()
            .insert(path.to_owned(), endpoint.clone());
        endpoint
    }

    /// Plain HTTP requests that chorus does not answer itself (anything but `/healthz`,
    /// the web assets and WebSocket handshakes) go to `router`: your pages and APIs on the
    /// same port and paths as your WebSocket endpoints. A WebSocket handshake on a path
    /// always goes to chorus, even where `router` has a `GET` route.
    pub fn http(&self, router: Router) {
        *self.inner.http.write() = Some(router);
    }

    /// The axum router serving everything this server does. Merge it into an existing
    /// router to serve chorus beside your own routes (it has a fallback, so merge it last
    /// or into a router without one). To see clients' addresses, serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()`, as [`Server::serve`] does.
    pub fn router(&self) -> Router {
        let mut router = Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics));
        if self.inner.config.chat_page {
            router = assets::routes(router);
        } else {
            router = router.route("/chorus.js", get(assets::chorus_js));
        }
        router.fallback(dispatch).with_state(self.clone())
    }

    /// Serves on `listener` until the process ends, with the configured connection limits
    /// and handshake timeout.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let tls = match (&self.inner.config.tls_cert, &self.inner.config.tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::tls::acceptor(cert, key)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
            ),
            _ => None,
        };
        let settings = listener::Settings {
            admission: self.inner.admission.clone(),
            header_timeout: Duration::from_millis(self.inner.config.handshake_timeout_ms),
            metrics: self.inner.metrics.clone(),
            tls,
        };
        let shutdown = self.inner.shutdown.subscribe();
        listener::serve(listener, self.router(), settings, shutdown).await
    }

    /// Drains the server: stops accepting connections, tells every WebSocket client it is
    /// going away (close 1001, after the messages already queued for it, so it can
    /// reconnect elsewhere), and waits until every connection served by
    /// [`Server::serve`] has closed or `timeout` has passed. Returns how many were still
    /// open at the deadline.
    pub async fn shutdown(&self, timeout: Duration) -> usize {
        self.inner.shutdown.send_replace(true);
        for (_, engine) in self.inner.engines.read().iter() {
            for mailbox in engine.mailboxes() {
                mailbox.push(Outbound::Close(chorus_core::CloseReason::new(
                    1001,
                    "server shutting down",
                )));
            }
        }
        for ns in self.inner.hub.namespaces() {
            for peer in ns.peers() {
                peer.push(Outbound::Close(chorus_core::CloseReason::new(
                    1001,
                    "server shutting down",
                )));
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while self.inner.admission.open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.inner.admission.open()
    }

    /// Connections open now (HTTP and WebSocket) through [`Server::serve`].
    pub fn open_connections(&self) -> usize {
        self.inner.admission.open()
    }

    /// Binds the configured address and serves.
    pub async fn listen(self) -> std::io::Result<()> {
        let listener = crate::listener::bind(self.inner.config.socket_addr()).await?;
        self.serve(listener).await
    }

    /// The WebSocket transport settings for Engine.IO sessions: their heartbeat is
    /// Engine.IO's own.
    pub(crate) fn engine_transport_config(&self) -> Arc<transport::TransportConfig> {
        self.inner.transport[1].clone()
    }

    fn transport_config(&self) -> Arc<transport::TransportConfig> {
        self.inner.transport[0].clone()
    }

    /// Checks the token of a handshake and records who it proves the client to be in
    /// `info.identity`. `defer_missing`: a request without a token passes even when
    /// anonymous access is off (a Socket.IO client may send it in CONNECT).
    pub(crate) fn authenticate(
        &self,
        info: &mut HandshakeInfo,
        defer_missing: bool,
    ) -> Result<(), HandshakeError> {
        if let Some(auth) = &self.inner.auth {
            info.identity = auth.check_handshake(info, defer_missing)?;
        }
        Ok(())
    }

    /// Answers a refused handshake, counting it.
    pub(crate) fn refuse(&self, err: HandshakeError) -> Response {
        let response = err.into_response();
        let event = match response.status() {
            StatusCode::UNAUTHORIZED => Some(MetricEvent::Handshake401),
            StatusCode::FORBIDDEN => Some(MetricEvent::Handshake403),
            StatusCode::UPGRADE_REQUIRED => Some(MetricEvent::Handshake426),
            StatusCode::BAD_REQUEST => Some(MetricEvent::Handshake400),
            _ => None,
        };
        if let Some(event) = event {
            self.inner.metrics.count(event);
        }
        response
    }

    /// The Prometheus text exposition of the server's counters and gauges.
    pub fn metrics_text(&self) -> String {
        let sessions: Vec<(String, usize)> = self
            .inner
            .engines
            .read()
            .iter()
            .map(|(path, engine)| (format!("{path}/"), engine.session_count()))
            .collect();
        self.inner
            .metrics
            .render(&self.inner.hub, self.inner.admission.open(), &sessions)
    }

    fn open_native(&self, req: Request) -> Response {
        let offered = upgrade::offered_protocols(req.headers());
        let protocol = offered
            .iter()
            .find(|p| p.as_str() == chorus_proto::native::SUBPROTOCOL)
            .cloned();
        let io = self.inner.io.clone();
        let mut grant = None;
        let admit = |info: &mut HandshakeInfo| {
            self.authenticate(info, false)?;
            grant = auth::grant_for(self.inner.auth.as_ref(), info.identity.as_ref());
            io.admit(&Handshake::new(Arc::new(info.clone()), None, grant.clone()))
                .map_err(|err| HandshakeError::Refused(err.message))
        };
        let (response, upgraded, info) = match handshake(req, protocol, &self.inner.config, admit) {
            Ok(accepted) => accepted,
            Err(refused) => return self.refuse(refused),
        };
        // A token's name wins over `?name=`: the token is what the server trusts.
        let name = match &info.identity {
            Some(identity) => Some(Arc::from(identity.nickname())),
            None => info
                .query("name")
                .and_then(|n| chorus_proto::native::command::check_name(&n, &native::limits()).ok())
                .map(Arc::from),
        };
        let (peer, queue) = io.inner.ns.connect(WireFormat::Native, name);
        if let Some(grant) = &grant {
            grant.arm(auth::close_on_expiry(peer.mailbox()));
        }
        // The greeting goes first, before any handler can emit.
        peer.push(Outbound::Message(chorus_proto::native::push::hello(
            &peer.id().to_string(),
            &peer.name(),
            concat!("chorus/", env!("CARGO_PKG_VERSION")),
        )));
        let socket = io.open(
            peer,
            Handshake::new(Arc::new(info), None, grant),
            Wire::Native,
        );
        // Boxed: inline, it would take the connection's task past its budget.
        let session = Box::new(NativeSession {
            io,
            socket,
            limits: native::limits(),
            client_emits: self.inner.config.client_emits,
        });
        spawn_connection(upgraded, queue, session, self.transport_config());
        response
    }

    fn open_endpoint(&self, endpoint: RawEndpoint, req: Request) -> Response {
        let offered = upgrade::offered_protocols(req.headers());
        let protocol = match &endpoint.inner.handlers.protocols {
            Some(ours) => ours.iter().find(|p| offered.contains(p)).cloned(),
            None => offered.first().cloned(),
        };
        let admit = |info: &mut HandshakeInfo| self.authenticate(info, false);
        let (response, upgraded, info) = match handshake(req, protocol, &self.inner.config, admit) {
            Ok(accepted) => accepted,
            Err(refused) => return self.refuse(refused),
        };
        let name = info.identity.as_ref().map(|id| Arc::from(id.nickname()));
        let (peer, queue) = endpoint.inner.ns.connect(WireFormat::Raw, name);
        let grant = auth::grant_for(self.inner.auth.as_ref(), info.identity.as_ref());
        let session = endpoint.open(peer, info, grant);
        spawn_connection(upgraded, queue, session, self.transport_config());
        response
    }

    /// The publisher, if raw room `room` keeps history (`raw_room_history` names it and
    /// its retention keeps messages).
    fn raw_room_history(&self, room: &str) -> Option<Arc<chorus_core::Publisher>> {
        let config = &self.inner.config;
        self.inner.publisher.clone().filter(|publisher| {
            config
                .raw_room_history
                .iter()
                .any(|pattern| chorus_core::history::glob(pattern, room))
                && publisher.retention(room).is_some()
        })
    }

    fn open_raw_room(&self, req: Request) -> Response {
        let protocol = upgrade::offered_protocols(req.headers()).into_iter().next();
        let admit = |info: &mut HandshakeInfo| {
            self.authenticate(info, false)?;
            match &info.identity {
                Some(identity) if !identity.join.allows(info.uri.path()) => {
                    Err(HandshakeError::NotPermitted(format!(
                        "your token does not allow joining room {:?}",
                        info.uri.path()
                    )))
                }
                _ => Ok(()),
            }
        };
        let (response, upgraded, info) = match handshake(req, protocol, &self.inner.config, admit) {
            Ok(accepted) => accepted,
            Err(refused) => return self.refuse(refused),
        };
        let ns = self.inner.raw_rooms.clone();
        let room: Arc<str> = Arc::from(info.uri.path());
        let name = info.identity.as_ref().map(|id| Arc::from(id.nickname()));
        let may_publish = info
            .identity
            .as_ref()
            .is_none_or(|identity| identity.publish.allows(&room));
        let grant = auth::grant_for(self.inner.auth.as_ref(), info.identity.as_ref());
        let (peer, queue) = ns.connect(WireFormat::Raw, name);
        if let Some(grant) = &grant {
            grant.arm(auth::close_on_expiry(peer.mailbox()));
        }
        let history = self.raw_room_history(&room);
        let joined = match &history {
            // Its last messages first, then live: the join is ordered with the room's
            // stream under the publisher's gate.
            Some(publisher) => {
                let replay = self.inner.config.raw_room_replay;
                publisher.join_last(&ns, &peer, &room, replay).map(drop)
            }
            None => ns.enter(&peer, &room).map(drop),
        };
        if let Err(err) = joined {
            tracing::warn!(%err, "raw room join failed");
        }
        // The room's own copy of its name, rather than one more per connection.
        let room = peer.room(&room).unwrap_or(room);
        tracing::debug!(id = %peer.id(), %room, addr = ?info.remote_addr, "raw client joined");
        let session = RoomSession {
            ns,
            peer,
            room,
            echo_to_sender: self.inner.config.echo_to_sender,
            may_publish,
            history,
            _grant: grant,
        };
        spawn_connection(upgraded, queue, session, self.transport_config());
        response
    }
}

/// Checks and accepts a handshake: the `101` response, the future of the upgraded socket,
/// and what the request said about the client.
///
/// The checks go in this order: the request is a WebSocket handshake (`400`/`426`), from
/// an allowed origin (`403`), then `admit` — the token (`401`) and what the endpoint asks
/// (middlewares, room permissions: `403`). `admit` may record what it learnt in the info.
///
/// Callers register the connection (and join its rooms) *before* returning the `101`, so a
/// client that sees its socket open is already a member: nothing sent to the room after
/// that moment can miss it.
pub(crate) fn handshake(
    mut req: Request,
    protocol: Option<String>,
    config: &Config,
    admit: impl FnOnce(&mut HandshakeInfo) -> Result<(), HandshakeError>,
) -> Result<(Response, Upgrade, HandshakeInfo), HandshakeError> {
    upgrade::check(&req)?;
    upgrade::check_origin(req.headers(), &config.allowed_origins)?;
    let slot = req.extensions().get::<Arc<ConnSlot>>().cloned();
    let mut info = handshake_info(&req, protocol.clone());
    admit(&mut info)?;
    let (response, upgraded) = upgrade::accept(&mut req, protocol.as_deref(), config)?;
    Ok((response, Upgrade { upgraded, slot }, info))
}

/// What a request tells about its client.
///
/// The URI and headers are copied, not cloned: hyper parses a request without copying, so
/// its header values and path are slices of the connection's read buffer (8 KiB or more),
/// and a clone kept for the socket's life would keep that whole buffer alive with it —
/// the largest part of what an idle native or Socket.IO connection cost.
pub(crate) fn handshake_info(req: &Request, protocol: Option<String>) -> HandshakeInfo {
    HandshakeInfo {
        remote_addr: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr),
        uri: detached_uri(req.uri()),
        headers: detached_headers(req.headers()),
        protocol,
        identity: None,
    }
}

/// A copy of `uri` that shares no memory with it.
fn detached_uri(uri: &http::Uri) -> http::Uri {
    // Only what a server-side request URI has: a path and a query. A URI that does not
    // parse back (it always does) is kept as it is rather than lost.
    uri.to_string().parse().unwrap_or_else(|_| uri.clone())
}

/// Headers that served only the upgrade itself: not kept for the socket's life. What an
/// application may want of them is elsewhere (the chosen subprotocol) or spent (the key).
const UPGRADE_ONLY: [http::HeaderName; 5] = [
    http::header::CONNECTION,
    http::header::UPGRADE,
    http::header::SEC_WEBSOCKET_KEY,
    http::header::SEC_WEBSOCKET_VERSION,
    http::header::SEC_WEBSOCKET_EXTENSIONS,
];

/// A copy of `headers` that shares no memory with them (see [`handshake_info`]), less the
/// [`UPGRADE_ONLY`] ones.
///
/// Every idle connection keeps this map, so it is kept compact: all values are copied into
/// one allocation and share it, rather than one small allocation each.
fn detached_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let kept = || {
        headers
            .iter()
            .filter(|(name, _)| !UPGRADE_ONLY.contains(name))
    };
    let mut values = bytes::BytesMut::with_capacity(kept().map(|(_, v)| v.len()).sum());
    for (_, value) in kept() {
        values.extend_from_slice(value.as_bytes());
    }
    let values = values.freeze();
    let mut copy = http::HeaderMap::with_capacity(kept().count());
    let mut at = 0;
    for (name, value) in kept() {
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap_or(name.clone());
        let shared = values.slice(at..at + value.len());
        at += value.len();
        let mut owned = http::HeaderValue::from_maybe_shared(shared).unwrap_or(value.clone());
        owned.set_sensitive(value.is_sensitive());
        copy.append(name, owned);
    }
    copy
}

/// A handshake that was accepted: the socket to come, and the connection's place under
/// the connection limits, held until the WebSocket closes.
pub(crate) struct Upgrade {
    pub(crate) upgraded: upgrade::Upgrading,
    pub(crate) slot: Option<Arc<ConnSlot>>,
}

/// Runs a registered connection on its own task once the HTTP connection has switched
/// protocols; if it never does, the session is closed as if the client had left.
pub(crate) fn spawn_connection(
    upgrade: Upgrade,
    queue: chorus_core::PeerQueue,
    session: impl transport::Session + 'static,
    config: Arc<transport::TransportConfig>,
) {
    use futures::FutureExt;
    let Upgrade { upgraded, slot } = upgrade;
    // Not an `async` block around the connection: that would keep its captures beside the
    // connection's own future for the connection's whole life.
    let task = transport::run(upgraded, queue, session, config).map(move |()| drop(slot));
    debug_assert!(
        std::mem::size_of_val(&task) <= transport::TASK_FUTURE_BUDGET,
        "a connection task of {} bytes: box its session",
        std::mem::size_of_val(&task)
    );
    tokio::spawn(task);
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(server): State<Server>) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        server.metrics_text(),
    )
        .into_response()
}

async fn dispatch(State(server): State<Server>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if let Some(engine) = server.engine_at(&path) {
        return engine.handle(server.clone(), req).await;
    }
    if server.inner.config.socketio
        && req.method() == http::Method::GET
        && path.strip_prefix(server.inner.config.socketio_path.as_str()) == Some("socket.io.js")
    {
        return assets::socketio_client(&server.inner.config, &server.inner.socketio_client);
    }
    let attempt = upgrade::is_attempt(&req);
    if !attempt {
        let http = server.inner.http.read().clone();
        if let Some(http) = http {
            use tower::ServiceExt;
            return match http.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
    }
    if path == NATIVE_PATH {
        return if attempt {
            server.open_native(req)
        } else {
            server.refuse(HandshakeError::NotWebSocket)
        };
    }
    let endpoint = server.inner.endpoints.read().get(&path).cloned();
    if let Some(endpoint) = endpoint {
        return if attempt {
            server.open_endpoint(endpoint, req)
        } else {
            server.refuse(HandshakeError::NotWebSocket)
        };
    }
    if attempt {
        if server.inner.config.raw_rooms {
            return server.open_raw_room(req);
        }
        return (
            StatusCode::NOT_FOUND,
            "no WebSocket endpoint at this path\n",
        )
            .into_response();
    }
    if path == "/" && server.inner.config.chat_page && req.method() == http::Method::GET {
        return assets::index().await.into_response();
    }
    (StatusCode::NOT_FOUND, Body::from("not found\n")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `part` lies inside `buffer`'s memory.
    fn inside(part: &[u8], buffer: &[u8]) -> bool {
        let range = buffer.as_ptr_range();
        range.contains(&part.as_ptr())
    }

    #[test]
    fn handshake_info_keeps_nothing_of_the_request_buffer() {
        // As hyper parses: values and the path are slices of one read buffer.
        let buffer = bytes::Bytes::from(
            "GET /ws?name=ann HTTP/1.1\r\nx-custom-header: hello\r\nsec-websocket-key: abc\r\n"
                .as_bytes()
                .to_vec(),
        );
        let slice = |s: &str| {
            let at = buffer
                .windows(s.len())
                .position(|w| w == s.as_bytes())
                .unwrap();
            buffer.slice(at..at + s.len())
        };
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = http::Uri::from_maybe_shared(slice("/ws?name=ann")).unwrap();
        let name = http::HeaderName::from_bytes(b"x-custom-header").unwrap();
        let mut secret = http::HeaderValue::from_maybe_shared(slice("abc")).unwrap();
        secret.set_sensitive(true);
        req.headers_mut().insert(
            name,
            http::HeaderValue::from_maybe_shared(slice("hello")).unwrap(),
        );
        req.headers_mut().insert("authorization", secret);
        req.headers_mut().insert(
            "sec-websocket-key",
            http::HeaderValue::from_maybe_shared(slice("abc")).unwrap(),
        );
        req.headers_mut()
            .append("x-custom-header", http::HeaderValue::from_static("again"));
        assert!(inside(req.headers()["x-custom-header"].as_bytes(), &buffer));

        let info = handshake_info(&req, None);
        let mut expected = req.headers().clone();
        expected.remove("sec-websocket-key");
        assert_eq!(info.headers, expected, "all but the upgrade-only headers");
        let values: Vec<_> = info.headers.get_all("x-custom-header").iter().collect();
        assert_eq!(values, ["hello", "again"]);
        assert_eq!(info.uri, *req.uri());
        assert_eq!(info.query("name").as_deref(), Some("ann"));
        assert!(info.headers["authorization"].is_sensitive());
        assert!(!info.headers["x-custom-header"].is_sensitive());
        for (name, value) in &info.headers {
            assert!(!inside(value.as_bytes(), &buffer), "{name}");
            assert!(!inside(name.as_str().as_bytes(), &buffer), "{name}");
        }
        let path = info.uri.path_and_query().unwrap().as_str();
        assert!(!inside(path.as_bytes(), &buffer));
    }
}

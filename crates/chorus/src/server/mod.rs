//! The server: the hub, the sessions and the router, wired together on one port.
//!
//! [`Server`] is what users build and run. It owns the hub and the publisher over the
//! configured store ([`storage`]), the event layer's namespaces, and the [`Routes`] the
//! HTTP router dispatches to (`crate::http`); everything else is handed down from here.

mod storage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chorus_core::{Format, History, Hub, HubConfig, Outbound, Policy, Publisher};
use parking_lot::RwLock;

use crate::auth::{self, Auth};
use crate::config::{Config, HookAsk};
use crate::events::{DynamicIo, Io};
use crate::hooks::Hooks;
use crate::http::Routes;
use crate::metrics::Metrics;
use crate::session::engineio::{Engine, EngineConfig};
use crate::session::raw::room::RawRooms;
use crate::session::raw::{self, RawEndpoint, RawHandlers};
use crate::session::socketio;
use crate::session::socketio::conn::SocketIoConn;
use crate::session::socketio::recovery::Recovery;
use crate::session::socketio::{Dynamic, Namespaces, SocketIoConfig};
use crate::session::Context;
use crate::wire::listener::{self, Admission};
use crate::wire::{close, tls};

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
    routes: Arc<Routes>,
    publisher: Option<Arc<Publisher>>,
    namespaces: Arc<Namespaces>,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// The official admin UI's namespace, when it has a password.
    admin_ui: std::sync::OnceLock<crate::admin_ui::AdminUi>,
}

/// The policy of the event layer's namespaces (`/` and Socket.IO's named ones).
/// Gives a namespace the server's hooks: its built-in events ask the backend, and its
/// rooms' joins and leaves are told to it.
fn hook(io: &Io, hooks: Option<&Arc<Hooks>>) {
    let Some(hooks) = hooks else { return };
    let _ = io.inner.hooks.set(hooks.clone());
    if let Some(watch) = hooks.watch() {
        io.inner.ns.watch_membership(watch);
    }
}

fn event_policy(config: &Config) -> Policy {
    Policy {
        presence: config.presence_notices,
        client_emits: config.client_emits,
        history: History::Rules,
    }
}

/// The policy of a library endpoint's namespace: plain messages, no presence, no history.
fn endpoint_policy() -> Policy {
    Policy {
        presence: false,
        client_emits: true,
        history: History::Off,
    }
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
    /// The configuration is not one a server can run with.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The cluster's broker could not be set up.
    #[error("setting up the hooks' client: {0}")]
    Hooks(std::io::Error),

    #[error("setting up the broker: {0}")]
    Broker(#[from] chorus_broker::ConnectError),
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
        let publisher = storage::publisher(&config)?;
        Self::build(config, publisher)
    }

    /// A server that keeps its rooms' history (and Socket.IO's recovery sessions) in
    /// `store` rather than the one `config.store` names: where a store of your own — or one
    /// of `chorus-store`'s, set up your way — plugs in. History is kept as `config`'s rules
    /// say; `store = "none"` is ignored. Fails only if `jwt_public_key` cannot be loaded.
    pub fn with_store(
        config: Config,
        store: Arc<dyn chorus_core::Store>,
    ) -> Result<Self, StartError> {
        let config = match config.store {
            crate::config::StoreKind::None => Config {
                store: crate::config::StoreKind::Memory,
                ..config
            },
            _ => config,
        };
        let publisher = storage::publisher_over(&config, store);
        Self::build(config, publisher)
    }

    fn build(config: Config, publisher: Option<Arc<Publisher>>) -> Result<Self, StartError> {
        let metrics = Arc::<Metrics>::default();
        let auth = Auth::from_config(&config, metrics.clone())?;
        if let Some(publisher) = &publisher {
            // A store a cluster shares holds the open sessions of other nodes' clients too:
            // one node starting must not expire them.
            let shared = publisher.store().announces();
            if !(shared || config.socketio && config.socketio_recovery_secs > 0) {
                // Socket.IO sessions a previous run left open can never recover now: let
                // the store's retention pass remove them. (With recovery on, `Recovery`
                // gives them their time instead.)
                let now = chorus_core::publisher::now_ms();
                if let Err(err) = publisher.store().expire_open_sessions(now) {
                    tracing::warn!(%err, "cannot expire the previous run's socket.io sessions");
                }
            }
        }
        let hub_config = HubConfig {
            queue: chorus_core::QueueLimits {
                messages: config.queue_capacity,
                bytes: config.queue_max_bytes,
            },
            max_rooms_per_conn: config.max_rooms_per_conn,
        };
        let hub = Arc::new(match &config.broker {
            Some(url) => {
                config.validate()?;
                let adapter = config.socketio_adapter.is_some();
                let broker = chorus_broker::connect_with(url, adapter)?;
                let cluster = chorus_core::Cluster::new(broker);
                tracing::info!(node = %cluster.node(), broker = %url, "a node of a cluster");
                Hub::clustered(hub_config, cluster, publisher.clone())
            }
            None => Hub::new(hub_config, publisher.clone()),
        });
        let node = hub
            .cluster()
            .map(|cluster| Arc::from(cluster.node().to_string()));
        let hooks = Hooks::from_config(&config, node).map_err(StartError::Hooks)?;
        let io = Io::new(hub.namespace(EVENT_NAMESPACE, event_policy(&config)));
        hook(&io, hooks.as_ref());
        let raw_rooms = RawRooms::new(
            hub.namespace(
                RAW_ROOMS_NAMESPACE,
                Policy {
                    presence: false,
                    client_emits: true,
                    history: History::Rooms(config.raw_room_history.clone()),
                },
            ),
            config.echo_to_sender,
            hooks.clone(),
        );
        if let Some(watch) = hooks.as_ref().and_then(|hooks| hooks.watch()) {
            raw_rooms.ns.watch_membership(watch);
        }
        let admission = Admission::new(config.max_connections, config.max_connections_per_ip);
        let namespaces = Arc::new(Namespaces::default());
        namespaces.insert(EVENT_NAMESPACE, io.clone());
        let socketio = config.socketio;
        let routes = Arc::new(Routes {
            ctx: Arc::new(Context::new(config, auth, metrics, hooks)),
            hub,
            admission,
            native: io,
            raw_rooms,
            engines: RwLock::new(Vec::new()),
            endpoints: RwLock::new(HashMap::new()),
            http: RwLock::new(None),
            socketio_client: std::sync::OnceLock::new(),
            api: std::sync::OnceLock::new(),
        });
        let server = Self {
            inner: Arc::new(Inner {
                routes,
                publisher,
                namespaces,
                shutdown: tokio::sync::watch::channel(false).0,
                admin_ui: std::sync::OnceLock::new(),
            }),
        };
        if socketio {
            server.mount_socketio();
            server.mount_admin_ui();
        }
        server.mount_api();
        server.take_revocations();
        Ok(server)
    }

    /// Answers the official Socket.IO admin UI on `/admin`, if the config gives it a
    /// password.
    fn mount_admin_ui(&self) {
        let config = &self.ctx().config;
        let Some(password) = config.admin_ui_password.clone() else {
            return;
        };
        let admin = crate::admin_ui::install(
            self.of("/admin"),
            self.inner.namespaces.clone(),
            config.admin_ui_username.clone(),
            password,
        );
        let _ = self.inner.admin_ui.set(admin);
    }

    /// Revocations of tokens (the API's `revoke`, this node's or another's) come as an op
    /// in namespace `/`: they are the server's authentication's to carry out.
    fn take_revocations(&self) {
        let Some(auth) = self.ctx().auth.clone() else {
            return;
        };
        let revoker = chorus_core::ops::Revoker::new(move |revocation| auth.revoke(revocation));
        self.io().inner.ns.on_revoke(revoker);
    }

    /// Serves the server API at `/api` if the config gives it a key; otherwise `/api`
    /// says how to turn it on.
    fn mount_api(&self) {
        let routes = &self.inner.routes;
        // Every node answers for its figures, whether or not its own API is on: another
        // node's `stats` asks it.
        let reporter =
            crate::api::stats::reporter(Arc::downgrade(routes), std::time::Instant::now());
        self.io().inner.ns.on_stats(reporter);
        let config = &self.ctx().config;
        let api = if config.api_keys.is_empty() {
            crate::api::off()
        } else {
            let api = crate::api::Api::new(routes.hub.clone(), config, routes.ctx.metrics.clone());
            crate::api::router(std::sync::Arc::new(api))
        };
        let _ = routes.api.set(api);
    }

    fn ctx(&self) -> &Context {
        &self.inner.routes.ctx
    }

    fn engine_config(&self, format: Format) -> EngineConfig {
        let config = &self.ctx().config;
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
            cluster: self.hub().cluster().cloned(),
        }
    }

    fn mount_socketio(&self) {
        let namespaces = self.inner.namespaces.clone();
        let config = &self.ctx().config;
        let recovery = self
            .inner
            .publisher
            .clone()
            .filter(|_| config.socketio_recovery_secs > 0)
            .map(|publisher| {
                let max = Duration::from_secs(config.socketio_recovery_secs);
                // Half the outbound queue: the replay and what arrives meanwhile must fit.
                let max_replay = (config.queue_capacity / 2).max(1);
                Recovery::start(publisher, max, max_replay)
            });
        // With recovery on, stored events carry their offset (as socket.io's do then).
        let parser = socketio::parser::Parser(config.socketio_parser);
        let format = socketio::format::for_server(recovery.is_some(), parser);
        let sio = SocketIoConfig {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            limits: chorus_proto::socketio::Limits::default(),
            auth: self.ctx().auth.clone(),
            recovery,
            parser,
            hooks: self
                .ctx()
                .hooks
                .clone()
                .filter(|hooks| hooks.asks(HookAsk::Connect)),
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
        self.inner
            .routes
            .mount_engine(&self.ctx().config.socketio_path, engine);
    }

    /// The Socket.IO namespace `name` (`/admin`), created on first use: its own sockets
    /// and rooms. `of("/")` is [`Server::io`], the namespace native clients share.
    pub fn of(&self, name: &str) -> Io {
        if let Some(io) = self.inner.namespaces.get(name) {
            return io;
        }
        self.inner
            .namespaces
            .get_or_make(name, || Some(self.make_io(name)))
            .expect("made")
    }

    /// A new event-layer namespace `name` (not yet in the table).
    fn make_io(&self, name: &str) -> Io {
        let io = Io::new(
            self.inner
                .routes
                .hub
                .namespace(name, event_policy(&self.ctx().config)),
        );
        hook(&io, self.ctx().hooks.as_ref());
        io
    }

    /// A family of Socket.IO namespaces made on demand (socket.io's `io.of(/^\/room-\d+$/)`
    /// or `io.of((name, auth, next) => …)`): when a client connects to a namespace that does
    /// not exist and `matches` takes its name, it is made then, with the handlers and
    /// middlewares set on the returned [`DynamicIo`] — those set later reach the namespaces
    /// already made too. Families are tried in the order they were added; a name made once
    /// stays (as with [`Server::of`]).
    pub fn of_matching(&self, matches: impl Fn(&str) -> bool + Send + Sync + 'static) -> DynamicIo {
        let family = DynamicIo::default();
        let server = Arc::downgrade(&self.inner);
        let parent = family.clone();
        self.inner.namespaces.add_dynamic(Dynamic {
            matches: Box::new(matches),
            // Called under the table's lock for making namespaces: made whole (the family's
            // handlers set) before it is in the table.
            make: Box::new(move |name| {
                let server = Server {
                    inner: server.upgrade()?,
                };
                if !parent.admits_more() {
                    tracing::warn!(
                        namespace = name,
                        "a dynamic namespace family is full; refused"
                    );
                    return None;
                }
                let io = server.make_io(name);
                parent.adopt(&io);
                Some(io)
            }),
        });
        family
    }

    /// Serves a raw Engine.IO endpoint at `path`: clients connect with an Engine.IO client
    /// (long-polling, WebSocket, or polling upgraded to WebSocket) and exchange plain
    /// messages with these handlers, as on a [`Server::raw`] WebSocket endpoint.
    pub fn engine_io(&self, path: &str, handlers: RawHandlers) -> RawEndpoint {
        let ns = self
            .inner
            .routes
            .hub
            .namespace(&format!("engine.io:{path}"), endpoint_policy());
        let endpoint = RawEndpoint::new(path.to_owned(), handlers, ns, true);
        let opened = endpoint.clone();
        let auth = self.ctx().auth.clone();
        let engine = Engine::new(
            self.engine_config(raw::format::raw()),
            Box::new(move |session, info| {
                let name = info.identity.as_ref().map(|id| Arc::from(id.nickname()));
                let peer = opened.inner.ns.attach(session.mailbox.clone(), name);
                let grant = auth::grant_for(auth.as_ref(), info.identity.as_ref());
                Box::new(opened.open(peer, info, grant))
            }),
        );
        self.inner.routes.mount_engine(path, engine);
        endpoint
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.ctx().config
    }

    /// The hub (for inspection: namespaces, rooms, connection counts).
    pub fn hub(&self) -> &Hub {
        &self.inner.routes.hub
    }

    /// The event layer: `io.on_connection(|socket| socket.on("event", ...))`.
    pub fn io(&self) -> Io {
        self.inner.routes.native.clone()
    }

    /// Serves a plain WebSocket endpoint at `path` with these handlers, replacing any
    /// earlier one at the same path. The returned handle lists and broadcasts to its
    /// clients.
    pub fn raw(&self, path: &str, handlers: RawHandlers) -> RawEndpoint {
        let ns = self
            .inner
            .routes
            .hub
            .namespace(&format!("endpoint:{path}"), endpoint_policy());
        let endpoint = RawEndpoint::new(path.to_owned(), handlers, ns, false);
        self.inner
            .routes
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
        *self.inner.routes.http.write() = Some(router);
    }

    /// The axum router serving everything this server does. Merge it into an existing
    /// router to serve chorus beside your own routes (it has a fallback, so merge it last
    /// or into a router without one). To see clients' addresses, serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()`, as [`Server::serve`] does.
    pub fn router(&self) -> Router {
        self.inner.routes.router()
    }

    /// Serves on `listener` until the process ends, with the configured connection limits
    /// and handshake timeout.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let config = &self.ctx().config;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(
                tls::acceptor(cert, key)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
            ),
            _ => None,
        };
        let settings = listener::Settings {
            admission: self.inner.routes.admission.clone(),
            header_timeout: Duration::from_millis(config.handshake_timeout_ms),
            metrics: self.ctx().metrics.clone(),
            tls,
        };
        if let Some(cluster) = self.hub().cluster() {
            let listening = listener.local_addr()?;
            match &config.advertise {
                Some(address) => cluster.advertise(address),
                None if !listening.ip().is_unspecified() => {
                    cluster.advertise(&listening.to_string());
                }
                None => tracing::warn!(
                    "a node listening on every address does not know which one other nodes \
                     reach: set `advertise` so they can forward long-polling requests here"
                ),
            }
        }
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
        let routes = &self.inner.routes;
        for (_, engine) in routes.engines.read().iter() {
            for mailbox in engine.mailboxes() {
                mailbox.push(Outbound::Close(close::shutting_down()));
            }
        }
        for ns in routes.hub.namespaces() {
            for peer in ns.peers() {
                peer.push(Outbound::Close(close::shutting_down()));
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while routes.admission.open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        routes.admission.open()
    }

    /// Connections open now (HTTP and WebSocket) through [`Server::serve`].
    pub fn open_connections(&self) -> usize {
        self.inner.routes.admission.open()
    }

    /// Binds the configured address and serves.
    pub async fn listen(self) -> std::io::Result<()> {
        let listener = listener::bind(self.ctx().config.socket_addr()).await?;
        self.serve(listener).await
    }

    /// The Prometheus text exposition of the server's counters and gauges.
    pub fn metrics_text(&self) -> String {
        self.inner.routes.metrics_text()
    }
}

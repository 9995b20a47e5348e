//! Server configuration: every limit and switch, with its default.
//!
//! One struct, three sources. The binary reads an optional TOML file, then `CHORUS_*`
//! environment variables, then command-line flags, each overriding the one before
//! (`flags > env > file > defaults`). Library users build a [`Config`] in code. Unknown keys
//! in a file are rejected with the key's name, so a typo never silently does nothing.

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The configuration of a chorus server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `0.0.0.0`.
    pub host: IpAddr,
    /// Port to listen on. Default `3000`.
    pub port: u16,
    /// Largest WebSocket message a client may send, in bytes, after reassembling fragments
    /// and decompressing. Larger ones close the connection with 1009. Default 1 MiB.
    pub max_message_size: usize,
    /// Largest single WebSocket frame a client may send, in bytes (1009 when exceeded).
    /// Default 1 MiB.
    pub max_frame_size: usize,
    /// Negotiate permessage-deflate (RFC 7692) with clients that offer it. Costs a
    /// compression context per connection that uses it. Default off.
    pub compression: bool,
    /// Serve plain-WebSocket raw rooms on every path chorus does not claim itself.
    /// Default on.
    pub raw_rooms: bool,
    /// In raw rooms, send a message back to its sender too (as the seeds' group chat
    /// does). Default on.
    pub echo_to_sender: bool,
    /// Raw rooms (paths, `*` globs: `"/chat"`, `"/rooms/*"`) that keep history: their
    /// messages are stored (retention from `[[history]]` and the defaults, as for any room)
    /// before they go out, and a client that enters one first gets its last
    /// `raw_room_replay` messages, as plain WebSocket messages — a page that knows nothing
    /// of chorus shows what was said before it came. Default none: raw rooms keep nothing.
    pub raw_room_history: Vec<String>,
    /// How many of a raw room's last messages a client entering it gets, in a room that
    /// keeps history. Default 50.
    pub raw_room_replay: usize,
    /// Outbound queue per connection, in messages; a client that lets it fill up is
    /// disconnected with 1008. Default 1024.
    pub queue_capacity: usize,
    /// Outbound queue per connection, in bytes; a client that lets it fill up is
    /// disconnected with 1008. Default 4 MiB.
    pub queue_max_bytes: usize,
    /// Messages per second one connection may send, on average (a token bucket; WebSocket
    /// pings count, as each costs an answer); a client over it is closed with 1008. 0 turns the limit off. Default 0 (off: benchmarks and
    /// bulk publishers send fast; set it for public chat).
    pub max_messages_per_sec: u32,
    /// Messages a connection may send at once above the rate. Default 100.
    pub message_burst: u32,
    /// Most rooms one connection may join. Default 100.
    pub max_rooms_per_conn: usize,
    /// Initial codec read buffer per connection, in bytes, for connections with
    /// permessage-deflate only (the codec reads and inflates their frames; it grows for
    /// large frames and shrinks back). Every other connection reads into one buffer per
    /// thread and keeps bytes only for a frame still arriving. Default 1024.
    pub read_buffer: usize,
    /// Initial codec write buffer per connection, in bytes, for connections with
    /// permessage-deflate only: the codec compresses their messages and writes them
    /// through this buffer, which keeps what it grew to (up to its 8 KiB back-pressure
    /// mark). Every other connection writes its frames past the codec, gathered in one
    /// buffer per thread, and keeps no write buffer at all. Default 0.
    pub write_buffer: usize,
    /// Allow native clients to emit events to rooms, to everyone or to another
    /// connection (the chat-server mode). Default on.
    pub client_emits: bool,
    /// Tell a room's members when someone joins, leaves or changes their name (`presence`
    /// pushes). Default on. Turn it off for very large rooms: each join then costs the
    /// room nothing, instead of a notice to every member (the `presence` command still
    /// lists who is there).
    pub presence_notices: bool,
    /// Serve the chat page at `/` (and its assets). Default on.
    pub chat_page: bool,
    /// Most connections open at once; more are answered `503` and closed. Default 50000.
    pub max_connections: usize,
    /// Most connections open at once from one client address; more get `429`.
    /// Default 5000.
    pub max_connections_per_ip: usize,
    /// Time a client has to send its request headers, in milliseconds (slowloris
    /// defence); the connection is closed when it runs out. Default 10000.
    pub handshake_timeout_ms: u64,
    /// Interval between WebSocket pings the server sends, in milliseconds. Default 25000.
    pub ping_interval_ms: u64,
    /// How long after a ping a silent client is dropped, in milliseconds: a client
    /// from which nothing (not even a pong) arrived for `ping_interval_ms +
    /// ping_timeout_ms` is disconnected and leaves its rooms. Default 20000.
    pub ping_timeout_ms: u64,
    /// On SIGTERM or SIGINT, how long to wait for clients to be told and queues to be
    /// flushed before exiting, in milliseconds. Default 10000.
    pub drain_timeout_ms: u64,
    /// PEM certificate chain: with `tls_key`, the port serves `https://` and `wss://`.
    /// Default none (plain `http://` and `ws://`).
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
    /// Web origins allowed to open WebSockets, as `scheme://host[:port]`, or `"*"` for
    /// any. Requests without an `Origin` header (non-browser clients) are always
    /// allowed; so are pages of the server's own origin and of `localhost`. Others get
    /// `403`. Default empty: same origin and localhost only.
    pub allowed_origins: Vec<String>,
    /// Serve Socket.IO v5 clients (WebSocket and long-polling) at `socketio_path`, in the
    /// same rooms as `/ws`. Default true.
    pub socketio: bool,
    /// Where Socket.IO is served. Default `/socket.io/`, the clients' default.
    pub socketio_path: String,
    /// How long a Socket.IO connection may take to join its first namespace, in
    /// milliseconds. Default 45000 (socket.io's).
    pub connect_timeout_ms: u64,
    /// How long a Socket.IO client that lost its connection may come back as the same
    /// socket — same id and rooms, and every message it missed in rooms with history
    /// (socket.io's connection-state recovery, kept in the history store so it survives a
    /// restart) — in seconds. 0 turns it off; so does `store = "none"`. With it on, events
    /// stored in a room's history reach Socket.IO clients with their offset as an extra
    /// last argument, as socket.io does. Default 120 (socket.io's
    /// `maxDisconnectionDuration`).
    pub socketio_recovery_secs: u64,
    /// The password of the official Socket.IO admin UI (`@socket.io/admin-ui`): set, the
    /// server answers the UI on its `/admin` namespace, for `admin_ui_username` with this
    /// password. Default none: off.
    pub admin_ui_password: Option<Secret>,
    /// The admin UI's user name. Default `admin`.
    pub admin_ui_username: String,
    /// Keys of the server API (`/api`, for the application's backend: publish, emit to a
    /// user, disconnect, history, presence — see `docs/api.md`): a request must carry one
    /// (`Authorization: apikey <key>`, `Authorization: Bearer <key>` or `X-API-Key`).
    /// Several, so that a key can be rotated without a gap. Never logged. Default none:
    /// the API is off.
    pub api_keys: Vec<Secret>,
    /// How long the server API remembers a publish's `idempotency_key`, in seconds: the
    /// same key within it gets the first request's answer, and the message is not sent
    /// again. Default 300.
    pub api_idempotency_secs: u64,
    /// Hooks to the application's backend (`[hooks]`): it is asked whether a client may
    /// connect, join a room or publish, and told when rooms are occupied or vacated and
    /// members join or leave. See `docs/hooks.md`. Default: off.
    pub hooks: HooksConfig,
    /// The Socket.IO parser: `default` (socket.io's) or `msgpack` (clients made with
    /// `socket.io-msgpack-parser`). Default `default`.
    pub socketio_parser: SocketIoParser,
    /// The official Socket.IO browser client to serve at `<socketio_path>socket.io.js`
    /// (a `dist/` file of the npm package `socket.io-client`). Default: looked up in
    /// `node_modules/` and `e2e/node_modules/` under the working directory.
    pub socketio_client: Option<std::path::PathBuf>,
    /// Where room history is kept: `sqlite` (a file in `data_dir`, survives restarts),
    /// `memory` (lost on restart), or `none` (no history, no recovery). Default `sqlite`;
    /// [`Config::embedded`] uses `memory`.
    pub store: StoreKind,
    /// The broker that makes this server one node of a cluster: `redis://host:port` or
    /// `nats://host:port`. Every
    /// message published on any node then reaches the clients of every node, in one order
    /// per room (see `docs/cluster.md`); with `store = "redis"` history is shared too.
    /// Default none: one node alone.
    pub broker: Option<String>,
    /// On a cluster: where the other nodes reach this node's HTTP (`host:port`), to forward
    /// an Engine.IO long-polling request that reached them for a session this node holds
    /// (no sticky sessions needed). Default: the address the server listens on, unless
    /// that is `0.0.0.0` / `::` (then set it: polling requests for this node's sessions
    /// that reach another node are refused as unknown).
    pub advertise: Option<String>,
    /// On a cluster over Redis: `"socket.io-redis"` makes this node also speak
    /// `@socket.io/redis-adapter`'s format, so Node socket.io servers (with that adapter) and
    /// `@socket.io/redis-emitter` on the same Redis are part of the cluster: their
    /// broadcasts reach this node's clients and this node's reach theirs. Default none.
    pub socketio_adapter: Option<String>,
    /// The directory of the SQLite history file (`chorus.db`). Default `./chorus-data`.
    pub data_dir: std::path::PathBuf,
    /// When an acknowledged message is on disk: `batched` (committed with its batch;
    /// survives the process being killed, not the machine losing power) or `fsync`
    /// (synced with its batch). Default `batched`.
    pub durability: Durability,
    /// Messages a room keeps, unless a `history` rule says otherwise. Default 1000.
    pub history_max_messages: u64,
    /// Oldest message a room keeps, in seconds, unless a `history` rule says otherwise.
    /// Default 86400 (a day).
    pub history_max_age_secs: u64,
    /// Per-room-pattern history rules, first match wins (`[[history]] pattern = "tmp:*"
    /// max_messages = 0`); rooms no rule matches keep the defaults above. A rule with
    /// `max_messages = 0` turns history off for its rooms.
    pub history: Vec<HistoryRule>,
    /// Let clients in without a token. Default on: a client with no token is anonymous
    /// and may join and publish anywhere, as on a server without keys. Off: every
    /// connection needs a valid token (`401` before the upgrade otherwise), which needs
    /// `jwt_secret` or `jwt_public_key`. A token that is present but invalid is refused
    /// either way. See `docs/auth.md`.
    pub anonymous: bool,
    /// The HS256 secret tokens are signed with. Default none. Prefer the environment
    /// (`CHORUS_JWT_SECRET`) or a file readable by the server alone to a flag, which other
    /// users of the machine can see.
    pub jwt_secret: Option<Secret>,
    /// A PEM public key tokens are signed for: RSA verifies RS256, EC P-256 verifies
    /// ES256. Default none.
    pub jwt_public_key: Option<std::path::PathBuf>,
    /// The issuer tokens must name (`iss`). Default none: not checked.
    pub jwt_issuer: Option<String>,
    /// The audience tokens must name (`aud`). Default none: not checked.
    pub jwt_audience: Option<String>,
    /// Clock skew allowed between the token issuer and this server, in seconds: a token is
    /// accepted until `exp` plus this, and a connection is closed then. Default 30.
    pub jwt_leeway_secs: u64,
}

/// A secret that stays out of logs: `Debug` prints `[redacted]`. It is serialised as it
/// is (so a configuration written back as TOML keeps it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Ok(secret.into())
    }
}

/// The `[hooks]` table: where the application's backend is, what it decides, and what
/// happens when it does not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// The backend's base URL (`http://` or `https://`): chorus POSTs JSON to
    /// `<url>/connect`, `<url>/join`, `<url>/publish` and `<url>/events`. Default none: off.
    pub url: Option<String>,
    /// The key every request is signed with (HMAC-SHA256 of `<timestamp>.<body>`, in
    /// `X-Chorus-Signature`), at least 16 characters; required with `url`. Never logged.
    pub secret: Option<Secret>,
    /// The decisions the backend makes: any of `connect`, `join`, `publish`. Default all
    /// three.
    pub ask: Vec<HookAsk>,
    /// Tell the backend of rooms occupied and vacated and members joining and leaving
    /// (`<url>/events`, batched, in order). Default on.
    pub events: bool,
    /// How long one request may take, in milliseconds. Default 2000.
    pub timeout_ms: u64,
    /// How many times a request that failed (no answer in time, refused connection, a 5xx)
    /// is tried again, at once for a decision, with a growing pause for events.
    /// Default 1.
    pub retries: u32,
    /// What a decision is when the backend cannot be asked (every try failed): `deny`
    /// (the client gets `unavailable`, or 503 before the upgrade) or `allow`. Default
    /// `deny`.
    pub on_failure: HookFailure,
    /// The client's handshake headers passed to the connect hook, by name. Default
    /// `cookie`, `authorization`, `origin`, `user-agent`.
    pub headers: Vec<String>,
}

impl Default for HooksConfig {
    fn default() -> Self {
        Self {
            url: None,
            secret: None,
            ask: vec![HookAsk::Connect, HookAsk::Join, HookAsk::Publish],
            events: true,
            timeout_ms: 2000,
            retries: 1,
            on_failure: HookFailure::Deny,
            headers: ["cookie", "authorization", "origin", "user-agent"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl HooksConfig {
    /// Whether the backend decides `ask`.
    pub fn asks(&self, ask: HookAsk) -> bool {
        self.url.is_some() && self.ask.contains(&ask)
    }
}

/// A decision the backend may be asked to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HookAsk {
    /// May this client connect (and who is it)?
    Connect,
    /// May it join this room?
    Join,
    /// May it publish this message?
    Publish,
}

/// What a decision is when the backend cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HookFailure {
    /// Refuse (fail closed).
    Deny,
    /// Let it through (fail open).
    Allow,
}

/// How Socket.IO packets are written: the parser the server and its clients share (as in
/// socket.io, every client of a server uses the server's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "lowercase")]
pub enum SocketIoParser {
    /// socket.io's own: text packets, binary values as attachments.
    #[default]
    Default,
    /// `socket.io-msgpack-parser`: each packet one MessagePack binary message.
    Msgpack,
}

/// Where room history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// A SQLite file in `data_dir`.
    Sqlite,
    /// Memory, bounded by the retention limits; lost on restart.
    Memory,
    /// No history.
    None,
    /// The Redis server of the cluster's `broker`, shared by every node: a client recovers
    /// on whichever node it reconnects to.
    Redis,
}

/// When an acknowledged message is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Committed with its batch (WAL, synchronous=NORMAL).
    Batched,
    /// Synced to disk with its batch (synchronous=FULL).
    Fsync,
}

/// One `[[history]]` rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRule {
    /// Room-name pattern; `*` matches any run of characters.
    pub pattern: String,
    /// Messages kept; the default when absent; 0 for no history.
    pub max_messages: Option<u64>,
    /// Oldest message kept, in seconds; the default when absent.
    pub max_age_secs: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 3000,
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            compression: false,
            raw_rooms: true,
            echo_to_sender: true,
            raw_room_history: Vec::new(),
            raw_room_replay: 50,
            queue_capacity: 1024,
            queue_max_bytes: 4 << 20,
            max_messages_per_sec: 0,
            message_burst: 100,
            max_rooms_per_conn: 100,
            read_buffer: 1024,
            write_buffer: 0,
            client_emits: true,
            presence_notices: true,
            chat_page: true,
            max_connections: 50_000,
            max_connections_per_ip: 5_000,
            handshake_timeout_ms: 10_000,
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            drain_timeout_ms: 10_000,
            tls_cert: None,
            tls_key: None,
            allowed_origins: Vec::new(),
            socketio: true,
            socketio_path: "/socket.io/".into(),
            connect_timeout_ms: 45_000,
            socketio_recovery_secs: 120,
            socketio_parser: SocketIoParser::Default,
            admin_ui_password: None,
            admin_ui_username: "admin".into(),
            api_keys: Vec::new(),
            api_idempotency_secs: 300,
            hooks: HooksConfig::default(),
            socketio_client: None,
            store: StoreKind::Sqlite,
            broker: None,
            advertise: None,
            socketio_adapter: None,
            data_dir: "./chorus-data".into(),
            durability: Durability::Batched,
            history_max_messages: 1000,
            history_max_age_secs: 86_400,
            history: Vec::new(),
            anonymous: true,
            jwt_secret: None,
            jwt_public_key: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway_secs: 30,
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`] (this includes unknown keys).
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with the key's name and position.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// The defaults for a program that embeds chorus and claims its own paths: no chat
    /// page, and no raw rooms on paths it did not register. Everything else as
    /// [`Config::default`], which is what `chorus serve` runs with.
    pub fn embedded() -> Self {
        Self {
            chat_page: false,
            raw_rooms: false,
            store: StoreKind::Memory,
            ..Self::default()
        }
    }

    /// The history rules this configuration asks for: its `history` rules, then every
    /// other room with the defaults; none at all when `store` is `none`.
    pub fn history_rules(&self) -> chorus_core::HistoryRules {
        use chorus_core::{HistoryRule as Rule, Retention};
        if self.store == StoreKind::None {
            return chorus_core::HistoryRules::default();
        }
        let retention = |messages: Option<u64>, secs: Option<u64>| Retention {
            max_messages: messages.unwrap_or(self.history_max_messages),
            max_age: std::time::Duration::from_secs(secs.unwrap_or(self.history_max_age_secs)),
        };
        let mut rules: Vec<Rule> = self
            .history
            .iter()
            .map(|r| Rule {
                pattern: r.pattern.clone(),
                retention: retention(r.max_messages, r.max_age_secs),
            })
            .collect();
        rules.push(Rule {
            pattern: "*".into(),
            retention: retention(None, None),
        });
        // A rule keeping no message means no history for its rooms.
        chorus_core::HistoryRules::new(rules)
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Checks that values are in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max_message_size", self.max_message_size),
            ("max_frame_size", self.max_frame_size),
            ("queue_capacity", self.queue_capacity),
            ("queue_max_bytes", self.queue_max_bytes),
            ("max_rooms_per_conn", self.max_rooms_per_conn),
            ("read_buffer", self.read_buffer),
            ("max_connections", self.max_connections),
            ("max_connections_per_ip", self.max_connections_per_ip),
            ("handshake_timeout_ms", self.handshake_timeout_ms as usize),
            ("ping_interval_ms", self.ping_interval_ms as usize),
            ("ping_timeout_ms", self.ping_timeout_ms as usize),
            ("connect_timeout_ms", self.connect_timeout_ms as usize),
        ];
        if self
            .api_keys
            .iter()
            .any(|key| key.expose().chars().count() < 16)
        {
            return Err(ConfigError::Invalid(
                "`api_keys`: each key must be at least 16 characters (make one with \
                 `openssl rand -hex 24`)"
                    .into(),
            ));
        }
        if let Some(url) = &self.hooks.url {
            let parsed = url.parse::<http::Uri>().ok().filter(|uri| {
                matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
            });
            let Some(parsed) = parsed else {
                return Err(ConfigError::Invalid(format!(
                    "`hooks.url` {url:?} is not an http:// or https:// URL"
                )));
            };
            // chorus adds `/connect`, `/join`, … to the path: a query would swallow them,
            // and credentials in the URL would be logged.
            if parsed.query().is_some()
                || parsed.authority().is_some_and(|a| a.as_str().contains('@'))
            {
                return Err(ConfigError::Invalid(
                    "`hooks.url` is a base URL without a query or credentials \
                     (chorus signs each request with `hooks.secret` instead)"
                        .into(),
                ));
            }
            if self
                .hooks
                .secret
                .as_ref()
                .is_none_or(|secret| secret.expose().chars().count() < 16)
            {
                return Err(ConfigError::Invalid(
                    "`hooks.secret`: hooks are signed, so the backend can trust them; give a \
                     key of at least 16 characters (make one with `openssl rand -hex 24`)"
                        .into(),
                ));
            }
            if self.hooks.timeout_ms == 0 {
                return Err(ConfigError::Invalid(
                    "`hooks.timeout_ms` must be positive".into(),
                ));
            }
        }
        if !self.socketio_path.starts_with('/') || !self.socketio_path.ends_with('/') {
            return Err(ConfigError::Invalid(
                "`socketio_path` must start and end with `/` (like `/socket.io/`)".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "`tls_cert` and `tls_key` go together: give both or neither".into(),
            ));
        }
        if self
            .jwt_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            return Err(ConfigError::Invalid(
                "`jwt_secret` is empty: give the HS256 secret, or leave it out".into(),
            ));
        }
        if !self.anonymous && self.jwt_secret.is_none() && self.jwt_public_key.is_none() {
            return Err(ConfigError::Invalid(
                "`anonymous = false` needs a key to check tokens with: \
                 `jwt_secret` (HS256) or `jwt_public_key` (RS256/ES256)"
                    .into(),
            ));
        }
        match (&self.socketio_adapter, &self.broker) {
            (None, _) => {}
            (Some(kind), _) if kind != "socket.io-redis" => {
                return Err(ConfigError::Invalid(format!(
                    "`socketio_adapter = {kind:?}`: the one known is \"socket.io-redis\""
                )));
            }
            (Some(_), Some(url)) if chorus_broker::is_redis_url(url) => {
                if self.store != StoreKind::None {
                    return Err(ConfigError::Invalid(
                        "`socketio_adapter` needs `store = \"none\"` for now: messages of rooms \
                         with history would not reach the Node servers"
                            .into(),
                    ));
                }
            }
            (Some(_), _) => {
                return Err(ConfigError::Invalid(
                    "`socketio_adapter` joins a Node socket.io cluster over Redis: set \
                     `broker = \"redis://…\"`"
                        .into(),
                ));
            }
        }
        match (&self.broker, self.store) {
            (Some(_), StoreKind::Sqlite | StoreKind::Memory) => {
                return Err(ConfigError::Invalid(
                    "a node of a cluster (`broker`) keeps history where every node reads it: \
                     set `store = \"redis\"` (the broker's server) or `store = \"none\"`"
                        .into(),
                ));
            }
            (Some(url), StoreKind::Redis) if !chorus_broker::is_redis_url(url) => {
                return Err(ConfigError::Invalid(
                    "`store = \"redis\"` keeps history in the broker's Redis server: \
                     `broker` must be a redis:// URL"
                        .into(),
                ));
            }
            (None, StoreKind::Redis) => {
                return Err(ConfigError::Invalid(
                    "`store = \"redis\"` keeps history in the cluster's broker: set `broker` \
                     (redis://…) too"
                        .into(),
                ));
            }
            _ => {}
        }
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("`{key}` must be at least 1")));
            }
        }
        Ok(())
    }

    /// The address to bind.
    pub fn socket_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_partial_files() {
        let config = Config::from_toml("port = 4000\necho_to_sender = false\n", "t").unwrap();
        assert_eq!(config.port, 4000);
        assert!(!config.echo_to_sender);
        assert_eq!(config.max_message_size, Config::default().max_message_size);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml("prot = 4000\n", "chorus.toml").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("chorus.toml"), "{text}");
        assert!(text.contains("prot"), "{text}");
    }

    #[test]
    fn tokens_required_needs_a_key() {
        let err = Config::from_toml("anonymous = false\n", "t").unwrap_err();
        assert!(err.to_string().contains("jwt_secret"), "{err}");
        let config =
            Config::from_toml("anonymous = false\njwt_secret = \"s3cret\"\n", "t").unwrap();
        assert_eq!(
            config.jwt_secret.as_ref().map(Secret::expose),
            Some("s3cret")
        );
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "secrets stay out of logs"
        );
        assert!(Config::from_toml("jwt_secret = \"\"\n", "t").is_err());
    }

    #[test]
    fn a_node_of_a_cluster_keeps_no_history_yet() {
        let err = Config::from_toml("broker = \"redis://127.0.0.1:6379\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("store = \"none\""), "{err}");
        let config = Config::from_toml(
            "broker = \"redis://127.0.0.1:6379\"\nstore = \"none\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(config.broker.as_deref(), Some("redis://127.0.0.1:6379"));
    }

    #[test]
    fn zero_limits_are_rejected() {
        let err = Config::from_toml("queue_capacity = 0\n", "t").unwrap_err();
        assert!(err.to_string().contains("queue_capacity"));
    }
}

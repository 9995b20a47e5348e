//! The `chorus` binary: `chorus serve` (the default) runs the server; `chorus token`,
//! `publish`, `history`, `presence` and `rooms` are tools for the person running it
//! (`cli`).
//!
//! Configuration comes from an optional TOML file (`--config` / `CHORUS_CONFIG`), then
//! `CHORUS_*` environment variables, then flags; clap reads each flag's environment variable
//! itself, so "flag, else env" is one lookup and the file fills what both left unset.

use std::net::IpAddr;

/// jemalloc for the server rather than glibc's malloc. A server holding many idle
/// connections makes a burst of short-lived handshake buffers (hyper's 8 KiB read buffer
/// among them) between the small allocations each connection keeps; glibc leaves the pages
/// those buffers freed partly used, jemalloc keeps each size class on pages of its own and
/// gives freed pages back. On 10,000 idle raw connections: 3.0 KiB of RSS each instead of
/// 3.7–4.9 (the spread was glibc's placement), and no slower on any speed scenario
/// (BENCHMARKS.md).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use std::path::PathBuf;

mod cli;

use anyhow::Context;
use chorus::{Config, Server};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "chorus",
    version,
    about = "A real-time WebSocket message server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// How logs are written: `text` for people, `json` (one object per line) for a log
    /// collector.
    #[arg(long, global = true, env = "CHORUS_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

/// The log's form.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve(Box<ServeArgs>),
    /// Print a development token (an HS256 JWT signed with the server's jwt_secret).
    Token(cli::token::TokenArgs),
    /// Publish an event to a room through a running server's API.
    Publish(cli::api::PublishArgs),
    /// Print a room's stored messages, through a running server's API.
    History(cli::api::HistoryArgs),
    /// Print who is in a room, through a running server's API.
    Presence(cli::api::PresenceArgs),
    /// Print the rooms that have members, through a running server's API.
    Rooms(cli::api::RoomsArgs),
    /// Talk to a server over WebSocket: a raw room (ws://host/room), the native protocol
    /// (ws://host/ws) or Socket.IO (http://host/namespace); interactive on a terminal, JSON
    /// lines otherwise.
    Client(cli::client::ClientArgs),
}

#[derive(Args, Debug, Default)]
struct ServeArgs {
    /// TOML configuration file (unknown keys are rejected).
    #[arg(long, env = "CHORUS_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0].
    #[arg(long, env = "CHORUS_HOST")]
    host: Option<IpAddr>,
    /// Port to listen on [default: 3000].
    #[arg(long, short, env = "CHORUS_PORT")]
    port: Option<u16>,
    /// Largest message a client may send, in bytes [default: 1048576].
    #[arg(long, env = "CHORUS_MAX_MESSAGE_SIZE")]
    max_message_size: Option<usize>,
    /// Largest frame a client may send, in bytes [default: 1048576].
    #[arg(long, env = "CHORUS_MAX_FRAME_SIZE")]
    max_frame_size: Option<usize>,
    /// Negotiate permessage-deflate [default: false].
    #[arg(long, env = "CHORUS_COMPRESSION")]
    compression: Option<bool>,
    /// Serve raw rooms on unclaimed paths [default: true].
    #[arg(long, env = "CHORUS_RAW_ROOMS")]
    raw_rooms: Option<bool>,
    /// Echo raw-room messages to their sender [default: true].
    #[arg(long, env = "CHORUS_ECHO_TO_SENDER")]
    echo_to_sender: Option<bool>,
    /// Raw rooms (paths, `*` globs) that keep history and replay it to a client that
    /// enters, comma-separated [default: none].
    #[arg(long, env = "CHORUS_RAW_ROOM_HISTORY", value_delimiter = ',')]
    raw_room_history: Option<Vec<String>>,
    /// How many of its last messages a raw room with history replays [default: 50].
    #[arg(long, env = "CHORUS_RAW_ROOM_REPLAY")]
    raw_room_replay: Option<usize>,
    /// Outbound queue per connection, in messages [default: 1024].
    #[arg(long, env = "CHORUS_QUEUE_CAPACITY")]
    queue_capacity: Option<usize>,
    /// Outbound queue per connection, in bytes [default: 4194304].
    #[arg(long, env = "CHORUS_QUEUE_MAX_BYTES")]
    queue_max_bytes: Option<usize>,
    /// Messages per second a connection may send, 0 for no limit [default: 0].
    #[arg(long, env = "CHORUS_MAX_MESSAGES_PER_SEC")]
    max_messages_per_sec: Option<u32>,
    /// Messages a connection may send at once above the rate [default: 100].
    #[arg(long, env = "CHORUS_MESSAGE_BURST")]
    message_burst: Option<u32>,
    /// Most rooms per connection [default: 100].
    #[arg(long, env = "CHORUS_MAX_ROOMS_PER_CONN")]
    max_rooms_per_conn: Option<usize>,
    /// Initial read buffer of a connection with permessage-deflate, in bytes (other
    /// connections have none while idle) [default: 1024].
    #[arg(long, env = "CHORUS_READ_BUFFER")]
    read_buffer: Option<usize>,
    /// Initial write buffer of a connection with permessage-deflate, in bytes; 0
    /// allocates it on the first write (other connections have none) [default: 0].
    #[arg(long, env = "CHORUS_WRITE_BUFFER")]
    write_buffer: Option<usize>,
    /// Let native clients emit to rooms and other clients [default: true].
    #[arg(long, env = "CHORUS_CLIENT_EMITS")]
    client_emits: Option<bool>,
    /// Send join/leave/update notices to room members [default: true].
    #[arg(long, env = "CHORUS_PRESENCE_NOTICES")]
    presence_notices: Option<bool>,
    /// Serve the chat page at / [default: true].
    #[arg(long, env = "CHORUS_CHAT_PAGE")]
    chat_page: Option<bool>,
    /// Most connections open at once [default: 50000].
    #[arg(long, env = "CHORUS_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Most connections open at once from one address [default: 5000].
    #[arg(long, env = "CHORUS_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,
    /// Time to send request headers, in ms [default: 10000].
    #[arg(long, env = "CHORUS_HANDSHAKE_TIMEOUT_MS")]
    handshake_timeout_ms: Option<u64>,
    /// Interval between server pings, in ms [default: 25000].
    #[arg(long, env = "CHORUS_PING_INTERVAL_MS")]
    ping_interval_ms: Option<u64>,
    /// Grace after a ping before a silent client is dropped, in ms [default: 20000].
    #[arg(long, env = "CHORUS_PING_TIMEOUT_MS")]
    ping_timeout_ms: Option<u64>,
    /// Time to drain connections on SIGTERM/SIGINT, in ms [default: 10000].
    #[arg(long, env = "CHORUS_DRAIN_TIMEOUT_MS")]
    drain_timeout_ms: Option<u64>,
    /// PEM certificate chain: serve https:// and wss:// (with --tls-key).
    #[arg(long, env = "CHORUS_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "CHORUS_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Web origins allowed to open WebSockets, comma-separated, or `*`
    /// [default: same origin and localhost].
    #[arg(long, env = "CHORUS_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// Serve Socket.IO clients [default: true].
    #[arg(long, env = "CHORUS_SOCKETIO")]
    socketio: Option<bool>,
    /// Where Socket.IO is served [default: /socket.io/].
    #[arg(long, env = "CHORUS_SOCKETIO_PATH")]
    socketio_path: Option<String>,
    /// Time a Socket.IO connection has to join a namespace, in ms [default: 45000].
    #[arg(long, env = "CHORUS_CONNECT_TIMEOUT_MS")]
    connect_timeout_ms: Option<u64>,
    /// How long a Socket.IO client may be away and come back as the same socket, with
    /// what it missed, in seconds; 0 turns recovery off [default: 120].
    #[arg(long, env = "CHORUS_SOCKETIO_RECOVERY_SECS")]
    socketio_recovery_secs: Option<u64>,
    /// The password of the official Socket.IO admin UI: set, the server answers the UI on
    /// its /admin namespace [default: none, off]; prefer the environment variable.
    #[arg(long, env = "CHORUS_ADMIN_UI_PASSWORD", hide_env_values = true)]
    admin_ui_password: Option<chorus::config::Secret>,
    /// The admin UI's user name [default: admin].
    #[arg(long, env = "CHORUS_ADMIN_UI_USERNAME")]
    admin_ui_username: Option<String>,
    /// Keys of the server API at /api, comma-separated, each at least 16 characters
    /// [default: none, the API is off]; prefer the environment variable.
    #[arg(
        long = "api-key",
        env = "CHORUS_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_keys: Option<Vec<chorus::config::Secret>>,
    /// How long the server API remembers a publish's idempotency key, in seconds
    /// [default: 300].
    #[arg(long, env = "CHORUS_API_IDEMPOTENCY_SECS")]
    api_idempotency_secs: Option<u64>,
    /// The application's backend, asked whether clients may connect, join and publish and
    /// told of rooms and members (POSTs to <url>/connect, /join, /publish, /events)
    /// [default: none, off]; see docs/hooks.md.
    #[arg(long, env = "CHORUS_HOOKS_URL")]
    hooks_url: Option<String>,
    /// The key hooks are signed with (at least 16 characters); prefer the environment
    /// variable.
    #[arg(long, env = "CHORUS_HOOKS_SECRET", hide_env_values = true)]
    hooks_secret: Option<chorus::config::Secret>,
    /// What a hook's decision is when the backend does not answer: deny or allow
    /// [default: deny].
    #[arg(long, env = "CHORUS_HOOKS_ON_FAILURE", value_enum)]
    hooks_on_failure: Option<chorus::config::HookFailure>,
    /// The Socket.IO parser every client of this server uses: default, or msgpack
    /// (socket.io-msgpack-parser) [default: default].
    #[arg(long, env = "CHORUS_SOCKETIO_PARSER", value_enum)]
    socketio_parser: Option<chorus::config::SocketIoParser>,
    /// The socket.io-client browser bundle to serve at <socketio_path>socket.io.js
    /// [default: looked up in ./node_modules and ./e2e/node_modules].
    #[arg(long, env = "CHORUS_SOCKETIO_CLIENT")]
    socketio_client: Option<PathBuf>,
    /// Where room history is kept [default: sqlite].
    #[arg(long, env = "CHORUS_STORE", value_enum)]
    store: Option<chorus::config::StoreKind>,
    /// The broker that makes this server one node of a cluster: redis://host:port or
    /// nats://host:port (with Redis and --store redis, history is shared by the nodes too).
    #[arg(long, env = "CHORUS_BROKER")]
    broker: Option<String>,
    /// On a cluster: host:port where other nodes reach this one's HTTP (they forward
    /// Engine.IO long-polling requests of its sessions there) [default: the listen
    /// address, unless it is 0.0.0.0 or ::].
    #[arg(long, env = "CHORUS_ADVERTISE")]
    advertise: Option<String>,
    /// On a cluster over Redis, also speak another Socket.IO adapter's format so its
    /// servers join the cluster: socket.io-redis (@socket.io/redis-adapter) [default: none].
    #[arg(long, env = "CHORUS_SOCKETIO_ADAPTER")]
    socketio_adapter: Option<String>,
    /// Directory of the SQLite history file [default: ./chorus-data].
    #[arg(long, env = "CHORUS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// When acknowledged messages are on disk [default: batched].
    #[arg(long, env = "CHORUS_DURABILITY", value_enum)]
    durability: Option<chorus::config::Durability>,
    /// Messages a room keeps [default: 1000].
    #[arg(long, env = "CHORUS_HISTORY_MAX_MESSAGES")]
    history_max_messages: Option<u64>,
    /// Oldest message a room keeps, in seconds [default: 86400].
    #[arg(long, env = "CHORUS_HISTORY_MAX_AGE_SECS")]
    history_max_age_secs: Option<u64>,
    /// Let clients in without a token [default: true].
    #[arg(long, env = "CHORUS_ANONYMOUS")]
    anonymous: Option<bool>,
    /// HS256 secret of the tokens (JWT) clients present; prefer the environment
    /// variable, which other users of the machine cannot see in the process list.
    #[arg(long, env = "CHORUS_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<chorus::config::Secret>,
    /// PEM public key of the tokens: RSA for RS256, EC P-256 for ES256.
    #[arg(long, env = "CHORUS_JWT_PUBLIC_KEY")]
    jwt_public_key: Option<PathBuf>,
    /// Issuer (iss) tokens must name [default: not checked].
    #[arg(long, env = "CHORUS_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// Audience (aud) tokens must name [default: not checked].
    #[arg(long, env = "CHORUS_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// Clock skew allowed on exp and nbf, in seconds [default: 30].
    #[arg(long, env = "CHORUS_JWT_LEEWAY_SECS")]
    jwt_leeway_secs: Option<u64>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if self.tls_cert.is_some() {
            config.tls_cert = self.tls_cert.clone();
        }
        if self.tls_key.is_some() {
            config.tls_key = self.tls_key.clone();
        }
        if self.socketio_client.is_some() {
            config.socketio_client = self.socketio_client.clone();
        }
        if let Some(keys) = &self.api_keys {
            config.api_keys = keys.clone();
        }
        if self.hooks_url.is_some() {
            config.hooks.url = self.hooks_url.clone();
        }
        if self.hooks_secret.is_some() {
            config.hooks.secret = self.hooks_secret.clone();
        }
        if let Some(on_failure) = self.hooks_on_failure {
            config.hooks.on_failure = on_failure;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        macro_rules! overlay_option {
            ($($field:ident),*) => { $( if self.$field.is_some() { config.$field = self.$field.clone(); } )* };
        }
        overlay_option!(
            jwt_secret,
            jwt_public_key,
            jwt_issuer,
            jwt_audience,
            broker,
            advertise,
            socketio_adapter,
            admin_ui_password
        );
        macro_rules! overlay {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { config.$field = v; } )* };
        }
        overlay!(
            host,
            port,
            max_message_size,
            max_frame_size,
            compression,
            raw_rooms,
            echo_to_sender,
            raw_room_history,
            raw_room_replay,
            queue_capacity,
            queue_max_bytes,
            max_messages_per_sec,
            message_burst,
            max_rooms_per_conn,
            read_buffer,
            write_buffer,
            client_emits,
            presence_notices,
            chat_page,
            max_connections,
            max_connections_per_ip,
            handshake_timeout_ms,
            ping_interval_ms,
            ping_timeout_ms,
            drain_timeout_ms,
            allowed_origins,
            socketio,
            socketio_path,
            connect_timeout_ms,
            socketio_recovery_secs,
            socketio_parser,
            admin_ui_username,
            api_idempotency_secs,
            store,
            durability,
            history_max_messages,
            history_max_age_secs,
            anonymous,
            jwt_leeway_secs
        );
        config.validate()?;
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHORUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter)
            .init(),
    }
    let args = match cli.command {
        Some(Command::Serve(args)) => *args,
        None => ServeArgs::parse_from_env()?,
        Some(Command::Token(args)) => return cli::token::run(args),
        Some(Command::Publish(args)) => return cli::api::publish(args),
        Some(Command::History(args)) => return cli::api::history(args),
        Some(Command::Presence(args)) => return cli::api::presence(args),
        Some(Command::Rooms(args)) => return cli::api::rooms(args),
        Some(Command::Client(args)) => std::process::exit(cli::client::run(args)?),
    };
    let config = args.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

impl ServeArgs {
    /// `chorus` with no subcommand: same as `chorus serve` with no flags (env and file still
    /// apply).
    fn parse_from_env() -> anyhow::Result<Self> {
        #[derive(Parser)]
        struct Bare {
            #[command(flatten)]
            args: ServeArgs,
        }
        Ok(Bare::parse_from(["chorus"]).args)
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Signal handlers first: a SIGTERM that arrives once we say we are listening must
    // drain, not kill.
    let signal = shutdown_signal()?;
    let addr = config.socket_addr();
    let listener = chorus::listener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let (http, ws) = if config.tls_cert.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let host = if local.ip().is_unspecified() {
        format!("localhost:{}", local.port())
    } else {
        local.to_string()
    };
    let socketio = if config.socketio {
        format!("Socket.IO at {http}://{host}{}", config.socketio_path)
    } else {
        "Socket.IO off".into()
    };
    tracing::info!(
        "chorus {} listening on {local}; open {http}://{host}/ in a browser (native protocol at {ws}://{host}/ws, {socketio}, raw rooms on any other path)",
        env!("CARGO_PKG_VERSION"),
    );
    if config.jwt_secret.is_some() || config.jwt_public_key.is_some() {
        tracing::info!(
            "clients' tokens (JWT) are checked at the handshake; {}",
            if config.anonymous {
                "clients without one are anonymous"
            } else {
                "clients without one are refused"
            }
        );
    }
    let drain = std::time::Duration::from_millis(config.drain_timeout_ms);
    let client_emits = config.client_emits;
    let server = Server::try_new(config).context("starting the server")?;
    chorus::builtin::install(&server.io(), client_emits);
    let serving = tokio::spawn(server.clone().serve(listener));
    let signal = signal.await;
    tracing::info!(
        "{signal}: draining connections (up to {} ms)",
        drain.as_millis()
    );
    let left = server.shutdown(drain).await;
    if left > 0 {
        tracing::warn!("{left} connections still open at the drain deadline; exiting anyway");
    } else {
        tracing::info!("all connections closed");
    }
    serving.abort();
    Ok(())
}

/// Installs the SIGTERM and SIGINT (Ctrl-C) handlers now; the future resolves with the
/// name of the first signal that arrives.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}

//! [`Context`]: what every session's set-up needs from the server — the configuration, the
//! token checks, the counters, the WebSocket transport's settings — handed down, so that no
//! session depends on the server that wires them.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;

use crate::auth::Auth;
use crate::config::Config;
use crate::hooks::Hooks;
use crate::metrics::{Metrics, Protocol};
use crate::refusal::Refusal;
use crate::wire::connection::TransportConfig;
use crate::wire::pulse::Pulse;
use crate::wire::HandshakeInfo;

/// The server's settings and services, as the sessions see them.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) config: Config,
    /// Token checks; `None` when no key is configured.
    pub(crate) auth: Option<Arc<Auth>>,
    pub(crate) metrics: Arc<Metrics>,
    /// The hooks to the application's backend, if configured.
    pub(crate) hooks: Option<Arc<Hooks>>,
    /// The WebSocket transport's settings, shared by every connection: for raw and native
    /// clients (with WebSocket pings), and for Engine.IO (its heartbeat is its own).
    transport: [Arc<TransportConfig>; 3],
}

impl Context {
    pub(crate) fn new(
        config: Config,
        auth: Option<Arc<Auth>>,
        metrics: Arc<Metrics>,
        hooks: Option<Arc<Hooks>>,
    ) -> Self {
        let transport = [
            transport_config(&config, &metrics, Protocol::Raw),
            transport_config(&config, &metrics, Protocol::Native),
            transport_config(&config, &metrics, Protocol::SocketIo),
        ];
        Self {
            config,
            auth,
            metrics,
            hooks,
            transport,
        }
    }

    /// The settings of a raw or native WebSocket connection, which keeps its heartbeat
    /// with WebSocket pings.
    pub(crate) fn transport(&self, protocol: Protocol) -> Arc<TransportConfig> {
        match protocol {
            Protocol::Native => self.transport[1].clone(),
            _ => self.transport[0].clone(),
        }
    }

    /// The settings of an Engine.IO session's WebSocket: its heartbeat is Engine.IO's own.
    pub(crate) fn engine_transport(&self) -> Arc<TransportConfig> {
        self.transport[2].clone()
    }

    /// Checks the token of a handshake and records who it proves the client to be in
    /// `info.identity`. `defer_missing`: a request without a token passes even when
    /// anonymous access is off (a Socket.IO client may send it in CONNECT).
    pub(crate) fn authenticate(
        &self,
        info: &mut HandshakeInfo,
        defer_missing: bool,
    ) -> Result<(), Refusal> {
        if let Some(auth) = &self.auth {
            info.identity = auth.check_handshake(info, defer_missing)?;
        }
        Ok(())
    }

    /// Answers a refused request, counting it.
    pub(crate) fn refuse(&self, refusal: Refusal) -> Response {
        refusal.respond(&self.metrics)
    }
}

/// The WebSocket transport's settings under `config`.
fn transport_config(
    config: &Config,
    metrics: &Arc<Metrics>,
    protocol: Protocol,
) -> Arc<TransportConfig> {
    let ws_pings = protocol != Protocol::SocketIo;
    Arc::new(TransportConfig {
        ping_interval: Duration::from_millis(config.ping_interval_ms),
        ping_timeout: Duration::from_millis(config.ping_timeout_ms),
        rate: (config.max_messages_per_sec > 0)
            .then_some((config.max_messages_per_sec, config.message_burst)),
        metrics: metrics.clone(),
        protocol,
        pulse: ws_pings.then(|| Pulse::new(Duration::from_millis(config.ping_interval_ms))),
    })
}

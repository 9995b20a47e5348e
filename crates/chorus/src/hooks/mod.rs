//! Hooks to the application's backend: chorus asks it whether a client may connect, join a
//! room or publish — and the backend may say who the client is — and tells it when rooms
//! are occupied or vacated and members join or leave. `docs/hooks.md` is the backend
//! author's guide.
//!
//! Every request is a signed JSON POST (`sign`) to `<url>/<hook>` through one pooled HTTP
//! client (`call`), bounded by `timeout_ms` per try and `retries` tries more. A backend
//! that does not answer gets the configured behaviour (`on_failure`: deny or allow), never
//! a stuck connection: a connection's questions wait in a short ordered lane of its own
//! (`lane`), and a full lane refuses the next one at once.
//!
//! * `sign` — the HMAC-SHA256 signature of each request.
//! * `call` — [`call::Caller`]: one POST, its timeout and its retries.
//! * `verdict` — [`Verdict`]: what the backend decided, read from its answer.
//! * `lane` — [`Lane`]: a connection's questions in order.
//! * `events` — the membership notifications, queued and sent in batches.
//! * `stats` — [`Stats`]: the hooks' counters and latencies at `/metrics`.

mod call;
mod events;
mod lane;
mod sign;
mod stats;
mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chorus_core::EventData;
use serde::Serialize;
use serde_json::value::RawValue;

use self::call::{Answer, Caller};
use self::events::Events;
pub(crate) use self::lane::Lane;
pub(crate) use self::stats::Stats;
pub(crate) use self::verdict::{Allowed, Verdict};
use crate::config::{Config, HookAsk, HookFailure, HooksConfig};
use crate::wire::HandshakeInfo;

/// The connect hook of a WebSocket client (native `/ws`, a raw room), asked after its
/// handshake and token passed and before its `101`: who the backend says it is, or the
/// refusal to answer with.
pub(crate) async fn connect(
    hooks: Option<&Arc<Hooks>>,
    protocol: &'static str,
    namespace: &str,
    info: &HandshakeInfo,
) -> Result<Allowed, crate::refusal::Refusal> {
    let Some(hooks) = hooks.filter(|hooks| hooks.asks(HookAsk::Connect)) else {
        return Ok(Allowed::default());
    };
    match hooks.connect(protocol, namespace, info, None).await {
        Verdict::Allow(who) => Ok(who),
        Verdict::Deny(reason) => Err(crate::refusal::Refusal::Refused(reason)),
        Verdict::Unavailable => Err(crate::refusal::Refusal::Unavailable),
    }
}

/// The hooks of a server: the backend's client, what it is asked, and its counters.
#[derive(Debug)]
pub(crate) struct Hooks {
    caller: Arc<Caller>,
    config: HooksConfig,
    /// This node's id in a cluster (told to the backend), if it is one of several.
    node: Option<Arc<str>>,
    events: Option<Arc<Events>>,
    stats: Arc<Stats>,
}

/// Who asks: a connection, as the backend is told of it.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Asker<'a> {
    /// `native`, `raw` or `socket.io`.
    pub(crate) protocol: &'static str,
    pub(crate) namespace: &'a str,
    pub(crate) conn: &'a str,
    pub(crate) user: Option<&'a str>,
}

/// Where a publish goes, as the backend is told.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Destination<'a> {
    Room(&'a str),
    All(bool),
    Conn(&'a str),
}

impl Hooks {
    /// The hooks `config` asks for, if any (`None` without `hooks.url`).
    pub(crate) fn from_config(
        config: &Config,
        node: Option<Arc<str>>,
    ) -> Result<Option<Arc<Self>>, std::io::Error> {
        let hooks = &config.hooks;
        let (Some(url), Some(secret)) = (&hooks.url, &hooks.secret) else {
            return Ok(None);
        };
        let caller = Arc::new(Caller::new(
            url,
            secret.expose(),
            Duration::from_millis(hooks.timeout_ms),
            hooks.retries,
        )?);
        let stats = Arc::<Stats>::default();
        let events = hooks
            .events
            .then(|| Events::start(caller.clone(), stats.clone(), node.clone()));
        tracing::info!(%url, ask = ?hooks.ask, events = hooks.events, "hooks to the application's backend");
        Ok(Some(Arc::new(Self {
            caller,
            config: hooks.clone(),
            node,
            events,
            stats,
        })))
    }

    /// Whether the backend decides `ask`.
    pub(crate) fn asks(&self, ask: HookAsk) -> bool {
        self.config.asks(ask)
    }

    /// Counts a command refused because its connection's lane was full.
    pub(crate) fn busy(&self) {
        self.stats
            .busy
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The counters, for `/metrics`.
    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What watches a namespace's rooms for the `events` hook, if it is on.
    pub(crate) fn watch(&self) -> Option<Arc<dyn chorus_core::MembershipWatch>> {
        self.events
            .clone()
            .map(|events| events as Arc<dyn chorus_core::MembershipWatch>)
    }

    /// May this client connect, and who is it? `info` is its handshake (its token already
    /// checked: `user` is the token's `sub`); `auth` a Socket.IO CONNECT's payload.
    pub(crate) async fn connect(
        &self,
        protocol: &'static str,
        namespace: &str,
        info: &HandshakeInfo,
        auth: Option<&RawValue>,
    ) -> Verdict {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .config
            .headers
            .iter()
            .filter_map(|name| {
                let value = info.headers.get(name.as_str())?.to_str().ok()?;
                Some((name.to_ascii_lowercase(), value.into()))
            })
            .collect();
        let body = serde_json::json!({
            "hook": "connect",
            "node": self.node.as_deref(),
            "protocol": protocol,
            "namespace": namespace,
            "path": info.uri.path(),
            "query": info.uri.query(),
            "addr": info.remote_addr.map(|addr| addr.ip().to_string()),
            "headers": headers,
            "user": info.identity.as_ref().map(|id| id.user_id.as_str()),
            "auth": auth,
        });
        self.ask("connect", &body).await
    }

    /// May `asker` join `room`?
    pub(crate) async fn join(&self, asker: Asker<'_>, room: &str) -> Verdict {
        let body = serde_json::json!({
            "hook": "join",
            "node": self.node.as_deref(),
            "protocol": asker.protocol,
            "namespace": asker.namespace,
            "conn": asker.conn,
            "user": asker.user,
            "room": room,
        });
        self.ask("join", &body).await
    }

    /// May `asker` publish `event` (none: a raw message) with `data` to `to`?
    pub(crate) async fn publish(
        &self,
        asker: Asker<'_>,
        to: Destination<'_>,
        event: Option<&str>,
        data: &EventData,
    ) -> Verdict {
        let data: serde_json::Value = match data {
            EventData::Binary(bytes) => {
                use base64::Engine;
                serde_json::json!({ "$binary": base64::engine::general_purpose::STANDARD.encode(bytes) })
            }
            data => data
                .to_json()
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .unwrap_or(serde_json::Value::Null),
        };
        let body = serde_json::json!({
            "hook": "publish",
            "node": self.node.as_deref(),
            "protocol": asker.protocol,
            "namespace": asker.namespace,
            "conn": asker.conn,
            "user": asker.user,
            "to": to,
            "event": event,
            "data": data,
        });
        self.ask("publish", &body).await
    }

    /// Asks the backend, and reads its decision; a failure becomes `on_failure`'s.
    async fn ask(&self, hook: &'static str, body: &serde_json::Value) -> Verdict {
        let body = Bytes::from(serde_json::to_vec(body).expect("JSON values serialise"));
        let started = Instant::now();
        let answer = self.caller.post(hook, body).await;
        self.stats.observe(hook, started.elapsed());
        let verdict = match answer {
            Ok(Answer::Ok(body)) => Verdict::read(&body),
            Ok(Answer::Refused(body)) => Verdict::refused(&body),
            Err(failure) => Err(failure.to_string()),
        };
        match verdict {
            Ok(verdict) => {
                self.stats
                    .count(hook, if verdict.allows() { "allow" } else { "deny" }, 1);
                verdict
            }
            Err(why) => {
                self.stats.count(hook, "failed", 1);
                tracing::warn!(hook, %why, on_failure = ?self.config.on_failure, "the application's backend did not decide");
                match self.config.on_failure {
                    HookFailure::Allow => Verdict::Allow(Allowed::default()),
                    HookFailure::Deny => Verdict::Unavailable,
                }
            }
        }
    }
}

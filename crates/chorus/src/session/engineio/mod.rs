//! Engine.IO v4, server side: sessions over HTTP long-polling and WebSocket, the upgrade
//! from one to the other, and the heartbeat.
//!
//! Engine.IO is the transport layer under Socket.IO: a session id, a stream of packets in
//! each direction, and pings to tell a live client from a vanished one. An [`Engine`]
//! serves one path (`/socket.io/`, or `/engine.io/` for a raw endpoint); the layer above is
//! any [`Session`] — the same trait a WebSocket transport drives — built per session by
//! the engine's factory, and it sees Engine.IO message packets as plain messages.
//!
//! * [`session`] — [`EngineSession`]: queue, transport state, the end.
//! * [`heartbeat`] — one task per engine: every session's pings, and the end of a session
//!   whose mailbox was closed.
//! * [`polling`] — the long-polling GET and POST.
//! * [`websocket`] — a WebSocket session, from the start or by upgrade (`2probe`/`3probe`,
//!   a noop to release the waiting GET, then `5`).
//! * [`forward`] — on a cluster, a request for another node's session is passed to it.
//!
//! Errors follow the reference server: HTTP 400 with `{"code":N,"message":…}`. A handshake
//! (the first request of a session) with an invalid token gets chorus's `401` instead; later
//! requests are authenticated by their session id.

pub(crate) mod error;
mod forward;
mod heartbeat;
mod polling;
pub(crate) mod session;
mod websocket;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use chorus_core::{Cluster, Format, Mailbox, QueueLimits};
use chorus_proto::engineio;
use http::{header, HeaderValue, Method, StatusCode};
use parking_lot::RwLock;

pub(crate) use self::error::EngineError;
use crate::session::Context;
use crate::wire::handshake::{check_origin, handshake_info, is_attempt};
use crate::wire::{close, HandshakeInfo, Session};
pub(crate) use session::EngineSession;
use session::TransportKind;

/// Most packets one POST may carry.
pub(crate) const MAX_PACKETS_PER_POST: usize = 1024;

/// Builds the layer above Engine.IO for a new session.
pub(crate) type UpperFactory =
    Box<dyn Fn(&Arc<EngineSession>, HandshakeInfo) -> Box<dyn Session> + Send + Sync>;

/// How an engine behaves.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    /// Time between server pings.
    pub(crate) ping_interval: Duration,
    /// How long a ping may go unanswered.
    pub(crate) ping_timeout: Duration,
    /// Largest payload a client may send in one request or message (announced to it).
    pub(crate) max_payload: usize,
    /// How long a WebSocket may take to complete an upgrade.
    pub(crate) upgrade_timeout: Duration,
    /// Outbound queue limits of a session.
    pub(crate) queue: QueueLimits,
    /// What the layer above puts on the queue.
    pub(crate) format: Format,
    /// The cluster this node is one of: session ids name it, and requests for other
    /// nodes' sessions are forwarded to them.
    pub(crate) cluster: Option<Arc<Cluster>>,
}

/// An Engine.IO server at one path: its sessions, and the layer it builds above them.
pub(crate) struct Engine {
    pub(crate) config: EngineConfig,
    sessions: RwLock<HashMap<Arc<str>, Arc<EngineSession>>>,
    factory: UpperFactory,
    /// Started with the first session, inside the runtime that serves it.
    heartbeats: std::sync::OnceLock<heartbeat::Heartbeats>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("sessions", &self.sessions.read().len())
            .finish_non_exhaustive()
    }
}

/// The query parameters Engine.IO reads.
struct Query {
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

impl Query {
    fn parse(query: Option<&str>) -> Self {
        let mut q = Query {
            eio: None,
            transport: None,
            sid: None,
        };
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*k {
                "EIO" => q.eio = Some(v.into_owned()),
                "transport" => q.transport = Some(v.into_owned()),
                "sid" => q.sid = Some(v.into_owned()),
                _ => {}
            }
        }
        q
    }
}

impl Engine {
    pub(crate) fn new(config: EngineConfig, factory: UpperFactory) -> Arc<Self> {
        Arc::new(Self {
            config,
            sessions: RwLock::new(HashMap::new()),
            factory,
            heartbeats: std::sync::OnceLock::new(),
        })
    }

    /// Open sessions.
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.read().len()
    }

    /// The live session `sid`. One whose ping went unanswered past the timeout is ended
    /// here rather than served.
    fn session(&self, sid: &str) -> Option<Arc<EngineSession>> {
        let session = self.sessions.read().get(sid).cloned()?;
        if session.expired(self.config.ping_timeout) {
            session.mailbox.close(close::normal("ping timeout"));
            let closed = session.closed_from_mailbox();
            session.finish(&closed);
            return None;
        }
        Some(session)
    }

    pub(crate) fn remove(&self, sid: &str) {
        self.sessions.write().remove(sid);
    }

    /// Every open session's mailbox (for a server-wide drain).
    pub(crate) fn mailboxes(&self) -> Vec<Arc<Mailbox>> {
        self.sessions
            .read()
            .values()
            .map(|s| s.mailbox.clone())
            .collect()
    }

    /// Serves one request at the engine's path.
    pub(crate) async fn handle(self: Arc<Self>, ctx: Arc<Context>, req: Request) -> Response {
        let query = Query::parse(req.uri().query());
        let websocket = match query.transport.as_deref() {
            Some("polling") => false,
            Some("websocket") => true,
            _ => return EngineError::UnknownTransport.into_response(),
        };
        if query.eio.as_deref() != Some("4") {
            return EngineError::UnsupportedVersion.into_response();
        }
        let allowed = &ctx.config.allowed_origins;
        let origin = req.headers().get(header::ORIGIN).cloned();
        if check_origin(req.headers(), allowed).is_err() {
            return EngineError::Forbidden.into_response();
        }
        if websocket {
            if !is_attempt(&req) {
                return EngineError::BadRequest.into_response();
            }
            return match query.sid {
                None => websocket::open(self, &ctx, req),
                Some(sid) => match self.session(&sid) {
                    Some(session) => websocket::upgrade(self, &ctx, session, req),
                    None => match self.elsewhere(&sid, &req) {
                        Some(address) => forward::forward(&address, req).await,
                        None => EngineError::UnknownSid.into_response(),
                    },
                },
            };
        }
        let mut response = if req.method() == Method::OPTIONS {
            preflight()
        } else {
            match query.sid {
                None if req.method() == Method::GET => self.open_polling(&ctx, req),
                None => EngineError::BadHandshakeMethod.into_response(),
                Some(sid) => match self.session(&sid) {
                    None => match self.elsewhere(&sid, &req) {
                        // Another node's session: its answer, CORS headers and all.
                        Some(address) => return forward::forward(&address, req).await,
                        None => EngineError::UnknownSid.into_response(),
                    },
                    Some(session) => match *req.method() {
                        Method::GET => {
                            let traffic = &ctx.metrics.traffic;
                            polling::poll(session, self.config.max_payload, traffic).await
                        }
                        Method::POST => {
                            let (body, traffic) = (req.into_body(), &ctx.metrics.traffic);
                            polling::post(session, body, self.config.max_payload, traffic).await
                        }
                        _ => EngineError::BadRequest.into_response(),
                    },
                },
            }
        };
        if let Some(origin) = origin {
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        response
    }

    /// The node that holds session `sid`, when it is another node of this one's cluster.
    fn elsewhere(&self, sid: &str, req: &Request) -> Option<Arc<str>> {
        forward::target(self.config.cluster.as_deref()?, sid, req)
    }

    /// Creates a session and registers it; the caller starts its transport.
    fn create(
        self: &Arc<Self>,
        info: HandshakeInfo,
        transport: TransportKind,
    ) -> (Arc<EngineSession>, chorus_core::PeerQueue) {
        let (mailbox, queue) = Mailbox::new(self.config.format, self.config.queue);
        let node = self.config.cluster.as_ref().map(|c| c.node());
        let sid: Arc<str> = Arc::from(forward::new_sid(node));
        if transport == TransportKind::WebSocket {
            // The open packet is the first thing on the socket.
            mailbox.push(chorus_core::Outbound::Message(self.open_packet(&sid, &[])));
        }
        let listing: std::sync::Weak<dyn session::Listing> = Arc::downgrade(self) as _;
        let session = EngineSession::new(sid.clone(), listing, mailbox, None, transport);
        let upper = (self.factory)(&session, info);
        session.set_upper(upper);
        self.sessions.write().insert(sid, session.clone());
        self.heartbeats
            .get_or_init(|| {
                heartbeat::Heartbeats::start(self.config.ping_interval, self.config.ping_timeout)
            })
            .watch(&session);
        (session, queue)
    }

    /// The open packet for a session.
    fn open_packet(&self, sid: &str, upgrades: &[&str]) -> chorus_proto::WsMessage {
        engineio::open(
            sid,
            upgrades,
            millis(self.config.ping_interval),
            millis(self.config.ping_timeout),
            self.config.max_payload as u64,
        )
    }

    /// Whether a handshake without a token may wait for one in the layer above: Socket.IO
    /// clients usually send theirs in the CONNECT packet (`auth.token`).
    pub(crate) fn defers_missing_token(&self) -> bool {
        crate::session::socketio::format::is_socketio(self.config.format)
    }

    fn open_polling(self: &Arc<Self>, ctx: &Context, req: Request) -> Response {
        let mut info = handshake_info(&req, None);
        if let Err(refused) = ctx.authenticate(&mut info, self.defers_missing_token()) {
            return ctx.refuse(refused);
        }
        let (session, queue) = self.create(info, TransportKind::Polling);
        session.put_queue(queue);
        let mut body = Vec::new();
        engineio::encode_payload([&self.open_packet(&session.sid, &["websocket"])], &mut body);
        polling::payload_response(body)
    }
}

impl session::Listing for Engine {
    fn unlist(&self, sid: &str) {
        self.remove(sid);
    }

    fn ping_timeout(&self) -> Duration {
        self.config.ping_timeout
    }
}

/// A duration in whole milliseconds, saturating (Engine.IO and session expiries speak ms).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The answer to a CORS preflight for long-polling.
fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
        .into_response()
}

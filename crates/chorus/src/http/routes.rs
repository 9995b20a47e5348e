//! [`Routes`]: everything the server's router dispatches to, and [`Routes::router`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chorus_core::Hub;
use http::StatusCode;
use parking_lot::RwLock;

use super::assets;
use crate::events::Io;
use crate::refusal::Refusal;
use crate::session::engineio::Engine;
use crate::session::raw::room::RawRooms;
use crate::session::raw::RawEndpoint;
use crate::session::{native, Context};
use crate::wire::handshake::is_attempt;
use crate::wire::listener::Admission;
use crate::wire::HandshakeError;

/// The path of the native protocol endpoint.
pub(crate) const NATIVE_PATH: &str = "/ws";

/// What the router serves: the endpoints registered so far, and what they need.
#[derive(Debug)]
pub(crate) struct Routes {
    pub(crate) ctx: Arc<Context>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) admission: Arc<Admission>,
    /// The event layer's namespace `/`, which `/ws` clients join.
    pub(crate) native: Io,
    pub(crate) raw_rooms: RawRooms,
    /// Engine.IO endpoints by path (without the trailing `/`).
    pub(crate) engines: RwLock<Vec<(String, Arc<Engine>)>>,
    pub(crate) endpoints: RwLock<HashMap<String, RawEndpoint>>,
    /// The application's own routes, for plain HTTP.
    pub(crate) http: RwLock<Option<Router>>,
    pub(crate) socketio_client: std::sync::OnceLock<Option<bytes::Bytes>>,
    /// The server API's routes, nested at `/api` (set once the server is built).
    pub(crate) api: std::sync::OnceLock<Router>,
}

impl Routes {
    /// The axum router serving all of it.
    pub(crate) fn router(self: &Arc<Self>) -> Router {
        let mut router = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics));
        if let Some(api) = self.api.get() {
            router = router.nest_service("/api", api.clone());
        }
        if self.ctx.config.chat_page {
            router = assets::routes(router);
        } else {
            router = router.route("/chorus.js", get(assets::chorus_js));
        }
        router.fallback(dispatch).with_state(self.clone())
    }

    /// Serves an Engine.IO endpoint at `path`, replacing any earlier one there.
    pub(crate) fn mount_engine(&self, path: &str, engine: Arc<Engine>) {
        let path = path.trim_end_matches('/').to_owned();
        let mut engines = self.engines.write();
        engines.retain(|(p, _)| *p != path);
        engines.push((path, engine));
    }

    fn engine_at(&self, path: &str) -> Option<Arc<Engine>> {
        let path = path.trim_end_matches('/');
        self.engines
            .read()
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, e)| e.clone())
    }

    /// Engine.IO sessions open, every endpoint.
    pub(crate) fn engine_sessions(&self) -> usize {
        self.engines
            .read()
            .iter()
            .map(|(_, e)| e.session_count())
            .sum()
    }

    /// The Prometheus text exposition of the server's counters and gauges.
    pub(crate) fn metrics_text(&self) -> String {
        let sessions: Vec<(String, usize)> = self
            .engines
            .read()
            .iter()
            .map(|(path, engine)| (format!("{path}/"), engine.session_count()))
            .collect();
        let mut text = self
            .ctx
            .metrics
            .render(&self.hub, self.admission.open(), &sessions);
        if let Some(hooks) = &self.ctx.hooks {
            hooks.stats().render(&mut text);
        }
        text
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// How long `/readyz` waits for the history store to answer.
const READY_STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the server can do its work now, for a load balancer or an orchestrator: the
/// history store answers a read (within 2 s) and, on a cluster, the link to the broker is
/// up. `503` with what is wrong otherwise. (`/healthz` only says the process answers.)
async fn readyz(State(routes): State<Arc<Routes>>) -> Response {
    let mut problems = serde_json::Map::new();
    if let Some(cluster) = routes.hub.cluster() {
        if !cluster.is_up() {
            problems.insert("broker".into(), "the link to the broker is down".into());
        }
    }
    if let Some(publisher) = routes.hub.publisher() {
        let store = publisher.store().clone();
        // A read of a stream no room has: it touches the store and changes nothing.
        let probe = tokio::task::spawn_blocking(move || store.position("\u{1f}readyz"));
        let problem = match tokio::time::timeout(READY_STORE_WAIT, probe).await {
            Ok(Ok(Ok(_))) => None,
            Ok(Ok(Err(err))) => Some(err.to_string()),
            Ok(Err(_)) => Some("the store's read failed".to_owned()),
            Err(_) => Some(format!("no answer in {} s", READY_STORE_WAIT.as_secs())),
        };
        if let Some(problem) = problem {
            problems.insert("store".into(), problem.into());
        }
    }
    if problems.is_empty() {
        return "ready\n".into_response();
    }
    problems.insert("ready".into(), false.into());
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(problems)).into_response()
}

async fn metrics(State(routes): State<Arc<Routes>>) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        routes.metrics_text(),
    )
        .into_response()
}

async fn dispatch(State(routes): State<Arc<Routes>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let config = &routes.ctx.config;
    if let Some(engine) = routes.engine_at(&path) {
        return engine.handle(routes.ctx.clone(), req).await;
    }
    if config.socketio
        && req.method() == http::Method::GET
        && path.strip_prefix(config.socketio_path.as_str()) == Some("socket.io.js")
    {
        return assets::socketio_client(config, &routes.socketio_client);
    }
    let attempt = is_attempt(&req);
    // The admin page, when it is on, before the application's routes: chorus's own, like
    // `/api`. Off, the path is the application's; without one, it says how to turn it on.
    let api_on = !config.api_keys.is_empty();
    if !attempt && api_on && req.method() == http::Method::GET {
        if let Some(page) = assets::admin(&path, true) {
            return page;
        }
    }
    if !attempt {
        let http = routes.http.read().clone();
        if let Some(http) = http {
            use tower::ServiceExt;
            return match http.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
    }
    if !attempt && req.method() == http::Method::GET {
        if let Some(page) = assets::admin(&path, api_on) {
            return page;
        }
    }
    let not_websocket = || {
        routes
            .ctx
            .refuse(Refusal::from(HandshakeError::NotWebSocket))
    };
    if path == NATIVE_PATH {
        return if attempt {
            native::accept(&routes.ctx, &routes.native, req).await
        } else {
            not_websocket()
        };
    }
    let endpoint = routes.endpoints.read().get(&path).cloned();
    if let Some(endpoint) = endpoint {
        return if attempt {
            endpoint.accept(&routes.ctx, req)
        } else {
            not_websocket()
        };
    }
    if attempt {
        if config.raw_rooms {
            return routes.raw_rooms.accept(&routes.ctx, req).await;
        }
        return Refusal::NoEndpoint.into_response();
    }
    if path == "/" && config.chat_page && req.method() == http::Method::GET {
        return assets::index().await.into_response();
    }
    (StatusCode::NOT_FOUND, Body::from("not found\n")).into_response()
}

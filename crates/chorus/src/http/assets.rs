//! The web assets embedded in the binary: the chat page, the `chorus.js` browser client and
//! the admin page (with uPlot, its charting library, vendored in `web/vendor/uplot/`).
//!
//! They are compiled in with `include_str!`, so the server needs no files beside it and a
//! page can never be out of step with the server that serves it.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../../../../web/index.html");
const CHAT_CSS: &str = include_str!("../../../../web/chat.css");
const CHAT_JS: &str = include_str!("../../../../web/chat.js");
const CHORUS_JS: &str = include_str!("../../../../web/chorus.js");
const ADMIN_HTML: &str = include_str!("../../../../web/admin/index.html");
const ADMIN_CSS: &str = include_str!("../../../../web/admin/admin.css");
const ADMIN_JS: &str = include_str!("../../../../web/admin/admin.js");
const UPLOT_JS: &str = include_str!("../../../../web/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../../web/vendor/uplot/uPlot.min.css");

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

/// The admin page's files at `path` (`/admin`, `/admin/admin.js`, …), if it is one;
/// `api_on`: the server API is on (the page works through it). Off, `/admin` says how to
/// turn it on.
pub(crate) fn admin(path: &str, api_on: bool) -> Option<axum::response::Response> {
    let (content_type, body) = match path {
        "/admin" | "/admin/" => (HTML, ADMIN_HTML),
        "/admin/admin.js" => (JS, ADMIN_JS),
        "/admin/admin.css" => (CSS, ADMIN_CSS),
        "/admin/uplot.js" => (JS, UPLOT_JS),
        "/admin/uplot.css" => (CSS, UPLOT_CSS),
        _ => return None,
    };
    if !api_on {
        return Some(
            (
                http::StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the admin page is off: it works through the server API, which needs a key \
                 (api_keys, CHORUS_API_KEYS; see docs/api.md)\n",
            )
                .into_response(),
        );
    }
    let mut response = asset(content_type, body).into_response();
    // The page is the operator's: never framed by another site, no scripts but its own.
    let headers = response.headers_mut();
    headers.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             frame-ancestors 'none'",
        ),
    );
    Some(response)
}

/// The chat page.
pub(crate) async fn index() -> impl IntoResponse {
    asset(HTML, INDEX_HTML)
}

/// The browser client.
pub(crate) async fn chorus_js() -> impl IntoResponse {
    asset(JS, CHORUS_JS)
}

async fn chat_css() -> impl IntoResponse {
    asset(CSS, CHAT_CSS)
}

async fn chat_js() -> impl IntoResponse {
    asset(JS, CHAT_JS)
}

/// Adds the asset routes (the page itself is served by the fallback, so that `/` stays free
/// for WebSocket handshakes too).
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .route("/chorus.js", get(chorus_js))
        .route("/chat.css", get(chat_css))
        .route("/chat.js", get(chat_js))
}

/// Where the official Socket.IO browser client is looked for when the configuration does
/// not say: the npm package `socket.io-client` installed beside the working directory.
const SOCKETIO_CLIENT_PATHS: [&str; 2] = [
    "node_modules/socket.io-client/dist/socket.io.min.js",
    "e2e/node_modules/socket.io-client/dist/socket.io.min.js",
];

/// The official Socket.IO browser client (`/socket.io/socket.io.js`, which socket.io pages
/// load), read once per server from the `socket.io-client` npm package. It is not embedded:
/// chorus does not ship third-party code; `npm i socket.io-client` provides it.
pub(crate) fn socketio_client(
    config: &crate::Config,
    cache: &std::sync::OnceLock<Option<bytes::Bytes>>,
) -> axum::response::Response {
    let client = cache.get_or_init(|| {
        let configured = config.socketio_client.iter().cloned();
        let defaults = SOCKETIO_CLIENT_PATHS.iter().map(std::path::PathBuf::from);
        configured
            .chain(defaults)
            .find_map(|path| std::fs::read(path).ok())
            .map(bytes::Bytes::from)
    });
    match client {
        Some(js) => (
            [
                (header::CONTENT_TYPE, JS),
                (header::CACHE_CONTROL, "public, max-age=3600"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            js.clone(),
        )
            .into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "the Socket.IO browser client is not installed: run `npm i socket.io-client` \
             where chorus runs, or set `socketio_client` to its dist/socket.io.min.js\n",
        )
            .into_response(),
    }
}

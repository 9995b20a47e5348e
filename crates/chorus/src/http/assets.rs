//! The web assets embedded in the binary: the chat page and the `chorus.js` browser client.
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

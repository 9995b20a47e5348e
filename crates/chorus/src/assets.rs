//! The web assets embedded in the binary: the chat page and the `chorus.js` browser client.
//!
//! They are compiled in with `include_str!`, so the server needs no files beside it and a
//! page can never be out of step with the server that serves it.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../../../web/index.html");
const CHAT_CSS: &str = include_str!("../../../web/chat.css");
const CHAT_JS: &str = include_str!("../../../web/chat.js");
const CHORUS_JS: &str = include_str!("../../../web/chorus.js");

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

//! Every way the server turns a client away over HTTP, and the status each gets: the one
//! place statuses are chosen.
//!
//! A handshake that fails the WebSocket checks gets `400` (or `426` for a version we do not
//! speak, or plain HTTP on a WebSocket-only path), with the reason in the body; a missing or
//! invalid token `401` with RFC 6750's `WWW-Authenticate`; a refused origin, a connect
//! middleware's refusal or a room the token does not allow `403`; an Engine.IO request the
//! reference server would refuse gets its `{"code":N,"message":…}` body and status; a
//! long-polling body over `maxPayload` `413`. Each refusal of a handshake is counted at
//! `/metrics` by its status.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::auth::AuthError;
use crate::metrics::{Event, Metrics};
use crate::session::engineio::error::EngineError;
use crate::wire::HandshakeError;

/// Why a request was turned away.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The request is not a WebSocket handshake we accept.
    Handshake(HandshakeError),
    /// The token is missing (when anonymous access is off) or invalid.
    Unauthorized(AuthError),
    /// The token does not allow what the request asks (a raw room its `join` claim does
    /// not match); the message says which.
    Forbidden(String),
    /// A connect middleware refused the client, with its message.
    Refused(String),
    /// An Engine.IO request the protocol refuses.
    Engine(EngineError),
    /// A long-polling body over `maxPayload`.
    TooLarge,
    /// No WebSocket endpoint at this path (raw rooms are off).
    NoEndpoint,
    /// The application's backend did not say whether the client may connect, and the
    /// hooks deny then (`503`).
    Unavailable,
}

impl From<HandshakeError> for Refusal {
    fn from(err: HandshakeError) -> Self {
        Refusal::Handshake(err)
    }
}

impl From<AuthError> for Refusal {
    fn from(err: AuthError) -> Self {
        Refusal::Unauthorized(err)
    }
}

impl From<EngineError> for Refusal {
    fn from(err: EngineError) -> Self {
        Refusal::Engine(err)
    }
}

impl Refusal {
    /// The response, the refusal counted at `/metrics` by its status.
    pub(crate) fn respond(self, metrics: &Metrics) -> Response {
        let response = self.into_response();
        let event = match response.status() {
            StatusCode::UNAUTHORIZED => Some(Event::Handshake401),
            StatusCode::FORBIDDEN => Some(Event::Handshake403),
            StatusCode::UPGRADE_REQUIRED => Some(Event::Handshake426),
            StatusCode::BAD_REQUEST => Some(Event::Handshake400),
            _ => None,
        };
        if let Some(event) = event {
            metrics.count(event);
        }
        response
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Handshake(err) => err.into_response(),
            Refusal::Unauthorized(err) => err.into_response(),
            Refusal::Forbidden(message) => {
                (StatusCode::FORBIDDEN, format!("{message}\n")).into_response()
            }
            Refusal::Refused(message) => (
                StatusCode::FORBIDDEN,
                format!("connection refused: {message}\n"),
            )
                .into_response(),
            Refusal::Engine(err) => err.into_response(),
            Refusal::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload larger than maxPayload\n",
            )
                .into_response(),
            Refusal::NoEndpoint => (
                StatusCode::NOT_FOUND,
                "no WebSocket endpoint at this path\n",
            )
                .into_response(),
            Refusal::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "the application's backend did not answer; try again\n",
            )
                .into_response(),
        }
    }
}

/// `400` with the reason, `426` (with `Sec-WebSocket-Version: 13`) for a version we do not
/// speak or plain HTTP on a WebSocket path, `403` for an origin, `500` for a connection
/// hyper cannot upgrade.
impl IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        let status = match self {
            HandshakeError::Version | HandshakeError::NotWebSocket => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::NotUpgradable => StatusCode::INTERNAL_SERVER_ERROR,
            HandshakeError::Origin(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut response = (status, format!("{self}\n")).into_response();
        if status == StatusCode::UPGRADE_REQUIRED {
            let headers = response.headers_mut();
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        response
    }
}

/// `401 Unauthorized` with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750) and
/// the body `{"error":"invalid_token","message":"…"}`: sent before the upgrade, so the client
/// never gets a socket it would lose at once.
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = format!("{}\n", self.to_json());
        let mut response = (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="chorus", error="invalid_token""#),
        );
        response
    }
}

/// The reference server's answer: `400` (`403` for a refused origin) with
/// `{"code":N,"message":…}`.
impl IntoResponse for EngineError {
    fn into_response(self) -> Response {
        let status = match self {
            EngineError::Forbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = format!(
            r#"{{"code":{},"message":"{}"}}"#,
            self.code(),
            self.message()
        );
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

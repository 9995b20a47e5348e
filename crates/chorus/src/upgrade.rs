//! The WebSocket opening handshake (RFC 6455 §4.2), checked here so that every refusal
//! carries a status and a reason a developer can act on.
//!
//! The checks are ours; accepting the key, negotiating permessage-deflate and switching
//! protocols are done by the codec crate (`yawc`). A request is a WebSocket *attempt* if it
//! carries `Upgrade` or `Sec-WebSocket-Key`; an attempt that fails a check gets `400` with
//! the reason in the body, or `426` with `Sec-WebSocket-Version: 13` for a version we do not
//! speak. A missing or invalid token gets `401` (see [`crate::auth`]), a refused origin or
//! a room the token does not allow `403`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{header, HeaderMap, Method, Request, StatusCode, Version};
use hyper_util::rt::TokioIo;

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::config::Config;
use crate::inlet::{Inlet, Limits};
use crate::outlet::{Outlet, Plug};

/// Why an upgrade request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Not a GET.
    #[error("a WebSocket handshake must be a GET request")]
    Method,
    /// Not HTTP/1.1.
    #[error("a WebSocket handshake needs HTTP/1.1")]
    HttpVersion,
    /// `Upgrade: websocket` missing.
    #[error("missing `Upgrade: websocket` header")]
    UpgradeHeader,
    /// `Connection: Upgrade` missing.
    #[error("missing `Connection: Upgrade` header")]
    ConnectionHeader,
    /// No key, or not 16 bytes of base64.
    #[error("missing or invalid `Sec-WebSocket-Key` (must be 16 bytes, base64)")]
    Key,
    /// A version other than 13.
    #[error("unsupported `Sec-WebSocket-Version` (this server speaks 13)")]
    Version,
    /// This path serves WebSocket only, and the request was plain HTTP.
    #[error("this path is a WebSocket endpoint: connect with a WebSocket client")]
    NotWebSocket,
    /// A browser page of an origin that is not allowed (cross-site WebSocket hijacking
    /// defence).
    #[error("origin {0:?} is not allowed to open WebSockets here (see `allowed_origins`)")]
    Origin(String),
    /// A connect middleware refused the client.
    #[error("connection refused: {0}")]
    Refused(String),
    /// The token is missing (when anonymous access is off) or invalid: `401`, with the
    /// JSON body and `WWW-Authenticate` of [`crate::auth::AuthError`].
    #[error(transparent)]
    Unauthorized(#[from] crate::auth::AuthError),
    /// The token does not allow this (a raw room its `join` claim does not match).
    #[error("{0}")]
    NotPermitted(String),
    /// The HTTP connection cannot be upgraded (no hyper upgrade handle).
    #[error("this connection cannot be upgraded")]
    NotUpgradable,
}

impl IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        let status = match self {
            HandshakeError::Unauthorized(err) => return err.into_response(),
            HandshakeError::Version | HandshakeError::NotWebSocket => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::NotUpgradable => StatusCode::INTERNAL_SERVER_ERROR,
            HandshakeError::Origin(_)
            | HandshakeError::Refused(_)
            | HandshakeError::NotPermitted(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut response = (status, format!("{self}\n")).into_response();
        if status == StatusCode::UPGRADE_REQUIRED {
            let headers = response.headers_mut();
            headers.insert(header::SEC_WEBSOCKET_VERSION, "13".parse().expect("valid"));
            headers.insert(header::UPGRADE, "websocket".parse().expect("valid"));
        }
        response
    }
}

/// True if the request tries to open a WebSocket (whether or not it does it right).
pub(crate) fn is_attempt<B>(req: &Request<B>) -> bool {
    req.headers().contains_key(header::UPGRADE)
        || req.headers().contains_key(header::SEC_WEBSOCKET_KEY)
}

/// Checks a WebSocket handshake request.
pub(crate) fn check<B>(req: &Request<B>) -> Result<(), HandshakeError> {
    if req.method() != Method::GET {
        return Err(HandshakeError::Method);
    }
    if req.version() != Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = req.headers();
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(HandshakeError::UpgradeHeader);
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(HandshakeError::ConnectionHeader);
    }
    let key_ok = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|key| {
            base64::engine::general_purpose::STANDARD
                .decode(key.as_bytes())
                .ok()
        })
        .is_some_and(|key| key.len() == 16);
    if !key_ok {
        return Err(HandshakeError::Key);
    }
    match headers.get(header::SEC_WEBSOCKET_VERSION) {
        Some(v) if v.as_bytes() == b"13" => Ok(()),
        _ => Err(HandshakeError::Version),
    }
}

/// Checks the `Origin` of a browser's handshake against the allow-list: no `Origin` (not a
/// browser), the server's own origin, `localhost` pages, and the configured origins pass.
pub(crate) fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), HandshakeError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default().trim();
    let refuse = || Err(HandshakeError::Origin(origin.chars().take(100).collect()));
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return Ok(());
    }
    // `scheme://host[:port]`; "null" (file:// pages, sandboxed frames) has no host.
    let Some((_, authority)) = origin.split_once("://") else {
        return refuse();
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !host.is_empty() && authority.eq_ignore_ascii_case(host) {
        return Ok(());
    }
    let name = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let local = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local {
        Ok(())
    } else {
        refuse()
    }
}

/// The subprotocols the client offered, in its order of preference.
pub(crate) fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The client's first permessage-deflate offer whose parameters are all known and valid
/// (RFC 7692 §7.1), across every `Sec-WebSocket-Extensions` header.
fn first_deflate_offer(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|offer| {
            let mut parts = offer.split(';').map(str::trim);
            parts.next() == Some("permessage-deflate")
                && parts.all(|param| {
                    let (key, value) = match param.split_once('=') {
                        Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                        None => (param, None),
                    };
                    let bits_ok = |v: Option<&str>| {
                        v.and_then(|v| v.parse::<u8>().ok())
                            .is_some_and(|b| (9..=15).contains(&b))
                    };
                    match key {
                        "server_no_context_takeover" | "client_no_context_takeover" => {
                            value.is_none()
                        }
                        "server_max_window_bits" => bits_ok(value),
                        "client_max_window_bits" => value.is_none() || bits_ok(value),
                        _ => false,
                    }
                })
        })
        .map(str::to_owned)
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Codec options for a connection, from the server configuration.
pub(crate) fn codec_options(config: &Config) -> yawc::Options {
    let mut options = yawc::Options::default()
        .with_utf8()
        .with_no_delay()
        .with_max_payload_read(config.max_frame_size.saturating_add(1))
        .with_max_read_buffer(config.max_message_size.saturating_add(1))
        .with_read_buffer_capacity(config.read_buffer)
        .with_write_buffer_capacity(config.write_buffer);
    options = if config.compression {
        // No context takeover on the server side: each message is compressed on its own,
        // which keeps the per-connection state small.
        options
            .with_low_latency_compression()
            .server_no_context_takeover()
    } else {
        options.without_compression()
    };
    options
}

/// Accepts a checked handshake: returns the `101` response to send and the future that
/// yields the WebSocket once the response is on the wire.
pub(crate) fn accept(
    req: &mut Request<Body>,
    protocol: Option<&str>,
    config: &Config,
) -> Result<(Response, Upgrading), HandshakeError> {
    if req
        .extensions()
        .get::<hyper::upgrade::OnUpgrade>()
        .is_none()
    {
        return Err(HandshakeError::NotUpgradable);
    }
    // The codec reads a single permessage-deflate offer; a client may send several, in
    // its order of preference (RFC 7692 §5). Keep the first well-formed one.
    if config.compression {
        let chosen = first_deflate_offer(req.headers());
        req.headers_mut().remove(header::SEC_WEBSOCKET_EXTENSIONS);
        if let Some(offer) = chosen.and_then(|o| o.parse().ok()) {
            req.headers_mut()
                .insert(header::SEC_WEBSOCKET_EXTENSIONS, offer);
        }
    }
    // The codec builds the response (the accept key, the agreed extensions), but the
    // switch of protocols is taken from the request first: the socket is wrapped before
    // the codec gets it (see `crate::outlet`), and the codec's own upgrade future, left
    // without it, is dropped unused.
    let on = hyper::upgrade::on(&mut *req);
    let options = codec_options(config);
    let (response, _unused) = yawc::WebSocket::upgrade_with_options(&mut *req, options.clone())
        .map_err(|_| HandshakeError::Key)?;
    let extensions = response
        .headers()
        .get(header::SEC_WEBSOCKET_EXTENSIONS)
        .and_then(|v| v.to_str().ok())
        .map(Box::<str>::from);
    let fut = Upgrading {
        on,
        extensions,
        options,
        limits: Limits {
            max_frame: config.max_frame_size,
            max_message: config.max_message_size,
        },
    };
    let mut response = response.map(|_| Body::empty());
    if let Some(protocol) = protocol {
        if let Ok(value) = protocol.parse() {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
    }
    Ok((response, fut))
}

/// The WebSocket of an accepted handshake, once the `101` is on the wire: the codec over a
/// [`Plug`], and the [`Outlet`] the transport writes data frames through.
pub(crate) struct Upgrading {
    on: hyper::upgrade::OnUpgrade,
    /// The `Sec-WebSocket-Extensions` the response agreed to.
    extensions: Option<Box<str>>,
    options: yawc::Options,
    limits: Limits,
}

/// An open WebSocket, ready for [`crate::transport::run`]: where its frames come from, and
/// the [`Outlet`] its frames leave by.
pub(crate) struct Opened<S> {
    pub(crate) reader: Reader<S>,
    pub(crate) outlet: Outlet<S>,
}

/// Who reads a connection's frames.
pub(crate) enum Reader<S> {
    /// The transport itself, with no buffer while idle (see [`crate::inlet`]), reading the
    /// socket through the outlet; it also writes every frame, through the outlet.
    Direct(Inlet),
    /// The codec, for a connection that negotiated permessage-deflate: it inflates what it
    /// reads and deflates what it writes, with per-connection state of its own. It answers
    /// pings and echoes closes itself.
    Codec(Box<yawc::WebSocket<Plug<S>>>),
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Opened<S> {
    /// Wraps a stream that has completed the handshake with the given agreed extensions.
    pub(crate) fn new(
        io: S,
        extensions: Option<&str>,
        options: yawc::Options,
        limits: Limits,
    ) -> Result<Self, yawc::WebSocketError> {
        if extensions.is_none() {
            return Ok(Self {
                reader: Reader::Direct(Inlet::new(limits)),
                outlet: Outlet::alone(io),
            });
        }
        let (plug, outlet) = crate::outlet::split(io);
        let ws = yawc::WebSocket::from_stream_with_extensions(
            plug,
            yawc::Role::Server,
            extensions,
            options,
        )?;
        Ok(Self {
            reader: Reader::Codec(Box::new(ws)),
            outlet,
        })
    }

    /// Whether the transport writes data frames itself (not when the codec compresses
    /// them).
    pub(crate) fn is_direct(&self) -> bool {
        matches!(self.reader, Reader::Direct(_))
    }

    /// The next message or control frame from the client.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<yawc::Frame, yawc::WebSocketError>> {
        match &mut self.reader {
            Reader::Direct(inlet) => inlet.poll_next(&mut self.outlet, cx),
            Reader::Codec(ws) => ws.poll_next_frame(cx),
        }
    }

    pub(crate) async fn next_frame(&mut self) -> Result<yawc::Frame, yawc::WebSocketError> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Queues the answer to a ping. False if the codec owes it (it answers pings itself,
    /// and writes the pong when its sink is readied).
    pub(crate) fn pong(&mut self, payload: bytes::Bytes) -> bool {
        match self.reader {
            Reader::Direct(_) => {
                self.outlet.push(yawc::OpCode::Pong, payload);
                true
            }
            Reader::Codec(_) => false,
        }
    }
}

/// Frames leave through the outlet (pings, pongs, closes and data alike), or through the
/// codec when it compresses them: `SinkExt::send` sends one and flushes, `SinkExt::close`
/// writes what is queued and shuts the socket's sending side.
impl<S> futures::Sink<yawc::Frame> for Opened<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    type Error = yawc::WebSocketError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.get_mut().reader {
            // The outlet takes every frame at once; its backlog is the transport's to bound.
            Reader::Direct(_) => Poll::Ready(Ok(())),
            Reader::Codec(ws) => Pin::new(&mut **ws).poll_ready(cx),
        }
    }

    fn start_send(self: Pin<&mut Self>, frame: yawc::Frame) -> Result<(), Self::Error> {
        let this = self.get_mut();
        match &mut this.reader {
            Reader::Direct(_) => {
                this.outlet.push(frame.opcode(), frame.into_payload());
                Ok(())
            }
            Reader::Codec(ws) => Pin::new(&mut **ws).start_send(frame),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        match &mut this.reader {
            Reader::Direct(_) => this.outlet.poll_flush(cx).map_err(Into::into),
            Reader::Codec(ws) => Pin::new(&mut **ws).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        match &mut this.reader {
            Reader::Direct(_) => this.outlet.poll_shutdown(cx).map_err(Into::into),
            Reader::Codec(ws) => Pin::new(&mut **ws).poll_close(cx),
        }
    }
}

/// Why an upgrade did not give a WebSocket.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpgradeError {
    #[error("the connection did not switch protocols: {0}")]
    Http(#[from] hyper::Error),
    #[error("the agreed extensions cannot be honoured: {0}")]
    Codec(#[from] yawc::WebSocketError),
}

/// The socket of an upgraded connection.
///
/// Hyper hands an upgraded connection over as `Upgraded`: the connection's I/O boxed
/// behind a trait object, plus the bytes it read past the request. When those are none and
/// the I/O is a plain TCP stream — a connection our listener served, whose client waited
/// for the `101` before sending, as clients do — the stream is taken out of the box and
/// held as it is: 40 bytes in the connection instead of 48 plus a 32-byte allocation.
/// A client that did not wait gets its early bytes read first, from a box beside the
/// stream. Anything else (TLS, another server's I/O type) keeps hyper's box, boxed once
/// more so that the rare cases do not make every connection larger.
pub(crate) enum HttpIo {
    Tcp(tokio::net::TcpStream),
    Early(Box<Early>),
    Upgraded(Box<TokioIo<hyper::upgrade::Upgraded>>),
}

/// A TCP stream, and bytes hyper read from it past the handshake, to be read first.
pub(crate) struct Early {
    read: bytes::Bytes,
    io: tokio::net::TcpStream,
}

impl HttpIo {
    fn new(upgraded: hyper::upgrade::Upgraded) -> Self {
        match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) if parts.read_buf.is_empty() => Self::Tcp(parts.io.into_inner()),
            Ok(parts) => Self::Early(Box::new(Early {
                read: parts.read_buf,
                io: parts.io.into_inner(),
            })),
            Err(upgraded) => Self::Upgraded(Box::new(TokioIo::new(upgraded))),
        }
    }
}

impl tokio::io::AsyncRead for HttpIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_read(cx, buf),
            Self::Early(early) if !early.read.is_empty() => {
                let n = early.read.len().min(buf.remaining());
                buf.put_slice(&early.read.split_to(n));
                Poll::Ready(Ok(()))
            }
            Self::Early(early) => Pin::new(&mut early.io).poll_read(cx, buf),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl HttpIo {
    /// Where writes go: the stream, whichever way it is held.
    fn writer(&mut self) -> Pin<&mut (dyn tokio::io::AsyncWrite + Unpin + Send)> {
        match self {
            Self::Tcp(io) => Pin::new(io),
            Self::Early(early) => Pin::new(&mut early.io),
            Self::Upgraded(io) => Pin::new(&mut **io),
        }
    }
}

impl tokio::io::AsyncWrite for HttpIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().writer().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().writer().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().writer().poll_shutdown(cx)
    }
}

impl Future for Upgrading {
    type Output = Result<Opened<HttpIo>, UpgradeError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = ready!(Pin::new(&mut self.on).poll(cx))?;
        let options = std::mem::take(&mut self.options);
        Poll::Ready(Ok(Opened::new(
            HttpIo::new(upgraded),
            self.extensions.as_deref(),
            options,
            self.limits,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> http::request::Builder {
        Request::builder()
            .uri("/")
            .header("Upgrade", "websocket")
            .header("Connection", "keep-alive, Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
    }

    #[test]
    fn accepts_a_browser_handshake() {
        assert_eq!(check(&request().body(()).unwrap()), Ok(()));
    }

    #[test]
    fn refusals() {
        let mut req = request().body(()).unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Version", "8".parse().unwrap());
        assert_eq!(check(&req), Err(HandshakeError::Version));
        req.headers_mut().remove("Sec-WebSocket-Version");
        assert_eq!(check(&req), Err(HandshakeError::Version));

        let mut req = request().body(()).unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Key", "short".parse().unwrap());
        assert_eq!(check(&req), Err(HandshakeError::Key));

        let mut req = request().body(()).unwrap();
        req.headers_mut()
            .insert("Connection", "close".parse().unwrap());
        assert_eq!(check(&req), Err(HandshakeError::ConnectionHeader));

        let mut req = request().body(()).unwrap();
        req.headers_mut().insert("Upgrade", "h2c".parse().unwrap());
        assert_eq!(check(&req), Err(HandshakeError::UpgradeHeader));

        let req = request().method("POST").body(()).unwrap();
        assert_eq!(check(&req), Err(HandshakeError::Method));
    }

    #[test]
    fn first_usable_deflate_offer() {
        let req = request()
            .header(
                "Sec-WebSocket-Extensions",
                "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8, \
                 permessage-deflate; client_no_context_takeover; server_max_window_bits=9",
            )
            .header("Sec-WebSocket-Extensions", "permessage-deflate")
            .body(())
            .unwrap();
        assert_eq!(
            first_deflate_offer(req.headers()).as_deref(),
            Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=9")
        );
        let req = request()
            .header(
                "Sec-WebSocket-Extensions",
                "permessage-deflate; unknown_param",
            )
            .body(())
            .unwrap();
        assert_eq!(first_deflate_offer(req.headers()), None);
    }

    #[test]
    fn origins() {
        let headers = |origin: Option<&str>| {
            let mut req = request().header("Host", "chat.example.com:3000");
            if let Some(origin) = origin {
                req = req.header("Origin", origin);
            }
            req.body(()).unwrap().headers().clone()
        };
        let none: Vec<String> = Vec::new();
        assert!(check_origin(&headers(None), &none).is_ok());
        assert!(check_origin(&headers(Some("http://chat.example.com:3000")), &none).is_ok());
        assert!(check_origin(&headers(Some("http://localhost:5500")), &none).is_ok());
        assert!(check_origin(&headers(Some("http://127.0.0.1:5500")), &none).is_ok());
        assert!(check_origin(&headers(Some("http://[::1]:8080")), &none).is_ok());
        assert!(check_origin(&headers(Some("https://evil.example")), &none).is_err());
        assert!(check_origin(&headers(Some("http://chat.example.com")), &none).is_err());
        assert!(check_origin(&headers(Some("null")), &none).is_err());
        let listed = vec!["https://app.example".to_owned(), "null".to_owned()];
        assert!(check_origin(&headers(Some("https://app.example")), &listed).is_ok());
        assert!(check_origin(&headers(Some("null")), &listed).is_ok());
        assert!(check_origin(&headers(Some("https://evil.example")), &["*".to_owned()]).is_ok());
    }

    #[test]
    fn protocols_in_order() {
        let req = request()
            .header("Sec-WebSocket-Protocol", "a, b")
            .header("Sec-WebSocket-Protocol", "c")
            .body(())
            .unwrap();
        assert_eq!(offered_protocols(req.headers()), ["a", "b", "c"]);
    }
}

//! The WebSocket opening handshake (RFC 6455 §4.2): the request checked so that every
//! refusal carries a reason a developer can act on, what the request tells about its client
//! ([`HandshakeInfo`]), and the `101` that switches protocols.
//!
//! The checks are ours; accepting the key and negotiating permessage-deflate are done by
//! the codec crate (`yawc`). A request is a WebSocket *attempt* if it carries `Upgrade` or
//! `Sec-WebSocket-Key`; an attempt that fails a check is refused with a [`HandshakeError`]
//! (its status is chosen in `crate::refusal`). What an endpoint checks beyond these — the
//! token, a middleware, a room the token does not allow — it checks in [`handshake`]'s
//! `admit`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use base64::Engine;
use http::{header, HeaderMap, Method, Request, Uri, Version};

use super::listener::ConnSlot;
use super::socket::Upgrading;
use crate::auth::Identity;
use crate::config::Config;

/// Why a WebSocket handshake request was refused before anything else was asked of it.
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
    /// The HTTP connection cannot be upgraded (no hyper upgrade handle).
    #[error("this connection cannot be upgraded")]
    NotUpgradable,
}

/// What the handshake told us about a client.
#[derive(Debug, Clone)]
pub(crate) struct HandshakeInfo {
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) protocol: Option<String>,
    /// Who the request's token proved the client to be (`None`: anonymous, or the
    /// server does not authenticate).
    pub(crate) identity: Option<Arc<Identity>>,
}

impl HandshakeInfo {
    pub(crate) fn query(&self, key: &str) -> Option<String> {
        let query = self.uri.query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"').to_owned())
    }
}

/// A handshake that was accepted: the socket to come, and the connection's place under
/// the connection limits, held until the WebSocket closes.
pub(crate) struct Upgrade {
    pub(crate) upgraded: Upgrading,
    pub(crate) slot: Option<Arc<ConnSlot>>,
}

/// Checks and accepts a handshake: the `101` response, the socket to come, and what the
/// request said about the client.
///
/// The checks go in this order: the request is a WebSocket handshake (`400`/`426`), from
/// an allowed origin (`403`), then `admit` — the token (`401`) and what the endpoint asks
/// (middlewares, room permissions: `403`). `admit` may record what it learnt in the info.
///
/// Callers register the connection (and join its rooms) *before* returning the `101`, so a
/// client that sees its socket open is already a member: nothing sent to the room after
/// that moment can miss it.
pub(crate) fn handshake<E: From<HandshakeError>>(
    mut req: Request<Body>,
    protocol: Option<String>,
    config: &Config,
    admit: impl FnOnce(&mut HandshakeInfo) -> Result<(), E>,
) -> Result<(Response, Upgrade, HandshakeInfo), E> {
    check(&req)?;
    check_origin(req.headers(), &config.allowed_origins)?;
    let slot = req.extensions().get::<Arc<ConnSlot>>().cloned();
    let mut info = handshake_info(&req, protocol.clone());
    admit(&mut info)?;
    let (response, upgraded) = accept(&mut req, protocol.as_deref(), config)?;
    Ok((response, Upgrade { upgraded, slot }, info))
}

/// What a request tells about its client.
///
/// The URI and headers are copied, not cloned: hyper parses a request without copying, so
/// its header values and path are slices of the connection's read buffer (8 KiB or more),
/// and a clone kept for the socket's life would keep that whole buffer alive with it —
/// the largest part of what an idle native or Socket.IO connection cost.
pub(crate) fn handshake_info<B>(req: &Request<B>, protocol: Option<String>) -> HandshakeInfo {
    HandshakeInfo {
        remote_addr: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr),
        uri: detached_uri(req.uri()),
        headers: detached_headers(req.headers()),
        protocol,
        identity: None,
    }
}

/// A copy of `uri` that shares no memory with it.
fn detached_uri(uri: &http::Uri) -> http::Uri {
    // Only what a server-side request URI has: a path and a query. A URI that does not
    // parse back (it always does) is kept as it is rather than lost.
    uri.to_string().parse().unwrap_or_else(|_| uri.clone())
}

/// Headers that served only the upgrade itself: not kept for the socket's life. What an
/// application may want of them is elsewhere (the chosen subprotocol) or spent (the key).
const UPGRADE_ONLY: [http::HeaderName; 5] = [
    http::header::CONNECTION,
    http::header::UPGRADE,
    http::header::SEC_WEBSOCKET_KEY,
    http::header::SEC_WEBSOCKET_VERSION,
    http::header::SEC_WEBSOCKET_EXTENSIONS,
];

/// A copy of `headers` that shares no memory with them (see [`handshake_info`]), less the
/// [`UPGRADE_ONLY`] ones.
///
/// Every idle connection keeps this map, so it is kept compact: all values are copied into
/// one allocation and share it, rather than one small allocation each.
fn detached_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let kept = || {
        headers
            .iter()
            .filter(|(name, _)| !UPGRADE_ONLY.contains(name))
    };
    let mut values = bytes::BytesMut::with_capacity(kept().map(|(_, v)| v.len()).sum());
    for (_, value) in kept() {
        values.extend_from_slice(value.as_bytes());
    }
    let values = values.freeze();
    let mut copy = http::HeaderMap::with_capacity(kept().count());
    let mut at = 0;
    for (name, value) in kept() {
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap_or(name.clone());
        let shared = values.slice(at..at + value.len());
        at += value.len();
        let mut owned = http::HeaderValue::from_maybe_shared(shared).unwrap_or(value.clone());
        owned.set_sensitive(value.is_sensitive());
        copy.append(name, owned);
    }
    copy
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
fn accept(
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
        limits: chorus_proto::ws::Limits {
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Request;

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

    /// Whether `part` lies inside `buffer`'s memory.
    fn inside(part: &[u8], buffer: &[u8]) -> bool {
        let range = buffer.as_ptr_range();
        range.contains(&part.as_ptr())
    }

    #[test]
    fn handshake_info_keeps_nothing_of_the_request_buffer() {
        // As hyper parses: values and the path are slices of one read buffer.
        let buffer = bytes::Bytes::from(
            "GET /ws?name=ann HTTP/1.1\r\nx-custom-header: hello\r\nsec-websocket-key: abc\r\n"
                .as_bytes()
                .to_vec(),
        );
        let slice = |s: &str| {
            let at = buffer
                .windows(s.len())
                .position(|w| w == s.as_bytes())
                .unwrap();
            buffer.slice(at..at + s.len())
        };
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = http::Uri::from_maybe_shared(slice("/ws?name=ann")).unwrap();
        let name = http::HeaderName::from_bytes(b"x-custom-header").unwrap();
        let mut secret = http::HeaderValue::from_maybe_shared(slice("abc")).unwrap();
        secret.set_sensitive(true);
        req.headers_mut().insert(
            name,
            http::HeaderValue::from_maybe_shared(slice("hello")).unwrap(),
        );
        req.headers_mut().insert("authorization", secret);
        req.headers_mut().insert(
            "sec-websocket-key",
            http::HeaderValue::from_maybe_shared(slice("abc")).unwrap(),
        );
        req.headers_mut()
            .append("x-custom-header", http::HeaderValue::from_static("again"));
        assert!(inside(req.headers()["x-custom-header"].as_bytes(), &buffer));

        let info = handshake_info(&req, None);
        let mut expected = req.headers().clone();
        expected.remove("sec-websocket-key");
        assert_eq!(info.headers, expected, "all but the upgrade-only headers");
        let values: Vec<_> = info.headers.get_all("x-custom-header").iter().collect();
        assert_eq!(values, ["hello", "again"]);
        assert_eq!(info.uri, *req.uri());
        assert_eq!(info.query("name").as_deref(), Some("ann"));
        assert!(info.headers["authorization"].is_sensitive());
        assert!(!info.headers["x-custom-header"].is_sensitive());
        for (name, value) in &info.headers {
            assert!(!inside(value.as_bytes(), &buffer), "{name}");
            assert!(!inside(name.as_str().as_bytes(), &buffer), "{name}");
        }
        let path = info.uri.path_and_query().unwrap().as_str();
        assert!(!inside(path.as_bytes(), &buffer));
    }
}

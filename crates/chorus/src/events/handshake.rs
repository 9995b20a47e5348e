//! [`Handshake`]: what a client said when it connected, as handlers and middlewares see it;
//! and [`ConnectError`], a middleware's refusal.

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::auth::{Grant, Identity};
use crate::wire::HandshakeInfo;

/// A connection refused by a middleware ([`super::Io::middleware`]). A Socket.IO client gets it
/// as a `connect_error` with this message (and data); a native client's handshake is
/// answered `403 Forbidden` with the message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// Shown to the client.
    pub message: String,
    /// Extra details for the client (Socket.IO's `err.data`).
    pub data: Option<serde_json::Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds details for the client.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// What a client said when it connected: the HTTP request's headers, query and cookies,
/// for Socket.IO the `auth` payload of its CONNECT packet, and who its token proved it
/// to be.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Shared: a Socket.IO connection's namespaces all have the same request.
    pub(crate) info: Arc<HandshakeInfo>,
    pub(crate) auth: Option<Arc<RawValue>>,
    /// The socket's token, verified: `None` for an anonymous client.
    pub(crate) grant: Option<Arc<Grant>>,
}

impl Handshake {
    pub(crate) fn new(
        info: Arc<HandshakeInfo>,
        auth: Option<Arc<RawValue>>,
        grant: Option<Arc<Grant>>,
    ) -> Self {
        Self { info, auth, grant }
    }

    /// Who the client's token says it is: user id, display name, the rooms it may join
    /// and publish to, every claim. `None` for an anonymous client (or a server that
    /// checks no tokens). After a native `refresh`, the new token's identity.
    ///
    /// Chorus enforces the `join` and `publish` claims on what clients ask for themselves;
    /// what your handlers do ([`super::Socket::join`], emits) is up to you — check
    /// `identity.join.allows(room)` where the client chooses the room.
    pub fn identity(&self) -> Option<Arc<Identity>> {
        self.grant.as_ref().map(|grant| grant.identity())
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }

    /// The request's headers, less those that served only the WebSocket upgrade
    /// (`Connection`, `Upgrade`, `Sec-WebSocket-Key`, `-Version` and `-Extensions`).
    pub fn headers(&self) -> &HeaderMap {
        &self.info.headers
    }

    /// A query parameter of the request URL.
    pub fn query(&self, key: &str) -> Option<String> {
        self.info.query(key)
    }

    /// A cookie sent with the request.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.info.cookie(name)
    }

    /// The Socket.IO `auth` payload as JSON text (`None` for native clients, or when the
    /// client sent none).
    pub fn auth_json(&self) -> Option<&str> {
        self.auth.as_deref().map(RawValue::get)
    }

    /// The Socket.IO `auth` payload, deserialised.
    pub fn auth<T: DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        self.auth_json().map(serde_json::from_str)
    }
}

//! Authentication: JWTs checked at the handshake, and what they grant a connection.
//!
//! A client presents a token — `?token=` on the URL, `Authorization: Bearer`, or for
//! Socket.IO the CONNECT packet's `auth.token` — and the server checks it before the
//! connection exists: a bad token gets `401` before the upgrade (or a CONNECT_ERROR for
//! a Socket.IO `auth.token`). A good one becomes the connection's [`Identity`]: its user id,
//! its nickname, the rooms it may join and publish to. When the token's `exp` passes the
//! connection is closed (code 3000), unless a native client sent a fresh token first
//! (`refresh`). `docs/auth.md` is the operator's guide.
//!
//! * `identity` — [`Identity`] and [`Patterns`], what a token says.
//! * `verifier` — [`Verifier`]: the configured keys, signature and claim checks.
//! * `error` — [`AuthError`], and its `401` response.
//! * `grant` — `Grant`: a connection's current identity, swapped by a refresh.
//! * `expiry` — the server's one clock that expires tokens.
//! * `Auth` (here) — the server's policy: where tokens are read, anonymous or not.

mod error;
mod expiry;
mod grant;
mod identity;
mod verifier;

use std::sync::{Arc, Weak};

use chorus_core::Mailbox;

pub use error::AuthError;
pub(crate) use expiry::Expiries;
pub(crate) use grant::Grant;
pub use grant::{RefreshError, Refreshed};
pub use identity::{Identity, Patterns};
pub use verifier::{KeyError, Verifier, MAX_TOKEN_LEN};

use crate::metrics::Metrics;
use crate::wire::{close, HandshakeInfo};

/// The close code of a connection whose token expired: 3000, registered with IANA as
/// "Unauthorized" for exactly this.
pub const EXPIRED_CLOSE_CODE: u16 = close::TOKEN_EXPIRED;
/// The close reason that goes with [`EXPIRED_CLOSE_CODE`].
pub const EXPIRED_CLOSE_REASON: &str = close::TOKEN_EXPIRED_REASON;

/// The server's authentication: the verifier, whether anonymous clients are let in, and
/// the expiry clock. Exists only when a key is configured; without one no token is read.
#[derive(Debug)]
pub(crate) struct Auth {
    pub(crate) verifier: Verifier,
    anonymous: bool,
    expiries: Expiries,
    metrics: Arc<Metrics>,
}

impl Auth {
    pub(crate) fn new(verifier: Verifier, anonymous: bool, metrics: Arc<Metrics>) -> Self {
        Self {
            verifier,
            anonymous,
            expiries: Expiries::default(),
            metrics,
        }
    }

    /// The server's authentication, if its configuration names a key.
    pub(crate) fn from_config(
        config: &crate::Config,
        metrics: Arc<Metrics>,
    ) -> Result<Option<Arc<Self>>, KeyError> {
        if let Some(secret) = &config.jwt_secret {
            if secret.expose().len() < 32 {
                tracing::warn!(
                    "jwt_secret is shorter than 32 bytes: HS256 needs a 256-bit secret to be hard to guess"
                );
            }
        }
        Ok(Verifier::from_config(config)?
            .map(|verifier| Arc::new(Self::new(verifier, config.anonymous, metrics))))
    }

    /// Verifies a token, counting a refusal.
    pub(crate) fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.verifier
            .verify(token)
            .inspect_err(|err| self.count(err))
    }

    /// Counts a refusal at `/metrics`.
    pub(crate) fn count(&self, err: &AuthError) {
        self.metrics.count(err.metric());
    }

    /// Whether a client without a token is let in.
    pub(crate) fn anonymous(&self) -> bool {
        self.anonymous
    }

    /// The identity a handshake request proves: its token verified, or `None` for an
    /// anonymous client when that is allowed. `defer_missing` lets a request without a
    /// token through even when anonymous access is off: a Socket.IO client may still
    /// send its token in the CONNECT packet, where it is checked.
    pub(crate) fn check_handshake(
        &self,
        info: &HandshakeInfo,
        defer_missing: bool,
    ) -> Result<Option<Arc<Identity>>, AuthError> {
        match token(info) {
            Some(token) => self.verify(&token).map(|identity| Some(Arc::new(identity))),
            None if self.anonymous || defer_missing => Ok(None),
            None => {
                self.count(&AuthError::Missing);
                Err(AuthError::Missing)
            }
        }
    }

    /// A grant for a connection proven to be `identity`; arm it once the connection exists.
    pub(crate) fn grant(self: &Arc<Self>, identity: Arc<Identity>) -> Arc<Grant> {
        Grant::new(self.clone(), identity)
    }
}

/// A grant for `identity`, if the server authenticates and the client is not anonymous.
pub(crate) fn grant_for(
    auth: Option<&Arc<Auth>>,
    identity: Option<&Arc<Identity>>,
) -> Option<Arc<Grant>> {
    Some(auth?.grant(identity?.clone()))
}

/// The token of a handshake request: `Authorization: Bearer <token>`, else the `token`
/// query parameter. An empty one counts as none.
pub(crate) fn token(info: &HandshakeInfo) -> Option<String> {
    let bearer = info
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    bearer
        .or_else(|| info.query("token"))
        .filter(|t| !t.is_empty())
}

/// What to do when a WebSocket's token expires: close it with 3000 `token expired`, ahead
/// of whatever is still queued for it.
pub(crate) fn close_on_expiry(mailbox: &Arc<Mailbox>) -> impl Fn() + Send + Sync + 'static {
    let mailbox: Weak<Mailbox> = Arc::downgrade(mailbox);
    move || {
        if let Some(mailbox) = mailbox.upgrade() {
            mailbox.close(close::token_expired());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(uri: &str, authorization: Option<&str>) -> HandshakeInfo {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        }
        HandshakeInfo {
            remote_addr: None,
            uri: uri.parse().unwrap(),
            headers,
            protocol: None,
            identity: None,
        }
    }

    #[test]
    fn tokens_come_from_the_bearer_header_then_the_query() {
        assert_eq!(token(&info("/ws?token=q", None)).as_deref(), Some("q"));
        assert_eq!(
            token(&info("/ws?token=q", Some("Bearer h"))).as_deref(),
            Some("h")
        );
        assert_eq!(
            token(&info("/ws", Some("bearer  h "))).as_deref(),
            Some("h")
        );
        assert_eq!(
            token(&info("/ws?token=q", Some("Basic abc"))).as_deref(),
            Some("q")
        );
        assert_eq!(token(&info("/ws?token=", None)), None);
        assert_eq!(token(&info("/ws", None)), None);
        assert_eq!(
            token(&info("/ws?token=a%2Bb", None)).as_deref(),
            Some("a+b"),
            "percent-decoded"
        );
    }
}

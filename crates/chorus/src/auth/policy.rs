//! [`Auth`]: the server's authentication policy — where a handshake's token is read, whether
//! a client without one is let in, the verifier that checks it, and the expiry clock the
//! connections it admits are put on.

use std::sync::Arc;

use super::error::AuthError;
use super::expiry::Expiries;
use super::identity::Identity;
use super::revocation::Revocations;
use super::verifier::{KeyError, Verifier};
use crate::metrics::Metrics;
use crate::wire::HandshakeInfo;

/// The server's authentication: the verifier, whether anonymous clients are let in, and
/// the expiry clock. Exists only when a key is configured; without one no token is read.
#[derive(Debug)]
pub(crate) struct Auth {
    pub(crate) verifier: Verifier,
    anonymous: bool,
    pub(crate) expiries: Expiries,
    /// Tokens revoked before their expiry, and the connections holding them.
    pub(crate) revocations: Revocations,
    pub(crate) metrics: Arc<Metrics>,
}

impl Auth {
    pub(crate) fn new(verifier: Verifier, anonymous: bool, metrics: Arc<Metrics>) -> Self {
        Self {
            verifier,
            anonymous,
            expiries: Expiries::default(),
            revocations: Revocations::default(),
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

    /// Verifies a token — its signature and claims, and that it was not revoked —
    /// counting a refusal.
    pub(crate) fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.verifier
            .verify(token)
            .and_then(|identity| {
                if self.revocations.revokes(&identity, unix_now()) {
                    return Err(AuthError::Revoked);
                }
                Ok(identity)
            })
            .inspect_err(|err| self.count(err))
    }

    /// Whether `identity`'s token has been revoked (a token checked earlier, reused).
    pub(crate) fn is_revoked(&self, identity: &Identity) -> bool {
        self.revocations.revokes(identity, unix_now())
    }

    /// Puts a revocation in force on this node: tokens it names are refused from now on,
    /// and the connections holding one are closed. How many were.
    pub(crate) fn revoke(&self, revocation: &chorus_core::ops::Revocation) -> u64 {
        self.revocations.revoke(revocation, unix_now())
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

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

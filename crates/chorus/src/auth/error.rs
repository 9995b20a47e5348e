//! [`AuthError`]: why a token was refused, and how each refusal looks on the wire.
//!
//! Every protocol says the same thing about the same token: HTTP (a `401` before the
//! upgrade, see `crate::refusal`), the native protocol (error code `invalid_token`) and
//! Socket.IO (a CONNECT_ERROR with [`AuthError::to_json`] as its data).

use crate::metrics::Event;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token, and the server does not allow anonymous connections.
    #[error("a token is required: this server does not allow anonymous connections")]
    Missing,
    /// Not a JWT (three base64url parts, a JSON header and payload), or too long.
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    /// The signature does not match the server's key.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// Signed with an algorithm the server has no key for (`none`, `HS512`, `RS256` when
    /// only a secret is configured, ...).
    #[error("the token is signed with {0:?}, which this server does not accept")]
    WrongAlgorithm(String),
    /// `exp` has passed (beyond the configured leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead (beyond the configured leeway).
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// `iss` is missing or not `jwt_issuer`.
    #[error("the token was not issued by the issuer this server trusts (iss)")]
    WrongIssuer,
    /// `aud` is missing or does not name `jwt_audience`.
    #[error("the token is not meant for this server (aud)")]
    WrongAudience,
    /// A claim chorus reads has the wrong type or is out of range (`sub` missing, `join`
    /// not an array of strings, ...).
    #[error("the token's claims are invalid: {0}")]
    BadClaims(String),
    /// The server revoked the token (by its `jti`, or every token of its user issued
    /// before some time).
    #[error("the token has been revoked")]
    Revoked,
}

impl AuthError {
    /// The error code clients branch on: `invalid_token` for every refusal (RFC 6750's
    /// code; the message says which check failed).
    pub fn code(&self) -> &'static str {
        "invalid_token"
    }

    /// The counter this refusal goes to.
    pub(crate) fn metric(&self) -> Event {
        match self {
            AuthError::Missing => Event::AuthMissing,
            AuthError::Expired => Event::AuthExpired,
            _ => Event::AuthInvalid,
        }
    }

    /// The JSON body of a `401`, and the `data` of a Socket.IO CONNECT_ERROR.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code(), "message": self.to_string() })
    }
}

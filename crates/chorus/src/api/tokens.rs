//! `revoke`: tokens no longer accepted before their expiry — one by its `jti`, or every
//! token of a user issued before a time — on every node, with the connections holding one
//! closed at once (3000 `token revoked`; a Socket.IO socket is disconnected).

use std::sync::Arc;

use chorus_core::ops::{Op, Revocation, Revoked};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::Api;
use crate::events::Emitter;

/// How long a revocation is remembered when the request does not say: a day.
const DEFAULT_KEEP_SECS: u64 = 86_400;

/// `revoke`: a token by its id, or a user's tokens issued before a time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeRequest {
    /// The token's id (its `jti` claim). Give this or `user`.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub(crate) jti: Option<String>,
    /// A user (a token's `sub`): their tokens issued (`iat`) before `issued_before` are
    /// revoked (a token without `iat` counts as issued before). Give this or `jti`.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub(crate) user: Option<String>,
    /// With `user`: Unix seconds; default now.
    #[schema(minimum = 0)]
    #[serde(default, deserialize_with = "super::whole")]
    pub(crate) issued_before: Option<u64>,
    /// Unix seconds until which the revocation holds — the latest expiry of the tokens it
    /// names. Default: a day from now.
    #[schema(minimum = 0)]
    #[serde(default, deserialize_with = "super::whole")]
    pub(crate) expire_at: Option<u64>,
}

/// What a revocation did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RevokeResult {
    /// Connections closed, on every node (a Socket.IO client counts once per namespace).
    pub(crate) closed: u64,
}

/// Revokes a token, or a user's tokens, on every node.
#[utoipa::path(post, path = "/api/revoke", tag = "tokens",
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "In force; the connections holding such a token are closed", body = RevokeResult),
        (status = 400, description = "Neither or both of `jti` and `user`, `issued_before` without `user`, or `expire_at` in the past", body = super::error::ErrorBody),
        (status = 409, description = "The server checks no tokens", body = super::error::ErrorBody),
        (status = 504, description = "Another node did not answer in time", body = super::error::ErrorBody),
    ))]
pub(crate) async fn revoke(api: &Api, req: RevokeRequest) -> Result<RevokeResult, ApiError> {
    if !api.tokens {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_tokens",
            "this server checks no tokens (no jwt_secret or jwt_public_key): nothing to revoke",
        ));
    }
    let now = crate::auth::unix_now();
    let what = match (req.jti, req.user) {
        (Some(jti), None) if req.issued_before.is_none() => Revoked::Token(Arc::from(jti)),
        (None, Some(user)) => Revoked::User {
            user: Arc::from(user),
            issued_before: req.issued_before.unwrap_or(now),
        },
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "`issued_before` goes with `user`, not `jti`",
            ))
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `jti` and `user`",
            ))
        }
    };
    let (Revoked::Token(id) | Revoked::User { user: id, .. }) = &what;
    if !(1..=256).contains(&id.chars().count()) {
        return Err(ApiError::bad_request(
            "`jti` and `user` are 1 to 256 characters",
        ));
    }
    let until = req
        .expire_at
        .unwrap_or(now.saturating_add(DEFAULT_KEEP_SECS));
    if until <= now {
        return Err(ApiError::bad_request("`expire_at` is in the past"));
    }
    let ns = api.namespace(None)?;
    let closed = Emitter::new(ns, None, None)
        .count(Op::Revoke(Revocation { what, until }))
        .await?;
    Ok(RevokeResult { closed })
}

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
//! * `policy` — `Auth`, the server's policy: where tokens are read,
//!   anonymous or not.

mod error;
mod expiry;
mod grant;
mod identity;
mod policy;
mod revocation;
mod verifier;

use std::sync::{Arc, Weak};

use chorus_core::Mailbox;

pub use error::AuthError;
pub(crate) use grant::{Ended, Grant};
pub use grant::{RefreshError, Refreshed};
pub use identity::{Identity, Patterns};
pub(crate) use policy::{unix_now, Auth};
pub use verifier::{KeyError, Verifier, MAX_TOKEN_LEN};

use crate::wire::close;

/// The close code of a connection whose token expired: 3000, registered with IANA as
/// "Unauthorized" for exactly this.
pub const EXPIRED_CLOSE_CODE: u16 = close::TOKEN_EXPIRED;
/// The close reason that goes with [`EXPIRED_CLOSE_CODE`].
pub const EXPIRED_CLOSE_REASON: &str = close::TOKEN_EXPIRED_REASON;

/// A grant for `identity`, if the server authenticates and the client is not anonymous;
/// arm it once the connection exists.
pub(crate) fn grant_for(
    auth: Option<&Arc<Auth>>,
    identity: Option<&Arc<Identity>>,
) -> Option<Arc<Grant>> {
    Some(Grant::new(auth?.clone(), identity?.clone()))
}

/// What to do when a WebSocket's token expires or is revoked: close it with 3000 (`token
/// expired`, `token revoked`), ahead of whatever is still queued for it.
pub(crate) fn close_on_expiry(mailbox: &Arc<Mailbox>) -> impl Fn(Ended) + Send + Sync + 'static {
    let mailbox: Weak<Mailbox> = Arc::downgrade(mailbox);
    move |why| {
        if let Some(mailbox) = mailbox.upgrade() {
            mailbox.close(match why {
                Ended::Expired => close::token_expired(),
                Ended::Revoked => close::token_revoked(),
            });
        }
    }
}

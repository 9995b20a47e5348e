//! [`Grant`]: what a connection's token grants it now.
//!
//! An [`Identity`] is fixed; a connection's rights are not: a native client replaces its
//! token with `refresh` before it expires, which moves the expiry and may change the
//! permissions. A grant holds the current identity (swapped whole, so a reader never sees
//! half of one token and half of another), its place in the server's expiry clock, and what
//! to do when the clock fires (close the WebSocket, or disconnect a Socket.IO socket).

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};

use super::error::AuthError;
use super::expiry::{Expiring, Slot};
use super::identity::Identity;
use super::policy::Auth;
use super::revocation::Holder;
use crate::metrics::Event;

type OnExpiry = Box<dyn Fn(Ended) + Send + Sync>;

/// Why a connection's token stopped being good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It reached its `exp` (plus the leeway) without a refresh.
    Expired,
    /// The server revoked it (the API's `revoke`).
    Revoked,
}

/// Why a token could not replace a connection's token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The connection has no token to replace: it is anonymous, or the server does not
    /// use tokens.
    #[error("this connection has no token to refresh (it connected anonymously); reconnect with a token")]
    NoToken,
    /// The new token was refused.
    #[error(transparent)]
    Invalid(#[from] AuthError),
    /// The new token is for another user (`sub`).
    #[error("the new token is for another user: a refresh must keep the same `sub`")]
    OtherUser,
}

impl RefreshError {
    /// The native protocol's error code: `invalid_token` for a refused token, `forbidden`
    /// otherwise.
    pub fn code(&self) -> chorus_proto::native::ErrorCode {
        use chorus_proto::native::ErrorCode;
        match self {
            RefreshError::Invalid(_) => ErrorCode::InvalidToken,
            RefreshError::NoToken | RefreshError::OtherUser => ErrorCode::Forbidden,
        }
    }
}

/// A token that replaced a socket's token ([`crate::Socket::refresh`]).
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The new identity.
    pub identity: Arc<Identity>,
    /// Rooms the socket was in that the new token's `join` claim no longer allows: it has
    /// left them (their members saw it leave).
    pub left: Vec<Arc<str>>,
}

/// The live identity of one authenticated connection (one Socket.IO namespace, for
/// Socket.IO clients).
pub(crate) struct Grant {
    auth: Arc<Auth>,
    identity: RwLock<Arc<Identity>>,
    slot: Mutex<Option<Slot>>,
    on_expiry: OnceLock<OnExpiry>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("identity", &*self.identity.read())
            .finish_non_exhaustive()
    }
}

impl Grant {
    pub(crate) fn new(auth: Arc<Auth>, identity: Arc<Identity>) -> Arc<Self> {
        Arc::new(Self {
            auth,
            identity: RwLock::new(identity),
            slot: Mutex::new(None),
            on_expiry: OnceLock::new(),
        })
    }

    /// The current identity.
    pub(crate) fn identity(&self) -> Arc<Identity> {
        self.identity.read().clone()
    }

    /// Starts the expiry clock: `on_expiry` runs once, when the token (the current one,
    /// after any refresh) expires. Called once the connection exists; a grant whose
    /// connection was refused is never armed and costs the clock nothing.
    pub(crate) fn arm(self: &Arc<Self>, on_expiry: impl Fn(Ended) + Send + Sync + 'static) {
        if self.on_expiry.set(Box::new(on_expiry)).is_ok() {
            let holder: std::sync::Weak<dyn Holder> = Arc::downgrade(self) as _;
            self.auth.revocations.track(self.key(), holder);
            self.schedule();
            // A revocation that came between the token's check and now did not see this
            // grant: look again, now that any later one will.
            self.end_if_revoked();
        }
    }

    /// Ends the connection if its current token has been revoked.
    fn end_if_revoked(&self) {
        let identity = self.identity();
        if self.auth.revocations.revokes(&identity, super::unix_now()) {
            self.end(Ended::Revoked);
        }
    }

    /// The grant's key among the revocations' tracked grants: its address.
    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Ends the connection now, for `why`: what the clock does at expiry, and a revocation
    /// at once.
    pub(crate) fn end(&self, why: Ended) {
        if let Some(slot) = self.slot.lock().take() {
            self.auth.expiries.remove(slot);
        }
        if let Some(on_end) = self.on_expiry.get() {
            on_end(why);
        }
    }

    /// Replaces the identity with the one `token` proves, if it is for the same user.
    pub(crate) fn refresh(self: &Arc<Self>, token: &str) -> Result<Arc<Identity>, RefreshError> {
        let identity = Arc::new(self.auth.verify(token)?);
        if identity.user_id != self.identity.read().user_id {
            return Err(RefreshError::OtherUser);
        }
        *self.identity.write() = identity.clone();
        if self.on_expiry.get().is_some() {
            self.schedule();
            // Revoked between its check and the swap: the connection ends now.
            self.end_if_revoked();
        }
        Ok(identity)
    }

    /// Puts the grant in the clock at its current deadline (expiry plus leeway), taking
    /// it out of its old place.
    fn schedule(self: &Arc<Self>) {
        let deadline = self
            .identity
            .read()
            .expires_at
            .and_then(|exp| exp.checked_add(self.auth.verifier.leeway()))
            .map(|deadline| {
                let left = deadline
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                let now = tokio::time::Instant::now();
                // Far-future deadlines are clamped; a connection lasting decades can live
                // with being asked to reconnect.
                now.checked_add(left)
                    .unwrap_or_else(|| now + std::time::Duration::from_secs(86_400 * 365 * 30))
            });
        let mut slot = self.slot.lock();
        if let Some(old) = slot.take() {
            self.auth.expiries.remove(old);
        }
        if let Some(at) = deadline {
            let grant: std::sync::Weak<dyn Expiring> = Arc::downgrade(self) as _;
            *slot = Some(self.auth.expiries.insert(at, grant));
        }
    }
}

impl Holder for Grant {
    fn identity(&self) -> Arc<Identity> {
        Grant::identity(self)
    }

    fn revoked(&self) {
        self.end(Ended::Revoked);
    }
}

impl Expiring for Grant {
    /// Called by the clock at `slot`: ends the connection, unless a refresh has moved the
    /// deadline since.
    fn expire(&self, slot: Slot) {
        {
            let mut current = self.slot.lock();
            if *current != Some(slot) {
                return;
            }
            *current = None;
        }
        self.auth.metrics.count(Event::TokenExpired);
        // Its connection is ending: a revocation has nothing more to end here.
        self.auth.revocations.untrack(self.key());
        if let Some(on_expiry) = self.on_expiry.get() {
            on_expiry(Ended::Expired);
        }
    }
}

/// What the current token allows, as the hub checks it (`chorus_core::Namespace::permit`):
/// its `join` and `publish` claims.
impl chorus_core::Access for Grant {
    fn may_join(&self, room: &str) -> bool {
        self.identity.read().join.allows(room)
    }

    fn may_publish(&self, room: &str) -> bool {
        self.identity.read().publish.allows(room)
    }

    /// Sending to everyone or to one connection needs `publish` to allow every room.
    fn may_publish_anywhere(&self) -> bool {
        self.identity.read().publish.allows_every_room()
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.get_mut().take() {
            self.auth.expiries.remove(slot);
        }
        if self.on_expiry.get().is_some() {
            self.auth.revocations.untrack(self.key());
        }
    }
}

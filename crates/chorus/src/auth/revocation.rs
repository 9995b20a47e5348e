//! [`Revocations`]: tokens the server no longer accepts before they expire — one by its
//! `jti`, or every token of a user issued before a time (the server API's `revoke`) — and
//! the connections holding one, closed at once.
//!
//! A revocation is remembered until the time it was given (by then the tokens it names
//! have expired), so the list stays as long as the tokens' lifetimes, not forever. Each
//! node keeps its own: the API sends a revocation to every node of a cluster, and a node
//! that starts later does not know it (give tokens short lifetimes).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use chorus_core::ops::{Revocation, Revoked};
use parking_lot::Mutex;

use super::identity::Identity;

/// A connection's hold on its token, which a revocation may end: a connection's grant
/// (named here by what it does, so that this module needs nothing of the grant's).
pub(crate) trait Holder: Send + Sync {
    /// The identity its current token proves.
    fn identity(&self) -> Arc<Identity>;
    /// Its token was revoked: end the connection.
    fn revoked(&self);
}

/// Most revocations remembered at once; beyond it a new one still closes the connections
/// it names, but new connections with such a token are let in (and it is logged).
pub(crate) const MAX_REVOCATIONS: usize = 1_000_000;

/// The revocations in force, and the connections' grants they may end.
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Token ids, with until when.
    tokens: HashMap<Arc<str>, u64>,
    /// Users, with the time their tokens must have been issued after, and until when.
    users: HashMap<Arc<str>, (u64, u64)>,
    /// Every armed grant, by its address.
    live: HashMap<usize, Weak<dyn Holder>>,
}

impl Revocations {
    /// Whether `identity`'s token is revoked at `now` (Unix seconds).
    pub(crate) fn revokes(&self, identity: &Identity, now: u64) -> bool {
        let state = self.state.lock();
        if state.tokens.is_empty() && state.users.is_empty() {
            return false;
        }
        let by_token = token_id(identity)
            .and_then(|jti| state.tokens.get(jti))
            .is_some_and(|until| *until > now);
        let by_user = state
            .users
            .get(identity.user_id.as_str())
            .is_some_and(|(before, until)| *until > now && issued_at(identity) < *before);
        by_token || by_user
    }

    /// Puts `revocation` in force and ends the grants it names; how many.
    pub(crate) fn revoke(&self, revocation: &Revocation, now: u64) -> u64 {
        // Every grant upgraded under the lock is dropped after it: the last reference to a
        // grant dropped under the lock would untrack it, locking again.
        let mut spared: Vec<Arc<dyn Holder>> = Vec::new();
        let ended: Vec<Arc<dyn Holder>> = {
            let mut state = self.state.lock();
            state.tokens.retain(|_, until| *until > now);
            state.users.retain(|_, (_, until)| *until > now);
            if state.tokens.len() + state.users.len() >= MAX_REVOCATIONS {
                tracing::warn!(
                    "{MAX_REVOCATIONS} revocations are in force: this one closes the connections it names, but is not remembered"
                );
            } else if revocation.until > now {
                match &revocation.what {
                    Revoked::Token(jti) => {
                        let until = state.tokens.entry(jti.clone()).or_default();
                        *until = (*until).max(revocation.until);
                    }
                    Revoked::User {
                        user,
                        issued_before,
                    } => {
                        let entry = state.users.entry(user.clone()).or_default();
                        *entry = (entry.0.max(*issued_before), entry.1.max(revocation.until));
                    }
                }
            }
            let mut ended = Vec::new();
            // The grants it ends leave the list: each connection is ended, and counted, once.
            state.live.retain(|_, grant| match grant.upgrade() {
                Some(grant) if names(revocation, &grant.identity()) => {
                    ended.push(grant);
                    false
                }
                Some(grant) => {
                    spared.push(grant);
                    true
                }
                None => false,
            });
            ended
        };
        // Outside the lock: ending a grant runs connection code.
        drop(spared);
        for grant in &ended {
            grant.revoked();
        }
        ended.len() as u64
    }

    /// Keeps track of an armed grant (by a key of its own: its address), which a
    /// revocation may end.
    pub(crate) fn track(&self, key: usize, grant: Weak<dyn Holder>) {
        self.state.lock().live.insert(key, grant);
    }

    /// Forgets a grant (its connection is gone).
    pub(crate) fn untrack(&self, key: usize) {
        self.state.lock().live.remove(&key);
    }
}

/// Whether `revocation` names `identity`'s token.
fn names(revocation: &Revocation, identity: &Identity) -> bool {
    match &revocation.what {
        Revoked::Token(jti) => token_id(identity) == Some(&**jti),
        Revoked::User {
            user,
            issued_before,
        } => identity.user_id == **user && issued_at(identity) < *issued_before,
    }
}

fn token_id(identity: &Identity) -> Option<&str> {
    identity.claims.get("jti").and_then(|jti| jti.as_str())
}

/// The token's `iat`, in Unix seconds; 0 for a token without one (issued before any time).
fn issued_at(identity: &Identity) -> u64 {
    identity
        .claims
        .get("iat")
        .and_then(|iat| iat.as_u64().or_else(|| iat.as_f64().map(|f| f as u64)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user: &str, claims: serde_json::Value) -> Identity {
        let mut identity = Identity::new(user);
        identity.claims = claims.as_object().unwrap().clone();
        identity
    }

    #[test]
    fn a_token_id_or_a_users_older_tokens_are_refused_until_the_given_time() {
        let revocations = Revocations::default();
        let stolen = identity("ada", serde_json::json!({"jti": "t1", "iat": 100}));
        let fresh = identity("ada", serde_json::json!({"jti": "t2", "iat": 300}));
        let old = identity("ada", serde_json::json!({"iat": 150}));
        let no_iat = identity("ada", serde_json::json!({}));
        let bob = identity("bob", serde_json::json!({"iat": 100}));
        assert!(!revocations.revokes(&stolen, 1000));

        let token = Revocation {
            what: Revoked::Token(Arc::from("t1")),
            until: 2000,
        };
        assert_eq!(
            revocations.revoke(&token, 1000),
            0,
            "no connection holds it"
        );
        assert!(revocations.revokes(&stolen, 1000));
        assert!(!revocations.revokes(&fresh, 1000));
        assert!(
            !revocations.revokes(&stolen, 2000),
            "forgotten once it expired anyway"
        );

        let user = Revocation {
            what: Revoked::User {
                user: Arc::from("ada"),
                issued_before: 200,
            },
            until: 2000,
        };
        revocations.revoke(&user, 1000);
        assert!(revocations.revokes(&old, 1000));
        assert!(revocations.revokes(&no_iat, 1000));
        assert!(!revocations.revokes(&fresh, 1000), "issued after");
        assert!(!revocations.revokes(&bob, 1000), "another user");
        // A later revocation that names an earlier time does not shorten the first.
        let earlier = Revocation {
            what: Revoked::User {
                user: Arc::from("ada"),
                issued_before: 120,
            },
            until: 1500,
        };
        revocations.revoke(&earlier, 1000);
        assert!(revocations.revokes(&old, 1800));
        // Expired entries are dropped at the next revocation.
        revocations.revoke(&token, 2500);
        let state = revocations.state.lock();
        assert!(state.users.is_empty());
        assert_eq!(state.tokens.len(), 0, "its own time is past too");
    }
}

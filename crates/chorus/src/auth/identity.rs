//! [`Identity`]: who a token says the client is, and which rooms it may use.
//!
//! Built by the [`super::Verifier`] from a token's claims; read by the native session, the
//! raw rooms and the Socket.IO built-ins before a join or a publish, and by application code
//! (`socket.identity()`, `conn.identity()`) to authorize further.

use std::sync::Arc;
use std::time::SystemTime;

/// Room-name patterns from a token's `join` or `publish` claim, in the glob syntax of the
/// `[[history]]` rules: `*` matches any run of characters (`chat:*`, `*:public`, `lobby`).
///
/// An absent claim allows every room ([`Patterns::every`]); an empty array allows none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Patterns {
    /// `None`: every room. Shared, since every refresh and every Socket.IO namespace of a
    /// connection may hold the same list.
    list: Option<Arc<[String]>>,
}

impl Patterns {
    /// Most patterns one claim may list: permissions are checked on every join and
    /// publish by a linear scan, so the list is kept short.
    pub const MAX_PATTERNS: usize = 256;
    /// Longest pattern, in bytes.
    pub const MAX_PATTERN_LEN: usize = 256;

    /// Every room (the claim was absent).
    pub fn every() -> Self {
        Self { list: None }
    }

    /// These patterns only (an empty list allows no room).
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            list: Some(patterns.into_iter().map(Into::into).collect()),
        }
    }

    /// True if `room` matches one of the patterns.
    pub fn allows(&self, room: &str) -> bool {
        match &self.list {
            None => true,
            Some(list) => list.iter().any(|p| chorus_core::history::glob(p, room)),
        }
    }

    /// True if every room is allowed: no claim, or a `*` pattern. Sending to everyone or to
    /// one connection (not to a room) needs this.
    pub fn allows_every_room(&self) -> bool {
        match &self.list {
            None => true,
            Some(list) => list
                .iter()
                .any(|p| !p.is_empty() && p.bytes().all(|b| b == b'*')),
        }
    }

    /// The patterns, or `None` for every room.
    pub fn as_list(&self) -> Option<&[String]> {
        self.list.as_deref()
    }
}

/// A verified client: the user behind a connection and what its token allows.
///
/// Every field comes from the token's claims; [`Identity::claims`] has all of them, for
/// checks of your own (a role, a tenant).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The user id: the `sub` claim.
    pub user_id: String,
    /// The display name: the `name` claim, if any.
    pub name: Option<String>,
    /// Rooms the connection may join (and read the history of): the `join` claim.
    pub join: Patterns,
    /// Rooms the connection may send to: the `publish` claim.
    pub publish: Patterns,
    /// When the token expires (`exp`); `None` for a token without expiry.
    pub expires_at: Option<SystemTime>,
    /// Every claim of the token, as sent.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Identity {
    /// Most characters of a nickname (the native protocol's limit).
    const MAX_NICKNAME: usize = 64;

    /// An identity for `user_id` that may join and publish everywhere and never expires
    /// (for tests and for code that builds identities itself).
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            name: None,
            join: Patterns::every(),
            publish: Patterns::every(),
            expires_at: None,
            claims: serde_json::Map::new(),
        }
    }

    /// The nickname the connection gets: the `name` claim, else the user id (cut to 64
    /// characters).
    pub fn nickname(&self) -> &str {
        let name = self.name.as_deref().unwrap_or(&self.user_id).trim();
        match name.char_indices().nth(Self::MAX_NICKNAME) {
            Some((at, _)) => &name[..at],
            None => name,
        }
    }

    /// `expires_at` in seconds since the Unix epoch.
    pub fn expires_at_unix(&self) -> Option<u64> {
        self.expires_at.map(|t| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let every = Patterns::every();
        assert!(every.allows("anything") && every.allows_every_room());
        let none = Patterns::new(Vec::<String>::new());
        assert!(!none.allows("lobby") && !none.allows_every_room());
        let some = Patterns::new(["chat:*", "lobby"]);
        assert!(some.allows("chat:general") && some.allows("lobby"));
        assert!(!some.allows("lobby2") && !some.allows("admin"));
        assert!(!some.allows_every_room());
        assert!(Patterns::new(["x", "*"]).allows_every_room());
        assert!(!Patterns::new([""]).allows_every_room());
    }

    #[test]
    fn nickname_is_the_name_else_the_user_id() {
        let mut identity = Identity::new("u-42");
        assert_eq!(identity.nickname(), "u-42");
        identity.name = Some("Alice".into());
        assert_eq!(identity.nickname(), "Alice");
        let long = Identity::new("é".repeat(100));
        assert_eq!(long.nickname().chars().count(), 64);
    }
}

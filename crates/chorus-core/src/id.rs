//! Connection ids.
//!
//! An id is shown to other clients (presence, `from`) and used to address one connection,
//! so it must not be guessable from the ones a client has seen: ids are a process-wide
//! counter run through a keyed bijective mixer. They stay unique for the life of the
//! process and cost one `u64`.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A connection's id: 16 lowercase hex digits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

static NEXT: AtomicU64 = AtomicU64::new(1);
static KEY: OnceLock<(u64, u64)> = OnceLock::new();

impl ConnId {
    /// A fresh id, never returned before in this process.
    pub fn next() -> Self {
        let (k1, k2) = *KEY.get_or_init(|| (rand::random::<u64>() | 1, rand::random()));
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Each step is invertible on u64 (xor with a constant, multiply by an odd number,
        // xor-shift), so distinct counters give distinct ids.
        let mut x = n ^ k2;
        x = x.wrapping_mul(k1);
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 32;
        ConnId(x)
    }

    /// The raw value.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id whose raw value is `n`: one another node made (an envelope names it).
    pub(crate) fn from_u64(n: u64) -> Self {
        ConnId(n)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Serialised as its text (16 hex digits), the form every protocol shows it in.
impl serde::Serialize for ConnId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The text is not 16 hex digits.
/// A map keyed by connection id, hashed by the id itself: ids are a keyed permutation of a
/// counter ([`ConnId::next`]), already well mixed, and made by the server — a client can
/// name one to look up, never choose one that is inserted — so they need no SipHash on the
/// per-message paths (a room's members, a namespace's connections).
pub(crate) type ConnMap<V> = HashMap<ConnId, V, BuildHasherDefault<IdHasher>>;

/// The hasher of a [`ConnMap`]: the id's value is its hash.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `ConnId`'s `Hash`; anything else still hashes.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a connection id is 16 hex digits")]
pub struct BadConnId;

impl FromStr for ConnId {
    type Err = BadConnId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(BadConnId);
        }
        u64::from_str_radix(s, 16)
            .map(ConnId)
            .map_err(|_| BadConnId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unique_and_round_trips() {
        let ids: HashSet<ConnId> = (0..10_000).map(|_| ConnId::next()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert_eq!(id.to_string().parse::<ConnId>().unwrap(), *id);
        }
        assert!("xyz".parse::<ConnId>().is_err());
        assert!("0123456789abcdeg".parse::<ConnId>().is_err());
    }
}

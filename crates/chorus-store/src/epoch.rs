//! Stream epochs, derived from a per-store secret.
//!
//! The [`Store`](crate::Store) contract says a stream never appended to already has an epoch,
//! and keeps it once created. Storing a random epoch the first time a stream is *read* would
//! let any client grow the store by asking about arbitrary room names; reporting a new random
//! epoch on every read would make a client that joined an empty room unable to recover once
//! the room's first message creates the stream with yet another epoch.
//!
//! So a store draws one random secret when its history begins (a memory store at
//! construction, a SQLite file when it is created), and the epoch of a stream is a hash of
//! that secret, a *generation* and the stream name: the same on every read, kept (stored) by
//! the stream when it is created, and different as soon as the secret is (a restart of a
//! memory store, a wiped data directory). The generation lets a store that forgets single
//! streams (the memory store evicting one) give them a new epoch without a new secret.
//!
//! The hash is FNV-1a over the secret, generation and name, finished with the SplitMix64
//! mixer: stable across Rust releases (epochs of a SQLite file outlive the binary), and not a
//! secret-keeping device — an epoch is an opaque version tag, not a credential.

use std::fmt;
use std::sync::Arc;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The secret a store's epochs derive from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EpochSource {
    secret: u128,
}

impl EpochSource {
    /// A new random secret: a history that starts now.
    pub fn random() -> Self {
        Self {
            secret: rand::random(),
        }
    }

    /// A secret read back from storage (see [`EpochSource::to_hex`]).
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(hex, 16)
            .ok()
            .map(|secret| Self { secret })
    }

    /// The secret as 32 hex digits, to store it.
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.secret)
    }

    /// The epoch of `stream` in `generation`: 16 hex digits.
    pub fn epoch(&self, generation: u64, stream: &str) -> Arc<str> {
        let mut h = FNV_OFFSET;
        for chunk in [
            &self.secret.to_le_bytes()[..],
            &generation.to_le_bytes()[..],
            stream.as_bytes(),
        ] {
            for &b in chunk {
                h ^= u64::from(b);
                h = h.wrapping_mul(FNV_PRIME);
            }
        }
        Arc::from(format!("{:016x}", splitmix64(h)))
    }
}

/// Never prints the secret: logs of a store's `Debug` should not let anyone predict epochs.
impl fmt::Debug for EpochSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochSource(..)")
    }
}

/// The SplitMix64 finaliser: spreads every input bit over the output.
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_for_one_secret_and_different_across_secrets_generations_and_names() {
        let a = EpochSource::random();
        let b = EpochSource::random();
        assert_eq!(a.epoch(0, "room"), a.epoch(0, "room"));
        assert_ne!(a.epoch(0, "room"), b.epoch(0, "room"));
        assert_ne!(a.epoch(0, "room"), a.epoch(1, "room"));
        assert_ne!(a.epoch(0, "room"), a.epoch(0, "room2"));
        assert_eq!(a.epoch(0, "room").len(), 16);
    }

    #[test]
    fn hex_round_trip_and_fixed_output() {
        let a = EpochSource::random();
        assert_eq!(EpochSource::from_hex(&a.to_hex()), Some(a));
        assert_eq!(EpochSource::from_hex("xyz"), None);
        assert_eq!(EpochSource::from_hex(&format!("+{}", "1".repeat(31))), None);
        assert_eq!(EpochSource::from_hex(&"g".repeat(32)), None);
        // Pinned: epochs stored in SQLite files must not change with a new build.
        let fixed = EpochSource::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
        assert_eq!(&*fixed.epoch(7, "/#chat"), PINNED);
        assert!(format!("{fixed:?}").contains(".."));
    }

    /// FNV-1a + SplitMix64 of the inputs, computed independently (Python).
    const PINNED: &str = "b0676105fc88d67c";
}

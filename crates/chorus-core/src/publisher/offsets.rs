//! Recovery offsets: a stored message's sequence number, signed, as Socket.IO clients with
//! connection-state recovery get it (their last argument) and send it back.
//!
//! Signed so that no other string — an application's own last argument, or one a client
//! made up to skip messages — passes for one.

use std::sync::{Arc, OnceLock};

use crate::Event;

/// The key offsets are signed with, once recovery is on: SipHash-2-4's two 64-bit keys.
#[derive(Debug, Clone, Default)]
pub(super) struct OffsetKey(Arc<OnceLock<(u64, u64)>>);

impl OffsetKey {
    /// Sets the key; later calls are ignored.
    pub(super) fn set(&self, key: [u8; 16]) {
        let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
        let _ = self.0.set((k0, k1));
    }

    /// True once a key is set.
    pub(super) fn is_set(&self) -> bool {
        self.0.get().is_some()
    }

    /// The offset of the message with sequence number `seq`; `None` while no key is set.
    pub(super) fn offset(&self, seq: u64) -> Option<Arc<str>> {
        self.0.get().map(|key| signed(key, seq))
    }

    /// Sets a stored event's offset, if offsets are on.
    pub(super) fn stamp(&self, event: &mut Event) {
        if event.seq > 0 {
            event.offset = self.offset(event.seq);
        }
    }

    /// The sequence number `offset` stands for, if it is one signed with this key.
    pub(super) fn verify(&self, offset: &str) -> Option<u64> {
        let key = self.0.get()?;
        let (seq, _) = offset.split_once('-')?;
        if seq.is_empty() || seq.len() > 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq: u64 = seq.parse().ok()?;
        let expected = signed(key, seq);
        // Equal length and content, compared in constant time.
        let same = expected.len() == offset.len()
            && expected
                .bytes()
                .zip(offset.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then_some(seq)
    }
}

/// `"<seq>-<tag>"`, the tag SipHash-2-4 of the sequence number under the server's 128-bit
/// key — a pseudorandom function made for short inputs, so a tag cannot be computed without
/// the key, at about a tenth of an HMAC-SHA256's cost (this runs for every stored message).
fn signed(key: &(u64, u64), seq: u64) -> Arc<str> {
    use std::hash::Hasher;
    let mut hasher = siphasher::sip::SipHasher24::new_with_keys(key.0, key.1);
    hasher.write(&seq.to_be_bytes());
    Arc::from(format!("{seq}-{:016x}", hasher.finish()))
}

//! The read and retention rules every store follows, in one place so the implementations
//! cannot drift apart (the conformance suite checks the outcome; these are the definitions).
//!
//! * A stream keeps a gapless run of its latest messages: offsets `first ..= last`, or none.
//!   Retention only ever removes from the old end, so "what is kept" is one number per stream.
//! * A page read after offset `after` is `truncated` when it is not a gapless continuation of
//!   what the reader has: the message right after `after` is gone, or the reader claims an
//!   offset the stream never reached (its history is not this stream's history).
//! * A page read after offset `after` *and* sequence number `after_seq`
//!   ([`Store::read_after_seq`](crate::Store::read_after_seq)) skips what the reader has (a
//!   sequence number up to `after_seq`), so it is `truncated` only if a removed message was
//!   one the reader had not: see [`truncated_after_seq`].
//! * [`Store::read_last`](crate::Store::read_last)`(n)` is a read after `last - n`.
//! * A message is too old when it is more than `max_age` older than `now`; age retention
//!   removes the oldest messages while they are too old, and stops at the first one that is
//!   not (so a clock that stepped back never punches a hole in the middle of a stream).
//! * A session record has expired when its expiry is before `now` ([`session_expired`]); one
//!   without an expiry (its client is connected) never has.

use std::time::Duration;

/// Whether a page read after `after` is not a gapless continuation, given the stream's last
/// offset and the offset of the first message it still keeps after `after` (`None` if it
/// keeps none).
pub fn truncated(after: u64, last: u64, first_kept_after: Option<u64>) -> bool {
    if after >= last {
        return after > last;
    }
    first_kept_after != Some(after + 1)
}

/// Whether a page read after offset `after` and sequence number `after_seq` may miss a
/// message the reader has not seen, given the stream's last offset, the offset of the first
/// message it still keeps after `after` (`None` if it keeps none), and `trimmed_seq`, the
/// sequence number of the newest message ever removed from it (0 if none was).
///
/// Removal takes a prefix of a stream's offsets, and sequence numbers grow with offsets
/// within a stream, so the newest removed message has the highest removed sequence number:
/// when messages right after `after` are gone, the reader missed one of them exactly when
/// `trimmed_seq > after_seq`. (A removed message before `after` does not matter: the reader
/// has everything up to `after`.) The epoch check comes first and is the caller's.
pub fn truncated_after_seq(
    after: u64,
    last: u64,
    first_kept_after: Option<u64>,
    trimmed_seq: u64,
    after_seq: u64,
) -> bool {
    if after >= last {
        return after > last;
    }
    if first_kept_after == Some(after + 1) {
        return false;
    }
    trimmed_seq > after_seq
}

/// Whether a session record with expiry `expires_ms` has expired as of `now_ms`: a record
/// is still valid during the millisecond it expires in, and one with no expiry never expires.
pub fn session_expired(expires_ms: Option<u64>, now_ms: u64) -> bool {
    expires_ms.is_some_and(|e| e < now_ms)
}

/// The offset `read_last(n)` reads after.
pub fn last_n_after(last: u64, n: usize) -> u64 {
    last.saturating_sub(u64::try_from(n).unwrap_or(u64::MAX))
}

/// Messages published before this time (ms since the Unix epoch) are too old as of `now_ms`.
/// A message exactly `max_age` old is kept.
pub fn age_cutoff_ms(now_ms: u64, max_age: Duration) -> u64 {
    let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    now_ms.saturating_sub(max_age_ms)
}

/// The first offset kept by a count limit of `max_messages` when the last offset is `last`.
pub fn count_keep_from(last: u64, max_messages: u64) -> u64 {
    last.saturating_sub(max_messages) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation() {
        // Nothing appended, reader has nothing: a complete (empty) continuation.
        assert!(!truncated(0, 0, None));
        // Reader is up to date.
        assert!(!truncated(5, 5, None));
        // Reader claims more than the stream ever had.
        assert!(truncated(6, 5, None));
        // Next message kept, or gone, or everything gone.
        assert!(!truncated(2, 5, Some(3)));
        assert!(truncated(2, 5, Some(4)));
        assert!(truncated(2, 5, None));
    }

    #[test]
    fn truncation_after_a_sequence_number() {
        // Offsets and the end of the stream decide as for `truncated`, whatever the seqs.
        assert!(!truncated_after_seq(0, 0, None, 0, 0));
        assert!(!truncated_after_seq(5, 5, None, 99, 0));
        assert!(truncated_after_seq(6, 5, None, 0, 99));
        // The next message is kept: removals before it do not matter.
        assert!(!truncated_after_seq(2, 5, Some(3), 99, 0));
        // Messages right after `after` are gone: truncated only if the reader had not seen
        // the newest of them.
        assert!(truncated_after_seq(2, 5, Some(4), 9, 8));
        assert!(!truncated_after_seq(2, 5, Some(4), 9, 9));
        assert!(!truncated_after_seq(2, 5, Some(4), 9, 10));
        // Everything is gone.
        assert!(truncated_after_seq(2, 5, None, 9, 8));
        assert!(!truncated_after_seq(2, 5, None, 9, 9));
        // Nothing was ever removed yet the next offset is missing (stored before stores
        // kept sequence numbers): nothing the reader could have missed by sequence number.
        assert!(!truncated_after_seq(0, 5, Some(3), 0, 0));
    }

    #[test]
    fn session_expiry() {
        assert!(!session_expired(None, u64::MAX));
        assert!(!session_expired(Some(10), 10));
        assert!(session_expired(Some(10), 11));
        assert!(!session_expired(Some(10), 0));
    }

    #[test]
    fn limits() {
        assert_eq!(last_n_after(10, 3), 7);
        assert_eq!(last_n_after(10, 30), 0);
        assert_eq!(last_n_after(10, usize::MAX), 0);
        assert_eq!(age_cutoff_ms(10_000, Duration::from_secs(3)), 7_000);
        assert_eq!(age_cutoff_ms(1_000, Duration::from_secs(3)), 0);
        assert_eq!(age_cutoff_ms(1_000, Duration::MAX), 0);
        assert_eq!(count_keep_from(10, 3), 8);
        assert_eq!(count_keep_from(10, 0), 11);
        assert_eq!(count_keep_from(2, 3), 1);
    }
}

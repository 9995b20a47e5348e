//! The read and retention rules every store follows, in one place so the implementations
//! cannot drift apart (the conformance suite checks the outcome; these are the definitions).
//!
//! * A stream keeps a gapless run of its latest messages: offsets `first ..= last`, or none.
//!   Retention only ever removes from the old end, so "what is kept" is one number per stream.
//! * A page read after offset `after` is `truncated` when it is not a gapless continuation of
//!   what the reader has: the message right after `after` is gone, or the reader claims an
//!   offset the stream never reached (its history is not this stream's history).
//! * [`Store::read_last`](crate::Store::read_last)`(n)` is a read after `last - n`.
//! * A message is too old when it is more than `max_age` older than `now`; age retention
//!   removes the oldest messages while they are too old, and stops at the first one that is
//!   not (so a clock that stepped back never punches a hole in the middle of a stream).

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

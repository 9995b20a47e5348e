//! The tallies connection tasks write and the coordinator reads: counters and latency
//! histograms.
//!
//! Thousands of tasks on several worker threads update these once per message, so both
//! are sharded by connection index: a counter is a row of cache-line-sized atomics (no
//! false sharing between threads), a histogram is a few mutex-guarded hdrhistograms (a
//! lock is uncontended unless two threads hit the same shard at once, and merging costs
//! nothing until the end). Counters only grow; the coordinator takes [`Counts`]
//! snapshots and subtracts, so the measured window needs no reset.

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Shards per counter: enough that a few worker threads rarely share one.
const COUNTER_SHARDS: usize = 16;

/// Shards per histogram; each is ~140 KiB at our bounds.
const HISTOGRAM_SHARDS: usize = 8;

/// Longest latency a histogram tracks, in µs (60 s); longer samples count as 60 s.
pub(crate) const MAX_LATENCY_US: u64 = 60_000_000;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicU64);

/// A monotonic count, sharded by connection index.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    slots: [Slot; COUNTER_SHARDS],
}

impl Counter {
    /// Adds `n` on behalf of connection `shard`.
    pub(crate) fn add(&self, shard: usize, n: u64) {
        self.slots[shard % COUNTER_SHARDS]
            .0
            .fetch_add(n, Ordering::Relaxed);
    }

    /// The total so far.
    pub(crate) fn get(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// Latency samples in µs, 3 significant figures, up to [`MAX_LATENCY_US`].
#[derive(Debug)]
pub(crate) struct Latency {
    shards: Box<[Mutex<Histogram<u64>>]>,
}

impl Latency {
    /// Empty.
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..HISTOGRAM_SHARDS).map(|_| Mutex::new(empty())).collect(),
        }
    }

    /// Records `us` on behalf of connection `shard`.
    pub(crate) fn record(&self, shard: usize, us: u64) {
        self.shards[shard % HISTOGRAM_SHARDS]
            .lock()
            .saturating_record(us.max(1));
    }

    /// All shards merged.
    pub(crate) fn merged(&self) -> Histogram<u64> {
        let mut all = empty();
        for shard in self.shards.iter() {
            // Same bounds everywhere: adding cannot fail.
            let _ = all.add(&*shard.lock());
        }
        all
    }
}

fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Everything the tasks tally.
#[derive(Debug)]
pub(crate) struct Stats {
    /// Messages published.
    pub(crate) published: Counter,
    /// Messages received by a receiver (each recipient counts once).
    pub(crate) deliveries: Counter,
    /// Echo round trips completed.
    pub(crate) round_trips: Counter,
    /// Publishes the server acknowledged.
    pub(crate) acks: Counter,
    /// Publishes the server refused.
    pub(crate) ack_errors: Counter,
    /// Connections set up.
    pub(crate) connected: Counter,
    /// Connections that failed to set up.
    pub(crate) failed: Counter,
    /// Connections that ended before the bench ended them.
    pub(crate) disconnected: Counter,
    /// Delivery (or round-trip) latency, recorded only while measuring.
    pub(crate) latency: Latency,
    /// Publish-to-acknowledgement latency, recorded only while measuring.
    pub(crate) ack_latency: Latency,
    /// Time to connect and join, for every connection.
    pub(crate) setup_latency: Latency,
}

/// The counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) published: u64,
    pub(crate) deliveries: u64,
    pub(crate) round_trips: u64,
    pub(crate) acks: u64,
    pub(crate) ack_errors: u64,
    pub(crate) connected: u64,
    pub(crate) failed: u64,
    pub(crate) disconnected: u64,
}

impl Stats {
    /// All zero.
    pub(crate) fn new() -> Self {
        Self {
            published: Counter::default(),
            deliveries: Counter::default(),
            round_trips: Counter::default(),
            acks: Counter::default(),
            ack_errors: Counter::default(),
            connected: Counter::default(),
            failed: Counter::default(),
            disconnected: Counter::default(),
            latency: Latency::new(),
            ack_latency: Latency::new(),
            setup_latency: Latency::new(),
        }
    }

    /// A snapshot of the counters.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            published: self.published.get(),
            deliveries: self.deliveries.get(),
            round_trips: self.round_trips.get(),
            acks: self.acks.get(),
            ack_errors: self.ack_errors.get(),
            connected: self.connected.get(),
            failed: self.failed.get(),
            disconnected: self.disconnected.get(),
        }
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;

    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            published: self.published - earlier.published,
            deliveries: self.deliveries - earlier.deliveries,
            round_trips: self.round_trips - earlier.round_trips,
            acks: self.acks - earlier.acks,
            ack_errors: self.ack_errors - earlier.ack_errors,
            connected: self.connected - earlier.connected,
            failed: self.failed - earlier.failed,
            disconnected: self.disconnected - earlier.disconnected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_their_shards() {
        let c = Counter::default();
        for shard in 0..100 {
            c.add(shard, 2);
        }
        assert_eq!(c.get(), 200);
    }

    #[test]
    fn histograms_merge_and_saturate() {
        let l = Latency::new();
        for shard in 0..10 {
            l.record(shard, 100);
        }
        l.record(3, u64::MAX);
        let h = l.merged();
        assert_eq!(h.len(), 11);
        assert_eq!(h.value_at_quantile(0.5), 100);
        assert!(h.max() >= MAX_LATENCY_US * 999 / 1000);
    }

    #[test]
    fn counts_subtract() {
        let later = Counts {
            deliveries: 10,
            published: 3,
            ..Counts::default()
        };
        let earlier = Counts {
            deliveries: 4,
            published: 1,
            ..Counts::default()
        };
        let d = later - earlier;
        assert_eq!((d.deliveries, d.published), (6, 2));
    }
}

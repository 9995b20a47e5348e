//! Delivery accounting for one receiving connection.
//!
//! Each receiver owns its [`SeqTracker`] (no sharing on the hot path) and publishes only
//! how far it has got into a shared [`Progress`] slot. Two readers use that slot: the
//! coordinator, to know when every receiver has drained, and a max-rate publisher, whose
//! window is governed by a couple of watched receivers (see [`crate::inflight`]); a
//! watched receiver also wakes its publisher when it advances.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock;
use crate::loss::SeqTracker;
use crate::payload;
use crate::run::Run;

/// A receiver that left: no longer waited for, never holds a publisher back.
pub(crate) const DEPARTED: u64 = u64::MAX;

/// How far each receiver has got: one past the highest seq it received, or
/// [`DEPARTED`].
#[derive(Debug)]
pub(crate) struct Progress {
    slots: Box<[AtomicU64]>,
}

impl Progress {
    /// `n` receivers, none started.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            slots: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Receiver `slot`'s progress.
    pub(crate) fn get(&self, slot: usize) -> u64 {
        self.slots[slot].load(Ordering::Acquire)
    }

    fn set(&self, slot: usize, next: u64) {
        self.slots[slot].store(next, Ordering::Release);
    }
}

/// What a receiver hands back at the end.
#[derive(Debug, Clone)]
pub(crate) struct ReceiverReport {
    /// Its progress slot.
    pub(crate) slot: usize,
    /// Its sequence state, to settle loss against the publisher's total.
    pub(crate) tracker: SeqTracker,
    /// Deliveries whose body did not carry a stamp.
    pub(crate) malformed: u64,
}

/// The receiving side of one connection.
#[derive(Debug)]
pub(crate) struct Receiver {
    /// Connection index, for shard selection.
    index: usize,
    slot: usize,
    progress: Arc<Progress>,
    /// Set for a watched receiver: its publisher waits on it.
    wake: Option<Arc<Notify>>,
    tracker: SeqTracker,
    malformed: u64,
}

impl Receiver {
    /// Receiver `slot` of `progress`, on connection `index`; `wake` if a publisher
    /// watches it.
    pub(crate) fn new(
        index: usize,
        slot: usize,
        progress: Arc<Progress>,
        wake: Option<Arc<Notify>>,
    ) -> Self {
        Self {
            index,
            slot,
            progress,
            wake,
            tracker: SeqTracker::default(),
            malformed: 0,
        }
    }

    /// Accounts one delivered body.
    pub(crate) fn deliver(&mut self, run: &Run, body: &[u8]) {
        let now = clock::now_ns();
        run.stats.deliveries.add(self.index, 1);
        let Some(stamp) = payload::parse(body) else {
            self.malformed += 1;
            return;
        };
        if run.stage.measuring() {
            run.stats
                .latency
                .record(self.index, payload::latency_us(stamp.sent_ns, now));
        }
        self.tracker.observe(stamp.seq);
        self.progress.set(self.slot, self.tracker.next());
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
    }

    /// Marks this receiver gone (its connection ended): nobody waits for it any more.
    pub(crate) fn depart(&self) {
        self.progress.set(self.slot, DEPARTED);
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
    }

    /// The figures for the report.
    pub(crate) fn report(self) -> ReceiverReport {
        ReceiverReport {
            slot: self.slot,
            tracker: self.tracker,
            malformed: self.malformed,
        }
    }
}

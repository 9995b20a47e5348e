//! One clock for the heartbeat of every WebSocket connection of a server.
//!
//! A connection pings its client once per `ping_interval` and drops one that went silent.
//! A timer per connection did that for ~120 bytes each (tokio's timer entry, boxed so it
//! could be re-armed in place), which was a tenth of what an idle connection cost. Here a
//! connection is enrolled by its mailbox in one of [`SLOTS`] sets; one task per server
//! visits a set every `ping_interval / SLOTS`, so each connection is ticked once per
//! interval, and connections that opened at different times are pinged at different times
//! rather than all at once. The tick reaches the connection through its mailbox
//! ([`Mailbox::tick`]), whose waker the transport keeps current anyway: enrolment costs one
//! pointer in a set and the set's number (a byte) in the connection.
//!
//! A connection joins the set visited last, so its first tick comes one interval after it
//! opened (less at most one step), as a timer of its own would: a client is not pinged
//! while it is still settling in, and a short-lived connection never is.
//!
//! [`Heard`] is the other half of a heartbeat: when a connection last heard from its
//! client, in 4 bytes.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU8;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use chorus_core::Mailbox;
use parking_lot::Mutex;

/// How many sets the connections are spread over: a tick every `ping_interval / SLOTS`.
const SLOTS: usize = 16;

/// The heartbeat clock of one server's WebSocket connections.
#[derive(Debug)]
pub(crate) struct Pulse {
    slots: [Mutex<HashSet<Enrolled>>; SLOTS],
    /// The set visited last: where a new connection goes.
    last: AtomicUsize,
    /// Time between two visits (of two different sets).
    step: Duration,
    /// The task that ticks, started with the first enrolment (on its runtime).
    started: OnceLock<()>,
}

/// Which set a connection is in: its number plus one, so that `Option<Beat>` is one byte.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Beat(NonZeroU8);

impl Beat {
    fn new(slot: usize) -> Self {
        Self(NonZeroU8::MIN.saturating_add(slot as u8))
    }

    fn slot(self) -> usize {
        usize::from(self.0.get() - 1)
    }
}

/// A mailbox in a set, compared by address.
#[derive(Debug)]
struct Enrolled(Arc<Mailbox>);

impl PartialEq for Enrolled {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Enrolled {}

impl Hash for Enrolled {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

impl Pulse {
    /// A clock that ticks each enrolled connection once per `interval`.
    pub(crate) fn new(interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            slots: std::array::from_fn(|_| Mutex::new(HashSet::new())),
            // As if the last set had just been visited: the first visit is of set 0.
            last: AtomicUsize::new(SLOTS - 1),
            step: (interval / SLOTS as u32).max(Duration::from_millis(1)),
            started: OnceLock::new(),
        })
    }

    /// Ticks `mailbox` once per interval, the first time one interval from now, until
    /// [`Pulse::leave`] or until its reading side is gone. Returns the set it joined, for
    /// `leave`. Must be called on a tokio runtime.
    pub(crate) fn enroll(self: &Arc<Self>, mailbox: &Arc<Mailbox>) -> Beat {
        self.started.get_or_init(|| {
            let start = tokio::time::Instant::now();
            tokio::spawn(run(Arc::downgrade(self), self.step, start));
        });
        let slot = self.last.load(Ordering::Acquire);
        self.slots[slot].lock().insert(Enrolled(mailbox.clone()));
        Beat::new(slot)
    }

    /// Stops ticking `mailbox`, enrolled as `beat`.
    pub(crate) fn leave(&self, mailbox: &Arc<Mailbox>, beat: Beat) {
        self.slots[beat.slot()]
            .lock()
            .remove(&Enrolled(mailbox.clone()));
    }

    /// Connections enrolled (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().map(|slot| slot.lock().len()).sum()
    }

    /// Ticks every connection of one set, dropping those whose reading side is gone, then
    /// makes it the set new connections join. A set that emptied after a crowd left gives
    /// most of its table back.
    fn visit(&self, slot: usize) {
        let mut set = self.slots[slot].lock();
        set.retain(|enrolled| enrolled.0.tick());
        if set.capacity() > 64 && set.len() < set.capacity() / 4 {
            let keep = set.len() * 2;
            set.shrink_to(keep);
        }
        // Under the set's lock: a connection enrolled from now on is next ticked a whole
        // round later.
        self.last.store(slot, Ordering::Release);
    }

    /// Room in all the sets (for tests).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.iter().map(|slot| slot.lock().capacity()).sum()
    }
}

/// Visits the sets in turn, one per step, until the clock is dropped with its server.
async fn run(pulse: Weak<Pulse>, step: Duration, start: tokio::time::Instant) {
    let mut next = start;
    let mut slot = 0;
    loop {
        next += step;
        tokio::time::sleep_until(next).await;
        let Some(pulse) = pulse.upgrade() else {
            return;
        };
        pulse.visit(slot);
        slot = (slot + 1) % SLOTS;
        // A clock that fell behind (a stalled runtime) does not catch up in a burst.
        next = next.max(tokio::time::Instant::now() - step);
    }
}

/// When a client was last heard from, in 4 bytes rather than an `Instant`'s 16: the
/// milliseconds since a process-wide epoch, wrapping every ~49 days. Differences are taken
/// wrapping, which is right for any silence shorter than that — and the heartbeat drops a
/// client long before it has been silent that long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heard(u32);

impl Heard {
    pub(crate) fn at(now: Instant) -> Self {
        Self(millis(now))
    }

    /// How long before `now` it was.
    pub(crate) fn until(self, now: Instant) -> Duration {
        Duration::from_millis(u64::from(millis(now).wrapping_sub(self.0)))
    }
}

/// `at` on the clock of [`Heard`] (truncated to 32 bits: wrapping).
fn millis(at: Instant) -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    at.saturating_duration_since(epoch).as_millis() as u32
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::Poll;

    use chorus_core::{PeerQueue, QueueLimits};

    use super::*;

    /// Moves the paused clock one visit on, and lets the clock's task and any reader run.
    async fn step(interval: Duration) {
        tokio::time::advance(interval / SLOTS as u32).await;
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn a_set_number_fits_a_beat() {
        assert!(SLOTS < usize::from(u8::MAX));
        assert!((0..SLOTS).all(|slot| Beat::new(slot).slot() == slot));
        assert_eq!(std::mem::size_of::<Option<Beat>>(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn each_connection_is_ticked_once_per_interval_from_one_interval_after_it_opened() {
        let interval = Duration::from_secs(16);
        let pulse = Pulse::new(interval);
        let open = |n: usize| -> Vec<PeerQueue> {
            (0..n)
                .map(|_| {
                    let (mailbox, queue) =
                        Mailbox::new(crate::session::raw::format::raw(), QueueLimits::default());
                    pulse.enroll(&mailbox);
                    queue
                })
                .collect()
        };
        // Two groups, opened five steps apart; the steps at which each is ticked.
        let mut first = open(32);
        let mut ticks: Vec<Vec<usize>> = vec![Vec::new(); 64];
        let mut second = Vec::new();
        for at in 1..=3 * SLOTS {
            step(interval).await;
            if at == 5 {
                second = open(32);
            }
            for (queue, seen) in first.iter().chain(&second).zip(&mut ticks) {
                if queue.ticked() {
                    seen.push(at);
                }
            }
        }
        let expected = |opened: usize| -> Vec<usize> {
            (1..)
                .map(|round| opened + round * SLOTS)
                .take_while(|&at| at <= 3 * SLOTS)
                .collect()
        };
        assert!(
            ticks[..32].iter().all(|seen| *seen == expected(0)),
            "{ticks:?}"
        );
        assert!(
            ticks[32..].iter().all(|seen| *seen == expected(5)),
            "{ticks:?}"
        );

        // A tick wakes a reader that is waiting on its queue.
        let mut queue = first.pop().expect("32 queues");
        let waited = tokio::spawn(async move {
            poll_fn(|cx| match queue.poll_next(cx) {
                Poll::Pending if queue.ticked() => Poll::Ready(()),
                Poll::Pending => Poll::Pending,
                Poll::Ready(_) => panic!("nothing was queued"),
            })
            .await;
        });
        for _ in 0..SLOTS {
            step(interval).await;
        }
        assert!(waited.is_finished(), "woken by its tick");

        // One that left, and those whose queue is gone, are not ticked nor kept.
        let (left, left_queue) =
            Mailbox::new(crate::session::raw::format::raw(), QueueLimits::default());
        let beat = pulse.enroll(&left);
        pulse.leave(&left, beat);
        first.truncate(10);
        second.clear();
        for _ in 0..SLOTS {
            step(interval).await;
        }
        assert!(!left_queue.ticked());
        assert_eq!(pulse.len(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn the_sets_give_memory_back_after_a_crowd_leaves() {
        let interval = Duration::from_secs(16);
        let pulse = Pulse::new(interval);
        let crowd: Vec<_> = (0..4096)
            .map(|_| {
                let (mailbox, queue) =
                    Mailbox::new(crate::session::raw::format::raw(), QueueLimits::default());
                let beat = pulse.enroll(&mailbox);
                (mailbox, queue, beat)
            })
            .collect();
        let full = pulse.capacity();
        assert!(full >= 4096);
        let mut stayed = Vec::new();
        for (i, (mailbox, queue, beat)) in crowd.into_iter().enumerate() {
            if i % 64 == 0 {
                stayed.push(queue);
            } else {
                pulse.leave(&mailbox, beat);
            }
        }
        for _ in 0..SLOTS {
            step(interval).await;
        }
        assert_eq!(pulse.len(), stayed.len());
        assert!(
            pulse.capacity() * 4 < full,
            "{} of {full}",
            pulse.capacity()
        );
    }
}

//! One clock for the heartbeat of every WebSocket connection of a server.
//!
//! A connection pings its client once per `ping_interval` and drops one that went silent.
//! A timer per connection did that for ~120 bytes each (tokio's timer entry, boxed so it
//! could be re-armed in place), which was a tenth of what an idle connection cost. Here a
//! connection is enrolled by its mailbox in one of [`SLOTS`] sets, picked from the
//! mailbox's address; one task per server visits a set every `ping_interval / SLOTS`, so
//! each connection is ticked once per interval and a large server's pings are spread over
//! the interval instead of all leaving at once. The tick reaches the connection through its
//! mailbox ([`Mailbox::tick`]), whose waker the transport keeps current anyway: enrolment
//! costs one pointer in a set and nothing in the connection's own task.
//!
//! A connection's first tick comes anywhere within its first interval. That only moves its
//! first ping earlier; its silence is still measured from when it was last heard.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use chorus_core::Mailbox;
use parking_lot::Mutex;

/// How many sets the connections are spread over: a tick every `ping_interval / SLOTS`.
const SLOTS: usize = 16;

/// The heartbeat clock of one server's WebSocket connections.
#[derive(Debug)]
pub(crate) struct Pulse {
    slots: [Mutex<HashSet<Enrolled>>; SLOTS],
    /// Time between two visits (of two different sets).
    step: Duration,
    /// The task that ticks, started with the first enrolment (on its runtime).
    started: OnceLock<()>,
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
            step: (interval / SLOTS as u32).max(Duration::from_millis(1)),
            started: OnceLock::new(),
        })
    }

    /// Ticks `mailbox` once per interval from now on, until [`Pulse::leave`] or until
    /// its reading side is gone. Must be called on a tokio runtime.
    pub(crate) fn enroll(self: &Arc<Self>, mailbox: &Arc<Mailbox>) {
        self.started.get_or_init(|| {
            let start = tokio::time::Instant::now();
            tokio::spawn(run(Arc::downgrade(self), self.step, start));
        });
        self.slot(mailbox).lock().insert(Enrolled(mailbox.clone()));
    }

    /// Stops ticking `mailbox`.
    pub(crate) fn leave(&self, mailbox: &Arc<Mailbox>) {
        self.slot(mailbox).lock().remove(&Enrolled(mailbox.clone()));
    }

    /// Connections enrolled (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().map(|slot| slot.lock().len()).sum()
    }

    fn slot(&self, mailbox: &Arc<Mailbox>) -> &Mutex<HashSet<Enrolled>> {
        // Fibonacci hashing of the address: allocations of one size class sit a fixed
        // stride apart, which the top bits of the product spread evenly.
        let addr = Arc::as_ptr(mailbox) as usize as u64;
        let index = addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros());
        &self.slots[index as usize]
    }

    /// Ticks every connection of one set, dropping those whose reading side is gone. A set
    /// that emptied after a crowd left gives most of its table back.
    fn visit(&self, slot: usize) {
        let mut set = self.slots[slot].lock();
        set.retain(|enrolled| enrolled.0.tick());
        if set.capacity() > 64 && set.len() < set.capacity() / 4 {
            let keep = set.len() * 2;
            set.shrink_to(keep);
        }
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

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::Poll;

    use chorus_core::{QueueLimits, WireFormat};

    use super::*;

    /// Moves the paused clock one visit on, and lets the clock's task and any reader run.
    async fn step(interval: Duration) {
        tokio::time::advance(interval / SLOTS as u32).await;
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn slots_are_a_power_of_two() {
        assert!(SLOTS.is_power_of_two());
    }

    #[tokio::test(start_paused = true)]
    async fn each_connection_is_ticked_once_per_interval_until_it_leaves_or_is_gone() {
        let interval = Duration::from_secs(16);
        let pulse = Pulse::new(interval);
        let mut queues = Vec::new();
        for _ in 0..64 {
            let (mailbox, queue) = Mailbox::new(WireFormat::Raw, QueueLimits::default());
            pulse.enroll(&mailbox);
            queues.push(queue);
        }
        assert_eq!(pulse.len(), 64);

        // Every connection is ticked within one interval, and only once.
        let mut ticks = vec![0; queues.len()];
        for _ in 0..SLOTS {
            step(interval).await;
            for (queue, count) in queues.iter().zip(&mut ticks) {
                *count += usize::from(queue.ticked());
            }
        }
        assert!(ticks.iter().all(|&n| n == 1), "{ticks:?}");

        // A tick wakes a reader that is waiting on its queue.
        let mut queue = queues.pop().expect("64 queues");
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
        let (left, left_queue) = Mailbox::new(WireFormat::Raw, QueueLimits::default());
        pulse.enroll(&left);
        pulse.leave(&left);
        queues.truncate(10);
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
                let (mailbox, queue) = Mailbox::new(WireFormat::Raw, QueueLimits::default());
                pulse.enroll(&mailbox);
                (mailbox, queue)
            })
            .collect();
        let full = pulse.capacity();
        assert!(full >= 4096);
        let mut stayed = Vec::new();
        for (i, (mailbox, queue)) in crowd.into_iter().enumerate() {
            if i % 64 == 0 {
                stayed.push(queue);
            } else {
                pulse.leave(&mailbox);
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

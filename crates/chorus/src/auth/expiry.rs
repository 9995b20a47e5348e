//! The expiry clock: one timer for the whole server that ends connections whose token has
//! expired.
//!
//! A connection with an `exp` needs to be closed at that moment, and refreshed tokens move
//! the moment. A timer task per connection would cost a task and a timer entry for each of
//! them; instead every deadline sits in one ordered map, and one task sleeps until the
//! earliest, fires what is due and sleeps again. A connection costs an entry in the map
//! (a key and a weak pointer) while it has a deadline, and nothing at all without one.
//! Entries leave the map when they fire, when a refresh moves them, and when what they
//! expire (a connection's `Grant`) is dropped with its connection.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Something with a deadline in the clock: a connection's grant.
pub(crate) trait Expiring: Send + Sync {
    /// Its deadline at `slot` has come.
    fn expire(&self, slot: Slot);
}

/// A place in the clock: the deadline, and a sequence number that keeps equal deadlines
/// apart.
pub(crate) type Slot = (Instant, u64);

/// The server's expiry clock. Cheap to clone; clones share the clock.
#[derive(Clone, Default)]
pub(crate) struct Expiries {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Expiries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expiries")
            .field("pending", &self.shared.deadlines.lock().len())
            .finish()
    }
}

#[derive(Default)]
struct Shared {
    deadlines: Mutex<BTreeMap<Slot, Weak<dyn Expiring>>>,
    seq: AtomicU64,
    /// Wakes the task when an earlier deadline arrives, or when the clock is dropped.
    wake: Arc<Notify>,
    started: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The task holds only a weak pointer: woken, it finds the clock gone and ends.
        self.wake.notify_one();
    }
}

impl Expiries {
    /// Schedules `grant` to expire at `at`; returns its slot, to remove it by.
    ///
    /// Must be called inside a Tokio runtime (the clock's task starts on first use).
    pub(crate) fn insert(&self, at: Instant, grant: Weak<dyn Expiring>) -> Slot {
        let slot = (at, self.shared.seq.fetch_add(1, Ordering::Relaxed));
        let earliest = {
            let mut deadlines = self.shared.deadlines.lock();
            deadlines.insert(slot, grant);
            deadlines.keys().next() == Some(&slot)
        };
        if !self.shared.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(run(Arc::downgrade(&self.shared), self.shared.wake.clone()));
        } else if earliest {
            self.shared.wake.notify_one();
        }
        slot
    }

    /// Takes a slot out of the clock (a refresh moved it, or its connection is gone).
    pub(crate) fn remove(&self, slot: Slot) {
        self.shared.deadlines.lock().remove(&slot);
    }

    /// Deadlines waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shared.deadlines.lock().len()
    }
}

impl Shared {
    /// Expires every grant that is due; returns the next deadline.
    fn fire_due(&self) -> Option<Instant> {
        let now = Instant::now();
        let due = {
            let mut deadlines = self.deadlines.lock();
            let later = deadlines.split_off(&(now, u64::MAX));
            std::mem::replace(&mut *deadlines, later)
        };
        // Outside the lock: expiring runs connection code, and a grant dropped here takes
        // its (already removed) slot out again.
        for (slot, grant) in due {
            if let Some(grant) = grant.upgrade() {
                grant.expire(slot);
            }
        }
        self.deadlines.lock().keys().next().map(|(at, _)| *at)
    }
}

/// The clock's task: sleeps until the earliest deadline, or until told of an earlier one.
async fn run(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = match shared.upgrade() {
            Some(shared) => shared.fire_due(),
            None => return,
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = &mut notified => {}
                }
            }
            None => notified.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::grant::Grant;
    use crate::auth::{Auth, Identity, Verifier};
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, SystemTime};

    fn auth() -> Arc<Auth> {
        let config = crate::Config {
            jwt_secret: Some("s".into()),
            jwt_leeway_secs: 0,
            ..crate::Config::default()
        };
        Arc::new(Auth::new(
            Verifier::from_config(&config).unwrap().unwrap(),
            true,
            Arc::default(),
        ))
    }

    fn expiring_in(ms: u64) -> Arc<Identity> {
        let mut identity = Identity::new("u");
        identity.expires_at = Some(SystemTime::now() + Duration::from_millis(ms));
        Arc::new(identity)
    }

    #[tokio::test]
    async fn fires_once_in_deadline_order_and_forgets_dropped_grants() {
        let auth = auth();
        let fired = Arc::new(Mutex::new(Vec::new()));
        let arm = |name: &'static str, ms: u64| {
            let grant = Grant::new(auth.clone(), expiring_in(ms));
            let fired = fired.clone();
            grant.arm(move |_| fired.lock().push(name));
            grant
        };
        let _late = arm("late", 150);
        let _early = arm("early", 50);
        let dropped = arm("dropped", 60);
        let never = Grant::new(auth.clone(), Arc::new(Identity::new("forever")));
        never.arm(|_| panic!("a token without exp never expires"));
        drop(dropped);
        assert_eq!(auth.expiries.len(), 2, "a dropped grant leaves the clock");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(*fired.lock(), ["early", "late"]);
        assert_eq!(auth.expiries.len(), 0);
    }

    #[tokio::test]
    async fn a_new_earlier_deadline_wakes_the_clock() {
        let auth = auth();
        let count = Arc::new(AtomicUsize::new(0));
        let _far = Grant::new(auth.clone(), expiring_in(60_000));
        _far.arm(|_| {});
        let soon = Grant::new(auth.clone(), expiring_in(50));
        let c = count.clone();
        soon.arm(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}

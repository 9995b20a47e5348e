//! The memory store's session records: a map from id to record, bounded in records, with
//! the order in which they are evicted when it is full.
//!
//! Eviction order (the first goes first), when a record with a new id does not fit:
//!
//! 1. records that have expired (as of the store's clock) are dropped — all of them, which
//!    makes room for many puts at once; these are not evictions, nobody can read them;
//! 2. then records with an expiry, soonest expiry first: their client is gone, and the one
//!    expiring soonest is the one least likely to be asked for;
//! 3. then open records (no expiry: their client is connected), oldest put first. Losing
//!    one costs a connected client a recovery after its next disconnect, so open records go
//!    last, and the oldest is the one whose room list is most likely out of date anyway.
//!
//! Every record is in `order` under a key that encodes exactly that, so each step is a
//! look at the first key of a B-tree rather than a scan.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use crate::rules;

/// Session records, at most `max` of them; see the [module docs](self).
pub(super) struct Sessions {
    max: usize,
    records: HashMap<Arc<str>, Record>,
    /// Every record's eviction key, with its id: the first is evicted next.
    order: BTreeSet<(Order, Arc<str>)>,
    /// Counts puts, to order open records by age.
    tick: u64,
    /// Records evicted because of `max` before they expired.
    evicted: u64,
}

struct Record {
    record: Bytes,
    order: Order,
}

/// Where a record stands in the eviction order. The variant order is the policy: every
/// record with an expiry sorts before every open one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Order {
    /// Expires at this time (ms since the Unix epoch): the soonest goes first.
    Expires(u64),
    /// No expiry; put at this tick: the oldest goes first.
    Open(u64),
}

impl Order {
    fn expires_ms(self) -> Option<u64> {
        match self {
            Self::Expires(at) => Some(at),
            Self::Open(_) => None,
        }
    }
}

impl Sessions {
    /// An empty table holding at most `max` records (at least 1).
    pub(super) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            records: HashMap::new(),
            order: BTreeSet::new(),
            tick: 0,
            evicted: 0,
        }
    }

    /// Records held now.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Records evicted before they expired, since construction.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Creates or replaces `id`. A new id in a full table makes room first, as of `now_ms`
    /// (see the [module docs](self)); replacing a record never evicts another.
    pub(super) fn put(
        &mut self,
        id: &Arc<str>,
        record: Bytes,
        expires_ms: Option<u64>,
        now_ms: u64,
    ) {
        self.tick += 1;
        let order = match expires_ms {
            Some(at) => Order::Expires(at),
            None => Order::Open(self.tick),
        };
        if let Some(old) = self.records.get_mut(id) {
            self.order.remove(&(old.order, id.clone()));
            *old = Record { record, order };
            self.order.insert((order, id.clone()));
            return;
        }
        if self.records.len() >= self.max {
            self.remove_expired(now_ms);
        }
        while self.records.len() >= self.max {
            let Some((_, victim)) = self.order.pop_first() else {
                break;
            };
            self.records.remove(&victim);
            self.evicted += 1;
        }
        self.records.insert(id.clone(), Record { record, order });
        self.order.insert((order, id.clone()));
    }

    /// Removes `id`, if there is such a record.
    pub(super) fn delete(&mut self, id: &str) {
        if let Some((id, old)) = self.records.remove_entry(id) {
            self.order.remove(&(old.order, id));
        }
    }

    /// Gives the record `id`, if there is one, the expiry `expires_ms`.
    pub(super) fn touch(&mut self, id: &str, expires_ms: u64) {
        let Some((id, record)) = self.records.get_key_value(id) else {
            return;
        };
        let id = id.clone();
        let order = Order::Expires(expires_ms);
        self.order.remove(&(record.order, id.clone()));
        self.order.insert((order, id.clone()));
        if let Some(record) = self.records.get_mut(&id) {
            record.order = order;
        }
    }

    /// The record `id`, unless it has expired as of `now_ms`.
    pub(super) fn get(&self, id: &str, now_ms: u64) -> Option<Bytes> {
        self.records
            .get(id)
            .filter(|r| !rules::session_expired(r.order.expires_ms(), now_ms))
            .map(|r| r.record.clone())
    }

    /// Gives every open record the expiry `expires_ms`; returns how many there were.
    pub(super) fn expire_open(&mut self, expires_ms: u64) -> u64 {
        // Open records sort after every record with an expiry: they are one tail of `order`.
        let open = self.order.split_off(&(Order::Open(0), Arc::from("")));
        let changed = open.len() as u64;
        let order = Order::Expires(expires_ms);
        for (_, id) in open {
            if let Some(r) = self.records.get_mut(&id) {
                r.order = order;
            }
            self.order.insert((order, id));
        }
        changed
    }

    /// Removes the records that have expired as of `now_ms`; returns how many.
    pub(super) fn remove_expired(&mut self, now_ms: u64) -> usize {
        let mut removed = 0;
        // Records with an expiry come first, soonest first: the expired ones are a prefix.
        while let Some((order, _)) = self.order.first() {
            if !rules::session_expired(order.expires_ms(), now_ms) {
                break;
            }
            if let Some((_, id)) = self.order.pop_first() {
                self.records.remove(&id);
                removed += 1;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(t: &mut Sessions, id: &str, expires_ms: Option<u64>, now_ms: u64) {
        t.put(
            &Arc::from(id),
            Bytes::from(id.to_owned()),
            expires_ms,
            now_ms,
        );
    }

    fn ids(t: &Sessions) -> Vec<&str> {
        t.order.iter().map(|(_, id)| &**id).collect()
    }

    #[test]
    fn eviction_drops_expired_then_soonest_expiry_then_oldest_open() {
        let mut t = Sessions::new(4);
        put(&mut t, "open-old", None, 0);
        put(&mut t, "late", Some(500), 0);
        put(&mut t, "soon", Some(200), 0);
        put(&mut t, "open-new", None, 0);
        assert_eq!(ids(&t), ["soon", "late", "open-old", "open-new"]);

        // Full: nothing expired as of 100, so the soonest expiry goes.
        put(&mut t, "a", None, 100);
        assert_eq!(ids(&t), ["late", "open-old", "open-new", "a"]);
        assert_eq!((t.len(), t.evicted()), (4, 1));

        // Full again: "late" expired as of 600, dropped without counting as an eviction.
        put(&mut t, "b", None, 600);
        assert_eq!(ids(&t), ["open-old", "open-new", "a", "b"]);
        assert_eq!((t.len(), t.evicted()), (4, 1));

        // Only open records left: the oldest put goes; a re-put makes a record young again.
        put(&mut t, "open-old", None, 600);
        put(&mut t, "c", Some(10_000), 600);
        assert_eq!(ids(&t), ["c", "a", "b", "open-old"]);
        assert_eq!(t.evicted(), 2);
        assert_eq!(t.get("open-new", 600), None);

        // Replacing a record when full evicts nothing.
        put(&mut t, "a", Some(700), 600);
        assert_eq!((t.len(), t.evicted()), (4, 2));
        assert_eq!(ids(&t), ["a", "c", "b", "open-old"]);
    }

    #[test]
    fn expire_open_and_remove_expired_keep_the_order_consistent() {
        let mut t = Sessions::new(10);
        put(&mut t, "x", Some(50), 0);
        put(&mut t, "o1", None, 0);
        put(&mut t, "o2", None, 0);
        assert_eq!(t.expire_open(100), 2);
        assert_eq!(t.expire_open(100), 0);
        assert_eq!(ids(&t), ["x", "o1", "o2"]);
        assert_eq!(t.get("o1", 100).as_deref(), Some(&b"o1"[..]));
        assert_eq!(t.get("o1", 101), None);
        assert_eq!(t.remove_expired(100), 1);
        assert_eq!(t.remove_expired(101), 2);
        assert_eq!((t.len(), ids(&t).len()), (0, 0));
        t.delete("absent");
        put(&mut t, "y", None, 0);
        t.delete("y");
        assert_eq!((t.len(), ids(&t).len()), (0, 0));
    }

    #[test]
    fn at_least_one_record() {
        let mut t = Sessions::new(0);
        put(&mut t, "a", None, 0);
        put(&mut t, "b", None, 0);
        assert_eq!(ids(&t), ["b"]);
        assert_eq!(t.evicted(), 1);
    }
}

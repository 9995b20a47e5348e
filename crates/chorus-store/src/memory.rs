//! [`MemoryStore`]: room streams in process memory, for tests, for deployments that need
//! recovery across short disconnects but not across restarts, and as the reference
//! implementation of the [`Store`] contract.
//!
//! Memory stays bounded without relying on `trim` being called: each stream keeps at most
//! [`MemoryLimits::max_messages`] messages (the oldest are dropped on append, which a reader
//! sees as a `truncated` page, exactly like retention), and the store keeps at most
//! [`MemoryLimits::max_streams`] streams. Creating one more evicts the stream *appended to
//! least recently* (reads do not count: they must not keep junk alive nor need a write
//! lock). An evicted stream's history is lost, so its next incarnation has a new epoch: the
//! store's epoch generation is bumped on every eviction (see [`crate::epoch`]), which also
//! changes the would-be epoch of every stream not yet created — a client that saw such an
//! empty stream before an eviction cannot recover it, the safe direction.
//!
//! So the store holds at most `max_streams × max_messages` messages, each as large as the
//! hub lets a message be.
//!
//! Reads never create state: the position of an unknown stream is computed, not stored.
//! One [`RwLock`] guards everything: appends and trims come from the hub's single publisher
//! thread and are short (no I/O), reads share the lock. A std-style blocking lock is right
//! here because no method is async and none holds the lock across anything slow.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::epoch::EpochSource;
use crate::rules;
use crate::{Append, Entry, Page, Retention, Store, StoreError, StoredEvent, StreamPos};

/// How much a [`MemoryStore`] may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Most messages kept per stream; older ones are dropped on append. Default 1,000.
    /// At least 1.
    pub max_messages: usize,
    /// Most streams kept; creating one more evicts the least recently appended stream.
    /// Default 10,000. At least 1.
    pub max_streams: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        Self {
            max_messages: 1_000,
            max_streams: 10_000,
        }
    }
}

/// What a [`MemoryStore`] holds and how often its limits were hit, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Streams held now.
    pub streams: usize,
    /// Messages held now, over all streams.
    pub messages: usize,
    /// Streams evicted because of [`MemoryLimits::max_streams`], since construction.
    pub evicted_streams: u64,
    /// Messages dropped because of [`MemoryLimits::max_messages`] or an eviction, since
    /// construction (not counting those `trim` removed).
    pub dropped_messages: u64,
}

/// Room streams in memory; see the [module docs](self).
pub struct MemoryStore {
    limits: MemoryLimits,
    epochs: EpochSource,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    streams: HashMap<Arc<str>, Stream>,
    /// Stream names by the tick of their last append: the first is evicted next.
    by_touch: BTreeMap<u64, Arc<str>>,
    tick: u64,
    /// Bumped on every eviction; part of every new stream's epoch.
    generation: u64,
    messages: usize,
    evicted_streams: u64,
    dropped_messages: u64,
}

struct Stream {
    epoch: Arc<str>,
    /// Offset of the last message appended (kept or not).
    last: u64,
    /// Tick of the last append (its key in `by_touch`).
    touched: u64,
    /// The kept messages, offsets `last - len + 1 ..= last`.
    messages: VecDeque<StoredEvent>,
}

impl Stream {
    fn pos(&self) -> StreamPos {
        StreamPos {
            epoch: self.epoch.clone(),
            offset: self.last,
        }
    }

    /// Offset of the oldest kept message.
    fn first(&self) -> u64 {
        self.last + 1 - self.messages.len() as u64
    }
}

impl MemoryStore {
    /// An empty store with a new random epoch secret.
    pub fn new(limits: MemoryLimits) -> Self {
        Self {
            limits: MemoryLimits {
                max_messages: limits.max_messages.max(1),
                max_streams: limits.max_streams.max(1),
            },
            epochs: EpochSource::random(),
            inner: RwLock::new(Inner::default()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> MemoryLimits {
        self.limits
    }

    /// What the store holds now and how often its limits were hit.
    pub fn stats(&self) -> MemoryStats {
        let inner = self.inner.read();
        MemoryStats {
            streams: inner.streams.len(),
            messages: inner.messages,
            evicted_streams: inner.evicted_streams,
            dropped_messages: inner.dropped_messages,
        }
    }

    fn unknown_pos(&self, inner: &Inner, stream: &str) -> StreamPos {
        StreamPos {
            epoch: self.epochs.epoch(inner.generation, stream),
            offset: 0,
        }
    }

    fn page(
        &self,
        inner: &Inner,
        stream: &str,
        epoch: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Page {
        let Some(s) = inner.streams.get(stream) else {
            let pos = self.unknown_pos(inner, stream);
            let mismatch = epoch.is_some_and(|e| e != &*pos.epoch);
            return Page {
                truncated: mismatch || rules::truncated(after, 0, None),
                pos,
                entries: Vec::new(),
            };
        };
        if epoch.is_some_and(|e| e != &*s.epoch) {
            return Page {
                pos: s.pos(),
                entries: Vec::new(),
                truncated: true,
            };
        }
        let start = after.saturating_add(1).max(s.first());
        let first_kept_after = (start <= s.last).then_some(start);
        let skip = usize::try_from(start - s.first()).unwrap_or(usize::MAX);
        let entries = s
            .messages
            .iter()
            .skip(skip)
            .take(limit)
            .zip(start..)
            .map(|(event, offset)| Entry {
                offset,
                event: event.clone(),
            })
            .collect();
        Page {
            pos: s.pos(),
            entries,
            truncated: rules::truncated(after, s.last, first_kept_after),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(MemoryLimits::default())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Inner {
    /// The stream to append to, created (and another evicted) if need be, marked as the
    /// most recently appended. A new stream takes the epoch its position reported just
    /// before: the generation is read before the eviction this creation may cause.
    fn stream_for_append(
        &mut self,
        name: &Arc<str>,
        limits: MemoryLimits,
        epochs: &EpochSource,
    ) -> &mut Stream {
        self.tick += 1;
        let tick = self.tick;
        let generation = self.generation;
        if self.streams.len() >= limits.max_streams && !self.streams.contains_key(name) {
            self.evict_oldest();
        }
        let s = self.streams.entry(name.clone()).or_insert_with(|| Stream {
            epoch: epochs.epoch(generation, name),
            last: 0,
            touched: 0,
            messages: VecDeque::new(),
        });
        self.by_touch.remove(&s.touched);
        self.by_touch.insert(tick, name.clone());
        s.touched = tick;
        s
    }

    fn evict_oldest(&mut self) {
        let Some((_, name)) = self.by_touch.pop_first() else {
            return;
        };
        if let Some(s) = self.streams.remove(&name) {
            self.messages -= s.messages.len();
            self.dropped_messages += s.messages.len() as u64;
        }
        self.evicted_streams += 1;
        self.generation += 1;
    }
}

impl Store for MemoryStore {
    fn append_batch(&self, batch: &[Append]) -> Result<Vec<u64>, StoreError> {
        let mut offsets = Vec::with_capacity(batch.len());
        let mut inner = self.inner.write();
        for append in batch {
            let s = inner.stream_for_append(&append.stream, self.limits, &self.epochs);
            s.last += 1;
            offsets.push(s.last);
            s.messages.push_back(append.event.clone());
            let dropped =
                s.messages.len() > self.limits.max_messages && s.messages.pop_front().is_some();
            if dropped {
                inner.dropped_messages += 1;
            } else {
                inner.messages += 1;
            }
        }
        Ok(offsets)
    }

    fn position(&self, stream: &str) -> Result<StreamPos, StoreError> {
        let inner = self.inner.read();
        Ok(match inner.streams.get(stream) {
            Some(s) => s.pos(),
            None => self.unknown_pos(&inner, stream),
        })
    }

    fn read_after(
        &self,
        stream: &str,
        epoch: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        Ok(self.page(&self.inner.read(), stream, epoch, after, limit))
    }

    fn read_last(&self, stream: &str, n: usize) -> Result<Page, StoreError> {
        let inner = self.inner.read();
        let last = inner.streams.get(stream).map_or(0, |s| s.last);
        Ok(self.page(&inner, stream, None, rules::last_n_after(last, n), n))
    }

    /// Walks every stream under the write lock, calling `retention` for each: keep the
    /// callback cheap.
    fn trim(&self, now_ms: u64, retention: &dyn Fn(&str) -> Retention) -> Result<u64, StoreError> {
        let mut inner = self.inner.write();
        let mut removed = 0u64;
        for (name, s) in &mut inner.streams {
            let Retention {
                max_messages,
                max_age,
            } = retention(name);
            let cutoff = rules::age_cutoff_ms(now_ms, max_age);
            while let Some(front) = s.messages.front() {
                if (s.messages.len() as u64) <= max_messages && front.time_ms >= cutoff {
                    break;
                }
                s.messages.pop_front();
                removed += 1;
            }
        }
        inner.messages -= usize::try_from(removed).unwrap_or(usize::MAX);
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{append_one, json_event};

    fn run(case: crate::conformance::Case) {
        case(&MemoryStore::default());
    }

    conformance_tests!(run);

    #[test]
    fn run_all_runs_the_suite() {
        crate::conformance::run_all(&|| Box::new(MemoryStore::default()));
    }

    fn small(max_messages: usize, max_streams: usize) -> MemoryStore {
        MemoryStore::new(MemoryLimits {
            max_messages,
            max_streams,
        })
    }

    #[test]
    fn reads_do_not_create_streams() {
        let store = MemoryStore::default();
        let first = store.position("nobody/appended").unwrap();
        for i in 0..1000 {
            store.position(&format!("room{i}")).unwrap();
            store.read_after(&format!("r{i}"), None, 3, 10).unwrap();
            store.read_last(&format!("s{i}"), 10).unwrap();
        }
        assert_eq!(store.stats(), MemoryStats::default());
        assert_eq!(store.position("nobody/appended").unwrap(), first);
    }

    #[test]
    fn max_messages_bounds_a_stream_without_trim() {
        let store = small(3, 10);
        for i in 1..=5 {
            assert_eq!(append_one(&store, "a", json_event("m", i)), i);
        }
        let page = store.read_after("a", None, 0, 100).unwrap();
        let offsets: Vec<u64> = page.entries.iter().map(|e| e.offset).collect();
        assert_eq!(offsets, [3, 4, 5]);
        assert!(page.truncated);
        assert!(!store.read_after("a", None, 2, 100).unwrap().truncated);
        assert_eq!(store.position("a").unwrap().offset, 5);
        let stats = store.stats();
        assert_eq!((stats.messages, stats.dropped_messages), (3, 2));
    }

    #[test]
    fn the_least_recently_appended_stream_is_evicted_and_comes_back_with_a_new_epoch() {
        let store = small(10, 2);
        append_one(&store, "a", json_event("m", 1));
        append_one(&store, "b", json_event("m", 1));
        // Reading "a" does not protect it; appending to it does.
        store.read_last("b", 1).unwrap();
        append_one(&store, "a", json_event("m", 2));
        let a = store.position("a").unwrap();
        let b = store.position("b").unwrap();
        let c_before = store.position("c").unwrap();

        // Creating "c" evicts "b"; "c" keeps the epoch it was reported with.
        append_one(&store, "c", json_event("m", 1));
        let stats = store.stats();
        assert_eq!((stats.streams, stats.evicted_streams), (2, 1));
        assert_eq!(store.position("a").unwrap(), a);
        assert_eq!(store.position("c").unwrap().epoch, c_before.epoch);
        let b_after = store.position("b").unwrap();
        assert_eq!(b_after.offset, 0);
        assert_ne!(b_after.epoch, b.epoch);
        let page = store.read_after("b", Some(&b.epoch), 1, 10).unwrap();
        assert!(page.truncated && page.entries.is_empty());

        // Recreated (evicting "a", 2 messages): offsets start over, under the epoch it was
        // last reported with.
        assert_eq!(append_one(&store, "b", json_event("m", 9)), 1);
        assert_eq!(store.position("b").unwrap().epoch, b_after.epoch);
        assert_eq!(store.stats().dropped_messages, 1 + 2);
        assert_ne!(store.position("a").unwrap().epoch, a.epoch);
    }

    #[test]
    fn a_new_store_is_a_new_epoch() {
        let one = MemoryStore::default();
        let two = MemoryStore::default();
        append_one(&one, "a", json_event("m", 1));
        assert_ne!(
            one.position("a").unwrap().epoch,
            two.position("a").unwrap().epoch
        );
    }

    #[test]
    fn limits_are_at_least_one() {
        let store = small(0, 0);
        assert_eq!(store.limits(), small(1, 1).limits());
        append_one(&store, "a", json_event("m", 1));
        append_one(&store, "b", json_event("m", 2));
        assert_eq!(store.read_last("b", 5).unwrap().entries.len(), 1);
        assert_eq!(store.stats().streams, 1);
        assert!(format!("{store:?}").contains("MemoryStore"));
    }
}

//! [`MemoryStore`]: room streams and session records in process memory, for tests, for
//! deployments that need recovery across short disconnects but not across restarts, and as
//! the reference implementation of the [`Store`] contract.
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
//! hub lets a message be, and at most [`MemoryLimits::max_sessions`] session records (see
//! `memory/sessions.rs` for which record goes when a new one does not fit).
//!
//! Sequence numbers come from one counter for the whole store, which outlives evicted
//! streams. Each stream remembers the sequence number of the newest message it lost to its
//! `max_messages` bound or to `trim` (`trimmed_seq`), which is what
//! [`Store::read_after_seq`] needs to tell whether a reader missed one (see
//! [`rules::truncated_after_seq`]).
//!
//! Reads never create state: the position of an unknown stream is computed, not stored.
//! One [`RwLock`] guards the streams: appends and trims come from the hub's single
//! publisher thread and are short (no I/O), reads share the lock. Session records have
//! their own lock, so a client's (dis)connection never waits for a batch of appends. A
//! std-style blocking lock is right here because no method is async and none holds a lock
//! across anything slow.

mod sessions;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use self::sessions::Sessions;
use crate::epoch::EpochSource;
use crate::rules;
use crate::{
    Append, Entry, Page, Retention, SessionWrite, Stamp, Store, StoreError, StoredEvent, StreamPos,
};

/// How much a [`MemoryStore`] may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Most messages kept per stream; older ones are dropped on append. Default 1,000.
    /// At least 1.
    pub max_messages: usize,
    /// Most streams kept; creating one more evicts the least recently appended stream.
    /// Default 10,000. At least 1.
    pub max_streams: usize,
    /// Most session records kept; putting one more first drops expired records, then evicts
    /// the one expiring soonest, open records (no expiry) last, oldest first. Default
    /// 100,000. At least 1.
    pub max_sessions: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        Self {
            max_messages: 1_000,
            max_streams: 10_000,
            max_sessions: 100_000,
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
    /// Session records held now (expired ones included until they are removed).
    pub sessions: usize,
    /// Session records evicted before they expired because of
    /// [`MemoryLimits::max_sessions`], since construction.
    pub evicted_sessions: u64,
}

/// Room streams in memory; see the [module docs](self).
pub struct MemoryStore {
    limits: MemoryLimits,
    epochs: EpochSource,
    /// Milliseconds since the Unix epoch: when a put into a full session table drops
    /// expired records, as of when (the trait's session writes carry no time).
    clock: fn() -> u64,
    inner: RwLock<Inner>,
    sessions: RwLock<Sessions>,
}

#[derive(Default)]
struct Inner {
    streams: HashMap<Arc<str>, Stream>,
    /// Stream names by the tick of their last append: the first is evicted next.
    by_touch: BTreeMap<u64, Arc<str>>,
    tick: u64,
    /// Bumped on every eviction; part of every new stream's epoch.
    generation: u64,
    /// The sequence number of the last message appended, to any stream.
    last_seq: u64,
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
    /// Sequence number of the newest message removed (by `max_messages` or `trim`); 0 if
    /// none was.
    trimmed_seq: u64,
    /// The kept messages, offsets `last - len + 1 ..= last`, their sequence numbers
    /// increasing.
    messages: VecDeque<Kept>,
}

/// A kept message and its sequence number.
struct Kept {
    seq: u64,
    event: StoredEvent,
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

    /// Removes the oldest kept message, remembering its sequence number.
    fn pop_oldest(&mut self) -> bool {
        match self.messages.pop_front() {
            Some(kept) => {
                self.trimmed_seq = kept.seq;
                true
            }
            None => false,
        }
    }
}

impl MemoryStore {
    /// An empty store with a new random epoch secret.
    pub fn new(limits: MemoryLimits) -> Self {
        Self::with_clock(limits, chorus_core::publisher::now_ms)
    }

    /// [`MemoryStore::new`] with another clock for session expiry on put.
    fn with_clock(limits: MemoryLimits, clock: fn() -> u64) -> Self {
        let limits = MemoryLimits {
            max_messages: limits.max_messages.max(1),
            max_streams: limits.max_streams.max(1),
            max_sessions: limits.max_sessions.max(1),
        };
        Self {
            limits,
            epochs: EpochSource::random(),
            clock,
            inner: RwLock::new(Inner::default()),
            sessions: RwLock::new(Sessions::new(limits.max_sessions)),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> MemoryLimits {
        self.limits
    }

    /// What the store holds now and how often its limits were hit.
    pub fn stats(&self) -> MemoryStats {
        let inner = self.inner.read();
        let sessions = self.sessions.read();
        MemoryStats {
            streams: inner.streams.len(),
            messages: inner.messages,
            evicted_streams: inner.evicted_streams,
            dropped_messages: inner.dropped_messages,
            sessions: sessions.len(),
            evicted_sessions: sessions.evicted(),
        }
    }

    fn unknown_pos(&self, inner: &Inner, stream: &str) -> StreamPos {
        StreamPos {
            epoch: self.epochs.epoch(inner.generation, stream),
            offset: 0,
        }
    }

    /// A page after offset `after`; with `after_seq`, skipping messages whose sequence
    /// number is not above it and judging truncation by [`rules::truncated_after_seq`].
    fn page(
        &self,
        inner: &Inner,
        stream: &str,
        epoch: Option<&str>,
        after: u64,
        after_seq: Option<u64>,
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
        let first = s.first();
        let start = after.saturating_add(1).max(first);
        let first_kept_after = (start <= s.last).then_some(start);
        let len = s.messages.len();
        let mut skip = usize::try_from(start - first)
            .unwrap_or(usize::MAX)
            .min(len);
        if let Some(after_seq) = after_seq {
            // Sequence numbers increase along the stream: what the reader has is a prefix.
            skip = skip.max(s.messages.partition_point(|m| m.seq <= after_seq));
        }
        let entries = s
            .messages
            .range(skip..)
            .take(limit)
            .zip(first + skip as u64..)
            .map(|(kept, offset)| Entry {
                offset,
                seq: kept.seq,
                event: kept.event.clone(),
            })
            .collect();
        let truncated = match after_seq {
            None => rules::truncated(after, s.last, first_kept_after),
            Some(after_seq) => rules::truncated_after_seq(
                after,
                s.last,
                first_kept_after,
                s.trimmed_seq,
                after_seq,
            ),
        };
        Page {
            pos: s.pos(),
            entries,
            truncated,
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
            trimmed_seq: 0,
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
    fn append_batch(&self, batch: &[Append]) -> Result<Vec<Stamp>, StoreError> {
        let mut stamps = Vec::with_capacity(batch.len());
        let mut inner = self.inner.write();
        for append in batch {
            inner.last_seq += 1;
            let seq = inner.last_seq;
            let s = inner.stream_for_append(&append.stream, self.limits, &self.epochs);
            s.last += 1;
            stamps.push(Stamp {
                offset: s.last,
                seq,
            });
            s.messages.push_back(Kept {
                seq,
                event: append.event.clone(),
            });
            let dropped = s.messages.len() > self.limits.max_messages && s.pop_oldest();
            if dropped {
                inner.dropped_messages += 1;
            } else {
                inner.messages += 1;
            }
        }
        Ok(stamps)
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
        Ok(self.page(&self.inner.read(), stream, epoch, after, None, limit))
    }

    fn read_after_seq(
        &self,
        stream: &str,
        epoch: &str,
        after: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let inner = self.inner.read();
        Ok(self.page(&inner, stream, Some(epoch), after, Some(after_seq), limit))
    }

    fn read_last(&self, stream: &str, n: usize) -> Result<Page, StoreError> {
        let inner = self.inner.read();
        let last = inner.streams.get(stream).map_or(0, |s| s.last);
        Ok(self.page(&inner, stream, None, rules::last_n_after(last, n), None, n))
    }

    /// Walks every stream under the write lock, calling `retention` for each: keep the
    /// callback cheap. Then removes expired session records, under their own lock.
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
                if (s.messages.len() as u64) <= max_messages && front.event.time_ms >= cutoff {
                    break;
                }
                s.pop_oldest();
                removed += 1;
            }
        }
        inner.messages -= usize::try_from(removed).unwrap_or(usize::MAX);
        drop(inner);
        self.sessions.write().remove_expired(now_ms);
        Ok(removed)
    }

    fn write_sessions(&self, writes: &[SessionWrite]) -> Result<(), StoreError> {
        let mut sessions = self.sessions.write();
        // Read once: a batch of writes is one moment.
        let mut now_ms = None;
        for write in writes {
            match write {
                SessionWrite::Put {
                    id,
                    record,
                    expires_ms,
                } => {
                    let now_ms = *now_ms.get_or_insert_with(self.clock);
                    sessions.put(id, record.clone(), *expires_ms, now_ms);
                }
                SessionWrite::Delete { id } => sessions.delete(id),
                SessionWrite::Touch { id, expires_ms } => sessions.touch(id, *expires_ms),
            }
        }
        Ok(())
    }

    fn read_session(&self, id: &str, now_ms: u64) -> Result<Option<Bytes>, StoreError> {
        Ok(self.sessions.read().get(id, now_ms))
    }

    fn expire_open_sessions(&self, expires_ms: u64) -> Result<u64, StoreError> {
        Ok(self.sessions.write().expire_open(expires_ms))
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
            ..MemoryLimits::default()
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
    fn sequence_numbers_outlive_evicted_streams_and_dropped_messages() {
        let store = small(2, 1);
        let stamp = |stream: &str| {
            let batch = [Append {
                stream: stream.into(),
                event: json_event("m", 0),
            }];
            store.append_batch(&batch).unwrap()[0]
        };
        assert_eq!(stamp("a"), Stamp { offset: 1, seq: 1 });
        assert_eq!(stamp("b"), Stamp { offset: 1, seq: 2 }, "evicts a");
        assert_eq!(stamp("a"), Stamp { offset: 1, seq: 3 }, "evicts b");
        assert_eq!(stamp("a"), Stamp { offset: 2, seq: 4 });
        assert_eq!(stamp("a"), Stamp { offset: 3, seq: 5 }, "drops offset 1");
        // The cap removed offset 1 (seq 3): a reader that had it is not truncated.
        let epoch = store.position("a").unwrap().epoch;
        let page = store.read_after_seq("a", &epoch, 0, 3, 10).unwrap();
        let seqs: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
        assert_eq!((seqs, page.truncated), (vec![4, 5], false));
        assert!(
            store
                .read_after_seq("a", &epoch, 0, 2, 10)
                .unwrap()
                .truncated
        );
    }

    fn with_sessions(max_sessions: usize, clock: fn() -> u64) -> MemoryStore {
        MemoryStore::with_clock(
            MemoryLimits {
                max_sessions,
                ..MemoryLimits::default()
            },
            clock,
        )
    }

    fn put(id: &str, expires_ms: Option<u64>) -> SessionWrite {
        SessionWrite::Put {
            id: id.into(),
            record: Bytes::from(id.to_owned()),
            expires_ms,
        }
    }

    #[test]
    fn a_full_session_table_drops_expired_records_then_evicts_the_soonest_to_expire() {
        // The store's clock says 1,000.
        let store = with_sessions(3, || 1_000);
        let held = |store: &MemoryStore| -> Vec<bool> {
            ["gone", "soon", "later", "open", "new1", "new2", "new3"]
                .iter()
                .map(|id| store.read_session(id, 0).unwrap().is_some())
                .collect()
        };
        store
            .write_sessions(&[put("gone", Some(999)), put("open", None)])
            .unwrap();
        store.write_sessions(&[put("soon", Some(5_000))]).unwrap();
        // Full: "gone" expired as of the clock, dropped; not an eviction.
        store.write_sessions(&[put("later", Some(9_000))]).unwrap();
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.evicted_sessions), (3, 0));
        // Full, nothing expired: records with an expiry go before open ones, soonest first.
        store.write_sessions(&[put("new1", None)]).unwrap();
        store.write_sessions(&[put("new2", None)]).unwrap();
        assert_eq!(held(&store), [false, false, false, true, true, true, false]);
        // Only open records: the oldest put goes.
        store.write_sessions(&[put("new3", Some(2_000))]).unwrap();
        assert_eq!(held(&store), [false, false, false, false, true, true, true]);
        // Replacing or deleting never evicts.
        store
            .write_sessions(&[
                put("new1", Some(3_000)),
                SessionWrite::Delete { id: "x".into() },
            ])
            .unwrap();
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.evicted_sessions), (3, 3));
        assert_eq!(store.limits().max_sessions, 3);
    }

    #[test]
    fn limits_are_at_least_one() {
        let store = MemoryStore::new(MemoryLimits {
            max_messages: 0,
            max_streams: 0,
            max_sessions: 0,
        });
        let limits = store.limits();
        assert_eq!(
            (limits.max_messages, limits.max_streams, limits.max_sessions),
            (1, 1, 1)
        );
        store
            .write_sessions(&[put("s1", None), put("s2", None)])
            .unwrap();
        assert_eq!(store.read_session("s1", 0).unwrap(), None);
        assert_eq!(store.stats().sessions, 1);
        append_one(&store, "a", json_event("m", 1));
        append_one(&store, "b", json_event("m", 2));
        assert_eq!(store.read_last("b", 5).unwrap().entries.len(), 1);
        assert_eq!(store.stats().streams, 1);
        assert!(format!("{store:?}").contains("MemoryStore"));
    }
}

//! The writer thread: every message of a room with history is appended here, in batches
//! (whatever is waiting when the thread wakes goes in one store transaction), then
//! delivered in the order it was stored, then acknowledged.
//!
//! The store call is the only thing that blocks here, and no lock is held across it: a
//! batch's streams are marked under the gate first ([`Stream::inflight`]), appended without
//! it, and delivered under it. A join that needs the store and could not be finished
//! exactly by the reader thread is finished here, between batches, when nothing can be in
//! flight. Retention is applied here too, every [`TRIM_EVERY`].
//!
//! [`Stream::inflight`]: super::streams::Stream::inflight

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::catchup::{Shared, Work};
use super::join::At;
use super::rooms::Rooms;
use super::stream::{now_ms, room_of, stream_name};
use crate::receipt::{Done, Receipt};
use crate::{
    Append, Broadcast, ConnId, Event, HistoryRules, HubError, Outbound, Peer, Retention,
    SessionWrite, StoreError, StreamPos,
};

/// Told when a session-record change is written.
pub type SessionDone = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// How often retention is applied.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);
/// Most operations taken in one wake-up (one store transaction at most this big).
const MAX_BATCH: usize = 1024;

/// What the writer is asked to do.
pub(super) enum Op {
    Publish {
        rooms: Arc<dyn Rooms>,
        room: Arc<str>,
        event: Event,
        except: Option<ConnId>,
        from: Option<Arc<Peer>>,
        done: Option<Done>,
        /// When it was published.
        at: std::time::Instant,
    },
    /// A change to the session records, written with the next batch.
    Session {
        write: SessionWrite,
        done: Option<SessionDone>,
    },
    /// A delivery that must not overtake its sender's publishes still in flight.
    Run {
        sender: Arc<Peer>,
        run: Box<dyn FnOnce() + Send>,
    },
    /// A join the reader could not finish exactly.
    Work(Work),
    /// The publisher is gone.
    Stop,
}

struct Pending {
    rooms: Arc<dyn Rooms>,
    room: Arc<str>,
    stream: Arc<str>,
    event: Event,
    except: Option<ConnId>,
    from: Option<Arc<Peer>>,
    done: Option<Done>,
    at: std::time::Instant,
}

pub(super) struct Writer {
    pub(super) shared: Shared,
    pub(super) rules: HistoryRules,
    /// Hands work to the reader thread: live joins whose batch failed, asked about again.
    pub(super) reader: Box<dyn Fn(Work) + Send>,
    /// Epochs of the streams of the batch being delivered (cleared after each batch).
    pub(super) epochs: HashMap<Arc<str>, Arc<str>>,
}

impl Writer {
    pub(super) fn run(mut self, rx: mpsc::Receiver<Op>) {
        let mut last_trim = Instant::now();
        loop {
            let first = match rx.recv_timeout(TRIM_EVERY) {
                Ok(op) => Some(op),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            let mut pending = Vec::new();
            let mut sessions = Vec::new();
            let mut next = first;
            let mut taken = 0;
            let mut stop = false;
            while let Some(op) = next.take() {
                taken += 1;
                match op {
                    Op::Publish {
                        rooms,
                        room,
                        event,
                        except,
                        from,
                        done,
                        at,
                    } => {
                        let stream = Arc::from(stream_name(rooms.name(), &room));
                        pending.push(Pending {
                            rooms,
                            room,
                            stream,
                            event,
                            except,
                            from,
                            done,
                            at,
                        });
                    }
                    Op::Session { write, done } => sessions.push((write, done)),
                    Op::Run { sender, run } => {
                        // Everything the sender published before is delivered first.
                        self.write_sessions(std::mem::take(&mut sessions));
                        self.flush(&mut pending);
                        run();
                        sender.mailbox().release();
                    }
                    Op::Work(work) => {
                        // Between batches: nothing in flight, every read exact.
                        self.write_sessions(std::mem::take(&mut sessions));
                        self.flush(&mut pending);
                        let left = work.run(&self.shared, true);
                        debug_assert!(left.is_none(), "exact work is always finished");
                    }
                    Op::Stop => stop = true,
                }
                if taken < MAX_BATCH && !stop {
                    next = rx.try_recv().ok();
                }
            }
            // Session records first: a socket's rooms are on record before the messages
            // that follow its joins are acknowledged.
            self.write_sessions(sessions);
            self.flush(&mut pending);
            if stop {
                return;
            }
            if last_trim.elapsed() >= TRIM_EVERY {
                last_trim = Instant::now();
                let rules = &self.rules;
                // A room this node keeps no history for: a store of this node alone drops
                // it; a store the cluster shares keeps it (another node's rules may).
                let unknown = if self.shared.announces {
                    Retention {
                        max_messages: u64::MAX,
                        max_age: Duration::MAX,
                    }
                } else {
                    Retention::default()
                };
                let keep = |stream: &str| rules.retention(room_of(stream)).unwrap_or(unknown);
                if let Err(err) = self.shared.store.trim(now_ms(), &keep) {
                    tracing::warn!(%err, "history retention failed");
                }
            }
        }
    }

    /// A stream's epoch, asked of the store once per batch: a store may change it (a
    /// memory store evicting a stream), so it is never remembered longer.
    fn epoch(&mut self, stream: &Arc<str>) -> Result<Arc<str>, StoreError> {
        if let Some(epoch) = self.epochs.get(stream) {
            return Ok(epoch.clone());
        }
        let epoch = self.shared.store.position(stream)?.epoch;
        self.epochs.insert(stream.clone(), epoch.clone());
        Ok(epoch)
    }

    /// Writes the session-record changes of a wake-up in one call.
    fn write_sessions(&self, sessions: Vec<(SessionWrite, Option<SessionDone>)>) {
        if sessions.is_empty() {
            return;
        }
        let (writes, dones): (Vec<_>, Vec<_>) = sessions.into_iter().unzip();
        let result = self.shared.store.write_sessions(&writes);
        if let Err(err) = &result {
            tracing::error!(%err, "writing session records failed");
        }
        for done in dones.into_iter().flatten() {
            done(result.clone());
        }
    }

    /// Stores the pending publishes in one batch, then delivers them in order.
    fn flush(&mut self, pending: &mut Vec<Pending>) {
        if pending.is_empty() {
            return;
        }
        // Marked before the store is called: a join reading a stream meanwhile knows its
        // read may hold messages not delivered yet.
        {
            let mut streams = self.shared.streams.lock();
            let mut marked: Vec<&Arc<str>> = Vec::new();
            for p in pending.iter() {
                let state = streams.entry(&p.stream);
                state.inflight += 1;
                if !marked.contains(&&p.stream) {
                    state.marks = state.marks.wrapping_add(1);
                    marked.push(&p.stream);
                }
            }
        }
        let time_ms = now_ms();
        let batch: Vec<Append> = pending
            .iter()
            .map(|p| Append {
                stream: p.stream.clone(),
                event: p.event.to_stored(time_ms, p.except),
            })
            .collect();
        // On a cluster, this node's own deliveries wait for these messages' notices.
        let cluster = self
            .shared
            .cluster
            .get()
            .and_then(std::sync::Weak::upgrade)
            .filter(|_| self.shared.announces);
        if let Some(cluster) = &cluster {
            cluster.expect(pending.iter().map(|p| &p.stream));
        }
        // No lock held: a slow disk stalls this thread alone.
        let started = std::time::Instant::now();
        let stored = self.shared.store.append_batch(&batch);
        let stats = &self.shared.stats;
        stats.store_append.observe(started.elapsed());
        stats
            .failing
            .store(stored.is_err(), std::sync::atomic::Ordering::Relaxed);
        if stored.is_err() {
            stats
                .append_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let (Ok(_), Some(epoch)) = (&stored, self.shared.store.appended_epoch()) {
            // The store said which epoch it wrote under: no need to ask it per stream.
            for p in pending.iter() {
                self.epochs.insert(p.stream.clone(), epoch.clone());
            }
        }
        let sent = batch.len();
        let mut results = Vec::with_capacity(sent);
        for (i, p) in pending.iter().enumerate() {
            results.push(match &stored {
                Ok(stamps) => match (stamps.get(i), self.epoch(&p.stream)) {
                    (Some(stamp), Ok(epoch)) => Ok((
                        StreamPos {
                            epoch,
                            offset: stamp.offset,
                        },
                        stamp.seq,
                    )),
                    (None, _) => Err(StoreError::ShortBatch {
                        sent,
                        got: stamps.len(),
                    }),
                    (_, Err(err)) => Err(err),
                },
                Err(err) => Err(err.clone()),
            });
        }
        self.epochs.clear();
        let mut appended: Vec<(Arc<str>, Option<u64>)> = Vec::new();
        let mut told: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
        let mut reread: Vec<Arc<str>> = Vec::new();
        {
            let mut streams = self.shared.streams.lock();
            for (p, result) in pending.drain(..).zip(results) {
                let state = streams.entry(&p.stream);
                state.inflight -= 1;
                let announced = self.shared.announces;
                let result = result.map(|(pos, seq)| {
                    if announced {
                        // Delivered here as on every node, when its notice arrives; what
                        // this node delivers to its own connections meanwhile waits for it.
                        return Receipt {
                            delivered: 0,
                            pos: Some(pos),
                        };
                    }
                    // Live joins waiting on the stream started right before this message.
                    let before = StreamPos {
                        epoch: pos.epoch.clone(),
                        offset: pos.offset - 1,
                    };
                    for waiter in state.waiters.drain(..) {
                        let at: At = waiter.at;
                        let before = before.clone();
                        told.push(Box::new(move || at(Ok(before))));
                    }
                    state.delivered = Some(pos.clone());
                    let mut event = p.event;
                    event.pos = Some(pos.clone());
                    event.seq = seq;
                    self.shared.key.stamp(&mut event);
                    let item = Outbound::Shared(Broadcast::event(event));
                    let delivered = p.rooms.deliver(&p.room, p.except, item);
                    Receipt {
                        delivered,
                        pos: Some(pos),
                    }
                });
                if cluster.is_some() {
                    let offset = result.as_ref().ok().and_then(|r| r.pos.as_ref());
                    appended.push((p.stream.clone(), offset.map(|pos| pos.offset)));
                }
                if let Err(err) = &result {
                    tracing::error!(%err, room = %p.room, "history store failed; message not delivered");
                    if state.inflight == 0 && !state.waiters.is_empty() {
                        reread.push(p.stream.clone());
                    }
                }
                if result.is_ok() {
                    self.shared
                        .stats
                        .publish_to_delivery
                        .observe(p.at.elapsed());
                }
                let from = p.from;
                let done = p.done;
                told.push(Box::new(move || {
                    if let Some(done) = done {
                        done(result.map_err(HubError::Store));
                    }
                    if let Some(from) = from {
                        from.mailbox().release();
                    }
                }));
            }
        }
        if let Some(cluster) = &cluster {
            cluster.appended(appended.iter().map(|(s, o)| (&**s, *o)));
        }
        for tell in told {
            tell();
        }
        for stream in reread {
            // Those joins' batch failed: no delivery will tell them where they started.
            (self.reader)(Work::Position(stream));
        }
    }
}

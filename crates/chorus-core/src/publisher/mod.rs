//! The publisher: the threads through which every message of a room with history passes,
//! so that "stored", "numbered" and "delivered" happen in one order — and no connection
//! ever waits on the store.
//!
//! A publish is appended to the room's stream by the writer thread (in batches: whatever
//! is waiting when it wakes goes in one store transaction), gets its offset, is delivered
//! to the room's members, and only then is its publisher told it was accepted — so an
//! acknowledged message is always recoverable, and nobody ever sees a message the store
//! lost.
//!
//! Joins are ordered with a room's deliveries by the *gate*, a lock the writer holds to
//! deliver a batch (never across a store call) and a join holds to become a member. A live
//! join ([`crate::Namespace::join_at`]) becomes a member at once and hears its position when
//! it is known: at once if the room's last delivered position is, else from a store read on
//! the reader thread or from the next delivery. A join that replays what it missed first
//! ([`crate::Namespace::join_ordered`], [`crate::Namespace::restore`]) is read on the reader
//! thread and finished under the gate, or by the writer between batches when the read could
//! not be exact (`catchup`).
//!
//! * `writer` — the writer thread: batches, deliveries, acknowledgements, retention.
//! * `reader` — the reader thread: the store reads of joins.
//! * `catchup` — the joins that need the store, and when a read is exact.
//! * `streams` — what the gate guards: each stream's last delivered position, its batches
//!   in flight, its waiting joins.
//! * `rooms` — [`Rooms`], the publisher's view of a namespace.
//! * `join` — what a join asks for ([`Replay`]) and is told ([`Joined`]).
//! * `stream` — stream names, and the clock.
//! * `offsets` — the signed recovery offsets of stored messages.
//! * `arrivals` — on a cluster, stored messages as the shared store announces them.

mod arrivals;
mod catchup;
mod join;
mod offsets;
mod reader;
mod rooms;
mod stream;
mod streams;
mod writer;

use std::collections::HashMap;
use std::sync::{mpsc, Arc};

use parking_lot::Mutex;

use self::arrivals::Next;
use self::catchup::{Join, Restore, Shared, Work};
use self::offsets::OffsetKey;
use self::reader::Job;
use self::streams::{Streams, Waiter};
use self::writer::{Op, Writer};
use crate::cluster::{Marker, Notice};
use crate::receipt::Done;
use crate::{
    ConnId, Event, HistoryRules, HubError, Peer, PeerInfo, Retention, SessionWrite, Store,
    StoreError,
};

pub use self::arrivals::ArrivalStats;

/// How long the publisher's work takes, for `/metrics`.
#[derive(Debug, Default)]
pub struct PublisherStats {
    /// Each batch's `Store::append_batch`.
    pub store_append: crate::Histogram,
    /// Each stored message, from its publish to its recipients' queues (or, when the
    /// store announces appends to a cluster, to its acknowledgement).
    pub publish_to_delivery: crate::Histogram,
    /// Batches the store failed to append (their publishers were told).
    pub append_failures: std::sync::atomic::AtomicU64,
    /// Whether the last batch failed: the store is failing now.
    pub failing: std::sync::atomic::AtomicBool,
}
pub use self::join::{At, JoinDone, Joined, Replay, RestoreDone, RestoreRoom, Restored};
pub use self::rooms::Rooms;
pub use self::stream::{now_ms, stream_name};
pub use self::writer::{SessionDone, TRIM_EVERY};

/// The handle on the publisher's threads. Cheap to share (`Arc`); the threads end when the
/// last handle is dropped.
pub struct Publisher {
    writer: mpsc::Sender<Op>,
    reader: mpsc::Sender<Job>,
    shared: Shared,
    rules: HistoryRules,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("store", &self.shared.store)
            .field("rules", &self.rules)
            .field("recovery_offsets", &self.shared.key.is_set())
            .finish_non_exhaustive()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.writer.send(Op::Stop);
        let _ = self.reader.send(Job::Stop);
    }
}

impl Publisher {
    /// Starts the publisher's threads over `store`, keeping history as `rules` say.
    pub fn start(store: Arc<dyn Store>, rules: HistoryRules) -> Arc<Self> {
        let (writer_tx, writer_rx) = mpsc::channel();
        let (reader_tx, reader_rx) = mpsc::channel();
        let shared = Shared {
            announces: store.announces(),
            store,
            streams: Arc::new(Mutex::new(Streams::default())),
            key: OffsetKey::default(),
            arrivals: Arc::default(),
            stats: Arc::default(),
            parked: Arc::default(),
            cluster: Arc::default(),
        };
        // The two threads hand each other work through these, and know nothing else of
        // each other.
        let to_reader = reader_tx.clone();
        let to_writer = writer_tx.clone();
        let writer = Writer {
            shared: shared.clone(),
            rules: rules.clone(),
            reader: Box::new(move |work| {
                let _ = to_reader.send(Job::Work(work));
            }),
            epochs: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("chorus-publisher".into())
            .spawn(move || writer.run(writer_rx))
            .expect("spawning the publisher thread");
        let reader_shared = shared.clone();
        let writer_finishes = Box::new(move |work| {
            let _ = to_writer.send(Op::Work(work));
        });
        std::thread::Builder::new()
            .name("chorus-reader".into())
            .spawn(move || reader::run(reader_shared, reader_rx, writer_finishes))
            .expect("spawning the publisher's reader thread");
        Arc::new(Self {
            writer: writer_tx,
            reader: reader_tx,
            shared,
            rules,
        })
    }

    /// Turns recovery offsets on: from now on every stored message carries the offset a
    /// Socket.IO client with connection-state recovery gets (as its last argument) and
    /// sends back, signed with `key` so that no other string — an application's own last
    /// argument, or one a client made up — passes for one. The key should outlive restarts
    /// as the sessions do (the server keeps it in the store). Set once; later calls are
    /// ignored.
    pub fn set_offset_key(&self, key: [u8; 16]) {
        self.shared.key.set(key);
    }

    /// The recovery offset of the stored message with sequence number `seq` (what it
    /// carries as [`Event::offset`]); `None` while recovery offsets are off.
    pub fn recovery_offset(&self, seq: u64) -> Option<Arc<str>> {
        self.shared.key.offset(seq)
    }

    /// The sequence number a recovery offset stands for, if it is one this server signed.
    pub fn verify_recovery_offset(&self, offset: &str) -> Option<u64> {
        self.shared.key.verify(offset)
    }

    /// Makes this publisher a node of `cluster`'s: see [`crate::Hub::clustered`].
    pub(crate) fn join_cluster(&self, cluster: &Arc<crate::Cluster>) {
        let _ = self.shared.cluster.set(Arc::downgrade(cluster));
    }

    /// On a cluster: what arrived from the shared store (messages filled, lost, heard
    /// twice).
    pub fn arrivals(&self) -> &ArrivalStats {
        &self.shared.arrivals
    }

    /// How long appends and deliveries take.
    pub fn stats(&self) -> &PublisherStats {
        &self.shared.stats
    }

    /// On a cluster whose store announces its appends: a stored message of `room` of
    /// `rooms` arrived through the broker. Delivered in its stream's order, once; a gap
    /// before it is read from the store first (see `arrivals`).
    pub(crate) fn arrived(&self, rooms: &Arc<dyn Rooms>, room: &Arc<str>, notice: Notice) {
        let stream = notice.stream.clone();
        let mut tells = Vec::new();
        let mut streams = self.shared.streams.lock();
        if streams.get_mut(&stream).is_none() && !rooms.has_members(room) {
            // Nobody here hears the room, and nothing waits on its stream.
            return;
        }
        let state = streams.entry(&stream);
        state.home_in(rooms, room);
        let next = arrivals::arrive(
            &self.shared.key,
            &self.shared.arrivals,
            state,
            notice,
            &mut tells,
        );
        drop(streams);
        for tell in tells {
            tell();
        }
        if let Next::Fill(after, round) = next {
            self.read(Work::Fill(stream, after, round));
        }
    }

    /// On a cluster: a stream's position came through the broker, after every message of
    /// it up to there. If nothing of the stream was delivered here, that is where it
    /// stands; the live joins and the work waiting for it go on.
    pub(crate) fn marked(&self, rooms: &Arc<dyn Rooms>, room: &Arc<str>, marker: Marker) {
        let mut streams = self.shared.streams.lock();
        let state = streams.entry(&marker.stream);
        state.home_in(rooms, room);
        state.asked = false;
        // Unknown here, or known in an epoch the store has left: the marker says.
        if state
            .delivered
            .as_ref()
            .is_none_or(|d| d.epoch != marker.pos.epoch)
        {
            state.delivered = Some(marker.pos);
        }
        let at = state.delivered.clone().expect("just set");
        let waiters: Vec<_> = state.waiters.drain(..).collect();
        let parked = self
            .shared
            .parked
            .lock()
            .remove(&marker.stream)
            .unwrap_or_default();
        drop(streams);
        for waiter in waiters {
            (waiter.at)(Ok(at.clone()));
        }
        for work in parked {
            self.read(work);
        }
    }

    /// Whether this publisher keeps state for `stream` (a position, a join waiting on it, a
    /// gap being filled): its notices matter even with no member here.
    pub(crate) fn follows(&self, stream: &str) -> bool {
        self.shared.streams.lock().get_mut(stream).is_some()
    }

    /// On a cluster: the broker's link is back — what was announced while this node could
    /// not hear it is read from the store and delivered.
    pub(crate) fn resync(&self) {
        if self.shared.announces {
            self.read(Work::Resync);
        }
    }

    /// The store behind it.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// How long `room` keeps messages; `None` if it keeps none.
    pub fn retention(&self, room: &str) -> Option<Retention> {
        self.rules.retention(room)
    }

    /// Publishes `event` to `room` of `rooms` (members but `except`): stored, numbered,
    /// delivered, then `done` is called — on the writer thread, so it must not block.
    /// `from`'s other messages wait behind it ([`Publisher::in_order`]). Called by the
    /// route (`crate::route`), which decided the room keeps history.
    pub(crate) fn publish(
        &self,
        rooms: Arc<dyn Rooms>,
        room: Arc<str>,
        event: Event,
        except: Option<ConnId>,
        from: Option<Arc<Peer>>,
        done: Option<Done>,
    ) {
        if let Some(from) = &from {
            from.mailbox().hold();
        }
        let op = Op::Publish {
            rooms,
            room,
            event,
            except,
            from,
            done,
            at: std::time::Instant::now(),
        };
        if let Err(mpsc::SendError(Op::Publish { from, done, .. })) = self.writer.send(op) {
            if let Some(from) = from {
                from.mailbox().release();
            }
            if let Some(done) = done {
                done(Err(StoreError::Stopped.into()));
            }
        }
    }

    /// Runs `deliver` on the writer thread once `sender`'s publishes in flight are
    /// delivered, so the sender's messages keep their order. `deliver` must not block.
    pub(crate) fn in_order(
        &self,
        sender: Arc<Peer>,
        deliver: impl FnOnce() -> usize + Send + 'static,
    ) {
        sender.mailbox().hold();
        let op = Op::Run {
            sender,
            run: Box::new(move || {
                deliver();
            }),
        };
        if let Err(mpsc::SendError(Op::Run { sender, run })) = self.writer.send(op) {
            sender.mailbox().release();
            run();
        }
    }

    /// Makes `peer` a member of `room` now, and tells `at` the room's position then: at
    /// once if its last delivered position is known, else once a store read (on the reader
    /// thread) or the room's next delivery tells it. Never waits for the store.
    pub(crate) fn join_live(
        &self,
        rooms: &Arc<dyn Rooms>,
        peer: &Arc<Peer>,
        room: &str,
        at: At,
    ) -> Result<Vec<PeerInfo>, HubError> {
        let stream: Arc<str> = Arc::from(stream_name(rooms.name(), room));
        let mut streams = self.shared.streams.lock();
        // Under the gate: no delivery of the room falls between the join and its position.
        let members = rooms.join(peer, room, true)?;
        let state = streams.entry(&stream);
        state.home_in(rooms, room);
        if let Some(pos) = state.delivered.clone() {
            drop(streams);
            at(Ok(pos));
            return Ok(members);
        }
        let first = state.waiters.is_empty();
        state.waiters.push(Waiter {
            clean: state.inflight == 0,
            marks: state.marks,
            at,
        });
        // On a cluster, the broker tells where the stream stands, in order with it.
        let ask = self.shared.announces && !std::mem::replace(&mut state.asked, true);
        drop(streams);
        if ask {
            self.read(Work::Mark(stream));
        } else if first && !self.shared.announces {
            self.read(Work::Position(stream));
        }
        Ok(members)
    }

    /// Makes `peer`, which reserved `room`, a member of it in order with the room's stream,
    /// after queuing it what `replay` asks for; `done` hears the position it joined at.
    /// Finished at once if nothing needs the store; else read on the reader thread (or,
    /// when that read cannot be exact, by the writer between batches).
    pub(crate) fn join_ordered(
        &self,
        rooms: Arc<dyn Rooms>,
        peer: Arc<Peer>,
        room: Arc<str>,
        replay: Replay,
        members: bool,
        done: JoinDone,
    ) {
        if replay == Replay::None {
            let stream: Arc<str> = Arc::from(stream_name(rooms.name(), &room));
            let mut streams = self.shared.streams.lock();
            if let Some(pos) = streams.entry(&stream).delivered.clone() {
                let admitted = rooms.admit(&peer, &room, members);
                drop(streams);
                return done(match admitted {
                    Some(members) => Ok(Joined {
                        members,
                        pos: Some(pos),
                        recovered: false,
                        replayed: 0,
                    }),
                    None => Err(HubError::NotInRoom(room.to_string())),
                });
            }
        }
        self.read(Work::Join(Join {
            rooms,
            peer,
            room,
            replay,
            members,
            done,
            waits: 0,
        }));
    }

    /// Restores a connection that was away in its rooms: see [`crate::Namespace::restore`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore(
        &self,
        rooms: Arc<dyn Rooms>,
        peer: Arc<Peer>,
        list: Vec<RestoreRoom>,
        after_seq: u64,
        max_replay: usize,
        ready: Box<dyn FnOnce() + Send>,
        done: RestoreDone,
    ) {
        self.read(Work::Restore(Restore {
            rooms,
            peer,
            list,
            after_seq,
            max_replay,
            ready,
            done,
            waits: 0,
        }));
    }

    /// Hands work to the reader thread.
    fn read(&self, work: Work) {
        if let Err(mpsc::SendError(Job::Work(work))) = self.reader.send(Job::Work(work)) {
            // Only once the publisher is gone; the writer may still be there to finish it.
            let _ = self.writer.send(Op::Work(work));
        }
    }

    /// Queues a change to the session records; it is written with the next batch (within
    /// milliseconds), then `done` is called on the writer thread.
    pub fn write_session(&self, write: SessionWrite, done: Option<SessionDone>) {
        if let Err(mpsc::SendError(Op::Session {
            done: Some(done), ..
        })) = self.writer.send(Op::Session { write, done })
        {
            done(Err(StoreError::Stopped));
        }
    }
}

//! The publisher: the one thread through which every message of a room with history
//! passes, so that "stored", "numbered" and "delivered" happen in one order.
//!
//! A publish is appended to the room's stream (in batches: whatever is waiting when the
//! thread wakes goes in one store transaction), gets its offset, is delivered to the room's
//! members, and only then is its publisher told it was accepted — so an acknowledged
//! message is always recoverable, and nobody ever sees a message the store lost.
//!
//! A join to such a room takes the publisher's *gate*, the lock the thread holds from a
//! batch's append to its last delivery: under it the missed messages (for a recovering
//! client) are read and queued to the joiner, the joiner becomes a member, and the room's
//! position is read — no publish can fall in between, so the replay has no gap and no
//! duplicate, and every later message reaches the joiner live. The join itself runs on the
//! joiner's own task, in order with its other commands (a join then an emit works as
//! written); it waits at most for one batch to be stored.
//!
//! Fan-out from this thread is the hub's usual non-blocking push; the store call is the
//! only thing that blocks here, and it is amortised over the batch. Retention is applied
//! here too, every [`TRIM_EVERY`].

use std::collections::HashMap;
use std::sync::{mpsc, Arc};

use parking_lot::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::route::{Audience, Done, Receipt};
use crate::{
    Append, Broadcast, ConnId, Entry, Event, HistoryRules, HubError, Namespace, Outbound, Peer,
    PeerInfo, Retention, SessionWrite, Store, StoreError, StreamPos,
};

/// How often retention is applied.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);
/// Most operations taken in one wake-up (one store transaction at most this big).
const MAX_BATCH: usize = 1024;

/// The outcome of a join through the publisher.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The room's members, the joiner included.
    pub members: Vec<PeerInfo>,
    /// The room's stream position when the joiner became a member: it has (or was sent)
    /// everything up to here.
    pub pos: StreamPos,
    /// For a join that asked to recover: true if every missed message was replayed, false
    /// if that was impossible (another epoch, or messages beyond retention).
    pub recovered: bool,
    /// How many missed messages were replayed.
    pub replayed: usize,
}

type SessionDone = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One room of a connection being restored ([`Publisher::restore`]).
#[derive(Debug, Clone)]
pub struct RestoreRoom {
    /// The room.
    pub room: Arc<str>,
    /// For a room with history: its position when the connection first joined it. Every
    /// message of the room after it with a sequence number above the client's was missed.
    /// `None` for a room without history: it is only rejoined.
    pub since: Option<StreamPos>,
}

/// A restored connection ([`Publisher::restore`]).
#[derive(Debug, Clone)]
pub struct Restored {
    /// How many missed messages were replayed.
    pub replayed: usize,
}

enum Op {
    Publish {
        ns: Arc<Namespace>,
        room: Arc<str>,
        event: Event,
        except: Option<ConnId>,
        from: Option<Arc<Peer>>,
        done: Option<Done>,
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
}

/// The key recovery offsets are signed with, once recovery is on
/// ([`Publisher::set_offset_key`]): SipHash-2-4's two 64-bit keys.
type OffsetKey = Arc<std::sync::OnceLock<(u64, u64)>>;

/// The handle on the publisher thread. Cheap to share (`Arc`); the thread ends when the
/// last handle is dropped.
pub struct Publisher {
    tx: mpsc::Sender<Op>,
    store: Arc<dyn Store>,
    rules: HistoryRules,
    gate: Arc<Mutex<()>>,
    offset_key: OffsetKey,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("store", &self.store)
            .field("rules", &self.rules)
            .field("recovery_offsets", &self.offset_key.get().is_some())
            .finish_non_exhaustive()
    }
}

/// The recovery offset of the message with sequence number `seq`: `"<seq>-<tag>"`, the tag
/// SipHash-2-4 of the sequence number under the server's 128-bit key — a pseudorandom
/// function made for short inputs, so a tag cannot be computed without the key, at about
/// a tenth of an HMAC-SHA256's cost (this runs for every stored message).
fn signed_offset(key: &(u64, u64), seq: u64) -> Arc<str> {
    use std::hash::Hasher;
    let mut hasher = siphasher::sip::SipHasher24::new_with_keys(key.0, key.1);
    hasher.write(&seq.to_be_bytes());
    Arc::from(format!("{seq}-{:016x}", hasher.finish()))
}

/// Sets an event's recovery offset, if recovery offsets are on.
fn stamp(key: &OffsetKey, event: &mut Event) {
    if let (Some(key), true) = (key.get(), event.seq > 0) {
        event.offset = Some(signed_offset(key, event.seq));
    }
}

impl Publisher {
    /// Starts the publisher thread over `store`, keeping history as `rules` say.
    pub fn start(store: Arc<dyn Store>, rules: HistoryRules) -> Arc<Self> {
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new(Mutex::new(()));
        let offset_key = OffsetKey::default();
        let worker = Worker {
            offset_key: offset_key.clone(),
            store: store.clone(),
            rules: rules.clone(),
            epochs: HashMap::new(),
            gate: gate.clone(),
        };
        std::thread::Builder::new()
            .name("chorus-publisher".into())
            .spawn(move || worker.run(rx))
            .expect("spawning the publisher thread");
        Arc::new(Self {
            tx,
            store,
            rules,
            gate,
            offset_key,
        })
    }

    /// Turns recovery offsets on: from now on every stored message carries the offset a
    /// Socket.IO client with connection-state recovery gets (as its last argument) and
    /// sends back, signed with `key` so that no other string — an application's own last
    /// argument, or one a client made up — passes for one. The key should outlive restarts
    /// as the sessions do (the server keeps it in the store). Set once; later calls are
    /// ignored.
    pub fn set_offset_key(&self, key: [u8; 16]) {
        let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
        let _ = self.offset_key.set((k0, k1));
    }

    /// The recovery offset of the stored message with sequence number `seq` (what it
    /// carries as [`Event::offset`]); `None` while recovery offsets are off.
    pub fn recovery_offset(&self, seq: u64) -> Option<Arc<str>> {
        self.offset_key.get().map(|key| signed_offset(key, seq))
    }

    /// The sequence number a recovery offset stands for, if it is one this server signed.
    pub fn verify_recovery_offset(&self, offset: &str) -> Option<u64> {
        let key = self.offset_key.get()?;
        let (seq, _) = offset.split_once('-')?;
        if seq.is_empty() || seq.len() > 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq: u64 = seq.parse().ok()?;
        let expected = signed_offset(key, seq);
        // Equal length and content, compared in constant time.
        let same = expected.len() == offset.len()
            && expected
                .bytes()
                .zip(offset.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then_some(seq)
    }

    /// The store behind it.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// How long `room` of namespace `ns` keeps messages; `None` if it keeps none.
    pub fn retention(&self, room: &str) -> Option<Retention> {
        self.rules.retention(room)
    }

    /// Publishes `event` to `room` (members but `except`): stored, numbered, delivered,
    /// then `done` is called — on the publisher thread, so it must not block. `from`'s
    /// other messages wait behind it ([`Publisher::in_order`]). Called by the route
    /// (`crate::route`), which decided the room keeps history.
    pub(crate) fn publish(
        &self,
        ns: Arc<Namespace>,
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
            ns,
            room,
            event,
            except,
            from,
            done,
        };
        if let Err(mpsc::SendError(Op::Publish { from, done, .. })) = self.tx.send(op) {
            if let Some(from) = from {
                from.mailbox().release();
            }
            if let Some(done) = done {
                done(Err(StoreError::Stopped.into()));
            }
        }
    }

    /// Runs `deliver` on the publisher thread once `sender`'s publishes in flight are
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
        if let Err(mpsc::SendError(Op::Run { sender, run })) = self.tx.send(op) {
            sender.mailbox().release();
            run();
        }
    }

    /// Joins `peer` to `room` in order with the room's publishes: first the messages after
    /// `since` (at most `limit`) are queued to it, then it becomes a member, and the room's
    /// position then is returned. Blocks for at most one batch's store commit, and for the
    /// store read of the missed messages.
    pub fn join(
        &self,
        ns: &Arc<Namespace>,
        peer: &Arc<Peer>,
        room: &Arc<str>,
        since: Option<StreamPos>,
        limit: usize,
    ) -> Result<Joined, HubError> {
        self.join_replaying(ns, peer, room, |store, stream| match since {
            None => Ok((store.position(stream)?, Vec::new(), false)),
            Some(since) => {
                let page = store.read_after(stream, Some(&since.epoch), since.offset, limit)?;
                let complete = !page.truncated
                    && page.entries.last().map_or(since.offset, |e| e.offset) == page.pos.offset;
                Ok((page.pos, page.entries, complete))
            }
        })
    }

    /// Joins `peer` to `room` like [`Publisher::join`], first queuing it the room's last
    /// `n` messages (a raw room's replay for a client that has no offset to recover from).
    pub fn join_last(
        &self,
        ns: &Arc<Namespace>,
        peer: &Arc<Peer>,
        room: &Arc<str>,
        n: usize,
    ) -> Result<Joined, HubError> {
        self.join_replaying(ns, peer, room, |store, stream| {
            let page = store.read_last(stream, n)?;
            Ok((page.pos, page.entries, false))
        })
    }

    /// A join under the gate: `read` gives the room's position, what to replay, and
    /// whether that is everything the joiner missed.
    fn join_replaying(
        &self,
        ns: &Arc<Namespace>,
        peer: &Arc<Peer>,
        room: &Arc<str>,
        read: impl FnOnce(&dyn Store, &str) -> Result<(StreamPos, Vec<Entry>, bool), StoreError>,
    ) -> Result<Joined, HubError> {
        let stream: Arc<str> = Arc::from(stream_name(ns.name(), room));
        let _gate = self.gate.lock();
        let (pos, replay, recovered) = read(&*self.store, &stream)?;
        let members = ns.join(peer, room)?;
        let replayed = replay.len();
        for Entry { offset, seq, event } in replay {
            let mut event = Event::from_stored(
                ns.name().clone(),
                room.clone(),
                event,
                StreamPos {
                    epoch: pos.epoch.clone(),
                    offset,
                },
                seq,
            );
            stamp(&self.offset_key, &mut event);
            peer.push(Outbound::Shared(Broadcast::event(event)));
        }
        Ok(Joined {
            members,
            pos,
            recovered,
            replayed,
        })
    }
}

impl Publisher {
    /// Queues a change to the session records; it is written with the next batch (within
    /// milliseconds), then `done` is called on the publisher thread.
    pub fn write_session(&self, write: SessionWrite, done: Option<SessionDone>) {
        if let Err(mpsc::SendError(Op::Session {
            done: Some(done), ..
        })) = self.tx.send(Op::Session { write, done })
        {
            done(Err(StoreError::Stopped));
        }
    }

    /// Restores a connection that was away: every message it missed in its rooms with
    /// history — those after the room's `since` whose sequence number is above `after_seq`,
    /// the last one the client says it received — is queued to `peer` in the order they
    /// were published (by sequence number, across rooms), leaving out what `peer` was left
    /// out of when it was published (its own `to(room)` emits), and `peer` rejoins every room, all under the gate: no publish falls in
    /// between, so the replay has no gap and no duplicate and what follows arrives live.
    ///
    /// `ready` runs under the gate once everything missed is known to be available, before
    /// anything is queued (the protocol's "you are back" goes first). If a room cannot be
    /// recovered — another epoch, messages gone by retention — or more than `max_replay`
    /// messages were missed over all rooms, nothing is queued or joined and `None` is
    /// returned: the caller starts the client afresh.
    pub fn restore(
        &self,
        ns: &Arc<Namespace>,
        peer: &Arc<Peer>,
        rooms: &[RestoreRoom],
        after_seq: u64,
        max_replay: usize,
        ready: impl FnOnce(),
    ) -> Result<Option<Restored>, HubError> {
        let store_err = HubError::Store;
        let _gate = self.gate.lock();
        let mut missed = Vec::new();
        for RestoreRoom { room, since } in rooms {
            let Some(since) = since else { continue };
            let stream = stream_name(ns.name(), room);
            let limit = max_replay - missed.len();
            let page = self
                .store
                .read_after_seq(
                    &stream,
                    &since.epoch,
                    since.offset,
                    after_seq,
                    limit.saturating_add(1),
                )
                .map_err(store_err)?;
            if page.truncated || page.entries.len() > limit {
                return Ok(None);
            }
            for entry in page.entries {
                missed.push((room.clone(), page.pos.epoch.clone(), entry));
            }
        }
        ready();
        for RestoreRoom { room, .. } in rooms {
            ns.join(peer, room)?;
        }
        // What the restored connection was left out of then, it is left out of now.
        let me = peer.id().to_string();
        missed.retain(|(_, _, entry)| entry.event.except.as_deref() != Some(me.as_str()));
        missed.sort_by_key(|(_, _, entry)| entry.seq);
        let replayed = missed.len();
        for (room, epoch, Entry { offset, seq, event }) in missed {
            let pos = StreamPos { epoch, offset };
            let mut event = Event::from_stored(ns.name().clone(), room, event, pos, seq);
            stamp(&self.offset_key, &mut event);
            peer.push(Outbound::Shared(Broadcast::event(event)));
        }
        Ok(Some(Restored { replayed }))
    }
}

/// A room's stream name in the store: namespace and room, joined by the ASCII unit
/// separator (which no sensible namespace name contains).
pub fn stream_name(ns: &str, room: &str) -> String {
    let mut name = String::with_capacity(ns.len() + 1 + room.len());
    name.push_str(ns);
    name.push('\u{1f}');
    name.push_str(room);
    name
}

/// The room part of a stream name.
fn room_of(stream: &str) -> &str {
    stream.split_once('\u{1f}').map_or(stream, |(_, room)| room)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

struct Pending {
    ns: Arc<Namespace>,
    room: Arc<str>,
    stream: Arc<str>,
    event: Event,
    except: Option<ConnId>,
    from: Option<Arc<Peer>>,
    done: Option<Done>,
}

struct Worker {
    offset_key: OffsetKey,
    store: Arc<dyn Store>,
    rules: HistoryRules,
    /// Epochs of the streams of the batch being delivered (cleared after each batch).
    epochs: HashMap<Arc<str>, Arc<str>>,
    gate: Arc<Mutex<()>>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Op>) {
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
            while let Some(op) = next.take() {
                taken += 1;
                match op {
                    Op::Publish {
                        ns,
                        room,
                        event,
                        except,
                        from,
                        done,
                    } => {
                        let stream = Arc::from(stream_name(ns.name(), &room));
                        pending.push(Pending {
                            ns,
                            room,
                            stream,
                            event,
                            except,
                            from,
                            done,
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
                }
                if taken < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            // Session records first: a socket's rooms are on record before the messages
            // that follow its joins are acknowledged.
            self.write_sessions(sessions);
            self.flush(&mut pending);
            if last_trim.elapsed() >= TRIM_EVERY {
                last_trim = Instant::now();
                let rules = &self.rules;
                let keep = |stream: &str| rules.retention(room_of(stream)).unwrap_or_default();
                if let Err(err) = self.store.trim(now_ms(), &keep) {
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
        let epoch = self.store.position(stream)?.epoch;
        self.epochs.insert(stream.clone(), epoch.clone());
        Ok(epoch)
    }

    /// Writes the session-record changes of a wake-up in one call.
    fn write_sessions(&self, sessions: Vec<(SessionWrite, Option<SessionDone>)>) {
        if sessions.is_empty() {
            return;
        }
        let (writes, dones): (Vec<_>, Vec<_>) = sessions.into_iter().unzip();
        let result = self.store.write_sessions(&writes);
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
        // Joins wait while a batch is between "stored" and "delivered".
        let gate = self.gate.clone();
        let _gate = gate.lock();
        let time_ms = now_ms();
        let batch: Vec<Append> = pending
            .iter()
            .map(|p| Append {
                stream: p.stream.clone(),
                event: p.event.to_stored(time_ms, p.except),
            })
            .collect();
        let stored = self.store.append_batch(&batch);
        let sent = batch.len();
        for (i, p) in pending.drain(..).enumerate() {
            let result = match &stored {
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
            };
            let result = result.map(|(pos, seq)| {
                let mut event = p.event;
                event.pos = Some(pos.clone());
                event.seq = seq;
                stamp(&self.offset_key, &mut event);
                let delivered = p.ns.deliver(
                    &Audience::Rooms(vec![p.room.clone()]),
                    &[],
                    p.except,
                    Outbound::Shared(Broadcast::event(event)),
                    false,
                );
                Receipt {
                    delivered,
                    pos: Some(pos),
                }
            });
            if let Err(err) = &result {
                tracing::error!(%err, room = %p.room, "history store failed; message not delivered");
            }
            if let Some(done) = p.done {
                done(result.map_err(HubError::Store));
            }
            if let Some(from) = &p.from {
                from.mailbox().release();
            }
        }
        self.epochs.clear();
    }
}

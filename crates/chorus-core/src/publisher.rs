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

use crate::{
    Append, Broadcast, ConnId, Entry, Event, HistoryRules, HubError, Namespace, Outbound, Peer,
    PeerInfo, Retention, Store, StoreError, StreamPos, Target,
};

/// How often retention is applied.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);
/// Most operations taken in one wake-up (one store transaction at most this big).
const MAX_BATCH: usize = 1024;

/// What a publisher is told once its message is stored and delivered.
#[derive(Debug, Clone)]
pub struct Published {
    /// The message's place in its room's stream.
    pub pos: StreamPos,
    /// How many connections it was queued for.
    pub delivered: usize,
}

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

type PublishDone = Box<dyn FnOnce(Result<Published, StoreError>) + Send>;

enum Op {
    Publish {
        ns: Arc<Namespace>,
        room: Arc<str>,
        event: Event,
        except: Option<ConnId>,
        done: Option<PublishDone>,
    },
    /// A delivery that must not overtake its sender's publishes still in flight.
    Run {
        sender: ConnId,
        run: Box<dyn FnOnce() + Send>,
    },
}

/// How many operations each sender has on the publisher's queue. A sender with some in
/// flight sends everything else through the queue too, so its messages keep their order
/// whatever their targets (a history room, everyone, one connection).
type InFlight = Arc<Mutex<HashMap<ConnId, usize>>>;

fn settle(in_flight: &InFlight, sender: ConnId) {
    let mut map = in_flight.lock();
    if let Some(n) = map.get_mut(&sender) {
        *n -= 1;
        if *n == 0 {
            map.remove(&sender);
        }
    }
}

/// The handle on the publisher thread. Cheap to share (`Arc`); the thread ends when the
/// last handle is dropped.
#[derive(Debug)]
pub struct Publisher {
    tx: mpsc::Sender<Op>,
    store: Arc<dyn Store>,
    rules: HistoryRules,
    gate: Arc<Mutex<()>>,
    in_flight: InFlight,
}

impl Publisher {
    /// Starts the publisher thread over `store`, keeping history as `rules` say.
    pub fn start(store: Arc<dyn Store>, rules: HistoryRules) -> Arc<Self> {
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new(Mutex::new(()));
        let in_flight = InFlight::default();
        let worker = Worker {
            store: store.clone(),
            rules: rules.clone(),
            epochs: HashMap::new(),
            gate: gate.clone(),
            in_flight: in_flight.clone(),
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
            in_flight,
        })
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
    /// then `done` is called — on the publisher thread, so it must not block.
    pub fn publish(
        &self,
        ns: Arc<Namespace>,
        room: Arc<str>,
        event: Event,
        except: Option<ConnId>,
        done: Option<PublishDone>,
    ) {
        if let Some(from) = &event.from {
            *self.in_flight.lock().entry(from.id).or_default() += 1;
        }
        let op = Op::Publish {
            ns,
            room,
            event,
            except,
            done,
        };
        if let Err(mpsc::SendError(Op::Publish {
            done: Some(done), ..
        })) = self.tx.send(op)
        {
            done(Err(StoreError::Backend("the publisher has stopped".into())));
        }
    }

    /// Runs `deliver` now and returns its result, or — if `sender` still has publishes in
    /// flight — runs it on the publisher thread once they are delivered (and returns
    /// `None`), so the sender's messages keep their order. `deliver` must not block.
    pub fn in_order<R: Send + 'static>(
        &self,
        sender: ConnId,
        deliver: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        {
            let mut map = self.in_flight.lock();
            match map.get_mut(&sender) {
                None => {
                    drop(map);
                    return Some(deliver());
                }
                Some(n) => *n += 1,
            }
        }
        let op = Op::Run {
            sender,
            run: Box::new(move || {
                deliver();
            }),
        };
        if let Err(mpsc::SendError(Op::Run { run, .. })) = self.tx.send(op) {
            settle(&self.in_flight, sender);
            run();
        }
        None
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
        let stream: Arc<str> = Arc::from(stream_name(ns.name(), room));
        let store_err = |err: StoreError| HubError::Store(err.to_string());
        let _gate = self.gate.lock();
        let (pos, replay, recovered) = match since {
            None => (
                self.store.position(&stream).map_err(store_err)?,
                Vec::new(),
                false,
            ),
            Some(since) => {
                let page = self
                    .store
                    .read_after(&stream, Some(&since.epoch), since.offset, limit)
                    .map_err(store_err)?;
                let complete = !page.truncated
                    && page.entries.last().map_or(since.offset, |e| e.offset) == page.pos.offset;
                (page.pos, page.entries, complete)
            }
        };
        let members = ns.join(peer, room)?;
        let replayed = replay.len();
        for Entry { offset, event, .. } in replay {
            let event = Event::from_stored(
                ns.name().clone(),
                room.clone(),
                event,
                StreamPos {
                    epoch: pos.epoch.clone(),
                    offset,
                },
            );
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
    done: Option<PublishDone>,
}

struct Worker {
    store: Arc<dyn Store>,
    rules: HistoryRules,
    /// Epochs of the streams of the batch being delivered (cleared after each batch).
    epochs: HashMap<Arc<str>, Arc<str>>,
    gate: Arc<Mutex<()>>,
    in_flight: InFlight,
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
                        done,
                    } => {
                        let stream = Arc::from(stream_name(ns.name(), &room));
                        pending.push(Pending {
                            ns,
                            room,
                            stream,
                            event,
                            except,
                            done,
                        });
                    }
                    Op::Run { sender, run } => {
                        // Everything the sender published before is delivered first.
                        self.flush(&mut pending);
                        run();
                        settle(&self.in_flight, sender);
                    }
                }
                if taken < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
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
                event: p.event.to_stored(time_ms),
            })
            .collect();
        let stored = self.store.append_batch(&batch);
        for (i, p) in pending.drain(..).enumerate() {
            let sender = p.event.from.as_ref().map(|f| f.id);
            let result = match &stored {
                Ok(stamps) => match (stamps.get(i), self.epoch(&p.stream)) {
                    (Some(stamp), Ok(epoch)) => Ok(StreamPos {
                        epoch,
                        offset: stamp.offset,
                    }),
                    (None, _) => Err(StoreError::Backend("store returned too few offsets".into())),
                    (_, Err(err)) => Err(err),
                },
                Err(err) => Err(err.clone()),
            };
            let result = result.map(|pos| {
                let mut event = p.event;
                event.pos = Some(pos.clone());
                let delivered = p.ns.broadcast(
                    Target::Room {
                        room: &p.room,
                        except: p.except,
                    },
                    Outbound::Shared(Broadcast::event(event)),
                    false,
                );
                Published { pos, delivered }
            });
            if let Err(err) = &result {
                tracing::error!(%err, room = %p.room, "history store failed; message not delivered");
            }
            if let Some(done) = p.done {
                done(result);
            }
            if let Some(from) = &sender {
                settle(&self.in_flight, *from);
            }
        }
        self.epochs.clear();
    }
}

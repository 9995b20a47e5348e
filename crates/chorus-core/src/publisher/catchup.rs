//! Joins that need the store, done off every connection's task: a join ordered with its
//! room's stream (after a replay of what the joiner missed, or of the room's last
//! messages), a restored connection's rooms, and the position a live join started at.
//!
//! Each is read on the reader thread with no lock held, then finished under the gate if the
//! read is exact: the room's last delivered position is known and the read is not behind
//! it, or nothing of the room was delivered or is in flight (see
//! [`super::streams::Stream::settled`]). If not — a batch of the room is in flight, or was
//! delivered past what was read — the work goes to the writer thread, which reads again
//! between batches, when nothing can be in flight, and finishes it exactly. Either way the
//! joiner is made a member under the gate, after its replay is queued: no delivery falls in
//! between, so the replay has no gap and no duplicate, and what follows arrives live.

use std::sync::Arc;

use parking_lot::Mutex;

use super::join::{At, JoinDone, Joined, Replay, RestoreDone, RestoreRoom, Restored};
use super::offsets::OffsetKey;
use super::rooms::Rooms;
use super::stream::stream_name;
use super::streams::{Streams, Waiter};
use crate::{Broadcast, Entry, Event, HubError, Outbound, Page, Peer, Store, StreamPos};

/// What the reader and the writer share to do the work.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) store: Arc<dyn Store>,
    pub(super) streams: Arc<Mutex<Streams>>,
    pub(super) key: OffsetKey,
}

/// Work that needs the store.
pub(super) enum Work {
    Join(Join),
    Restore(Restore),
    /// Tell the live joins waiting on this stream where they started.
    Position(Arc<str>),
}

/// A join ordered with its room's stream.
pub(super) struct Join {
    pub(super) rooms: Arc<dyn Rooms>,
    pub(super) peer: Arc<Peer>,
    pub(super) room: Arc<str>,
    pub(super) replay: Replay,
    /// Whether the joiner wants the member list.
    pub(super) members: bool,
    pub(super) done: JoinDone,
}

/// A connection restored in its rooms (see [`super::Publisher::restore`]).
pub(super) struct Restore {
    pub(super) rooms: Arc<dyn Rooms>,
    pub(super) peer: Arc<Peer>,
    pub(super) list: Vec<RestoreRoom>,
    pub(super) after_seq: u64,
    pub(super) max_replay: usize,
    pub(super) ready: Box<dyn FnOnce() + Send>,
    pub(super) done: RestoreDone,
}

/// What is left to do once the gate is released: tell whoever asked.
type Tell = Box<dyn FnOnce() + Send>;

impl Work {
    /// Reads the store, and finishes the work if the read is exact — always when `exact`
    /// (the writer, between batches). Returns the work if the writer must do it.
    pub(super) fn run(self, shared: &Shared, exact: bool) -> Option<Work> {
        let outcome = match self {
            Work::Join(join) => join.run(shared, exact).map_err(Work::Join),
            Work::Restore(restore) => restore.run(shared, exact).map_err(Work::Restore),
            Work::Position(stream) => Ok(position(shared, &stream, exact)),
        };
        match outcome {
            Ok(tell) => {
                tell();
                None
            }
            Err(work) => Some(work),
        }
    }
}

impl Join {
    fn run(self, shared: &Shared, exact: bool) -> Result<Tell, Join> {
        let stream: Arc<str> = Arc::from(stream_name(self.rooms.name(), &self.room));
        let store = &shared.store;
        let read = match &self.replay {
            Replay::None => store.position(&stream).map(|pos| Page {
                pos,
                entries: Vec::new(),
                truncated: false,
            }),
            Replay::After { since, limit } => {
                store.read_after(&stream, Some(&since.epoch), since.offset, *limit)
            }
            Replay::Last(n) => store.read_last(&stream, *n),
        };
        let page = match read {
            Ok(page) => page,
            Err(err) => {
                let Join {
                    rooms,
                    peer,
                    room,
                    done,
                    ..
                } = self;
                return Ok(Box::new(move || {
                    rooms.cancel(&peer, &room);
                    done(Err(err.into()));
                }));
            }
        };
        let mut streams = shared.streams.lock();
        let state = streams.entry(&stream);
        let at = if exact {
            page.pos.clone()
        } else {
            match state.settled(&page.pos) {
                Some(at) => at,
                None => return Err(self),
            }
        };
        let Join {
            rooms,
            peer,
            room,
            replay,
            members,
            done,
        } = self;
        let Some(members) = rooms.admit(&peer, &room, members) else {
            drop(streams);
            return Ok(Box::new(move || {
                done(Err(HubError::NotInRoom(room.to_string())))
            }));
        };
        // Delivered up to `at`: what the page has beyond it is still on its way, live.
        let missed: Vec<Entry> = page
            .entries
            .into_iter()
            .filter(|entry| entry.offset <= at.offset)
            .collect();
        let recovered = match &replay {
            Replay::After { since, .. } => {
                let last = missed.last().map_or(since.offset, |entry| entry.offset);
                !page.truncated && since.epoch == at.epoch && last == at.offset
            }
            Replay::None | Replay::Last(_) => false,
        };
        let replayed = missed.len();
        for Entry { offset, seq, event } in missed {
            let pos = StreamPos {
                epoch: at.epoch.clone(),
                offset,
            };
            let mut event = Event::from_stored(rooms.name().clone(), room.clone(), event, pos, seq);
            shared.key.stamp(&mut event);
            peer.push(Outbound::Shared(Broadcast::event(event)));
        }
        if exact || state.delivered.is_none() {
            state.delivered = Some(at.clone());
        }
        drop(streams);
        Ok(Box::new(move || {
            done(Ok(Joined {
                members,
                pos: Some(at),
                recovered,
                replayed,
            }))
        }))
    }
}

impl Restore {
    fn run(self, shared: &Shared, exact: bool) -> Result<Tell, Restore> {
        // The rooms with history, each read after its join position: what the client has
        // not seen (a sequence number above the last it got).
        let mut pages = Vec::new();
        for RestoreRoom { room, since } in &self.list {
            let Some(since) = since else { continue };
            let stream: Arc<str> = Arc::from(stream_name(self.rooms.name(), room));
            let limit = self.max_replay.saturating_add(1);
            let read = shared.store.read_after_seq(
                &stream,
                &since.epoch,
                since.offset,
                self.after_seq,
                limit,
            );
            match read {
                Ok(page) => pages.push((room.clone(), stream, page)),
                Err(err) => {
                    let done = self.done;
                    return Ok(Box::new(move || done(Err(err.into()))));
                }
            }
        }
        let mut streams = shared.streams.lock();
        let mut settled = Vec::with_capacity(pages.len());
        for (_, stream, page) in &pages {
            let state = streams.entry(stream);
            let at = if exact {
                Some(page.pos.clone())
            } else {
                state.settled(&page.pos)
            };
            match at {
                Some(at) => settled.push(at),
                None => return Err(self),
            }
        }
        let Restore {
            rooms,
            peer,
            list,
            max_replay,
            ready,
            done,
            ..
        } = self;
        let mut missed = Vec::new();
        for ((room, _, page), at) in pages.into_iter().zip(&settled) {
            if page.truncated {
                return Ok(Box::new(move || done(Ok(None))));
            }
            for entry in page.entries {
                if entry.offset <= at.offset {
                    missed.push((room.clone(), at.epoch.clone(), entry));
                }
            }
        }
        if missed.len() > max_replay {
            return Ok(Box::new(move || done(Ok(None))));
        }
        // The protocol's "you are back" goes first, then the rooms, then what was missed.
        ready();
        for RestoreRoom { room, .. } in &list {
            if let Err(err) = rooms.join(&peer, room, false) {
                return Ok(Box::new(move || done(Err(err))));
            }
        }
        // What the restored connection was left out of then, it is left out of now.
        let me = peer.id().to_string();
        missed.retain(|(_, _, entry)| entry.event.except.as_deref() != Some(me.as_str()));
        missed.sort_by_key(|(_, _, entry)| entry.seq);
        let replayed = missed.len();
        for (room, epoch, Entry { offset, seq, event }) in missed {
            let pos = StreamPos { epoch, offset };
            let mut event = Event::from_stored(rooms.name().clone(), room, event, pos, seq);
            shared.key.stamp(&mut event);
            peer.push(Outbound::Shared(Broadcast::event(event)));
        }
        for (RestoreRoom { room, since }, at) in
            list.iter().filter(|r| r.since.is_some()).zip(settled)
        {
            let _ = since;
            let stream: Arc<str> = Arc::from(stream_name(rooms.name(), room));
            let state = streams.entry(&stream);
            if exact || state.delivered.is_none() {
                state.delivered = Some(at);
            }
        }
        drop(streams);
        Ok(Box::new(move || done(Ok(Some(Restored { replayed })))))
    }
}

/// Tells the live joins waiting on `stream` where they started, from the store's position:
/// those that joined with nothing of the stream in flight and no batch begun since (all of
/// them, on the writer). The others hear it from the next delivery; if none can come (the
/// batches in flight when they joined failed), they are asked again.
fn position(shared: &Shared, stream: &Arc<str>, exact: bool) -> Tell {
    let read = shared.store.position(stream);
    let mut streams = shared.streams.lock();
    let Some(state) = streams.get_mut(stream) else {
        return Box::new(|| {});
    };
    let mut told: Vec<(At, Result<StreamPos, HubError>)> = Vec::new();
    match read {
        Ok(pos) => {
            let waiters = std::mem::take(&mut state.waiters);
            for waiter in waiters {
                if exact || (waiter.clean && waiter.marks == state.marks) {
                    told.push((waiter.at, Ok(pos.clone())));
                } else {
                    state.waiters.push(waiter);
                }
            }
            if !told.is_empty() && state.delivered.is_none() && state.inflight == 0 {
                state.delivered = Some(pos);
            }
        }
        Err(err) => {
            for waiter in state.waiters.drain(..) {
                told.push((waiter.at, Err(err.clone().into())));
            }
        }
    }
    let again = !state.waiters.is_empty() && state.inflight == 0;
    if again {
        let marks = state.marks;
        for waiter in &mut state.waiters {
            *waiter = Waiter {
                clean: true,
                marks,
                at: std::mem::replace(&mut waiter.at, Box::new(|_| {})),
            };
        }
    }
    drop(streams);
    let shared = shared.clone();
    let stream = stream.clone();
    Box::new(move || {
        for (at, pos) in told {
            at(pos);
        }
        if again {
            // Nothing in flight any more: a fresh read is exact for them (unless a batch
            // begins meanwhile, whose delivery then tells them).
            position(&shared, &stream, false)();
        }
    })
}

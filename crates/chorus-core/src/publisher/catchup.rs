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

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::arrivals::{self, ArrivalStats, Next, Tells, FILL_PAGE};
use super::join::{At, JoinDone, Joined, Replay, RestoreDone, RestoreRoom, Restored};
use super::offsets::OffsetKey;
use super::rooms::Rooms;
use super::stream::stream_name;
use super::streams::{Streams, Waiter};
use crate::{
    Broadcast, Entry, Event, HubError, Outbound, Page, Peer, Store, StoreError, StreamPos,
};

/// What the reader and the writer share to do the work.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) store: Arc<dyn Store>,
    pub(super) streams: Arc<Mutex<Streams>>,
    pub(super) key: OffsetKey,
    /// The store announces its appends to every node (a cluster's shared store): stored
    /// messages are delivered when they arrive ([`super::arrivals`]).
    pub(super) announces: bool,
    pub(super) arrivals: Arc<ArrivalStats>,
    /// How long appends and deliveries take.
    pub(super) stats: Arc<super::PublisherStats>,
    /// On a cluster: work waiting for a stream's position to come through the broker (a
    /// marker), by stream. Only touched under the gate.
    pub(super) parked: Arc<Mutex<HashMap<Arc<str>, Vec<Work>>>>,
    /// On a cluster: the node, told of each stored message this node appended, so that its
    /// own deliveries wait for the message's notice (see [`crate::Cluster::expect`]).
    pub(super) cluster: Arc<std::sync::OnceLock<std::sync::Weak<crate::Cluster>>>,
}

/// Work that needs the store.
pub(super) enum Work {
    Join(Join),
    Restore(Restore),
    /// Tell the live joins waiting on this stream where they started.
    Position(Arc<str>),
    /// Read what a node of a cluster missed of a stream after a position, and deliver it.
    Fill(Arc<str>, StreamPos, u64),
    /// Compare every stream delivered here with the store (the broker's link is back).
    Resync,
    /// Ask the store to publish a stream's position in order with its messages.
    Mark(Arc<str>),
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
    /// On a cluster: how many times it waited for this node to catch up (see [`lagging`]).
    pub(super) waits: u8,
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
    /// On a cluster: how many times it waited for this node to catch up (see [`lagging`]).
    pub(super) waits: u8,
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
            Work::Fill(stream, after, round) => Ok(fill(shared, &stream, after, round)),
            Work::Resync => Ok(resync(shared)),
            Work::Mark(stream) => Ok(mark(shared, &stream)),
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
    fn run(mut self, shared: &Shared, exact: bool) -> Result<Tell, Join> {
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
        if shared.announces && !knows(state, &page.pos) {
            // Where the stream stands here is not known (or the store's epoch moved on): a
            // read may be ahead of messages still on their way. It is asked of the broker,
            // in order with them.
            state.delivered = None;
            return Ok(park(shared, state, &stream, Work::Join(self)));
        }
        let Some(at) = state.settle(&page.pos, exact, shared.announces) else {
            return Err(self);
        };
        if let Replay::After { since, .. } = &self.replay {
            // What the client saw, as far as the store has it (a position beyond the
            // store's end is the client's mistake, not messages on their way).
            let seen = since.offset.min(page.pos.offset);
            if shared.announces && self.waits < MAX_WAITS && lagging(&at, since, seen) {
                self.waits += 1;
                return Ok(park(shared, state, &stream, Work::Join(self)));
            }
        }
        state.home_in(&self.rooms, &self.room);
        let Join {
            rooms,
            peer,
            room,
            replay,
            members,
            done,
            ..
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
    fn run(mut self, shared: &Shared, exact: bool) -> Result<Tell, Restore> {
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
            if shared.announces && !knows(state, &page.pos) {
                state.delivered = None;
                let stream = stream.clone();
                return Ok(park(shared, state, &stream, Work::Restore(self)));
            }
            let Some(at) = state.settle(&page.pos, exact, shared.announces) else {
                return Err(self);
            };
            // The client saw every message of the room before the first one the read
            // found (those have higher sequence numbers), or all of them if it found none.
            let seen = page
                .entries
                .first()
                .map_or(page.pos.offset, |entry| entry.offset.saturating_sub(1));
            if shared.announces && self.waits < MAX_WAITS && lagging(&at, &page.pos, seen) {
                self.waits += 1;
                let stream = stream.clone();
                return Ok(park(shared, state, &stream, Work::Restore(self)));
            }
            settled.push(at);
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
            state.home_in(&rooms, room);
            if exact || state.delivered.is_none() {
                state.delivered = Some(at);
            }
        }
        drop(streams);
        Ok(Box::new(move || done(Ok(Some(Restored { replayed })))))
    }
}

impl Work {
    /// Gives up: whoever waits hears `err`.
    fn fail(self, err: HubError) {
        match self {
            Work::Join(join) => {
                join.rooms.cancel(&join.peer, &join.room);
                (join.done)(Err(err));
            }
            Work::Restore(restore) => (restore.done)(Err(err)),
            Work::Position(_) | Work::Fill(..) | Work::Resync | Work::Mark(_) => {}
        }
    }
}

/// Most times a join or restore waits for this node to catch up with the broker.
const MAX_WAITS: u8 = 8;

/// On a cluster: whether a client that saw a stream up to offset `seen` (in `of`'s epoch)
/// on another node is ahead of what this node has delivered (`at`) — this node lags behind
/// the broker by the messages on their way to it. Finishing now would replay nothing of
/// them and send them live again: the client would get them twice and be told it did not
/// recover. The work waits for the stream's position through the broker, behind those
/// messages — again if the position that came was one another node asked for earlier (it
/// is broadcast), at most [`MAX_WAITS`] times; then it finishes as it can.
fn lagging(at: &StreamPos, of: &StreamPos, seen: u64) -> bool {
    at.epoch == of.epoch && seen > at.offset
}

/// On a cluster: whether this node knows where the stream stands, in the epoch a read
/// found it in.
fn knows(state: &super::streams::Stream, read: &StreamPos) -> bool {
    state
        .delivered
        .as_ref()
        .is_some_and(|delivered| delivered.epoch == read.epoch)
}

/// Parks `work` until `stream`'s position comes through the broker; the store is asked
/// for it unless it already was.
fn park(
    shared: &Shared,
    state: &mut super::streams::Stream,
    stream: &Arc<str>,
    work: Work,
) -> Tell {
    let cut_off = shared
        .cluster
        .get()
        .and_then(std::sync::Weak::upgrade)
        .is_some_and(|cluster| cluster.is_cut_off());
    if cut_off {
        // No marker can come while this node cannot hear the broker: say so now rather
        // than keep the joiner waiting until the link is back. (A node starting, whose link
        // is not up yet, parks the work: the marker is asked again once it is.)
        let err = StoreError::backend(std::io::Error::other(
            "this node has lost its link to the cluster's broker; try again",
        ));
        return Box::new(move || work.fail(err.into()));
    }
    shared
        .parked
        .lock()
        .entry(stream.clone())
        .or_default()
        .push(work);
    if std::mem::replace(&mut state.asked, true) {
        return Box::new(|| {});
    }
    let (shared, stream) = (shared.clone(), stream.clone());
    Box::new(move || mark(&shared, &stream)())
}

/// Asks the store to publish `stream`'s position in order with its messages (a marker,
/// which [`super::Publisher::marked`] hears). If it cannot, whoever waits for the position
/// hears why.
pub(super) fn mark(shared: &Shared, stream: &Arc<str>) -> Tell {
    let Err(err) = shared.store.mark(stream) else {
        return Box::new(|| {});
    };
    tracing::warn!(%err, "cluster: cannot ask the store where a stream stands");
    let mut streams = shared.streams.lock();
    let Some(state) = streams.get_mut(stream) else {
        return Box::new(|| {});
    };
    state.asked = false;
    let waiters: Vec<Waiter> = state.waiters.drain(..).collect();
    let parked = shared.parked.lock().remove(stream).unwrap_or_default();
    drop(streams);
    Box::new(move || {
        for waiter in waiters {
            (waiter.at)(Err(err.clone().into()));
        }
        for work in parked {
            work.fail(err.clone().into());
        }
    })
}

/// Tells the live joins waiting on `stream` where they started, from the store's position:
/// those that joined with nothing of the stream in flight and no batch begun since (all of
/// them, on the writer). The others hear it from the next delivery; if none can come (the
/// batches in flight when they joined failed), they are asked again.
fn position(shared: &Shared, stream: &Arc<str>, exact: bool) -> Tell {
    if shared.announces {
        // A read may be ahead of messages on their way: the broker tells, in order.
        let mut streams = shared.streams.lock();
        let Some(state) = streams.get_mut(stream) else {
            return Box::new(|| {});
        };
        if state.delivered.is_some() || std::mem::replace(&mut state.asked, true) {
            return Box::new(|| {});
        }
        drop(streams);
        return mark(shared, stream);
    }
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

/// Reads what this node missed of `stream` after `after`, page by page, and delivers it
/// with the notices that waited behind the gap (see [`super::arrivals`]).
fn fill(shared: &Shared, stream: &Arc<str>, mut after: StreamPos, round: u64) -> Tell {
    let mut tells: Tells = Vec::new();
    loop {
        // A read that fails is tried again a few times (the hiccup that dropped the link
        // may not be over); what it still cannot read is counted as lost.
        let mut read = None;
        for wait in [0, 100, 200, 400] {
            std::thread::sleep(std::time::Duration::from_millis(wait));
            match shared
                .store
                .read_after(stream, Some(&after.epoch), after.offset, FILL_PAGE)
            {
                Ok(page) => {
                    read = Some(page);
                    break;
                }
                Err(err) => tracing::warn!(%err, "cluster: reading missed messages failed"),
            }
        }
        let mut streams = shared.streams.lock();
        let state = streams.entry(stream);
        let next = arrivals::filled(
            &shared.key,
            &shared.arrivals,
            state,
            stream,
            (read, round),
            &mut tells,
        );
        drop(streams);
        match next {
            Next::Fill(next, _) => after = next,
            Next::Done => break,
        }
    }
    Box::new(move || {
        for tell in tells {
            tell();
        }
    })
}

/// Compares every stream delivered here with the store's position, and reads what was
/// appended meanwhile: the broker's link was down, its notices never came.
fn resync(shared: &Shared) -> Tell {
    let (known, asked) = {
        let streams = shared.streams.lock();
        (streams.delivering(), streams.asked())
    };
    let mut tells: Vec<Tell> = Vec::new();
    // A marker published while the link was down never came: ask again.
    for stream in asked {
        tells.push(mark(shared, &stream));
    }
    for (stream, delivered) in known {
        let pos = match shared.store.position(&stream) {
            Ok(pos) => pos,
            Err(err) => {
                tracing::warn!(%err, "cluster: cannot compare a stream with the store");
                continue;
            }
        };
        let mut streams = shared.streams.lock();
        let state = streams.entry(&stream);
        if state.waiting.filling || state.delivered.as_ref() != Some(&delivered) {
            // Something arrived meanwhile: it takes care of its own gap.
            continue;
        }
        if pos.epoch != delivered.epoch {
            // The store lost the stream: its next message starts it anew.
            state.delivered = None;
        } else if pos.offset > delivered.offset {
            state.waiting.filling = true;
            state.waiting.round += 1;
            let round = state.waiting.round;
            drop(streams);
            tells.push(fill(shared, &stream, delivered, round));
        }
    }
    Box::new(move || {
        for tell in tells {
            tell();
        }
    })
}

//! [`Streams`]: what the publisher knows of each room's stream, under the *gate* — the lock
//! every delivery of a stored message and every ordered join takes, and that nobody holds
//! across a store call.
//!
//! The writer thread marks a batch's streams before it appends (under the gate, briefly),
//! appends with no lock held, then delivers under the gate, recording each stream's last
//! delivered position. So under the gate, a stream's state says exactly what a join needs:
//! where its live messages will start (the last delivered position), or that it cannot be
//! told without the store — no delivery since the server started — in which case a store
//! read taken now is exact if no batch of the stream is in flight and none began since it
//! was asked for ([`Stream::inflight`], [`Stream::marks`]).

use std::collections::HashMap;
use std::sync::Arc;

use std::collections::BTreeMap;
use std::sync::Weak;

use super::join::At;
use super::rooms::Rooms;
use crate::cluster::Notice;
use crate::StreamPos;

/// Most streams whose positions are kept while idle; beyond it, the idle ones are
/// forgotten (their next join reads the store again).
const KEPT: usize = 16_384;

/// The gate's state: every stream the publisher has touched lately.
#[derive(Default)]
pub(super) struct Streams {
    map: HashMap<Arc<str>, Stream>,
}

/// One stream's state.
#[derive(Default)]
pub(super) struct Stream {
    /// The last position delivered (or known to be the store's, with nothing in flight).
    pub(super) delivered: Option<StreamPos>,
    /// Messages the writer has taken for a batch and not yet delivered (or failed).
    pub(super) inflight: u32,
    /// How many batches began appending to it (wrapping): a position read from the store
    /// is exact for a join only if none began in between.
    pub(super) marks: u32,
    /// Live joins waiting to hear the position they joined at.
    pub(super) waiters: Vec<Waiter>,
    /// On a cluster: where its announced messages are delivered on this node.
    pub(super) home: Option<Home>,
    /// On a cluster: announced messages waiting for the ones missed before them.
    pub(super) waiting: Waiting,
    /// On a cluster: the store was asked to publish the stream's position (a [marker]),
    /// and it has not come back yet.
    ///
    /// [marker]: crate::cluster::Marker
    pub(super) asked: bool,
}

/// Where a stream's messages are delivered on this node: its namespace and room.
#[derive(Clone)]
pub(super) struct Home {
    pub(super) rooms: Weak<dyn Rooms>,
    pub(super) room: Arc<str>,
}

impl Home {
    /// Whether the room has members on this node (its stream's position must be kept).
    pub(super) fn has_members(&self) -> bool {
        self.rooms
            .upgrade()
            .is_some_and(|rooms| rooms.has_members(&self.room))
    }
}

/// What a stream keeps while notices wait for a fill.
#[derive(Default)]
pub(super) struct Waiting {
    /// A fill is being read.
    pub(super) filling: bool,
    /// Which fill: a read that comes back after its fill was given up (the epoch changed
    /// meanwhile) is ignored.
    pub(super) round: u64,
    /// Notices past the gap, by offset.
    pub(super) early: BTreeMap<u64, Notice>,
}

/// A live join waiting for its position: the first delivery after it tells it (one less
/// than that message's offset), or a store read, if nothing was in flight when it joined
/// and no batch began since.
pub(super) struct Waiter {
    pub(super) clean: bool,
    pub(super) marks: u32,
    pub(super) at: At,
}

impl Streams {
    /// The state of `stream`, made on first use.
    pub(super) fn entry(&mut self, stream: &Arc<str>) -> &mut Stream {
        if !self.map.contains_key(stream) && self.map.len() >= KEPT {
            self.map.retain(|_, s| {
                s.inflight > 0
                    || !s.waiters.is_empty()
                    || s.waiting.filling
                    || s.asked
                    || s.home.as_ref().is_some_and(Home::has_members)
            });
        }
        self.map.entry(stream.clone()).or_default()
    }

    /// The streams whose position was asked of the store and has not come back.
    pub(super) fn asked(&self) -> Vec<Arc<str>> {
        self.map
            .iter()
            .filter(|(_, s)| s.asked)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The streams delivered here that have a home: their names and last positions.
    pub(super) fn delivering(&self) -> Vec<(Arc<str>, StreamPos)> {
        self.map
            .iter()
            .filter(|(_, s)| s.home.is_some() && !s.waiting.filling)
            .filter_map(|(name, s)| Some((name.clone(), s.delivered.clone()?)))
            .collect()
    }

    /// The state of `stream`, if it has one.
    pub(super) fn get_mut(&mut self, stream: &str) -> Option<&mut Stream> {
        self.map.get_mut(stream)
    }

    /// How many streams are known (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

impl Stream {
    /// Remembers where the stream's messages go on this node (`room` of `rooms`).
    pub(super) fn home_in(&mut self, rooms: &Arc<dyn Rooms>, room: &str) {
        if self.home.is_none() {
            self.home = Some(Home {
                rooms: Arc::downgrade(rooms),
                room: Arc::from(room),
            });
        }
    }

    /// The position a join finishing now starts after, from a store read `read`: see
    /// [`Stream::settled`]; `exact` when nothing can be in flight (the writer, between
    /// batches). On a cluster (`announced`), messages other nodes appended may be on their
    /// way even then: the last delivered position stays the start, unless the store lost
    /// the stream's history.
    pub(super) fn settle(
        &self,
        read: &StreamPos,
        exact: bool,
        announced: bool,
    ) -> Option<StreamPos> {
        match (exact, announced) {
            (false, _) => self.settled(read),
            (true, false) => Some(read.clone()),
            (true, true) => Some(self.settled(read).unwrap_or_else(|| read.clone())),
        }
    }

    /// The position a join made now starts after, given the position `read` a store read
    /// gave for the stream (taken after the join was asked for): the last delivered one if
    /// it is known and `read` is not behind it; `read` itself if nothing was delivered
    /// since the server started and nothing is in flight. `None` when it cannot be told
    /// now: the join must wait for the writer.
    pub(super) fn settled(&self, read: &StreamPos) -> Option<StreamPos> {
        match &self.delivered {
            Some(delivered) if delivered.epoch == read.epoch && read.offset >= delivered.offset => {
                Some(delivered.clone())
            }
            Some(_) => None,
            None if self.inflight == 0 => Some(read.clone()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(epoch: &str, offset: u64) -> StreamPos {
        StreamPos {
            epoch: Arc::from(epoch),
            offset,
        }
    }

    #[test]
    fn a_read_settles_a_join_only_when_it_is_exact() {
        let mut stream = Stream::default();
        // Nothing delivered, nothing in flight: the store's position is the stream's.
        assert_eq!(stream.settled(&pos("e", 4)), Some(pos("e", 4)));
        // A batch in flight: the read may hold messages not delivered yet.
        stream.inflight = 1;
        assert_eq!(stream.settled(&pos("e", 4)), None);
        // Delivered up to 5: a read that has them settles at 5 (what comes after is live);
        // one behind is stale; another epoch means the store lost the stream.
        stream.inflight = 0;
        stream.delivered = Some(pos("e", 5));
        assert_eq!(stream.settled(&pos("e", 7)), Some(pos("e", 5)));
        assert_eq!(stream.settled(&pos("e", 3)), None);
        assert_eq!(stream.settled(&pos("f", 9)), None);
    }

    #[test]
    fn idle_streams_are_forgotten_past_the_bound() {
        let mut streams = Streams::default();
        for i in 0..KEPT {
            streams.entry(&Arc::from(i.to_string())).inflight = u32::from(i == 0);
        }
        assert_eq!(streams.len(), KEPT);
        streams.entry(&Arc::from("one more"));
        assert_eq!(streams.len(), 2, "the busy one and the new one");
    }
}

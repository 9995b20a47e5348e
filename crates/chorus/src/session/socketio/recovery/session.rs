//! [`Session`]: one socket's recovery session as the server holds it — its namespace, id,
//! token subject, and rooms with the position each room with history was joined at — and
//! who holds it now.

use std::sync::{Arc, Weak};
use std::time::Instant;

use chorus_core::{ConnId, StreamPos};
use parking_lot::Mutex;

use crate::events::socket::SocketInner;

/// One socket's session.
pub(crate) struct Session {
    pub(super) pid: Arc<str>,
    pub(super) nsp: Arc<str>,
    pub(super) sid: ConnId,
    pub(super) sub: Option<Arc<str>>,
    pub(super) state: Mutex<State>,
}

pub(super) struct State {
    /// Rooms, with the position each room with history was first joined at. It is never
    /// moved forward while the socket stays in the room: what the client received since
    /// is known only from the offset it brings back (a replay queued but lost in a second
    /// drop must be replayed again), and the sequence number filter skips what it has.
    pub(super) rooms: Rooms,
    /// The last join's ticket ([`Since::Pending`]).
    pub(super) tickets: u32,
    pub(super) owner: Owner,
    /// The socket that owns the session (set once it is open).
    pub(super) socket: Weak<SocketInner>,
    /// When the connection was lost; `None` while connected (or being restored).
    pub(super) disconnected: Option<Instant>,
}

/// Where a session's room starts, for a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Since {
    /// A room without history: nothing to replay.
    Live,
    /// The room's stream position when it was joined.
    At(StreamPos),
    /// Joined, its position not known yet: the join of this ticket is waiting for a store
    /// read or the room's next delivery. Ticket 0: unknown for good (the store could not
    /// tell it, or the server stopped first). A session with such a room is not restored:
    /// what its client missed there cannot be told.
    Pending(u32),
}

impl Since {
    /// The position a restore replays the room after; `None` for a room without history.
    pub(super) fn position(&self) -> Option<&StreamPos> {
        match self {
            Since::At(pos) => Some(pos),
            Since::Live | Since::Pending(_) => None,
        }
    }
}

/// A session's rooms, sorted by name, each with where it starts.
///
/// A sorted vector grown one slot at a time rather than a `BTreeMap`: every Socket.IO
/// connection with recovery on has one, most hold a room or two, and a map's first node
/// is ~0.5 KiB where one room here is 48 bytes.
#[derive(Default)]
pub(super) struct Rooms(pub(super) Vec<(Arc<str>, Since)>);

impl Rooms {
    /// Adds `room` at `since`; false (and `since` ignored) if the session is already in it.
    pub(super) fn insert(&mut self, room: &str, since: Since) -> bool {
        match self.find(room) {
            Ok(_) => false,
            Err(at) => {
                self.0.reserve_exact(1);
                self.0.insert(at, (Arc::from(room), since));
                true
            }
        }
    }

    /// The join of `ticket` started at `since`; false if `room` is not that join's any more
    /// (the socket left it, or joined it before).
    pub(super) fn settle(&mut self, room: &str, ticket: u32, since: Since) -> bool {
        match self.find(room) {
            Ok(at) if self.0[at].1 == Since::Pending(ticket) => {
                self.0[at].1 = since;
                true
            }
            _ => false,
        }
    }

    /// Removes `room`, if it is the join of `ticket`'s (which did not happen).
    pub(super) fn abandon(&mut self, room: &str, ticket: u32) -> bool {
        match self.find(room) {
            Ok(at) if self.0[at].1 == Since::Pending(ticket) => self.remove(room),
            _ => false,
        }
    }

    /// Removes `room`; false if the session was not in it.
    pub(super) fn remove(&mut self, room: &str) -> bool {
        match self.find(room) {
            Ok(at) => {
                self.0.remove(at);
                self.0.shrink_to_fit();
                true
            }
            Err(_) => false,
        }
    }

    /// Whether a room's start is not known: the session cannot be restored.
    pub(super) fn any_pending(&self) -> bool {
        self.0
            .iter()
            .any(|(_, since)| matches!(since, Since::Pending(_)))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Since)> {
        self.0.iter().map(|(room, since)| (room, since))
    }

    fn find(&self, room: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(name, _)| (**name).cmp(room))
    }
}

impl FromIterator<(Arc<str>, Since)> for Rooms {
    fn from_iter<I: IntoIterator<Item = (Arc<str>, Since)>>(iter: I) -> Self {
        let mut rooms: Vec<_> = iter.into_iter().collect();
        rooms.sort_by(|a, b| a.0.cmp(&b.0));
        rooms.dedup_by(|a, b| a.0 == b.0);
        rooms.shrink_to_fit();
        Rooms(rooms)
    }
}

/// Who holds a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// Nobody: the client is away.
    Nobody,
    /// A reconnecting client's claim is being restored.
    Claimed,
    /// The socket of this generation.
    Socket(u64),
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the pid: it is the client's secret.
        f.debug_struct("Session")
            .field("nsp", &self.nsp)
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> Since {
        Since::At(StreamPos {
            epoch: Arc::from("e"),
            offset,
        })
    }

    #[test]
    fn rooms_stay_sorted_keep_their_first_position_and_hold_only_what_they_need() {
        let mut rooms = Rooms::default();
        assert!(rooms.insert("b", at(1)));
        assert!(rooms.insert("a", Since::Live));
        assert!(!rooms.insert("b", at(9)), "already in b");
        assert!(rooms.insert("c", at(3)));
        let listed: Vec<_> = rooms
            .iter()
            .map(|(room, since)| (room.to_string(), since.position().map(|p| p.offset)))
            .collect();
        assert_eq!(
            listed,
            [
                ("a".into(), None),
                ("b".into(), Some(1)),
                ("c".into(), Some(3))
            ]
        );
        assert_eq!(rooms.0.capacity(), 3);
        assert!(rooms.remove("b"));
        assert!(!rooms.remove("b"));
        assert_eq!(rooms.0.capacity(), 2);

        let read: Rooms = [
            (Arc::from("z"), Since::Live),
            (Arc::from("y"), at(2)),
            (Arc::from("z"), at(5)),
        ]
        .into_iter()
        .collect();
        let names: Vec<_> = read.iter().map(|(room, _)| room.to_string()).collect();
        assert_eq!(names, ["y", "z"]);
    }

    #[test]
    fn a_join_is_settled_only_by_its_own_ticket() {
        let mut rooms = Rooms::default();
        assert!(rooms.insert("r", Since::Pending(1)));
        assert!(rooms.any_pending());
        // Left and joined again before the first join's position came: that position is
        // not the second join's.
        assert!(rooms.remove("r"));
        assert!(rooms.insert("r", Since::Pending(2)));
        assert!(!rooms.settle("r", 1, at(4)));
        assert!(!rooms.abandon("r", 1));
        assert!(rooms.settle("r", 2, at(7)));
        assert!(!rooms.any_pending());
        assert_eq!(rooms.iter().next().unwrap().1, &at(7));
        // Settled once: a late answer for the same ticket changes nothing.
        assert!(!rooms.settle("r", 2, at(9)));
        // A join that did not happen takes out only its own pending room.
        assert!(rooms.insert("s", Since::Pending(3)));
        assert!(!rooms.abandon("r", 3));
        assert!(rooms.abandon("s", 3));
        assert_eq!(rooms.iter().count(), 1);
    }
}

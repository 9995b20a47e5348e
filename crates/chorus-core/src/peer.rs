//! One connection as the hub sees it.
//!
//! A [`Peer`] is shared (`Arc`) by the namespace, every room it is in, and the transport
//! task that owns the socket. Fan-out calls [`Peer::push`], which never waits: the queue is
//! bounded, and a peer whose queue is full is a slow consumer. It is told to close (the
//! policy for non-volatile messages: never drop silently, never slow the publisher), and the
//! transport closes it with 1008 once it has written what was already queued.

use std::sync::Arc;

use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use serde_json::value::RawValue;

use crate::{CloseReason, ConnId, Format, Mailbox, Outbound, PeerInfo};

/// What a peer's lock guards: its identity and its rooms, together, as a join or a
/// presence snapshot needs one or the other and never waits long on either.
#[derive(Debug)]
struct State {
    name: Arc<str>,
    data: Option<Arc<RawValue>>,
    rooms: Rooms,
}

/// The hub's handle on one connection.
///
/// Every connection has one for its whole life, idle or not, so it is kept small: one lock
/// for all of its mutable state, and its rooms in a sorted `Vec` (a connection is in a
/// few rooms, usually one) sharing their names with the rooms themselves.
#[derive(Debug)]
pub struct Peer {
    id: ConnId,
    mailbox: Arc<Mailbox>,
    state: Mutex<State>,
}

impl Peer {
    pub(crate) fn new(id: ConnId, mailbox: Arc<Mailbox>, name: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            id,
            mailbox,
            state: Mutex::new(State {
                name,
                data: None,
                rooms: Rooms::default(),
            }),
        })
    }

    /// The connection id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The wire format this connection speaks.
    pub fn format(&self) -> Format {
        self.mailbox.format()
    }

    /// The current nickname.
    pub fn name(&self) -> Arc<str> {
        self.state.lock().name.clone()
    }

    /// The current user data.
    pub fn data(&self) -> Option<Arc<RawValue>> {
        self.state.lock().data.clone()
    }

    /// Sets the nickname and/or the user data.
    pub fn set(&self, name: Option<Arc<str>>, data: Option<Arc<RawValue>>) {
        let mut state = self.state.lock();
        if let Some(name) = name {
            state.name = name;
        }
        if let Some(data) = data {
            state.data = Some(data);
        }
    }

    /// A snapshot for presence.
    pub fn info(&self) -> PeerInfo {
        let state = self.state.lock();
        PeerInfo {
            id: self.id,
            name: state.name.clone(),
            data: state.data.clone(),
        }
    }

    /// The rooms this connection is in (in the namespace it belongs to).
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.state.lock().rooms.names.clone()
    }

    /// True if the connection is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.state.lock().rooms.get(room).is_some()
    }

    /// The name of `room` as this connection holds it (the room's own), if it is in it.
    pub fn room(&self, room: &str) -> Option<Arc<str>> {
        self.state.lock().rooms.get(room).cloned()
    }

    pub(crate) fn rooms_mut(&self) -> MappedMutexGuard<'_, Rooms> {
        MutexGuard::map(self.state.lock(), |state| &mut state.rooms)
    }

    /// The queue this connection's messages go to (shared with the other identities of a
    /// multiplexed transport).
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// Queues an item without waiting; see [`Mailbox::push`].
    pub fn push(&self, item: Outbound) -> bool {
        self.mailbox.push(item)
    }

    /// Queues a volatile item: dropped (not a disconnect) if the queue is full.
    pub fn push_volatile(&self, item: Outbound) -> bool {
        self.mailbox.push_volatile(item)
    }

    /// [`Peer::push_volatile`] or [`Peer::push`], as `volatile` says.
    pub fn push_with(&self, item: Outbound, volatile: bool) -> bool {
        self.mailbox.push_with(item, volatile)
    }

    /// Bytes waiting on the outbound queue.
    pub fn queued_bytes(&self) -> usize {
        self.mailbox.queued_bytes()
    }

    /// Tells the connection to close now, ahead of anything still queued.
    pub fn close(&self, reason: CloseReason) {
        self.mailbox.close(reason);
    }

    /// Resolves once [`Peer::close`] has been called.
    pub async fn closing(&self) {
        self.mailbox.closing().await;
    }

    /// True once [`Peer::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.mailbox.is_closing()
    }
}

/// The rooms a connection is in: names sorted for lookup, and no spare capacity kept for
/// the many connections that join one room and stay.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    names: Vec<Arc<str>>,
}

impl Rooms {
    /// The name as held here, if `room` is one.
    pub(crate) fn get(&self, room: &str) -> Option<&Arc<str>> {
        self.find(room).ok().map(|at| &self.names[at])
    }

    /// How many rooms.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Adds `room`; `false` if it was there.
    pub(crate) fn insert(&mut self, room: Arc<str>) -> bool {
        let Err(at) = self.find(&room) else {
            return false;
        };
        if self.names.len() == self.names.capacity() {
            // Doubling from one, not from `Vec`'s minimum of four.
            self.names.reserve_exact(self.names.len().max(1));
        }
        self.names.insert(at, room);
        true
    }

    /// Removes `room`; `false` if it was not there.
    pub(crate) fn remove(&mut self, room: &str) -> bool {
        match self.find(room) {
            Ok(at) => {
                self.names.remove(at);
                if self.names.is_empty() {
                    self.names = Vec::new();
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Removes and returns every room.
    pub(crate) fn take(&mut self) -> Vec<Arc<str>> {
        std::mem::take(&mut self.names)
    }

    fn find(&self, room: &str) -> Result<usize, usize> {
        self.names.binary_search_by(|name| (**name).cmp(room))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection holds a peer for its whole life: with `Arc`'s two counts it must
    /// stay within a 96-byte allocation (it was 128, plus a 96-byte room set).
    #[test]
    fn a_peer_fits_a_96_byte_allocation() {
        let size = std::mem::size_of::<Peer>();
        assert!(size + 16 <= 96, "{size} bytes");
    }

    #[test]
    fn rooms_stay_sorted_unique_and_tight() {
        let mut rooms = Rooms::default();
        assert!(rooms.insert(Arc::from("b")));
        assert_eq!(rooms.names.capacity(), 1, "one room, one slot");
        assert!(rooms.insert(Arc::from("a")));
        assert!(rooms.insert(Arc::from("c")));
        assert!(!rooms.insert(Arc::from("a")), "already in it");
        assert_eq!(rooms.len(), 3);
        let names: Vec<&str> = rooms.names.iter().map(|n| &**n).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(rooms.get("b").is_some() && rooms.get("d").is_none());
        assert!(rooms.remove("b") && !rooms.remove("b"));
        assert_eq!(rooms.take().len(), 2);
        assert_eq!(rooms.len(), 0);
    }
}

//! A room: the set of connections a room broadcast reaches.
//!
//! Members are kept in a map behind a read-write lock: broadcasts take the read side and
//! only ever call the non-blocking [`Peer::push`], so many broadcasts to one room proceed in
//! parallel, and a join waits only for the walks in progress.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::id::ConnMap;
use crate::{ConnId, Outbound, Peer, PeerInfo};

/// A named set of connections.
#[derive(Debug)]
pub struct Room {
    name: Arc<str>,
    members: RwLock<ConnMap<Arc<Peer>>>,
}

impl Room {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            members: RwLock::new(ConnMap::default()),
        }
    }

    /// The room's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.read().len()
    }

    /// True when nobody is in the room.
    pub fn is_empty(&self) -> bool {
        self.members.read().is_empty()
    }

    /// True if `id` is a member.
    pub fn contains(&self, id: ConnId) -> bool {
        self.members.read().contains_key(&id)
    }

    /// Presence snapshots of every member.
    pub fn members(&self) -> Vec<PeerInfo> {
        self.members.read().values().map(|p| p.info()).collect()
    }

    pub(crate) fn insert(&self, peer: Arc<Peer>) -> bool {
        self.members.write().insert(peer.id(), peer).is_none()
    }

    pub(crate) fn remove(&self, id: ConnId) -> bool {
        self.members.write().remove(&id).is_some()
    }

    /// [`Room::insert`], calling `told` with the number of members after it if `peer` was
    /// not one — under the room's lock, so that the joins and leaves of one room are told
    /// in the order they happened (`told` must only queue).
    pub(crate) fn insert_told(&self, peer: Arc<Peer>, told: impl FnOnce(usize)) -> bool {
        let mut members = self.members.write();
        let newly = members.insert(peer.id(), peer).is_none();
        if newly {
            told(members.len());
        }
        newly
    }

    /// [`Room::remove`], calling `told` with the number of members left if `id` was one,
    /// under the room's lock (see [`Room::insert_told`]).
    pub(crate) fn remove_told(&self, id: ConnId, told: impl FnOnce(usize)) -> bool {
        let mut members = self.members.write();
        let removed = members.remove(&id).is_some();
        if removed {
            told(members.len());
        }
        removed
    }

    /// The members' ids.
    pub fn member_ids(&self) -> Vec<ConnId> {
        self.members.read().keys().copied().collect()
    }

    /// Calls `f` for each member, under the room's read lock: `f` must not block or join
    /// and leave rooms.
    pub fn for_each(&self, mut f: impl FnMut(ConnId, &Arc<Peer>)) {
        for (id, peer) in self.members.read().iter() {
            f(*id, peer);
        }
    }

    /// Queues `item` for every member except `except`; returns how many took it.
    pub fn push_all(&self, item: &Outbound, except: Option<ConnId>, volatile: bool) -> usize {
        Self::push_to(&self.members.read(), item, except, volatile)
    }

    /// [`Room::push_all`] for a message `sender` sends: `None`, and nothing queued, if the
    /// sender is not a member.
    pub(crate) fn push_all_from(
        &self,
        sender: ConnId,
        item: &Outbound,
        except: Option<ConnId>,
        volatile: bool,
    ) -> Option<usize> {
        let members = self.members.read();
        members
            .contains_key(&sender)
            .then(|| Self::push_to(&members, item, except, volatile))
    }

    fn push_to(
        members: &ConnMap<Arc<Peer>>,
        item: &Outbound,
        except: Option<ConnId>,
        volatile: bool,
    ) -> usize {
        let mut delivered = 0;
        for (id, peer) in members.iter() {
            if Some(*id) == except {
                continue;
            }
            delivered += usize::from(peer.push_with(item.clone(), volatile));
        }
        delivered
    }
}

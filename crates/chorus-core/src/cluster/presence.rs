//! [`Presence`]: what a node knows of the other nodes — when it last heard each, and the
//! members their connections make in every room — so that a room's member list, and its
//! join and leave notices, are the cluster's, not one node's.
//!
//! Each node announces its own connections' joins, leaves and updates ([`Control::Presence`]),
//! beats every [`HEARTBEAT`], and answers a node that asks ([`Control::Ask`], sent when its
//! link to the broker comes up) with a snapshot of its members. A node not heard for
//! [`DEAD_AFTER`] is dead: its members are dropped, and the rooms they were in hear them
//! leave. A node's members therefore disappear at most `DEAD_AFTER` + `HEARTBEAT` after it
//! dies.
//!
//! [`Control::Presence`]: super::control::Control::Presence
//! [`Control::Ask`]: super::control::Control::Ask

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::control::Membership;
use super::NodeId;
use crate::{ConnId, PeerInfo, PresenceAction};

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a node may be silent before it counts as dead.
pub const DEAD_AFTER: Duration = Duration::from_secs(5);

/// A room of a namespace.
type RoomKey = (Arc<str>, Arc<str>);

/// The other nodes, and their members.
#[derive(Default)]
pub(crate) struct Presence {
    heard: HashMap<NodeId, Instant>,
    addresses: HashMap<NodeId, Arc<str>>,
    rooms: HashMap<RoomKey, HashMap<ConnId, (NodeId, PeerInfo)>>,
    by_node: HashMap<NodeId, HashSet<(RoomKey, ConnId)>>,
}

impl Presence {
    /// `node` was heard from at `now`.
    pub(crate) fn heard(&mut self, node: NodeId, now: Instant) {
        self.heard.insert(node, now);
    }

    /// Where `node` said its HTTP is.
    pub(crate) fn located(&mut self, node: NodeId, address: Arc<str>) {
        self.addresses.insert(node, address);
    }

    /// Where a live node said its HTTP is.
    pub(crate) fn address(&self, node: NodeId) -> Option<Arc<str>> {
        self.heard
            .contains_key(&node)
            .then(|| self.addresses.get(&node).cloned())
            .flatten()
    }

    /// Every node known is given until `now` + [`DEAD_AFTER`]: this node could not hear
    /// anyone for a while (its own link was down), which says nothing of the others.
    pub(crate) fn forgive(&mut self, now: Instant) {
        for heard in self.heard.values_mut() {
            *heard = now;
        }
    }

    /// How many other nodes are alive.
    pub(crate) fn nodes(&self) -> usize {
        self.heard.len()
    }

    /// Applies a change `node` announced. False if it changed nothing (a leave of someone
    /// not known, say).
    pub(crate) fn apply(&mut self, node: NodeId, m: &Membership, action: PresenceAction) -> bool {
        let key: RoomKey = (m.ns.clone(), m.room.clone());
        match action {
            PresenceAction::Join | PresenceAction::Update => {
                self.rooms
                    .entry(key.clone())
                    .or_default()
                    .insert(m.member.id, (node, m.member.clone()));
                self.by_node
                    .entry(node)
                    .or_default()
                    .insert((key, m.member.id));
                true
            }
            PresenceAction::Leave => self.remove(node, &key, m.member.id),
        }
    }

    fn remove(&mut self, node: NodeId, key: &RoomKey, id: ConnId) -> bool {
        let Some(room) = self.rooms.get_mut(key) else {
            return false;
        };
        // Only the node that holds it now: a session that moved to another node is not
        // taken out by the old one's leave.
        if room.get(&id).is_none_or(|(holder, _)| *holder != node) {
            return false;
        }
        room.remove(&id);
        if room.is_empty() {
            self.rooms.remove(key);
        }
        if let Some(held) = self.by_node.get_mut(&node) {
            held.remove(&(key.clone(), id));
        }
        true
    }

    /// Replaces what `node` holds with `members` (its snapshot). Returns the members that
    /// joined and those that left as far as this node knew.
    pub(crate) fn replace(
        &mut self,
        node: NodeId,
        members: Vec<Membership>,
    ) -> (Vec<Membership>, Vec<Membership>) {
        let old = self.take(node);
        let mut joined = Vec::new();
        let new: HashSet<(RoomKey, ConnId)> = members
            .iter()
            .map(|m| ((m.ns.clone(), m.room.clone()), m.member.id))
            .collect();
        for m in members {
            let known = old
                .iter()
                .any(|o| o.member.id == m.member.id && o.ns == m.ns && o.room == m.room);
            self.apply(node, &m, PresenceAction::Join);
            if !known {
                joined.push(m);
            }
        }
        let left = old
            .into_iter()
            .filter(|o| !new.contains(&((o.ns.clone(), o.room.clone()), o.member.id)))
            .collect();
        (joined, left)
    }

    /// Takes every member `node` holds out.
    fn take(&mut self, node: NodeId) -> Vec<Membership> {
        let held = self.by_node.remove(&node).unwrap_or_default();
        let mut out = Vec::with_capacity(held.len());
        for (key, id) in held {
            let Some(room) = self.rooms.get_mut(&key) else {
                continue;
            };
            // Only if it is still this node's (a session may have moved to another).
            if room.get(&id).is_some_and(|(holder, _)| *holder == node) {
                let (_, member) = room.remove(&id).expect("just seen");
                out.push(Membership {
                    ns: key.0.clone(),
                    room: key.1.clone(),
                    member,
                });
            }
            if room.is_empty() {
                self.rooms.remove(&key);
            }
        }
        out
    }

    /// Drops the nodes not heard since `now` - [`DEAD_AFTER`]; the members they held.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Membership> {
        let dead: Vec<NodeId> = self
            .heard
            .iter()
            .filter(|(_, heard)| now.duration_since(**heard) >= DEAD_AFTER)
            .map(|(node, _)| *node)
            .collect();
        let mut gone = Vec::new();
        for node in dead {
            self.heard.remove(&node);
            self.addresses.remove(&node);
            tracing::warn!(%node, "cluster: a node stopped beating; its members are gone");
            gone.extend(self.take(node));
        }
        gone
    }

    /// The members other nodes hold in `room` of `ns`.
    pub(crate) fn members(&self, ns: &str, room: &str) -> Vec<PeerInfo> {
        let key: RoomKey = (Arc::from(ns), Arc::from(room));
        self.rooms
            .get(&key)
            .map(|room| room.values().map(|(_, m)| m.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether another node holds `id` in `room` of `ns`.
    pub(crate) fn holds(&self, ns: &str, room: &str, id: ConnId) -> bool {
        let key: RoomKey = (Arc::from(ns), Arc::from(room));
        self.rooms.get(&key).is_some_and(|r| r.contains_key(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(room: &str, id: u64) -> Membership {
        Membership {
            ns: Arc::from("/"),
            room: Arc::from(room),
            member: PeerInfo {
                id: ConnId::from_u64(id),
                name: Arc::from("x"),
                data: None,
            },
        }
    }

    fn ids(members: &[PeerInfo]) -> Vec<u64> {
        let mut ids: Vec<u64> = members.iter().map(|m| m.id.as_u64()).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn joins_and_leaves_of_other_nodes_make_the_member_list() {
        let mut p = Presence::default();
        let (a, b) = (NodeId(1), NodeId(2));
        assert!(p.apply(a, &m("r", 1), PresenceAction::Join));
        assert!(p.apply(b, &m("r", 2), PresenceAction::Join));
        assert_eq!(ids(&p.members("/", "r")), [1, 2]);
        // A leave from a node that does not hold the member changes nothing.
        assert!(!p.apply(b, &m("r", 1), PresenceAction::Leave));
        assert!(p.apply(a, &m("r", 1), PresenceAction::Leave));
        assert_eq!(ids(&p.members("/", "r")), [2]);
        assert!(p.holds("/", "r", ConnId::from_u64(2)));
    }

    #[test]
    fn a_silent_node_is_dropped_with_its_members() {
        let mut p = Presence::default();
        let t0 = Instant::now();
        let (a, b) = (NodeId(1), NodeId(2));
        p.heard(a, t0);
        p.heard(b, t0 + Duration::from_secs(3));
        p.apply(a, &m("r", 1), PresenceAction::Join);
        p.apply(a, &m("s", 1), PresenceAction::Join);
        p.apply(b, &m("r", 2), PresenceAction::Join);
        assert!(p
            .expire(t0 + DEAD_AFTER - Duration::from_millis(1))
            .is_empty());
        let gone = p.expire(t0 + DEAD_AFTER);
        assert_eq!(gone.len(), 2);
        assert_eq!(p.nodes(), 1);
        assert_eq!(ids(&p.members("/", "r")), [2]);
        assert!(p.members("/", "s").is_empty());
        // A node that could hear nobody forgives the others.
        p.forgive(t0 + Duration::from_secs(60));
        assert!(p.expire(t0 + Duration::from_secs(61)).is_empty());
    }

    #[test]
    fn a_snapshot_replaces_what_a_node_held() {
        let mut p = Presence::default();
        let a = NodeId(1);
        p.apply(a, &m("r", 1), PresenceAction::Join);
        p.apply(a, &m("r", 2), PresenceAction::Join);
        let (joined, left) = p.replace(a, vec![m("r", 2), m("r", 3)]);
        assert_eq!(joined.len(), 1);
        assert_eq!(joined[0].member.id.as_u64(), 3);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].member.id.as_u64(), 1);
        assert_eq!(ids(&p.members("/", "r")), [2, 3]);
    }
}

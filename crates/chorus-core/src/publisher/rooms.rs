//! [`Rooms`]: what the publisher needs of the rooms it stores messages for — a namespace,
//! seen through a trait so that the publisher (below the namespace) knows none.

use std::sync::Arc;

use crate::{ConnId, HubError, Outbound, Peer, PeerInfo};

/// A space of rooms whose messages the publisher stores and delivers: implemented by
/// [`crate::Namespace`].
pub trait Rooms: Send + Sync {
    /// Its name: stream names are prefixed with it.
    fn name(&self) -> &Arc<str>;

    /// Queues `item` for the members of `room` but `except`; how many took it.
    fn deliver(&self, room: &str, except: Option<ConnId>, item: Outbound) -> usize;

    /// Makes `peer` a member of `room` now (a join, announced as one); the members then if
    /// `members`, else none.
    fn join(&self, peer: &Arc<Peer>, room: &str, members: bool) -> Result<Vec<PeerInfo>, HubError>;

    /// Makes `peer`, which reserved `room` (its rooms list it, its member set does not
    /// yet), a member of it; the members then if `members`. `None` if it left the room, or
    /// the space, meanwhile: it is not made a member.
    fn admit(&self, peer: &Arc<Peer>, room: &str, members: bool) -> Option<Vec<PeerInfo>>;

    /// Whether `room` has members here.
    fn has_members(&self, room: &str) -> bool;

    /// Takes back `peer`'s reservation of `room` (its join failed).
    fn cancel(&self, peer: &Arc<Peer>, room: &str);
}

//! [`Local`]: a namespace as the cluster sees it.

use std::sync::Arc;

use super::control::Membership;
use super::{Marker, Notice};
use crate::{Audience, ConnId, Outbound, PresenceNotice};

/// A namespace as the cluster sees it: where a message an envelope brings is delivered
/// to this node's connections.
pub trait Local: Send + Sync {
    /// Its name.
    fn name(&self) -> &Arc<str>;

    /// Queues `item` for this node's connections `to` names (see the route's delivery).
    fn deliver(
        &self,
        to: &Audience<'_>,
        except_rooms: &[Arc<str>],
        except: Option<ConnId>,
        item: Outbound,
        volatile: bool,
    ) -> usize;

    /// A stored message of its `room` arrived through the broker (see
    /// [`crate::cluster::stored`]): delivered here in its stream's order.
    fn stored(self: Arc<Self>, room: &Arc<str>, notice: Notice);

    /// A stream's position of its `room` arrived through the broker, after every stored
    /// message up to it.
    fn marked(self: Arc<Self>, room: &Arc<str>, marker: Marker);

    /// A change in a room's membership on another node: told to this node's members of
    /// the room, if the namespace tells presence.
    fn presence(self: Arc<Self>, notice: PresenceNotice);

    /// Whether stored messages of `room` matter here: it has members here, or its stream is
    /// followed (a join waits on it, a gap is being filled).
    fn listens(&self, room: &str) -> bool;

    /// Every member this node's connections make, in every room of the namespace.
    fn snapshot(&self) -> Vec<Membership>;

    /// Runs another node's op on this node's connections of the namespace; `done` gets
    /// the reply (later, for a broadcast with acks).
    fn run_then(&self, op: &crate::ops::Op, done: Box<dyn FnOnce(crate::ops::Reply) + Send>);
}

//! [`PresenceNotice`]: a change in a room's membership, told to its other members.

use std::sync::Arc;

use crate::PeerInfo;

/// What happened to a room's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceAction {
    /// Someone joined.
    Join,
    /// Someone left.
    Leave,
    /// Someone changed their nickname or user data.
    Update,
}

/// A change in a room's membership.
#[derive(Debug, Clone)]
pub struct PresenceNotice {
    /// The room.
    pub room: Arc<str>,
    /// What happened.
    pub action: PresenceAction,
    /// Who.
    pub member: PeerInfo,
}

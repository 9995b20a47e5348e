//! Presence: who is in a room ([`PeerInfo`]), and a change in a room's membership told to
//! its other members ([`PresenceNotice`]).

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::ConnId;

/// A snapshot of a peer's public identity, as listed in presence.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Connection id.
    pub id: ConnId,
    /// Nickname.
    pub name: Arc<str>,
    /// User data (JSON), if set.
    pub data: Option<Arc<RawValue>>,
}

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

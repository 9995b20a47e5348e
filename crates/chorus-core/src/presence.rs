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

/// A change in a room's membership on this node, as a [`MembershipWatch`] is told of it.
#[derive(Debug, Clone)]
pub struct MembershipChange {
    /// The namespace.
    pub namespace: Arc<str>,
    /// The room.
    pub room: Arc<str>,
    /// The connection that joined or left.
    pub conn: ConnId,
    /// Its user (a token's `sub`, or what the backend said), if it has one.
    pub user: Option<Arc<str>>,
    /// `true`: it joined; `false`: it left.
    pub joined: bool,
    /// The room has no other member here: it was empty before this join, or is empty
    /// after this leave (the room is occupied, or vacated, on this node). The changes of
    /// one room are told in the order they happened (under the room's lock).
    pub alone: bool,
}

/// Told of every join and leave of a namespace's rooms on this node — the server's hooks
/// to the application's backend ("room occupied", "member left"). Called on the thread of
/// the change, under no lock: it must only queue what it is told, never wait.
pub trait MembershipWatch: Send + Sync + std::fmt::Debug {
    /// A connection joined or left a room.
    fn changed(&self, change: MembershipChange);
}

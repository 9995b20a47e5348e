//! What a join through the publisher asks for and is told: [`Replay`], [`Joined`], a
//! restore's rooms and outcome, and the callbacks that hear them.

use std::sync::Arc;

use crate::{HubError, PeerInfo, StreamPos};

/// The outcome of a join ordered with its room's stream.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The room's members, the joiner included (empty if the joiner did not ask).
    pub members: Vec<PeerInfo>,
    /// The room's stream position when the joiner became a member: it has (or was sent)
    /// everything up to here, and receives what follows live. `None` for a room without
    /// history.
    pub pos: Option<StreamPos>,
    /// For a join that asked to recover: true if every missed message was replayed, false
    /// if that was impossible (another epoch, or messages beyond retention).
    pub recovered: bool,
    /// How many missed messages were replayed.
    pub replayed: usize,
}

/// What a join ordered with its room's stream replays before the joiner is a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Nothing: the join only needs its position.
    None,
    /// The messages after `since` (at most `limit`): what a client that was away missed.
    After {
        /// The last position the client saw.
        since: StreamPos,
        /// Most messages replayed.
        limit: usize,
    },
    /// The room's last `n` messages (a raw room's replay for a client with no position).
    Last(usize),
}

/// Told the outcome of a join ordered with its room's stream.
pub type JoinDone = Box<dyn FnOnce(Result<Joined, HubError>) + Send>;
/// Told where a live join started in its room's stream.
pub type At = Box<dyn FnOnce(Result<StreamPos, HubError>) + Send>;
/// Told the outcome of a restore: `None` if the connection cannot be restored.
pub type RestoreDone = Box<dyn FnOnce(Result<Option<Restored>, HubError>) + Send>;

/// One room of a connection being restored ([`crate::Namespace::restore`]).
#[derive(Debug, Clone)]
pub struct RestoreRoom {
    /// The room.
    pub room: Arc<str>,
    /// For a room with history: its position when the connection first joined it. Every
    /// message of the room after it with a sequence number above the client's was missed.
    /// `None` for a room without history: it is only rejoined.
    pub since: Option<StreamPos>,
}

/// A restored connection.
#[derive(Debug, Clone)]
pub struct Restored {
    /// How many missed messages were replayed.
    pub replayed: usize,
}

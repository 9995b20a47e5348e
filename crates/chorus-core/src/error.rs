//! Errors of hub operations, each mapping to one stable protocol error code.

use chorus_proto::native::ErrorCode;

/// Why a hub operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// The connection is not a member of the room.
    #[error("not a member of room {0:?}: join it first")]
    NotInRoom(String),
    /// No open connection has this id.
    #[error("no open connection with id {0:?}")]
    NoSuchConn(String),
    /// The connection is already in as many rooms as it may be.
    #[error("already in {0} rooms, the most a connection may join")]
    TooManyRooms(usize),
    /// The connection has closed.
    #[error("the connection is closed")]
    Closed,
    /// The history store failed.
    #[error("history store failed: {0}")]
    Store(String),
}

impl HubError {
    /// The protocol error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            HubError::NotInRoom(_) => ErrorCode::NotInRoom,
            HubError::NoSuchConn(_) => ErrorCode::NoSuchConn,
            HubError::TooManyRooms(_) => ErrorCode::TooManyRooms,
            HubError::Closed | HubError::Store(_) => ErrorCode::Internal,
        }
    }
}

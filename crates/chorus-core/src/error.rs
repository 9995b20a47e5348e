//! [`HubError`]: why the hub refused or could not do what was asked, and the one set of
//! [`Code`]s every protocol reports it with.
//!
//! A refusal reads the same whichever way the request came — a native command, a Socket.IO
//! built-in event, a raw frame, the library — because the checks are made in one place
//! (`crate::route`) and say why here. Protocols map a [`Code`] to their own wire (the native
//! protocol's error codes have the same names; a raw client is closed with 1008).

use std::fmt;

use crate::StoreError;

/// Why a hub operation was refused or failed.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The client's rights do not allow it.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// The history store failed.
    #[error("history store failed: {0}")]
    Store(#[from] StoreError),
    /// The cluster's broker is too far behind to take another message now.
    #[error("the cluster's broker is behind by {0} messages: try again")]
    Backlog(usize),
}

/// What a client's rights do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// The namespace does not let clients emit to other clients (`client_emits` off).
    #[error("this server does not let clients emit to other clients")]
    ClientEmits,
    /// The client's token does not allow joining (or reading) the room.
    #[error("your token does not allow joining room {0:?}")]
    Join(String),
    /// The client's token does not allow publishing to the room.
    #[error("your token does not allow publishing to room {0:?}")]
    Publish(String),
    /// The client's token allows publishing to some rooms only, and the message goes to
    /// everyone, to one connection, or to several rooms.
    #[error(
        "your token allows publishing to some rooms only, not to everyone or to one connection"
    )]
    PublishAnywhere,
}

/// The stable code of a refusal: the same name in every protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The client's rights, or the server, do not allow it.
    Forbidden,
    /// The connection is not in the room.
    NotInRoom,
    /// No such connection.
    NoSuchConn,
    /// Joining would exceed the per-connection room limit.
    TooManyRooms,
    /// The server failed (a store error, a closed connection).
    Internal,
}

impl Code {
    /// The code as protocols send it (the native protocol's names).
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Forbidden => "forbidden",
            Code::NotInRoom => "not_in_room",
            Code::NoSuchConn => "no_such_conn",
            Code::TooManyRooms => "too_many_rooms",
            Code::Internal => "internal",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl HubError {
    /// The stable code of this error.
    pub fn code(&self) -> Code {
        match self {
            HubError::NotInRoom(_) => Code::NotInRoom,
            HubError::NoSuchConn(_) => Code::NoSuchConn,
            HubError::TooManyRooms(_) => Code::TooManyRooms,
            HubError::Forbidden(_) => Code::Forbidden,
            HubError::Closed | HubError::Store(_) | HubError::Backlog(_) => Code::Internal,
        }
    }
}

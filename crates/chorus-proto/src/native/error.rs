//! Stable error codes of the native protocol.
//!
//! Clients branch on the code, people read the message; codes never change meaning, so they
//! are an enum here and a table in `docs/protocol.md`.

use std::fmt;

/// A machine-readable error code sent in `reply` and `error` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The text frame is not a JSON object.
    BadJson,
    /// A binary frame whose header is truncated or not JSON.
    BadFrame,
    /// `type` is missing or unknown.
    UnknownType,
    /// A field is missing, has the wrong type or is out of range.
    BadRequest,
    /// A room name that is empty, too long or has control characters.
    BadRoom,
    /// An `emit` without `to` names an event the server has no handler for.
    UnknownEvent,
    /// The command needs membership of a room the connection has not joined.
    NotInRoom,
    /// `to.conn` names no open connection.
    NoSuchConn,
    /// Joining would exceed the per-connection room limit.
    TooManyRooms,
    /// The encoded event is larger than the maximum message size.
    TooLarge,
    /// The server does not allow this operation (client emits are off, or the
    /// connection's token does not permit the room).
    Forbidden,
    /// A token (JWT) that is malformed, expired, or not signed by a key the server
    /// trusts.
    InvalidToken,
    /// The application's backend, which decides this (the server's hooks), did not
    /// answer, or too many of the connection's requests are waiting for it; try again.
    Unavailable,
    /// A bug in the server.
    Internal,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BadRoom => "bad_room",
            ErrorCode::UnknownEvent => "unknown_event",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::NoSuchConn => "no_such_conn",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

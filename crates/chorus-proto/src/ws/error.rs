//! [`FrameError`]: how a client's frames broke the protocol, and the close code each gets.

/// A client's frames broke RFC 6455; the connection is failed with [`FrameError::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A reserved bit is set, and no extension gives it a meaning.
    #[error("reserved bits set without an extension")]
    ReservedBits,
    /// A reserved opcode.
    #[error("reserved opcode {0:#x}")]
    ReservedOpCode(u8),
    /// A client frame without a mask (§5.1).
    #[error("client frames must be masked")]
    Unmasked,
    /// A fragmented control frame.
    #[error("control frames must not be fragmented")]
    ControlFragmented,
    /// A control frame over 125 bytes.
    #[error("control frame payload over 125 bytes")]
    ControlTooLong,
    /// A new message began while a fragmented one was unfinished.
    #[error("a new message inside a fragmented one")]
    Interleaved,
    /// A continuation with no fragmented message to continue.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A frame or message larger than the server accepts.
    #[error("frame or message too large")]
    TooLarge,
    /// Text (or a close reason) that is not UTF-8.
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// A close frame with a one-byte payload.
    #[error("malformed close frame")]
    InvalidCloseFrame,
    /// A close code a peer may not send (§7.4).
    #[error("invalid close code")]
    InvalidCloseCode,
}

impl FrameError {
    /// The close code the connection is failed with: 1009 for a size, 1007 for text that is
    /// not UTF-8, 1002 (protocol error) for everything else.
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::TooLarge => 1009,
            FrameError::InvalidUtf8 => 1007,
            _ => 1002,
        }
    }
}

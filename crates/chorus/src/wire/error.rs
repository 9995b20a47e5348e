//! [`WireError`]: why a connection's socket stopped giving frames or taking them.

use chorus_proto::ws::FrameError;

/// Why reading or writing a connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    /// The client closed the socket (the end of the stream).
    #[error("the connection is closed")]
    Closed,
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The client's frames broke RFC 6455.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The permessage-deflate codec failed (it reads and writes compressed connections).
    #[error("{0}")]
    Codec(yawc::WebSocketError),
}

impl WireError {
    /// The close code the connection is failed with; `None` when no close frame can or
    /// need be sent (the socket is gone).
    pub(crate) fn close_code(&self) -> Option<u16> {
        use yawc::WebSocketError as E;
        match self {
            WireError::Closed | WireError::Io(_) => None,
            WireError::Frame(err) => Some(err.close_code()),
            WireError::Codec(err) => Some(match err {
                E::FrameTooLarge => super::close::TOO_BIG,
                E::InvalidUTF8 => 1007,
                E::ConnectionClosed | E::IoError(_) => return None,
                E::ReservedBitsNotZero
                | E::InvalidOpCode(_)
                | E::ControlFrameFragmented
                | E::PingFrameTooLarge
                | E::InvalidFragment
                | E::InvalidCloseFrame
                | E::InvalidCloseCode
                | E::FragmentTimeout
                | E::InvalidContinuationFrame
                | E::CompressionNotSupported => super::close::PROTOCOL_ERROR,
                _ => 1011,
            }),
        }
    }
}

impl From<yawc::WebSocketError> for WireError {
    fn from(err: yawc::WebSocketError) -> Self {
        match err {
            yawc::WebSocketError::ConnectionClosed => WireError::Closed,
            yawc::WebSocketError::IoError(err) => WireError::Io(err),
            other => WireError::Codec(other),
        }
    }
}

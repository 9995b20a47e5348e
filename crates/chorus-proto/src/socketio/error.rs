//! [`DecodeError`]: why a client's Socket.IO packet, or its attachments, could not be
//! decoded.

/// Why a packet, or its attachments, could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// An Engine.IO message with no Socket.IO packet in it.
    #[error("empty Socket.IO packet")]
    Empty,
    /// The first character is not a packet type `0`-`6`.
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownType(char),
    /// A binary packet whose attachment count is not digits followed by `-`.
    #[error("malformed attachment count: expected digits then '-'")]
    BadAttachments,
    /// A binary packet announcing more attachments than [`Limits::max_attachments`](super::Limits::max_attachments).
    #[error("more than {0} binary attachments")]
    TooManyAttachments(usize),
    /// An ack id too large for 64 bits.
    #[error("ack id does not fit in 64 bits")]
    BadAckId,
    /// JSON nested deeper than [`Limits::max_depth`](super::Limits::max_depth).
    #[error("payload nested deeper than {0} levels")]
    TooDeep(usize),
    /// The payload does not parse as JSON.
    #[error("payload is not valid JSON: {0}")]
    BadJson(String),
    /// Valid JSON of the wrong shape for the packet type (or a missing one).
    #[error("{packet} payload must be {expected}")]
    BadPayload {
        /// The packet type, as the protocol names it.
        packet: &'static str,
        /// What its payload must be.
        expected: &'static str,
    },
    /// An event named with one of the [`RESERVED_EVENTS`](super::RESERVED_EVENTS).
    #[error("event name {0:?} is reserved")]
    ReservedEvent(String),
    /// An ACK without the id of the event it acknowledges.
    #[error("ACK packet without an ack id")]
    MissingAckId,
    /// A placeholder whose `num` is not below the number of attachments.
    #[error("placeholder refers to attachment {num}, but the packet has {count}")]
    PlaceholderOutOfRange {
        /// The placeholder's attachment number.
        num: usize,
        /// The attachments announced.
        count: usize,
    },
    /// An announced attachment that no placeholder refers to.
    #[error("attachment {0} is not referred to by any placeholder")]
    UnusedAttachment(usize),
    /// An object with `"_placeholder": true` that is not exactly a placeholder.
    #[error("malformed placeholder: expected {{\"_placeholder\":true,\"num\":N}}")]
    BadPlaceholder,
    /// A binary frame beyond the attachments a packet announced.
    #[error("more binary attachments than the {0} announced")]
    ExtraAttachment(usize),
}

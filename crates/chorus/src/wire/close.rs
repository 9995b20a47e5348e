//! Every close code the server sends, and why: the one place they are chosen.
//!
//! A connection the server ends gets a [`CloseReason`] on its queue (or, for a protocol
//! error, a close frame written at once): these functions make them, so a code means the
//! same thing whichever part of the server closes. Codes are RFC 6455's (§7.4.1) and the
//! IANA registry's; Socket.IO and Engine.IO sessions carry socket.io's disconnect reasons
//! (`"ping timeout"`, `"transport close"`, `"parse error"`) as the reason. A protocol error
//! found while reading frames is closed with `chorus_proto::ws::FrameError::close_code`.

use chorus_core::CloseReason;

/// 1000: the purpose of the connection is fulfilled (a client's close, a disconnect).
pub(crate) const NORMAL: u16 = 1000;
/// 1001: the server is going away (a drain on SIGTERM).
pub(crate) const GOING_AWAY: u16 = 1001;
/// 1002: the client broke the protocol (a frame, or a Socket.IO / Engine.IO packet).
pub(crate) const PROTOCOL_ERROR: u16 = 1002;
/// 1005: what a close frame without a code reports (RFC 6455 §7.1.5); never sent.
pub(crate) const NO_STATUS: u16 = 1005;
/// 1008: the client broke a policy: its rate, its queue (a slow consumer), its token's
/// rights.
pub(crate) const POLICY: u16 = 1008;
/// 1009: a message too large.
pub(crate) const TOO_BIG: u16 = 1009;
/// 3000: the client's token expired (IANA: "Unauthorized").
pub(crate) const TOKEN_EXPIRED: u16 = 3000;
/// The reason that goes with [`TOKEN_EXPIRED`].
pub(crate) const TOKEN_EXPIRED_REASON: &str = "token expired";

/// A normal close with `reason`.
pub(crate) fn normal(reason: &str) -> CloseReason {
    CloseReason::new(NORMAL, reason)
}

/// The server is shutting down (socket.io's reason for it, which lets a client recover).
pub(crate) fn shutting_down() -> CloseReason {
    CloseReason::new(GOING_AWAY, "server shutting down")
}

/// The client broke the protocol above WebSocket frames (`"parse error"`, `"transport
/// error"`).
pub(crate) fn protocol_error(reason: &'static str) -> CloseReason {
    CloseReason::new(PROTOCOL_ERROR, reason)
}

/// The client sent more than it may (an Engine.IO POST over `maxPayload`).
pub(crate) fn too_big(reason: &'static str) -> CloseReason {
    CloseReason::new(TOO_BIG, reason)
}

/// The client went over its message rate.
pub(crate) fn rate_limited() -> (u16, &'static str) {
    (POLICY, "message rate limit exceeded")
}

/// The client did something its rights do not allow (a token's `publish` claim, say).
pub(crate) fn forbidden(reason: impl Into<std::sync::Arc<str>>) -> CloseReason {
    CloseReason::new(POLICY, reason)
}

/// The client's token expired.
pub(crate) fn token_expired() -> CloseReason {
    CloseReason::new(TOKEN_EXPIRED, TOKEN_EXPIRED_REASON)
}

/// A connection whose token the server revoked: 3000 too (a new token is what it needs),
/// with its own reason.
pub(crate) fn token_revoked() -> CloseReason {
    CloseReason::new(TOKEN_EXPIRED, "token revoked")
}

/// True for the hub's slow-consumer verdict (`chorus_core::Mailbox` makes it; other
/// closes also jump the queue: an Engine.IO session's ping timeout or parse error).
pub(crate) fn is_slow_consumer(reason: &CloseReason) -> bool {
    reason.code == POLICY && reason.reason.starts_with("slow consumer")
}

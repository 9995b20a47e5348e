//! Raw WebSocket rooms: the path is the room, every text frame is a message.
//!
//! Connecting to `/<room>` joins it (the server registers the member before it answers
//! `101`, so nothing published after the handshake can miss it). Whatever a member sends
//! goes to every member, the sender included; so anything received is a delivery.

use super::Inbound;

/// The path that joins `room`.
pub(super) fn path(room: &str) -> String {
    format!("/{room}")
}

/// Every frame in a raw room is a delivery.
pub(super) fn classify(text: &[u8]) -> Inbound<'_> {
    Inbound::Delivery(text)
}

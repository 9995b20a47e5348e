//! Stream names — a room's stream in the store is its namespace's and its own name — and the
//! clock stored messages are stamped with.

use std::time::{SystemTime, UNIX_EPOCH};

/// A room's stream name in the store: namespace and room, joined by the ASCII unit
/// separator (which no sensible namespace name contains).
pub fn stream_name(ns: &str, room: &str) -> String {
    let mut name = String::with_capacity(ns.len() + 1 + room.len());
    name.push_str(ns);
    name.push('\u{1f}');
    name.push_str(room);
    name
}

/// The room part of a stream name.
pub(super) fn room_of(stream: &str) -> &str {
    stream.split_once('\u{1f}').map_or(stream, |(_, room)| room)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

//! The store's side of recovery: a session as a record ([`Record`]), the key offsets are
//! signed with, and the rules for pids and expiries.

use std::time::Duration;

use chorus_core::Publisher;
use serde::{Deserialize, Serialize};

/// A session as the store keeps it.
#[derive(Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) nsp: String,
    pub(super) sid: String,
    pub(super) sub: Option<String>,
    pub(super) rooms: Vec<RoomRecord>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct RoomRecord {
    pub(super) room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) epoch: Option<String>,
    #[serde(default)]
    pub(super) offset: u64,
    /// Its position was not known yet when the record was written: a session with such a
    /// room is not restored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) pending: bool,
}

/// The session record that holds the key recovery offsets are signed with. Not a pid (a
/// client cannot claim it): pids are 32 hex digits.
const OFFSET_KEY_ID: &str = "chorus:offset-key";

/// The key recovery offsets are signed with: the one the store keeps, so offsets stay
/// valid across a restart as long as the sessions do, or a new one. It lives as a session
/// record: open while a server runs, and given the sessions' expiry when the next one
/// starts, so a server down for longer than `max_disconnection` starts with a new key —
/// when no session it could serve is left anyway.
pub(super) fn offset_key(publisher: &Publisher) -> [u8; 16] {
    let now = chorus_core::publisher::now_ms();
    let fresh: [u8; 16] = rand::random();
    let record = bytes::Bytes::copy_from_slice(&fresh);
    // Claimed: servers sharing a store (a cluster) agree on one key.
    match publisher.store().claim_session(OFFSET_KEY_ID, record, now) {
        Ok(key) => <[u8; 16]>::try_from(&key[..]).unwrap_or(fresh),
        Err(err) => {
            tracing::warn!(%err, "cannot read the recovery offset key; sessions of the previous run will not recover");
            fresh
        }
    }
}

/// A pid we could have made: 32 lowercase hex digits.
pub(super) fn is_pid(pid: &str) -> bool {
    pid.len() == 32 && pid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// When a session lost now expires, `max` from now.
pub(super) fn expiry_ms(max: Duration) -> u64 {
    chorus_core::publisher::now_ms().saturating_add(crate::session::engineio::millis(max))
}

//! Keeping the epoch promise under [`Durability::Batched`]: if the OS may have lost the
//! last commits, every stream gets a new epoch.
//!
//! With `synchronous=NORMAL`, an OS crash or power loss can drop the last batches even
//! though `append_batch` returned. The store would then hand out those offsets again, for
//! other messages, under the same epoch — and a client that saw the lost ones would
//! "recover" the wrong messages, or miss the new ones. The contract says the epoch changes
//! whenever history is lost, so the store must notice.
//!
//! How: a Batched store records, when it opens, the kernel's boot id in `meta`
//! (`open_on_boot`), and removes it when it is dropped; both writes are fsynced, and the
//! removal also syncs every batch before it. At the next open:
//!
//! * no marker — the last store closed cleanly (or was `Fsync`): nothing was lost;
//! * a marker from this boot — the process died (a kill, a panic) but the OS kept its page
//!   cache, so nothing was lost either;
//! * a marker from another boot, or no boot id to compare — the OS went down while a
//!   Batched store had the file open: a new epoch secret, and every stream's stored epoch
//!   rewritten from it. Offsets continue; clients cannot recover across that point.
//!   The store-wide sequence counter lives in the same file, so the lost commits may take
//!   their sequence numbers with them and the store hand those out again — but only under
//!   the new epochs, and [`Store::read_after_seq`](crate::Store::read_after_seq) checks the
//!   epoch first, so no reader can take a new message for one it saw. Session records
//!   written in the lost moments are lost too, and a lost delete brings a record back:
//!   recovering with it fails on the epochs, the same way.
//!
//! The boot id is Linux's `/proc/sys/kernel/random/boot_id`; elsewhere there is none, so
//! any unclean close counts as a possible loss (safe, and only costs recoveries). One file
//! is meant for one process at a time: a second store on it shares (and clears) the marker.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Durability, SqliteError};
use crate::epoch::EpochSource;

const MARKER: &str = "open_on_boot";

/// This boot's id, if the OS says.
pub(super) fn current_boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// Run in the opening transaction (which must be fsynced): checks the previous session's
/// marker, rotates the epochs if it may have lost commits, and sets this session's marker.
/// Returns the epoch secret to use from now on.
pub(super) fn on_open(
    tx: &Connection,
    secret: EpochSource,
    durability: Durability,
    boot: Option<&str>,
) -> Result<EpochSource, SqliteError> {
    let marker: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [MARKER], |r| {
            r.get(0)
        })
        .optional()?;
    let maybe_lost = match (marker.as_deref(), boot) {
        (None, _) => false,
        (Some(previous), Some(now)) => previous != now,
        (Some(_), None) => true,
    };
    let secret = if maybe_lost { rotate(tx)? } else { secret };
    match durability {
        Durability::Batched => tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![MARKER, boot.unwrap_or("unknown")],
        )?,
        Durability::Fsync => tx.execute("DELETE FROM meta WHERE key = ?1", [MARKER])?,
    };
    Ok(secret)
}

/// Run when the store is dropped: everything so far is synced, the marker removed.
pub(super) fn on_close(conn: &Connection, durability: Durability) -> Result<(), SqliteError> {
    if durability == Durability::Batched {
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute("DELETE FROM meta WHERE key = ?1", [MARKER])?;
    }
    Ok(())
}

/// A new secret, and every stream's epoch derived from it.
fn rotate(tx: &Connection) -> Result<EpochSource, SqliteError> {
    let secret = EpochSource::random();
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'epoch_secret'",
        [secret.to_hex()],
    )?;
    let streams: Vec<(i64, String)> = tx
        .prepare("SELECT id, name FROM streams")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut update = tx.prepare("UPDATE streams SET epoch = ?2 WHERE id = ?1")?;
    for (id, name) in streams {
        update.execute(params![id, &*secret.epoch(0, &name)])?;
    }
    Ok(secret)
}

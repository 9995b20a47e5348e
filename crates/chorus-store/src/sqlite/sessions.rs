//! Session records in the SQLite store: the `sessions` table (see `schema.rs`).
//!
//! Writes go through the writer connection, one `BEGIN IMMEDIATE` transaction per call, so
//! a call's changes land together and are exactly as durable as an append batch under the
//! same [`Durability`](super::Durability). Reads go through the read-only reader, so any
//! thread can look a record up while the publisher writes.
//!
//! Expiry times are stored as SQLite integers; one beyond `i64::MAX` ms (some 292 million
//! years) is stored as `i64::MAX`, which is the same instant for every clock that will ever
//! ask.

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{row, SqliteError};
use crate::{rules, SessionWrite};

/// Applies `writes` in order, in one transaction.
pub(super) fn write(conn: &mut Connection, writes: &[SessionWrite]) -> Result<(), SqliteError> {
    if writes.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO sessions (id, record, expires_ms) VALUES (?1, ?2, ?3)",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM sessions WHERE id = ?1")?;
        let mut touch = tx.prepare_cached("UPDATE sessions SET expires_ms = ?2 WHERE id = ?1")?;
        for write in writes {
            match write {
                SessionWrite::Put {
                    id,
                    record,
                    expires_ms,
                } => put.execute(params![
                    &**id,
                    &record[..],
                    expires_ms.map(row::clamp_to_sql)
                ])?,
                SessionWrite::Delete { id } => delete.execute([&**id])?,
                SessionWrite::Touch { id, expires_ms } => {
                    touch.execute(params![&**id, row::clamp_to_sql(*expires_ms)])?
                }
            };
        }
    }
    tx.commit()?;
    Ok(())
}

/// The record `id`, unless there is none or it expired before `now_ms`.
pub(super) fn read(conn: &Connection, id: &str, now_ms: u64) -> Result<Option<Bytes>, SqliteError> {
    let found: Option<(Vec<u8>, Option<i64>)> = conn
        .prepare_cached("SELECT record, expires_ms FROM sessions WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((record, expires_ms)) = found else {
        return Ok(None);
    };
    let expires_ms = expires_ms.map(row::from_sql).transpose()?;
    Ok((!rules::session_expired(expires_ms, now_ms)).then(|| Bytes::from(record)))
}

/// Gives every open record (no expiry) the expiry `expires_ms`; returns how many.
pub(super) fn expire_open(conn: &Connection, expires_ms: u64) -> Result<u64, SqliteError> {
    let changed = conn
        .prepare_cached("UPDATE sessions SET expires_ms = ?1 WHERE expires_ms IS NULL")?
        .execute([row::clamp_to_sql(expires_ms)])?;
    Ok(changed as u64)
}

/// Removes the records that expired before `now_ms` (a range of the expiry index); returns
/// how many.
pub(super) fn remove_expired(conn: &Connection, now_ms: u64) -> Result<u64, SqliteError> {
    let removed = conn
        .prepare_cached("DELETE FROM sessions WHERE expires_ms < ?1")?
        .execute([row::clamp_to_sql(now_ms)])?;
    Ok(removed as u64)
}

//! Retention for the SQLite store: per stream, delete the oldest messages the
//! [`Retention`] callback no longer keeps (by count, then by age, per [`crate::rules`]).
//!
//! Streams are walked in pages of [`TRIM_PAGE`], one transaction per page, so a file with
//! many streams never loads every name at once nor builds one huge transaction. Each page's
//! query also fetches each stream's first kept offset (one B-tree seek), so a stream with
//! nothing left costs no callback and no further query: idle rooms are nearly free.
//!
//! Before deleting a stream's oldest messages, retention records the `gseq` of the newest
//! one it deletes in the stream's `trimmed_gseq` (one seek): removal takes a prefix of the
//! offsets and `gseq` grows with the offset, so that is the highest removed sequence number,
//! which is all [`crate::rules::truncated_after_seq`] needs. Expired session records are
//! removed by `sessions.rs`, after this.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{row, SqliteError};
use crate::{rules, Retention};

/// Streams per retention transaction.
pub(super) const TRIM_PAGE: i64 = 256;

/// Removes what `retention` no longer keeps as of `now_ms`; returns how many messages.
pub(super) fn trim(
    conn: &mut Connection,
    now_ms: u64,
    retention: &dyn Fn(&str) -> Retention,
) -> Result<u64, SqliteError> {
    let mut removed = 0u64;
    let mut next_id = 0i64;
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // (id, name, last offset, first kept offset) of the next page of streams.
        let streams: Vec<(i64, String, i64, Option<i64>)> = tx
            .prepare_cached(
                "SELECT id, name, last_offset, \
                     (SELECT min(seq) FROM messages WHERE stream = streams.id) \
                 FROM streams WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![next_id, TRIM_PAGE], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        let Some(&(last_id, ..)) = streams.last() else {
            break;
        };
        next_id = last_id;
        let mut first_young = tx.prepare_cached(
            "SELECT seq FROM messages WHERE stream = ?1 AND seq >= ?2 AND time_ms >= ?3 \
             ORDER BY seq LIMIT 1",
        )?;
        let mut newest_removed = tx.prepare_cached(
            "SELECT gseq FROM messages WHERE stream = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT 1",
        )?;
        let mut mark = tx.prepare_cached(
            "UPDATE streams SET trimmed_gseq = max(trimmed_gseq, ?2) WHERE id = ?1",
        )?;
        let mut delete =
            tx.prepare_cached("DELETE FROM messages WHERE stream = ?1 AND seq < ?2")?;
        for (id, name, last, first) in &streams {
            let Some(first) = first else { continue };
            let (last, first) = (row::from_sql(*last)?, row::from_sql(*first)?);
            let keep = retention(name);
            let mut keep_from = rules::count_keep_from(last, keep.max_messages).max(first);
            let cutoff = rules::age_cutoff_ms(now_ms, keep.max_age);
            if cutoff > 0 && keep_from <= last {
                let young: Option<i64> = first_young
                    .query_row(
                        params![id, row::clamp_to_sql(keep_from), row::clamp_to_sql(cutoff)],
                        |r| r.get(0),
                    )
                    .optional()?;
                keep_from = match young {
                    Some(seq) => row::from_sql(seq)?,
                    None => last + 1,
                };
            }
            if keep_from > first {
                let keep_from = row::clamp_to_sql(keep_from);
                let newest: Option<i64> = newest_removed
                    .query_row(params![id, keep_from], |r| r.get(0))
                    .optional()?;
                if let Some(gseq) = newest {
                    mark.execute(params![id, gseq])?;
                }
                let n = delete.execute(params![id, keep_from])?;
                removed += n as u64;
            }
        }
        drop((first_young, newest_removed, mark, delete));
        tx.commit()?;
    }
    Ok(removed)
}

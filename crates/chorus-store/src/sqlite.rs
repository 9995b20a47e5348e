//! [`SqliteStore`]: room streams in one SQLite file, the default store — history that
//! survives restarts with no server to run.
//!
//! Two connections: the *writer*, behind a mutex, used by the hub's publisher thread for
//! appends and retention, and a read-only *reader*, behind its own mutex, for joins and
//! replays from any thread. In WAL mode a reader never waits for a writer's transaction and
//! sees only committed batches, so a page's position and entries are one snapshot.
//!
//! An append batch is one `BEGIN IMMEDIATE` transaction with cached prepared statements:
//! one update of the store-wide sequence counter, reserving the batch's sequence numbers;
//! per stream in the batch, one lookup (or insert) of its row and one update of its
//! `last_offset`; per message, one insert. Offsets and sequence numbers are read inside that
//! transaction, not cached, so a second store on the same file (another process) cannot
//! make them collide. How durable a commit is depends on [`Durability`].
//!
//! Session records (`sqlite/sessions.rs`) are written by the writer, one transaction per
//! call — as durable as a batch — and read by the reader, from any thread.
//!
//! Stream rows are never deleted (see `sqlite/schema.rs`), so a stream's epoch is derived
//! with generation 0 once, stored, and never changes while the file lives. Offsets and
//! `time_ms` beyond `i64::MAX` (SQLite's integers) are refused with an error, never wrapped.

mod lifecycle;
mod retention;
mod row;
mod schema;
mod sessions;

use std::collections::hash_map::{Entry, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::epoch::EpochSource;
use crate::rules;
use crate::{Append, Page, Retention, SessionWrite, Stamp, Store, StoreError, StreamPos};

/// How far a commit is made durable before `append_batch` returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: a commit is in the OS's page cache, not yet on disk.
    /// Survives the process being killed (even `SIGKILL`), not an OS crash or power loss,
    /// which may lose the last moments of history (never corrupt the file).
    #[default]
    Batched,
    /// WAL with `synchronous=FULL`: every batch is fsynced before `append_batch` returns.
    /// Survives an OS crash; costs one fsync per batch.
    Fsync,
}

impl Durability {
    /// `"batched"` or `"fsync"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Batched => "batched",
            Self::Fsync => "fsync",
        }
    }
}

/// Why a SQLite store operation failed; reaches callers as [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum SqliteError {
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot create the directory for {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} has history schema version {found}, newer than this build supports \
         ({supported}); it was written by a newer chorus — upgrade, or use another file"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{0} is a SQLite database but not a chorus history store")]
    Foreign(PathBuf),
    #[error("sqlite would not use WAL journaling (journal_mode is {0:?})")]
    NoWal(String),
    #[error("corrupt history database: {0}")]
    Corrupt(&'static str),
    #[error("{0} out of range for the history database")]
    OutOfRange(&'static str),
}

impl From<SqliteError> for StoreError {
    fn from(err: SqliteError) -> Self {
        StoreError::backend(err)
    }
}

/// Room streams in a SQLite file; see the [module docs](self).
pub struct SqliteStore {
    path: PathBuf,
    durability: Durability,
    epochs: EpochSource,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if need be) the store at `path`.
    ///
    /// Fails if the file is not a SQLite database, is another program's database, cannot
    /// use WAL, or was written by a newer build (a higher schema version).
    ///
    /// Under [`Durability::Batched`], if the previous store on this file was not dropped
    /// and the machine has rebooted since, the last batches may be lost: every stream then
    /// gets a new epoch (see `sqlite/lifecycle.rs`).
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let boot = lifecycle::current_boot_id();
        Ok(Self::open_on_boot(path, durability, boot.as_deref())?)
    }

    /// [`SqliteStore::open`] as if the kernel's boot id were `boot`.
    fn open_on_boot(
        path: &Path,
        durability: Durability,
        boot: Option<&str>,
    ) -> Result<Self, SqliteError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| SqliteError::CreateDir {
                path: path.to_owned(),
                source,
            })?;
        }
        let (writer, epochs) = schema::open_writer(path, durability, boot)?;
        let reader = schema::open_reader(path)?;
        Ok(Self {
            path: path.to_owned(),
            durability,
            epochs,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability it was opened with.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    fn append(&self, batch: &[Append]) -> Result<Vec<Stamp>, SqliteError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stamps = Vec::with_capacity(batch.len());
        {
            // Reserves the batch's sequence numbers: `last - len + 1 ..= last`.
            let count = row::to_sql(batch.len() as u64, "batch size")?;
            let reserved: Option<i64> = tx
                .prepare_cached(
                    "UPDATE sequence SET last_gseq = last_gseq + ?1 WHERE id = 1 \
                     RETURNING last_gseq",
                )?
                .query_row([count], |r| r.get(0))
                .optional()?;
            let reserved = reserved.ok_or(SqliteError::Corrupt("missing sequence counter"))?;
            let mut seq = row::from_sql(reserved)?
                .checked_sub(batch.len() as u64)
                .ok_or(SqliteError::Corrupt("sequence counter"))?;

            let mut find =
                tx.prepare_cached("SELECT id, last_offset FROM streams WHERE name = ?1")?;
            let mut create = tx.prepare_cached(
                "INSERT INTO streams (name, epoch, last_offset) VALUES (?1, ?2, 0) RETURNING id",
            )?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO messages (stream, {}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                row::COLUMNS
            ))?;
            // Row id and last offset of each stream this batch touched.
            let mut touched: HashMap<&str, (i64, u64)> = HashMap::new();
            for append in batch {
                let name = &*append.stream;
                let stream = match touched.entry(name) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        let found: Option<(i64, i64)> = find
                            .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                            .optional()?;
                        v.insert(match found {
                            Some((id, last)) => (id, row::from_sql(last)?),
                            None => {
                                let epoch = self.epochs.epoch(0, name);
                                (create.query_row(params![name, &*epoch], |r| r.get(0))?, 0)
                            }
                        })
                    }
                };
                stream.1 += 1;
                seq += 1;
                stamps.push(Stamp {
                    offset: stream.1,
                    seq,
                });
                let e = &append.event;
                insert.execute(params![
                    stream.0,
                    row::to_sql(stream.1, "offset")?,
                    row::to_sql(seq, "sequence number")?,
                    row::to_sql(e.time_ms, "time_ms")?,
                    &*e.name,
                    row::kind_to_sql(e.kind),
                    &e.data[..],
                    row::encode_attachments(&e.attachments)?,
                    e.from.as_ref().map(|f| &*f.0),
                    e.from.as_ref().map(|f| &*f.1),
                    e.except.as_deref(),
                ])?;
            }
            let mut update =
                tx.prepare_cached("UPDATE streams SET last_offset = ?2 WHERE id = ?1")?;
            for &(id, last) in touched.values() {
                update.execute(params![id, row::to_sql(last, "offset")?])?;
            }
        }
        tx.commit()?;
        Ok(stamps)
    }

    /// The stream's row, or what it would be if it has none.
    fn stream(&self, conn: &Connection, stream: &str) -> Result<StreamRow, SqliteError> {
        let found: Option<(i64, String, i64, i64)> = conn
            .prepare_cached(
                "SELECT id, epoch, last_offset, trimmed_gseq FROM streams WHERE name = ?1",
            )?
            .query_row([stream], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        Ok(match found {
            Some((id, epoch, last, trimmed)) => StreamRow {
                id: Some(id),
                pos: StreamPos {
                    epoch: epoch.into(),
                    offset: row::from_sql(last)?,
                },
                trimmed_gseq: row::from_sql(trimmed)?,
            },
            None => StreamRow {
                id: None,
                pos: StreamPos {
                    epoch: self.epochs.epoch(0, stream),
                    offset: 0,
                },
                trimmed_gseq: 0,
            },
        })
    }

    fn page(
        &self,
        stream: &str,
        epoch: Option<&str>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page, SqliteError> {
        let mut conn = self.reader.lock();
        // One read transaction: the position and the entries are one snapshot.
        let tx = conn.transaction()?;
        let StreamRow { id, pos, .. } = self.stream(&tx, stream)?;
        // `None` is read_last: after the last `limit`.
        let after = after.unwrap_or_else(|| rules::last_n_after(pos.offset, limit));
        if epoch.is_some_and(|e| e != &*pos.epoch) {
            return Ok(mismatch(pos));
        }
        let mut entries = Vec::new();
        if let Some(id) = id.filter(|_| after < pos.offset) {
            // At least one row, even for limit 0: the first kept offset decides truncation.
            let rows = i64::try_from(limit).unwrap_or(i64::MAX).max(1);
            let mut select = tx.prepare_cached(&format!(
                "SELECT {} FROM messages WHERE stream = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                row::COLUMNS
            ))?;
            let mut found = select.query(params![id, row::clamp_to_sql(after), rows])?;
            while let Some(r) = found.next()? {
                entries.push(row::entry(r)?);
            }
        }
        let truncated = rules::truncated(after, pos.offset, entries.first().map(|e| e.offset));
        entries.truncate(limit);
        Ok(Page {
            pos,
            entries,
            truncated,
        })
    }

    /// [`Store::read_after_seq`]: one range of the `(stream, seq)` key filtered on `gseq`,
    /// so the messages skipped are never read out of SQLite, and, when that does not show
    /// whether the message right after `after` is kept, one seek for the first kept offset.
    fn page_after_seq(
        &self,
        stream: &str,
        epoch: &str,
        after: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Page, SqliteError> {
        let mut conn = self.reader.lock();
        let tx = conn.transaction()?;
        let StreamRow {
            id,
            pos,
            trimmed_gseq,
        } = self.stream(&tx, stream)?;
        if epoch != &*pos.epoch {
            return Ok(mismatch(pos));
        }
        let mut entries = Vec::new();
        let mut first_kept_after = None;
        if let Some(id) = id.filter(|_| after < pos.offset) {
            let after_sql = row::clamp_to_sql(after);
            if limit > 0 {
                let mut select = tx.prepare_cached(&select_after_seq())?;
                let rows = i64::try_from(limit).unwrap_or(i64::MAX);
                let mut found =
                    select.query(params![id, after_sql, row::clamp_to_sql(after_seq), rows])?;
                while let Some(r) = found.next()? {
                    entries.push(row::entry(r)?);
                }
            }
            first_kept_after = match entries.first() {
                Some(e) if e.offset == after + 1 => Some(e.offset),
                _ => tx
                    .prepare_cached("SELECT min(seq) FROM messages WHERE stream = ?1 AND seq > ?2")?
                    .query_row(params![id, after_sql], |r| r.get::<_, Option<i64>>(0))?
                    .map(row::from_sql)
                    .transpose()?,
            };
        }
        let truncated = rules::truncated_after_seq(
            after,
            pos.offset,
            first_kept_after,
            trimmed_gseq,
            after_seq,
        );
        Ok(Page {
            pos,
            entries,
            truncated,
        })
    }
}

/// The query of [`SqliteStore::page_after_seq`]: `?1` stream id, `?2` after, `?3` after_seq,
/// `?4` limit.
fn select_after_seq() -> String {
    format!(
        "SELECT {} FROM messages WHERE stream = ?1 AND seq > ?2 AND gseq > ?3 \
         ORDER BY seq LIMIT ?4",
        row::COLUMNS
    )
}

/// A stream as its `streams` row says, or as it would be without one.
struct StreamRow {
    /// The row's id; `None` for a stream never appended to.
    id: Option<i64>,
    pos: StreamPos,
    /// `gseq` of the newest message retention removed; 0 if none.
    trimmed_gseq: u64,
}

/// The page for a reader whose epoch is not the stream's: nothing it can continue from.
fn mismatch(pos: StreamPos) -> Page {
    Page {
        pos,
        entries: Vec::new(),
        truncated: true,
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

/// A clean close: syncs every batch and removes the crash marker, so the next open keeps the
/// epochs even after a reboot. If that fails, the next open after a reboot changes them:
/// the safe direction.
impl Drop for SqliteStore {
    fn drop(&mut self) {
        let _ = lifecycle::on_close(self.writer.get_mut(), self.durability);
    }
}

impl Store for SqliteStore {
    fn append_batch(&self, batch: &[Append]) -> Result<Vec<Stamp>, StoreError> {
        Ok(self.append(batch)?)
    }

    fn position(&self, stream: &str) -> Result<StreamPos, StoreError> {
        let conn = self.reader.lock();
        Ok(self.stream(&conn, stream)?.pos)
    }

    fn read_after(
        &self,
        stream: &str,
        epoch: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        Ok(self.page(stream, epoch, Some(after), limit)?)
    }

    fn read_after_seq(
        &self,
        stream: &str,
        epoch: &str,
        after: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        Ok(self.page_after_seq(stream, epoch, after, after_seq, limit)?)
    }

    fn read_last(&self, stream: &str, n: usize) -> Result<Page, StoreError> {
        Ok(self.page(stream, None, None, n)?)
    }

    fn trim(&self, now_ms: u64, retention: &dyn Fn(&str) -> Retention) -> Result<u64, StoreError> {
        let mut conn = self.writer.lock();
        let removed = retention::trim(&mut conn, now_ms, retention)?;
        sessions::remove_expired(&conn, now_ms)?;
        Ok(removed)
    }

    fn write_sessions(&self, writes: &[SessionWrite]) -> Result<(), StoreError> {
        Ok(sessions::write(&mut self.writer.lock(), writes)?)
    }

    fn read_session(&self, id: &str, now_ms: u64) -> Result<Option<Bytes>, StoreError> {
        Ok(sessions::read(&self.reader.lock(), id, now_ms)?)
    }

    fn expire_open_sessions(&self, expires_ms: u64) -> Result<u64, StoreError> {
        Ok(sessions::expire_open(&self.writer.lock(), expires_ms)?)
    }
}

#[cfg(test)]
mod tests;

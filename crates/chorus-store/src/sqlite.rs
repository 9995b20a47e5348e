//! [`SqliteStore`]: room streams in one SQLite file, the default store — history that
//! survives restarts with no server to run.
//!
//! Two connections: the *writer*, behind a mutex, used by the hub's publisher thread for
//! appends and retention, and a read-only *reader*, behind its own mutex, for joins and
//! replays from any thread. In WAL mode a reader never waits for a writer's transaction and
//! sees only committed batches, so a page's position and entries are one snapshot.
//!
//! An append batch is one `BEGIN IMMEDIATE` transaction with cached prepared statements:
//! per stream in the batch, one lookup (or insert) of its row and one update of its
//! `last_offset`; per message, one insert. Offsets are read inside that transaction, not
//! cached, so a second store on the same file (another process) cannot make them collide.
//! How durable a commit is depends on [`Durability`].
//!
//! Stream rows are never deleted (see `sqlite/schema.rs`), so a stream's epoch is derived
//! with generation 0 once, stored, and never changes while the file lives. Offsets and
//! `time_ms` beyond `i64::MAX` (SQLite's integers) are refused with an error, never wrapped.

mod lifecycle;
mod retention;
mod row;
mod schema;

use std::collections::hash_map::{Entry, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::epoch::EpochSource;
use crate::rules;
use crate::{Append, Page, Retention, Store, StoreError, StreamPos};

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
        StoreError::Backend(err.to_string())
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

    fn append(&self, batch: &[Append]) -> Result<Vec<u64>, SqliteError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut offsets = Vec::with_capacity(batch.len());
        {
            let mut find =
                tx.prepare_cached("SELECT id, last_offset FROM streams WHERE name = ?1")?;
            let mut create = tx.prepare_cached(
                "INSERT INTO streams (name, epoch, last_offset) VALUES (?1, ?2, 0) RETURNING id",
            )?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO messages (stream, {}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
                offsets.push(stream.1);
                let e = &append.event;
                insert.execute(params![
                    stream.0,
                    row::to_sql(stream.1, "offset")?,
                    row::to_sql(e.time_ms, "time_ms")?,
                    &*e.name,
                    row::kind_to_sql(e.kind),
                    &e.data[..],
                    row::encode_attachments(&e.attachments)?,
                    e.from.as_ref().map(|f| &*f.0),
                    e.from.as_ref().map(|f| &*f.1),
                ])?;
            }
            let mut update =
                tx.prepare_cached("UPDATE streams SET last_offset = ?2 WHERE id = ?1")?;
            for &(id, last) in touched.values() {
                update.execute(params![id, row::to_sql(last, "offset")?])?;
            }
        }
        tx.commit()?;
        Ok(offsets)
    }

    /// The stream's row id and position, or its would-be position if it has no row.
    fn pos(
        &self,
        conn: &Connection,
        stream: &str,
    ) -> Result<(Option<i64>, StreamPos), SqliteError> {
        let found: Option<(i64, String, i64)> = conn
            .prepare_cached("SELECT id, epoch, last_offset FROM streams WHERE name = ?1")?
            .query_row([stream], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        Ok(match found {
            Some((id, epoch, last)) => (
                Some(id),
                StreamPos {
                    epoch: epoch.into(),
                    offset: row::from_sql(last)?,
                },
            ),
            None => (
                None,
                StreamPos {
                    epoch: self.epochs.epoch(0, stream),
                    offset: 0,
                },
            ),
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
        let (id, pos) = self.pos(&tx, stream)?;
        // `None` is read_last: after the last `limit`.
        let after = after.unwrap_or_else(|| rules::last_n_after(pos.offset, limit));
        if epoch.is_some_and(|e| e != &*pos.epoch) {
            return Ok(Page {
                pos,
                entries: Vec::new(),
                truncated: true,
            });
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
    fn append_batch(&self, batch: &[Append]) -> Result<Vec<u64>, StoreError> {
        Ok(self.append(batch)?)
    }

    fn position(&self, stream: &str) -> Result<StreamPos, StoreError> {
        let conn = self.reader.lock();
        Ok(self.pos(&conn, stream)?.1)
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

    fn read_last(&self, stream: &str, n: usize) -> Result<Page, StoreError> {
        Ok(self.page(stream, None, None, n)?)
    }

    fn trim(&self, now_ms: u64, retention: &dyn Fn(&str) -> Retention) -> Result<u64, StoreError> {
        Ok(retention::trim(&mut self.writer.lock(), now_ms, retention)?)
    }
}

#[cfg(test)]
mod tests;

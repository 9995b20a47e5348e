//! The SQLite file's layout and how a connection to it is set up: pragmas per
//! [`Durability`], the schema, its version (`PRAGMA user_version`) and the epoch secret.
//!
//! ```sql
//! meta     (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID  -- epoch_secret, open_on_boot
//! streams  (id INTEGER PRIMARY KEY, name TEXT UNIQUE, epoch TEXT, last_offset INTEGER)
//! messages (stream INTEGER, seq INTEGER, time_ms INTEGER, name TEXT, kind INTEGER,
//!           data BLOB, attachments BLOB, from_id TEXT, from_name TEXT,
//!           PRIMARY KEY (stream, seq)) WITHOUT ROWID
//! ```
//!
//! `seq` is the message's offset (`OFFSET` is an SQL keyword). `messages` is clustered on
//! `(stream, seq)`, so a replay or a retention pass is one range of the B-tree. A stream row
//! is never deleted: its `last_offset` and `epoch` outlive retention, which is what keeps
//! offsets increasing and epochs stable.
//!
//! Version 1 is the only one so far. A file with a higher version was written by a newer
//! build and is refused rather than misread; a file with version 0 is new and gets the
//! schema, in one transaction, so a crash halfway leaves nothing half made — unless it
//! already has tables: then it is some other program's database, and is left alone.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::{lifecycle, Durability, SqliteError};
use crate::epoch::EpochSource;

/// The schema version this build writes and reads.
pub(super) const VERSION: i64 = 1;

/// How long a connection waits for a lock held by another connection (a checkpoint, or
/// another process on the same file) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (SQLite's default is 2 MiB).
const CACHE_KIB: i64 = 16 * 1024;

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE streams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    epoch TEXT NOT NULL,
    last_offset INTEGER NOT NULL
);
CREATE TABLE messages (
    stream INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    data BLOB NOT NULL,
    attachments BLOB,
    from_id TEXT,
    from_name TEXT,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
";

/// Opens the writing connection: creates the file, sets WAL, creates or checks the schema,
/// runs the crash check (see `lifecycle.rs`) with this `boot` id, then sets the durability.
/// Returns the epoch secret with it.
pub(super) fn open_writer(
    path: &Path,
    durability: Durability,
    boot: Option<&str>,
) -> Result<(Connection, EpochSource), SqliteError> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Before anything writes to the file: never touch a newer build's (or another
    // program's) database.
    check_version(&conn, path)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SqliteError::NoWal(mode));
    }
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    // The opening transaction is fsynced whatever the durability: it is rare, and the
    // crash marker it writes must be on disk before any batch.
    conn.pragma_update(None, "synchronous", "FULL")?;

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read under the write lock: another process may have created the schema meanwhile.
    let secret = match check_version(&tx, path)? {
        0 => {
            tx.execute_batch(SCHEMA)?;
            let secret = EpochSource::random();
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('epoch_secret', ?1)",
                [secret.to_hex()],
            )?;
            tx.pragma_update(None, "user_version", VERSION)?;
            secret
        }
        _ => read_secret(&tx)?,
    };
    let secret = lifecycle::on_open(&tx, secret, durability, boot)?;
    tx.commit()?;

    let synchronous = match durability {
        Durability::Batched => "NORMAL",
        Durability::Fsync => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    Ok((conn, secret))
}

/// Opens a read-only connection to a file [`open_writer`] has set up.
pub(super) fn open_reader(path: &Path) -> Result<Connection, SqliteError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(conn)
}

/// The file's schema version, refusing one newer than [`VERSION`], and a version 0 (not
/// ours yet) that has tables (someone else's).
fn check_version(conn: &Connection, path: &Path) -> Result<i64, SqliteError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found == 0 {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if tables > 0 {
            return Err(SqliteError::Foreign(path.to_owned()));
        }
    }
    if found > VERSION {
        return Err(SqliteError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: VERSION,
        });
    }
    if found < 0 {
        return Err(SqliteError::Corrupt("negative schema version"));
    }
    Ok(found)
}

fn read_secret(conn: &Connection) -> Result<EpochSource, SqliteError> {
    let hex: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'epoch_secret'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    hex.as_deref()
        .and_then(EpochSource::from_hex)
        .ok_or(SqliteError::Corrupt("missing or malformed epoch secret"))
}

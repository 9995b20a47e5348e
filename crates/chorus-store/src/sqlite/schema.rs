//! The SQLite file's layout and how a connection to it is set up: pragmas per
//! [`Durability`], the schema, its version (`PRAGMA user_version`), migrations from older
//! versions, and the epoch secret.
//!
//! ```sql
//! meta     (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID  -- epoch_secret, open_on_boot
//! sequence (id INTEGER PRIMARY KEY CHECK (id = 1), last_gseq INTEGER)  -- one row
//! streams  (id INTEGER PRIMARY KEY, name TEXT UNIQUE, epoch TEXT, last_offset INTEGER,
//!           trimmed_gseq INTEGER)
//! messages (stream INTEGER, seq INTEGER, time_ms INTEGER, name TEXT, kind INTEGER,
//!           data BLOB, attachments BLOB, from_id TEXT, from_name TEXT, gseq INTEGER,
//!           except_id TEXT, PRIMARY KEY (stream, seq)) WITHOUT ROWID
//! sessions (id TEXT PRIMARY KEY, record BLOB, expires_ms INTEGER) WITHOUT ROWID
//!           + INDEX sessions_expiry (expires_ms)
//! ```
//!
//! `seq` is the message's offset in its stream (`OFFSET` is an SQL keyword); `gseq` is its
//! store-wide sequence number ([`crate::Stamp::seq`]). `messages` is clustered on
//! `(stream, seq)`, so a replay or a retention pass is one range of the B-tree, and a read
//! after a sequence number is the same range with a filter on `gseq` (which grows with `seq`
//! within a stream). A stream row is never deleted: its `last_offset` and `epoch` outlive
//! retention, which is what keeps offsets increasing and epochs stable, and its
//! `trimmed_gseq` is the `gseq` of the newest message retention removed from it (see
//! [`crate::rules::truncated_after_seq`]).
//!
//! The last sequence number handed out lives in `sequence`, one row, and never goes back,
//! even when retention has removed every message (`max(gseq)` would). Each append batch
//! reserves its numbers inside its own transaction with one `UPDATE … RETURNING`, like it
//! reads its streams' offsets, so two processes on one file cannot hand out the same one.
//! It is not a `meta` key because `meta` holds text: an integer column lets SQLite do the
//! addition in that one statement, where a text value would take a read, a parse and a
//! write per batch.
//!
//! `sessions` holds the session records ([`crate::SessionWrite`]); `expires_ms` is `NULL`
//! while the record's client is connected. The index on it makes retention's removal of
//! expired records, and `expire_open_sessions`, ranges rather than scans of every record.
//!
//! # Versions
//!
//! * 1 — `meta`, `streams`, `messages` without the sequence number columns.
//! * 2 — adds `messages.gseq`, `streams.trimmed_gseq` (both `DEFAULT 0`),
//!   `messages.except_id` (the connection a message was published to its room but, `NULL`
//!   for none and for older messages), `sequence` and `sessions`. A version-1 file is migrated when it is opened, in one transaction:
//!   its messages get `gseq` 0 ("stored before stores kept one"), and the counter starts
//!   at 0, so new messages get 1, 2, …. New files get the same layout directly.
//!
//! A file with a higher version was written by a newer build and is refused rather than
//! misread; a file with version 0 is new and gets the schema, in one transaction, so a
//! crash halfway leaves nothing half made — unless it already has tables: then it is some
//! other program's database, and is left alone.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::{lifecycle, Durability, SqliteError};
use crate::epoch::EpochSource;

/// The schema version this build writes and reads.
pub(super) const VERSION: i64 = 2;

/// How long a connection waits for a lock held by another connection (a checkpoint, or
/// another process on the same file) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (SQLite's default is 2 MiB).
const CACHE_KIB: i64 = 16 * 1024;

/// A new file's tables: version [`VERSION`]. The same layout as a version-1 file after
/// [`MIGRATE_1_TO_2`] (added columns last), so the two cannot differ.
const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE streams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    epoch TEXT NOT NULL,
    last_offset INTEGER NOT NULL,
    trimmed_gseq INTEGER NOT NULL DEFAULT 0
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
    gseq INTEGER NOT NULL DEFAULT 0,
    except_id TEXT,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
";

/// What version 2 adds to version 1, to both a new file (after [`SCHEMA`]'s tables) and a
/// migrated one (after the columns it adds).
const SEQUENCE_AND_SESSIONS: &str = "
CREATE TABLE sequence (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_gseq INTEGER NOT NULL
);
INSERT INTO sequence (id, last_gseq) VALUES (1, 0);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    record BLOB NOT NULL,
    expires_ms INTEGER
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions (expires_ms);
";

/// Version 1 to 2: the sequence number columns, default 0 for what is already stored.
/// `ADD COLUMN` with a constant default rewrites no row.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE messages ADD COLUMN gseq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN except_id TEXT;
ALTER TABLE streams ADD COLUMN trimmed_gseq INTEGER NOT NULL DEFAULT 0;
";

/// Opens the writing connection: creates the file, sets WAL, creates, migrates or checks
/// the schema, runs the crash check (see `lifecycle.rs`) with this `boot` id, then sets the durability.
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
    // Re-read under the write lock: another process may have created or migrated the
    // schema meanwhile.
    let secret = match check_version(&tx, path)? {
        0 => {
            tx.execute_batch(SCHEMA)?;
            tx.execute_batch(SEQUENCE_AND_SESSIONS)?;
            let secret = EpochSource::random();
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('epoch_secret', ?1)",
                [secret.to_hex()],
            )?;
            tx.pragma_update(None, "user_version", VERSION)?;
            secret
        }
        1 => {
            tx.execute_batch(MIGRATE_1_TO_2)?;
            tx.execute_batch(SEQUENCE_AND_SESSIONS)?;
            tx.pragma_update(None, "user_version", VERSION)?;
            read_secret(&tx)?
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

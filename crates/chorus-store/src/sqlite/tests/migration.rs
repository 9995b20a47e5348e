//! Files written by older builds: a version-1 file is migrated in place, keeps everything
//! it stored, and ends up with the layout of a new file.

use std::path::Path;

use rusqlite::Connection;

use super::{db_path, open, put_open, user_version};
use crate::conformance::{append_stamped, json_event};
use crate::epoch::EpochSource;
use crate::sqlite::{schema, Durability, SqliteStore};
use crate::{Retention, Stamp, Store};

/// The layout chorus wrote before sequence numbers and session records, verbatim.
const V1_SCHEMA: &str = "
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

const V1_SECRET: &str = "000102030405060708090a0b0c0d0e0f";

/// A version-1 file as that build left it after a clean close: stream "a" at offset 3 with
/// offset 1 removed by retention, stream "b" at offset 1.
fn write_v1_file(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = Connection::open(path).unwrap();
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch(V1_SCHEMA).unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO meta (key, value) VALUES ('epoch_secret', '{V1_SECRET}');
         INSERT INTO streams (id, name, epoch, last_offset) VALUES
             (1, 'a', 'epoch-of-a', 3), (2, 'b', 'epoch-of-b', 1);
         INSERT INTO messages (stream, seq, time_ms, name, kind, data) VALUES
             (1, 2, 1002, 'chat', 0, CAST('{{\"n\":2}}' AS BLOB)),
             (1, 3, 1003, 'chat', 0, CAST('{{\"n\":3}}' AS BLOB)),
             (2, 1, 1001, 'chat', 0, CAST('{{\"n\":1}}' AS BLOB));
         PRAGMA user_version = 1;"
    ))
    .unwrap();
}

/// Each table's and index's columns (name, type, not null, default, key), to compare
/// layouts.
fn layout(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for name in names {
        let mut columns = conn
            .prepare(&format!("SELECT * FROM pragma_table_xinfo('{name}')"))
            .unwrap();
        let rows = columns
            .query_map([], |r| {
                let values: Vec<rusqlite::types::Value> = (0..r.as_ref().column_count())
                    .map(|i| r.get(i).unwrap())
                    .collect();
                Ok(format!("{name}: {values:?}"))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
        let mut index = conn
            .prepare(&format!("SELECT * FROM pragma_index_xinfo('{name}')"))
            .unwrap();
        let rows = index
            .query_map([], |r| {
                let values: Vec<rusqlite::types::Value> = (0..r.as_ref().column_count())
                    .map(|i| r.get(i).unwrap())
                    .collect();
                Ok(format!("{name} index: {values:?}"))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

#[test]
fn a_version_1_file_is_migrated_in_place() {
    let (_dir, path) = db_path();
    write_v1_file(&path);
    let store = open(&path);
    assert_eq!(user_version(&path), schema::VERSION);

    // What was stored is there, unchanged, with sequence number 0.
    let a = store.position("a").unwrap();
    assert_eq!((&*a.epoch, a.offset), ("epoch-of-a", 3));
    let page = store.read_after("a", Some("epoch-of-a"), 0, 10).unwrap();
    let got: Vec<(u64, u64)> = page.entries.iter().map(|e| (e.offset, e.seq)).collect();
    assert_eq!((got, page.truncated), (vec![(2, 0), (3, 0)], true));
    assert_eq!(page.entries[1].event.data, &b"{\"n\":3}"[..]);
    assert_eq!(page.entries[1].event.time_ms, 1003);
    // The epoch secret is the same: streams not yet created keep their epochs.
    let secret = EpochSource::from_hex(V1_SECRET).unwrap();
    assert_eq!(store.position("new").unwrap().epoch, secret.epoch(0, "new"));
    // Messages stored before sequence numbers count as had by every reader: a read after a
    // sequence number skips them, and their removal (before the migration, or after) is
    // no truncation.
    let page = store.read_after_seq("a", "epoch-of-a", 0, 0, 10).unwrap();
    assert!(page.entries.is_empty() && !page.truncated);

    // New messages get sequence numbers from 1.
    assert_eq!(
        append_stamped(&store, "a", json_event("m", 4)),
        Stamp { offset: 4, seq: 1 }
    );
    assert_eq!(
        append_stamped(&store, "new", json_event("m", 1)),
        Stamp { offset: 1, seq: 2 }
    );
    let page = store.read_after_seq("a", "epoch-of-a", 0, 0, 10).unwrap();
    assert_eq!(
        (page.entries.len(), page.entries[0].seq, page.truncated),
        (1, 1, false)
    );
    let keep_one = |_: &str| Retention {
        max_messages: 1,
        max_age: std::time::Duration::MAX,
    };
    assert_eq!(store.trim(0, &keep_one).unwrap(), 2);
    assert!(
        !store
            .read_after_seq("a", "epoch-of-a", 0, 0, 10)
            .unwrap()
            .truncated
    );
    store.write_sessions(&[put_open("s", b"rec")]).unwrap();
    drop(store);

    // The migrated file has the layout of a new one, and opens as one.
    let (_fresh_dir, fresh) = db_path();
    drop(open(&fresh));
    assert_eq!(layout(&path), layout(&fresh));
    let store = open(&path);
    assert_eq!(store.position("b").unwrap().epoch.as_ref(), "epoch-of-b");
    assert_eq!(append_stamped(&store, "b", json_event("m", 2)).seq, 3);
    assert!(store.read_session("s", 0).unwrap().is_some());
}

#[test]
fn a_failed_migration_leaves_the_version_1_file_as_it_was() {
    let (_dir, path) = db_path();
    write_v1_file(&path);
    // A table in the way of the migration: it fails halfway, and must roll back.
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE sessions (x)")
        .unwrap();
    let before = layout(&path);
    assert!(SqliteStore::open(&path, Durability::Batched).is_err());
    assert_eq!(user_version(&path), 1);
    assert_eq!(layout(&path), before);
}

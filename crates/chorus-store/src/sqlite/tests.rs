//! The conformance suite under both durabilities, and what only a file can do: be reopened,
//! deleted, shared, or written by a newer build. Files written by an older build (schema
//! migrations) are in `tests/migration.rs`.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use rusqlite::Connection;

use super::*;
use crate::conformance::{append_one, append_stamped, json_event, Case};
use crate::{DataKind, SessionWrite, Stamp, StoredEvent};

fn run_with(durability: Durability, case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("history.db"), durability).unwrap();
    case(&store);
}

fn run_batched(case: Case) {
    run_with(Durability::Batched, case);
}

fn run_fsync(case: Case) {
    run_with(Durability::Fsync, case);
}

mod migration;

mod batched {
    conformance_tests!(super::run_batched);
}

mod fsync {
    conformance_tests!(super::run_fsync);
}

fn db_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("history.db");
    (dir, path)
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, Durability::Batched).unwrap()
}

fn count(path: &Path, table: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn args_event() -> StoredEvent {
    StoredEvent {
        name: "up\u{1f4e4}".into(),
        kind: DataKind::Args,
        data: Bytes::from_static(br#"["f",{"_placeholder":true,"num":0}]"#),
        attachments: vec![Bytes::from_static(b"\x00bin"), Bytes::new()],
        from: Some(("c1".into(), "Ann".into())),
        except: None,
        time_ms: 42,
    }
}

#[test]
fn reopening_keeps_epochs_offsets_and_data() {
    let (_dir, path) = db_path();
    let (a, b, unknown, page) = {
        let store = open(&path);
        append_one(&store, "a", json_event("m", 1));
        append_one(&store, "a", args_event());
        append_one(&store, "b", json_event("m", 1));
        (
            store.position("a").unwrap(),
            store.position("b").unwrap(),
            store.position("never").unwrap(),
            store.read_after("a", None, 0, 10).unwrap(),
        )
    };
    // Reopened with the other durability: durability is per connection, not per file.
    let store = SqliteStore::open(&path, Durability::Fsync).unwrap();
    assert_eq!(store.position("a").unwrap(), a);
    assert_eq!(store.position("b").unwrap(), b);
    assert_eq!(store.position("never").unwrap(), unknown);
    assert_eq!(store.read_after("a", Some(&a.epoch), 0, 10).unwrap(), page);
    assert_eq!(page.entries[1].event, args_event());
    assert_eq!(append_one(&store, "a", json_event("m", 3)), 3);
    assert_eq!(append_one(&store, "never", json_event("m", 1)), 1);
    assert_eq!(store.position("never").unwrap().epoch, unknown.epoch);
}

#[test]
fn a_deleted_file_gives_new_epochs() {
    let (dir, path) = db_path();
    let (before, unknown) = {
        let store = open(&path);
        append_one(&store, "a", json_event("m", 1));
        (store.position("a").unwrap(), store.position("b").unwrap())
    };
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let store = open(&path);
    let after = store.position("a").unwrap();
    assert_eq!(after.offset, 0);
    assert_ne!(after.epoch, before.epoch);
    assert_ne!(store.position("b").unwrap().epoch, unknown.epoch);
    let page = store.read_after("a", Some(&before.epoch), 1, 10).unwrap();
    assert!(page.truncated && page.entries.is_empty());
}

#[test]
fn a_newer_schema_version_is_refused_and_left_alone() {
    let (_dir, path) = db_path();
    drop(open(&path));
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", schema::VERSION + 1)
        .unwrap();
    let err = SqliteStore::open(&path, Durability::Batched).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("schema version 3"), "{message}");
    assert!(message.contains("newer"), "{message}");
    assert_eq!(user_version(&path), 3);
}

#[test]
fn a_file_that_is_not_a_database_is_an_error() {
    let (dir, _) = db_path();
    let path = dir.path().join("junk.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = SqliteStore::open(&path, Durability::Batched).unwrap_err();
    assert!(err.to_string().contains("sqlite"), "{err}");
}

#[test]
fn another_programs_database_is_left_alone() {
    let (dir, _) = db_path();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
        .unwrap();
    let err = SqliteStore::open(&path, Durability::Batched).unwrap_err();
    assert!(
        err.to_string().contains("not a chorus history store"),
        "{err}"
    );
    assert_eq!(count(&path, "accounts"), 0);
    let tables: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1);
    let mode: String = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "journal mode untouched");
}

#[test]
fn open_creates_parent_directories_and_sets_the_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c/history.db");
    for (durability, synchronous) in [(Durability::Batched, 1), (Durability::Fsync, 2)] {
        let store = SqliteStore::open(&path, durability).unwrap();
        assert_eq!(store.path(), path);
        assert_eq!(store.durability(), durability);
        let conn = store.writer.lock();
        let get = |name: &str| -> String {
            conn.pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert!(get("journal_mode").contains("wal"));
        assert!(get("synchronous").contains(&synchronous.to_string()));
        assert!(format!("{store:?}").contains("history.db"));
    }
}

#[test]
fn reads_do_not_create_rows() {
    let (_dir, path) = db_path();
    let store = open(&path);
    for i in 0..200 {
        store.position(&format!("room{i}")).unwrap();
        store
            .read_after(&format!("r{i}"), Some("e"), 5, 10)
            .unwrap();
        store.read_last(&format!("s{i}"), 10).unwrap();
    }
    assert_eq!(count(&path, "streams"), 0);
    append_one(&store, "room1", json_event("m", 1));
    assert_eq!(count(&path, "streams"), 1);
    assert_eq!(count(&path, "messages"), 1);
}

#[test]
fn two_stores_on_one_file_never_reuse_an_offset() {
    let (_dir, path) = db_path();
    let one = open(&path);
    let two = open(&path);
    let stamps: Vec<Stamp> = (0..6)
        .map(|i| {
            let store = if i % 2 == 0 { &one } else { &two };
            let stream = if i % 3 == 0 { "b" } else { "a" };
            append_stamped(store, stream, json_event("m", i))
        })
        .collect();
    let offsets: Vec<u64> = stamps.iter().map(|s| s.offset).collect();
    let seqs: Vec<u64> = stamps.iter().map(|s| s.seq).collect();
    assert_eq!(offsets, [1, 1, 2, 2, 3, 4]);
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(one.position("a").unwrap(), two.position("a").unwrap());
}

#[test]
fn a_failed_batch_leaves_nothing_behind() {
    let (_dir, path) = db_path();
    let store = open(&path);
    let bad = StoredEvent {
        time_ms: u64::MAX,
        ..json_event("m", 2)
    };
    let batch = [
        Append {
            stream: "a".into(),
            event: json_event("m", 1),
        },
        Append {
            stream: "a".into(),
            event: bad,
        },
    ];
    let err = store.append_batch(&batch).unwrap_err();
    assert!(err.to_string().contains("time_ms"), "{err}");
    assert_eq!(store.position("a").unwrap().offset, 0);
    assert_eq!(count(&path, "streams"), 0);
    let stamp = append_stamped(&store, "a", json_event("m", 1));
    assert_eq!(
        stamp,
        Stamp { offset: 1, seq: 1 },
        "nothing reserved either"
    );
}

#[test]
fn retention_walks_more_streams_than_one_page() {
    let (_dir, path) = db_path();
    let store = open(&path);
    let streams = (retention::TRIM_PAGE * 2 + 3) as u64;
    let batch: Vec<Append> = (0..streams)
        .flat_map(|s| (0..3).map(move |n| (s, n)))
        .map(|(s, n)| Append {
            stream: format!("s{s}").into(),
            event: json_event("m", n),
        })
        .collect();
    store.append_batch(&batch).unwrap();
    let keep_one = |_: &str| Retention {
        max_messages: 1,
        max_age: std::time::Duration::MAX,
    };
    assert_eq!(store.trim(0, &keep_one).unwrap(), streams * 2);
    assert_eq!(count(&path, "messages"), streams as i64);
}

fn open_on(path: &Path, durability: Durability, boot: Option<&str>) -> SqliteStore {
    SqliteStore::open_on_boot(path, durability, boot).unwrap()
}

/// Simulates the process dying: no `Drop`, so no clean close.
fn kill(store: SqliteStore) {
    std::mem::forget(store);
}

#[test]
fn a_killed_process_keeps_the_epochs_while_the_os_stays_up() {
    let (_dir, path) = db_path();
    let store = open_on(&path, Durability::Batched, Some("boot-1"));
    append_one(&store, "a", json_event("m", 1));
    let (a, b) = (store.position("a").unwrap(), store.position("b").unwrap());
    kill(store);
    let store = open_on(&path, Durability::Batched, Some("boot-1"));
    assert_eq!(store.position("a").unwrap(), a);
    assert_eq!(store.position("b").unwrap(), b);
}

#[test]
fn an_os_crash_under_batched_gives_every_stream_a_new_epoch() {
    let (_dir, path) = db_path();
    let store = open_on(&path, Durability::Batched, Some("boot-1"));
    append_one(&store, "a", json_event("m", 1));
    append_one(&store, "a", json_event("m", 2));
    append_one(&store, "b", json_event("m", 1));
    let (a, b, c) = (
        store.position("a").unwrap(),
        store.position("b").unwrap(),
        store.position("c").unwrap(),
    );
    kill(store);

    let store = open_on(&path, Durability::Batched, Some("boot-2"));
    let a2 = store.position("a").unwrap();
    assert_eq!(a2.offset, 2, "offsets continue");
    assert_ne!(a2.epoch, a.epoch);
    assert_ne!(store.position("b").unwrap().epoch, b.epoch);
    assert_ne!(store.position("c").unwrap().epoch, c.epoch);
    let stale = store.read_after("a", Some(&a.epoch), 1, 10).unwrap();
    assert!(stale.truncated && stale.entries.is_empty());
    let page = store.read_after("a", Some(&a2.epoch), 0, 10).unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(append_one(&store, "a", json_event("m", 3)), 3);
    drop(store);

    // Closed cleanly: the new epochs survive the next reboot.
    let store = open_on(&path, Durability::Batched, Some("boot-3"));
    assert_eq!(store.position("a").unwrap().epoch, a2.epoch);
}

#[test]
fn clean_closes_and_fsync_sessions_keep_the_epochs_across_reboots() {
    let (_dir, path) = db_path();
    let store = open_on(&path, Durability::Batched, Some("boot-1"));
    append_one(&store, "a", json_event("m", 1));
    let a = store.position("a").unwrap();
    drop(store);
    let store = open_on(&path, Durability::Fsync, Some("boot-2"));
    assert_eq!(store.position("a").unwrap(), a);
    kill(store);
    let store = open_on(&path, Durability::Batched, Some("boot-3"));
    assert_eq!(store.position("a").unwrap(), a);
    kill(store);
    // No boot id to compare after an unclean Batched session: assume the worst.
    let store = open_on(&path, Durability::Batched, None);
    assert_ne!(store.position("a").unwrap().epoch, a.epoch);
}

#[test]
fn sequence_numbers_continue_after_a_reopen_even_when_retention_removed_everything() {
    let (_dir, path) = db_path();
    let highest = {
        let store = open(&path);
        append_stamped(&store, "a", json_event("m", 1));
        let highest = append_stamped(&store, "b", json_event("m", 1)).seq;
        let nothing = |_: &str| Retention {
            max_messages: 0,
            max_age: std::time::Duration::MAX,
        };
        assert_eq!(store.trim(0, &nothing).unwrap(), 2);
        highest
    };
    assert_eq!(count(&path, "messages"), 0);
    let store = open(&path);
    let next = append_stamped(&store, "c", json_event("m", 1));
    assert_eq!(next.seq, highest + 1);
    // The removed messages' sequence numbers still decide truncation after the reopen.
    let a = store.position("a").unwrap();
    assert!(
        store
            .read_after_seq("a", &a.epoch, 0, 0, 10)
            .unwrap()
            .truncated
    );
    assert!(
        !store
            .read_after_seq("a", &a.epoch, 0, highest, 10)
            .unwrap()
            .truncated
    );
    // So does a process that was killed.
    kill(store);
    let store = open(&path);
    assert_eq!(
        append_stamped(&store, "a", json_event("m", 2)).seq,
        next.seq + 1
    );
}

fn put_open(id: &str, record: &'static [u8]) -> SessionWrite {
    SessionWrite::Put {
        id: id.into(),
        record: Bytes::from_static(record),
        expires_ms: None,
    }
}

#[test]
fn session_records_survive_a_reopen_and_a_kill() {
    let (_dir, path) = db_path();
    let store = open(&path);
    store
        .write_sessions(&[
            put_open("open", b"rooms: a, b"),
            SessionWrite::Put {
                id: "timed".into(),
                record: Bytes::from_static(b"rooms: c"),
                expires_ms: Some(5_000),
            },
            put_open("gone", b""),
            SessionWrite::Delete { id: "gone".into() },
        ])
        .unwrap();
    kill(store);
    let store = open(&path);
    assert_eq!(
        store.read_session("open", 0).unwrap().as_deref(),
        Some(&b"rooms: a, b"[..])
    );
    assert!(store.read_session("timed", 5_000).unwrap().is_some());
    assert_eq!(store.read_session("gone", 0).unwrap(), None);
    // The server that starts gives the records of the one that stopped an expiry.
    assert_eq!(store.expire_open_sessions(9_000).unwrap(), 1);
    drop(store);
    let store = open(&path);
    assert!(store.read_session("open", 9_000).unwrap().is_some());
    assert_eq!(store.read_session("open", 9_001).unwrap(), None);
    assert_eq!(count(&path, "sessions"), 2);
    store
        .trim(9_001, &|_| Retention {
            max_messages: u64::MAX,
            max_age: std::time::Duration::MAX,
        })
        .unwrap();
    assert_eq!(count(&path, "sessions"), 0);
}

/// The query plans the read and retention paths rely on: ranges of B-trees, no sort, no
/// scan of a whole table.
#[test]
fn reads_after_a_sequence_number_and_session_expiry_use_ranges() {
    let (_dir, path) = db_path();
    let store = open(&path);
    let conn = store.writer.lock();
    let plan = |sql: &str| -> String {
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; explain.parameter_count()];
        explain
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let read = plan(&select_after_seq());
    assert_eq!(
        read, "SEARCH messages USING PRIMARY KEY (stream=? AND seq>?)",
        "one range of the clustered key, filtered, in key order"
    );
    let expired = plan("DELETE FROM sessions WHERE expires_ms < ?1");
    assert!(
        expired.contains("sessions_expiry (expires_ms<?)"),
        "{expired}"
    );
    let open = plan("UPDATE sessions SET expires_ms = ?1 WHERE expires_ms IS NULL");
    assert!(open.contains("sessions_expiry (expires_ms=?)"), "{open}");
}

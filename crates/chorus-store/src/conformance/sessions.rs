//! Conformance cases for session records: [`Store::write_sessions`],
//! [`Store::read_session`], [`Store::expire_open_sessions`] and their removal by `trim`.

use std::time::Duration;

use bytes::Bytes;

use super::support::{after, fill, keep, offsets, T0};
use crate::{SessionWrite, Store};

fn put(id: &str, record: &[u8], expires_ms: Option<u64>) -> SessionWrite {
    SessionWrite::Put {
        id: id.into(),
        record: Bytes::copy_from_slice(record),
        expires_ms,
    }
}

fn delete(id: &str) -> SessionWrite {
    SessionWrite::Delete { id: id.into() }
}

fn session(store: &dyn Store, id: &str, now_ms: u64) -> Option<Bytes> {
    store.read_session(id, now_ms).expect("read_session")
}

fn touch(id: &str, expires_ms: u64) -> SessionWrite {
    SessionWrite::Touch {
        id: id.into(),
        expires_ms,
    }
}

/// Touching gives a record its new expiry (an open one, one that expires, either way) and
/// leaves its content; a record that is not there, or was deleted, stays absent.
pub fn sessions_are_touched(store: &dyn Store) {
    store
        .write_sessions(&[put("open", b"o", None), put("soon", b"s", Some(T0 + 5))])
        .unwrap();
    store
        .write_sessions(&[
            touch("open", T0 + 100),
            touch("soon", T0 + 200),
            touch("absent", T0 + 100),
        ])
        .unwrap();
    assert_eq!(session(store, "open", T0 + 100).as_deref(), Some(&b"o"[..]));
    assert_eq!(session(store, "open", T0 + 101), None, "no longer open");
    assert_eq!(session(store, "soon", T0 + 200).as_deref(), Some(&b"s"[..]));
    assert_eq!(session(store, "absent", T0), None);
    store
        .write_sessions(&[delete("soon"), touch("soon", T0 + 500)])
        .unwrap();
    assert_eq!(
        session(store, "soon", T0),
        None,
        "a deleted record stays deleted"
    );
    // The touched expiry is what retention removes by (read as of long ago: only removal
    // can explain a missing record).
    let everything = |_: &str| keep(u64::MAX, Duration::MAX);
    store.trim(T0 + 101, &everything).unwrap();
    assert_eq!(session(store, "open", 0), None);
}

/// Records are created, replaced and deleted in the order written, and come back exactly,
/// from any thread.
pub fn sessions_are_put_read_replaced_and_deleted(store: &dyn Store) {
    assert_eq!(session(store, "s1", T0), None);
    store.write_sessions(&[]).unwrap();
    store
        .write_sessions(&[put("s1", b"one", None), put("s2", b"two", Some(T0 + 1000))])
        .unwrap();
    assert_eq!(session(store, "s1", T0).as_deref(), Some(&b"one"[..]));
    assert_eq!(session(store, "s2", T0).as_deref(), Some(&b"two"[..]));

    store
        .write_sessions(&[
            put("s1", b"uno", None),
            put("s1", b"eins", Some(T0 + 5)),
            delete("s2"),
            put("s3", b"", None),
            delete("absent"),
        ])
        .unwrap();
    assert_eq!(session(store, "s1", T0).as_deref(), Some(&b"eins"[..]));
    assert_eq!(session(store, "s2", T0), None);
    assert_eq!(
        session(store, "s3", T0).as_deref(),
        Some(&b""[..]),
        "empty, not none"
    );
    store
        .write_sessions(&[delete("s1"), put("s1", b"again", None)])
        .unwrap();
    assert_eq!(session(store, "s1", T0).as_deref(), Some(&b"again"[..]));

    let binary: Vec<u8> = (0..=255).chain(0..=255).collect();
    let id = "s\u{e9}ance \u{1f388} 'x\"";
    store.write_sessions(&[put(id, &binary, None)]).unwrap();
    std::thread::scope(|scope| {
        let read = scope.spawn(|| session(store, id, T0));
        assert_eq!(read.join().unwrap().as_deref(), Some(&binary[..]));
    });
    assert_eq!(session(store, "S1", T0), None, "ids are compared exactly");
}

/// A record is valid up to and including the millisecond it expires in; an open one never
/// expires; putting a record again gives it its new expiry.
pub fn sessions_expire(store: &dyn Store) {
    store
        .write_sessions(&[
            put("a", b"a", Some(T0)),
            put("b", b"b", Some(T0 + 10)),
            put("open", b"o", None),
        ])
        .unwrap();
    assert!(session(store, "a", T0).is_some());
    assert_eq!(session(store, "a", T0 + 1), None);
    assert!(session(store, "b", T0 + 10).is_some());
    assert_eq!(session(store, "b", T0 + 11), None);
    assert!(session(store, "open", u64::MAX).is_some());
    store
        .write_sessions(&[put("a", b"a2", Some(T0 + 100))])
        .unwrap();
    assert_eq!(session(store, "a", T0 + 50).as_deref(), Some(&b"a2"[..]));
    assert!(session(store, "b", u64::MAX - 1).is_none());
}

/// `expire_open_sessions` gives its expiry to the records without one, only to them, and
/// counts them.
pub fn expire_open_sessions_touches_only_open_records(store: &dyn Store) {
    assert_eq!(store.expire_open_sessions(T0).unwrap(), 0);
    store
        .write_sessions(&[
            put("open1", b"1", None),
            put("open2", b"2", None),
            put("timed", b"t", Some(T0 + 10)),
        ])
        .unwrap();
    assert_eq!(store.expire_open_sessions(T0 + 100).unwrap(), 2);
    assert_eq!(
        store.expire_open_sessions(T0 + 200).unwrap(),
        0,
        "none left open"
    );
    assert!(session(store, "open1", T0 + 100).is_some());
    assert_eq!(session(store, "open1", T0 + 101), None);
    assert_eq!(session(store, "open2", T0 + 101), None);
    assert!(session(store, "timed", T0 + 10).is_some());
    assert_eq!(
        session(store, "timed", T0 + 11),
        None,
        "its own expiry, unchanged"
    );
    store.write_sessions(&[put("open1", b"1", None)]).unwrap();
    assert_eq!(store.expire_open_sessions(T0 + 300).unwrap(), 1);
    assert_eq!(session(store, "open1", T0 + 301), None);
}

/// `trim` removes the records that expired before `now`, keeps the others, and counts only
/// messages.
pub fn trim_removes_expired_sessions(store: &dyn Store) {
    fill(store, "a", 3);
    store
        .write_sessions(&[
            put("expired", b"x", Some(T0 - 1)),
            put("now", b"n", Some(T0)),
            put("later", b"l", Some(T0 + 1000)),
            put("open", b"o", None),
        ])
        .unwrap();
    let everything = |_: &str| keep(u64::MAX, Duration::MAX);
    assert_eq!(store.trim(T0, &everything).unwrap(), 0);
    // Read as of long ago: only removal can explain a missing record.
    assert_eq!(session(store, "expired", 0), None);
    for id in ["now", "later", "open"] {
        assert!(session(store, id, 0).is_some(), "{id}");
    }
    assert_eq!(store.trim(u64::MAX, &everything).unwrap(), 0);
    assert_eq!(session(store, "now", 0), None);
    assert_eq!(session(store, "later", 0), None);
    assert!(session(store, "open", 0).is_some());
    assert_eq!(offsets(&after(store, "a", 0, 10)), [1, 2, 3]);
}

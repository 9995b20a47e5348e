//! What the cases share: events, appends and reads in a line each.

use std::time::Duration;

use bytes::Bytes;

use crate::{Append, DataKind, Page, Retention, Stamp, Store, StoredEvent};

/// A time all case events are published around (2023-11-14), in ms since the Unix epoch.
pub const T0: u64 = 1_700_000_000_000;

/// A JSON event `{"n":N}` named `name`, published at `T0 + n` ms, with no sender.
pub fn json_event(name: &str, n: u64) -> StoredEvent {
    StoredEvent {
        name: name.into(),
        kind: DataKind::Json,
        data: Bytes::from(format!("{{\"n\":{n}}}")),
        attachments: Vec::new(),
        from: None,
        except: None,
        time_ms: T0 + n,
    }
}

/// Appends one event, returning its stamp.
pub fn append_stamped(store: &dyn Store, stream: &str, event: StoredEvent) -> Stamp {
    let stamps = store
        .append_batch(&[Append {
            stream: stream.into(),
            event,
        }])
        .expect("append");
    assert_eq!(stamps.len(), 1, "one stamp per append");
    stamps[0]
}

/// Appends one event, returning its offset.
pub fn append_one(store: &dyn Store, stream: &str, event: StoredEvent) -> u64 {
    append_stamped(store, stream, event).offset
}

/// Appends `count` events `json_event("m", n)` for the next `n`s, one batch; their stamps.
pub(crate) fn fill_stamped(store: &dyn Store, stream: &str, count: u64) -> Vec<Stamp> {
    let start = store.position(stream).expect("position").offset;
    let batch: Vec<Append> = (start + 1..=start + count)
        .map(|n| Append {
            stream: stream.into(),
            event: json_event("m", n),
        })
        .collect();
    store.append_batch(&batch).expect("append")
}

/// [`fill_stamped`], returning the offsets.
pub(crate) fn fill(store: &dyn Store, stream: &str, count: u64) -> Vec<u64> {
    stamp_offsets(&fill_stamped(store, stream, count))
}

pub(crate) fn stamp_offsets(stamps: &[Stamp]) -> Vec<u64> {
    stamps.iter().map(|s| s.offset).collect()
}

pub(crate) fn offsets(page: &Page) -> Vec<u64> {
    page.entries.iter().map(|e| e.offset).collect()
}

pub(crate) fn seqs(page: &Page) -> Vec<u64> {
    page.entries.iter().map(|e| e.seq).collect()
}

pub(crate) fn after(store: &dyn Store, stream: &str, after: u64, limit: usize) -> Page {
    store
        .read_after(stream, None, after, limit)
        .expect("read_after")
}

pub(crate) fn last(store: &dyn Store, stream: &str, n: usize) -> Page {
    store.read_last(stream, n).expect("read_last")
}

pub(crate) fn keep(max_messages: u64, max_age: Duration) -> Retention {
    Retention {
        max_messages,
        max_age,
    }
}

//! The cases for streams and offsets: appends, reads, retention, epochs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::support::{after, append_one, fill, json_event, keep, last, offsets, stamp_offsets, T0};
use crate::{Append, DataKind, Store, StoredEvent};

/// Offsets are 1, 2, 3, … per stream, across batches and streams.
pub fn offsets_start_at_one_and_increase_across_batches(store: &dyn Store) {
    assert_eq!(fill(store, "a", 3), [1, 2, 3]);
    assert_eq!(fill(store, "a", 2), [4, 5]);
    assert_eq!(fill(store, "b", 1), [1]);
    let mixed: Vec<Append> = ["a", "b", "a"]
        .iter()
        .map(|s| Append {
            stream: (*s).into(),
            event: json_event("m", 0),
        })
        .collect();
    assert_eq!(
        stamp_offsets(&store.append_batch(&mixed).unwrap()),
        [6, 2, 7]
    );
    assert_eq!(store.position("a").unwrap().offset, 7);
    assert_eq!(store.position("b").unwrap().offset, 2);
    let page = after(store, "a", 0, 100);
    assert_eq!(offsets(&page), (1..=7).collect::<Vec<_>>());
    assert!(!page.truncated);
}

/// An empty batch returns no offsets and changes nothing.
pub fn an_empty_batch_appends_nothing(store: &dyn Store) {
    assert!(store.append_batch(&[]).unwrap().is_empty());
    fill(store, "a", 2);
    assert!(store.append_batch(&[]).unwrap().is_empty());
    assert_eq!(store.position("a").unwrap().offset, 2);
}

/// Offset 0 and one epoch on every read; the first append keeps that epoch.
pub fn an_unknown_stream_has_a_stable_epoch_and_keeps_it(store: &dyn Store) {
    let pos = store.position("fresh").unwrap();
    assert_eq!(pos.offset, 0);
    assert!(!pos.epoch.is_empty());
    assert_eq!(store.position("fresh").unwrap(), pos, "stable across reads");
    for page in [
        after(store, "fresh", 0, 10),
        store.read_after("fresh", Some(&pos.epoch), 0, 10).unwrap(),
        last(store, "fresh", 10),
    ] {
        assert_eq!(page.pos, pos);
        assert!(page.entries.is_empty() && !page.truncated, "{page:?}");
    }
    assert_eq!(
        store.position("fresh").unwrap(),
        pos,
        "reads change nothing"
    );

    assert_eq!(append_one(store, "fresh", json_event("m", 1)), 1);
    let now = store.position("fresh").unwrap();
    assert_eq!((now.epoch.clone(), now.offset), (pos.epoch.clone(), 1));
    let page = store.read_after("fresh", Some(&pos.epoch), 0, 10).unwrap();
    assert_eq!((offsets(&page), page.truncated), (vec![1], false));
    assert_eq!(store.position("other").unwrap().offset, 0);
}

/// `after` is exclusive, `limit` bounds the page, oldest first.
pub fn read_after_is_exclusive_and_limited(store: &dyn Store) {
    fill(store, "a", 10);
    let epoch = store.position("a").unwrap().epoch;
    let page = store.read_after("a", Some(&epoch), 3, 4).unwrap();
    assert_eq!(offsets(&page), [4, 5, 6, 7]);
    assert_eq!(page.entries[0].event, json_event("m", 4));
    assert!(!page.truncated);
    assert_eq!(page.pos.offset, 10);
    assert_eq!(offsets(&after(store, "a", 8, 100)), [9, 10]);
    assert_eq!(offsets(&after(store, "a", 0, usize::MAX)).len(), 10);
    for (from, limit) in [(10, 5), (3, 0), (0, 0)] {
        let page = after(store, "a", from, limit);
        assert!(page.entries.is_empty() && !page.truncated, "{from} {limit}");
    }
}

/// Another epoch means another history: nothing to continue from.
pub fn read_after_with_another_epoch_is_empty_and_truncated(store: &dyn Store) {
    fill(store, "a", 3);
    let pos = store.position("a").unwrap();
    let page = store.read_after("a", Some("not-the-epoch"), 1, 10).unwrap();
    assert_eq!(page.pos, pos);
    assert!(page.entries.is_empty() && page.truncated);
    let unknown = store.read_after("b", Some("not-the-epoch"), 0, 10).unwrap();
    assert_eq!(unknown.pos, store.position("b").unwrap());
    assert!(unknown.entries.is_empty() && unknown.truncated);
}

/// A reader claiming an offset the stream never reached is not continuing this stream.
pub fn read_after_beyond_the_end_is_truncated(store: &dyn Store) {
    fill(store, "a", 3);
    let page = after(store, "a", 5, 10);
    assert!(page.entries.is_empty() && page.truncated);
    assert_eq!(page.pos.offset, 3);
    let unknown = after(store, "b", 1, 10);
    assert!(unknown.entries.is_empty() && unknown.truncated);
}

/// The last `n` messages, oldest first.
pub fn read_last_reads_the_newest_oldest_first(store: &dyn Store) {
    fill(store, "a", 10);
    let page = last(store, "a", 3);
    assert_eq!(offsets(&page), [8, 9, 10]);
    assert_eq!(page.entries[2].event, json_event("m", 10));
    assert!(!page.truncated);
    assert_eq!(page.pos, store.position("a").unwrap());
    let all = last(store, "a", 50);
    assert_eq!(offsets(&all), (1..=10).collect::<Vec<_>>());
    assert!(!all.truncated);
    let none = last(store, "a", 0);
    assert!(none.entries.is_empty() && !none.truncated);
}

/// Reads that need removed messages say so, and still return what is kept.
pub fn reads_over_trimmed_offsets_are_truncated(store: &dyn Store) {
    fill(store, "a", 10);
    let removed = store.trim(T0, &|_| keep(3, Duration::MAX)).unwrap();
    assert_eq!(removed, 7);
    let page = after(store, "a", 0, 100);
    assert_eq!((offsets(&page), page.truncated), (vec![8, 9, 10], true));
    let page = after(store, "a", 7, 100);
    assert_eq!((offsets(&page), page.truncated), (vec![8, 9, 10], false));
    let page = after(store, "a", 6, 1);
    assert_eq!((offsets(&page), page.truncated), (vec![8], true));
    assert!(after(store, "a", 6, 0).truncated);
    assert!(!after(store, "a", 10, 5).truncated);
    let page = last(store, "a", 3);
    assert_eq!((offsets(&page), page.truncated), (vec![8, 9, 10], false));
    let page = last(store, "a", 5);
    assert_eq!((offsets(&page), page.truncated), (vec![8, 9, 10], true));
}

/// Count retention per stream, as the callback says; offsets continue after it.
pub fn trim_by_count_per_stream(store: &dyn Store) {
    fill(store, "a", 10);
    fill(store, "b", 4);
    fill(store, "c", 2);
    let retention = |stream: &str| match stream {
        "a" => keep(5, Duration::MAX),
        "b" => keep(10, Duration::MAX),
        _ => keep(0, Duration::MAX),
    };
    assert_eq!(store.trim(T0, &retention).unwrap(), 5 + 2);
    assert_eq!(store.trim(T0, &retention).unwrap(), 0, "idempotent");
    assert_eq!(offsets(&after(store, "a", 0, 100)), [6, 7, 8, 9, 10]);
    assert_eq!(offsets(&after(store, "b", 0, 100)), [1, 2, 3, 4]);
    assert!(after(store, "c", 0, 100).entries.is_empty());
    assert_eq!(store.position("a").unwrap().offset, 10);
    assert_eq!(store.position("c").unwrap().offset, 2);
    assert_eq!(fill(store, "a", 1), [11]);
    assert_eq!(fill(store, "c", 1), [3]);
    let page = last(store, "c", 10);
    assert_eq!((offsets(&page), page.truncated), (vec![3], true));
}

/// Age retention: older than `max_age` as of `now` goes; exactly `max_age` old stays.
pub fn trim_by_age(store: &dyn Store) {
    let batch: Vec<Append> = (0..10)
        .map(|i| Append {
            stream: "a".into(),
            event: StoredEvent {
                time_ms: T0 + i * 1000,
                ..json_event("m", i)
            },
        })
        .chain((0..3).map(|i| Append {
            stream: "b".into(),
            event: json_event("m", 9000 + i),
        }))
        .collect();
    store.append_batch(&batch).unwrap();
    let four_seconds = keep(u64::MAX, Duration::from_secs(4));
    assert_eq!(store.trim(T0 + 10_000, &|_| four_seconds).unwrap(), 6);
    assert_eq!(offsets(&after(store, "a", 0, 100)), [7, 8, 9, 10]);
    assert_eq!(offsets(&after(store, "b", 0, 100)), [1, 2, 3]);
    // Whichever limit is hit first.
    let both = keep(3, Duration::from_secs(4));
    assert_eq!(store.trim(T0 + 10_000, &|_| both).unwrap(), 1);
    assert_eq!(offsets(&after(store, "a", 0, 100)), [8, 9, 10]);
    // A clock far ahead removes everything; far behind, nothing.
    assert_eq!(
        store.trim(0, &|_| keep(u64::MAX, Duration::ZERO)).unwrap(),
        0
    );
    assert_eq!(store.trim(u64::MAX, &|_| four_seconds).unwrap(), 3 + 3);
    assert_eq!(store.position("a").unwrap().offset, 10);
}

/// A stream whose messages are all gone keeps its epoch and offset.
pub fn trimming_everything_keeps_the_position(store: &dyn Store) {
    fill(store, "a", 5);
    let pos = store.position("a").unwrap();
    assert_eq!(store.trim(T0, &|_| keep(0, Duration::MAX)).unwrap(), 5);
    assert_eq!(store.position("a").unwrap(), pos);
    let page = store.read_after("a", Some(&pos.epoch), 0, 10).unwrap();
    assert!(page.entries.is_empty() && page.truncated);
    let page = after(store, "a", 5, 10);
    assert!(page.entries.is_empty() && !page.truncated);
    let page = last(store, "a", 3);
    assert!(page.entries.is_empty() && page.truncated);
    // An emptied stream does not stop retention of the others.
    fill(store, "z", 5);
    assert_eq!(store.trim(T0, &|_| keep(2, Duration::MAX)).unwrap(), 3);
    assert_eq!(offsets(&after(store, "z", 0, 10)), [4, 5]);
    assert_eq!(fill(store, "a", 1), [6]);
    let page = store.read_after("a", Some(&pos.epoch), 5, 10).unwrap();
    assert_eq!((offsets(&page), page.truncated), (vec![6], false));
}

/// JSON text, bytes (empty, not UTF-8, large) and Args with attachments come back exactly.
pub fn every_data_kind_round_trips(store: &dyn Store) {
    let event = |kind, data: &[u8], attachments: &[&[u8]], time_ms| StoredEvent {
        name: "kind".into(),
        kind,
        data: Bytes::copy_from_slice(data),
        attachments: attachments
            .iter()
            .map(|a| Bytes::copy_from_slice(a))
            .collect(),
        from: None,
        except: None,
        time_ms,
    };
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let placeholder = br#"["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let events = [
        event(
            DataKind::Json,
            "{\"text\":\"h\u{e9}llo \u{1f30d}\",\"n\":[1,2.5e3,null]}".as_bytes(),
            &[],
            T0,
        ),
        event(DataKind::Json, b" [ 1 ,\n 2 ] ", &[], 0),
        event(DataKind::Json, b"\"\"", &[], 1),
        event(DataKind::Binary, &[0, 1, 0xfe, 0xff, 0xc3, 0x28], &[], T0),
        event(DataKind::Binary, b"", &[], T0),
        event(DataKind::Binary, &big, &[], T0),
        event(
            DataKind::Args,
            placeholder,
            &[b"\x00\x01", b"", b"third", &big[..70_000], b""],
            4_102_444_800_000,
        ),
        event(DataKind::Args, b"[\"no attachments\",1]", &[], T0),
        event(
            DataKind::Args,
            b"[{\"_placeholder\":true,\"num\":0}]",
            &[b""],
            T0,
        ),
    ];
    let batch: Vec<Append> = events
        .iter()
        .map(|e| Append {
            stream: "kinds".into(),
            event: e.clone(),
        })
        .collect();
    store.append_batch(&batch).unwrap();
    let page = after(store, "kinds", 0, 100);
    assert_eq!(page.entries.len(), events.len());
    for (entry, sent) in page.entries.iter().zip(&events) {
        assert_eq!(&entry.event, sent, "offset {}", entry.offset);
    }
}

/// Senders (none, some, empty), and names in any script, are kept exactly; stream names are
/// compared exactly (case, wildcards, quotes).
pub fn senders_and_unicode_names_round_trip(store: &dyn Store) {
    let senders: [Option<(Arc<str>, Arc<str>)>; 3] = [
        None,
        Some(("c0nn-1".into(), "Zo\u{eb} \u{1f389}".into())),
        Some(("".into(), "".into())),
    ];
    let names = [
        "",
        "chat message",
        "\u{65e5}\u{672c}\u{8a9e}",
        "emoji \u{1f388}",
    ];
    let streams = [
        "/#g\u{e9}n\u{e9}ral",
        "ns/\u{623f}\u{95f4}",
        "Room",
        "room",
        "with 'quote\" and %_ wild*",
        "",
    ];
    let mut sent = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        for (j, name) in names.iter().enumerate() {
            let event = StoredEvent {
                name: (*name).into(),
                from: senders[(i + j) % senders.len()].clone(),
                // The excluded connection round-trips too: none, or the sender's id.
                except: senders[(i + j) % senders.len()]
                    .as_ref()
                    .filter(|_| j % 2 == 0)
                    .map(|(id, _)| id.clone()),
                ..json_event("x", (i * 10 + j) as u64)
            };
            sent.push(Append {
                stream: (*stream).into(),
                event,
            });
        }
    }
    store.append_batch(&sent).unwrap();
    for stream in streams {
        let page = after(store, stream, 0, 100);
        let expected: Vec<&StoredEvent> = sent
            .iter()
            .filter(|a| &*a.stream == stream)
            .map(|a| &a.event)
            .collect();
        let got: Vec<&StoredEvent> = page.entries.iter().map(|e| &e.event).collect();
        assert_eq!(got, expected, "stream {stream:?}");
        assert_eq!(page.pos.offset, names.len() as u64);
    }
}

/// One batch touching many streams, interleaved: each stream numbers its own messages.
pub fn many_streams_interleaved_in_one_batch(store: &dyn Store) {
    const STREAMS: u64 = 50;
    const ROUNDS: u64 = 20;
    let stream = |s: u64| format!("room-{s}");
    let make = |first_round: u64| -> Vec<Append> {
        (first_round..first_round + ROUNDS / 2)
            .flat_map(|r| (0..STREAMS).map(move |s| (r, s)))
            .map(|(r, s)| Append {
                stream: stream(s).into(),
                event: json_event(&stream(s), r),
            })
            .collect()
    };
    for first_round in [0, ROUNDS / 2] {
        let offsets = stamp_offsets(&store.append_batch(&make(first_round)).unwrap());
        let expected: Vec<u64> = (first_round..first_round + ROUNDS / 2)
            .flat_map(|r| (0..STREAMS).map(move |_| r + 1))
            .collect();
        assert_eq!(offsets, expected);
    }
    for s in 0..STREAMS {
        let page = after(store, &stream(s), 0, 1000);
        assert_eq!(page.pos.offset, ROUNDS);
        for (r, entry) in page.entries.iter().enumerate() {
            assert_eq!(entry.offset, r as u64 + 1);
            assert_eq!(entry.event, json_event(&stream(s), r as u64));
        }
        assert_eq!(page.entries.len() as u64, ROUNDS);
    }
}

/// Readers on other threads, while one thread appends, see gapless pages whose last entry
/// is the page's position.
pub fn concurrent_reads_see_consistent_pages(store: &dyn Store) {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut seen = 0;
                while !done.load(Ordering::Acquire) {
                    let page = after(store, "c", 0, usize::MAX);
                    assert!(page.pos.offset >= seen, "position went back");
                    seen = page.pos.offset;
                    assert_eq!(offsets(&page), (1..=seen).collect::<Vec<_>>());
                    let tail = last(store, "c", 3);
                    assert!(tail.pos.offset >= seen);
                    assert_eq!(tail.entries.last().map_or(0, |e| e.offset), tail.pos.offset);
                }
            });
        }
        for _ in 0..100 {
            fill(store, "c", 5);
        }
        done.store(true, Ordering::Release);
    });
    assert_eq!(store.position("c").unwrap().offset, 500);
}

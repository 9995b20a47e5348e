//! Conformance cases for store-wide sequence numbers and reads after one
//! ([`Store::read_after_seq`]).

use std::time::Duration;

use super::support::{
    after, append_stamped, fill_stamped, json_event, keep, last, offsets, seqs, T0,
};
use crate::{Append, Page, Stamp, Store};

/// Appends `per_stream` messages to each of `streams`, interleaved (`a1 b1 a2 b2 …`) in one
/// batch, so no stream's sequence numbers are contiguous; the stamps per stream.
fn interleave(store: &dyn Store, streams: &[&str], per_stream: u64) -> Vec<Vec<Stamp>> {
    let batch: Vec<Append> = (1..=per_stream)
        .flat_map(|n| streams.iter().map(move |s| (n, *s)))
        .map(|(n, s)| Append {
            stream: s.into(),
            event: json_event("m", n),
        })
        .collect();
    let stamps = store.append_batch(&batch).expect("append");
    streams
        .iter()
        .map(|s| {
            batch
                .iter()
                .zip(&stamps)
                .filter(|(a, _)| &*a.stream == *s)
                .map(|(_, stamp)| *stamp)
                .collect()
        })
        .collect()
}

fn after_seq(store: &dyn Store, stream: &str, after: u64, after_seq: u64, limit: usize) -> Page {
    let epoch = store.position(stream).expect("position").epoch;
    store
        .read_after_seq(stream, &epoch, after, after_seq, limit)
        .expect("read_after_seq")
}

/// Every append gets a higher sequence number than every earlier one, in any stream and
/// batch, and reads report the sequence number the append returned — also after retention
/// removed everything.
pub fn sequence_numbers_increase_across_batches_and_streams(store: &dyn Store) {
    let mut stamped: Vec<(&str, Stamp)> = Vec::new();
    stamped.extend(fill_stamped(store, "a", 3).into_iter().map(|s| ("a", s)));
    assert!(store.append_batch(&[]).unwrap().is_empty());
    stamped.extend(fill_stamped(store, "b", 2).into_iter().map(|s| ("b", s)));
    let mixed: Vec<Append> = ["b", "a", "c", "a"]
        .iter()
        .map(|s| Append {
            stream: (*s).into(),
            event: json_event("m", 0),
        })
        .collect();
    let stamps = store.append_batch(&mixed).unwrap();
    stamped.extend(["b", "a", "c", "a"].into_iter().zip(stamps));
    stamped.push(("c", append_stamped(store, "c", json_event("m", 1))));

    assert!(stamped[0].1.seq >= 1, "0 means stored without one");
    for pair in stamped.windows(2) {
        assert!(pair[0].1.seq < pair[1].1.seq, "{stamped:?}");
    }
    for stream in ["a", "b", "c"] {
        let expected: Vec<(u64, u64)> = stamped
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, stamp)| (stamp.offset, stamp.seq))
            .collect();
        for page in [after(store, stream, 0, 100), last(store, stream, 100)] {
            let got: Vec<(u64, u64)> = page.entries.iter().map(|e| (e.offset, e.seq)).collect();
            assert_eq!(got, expected, "stream {stream}");
        }
    }

    let highest = stamped.last().unwrap().1.seq;
    store.trim(T0, &|_| keep(0, Duration::MAX)).unwrap();
    let next = append_stamped(store, "d", json_event("m", 1));
    assert!(next.seq > highest, "{next:?} after {highest}");
    assert_eq!(next.offset, 1);
    assert!(append_stamped(store, "a", json_event("m", 9)).seq > next.seq);
}

/// Messages the reader has (sequence number up to `after_seq`) are skipped; the limit
/// counts returned entries; another epoch or an offset beyond the end is `truncated`.
pub fn read_after_seq_skips_what_the_reader_has(store: &dyn Store) {
    let stamps = interleave(store, &["a", "b"], 5);
    let (a, b) = (&stamps[0], &stamps[1]);
    let all = after_seq(store, "a", 0, 0, 100);
    assert_eq!(offsets(&all), [1, 2, 3, 4, 5]);
    assert_eq!(seqs(&all), a.iter().map(|s| s.seq).collect::<Vec<_>>());
    assert_eq!(all.entries[0].event, json_event("m", 1));
    assert!(!all.truncated);
    assert_eq!(all.pos, store.position("a").unwrap());

    // Up to a3's sequence number, or b3's (between a3's and a4's): a4 onwards.
    for has in [a[2].seq, b[2].seq] {
        let page = after_seq(store, "a", 0, has, 100);
        assert_eq!(
            (offsets(&page), page.truncated),
            (vec![4, 5], false),
            "{has}"
        );
    }
    // Whichever of the offset and the sequence number is further decides.
    let page = after_seq(store, "a", 4, a[0].seq, 100);
    assert_eq!((offsets(&page), page.truncated), (vec![5], false));
    // The limit counts what is returned, not what is skipped.
    let page = after_seq(store, "a", 0, a[1].seq, 1);
    assert_eq!((offsets(&page), page.truncated), (vec![3], false));
    for (from, has, limit) in [(0, 0, 0), (0, a[4].seq, 10), (5, 0, 10), (0, u64::MAX, 10)] {
        let page = after_seq(store, "a", from, has, limit);
        assert!(
            page.entries.is_empty() && !page.truncated,
            "{from} {has} {limit}"
        );
    }

    // Another history, or an offset it never reached.
    let pos = store.position("a").unwrap();
    let page = store
        .read_after_seq("a", "not-the-epoch", 0, 0, 10)
        .unwrap();
    assert_eq!(page.pos, pos);
    assert!(page.entries.is_empty() && page.truncated);
    let page = after_seq(store, "a", 6, 0, 10);
    assert!(page.entries.is_empty() && page.truncated);
    assert_eq!(page.pos, pos);

    // A stream never appended to.
    let page = after_seq(store, "fresh", 0, 7, 10);
    assert!(page.entries.is_empty() && !page.truncated);
    assert_eq!(page.pos, store.position("fresh").unwrap());
    assert!(after_seq(store, "fresh", 1, 0, 10).truncated);
    let page = store
        .read_after_seq("fresh", "not-the-epoch", 0, 0, 10)
        .unwrap();
    assert!(page.entries.is_empty() && page.truncated);
}

/// Retention that removed only messages the reader had (sequence number up to `after_seq`)
/// is invisible to it; removing one it had not makes the page `truncated`.
pub fn read_after_seq_is_truncated_only_by_removing_unseen_messages(store: &dyn Store) {
    let stamps = interleave(store, &["a", "b"], 5);
    let (a, b) = (&stamps[0], &stamps[1]);
    // Removes a1..a3.
    let a_keeps_2 = |stream: &str| match stream {
        "a" => keep(2, Duration::MAX),
        _ => keep(u64::MAX, Duration::MAX),
    };
    assert_eq!(store.trim(T0, &a_keeps_2).unwrap(), 3);
    assert!(after(store, "a", 0, 10).truncated);
    // The reader had a3 (or more): it misses nothing.
    for has in [a[2].seq, b[2].seq] {
        let page = after_seq(store, "a", 0, has, 10);
        assert_eq!(
            (offsets(&page), page.truncated),
            (vec![4, 5], false),
            "{has}"
        );
    }
    // The reader had b2 but not a3: a3 is gone.
    let page = after_seq(store, "a", 0, b[1].seq, 10);
    assert_eq!((offsets(&page), page.truncated), (vec![4, 5], true));
    let page = after_seq(store, "a", 2, a[1].seq, 1);
    assert_eq!((offsets(&page), page.truncated), (vec![4], true));
    assert!(!after_seq(store, "a", 2, a[2].seq, 10).truncated);
    // The message after `after` is kept: nothing missing, whatever the sequence number.
    assert!(!after_seq(store, "a", 3, 0, 10).truncated);

    // Everything of "b" removed.
    let b_keeps_none = |stream: &str| match stream {
        "a" => keep(2, Duration::MAX),
        _ => keep(0, Duration::MAX),
    };
    assert_eq!(store.trim(T0, &b_keeps_none).unwrap(), 5);
    let page = after_seq(store, "b", 0, b[4].seq, 10);
    assert!(page.entries.is_empty() && !page.truncated);
    let page = after_seq(store, "b", 0, b[3].seq, 10);
    assert!(page.entries.is_empty() && page.truncated);
    assert!(!after_seq(store, "b", 5, 0, 10).truncated);
    // New messages after the removal.
    let b6 = append_stamped(store, "b", json_event("m", 6));
    let page = after_seq(store, "b", 0, b[4].seq, 10);
    assert_eq!((seqs(&page), page.truncated), (vec![b6.seq], false));
    let page = after_seq(store, "b", 0, b[3].seq, 10);
    assert_eq!((offsets(&page), page.truncated), (vec![6], true));
    let page = after_seq(store, "b", 5, 0, 10);
    assert_eq!((offsets(&page), page.truncated), (vec![6], false));
}

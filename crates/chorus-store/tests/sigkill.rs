//! `Durability::Batched` survives the process being killed: a child process appends and
//! reports each acknowledged batch, gets `SIGKILL`ed mid-stream, and everything it was told
//! is stored is there, under the same epoch and with the same sequence numbers, when the
//! file is reopened, and sequence numbers continue above them.
//!
//! The child is this test binary run again with `--exact child_appends_until_killed`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use chorus_store::{Append, DataKind, Durability, SqliteStore, Store, StoredEvent};

const CHILD_ENV: &str = "CHORUS_STORE_KILL_CHILD";
const BATCH: u64 = 100;

fn event(n: u64) -> StoredEvent {
    StoredEvent {
        name: "chat".into(),
        kind: DataKind::Json,
        data: Bytes::from(format!("{{\"n\":{n}}}")),
        attachments: Vec::new(),
        from: Some(("c1".into(), "Ann".into())),
        except: None,
        time_ms: 1_700_000_000_000 + n,
    }
}

/// Not a test on its own: with `CHORUS_STORE_KILL_CHILD` set, the child side of
/// `sigkill_loses_nothing_acknowledged`; without it, does nothing.
#[test]
fn child_appends_until_killed() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path), Durability::Batched).unwrap();
    let mut out = std::io::stdout().lock();
    let mut next = 1;
    loop {
        let batch: Vec<Append> = (next..next + BATCH)
            .map(|n| Append {
                stream: "room".into(),
                event: event(n),
            })
            .collect();
        let stamps = store.append_batch(&batch).unwrap();
        next += BATCH;
        let epoch = store.position("room").unwrap().epoch;
        let last = stamps[stamps.len() - 1];
        writeln!(out, "ack {epoch} {} {}", last.offset, last.seq).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_appends_until_killed", "--nocapture"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = None;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks = 0;
    while acks < 50 {
        let line = lines.next().expect("child exited early").unwrap();
        if let Some(ack) = line.strip_prefix("ack ") {
            let fields: Vec<&str> = ack.split(' ').collect();
            let [epoch, offset, seq] = fields[..] else {
                panic!("malformed ack {line:?}");
            };
            let (offset, seq) = (offset.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap());
            acked = Some((epoch.to_owned(), offset, seq));
            acks += 1;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (epoch, acked, acked_seq) = acked.unwrap();
    // One stream, one process: the sequence numbers are the offsets.
    assert_eq!(acked_seq, acked);

    let store = SqliteStore::open(&path, Durability::Batched).unwrap();
    let pos = store.position("room").unwrap();
    assert_eq!(&*pos.epoch, epoch, "same history, same epoch");
    assert!(pos.offset >= acked, "{} < {acked}", pos.offset);
    assert_eq!(pos.offset % BATCH, 0, "batches are atomic");
    let page = store
        .read_after("room", Some(&epoch), 0, usize::MAX)
        .unwrap();
    assert!(!page.truncated);
    assert_eq!(page.entries.len() as u64, pos.offset);
    for (i, entry) in page.entries.iter().enumerate() {
        assert_eq!(entry.offset, i as u64 + 1);
        assert_eq!(entry.seq, entry.offset);
        assert_eq!(entry.event, event(entry.offset));
    }
    let next = store
        .append_batch(&[Append {
            stream: "other".into(),
            event: event(0),
        }])
        .unwrap();
    assert_eq!(next[0].seq, pos.offset + 1, "sequence numbers continue");
}

//! `chorus_broker::RedisStore` against a real `redis-server` (started here on a free port):
//! the conformance suite every store passes, then what only a store shared by a cluster
//! does — announce each append on the broker's channel in offset order, keep one dataset
//! id (the epoch) across connections, and replace it when the server lost its data.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chorus_broker::RedisStore;
use chorus_core::cluster::Notice;
use chorus_core::{Append, DataKind, Store, StoredEvent};
use common::redis::Redis;

/// A fresh, empty store on `redis`: keys under a prefix of its own.
fn fresh(redis: &Redis) -> RedisStore {
    static N: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("t{}", N.fetch_add(1, Ordering::Relaxed));
    RedisStore::open_with_prefix(&redis.url(), &prefix).expect("the store opens")
}

#[test]
fn the_redis_store_passes_the_conformance_suite() {
    let redis = Redis::start();
    chorus_store::conformance::run_all(&|| Box::new(fresh(&redis)));
}

fn event(n: u64) -> StoredEvent {
    StoredEvent {
        name: Arc::from("said"),
        kind: DataKind::Json,
        data: Bytes::from(format!("{{\"n\":{n}}}")),
        attachments: Vec::new(),
        from: None,
        except: None,
        time_ms: 1_765_000_000_000 + n,
    }
}

/// Reads `n` published messages of `chorus:cluster` from a `redis-cli`-less subscriber:
/// a raw RESP connection.
fn subscribe(redis: &Redis) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    // A publish that never comes fails the test instead of hanging it.
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    tcp.write_all(b"SUBSCRIBE chorus:cluster\r\n").unwrap();
    // The subscription's confirmation: *3 $9 subscribe $14 chorus:cluster :1
    let mut seen = Vec::new();
    let mut byte = [0u8];
    while !seen.ends_with(b":1\r\n") {
        tcp.read_exact(&mut byte).unwrap();
        seen.push(byte[0]);
    }
    tcp
}

/// The next published message's payload.
fn next_message(tcp: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut line = || {
        let mut out = Vec::new();
        let mut byte = [0u8];
        while !out.ends_with(b"\r\n") {
            tcp.read_exact(&mut byte).unwrap();
            out.push(byte[0]);
        }
        out.truncate(out.len() - 2);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(line(), "*3");
    for _ in 0..2 {
        let _len = line();
        let _text = line();
    }
    let len: usize = line()[1..].parse().unwrap();
    let mut payload = vec![0; len + 2];
    tcp.read_exact(&mut payload).unwrap();
    payload.truncate(len);
    payload
}

#[test]
fn every_append_is_announced_with_its_offset_and_epoch_in_order() {
    let redis = Redis::start();
    let mut sub = subscribe(&redis);
    let store = fresh(&redis);
    let batch: Vec<Append> = (1..=3)
        .map(|n| Append {
            stream: Arc::from(if n == 2 { "/\u{1f}b" } else { "/\u{1f}a" }),
            event: event(n),
        })
        .collect();
    let stamps = store.append_batch(&batch).unwrap();
    let epoch = store.position("/\u{1f}a").unwrap().epoch;
    for (append, stamp) in batch.iter().zip(&stamps) {
        let notice = Notice::decode(Bytes::from(next_message(&mut sub))).unwrap();
        assert_eq!(notice.stream, append.stream);
        assert_eq!(notice.pos.offset, stamp.offset);
        assert_eq!(notice.pos.epoch, epoch);
        assert_eq!(notice.seq, stamp.seq);
        assert_eq!(notice.event, append.event);
    }
    assert_eq!(
        stamps.iter().map(|s| s.offset).collect::<Vec<_>>(),
        [1, 1, 2]
    );
}

#[test]
fn two_stores_on_one_server_share_streams_and_epoch() {
    let redis = Redis::start();
    let one = RedisStore::open_with_prefix(&redis.url(), "shared").unwrap();
    let two = RedisStore::open_with_prefix(&redis.url(), "shared").unwrap();
    let a = Append {
        stream: Arc::from("/\u{1f}room"),
        event: event(1),
    };
    assert_eq!(
        one.append_batch(std::slice::from_ref(&a)).unwrap()[0].offset,
        1
    );
    assert_eq!(
        two.append_batch(std::slice::from_ref(&a)).unwrap()[0].offset,
        2
    );
    let page = two.read_after("/\u{1f}room", None, 0, 10).unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.pos, one.position("/\u{1f}room").unwrap());
}

#[test]
fn a_server_that_lost_its_data_gets_a_new_epoch_and_appends_go_on() {
    let redis = Redis::start();
    let store = RedisStore::open_with_prefix(&redis.url(), "lost").unwrap();
    let a = Append {
        stream: Arc::from("/\u{1f}room"),
        event: event(1),
    };
    store.append_batch(&[a.clone(), a.clone()]).unwrap();
    let before = store.position("/\u{1f}room").unwrap();
    assert_eq!(before.offset, 2);
    // The server restarts with nothing saved (this one saves nothing).
    let port = redis.port;
    redis.kill();
    let redis = Redis::start_on(port);
    // The next append finds the dataset gone: a new epoch, offsets from 1 again.
    let stamp = store.append_batch(std::slice::from_ref(&a)).unwrap()[0];
    assert_eq!(stamp.offset, 1);
    let after = store.position("/\u{1f}room").unwrap();
    assert_ne!(
        after.epoch, before.epoch,
        "history was lost: the epoch changed"
    );
    let page = store
        .read_after("/\u{1f}room", Some(&before.epoch), 1, 10)
        .unwrap();
    assert!(page.truncated && page.entries.is_empty());
    drop(redis);
}

#[test]
fn a_restarted_server_that_kept_its_data_but_not_every_write_gets_a_new_epoch() {
    let redis = Redis::start();
    let store = RedisStore::open_with_prefix(&redis.url(), "restart").unwrap();
    let a = Append {
        stream: Arc::from("/\u{1f}room"),
        event: event(1),
    };
    store.append_batch(std::slice::from_ref(&a)).unwrap();
    let before = store.position("/\u{1f}room").unwrap();
    // A snapshot, then a restart from it: the data is back, but a server that does not
    // sync every write may have lost the last ones — the epoch must change.
    assert_eq!(redis.command(&["SAVE"]), "+OK");
    let port = redis.port;
    let dir = redis.kill_keeping_data();
    let redis = Redis::start_in(port, &dir);
    assert_eq!(
        store.append_batch(std::slice::from_ref(&a)).unwrap()[0].offset,
        2
    );
    let after = store.position("/\u{1f}room").unwrap();
    assert_eq!(after.offset, 2, "the stream came back from the snapshot");
    assert_ne!(after.epoch, before.epoch, "but it may have lost writes");
    drop(redis);
}

#[test]
fn a_restarted_server_that_syncs_every_write_keeps_the_epoch() {
    let port = common::free_port();
    let dir = common::temp_dir("redis-aof");
    let durable = ["--appendonly", "yes", "--appendfsync", "always"];
    let redis = Redis::start_with(port, &dir, &durable);
    let store = RedisStore::open_with_prefix(&redis.url(), "durable").unwrap();
    let a = Append {
        stream: Arc::from("/\u{1f}room"),
        event: event(1),
    };
    store.append_batch(std::slice::from_ref(&a)).unwrap();
    let before = store.position("/\u{1f}room").unwrap();
    // Killed, not shut down: every acknowledged write is in the append-only file.
    let dir = redis.kill_keeping_data();
    let redis = Redis::start_with(port, &dir, &durable);
    assert_eq!(
        store.append_batch(std::slice::from_ref(&a)).unwrap()[0].offset,
        2
    );
    let after = store.position("/\u{1f}room").unwrap();
    assert_eq!(
        after.epoch, before.epoch,
        "nothing acknowledged can have been lost"
    );
    let page = store
        .read_after("/\u{1f}room", Some(&before.epoch), 0, 10)
        .unwrap();
    assert_eq!(page.entries.len(), 2);
    assert!(!page.truncated);
    drop(redis);
}

#[test]
fn an_append_sent_again_after_a_timeout_is_stored_once() {
    let port = common::free_port();
    let redis = Redis::start_with(
        port,
        &common::temp_dir("redis-slow"),
        &["--enable-debug-command", "yes"],
    );
    let store = RedisStore::open_with_prefix(&redis.url(), "slow").unwrap();
    let a = Append {
        stream: Arc::from("/\u{1f}room"),
        event: event(1),
    };
    // Redis stalls longer than the store waits for a reply: the append times out after it
    // was sent, and is sent again on a new connection.
    let stall = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.write_all(b"DEBUG SLEEP 6\r\n").unwrap();
        let mut ok = [0u8; 5];
        tcp.read_exact(&mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n", "DEBUG SLEEP ran");
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let stamps = store.append_batch(std::slice::from_ref(&a)).unwrap();
    stall.join().unwrap();
    assert_eq!((stamps[0].offset, stamps[0].seq), (1, 1));
    assert_eq!(redis.command(&["XLEN", "slow:h:/\u{1f}room"]), ":1");
    let page = store.read_after("/\u{1f}room", None, 0, 10).unwrap();
    assert_eq!(page.entries.len(), 1, "stored once, announced once");
}

#[test]
fn a_burst_of_callers_shares_a_few_connections() {
    let redis = Redis::start();
    let store = Arc::new(RedisStore::open_with_prefix(&redis.url(), "burst").unwrap());
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    store.position(&format!("/\u{1f}room{i}")).unwrap();
                    let _ = store.read_session("nobody", 0).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // Every connection ever accepted by the server: the store's, and this test's INFO.
    let info = redis.command(&["INFO", "stats"]);
    let accepted: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(
        accepted <= 8 + 4,
        "32 threads opened {accepted} connections (at most 8 open at once, none for nothing)"
    );
}

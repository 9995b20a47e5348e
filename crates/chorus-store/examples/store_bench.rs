//! Append throughput of each store: N messages (~100-byte JSON payloads, round-robin over a
//! few streams) in batches, as the hub's publisher thread appends them.
//!
//! ```text
//! cargo run --release -p chorus-store --example store_bench -- \
//!     [--messages N] [--streams S] [--repeat R]
//! ```
//!
//! Configurations: SQLite (a file in a new temporary directory) with `Batched` and `Fsync`
//! durability, and `MemoryStore` (default limits), each with batches of 1000 and of 100.
//! Only `append_batch` is timed (building the batch is not). With `--repeat R`, each
//! configuration runs R times on a fresh store and the median run (by messages/s) is shown.
//! Prints a table, then the same figures as one JSON line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chorus_store::{Append, DataKind, Durability, MemoryStore, SqliteStore, Store, StoredEvent};

struct Args {
    messages: u64,
    streams: u64,
    repeat: usize,
}

fn args() -> Args {
    let mut args = Args {
        messages: 1_000_000,
        streams: 10,
        repeat: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--messages", Some(v)) => args.messages = v,
            ("--streams", Some(v)) if v > 0 => args.streams = v,
            ("--repeat", Some(v)) if v > 0 => args.repeat = v as usize,
            _ => {
                eprintln!("usage: store_bench [--messages N] [--streams S] [--repeat R]");
                std::process::exit(2);
            }
        }
    }
    args
}

struct Outcome {
    store: &'static str,
    durability: &'static str,
    batch: u64,
    per_sec: f64,
    p99_batch: Duration,
    max_batch: Duration,
    file_mb: Option<f64>,
}

/// A JSON payload of exactly 100 bytes for message `n` (n < 10^12).
fn payload(n: u64) -> Bytes {
    let head = format!("{{\"seq\":{n},\"text\":\"");
    let tail = "\"}";
    let fill = 100 - head.len() - tail.len();
    let text: String = "the quick brown fox jumps over the lazy dog "
        .chars()
        .cycle()
        .take(fill)
        .collect();
    Bytes::from(format!("{head}{text}{tail}"))
}

fn run(store: &dyn Store, args: &Args, batch: u64) -> (f64, Duration, Duration) {
    let streams: Vec<Arc<str>> = (0..args.streams)
        .map(|s| Arc::from(format!("/#bench-room-{s}")))
        .collect();
    let event_name: Arc<str> = Arc::from("chat");
    let from: (Arc<str>, Arc<str>) = (Arc::from("Vx3kR9bq2LmT8wZp"), Arc::from("bench"));
    let mut latencies = Vec::new();
    let mut total = Duration::ZERO;
    let mut n = 0;
    while n < args.messages {
        let size = batch.min(args.messages - n);
        let appends: Vec<Append> = (n..n + size)
            .map(|i| Append {
                stream: streams[(i % args.streams) as usize].clone(),
                event: StoredEvent {
                    name: event_name.clone(),
                    kind: DataKind::Json,
                    data: payload(i),
                    attachments: Vec::new(),
                    from: Some(from.clone()),
                    except: None,
                    time_ms: 1_700_000_000_000 + i,
                },
            })
            .collect();
        let start = Instant::now();
        let stamps = store.append_batch(&appends).expect("append");
        let took = start.elapsed();
        assert_eq!(stamps.len() as u64, size);
        total += took;
        latencies.push(took);
        n += size;
    }
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    let max = *latencies.last().expect("at least one batch");
    (args.messages as f64 / total.as_secs_f64(), p99, max)
}

fn file_mb(dir: &std::path::Path) -> f64 {
    let bytes: u64 = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    bytes as f64 / 1e6
}

/// Runs `args.repeat` times on fresh stores; the median run by messages/s.
fn median(args: &Args, make: &dyn Fn() -> Measured) -> Measured {
    let mut runs: Vec<Measured> = (0..args.repeat).map(|_| make()).collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs.swap_remove(runs.len() / 2)
}

/// Messages/s, p99 batch latency, max batch latency, and the file size if any.
type Measured = (f64, Duration, Duration, Option<f64>);

fn main() {
    let args = args();
    let mut outcomes = Vec::new();
    for batch in [1000, 100] {
        for durability in [Durability::Batched, Durability::Fsync] {
            let (per_sec, p99_batch, max_batch, file_mb) = median(&args, &|| {
                let dir = tempfile::tempdir().expect("temp dir");
                let store =
                    SqliteStore::open(&dir.path().join("bench.db"), durability).expect("open");
                let (per_sec, p99, max) = run(&store, &args, batch);
                drop(store);
                (per_sec, p99, max, Some(file_mb(dir.path())))
            });
            outcomes.push(Outcome {
                store: "sqlite",
                durability: durability.as_str(),
                batch,
                per_sec,
                p99_batch,
                max_batch,
                file_mb,
            });
        }
        let (per_sec, p99_batch, max_batch, _) = median(&args, &|| {
            let (per_sec, p99, max) = run(&MemoryStore::default(), &args, batch);
            (per_sec, p99, max, None)
        });
        outcomes.push(Outcome {
            store: "memory",
            durability: "-",
            batch,
            per_sec,
            p99_batch,
            max_batch,
            file_mb: None,
        });
    }

    println!(
        "{} messages, ~100-byte JSON payloads, {} streams, {} CPUs, median of {} run(s)",
        args.messages,
        args.streams,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.repeat
    );
    println!(
        "{:<7} {:<10} {:>6} {:>14} {:>13} {:>13} {:>9}",
        "store", "durability", "batch", "messages/s", "p99 batch ms", "max batch ms", "file MB"
    );
    for o in &outcomes {
        println!(
            "{:<7} {:<10} {:>6} {:>14.0} {:>13.2} {:>13.2} {:>9}",
            o.store,
            o.durability,
            o.batch,
            o.per_sec,
            o.p99_batch.as_secs_f64() * 1e3,
            o.max_batch.as_secs_f64() * 1e3,
            o.file_mb.map_or("-".to_string(), |mb| format!("{mb:.0}")),
        );
    }
    let results: Vec<String> = outcomes
        .iter()
        .map(|o| {
            format!(
                "{{\"store\":\"{}\",\"durability\":\"{}\",\"batch\":{},\"messages_per_s\":{:.0},\
                 \"p99_batch_ms\":{:.3},\"max_batch_ms\":{:.3}}}",
                o.store,
                o.durability,
                o.batch,
                o.per_sec,
                o.p99_batch.as_secs_f64() * 1e3,
                o.max_batch.as_secs_f64() * 1e3,
            )
        })
        .collect();
    println!(
        "{{\"bench\":\"store_bench\",\"messages\":{},\"streams\":{},\"repeat\":{},\"payload_bytes\":100,\"results\":[{}]}}",
        args.messages,
        args.streams,
        args.repeat,
        results.join(",")
    );
}

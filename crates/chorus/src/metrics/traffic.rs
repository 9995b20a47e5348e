//! [`Traffic`]: messages and bytes in and out, by protocol, and the connections open on
//! each — counted on every message, so counted without contention.
//!
//! A shared atomic per counter would be one cache line bounced between every core on every
//! message. Instead each thread adds to a shard of its own (one of [`SHARDS`], each on its
//! own cache lines, picked once per thread), and a scrape adds the shards up. The cost on
//! the message path is one uncontended relaxed add per counter; outgoing traffic is added
//! once per write batch, not per message.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// A protocol, as `/metrics` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Plain WebSocket: raw rooms and library endpoints.
    Raw,
    /// The native protocol at `/ws`.
    Native,
    /// Engine.IO (with Socket.IO on top, or a raw Engine.IO endpoint), WebSocket and
    /// long-polling.
    SocketIo,
}

impl Protocol {
    pub(crate) const ALL: [Protocol; 3] = [Protocol::Raw, Protocol::Native, Protocol::SocketIo];

    /// The label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Raw => "raw",
            Protocol::Native => "native",
            Protocol::SocketIo => "socketio",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Shards: more than the cores of most machines this runs on; a thread past them shares.
const SHARDS: usize = 16;

/// What one shard counts: per protocol, messages and bytes in and out.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    counts: [[AtomicU64; 4]; 3],
}

const MESSAGES_IN: usize = 0;
const BYTES_IN: usize = 1;
const MESSAGES_OUT: usize = 2;
const BYTES_OUT: usize = 3;

/// One metric: its name and type, its help, and how it is read from the totals.
type Series = (&'static str, &'static str, fn(&Totals) -> i64);

/// The traffic counters.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    shards: [Shard; SHARDS],
    open: [AtomicI64; 3],
}

/// Messages and bytes of one protocol, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Totals {
    pub(crate) messages_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) messages_out: u64,
    pub(crate) bytes_out: u64,
    pub(crate) connections: i64,
}

fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

impl Traffic {
    fn add(&self, protocol: Protocol, what: usize, messages: u64, bytes: u64) {
        let counts = &self.shards[shard()].counts[protocol.index()];
        counts[what].fetch_add(messages, Ordering::Relaxed);
        counts[what + 1].fetch_add(bytes, Ordering::Relaxed);
    }

    /// A message of `bytes` came in.
    pub(crate) fn received(&self, protocol: Protocol, messages: u64, bytes: u64) {
        self.add(protocol, MESSAGES_IN, messages, bytes);
    }

    /// `messages` of `bytes` in all went out.
    pub(crate) fn sent(&self, protocol: Protocol, messages: u64, bytes: u64) {
        if messages > 0 {
            self.add(protocol, MESSAGES_OUT, messages, bytes);
        }
    }

    /// A WebSocket connection opened (`true`) or closed. Socket.IO's are not counted here:
    /// its connections are its Engine.IO sessions (a polling one has no WebSocket, an
    /// upgraded one has had two transports), given to [`Traffic::render`].
    pub(crate) fn opened(&self, protocol: Protocol, open: bool) {
        if protocol != Protocol::SocketIo {
            self.open[protocol.index()].fetch_add(if open { 1 } else { -1 }, Ordering::Relaxed);
        }
    }

    /// One protocol's totals.
    pub(crate) fn totals(&self, protocol: Protocol) -> Totals {
        let i = protocol.index();
        let sum = |what: usize| {
            self.shards
                .iter()
                .map(|s| s.counts[i][what].load(Ordering::Relaxed))
                .sum()
        };
        Totals {
            messages_in: sum(MESSAGES_IN),
            bytes_in: sum(BYTES_IN),
            messages_out: sum(MESSAGES_OUT),
            bytes_out: sum(BYTES_OUT),
            connections: self.open[i].load(Ordering::Relaxed).max(0),
        }
    }

    /// The Prometheus text of the counters; Socket.IO's connections are its Engine.IO
    /// sessions (polling or upgraded, counted once), given by the engines.
    pub(crate) fn render(&self, out: &mut String, socketio_sessions: usize) {
        use std::fmt::Write;
        let totals: Vec<(Protocol, Totals)> = Protocol::ALL
            .iter()
            .map(|p| {
                let mut totals = self.totals(*p);
                if *p == Protocol::SocketIo {
                    totals.connections = i64::try_from(socketio_sessions).unwrap_or(i64::MAX);
                }
                (*p, totals)
            })
            .collect();
        let series: [Series; 5] = [
            (
                "chorus_connections gauge",
                "Connections open, by protocol.",
                |t| t.connections,
            ),
            (
                "chorus_messages_received_total counter",
                "WebSocket messages and Engine.IO packets received from clients.",
                |t| t.messages_in as i64,
            ),
            (
                "chorus_received_bytes_total counter",
                "Bytes of the messages received from clients (payloads).",
                |t| t.bytes_in as i64,
            ),
            (
                "chorus_messages_sent_total counter",
                "Messages written to clients.",
                |t| t.messages_out as i64,
            ),
            (
                "chorus_sent_bytes_total counter",
                "Bytes of the messages written to clients (payloads).",
                |t| t.bytes_out as i64,
            ),
        ];
        for (name_type, help, get) in series {
            let (name, kind) = name_type.split_once(' ').expect("name and type");
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (protocol, totals) in &totals {
                let _ = writeln!(
                    out,
                    "{name}{{protocol=\"{}\"}} {}",
                    protocol.as_str(),
                    get(totals)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up_per_protocol() {
        let traffic = std::sync::Arc::new(Traffic::default());
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let traffic = traffic.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        traffic.received(Protocol::Native, 1, 10);
                        traffic.sent(Protocol::SocketIo, 2, 7);
                    }
                    traffic.opened(Protocol::Raw, true);
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        traffic.opened(Protocol::Raw, false);
        let native = traffic.totals(Protocol::Native);
        assert_eq!((native.messages_in, native.bytes_in), (20_000, 200_000));
        let sio = traffic.totals(Protocol::SocketIo);
        assert_eq!((sio.messages_out, sio.bytes_out), (40_000, 140_000));
        assert_eq!(traffic.totals(Protocol::Raw).connections, 19);
        let mut text = String::new();
        traffic.render(&mut text, 3);
        assert!(
            text.contains("chorus_connections{protocol=\"socketio\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("chorus_messages_received_total{protocol=\"native\"} 20000\n"),
            "{text}"
        );
        assert!(text.contains("chorus_connections{protocol=\"raw\"} 19\n"));
        assert_eq!(
            text.matches("# TYPE chorus_sent_bytes_total counter")
                .count(),
            1
        );
    }
}

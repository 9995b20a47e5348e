//! Counters of every limit and defence that fires, and the Prometheus text at `/metrics`.
//!
//! Only rare events are counted (a refusal, a slow consumer, a timeout), so plain relaxed
//! atomics cost nothing on the message path; gauges (connections, rooms) are read from the
//! hub when scraped rather than kept up to date on every join.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use chorus_core::Hub;

pub(crate) mod traffic;

pub(crate) use traffic::{Protocol, Traffic};

/// Why the server ended or refused a connection, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Refused at accept: `max_connections`.
    RefusedFull,
    /// Refused at accept: `max_connections_per_ip`.
    RefusedPerIp,
    /// Handshake refused with `400`.
    Handshake400,
    /// Handshake refused with `401` (a missing or invalid token).
    Handshake401,
    /// Handshake refused with `403` (Origin, a middleware, a room the token does not
    /// allow).
    Handshake403,
    /// Handshake refused with `426` (version, or not a WebSocket request).
    Handshake426,
    /// Disconnected as a slow consumer (queue full).
    SlowConsumer,
    /// Dropped: stopped answering pings.
    HeartbeatTimeout,
    /// Dropped: a write to it blocked past the grace period.
    WriteTimeout,
    /// Closed for sending faster than `max_messages_per_sec`.
    RateLimited,
    /// Closed for a protocol error (bad frame, invalid UTF-8, too big).
    ProtocolError,
    /// Closed (or a Socket.IO socket disconnected) because its token expired.
    TokenExpired,
    /// A token required (anonymous access off) and none given: at a handshake, a
    /// Socket.IO CONNECT.
    AuthMissing,
    /// A token refused because it expired: at a handshake, a CONNECT, a refresh.
    AuthExpired,
    /// A token refused for any other reason (signature, algorithm, claims, malformed).
    AuthInvalid,
}

const EVENTS: [(Event, &str, &str); 15] = [
    (
        Event::RefusedFull,
        "chorus_connections_refused_total",
        "reason=\"max_connections\"",
    ),
    (
        Event::RefusedPerIp,
        "chorus_connections_refused_total",
        "reason=\"max_connections_per_ip\"",
    ),
    (
        Event::Handshake400,
        "chorus_handshakes_refused_total",
        "status=\"400\"",
    ),
    (
        Event::Handshake401,
        "chorus_handshakes_refused_total",
        "status=\"401\"",
    ),
    (
        Event::Handshake403,
        "chorus_handshakes_refused_total",
        "status=\"403\"",
    ),
    (
        Event::Handshake426,
        "chorus_handshakes_refused_total",
        "status=\"426\"",
    ),
    (
        Event::SlowConsumer,
        "chorus_disconnects_total",
        "reason=\"slow_consumer\"",
    ),
    (
        Event::HeartbeatTimeout,
        "chorus_disconnects_total",
        "reason=\"heartbeat_timeout\"",
    ),
    (
        Event::WriteTimeout,
        "chorus_disconnects_total",
        "reason=\"write_timeout\"",
    ),
    (
        Event::RateLimited,
        "chorus_disconnects_total",
        "reason=\"rate_limited\"",
    ),
    (
        Event::ProtocolError,
        "chorus_disconnects_total",
        "reason=\"protocol_error\"",
    ),
    (
        Event::TokenExpired,
        "chorus_disconnects_total",
        "reason=\"token_expired\"",
    ),
    (
        Event::AuthMissing,
        "chorus_auth_failures_total",
        "reason=\"missing\"",
    ),
    (
        Event::AuthExpired,
        "chorus_auth_failures_total",
        "reason=\"expired\"",
    ),
    (
        Event::AuthInvalid,
        "chorus_auth_failures_total",
        "reason=\"invalid\"",
    ),
];

/// The server's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counts: [AtomicU64; EVENTS.len()],
    /// Server API calls by method and outcome (`ok` or the error's code): both from short
    /// fixed lists, so the map stays small.
    api_calls: parking_lot::Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
    /// Messages and bytes in and out, and connections, by protocol.
    pub(crate) traffic: Traffic,
}

impl Metrics {
    /// Counts one event.
    pub(crate) fn count(&self, event: Event) {
        let index = EVENTS
            .iter()
            .position(|(e, _, _)| *e == event)
            .expect("every event is listed");
        self.counts[index].fetch_add(1, Ordering::Relaxed);
    }

    /// How many times `event` was counted.
    pub(crate) fn get(&self, event: Event) -> u64 {
        let index = EVENTS
            .iter()
            .position(|(e, _, _)| *e == event)
            .expect("every event is listed");
        self.counts[index].load(Ordering::Relaxed)
    }

    /// Counts one server API call: its method (one of the API's names, or `unknown`) and
    /// its outcome.
    pub(crate) fn count_api(&self, method: &'static str, outcome: &'static str) {
        *self.api_calls.lock().entry((method, outcome)).or_default() += 1;
    }

    /// The Prometheus text exposition of the counters and the hub's gauges.
    pub(crate) fn render(
        &self,
        hub: &Hub,
        open_connections: usize,
        engine_sessions: &[(String, usize)],
    ) -> String {
        let mut out = String::with_capacity(2048);
        let mut last_name = "";
        for ((_, name, labels), count) in EVENTS.iter().zip(&self.counts) {
            if *name != last_name {
                let _ = writeln!(out, "# TYPE {name} counter");
                last_name = name;
            }
            let _ = writeln!(out, "{name}{{{labels}}} {}", count.load(Ordering::Relaxed));
        }
        let socketio_sessions: usize = engine_sessions.iter().map(|(_, n)| n).sum();
        self.traffic.render(&mut out, socketio_sessions);
        let _ = writeln!(out, "# TYPE chorus_connections_open gauge");
        let _ = writeln!(out, "chorus_connections_open {open_connections}");
        let _ = writeln!(out, "# TYPE chorus_engineio_sessions gauge");
        for (path, sessions) in engine_sessions {
            let _ = writeln!(out, "chorus_engineio_sessions{{path={path:?}}} {sessions}");
        }
        let mut namespaces = hub.namespaces();
        namespaces.sort_by(|a, b| a.name().cmp(b.name()));
        let _ = writeln!(out, "# TYPE chorus_clients gauge");
        for ns in &namespaces {
            let _ = writeln!(
                out,
                "chorus_clients{{namespace={:?}}} {}",
                &**ns.name(),
                ns.len()
            );
        }
        let _ = writeln!(out, "# TYPE chorus_rooms gauge");
        for ns in &namespaces {
            let _ = writeln!(
                out,
                "chorus_rooms{{namespace={:?}}} {}",
                &**ns.name(),
                ns.room_count()
            );
        }
        let _ = writeln!(out, "# TYPE chorus_messages_published_total counter");
        for ns in &namespaces {
            let _ = writeln!(
                out,
                "chorus_messages_published_total{{namespace={:?}}} {}",
                &**ns.name(),
                ns.published()
            );
        }
        let _ = writeln!(out, "# HELP chorus_deliveries_total Copies of messages queued for their recipients (one per recipient).");
        let _ = writeln!(out, "# TYPE chorus_deliveries_total counter");
        for ns in &namespaces {
            let _ = writeln!(
                out,
                "chorus_deliveries_total{{namespace={:?}}} {}",
                &**ns.name(),
                ns.delivered()
            );
        }
        let _ = writeln!(out, "# TYPE chorus_outbound_queued_bytes gauge");
        let queued: Vec<(usize, usize)> = namespaces.iter().map(|ns| ns.queued_bytes()).collect();
        for (ns, (total, _)) in namespaces.iter().zip(&queued) {
            let _ = writeln!(
                out,
                "chorus_outbound_queued_bytes{{namespace={:?}}} {total}",
                &**ns.name()
            );
        }
        let _ = writeln!(out, "# TYPE chorus_outbound_queue_max_bytes gauge");
        for (ns, (_, max)) in namespaces.iter().zip(&queued) {
            let _ = writeln!(
                out,
                "chorus_outbound_queue_max_bytes{{namespace={:?}}} {max}",
                &**ns.name()
            );
        }
        if let Some(publisher) = hub.publisher() {
            let stats = publisher.stats();
            stats.store_append.render(
                &mut out,
                "chorus_store_append_seconds",
                "How long each batch of stored messages took to append to the history store.",
            );
            let _ = writeln!(out, "# HELP chorus_store_append_failures_total Batches of messages the history store failed to append.");
            let _ = writeln!(out, "# TYPE chorus_store_append_failures_total counter");
            let _ = writeln!(
                out,
                "chorus_store_append_failures_total {}",
                stats.append_failures.load(Ordering::Relaxed)
            );
            stats.publish_to_delivery.render(
                &mut out,
                "chorus_publish_to_delivery_seconds",
                "How long each stored message took from its publish to its recipients' queues.",
            );
        }
        let api_calls = self.api_calls.lock().clone();
        if !api_calls.is_empty() {
            let _ = writeln!(out, "# TYPE chorus_api_calls_total counter");
            for ((method, outcome), count) in api_calls {
                let _ = writeln!(
                    out,
                    "chorus_api_calls_total{{method=\"{method}\",outcome=\"{outcome}\"}} {count}"
                );
            }
        }
        if let Some(cluster) = hub.cluster() {
            let stats = cluster.stats();
            stats.round_trip.render(
                &mut out,
                "chorus_cluster_round_trip_seconds",
                "How long other nodes took to answer this node's requests, through the broker both ways.",
            );
            let _ = writeln!(out, "# TYPE chorus_cluster_link_up gauge");
            let _ = writeln!(out, "chorus_cluster_link_up {}", u8::from(cluster.is_up()));
            for (name, counter) in [
                ("chorus_cluster_published_total", &stats.published),
                ("chorus_cluster_received_total", &stats.received),
                ("chorus_cluster_malformed_total", &stats.malformed),
                ("chorus_cluster_local_only_total", &stats.local_only),
            ] {
                let _ = writeln!(out, "# TYPE {name} counter");
                let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
            }
            if let Some(publisher) = hub.publisher().filter(|p| p.store().announces()) {
                let arrivals = publisher.arrivals();
                for (name, counter) in [
                    ("chorus_cluster_history_filled_total", &arrivals.filled),
                    ("chorus_cluster_history_lost_total", &arrivals.lost),
                    (
                        "chorus_cluster_history_duplicates_total",
                        &arrivals.duplicates,
                    ),
                ] {
                    let _ = writeln!(out, "# TYPE {name} counter");
                    let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let metrics = Metrics::default();
        metrics.count(Event::SlowConsumer);
        metrics.count(Event::SlowConsumer);
        metrics.count(Event::RefusedPerIp);
        let hub = Hub::default();
        let ns = hub.namespace("raw", chorus_core::Policy::default());
        let (peer, _queue) = ns.connect(crate::session::raw::format::raw(), None);
        ns.join(&peer, "/a").unwrap();
        let text = metrics.render(&hub, 1, &[]);
        assert!(
            text.contains("chorus_disconnects_total{reason=\"slow_consumer\"} 2\n"),
            "{text}"
        );
        assert!(text
            .contains("chorus_connections_refused_total{reason=\"max_connections_per_ip\"} 1\n"));
        assert!(text.contains("chorus_connections_open 1\n"));
        assert!(text.contains("chorus_clients{namespace=\"raw\"} 1\n"));
        assert!(text.contains("chorus_rooms{namespace=\"raw\"} 1\n"));
        assert!(text.contains("chorus_messages_published_total{namespace=\"raw\"} 0\n"));
        assert_eq!(text.matches("# TYPE chorus_disconnects_total").count(), 1);
    }
}

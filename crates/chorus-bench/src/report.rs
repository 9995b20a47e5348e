//! The result of a run: one JSON line on stdout for machines, a table on stderr for
//! people, both from the same [`Report`].
//!
//! The JSON is flat where a harness is likely to look (`messages_per_s`,
//! `deliveries_per_s`, `lost`, `client_limited`, `server_cpu_s_per_million`,
//! `rss_per_conn_kib`, …) and nests only what belongs together (latency percentiles,
//! failure reasons). Figures a scenario does not produce are absent, not zero.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::measure::human;
use crate::proto::Proto;

/// Bench CPU use, as a fraction of one core, from which the generator counts as the
/// bottleneck: past this the figures say more about the bench than the server.
pub(crate) const CLIENT_LIMITED_AT: f64 = 0.9;

/// Latency percentiles in µs.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Percentiles {
    /// Samples.
    pub(crate) count: u64,
    pub(crate) p50: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
    pub(crate) max: u64,
    #[serde(serialize_with = "round3")]
    pub(crate) mean: f64,
}

impl Percentiles {
    /// Reads them off a histogram of µs.
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }

    fn row(&self) -> String {
        if self.count == 0 {
            return "no samples".to_owned();
        }
        format!(
            "p50 {}  p99 {}  p99.9 {}  max {}  (µs, {} samples)",
            self.p50, self.p99, self.p999, self.max, self.count
        )
    }
}

/// A connection that ended before the run did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Disconnect {
    /// Close code, absent if the connection dropped without a close frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<u16>,
    /// Close reason, or the error.
    pub(crate) reason: String,
}

/// Connections that ended the same way.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Disconnects {
    /// How.
    #[serde(flatten)]
    pub(crate) how: Disconnect,
    /// How many.
    pub(crate) count: u64,
}

/// Figures of `echo`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EchoFigures {
    pub(crate) conns: u64,
    pub(crate) round_trips: u64,
    #[serde(serialize_with = "round3")]
    pub(crate) messages_per_s: f64,
    pub(crate) latency_us: Percentiles,
}

/// Figures of `fanout` and `rooms`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BroadcastFigures {
    pub(crate) rooms: u64,
    /// Receivers per published message (on raw and native a room's publisher receives
    /// its own messages; in `rooms` that counts, in `fanout` it does not).
    pub(crate) receivers_per_message: u64,
    pub(crate) receivers: u64,
    /// Target publish rate, all publishers together; absent at max rate.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "round3_opt")]
    pub(crate) target_publish_per_s: Option<f64>,
    pub(crate) published: u64,
    #[serde(serialize_with = "round3")]
    pub(crate) published_per_s: f64,
    pub(crate) deliveries: u64,
    #[serde(serialize_with = "round3")]
    pub(crate) deliveries_per_s: f64,
    pub(crate) latency_us: Percentiles,
    /// Messages published in the whole run (warm-up included).
    pub(crate) published_total: u64,
    /// Deliveries those should have made: each receiver × its publisher's total.
    pub(crate) expected_deliveries: u64,
    /// Of `expected_deliveries`, how many never arrived (within the drain).
    pub(crate) lost: u64,
    /// Receivers that missed at least one message.
    pub(crate) receivers_with_loss: u64,
    pub(crate) reordered: u64,
    pub(crate) duplicates: u64,
    pub(crate) malformed: u64,
    /// False if a receiver's gap bookkeeping overflowed (loss is then approximate: a
    /// late arrival can no longer be told from a duplicate).
    pub(crate) loss_exact: bool,
    /// Whether every receiver got everything before the drain timeout.
    pub(crate) drained: bool,
    #[serde(serialize_with = "round3")]
    pub(crate) drain_s: f64,
    /// With `--ack`.
    #[serde(flatten)]
    pub(crate) ack: Option<AckFigures>,
}

/// Acknowledged publishing figures (`--ack`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AckFigures {
    /// Publishes acknowledged in the window.
    pub(crate) acks: u64,
    /// Publishes refused in the window.
    pub(crate) ack_errors: u64,
    /// Publishes never answered by the end of the run.
    pub(crate) unacked: u64,
    /// Publish-to-acknowledgement latency.
    pub(crate) ack_latency_us: Percentiles,
}

/// Figures of `conns`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConnsFigures {
    pub(crate) requested: u64,
    pub(crate) connected: u64,
    #[serde(serialize_with = "round3")]
    pub(crate) connect_s: f64,
    #[serde(serialize_with = "round3")]
    pub(crate) connects_per_s: f64,
    /// Time from starting a connection to its join being acknowledged.
    pub(crate) setup_latency_us: Percentiles,
    pub(crate) sources: u64,
    #[serde(serialize_with = "round3")]
    pub(crate) hold_s: f64,
    /// Connections still open when the hold ended.
    pub(crate) alive_after_hold: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_rss_kib_baseline: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_rss_kib_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "round3_opt")]
    pub(crate) rss_per_conn_kib: Option<f64>,
}

/// A scenario's own figures.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Figures {
    Echo(EchoFigures),
    Broadcast(BroadcastFigures),
    Conns(ConnsFigures),
}

/// Server figures, with `--server-pid`.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ServerFigures {
    pub(crate) server_pid: u32,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "round3_opt")]
    pub(crate) server_cpu_s: Option<f64>,
    /// Server CPU seconds per million messages handled (echo round trips, or
    /// deliveries).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "round3_opt")]
    pub(crate) server_cpu_s_per_million: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_rss_kib_start: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_rss_kib_end: Option<u64>,
}

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) scenario: &'static str,
    pub(crate) proto: Proto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) label: Option<String>,
    /// Every option, defaults included.
    pub(crate) options: serde_json::Value,
    /// Length of the measured window.
    #[serde(serialize_with = "round3")]
    pub(crate) window_s: f64,
    /// Connections that failed to set up.
    pub(crate) failures: u64,
    /// Failure reasons, with counts (a bounded sample).
    pub(crate) failure_reasons: BTreeMap<String, u64>,
    /// Connections that ended before the run did.
    pub(crate) disconnected: u64,
    /// How they ended, with counts.
    pub(crate) disconnects: Vec<Disconnects>,
    #[serde(flatten)]
    pub(crate) figures: Figures,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "round3_opt")]
    pub(crate) bench_cpu_s: Option<f64>,
    /// Bench CPU over the window as a fraction of one core.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "round3_opt")]
    pub(crate) bench_cpu_util: Option<f64>,
    /// True if the bench used ≥ 90% of a core: the generator may be the bottleneck.
    pub(crate) client_limited: bool,
    #[serde(flatten)]
    pub(crate) server: Option<ServerFigures>,
}

impl Report {
    /// The JSON line.
    pub(crate) fn json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The human table.
    pub(crate) fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            (
                "scenario",
                format!("{} over {:?}", self.scenario, self.proto).to_lowercase(),
            ),
            ("window", format!("{:.2} s", self.window_s)),
        ];
        match &self.figures {
            Figures::Echo(f) => {
                rows.push(("connections", f.conns.to_string()));
                rows.push(("round trips", f.round_trips.to_string()));
                rows.push(("messages/s", human(f.messages_per_s)));
                rows.push(("round trip", f.latency_us.row()));
            }
            Figures::Broadcast(f) => {
                rows.push(("rooms", f.rooms.to_string()));
                rows.push((
                    "receivers",
                    format!("{} ({} per message)", f.receivers, f.receivers_per_message),
                ));
                if let Some(target) = f.target_publish_per_s {
                    rows.push(("target publish/s", human(target)));
                }
                rows.push((
                    "published/s",
                    format!("{} ({} in window)", human(f.published_per_s), f.published),
                ));
                rows.push((
                    "deliveries/s",
                    format!("{} ({} in window)", human(f.deliveries_per_s), f.deliveries),
                ));
                rows.push(("latency", f.latency_us.row()));
                if let Some(AckFigures {
                    acks,
                    ack_errors: errors,
                    unacked,
                    ack_latency_us: latency,
                }) = &f.ack
                {
                    rows.push((
                        "acks",
                        format!("{acks} ok, {errors} refused, {unacked} unanswered"),
                    ));
                    rows.push(("ack latency", latency.row()));
                }
                rows.push((
                    "lost",
                    format!(
                        "{} of {} expected deliveries ({} published; {} receivers affected{}); \
                         reordered {}, duplicates {}, malformed {}",
                        f.lost,
                        f.expected_deliveries,
                        f.published_total,
                        f.receivers_with_loss,
                        if f.loss_exact { "" } else { ", approximate" },
                        f.reordered,
                        f.duplicates,
                        f.malformed
                    ),
                ));
                rows.push((
                    "drain",
                    format!(
                        "{:.2} s{}",
                        f.drain_s,
                        if f.drained { "" } else { " (timed out)" }
                    ),
                ));
            }
            Figures::Conns(f) => {
                rows.push(("connected", format!("{} of {}", f.connected, f.requested)));
                rows.push((
                    "connects/s",
                    format!("{} (over {:.2} s)", human(f.connects_per_s), f.connect_s),
                ));
                rows.push(("setup latency", f.setup_latency_us.row()));
                rows.push(("source addresses", f.sources.to_string()));
                rows.push((
                    "alive after hold",
                    format!("{} ({:.1} s hold)", f.alive_after_hold, f.hold_s),
                ));
                if let (Some(base), Some(after)) =
                    (f.server_rss_kib_baseline, f.server_rss_kib_after)
                {
                    rows.push(("server RSS", format!("{base} KiB → {after} KiB")));
                }
                if let Some(per) = f.rss_per_conn_kib {
                    rows.push(("RSS per conn", format!("{per:.2} KiB")));
                }
            }
        }
        rows.push(("failures", self.failures.to_string()));
        for (reason, n) in &self.failure_reasons {
            rows.push(("  reason", format!("{n} × {reason}")));
        }
        rows.push(("disconnected", self.disconnected.to_string()));
        for d in &self.disconnects {
            let code = d
                .how
                .code
                .map_or_else(|| "no close frame".to_owned(), |c| format!("code {c}"));
            rows.push((
                "  closed",
                format!("{} × {code}: {}", d.count, d.how.reason),
            ));
        }
        if let (Some(cpu), Some(util)) = (self.bench_cpu_s, self.bench_cpu_util) {
            let flag = if self.client_limited {
                "  ← CLIENT LIMITED"
            } else {
                ""
            };
            rows.push((
                "bench CPU",
                format!("{cpu:.2} s ({:.0}% of a core){flag}", util * 100.0),
            ));
        }
        if let Some(s) = &self.server {
            if let Some(cpu) = s.server_cpu_s {
                rows.push(("server CPU", format!("{cpu:.2} s")));
            }
            if let Some(per) = s.server_cpu_s_per_million {
                rows.push(("server CPU/1M", format!("{per:.3} s")));
            }
            if let (Some(a), Some(b)) = (s.server_rss_kib_start, s.server_rss_kib_end) {
                rows.push(("server RSS", format!("{a} KiB → {b} KiB")));
            }
        }
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("  {k:<width$}  {v}\n"));
        }
        out
    }
}

/// Rounds to 3 decimals: f64 sums print as `1.6099999999999999`, and no figure here is
/// meaningful past a thousandth (CPU time comes in 10 ms ticks).
fn rounded(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round3<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(rounded(*x))
}

fn round3_opt<S: serde::Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => s.serialize_some(&rounded(*x)),
        None => s.serialize_none(),
    }
}

/// Whether `util` (fraction of one core) means the generator saturated.
pub(crate) fn client_limited(util: Option<f64>) -> bool {
    util.is_some_and(|u| u >= CLIENT_LIMITED_AT)
}

/// Groups disconnects by code and reason, most frequent first.
pub(crate) fn group_disconnects(all: impl IntoIterator<Item = Disconnect>) -> Vec<Disconnects> {
    let mut counts: BTreeMap<Disconnect, u64> = BTreeMap::new();
    for d in all {
        *counts.entry(d).or_default() += 1;
    }
    let mut grouped: Vec<_> = counts
        .into_iter()
        .map(|(how, count)| Disconnects { how, count })
        .collect();
    grouped.sort_by_key(|g| std::cmp::Reverse(g.count));
    grouped.truncate(10);
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_an_empty_histogram_are_zero() {
        let h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        assert_eq!(Percentiles::of(&h).count, 0);
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in 1..=1000 {
            h.record(v).unwrap();
        }
        let p = Percentiles::of(&h);
        assert_eq!((p.count, p.p50, p.p99, p.max), (1000, 500, 990, 1000));
    }

    #[test]
    fn floats_are_rounded_in_json() {
        let s = ServerFigures {
            server_pid: 1,
            server_cpu_s: Some(1.6099999999999999),
            server_cpu_s_per_million: None,
            server_rss_kib_start: Some(5),
            server_rss_kib_end: None,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"server_pid":1,"server_cpu_s":1.61,"server_rss_kib_start":5}"#
        );
    }

    #[test]
    fn limited_at_ninety_percent() {
        assert!(client_limited(Some(0.95)));
        assert!(!client_limited(Some(0.5)));
        assert!(!client_limited(None));
    }

    #[test]
    fn disconnects_group_by_code_and_reason() {
        let d = |code, reason: &str| Disconnect {
            code,
            reason: reason.to_owned(),
        };
        let grouped = group_disconnects([
            d(Some(1008), "slow consumer"),
            d(None, "reset"),
            d(Some(1008), "slow consumer"),
        ]);
        assert_eq!(
            grouped[0],
            Disconnects {
                how: d(Some(1008), "slow consumer"),
                count: 2
            }
        );
        assert_eq!(grouped[1].count, 1);
    }
}

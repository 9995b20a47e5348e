//! The measured window: its two edges, and a progress line each second in between.
//!
//! An [`Edge`] is everything the figures are differences of: the time, the counters, the
//! bench's own CPU seconds, and (with `--server-pid`) the server's CPU seconds and RSS.
//! Taking both edges the same way means rates, CPU use and per-message costs all cover
//! exactly the same interval.

use std::time::{Duration, Instant};

use crate::procfs::{self, Pid};
use crate::run::Run;
use crate::stats::Counts;

/// One edge of the window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Edge {
    /// When.
    pub(crate) at: Instant,
    /// The counters then.
    pub(crate) counts: Counts,
    /// The bench's CPU seconds so far, if readable.
    pub(crate) bench_cpu_s: Option<f64>,
    /// The server's CPU seconds so far, with `--server-pid`.
    pub(crate) server_cpu_s: Option<f64>,
    /// The server's RSS in KiB, with `--server-pid`.
    pub(crate) server_rss_kib: Option<u64>,
}

/// Takes an edge now.
pub(crate) fn edge(run: &Run, server: Option<u32>) -> Edge {
    let server = server.map(Pid::Other);
    Edge {
        at: Instant::now(),
        counts: run.stats.counts(),
        bench_cpu_s: procfs::cpu_seconds(Pid::Me).ok(),
        server_cpu_s: server.and_then(|pid| procfs::cpu_seconds(pid).ok()),
        server_rss_kib: server.and_then(|pid| procfs::rss_kib(pid).ok()),
    }
}

/// The window between two edges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Where it starts.
    pub(crate) start: Edge,
    /// Where it ends.
    pub(crate) end: Edge,
}

impl Window {
    /// Its length in seconds.
    pub(crate) fn secs(&self) -> f64 {
        (self.end.at - self.start.at).as_secs_f64()
    }

    /// How much each counter grew.
    pub(crate) fn counts(&self) -> Counts {
        self.end.counts - self.start.counts
    }

    /// `n` per second over the window.
    pub(crate) fn rate(&self, n: u64) -> f64 {
        per_second(n, self.secs())
    }

    /// The bench's CPU seconds in the window.
    pub(crate) fn bench_cpu_s(&self) -> Option<f64> {
        Some(self.end.bench_cpu_s? - self.start.bench_cpu_s?)
    }

    /// The server's CPU seconds in the window.
    pub(crate) fn server_cpu_s(&self) -> Option<f64> {
        Some(self.end.server_cpu_s? - self.start.server_cpu_s?)
    }
}

/// `n` per `secs`, 0 for an empty interval.
pub(crate) fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// What a progress line shows, given the counters' growth over the last second and
/// their totals.
pub(crate) type Line = fn(&Counts, &Counts) -> String;

/// Waits `length`, printing `[<label> <t>s] <line>` to stderr each second unless `quiet`.
pub(crate) async fn tick_for(run: &Run, label: &str, length: Duration, quiet: bool, line: Line) {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + length;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = run.stats.counts();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = tick.tick() => {
                let now = run.stats.counts();
                if !quiet {
                    eprintln!(
                        "[{label} {:>3.0}s] {}",
                        started.elapsed().as_secs_f64(),
                        line(&(now - last), &now),
                    );
                }
                last = now;
            }
        }
    }
}

/// A count with a k/M suffix, for progress lines and the table.
pub(crate) fn human(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(human(999.0), "999");
        assert_eq!(human(12_345.0), "12.3k");
        assert_eq!(human(2_500_000.0), "2.50M");
    }

    #[test]
    fn empty_interval_has_no_rate() {
        assert_eq!(per_second(10, 0.0), 0.0);
        assert_eq!(per_second(10, 2.0), 5.0);
    }
}

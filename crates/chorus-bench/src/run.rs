//! A run's shared context, and setting connections up under it.
//!
//! Every connection task holds an `Arc<Run>`: where to connect, which protocol, the body
//! size, the tallies and the stage. Setup goes through [`Run::establish`], which bounds
//! how many handshakes are in progress at once (a burst of thousands of SYNs overflows
//! the server's accept backlog and measures retransmit timers instead of the server),
//! times each one out, and counts the outcome; tasks then report to the coordinator
//! through a bounded channel, which [`collect_setups`] drains with a progress line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::{mpsc, Semaphore};

use crate::proto::Proto;
use crate::session::{self, SessionError};
use crate::stage::StageCtl;
use crate::stats::Stats;
use crate::transport::{ConnectError, Target, Ws};

/// Distinct failure reasons kept for the report; the rest are only counted.
const MAX_REASONS: usize = 8;

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Run {
    /// Where to connect.
    pub(crate) target: Target,
    /// Which protocol to speak.
    pub(crate) proto: Proto,
    /// Body size of each published message.
    pub(crate) size: usize,
    /// Tallies.
    pub(crate) stats: Stats,
    /// Where the run is.
    pub(crate) stage: StageCtl,
    connect_gate: Semaphore,
    setup_timeout: Duration,
}

/// A connection could not be set up.
#[derive(Debug, Error)]
pub(crate) enum SetupError {
    /// TCP or WebSocket handshake.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Greeting or join.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Took longer than the setup timeout.
    #[error("setup timed out after {0:?}")]
    Timeout(Duration),
}

impl Run {
    /// A context with at most `concurrency` setups in progress at once.
    pub(crate) fn new(
        target: Target,
        proto: Proto,
        size: usize,
        concurrency: usize,
        setup_timeout: Duration,
    ) -> Self {
        Self {
            target,
            proto,
            size,
            stats: Stats::new(),
            stage: StageCtl::new(),
            connect_gate: Semaphore::new(concurrency.max(1)),
            setup_timeout,
        }
    }

    /// Connects connection `index`, greets and joins `room`; counts and times the
    /// outcome.
    pub(crate) async fn establish(&self, index: usize, room: &str) -> Result<Ws, SetupError> {
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = self.connect_gate.acquire().await;
        let started = Instant::now();
        // Boxed: the handshake's future is several KiB, and unboxed it would size every
        // connection task's state for the task's whole life, long after setup is over.
        let setup = Box::pin(async {
            let mut ws = self
                .target
                .open(index, &self.proto.path(room, index))
                .await?;
            session::open(&mut ws, self.proto, room).await?;
            Ok::<_, SetupError>(ws)
        });
        let result = match tokio::time::timeout(self.setup_timeout, setup).await {
            Ok(result) => result,
            Err(_) => Err(SetupError::Timeout(self.setup_timeout)),
        };
        match &result {
            Ok(_) => {
                self.stats.connected.add(index, 1);
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.stats.setup_latency.record(index, us);
            }
            Err(_) => self.stats.failed.add(index, 1),
        }
        result
    }
}

/// How one connection's setup went, as reported to the coordinator.
pub(crate) type Setup = Result<(), SetupError>;

/// Where a task reports its setup.
pub(crate) type SetupSender = mpsc::Sender<Setup>;

/// A channel for `n` setup reports: bounded, and big enough that no task ever waits on it.
pub(crate) fn setup_channel(n: usize) -> (SetupSender, mpsc::Receiver<Setup>) {
    mpsc::channel(n.max(1))
}

/// Failures, grouped by reason.
#[derive(Debug, Clone, Default)]
pub(crate) struct Failures {
    /// How many.
    pub(crate) count: u64,
    /// Up to [`MAX_REASONS`] distinct reasons, with counts.
    pub(crate) reasons: BTreeMap<String, u64>,
}

impl Failures {
    /// Counts one failure for `reason`.
    pub(crate) fn add(&mut self, reason: String) {
        self.count += 1;
        if let Some(n) = self.reasons.get_mut(&reason) {
            *n += 1;
        } else if self.reasons.len() < MAX_REASONS {
            self.reasons.insert(reason, 1);
        }
    }
}

/// Waits for `expected` setup reports, printing progress once a second and each new
/// failure reason as it first appears (unless `quiet`).
pub(crate) async fn collect_setups(
    run: &Run,
    rx: &mut mpsc::Receiver<Setup>,
    expected: usize,
    what: &str,
    quiet: bool,
) -> Failures {
    let mut failures = Failures::default();
    let mut seen = 0;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while seen < expected {
        tokio::select! {
            report = rx.recv() => {
                let Some(report) = report else { break };
                seen += 1;
                if let Err(err) = report {
                    let reason = err.to_string();
                    if !quiet && !failures.reasons.contains_key(&reason) {
                        eprintln!("connection failed: {reason}");
                    }
                    failures.add(reason);
                }
            }
            _ = tick.tick(), if !quiet => {
                let c = run.stats.counts();
                eprintln!(
                    "[setup {:>4.0}s] {what}: {}/{expected} up, {} failed",
                    started.elapsed().as_secs_f64(),
                    c.connected,
                    c.failed,
                );
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_a_bounded_set_of_reasons() {
        let mut f = Failures::default();
        for i in 0..20 {
            f.add(format!("reason {}", i % 10));
        }
        assert_eq!(f.count, 20);
        assert_eq!(f.reasons.len(), MAX_REASONS);
        assert_eq!(f.reasons["reason 0"], 2);
    }
}

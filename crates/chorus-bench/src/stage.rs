//! Where the run is: setting up, warming up, measuring, draining, shutting down.
//!
//! The coordinator moves the stage forward; connection tasks react. Two views of the same
//! value serve two kinds of reader: an atomic for the per-message question "are we
//! measuring?" (one relaxed load on the hot path) and a `watch` channel for tasks that
//! must *wake* on a change (a publisher waiting to start, a reader waiting to stop).

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::watch;

/// The stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Stage {
    /// Connecting and joining; nothing is published.
    Setup = 0,
    /// Publishers run; nothing is counted in the figures.
    Warmup = 1,
    /// The measured window: latencies are recorded.
    Measure = 2,
    /// Publishers stop; receivers collect what is still on its way.
    Drain = 3,
    /// Every task ends.
    Shutdown = 4,
}

/// The current stage, shared by the coordinator and every task.
#[derive(Debug)]
pub(crate) struct StageCtl {
    now: AtomicU8,
    tx: watch::Sender<Stage>,
}

impl StageCtl {
    /// Starts in [`Stage::Setup`].
    pub(crate) fn new() -> Self {
        Self {
            now: AtomicU8::new(Stage::Setup as u8),
            tx: watch::Sender::new(Stage::Setup),
        }
    }

    /// Moves to `stage` and wakes every task watching.
    pub(crate) fn set(&self, stage: Stage) {
        self.now.store(stage as u8, Ordering::Release);
        self.tx.send_replace(stage);
    }

    /// True during the measured window.
    pub(crate) fn measuring(&self) -> bool {
        self.now.load(Ordering::Relaxed) == Stage::Measure as u8
    }

    /// A receiver that wakes on every change.
    pub(crate) fn watch(&self) -> watch::Receiver<Stage> {
        self.tx.subscribe()
    }
}

/// Waits until the stage is at least `stage`.
pub(crate) async fn reached(rx: &mut watch::Receiver<Stage>, stage: Stage) {
    // The sender lives in the shared context for the whole run, so this cannot fail
    // while anyone waits; if it did, treating it as reached ends the task cleanly.
    let _ = rx.wait_for(|s| *s >= stage).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_watchers_and_orders_stages() {
        let ctl = StageCtl::new();
        let mut rx = ctl.watch();
        assert!(!ctl.measuring());
        ctl.set(Stage::Measure);
        assert!(ctl.measuring());
        reached(&mut rx, Stage::Warmup).await;
        ctl.set(Stage::Shutdown);
        reached(&mut rx, Stage::Shutdown).await;
        assert!(!ctl.measuring());
        assert!(Stage::Drain < Stage::Shutdown);
    }
}

//! [`Lane`]: a connection's questions to the backend, answered in the order it asked.
//!
//! A client that sends "join lobby" then "hello lobby" must not see its message refused
//! because the join's answer came second; nor may its messages overtake one another. So
//! each connection that needs the backend gets a lane — one task that runs its jobs one
//! after another — made at its first such command. At most [`MAX_WAITING`] jobs wait in
//! it: past that the client gets an error at once, and memory stays bounded however slow
//! the backend is. The task ends when the connection drops its lane and the lane is empty.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;

/// Most jobs waiting in one connection's lane.
pub(crate) const MAX_WAITING: usize = 64;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One connection's ordered jobs.
#[derive(Debug, Clone)]
pub(crate) struct Lane {
    jobs: mpsc::Sender<Job>,
}

/// The lane is full: [`MAX_WAITING`] jobs are waiting for the backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneFull;

impl Default for Lane {
    fn default() -> Self {
        let (jobs, mut waiting) = mpsc::channel::<Job>(MAX_WAITING);
        tokio::spawn(async move {
            while let Some(job) = waiting.recv().await {
                job.await;
            }
        });
        Self { jobs }
    }
}

impl Lane {
    /// Queues `job` after the ones before it.
    pub(crate) fn run(
        &self,
        job: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), LaneFull> {
        self.jobs.try_send(Box::pin(job)).map_err(|_| LaneFull)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn jobs_run_in_order_and_a_full_lane_refuses() {
        let lane = Lane::default();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        // The first job waits (a slow backend); the others queue behind it.
        lane.run(async move {
            let _ = gate.await;
        })
        .unwrap();
        for i in 0..MAX_WAITING {
            let seen = seen.clone();
            // Later jobs are quicker: only the lane keeps them in order.
            let pause = Duration::from_millis((MAX_WAITING - i) as u64 % 3);
            let queued = lane.run(async move {
                tokio::time::sleep(pause).await;
                seen.lock().push(i);
            });
            // The first job may still be in the channel or already taken: one slot either way.
            if queued.is_err() {
                assert_eq!(i, MAX_WAITING - 1, "refused before the lane was full");
            }
        }
        assert!(lane.run(async {}).is_err(), "the lane is full");
        release.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seen = seen.lock().clone();
        assert!(seen.len() >= MAX_WAITING - 1);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    }
}

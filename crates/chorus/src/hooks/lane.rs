//! [`Lane`]: a connection's questions to the backend, answered in the order it asked.
//!
//! A client that sends "join lobby" then "hello lobby" must not see its message refused
//! because the join's answer came second; nor may its messages overtake one another. So
//! each connection that needs the backend gets a lane — one task that runs its jobs one
//! after another — made at its first such command. At most [`MAX_WAITING`] jobs wait in
//! it: past that the client gets an error at once, and memory stays bounded however slow
//! the backend is. When the connection closes its lane is closed ([`Lane::close`]): the
//! job under way and those waiting are dropped, so a client that sends 64 commands and
//! leaves, again and again, leaves nothing behind waiting for the backend.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;

/// Most jobs waiting in one connection's lane.
pub(crate) const MAX_WAITING: usize = 64;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One connection's ordered jobs.
#[derive(Debug, Clone)]
pub(crate) struct Lane(std::sync::Arc<Inner>);

/// One pointer in the session that holds a lane (every connection's task pays for its
/// session's size).
#[derive(Debug)]
struct Inner {
    jobs: mpsc::Sender<Job>,
    task: tokio::task::AbortHandle,
}

/// The lane is full: [`MAX_WAITING`] jobs are waiting for the backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneFull;

impl Default for Lane {
    fn default() -> Self {
        let (jobs, mut waiting) = mpsc::channel::<Job>(MAX_WAITING);
        let task = tokio::spawn(async move {
            while let Some(job) = waiting.recv().await {
                job.await;
            }
        })
        .abort_handle();
        Self(std::sync::Arc::new(Inner { jobs, task }))
    }
}

impl Lane {
    /// Queues `job` after the ones before it.
    pub(crate) fn run(
        &self,
        job: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), LaneFull> {
        self.0.jobs.try_send(Box::pin(job)).map_err(|_| LaneFull)
    }

    /// Drops the job under way and those waiting: the connection is gone.
    pub(crate) fn close(&self) {
        self.0.task.abort();
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

    #[tokio::test]
    async fn a_closed_lane_drops_what_waits() {
        let lane = Lane::default();
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..3 {
            let ran = ran.clone();
            lane.run(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            })
            .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        lane.close();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(ran.load(std::sync::atomic::Ordering::Relaxed), 0);
        assert!(lane.run(async {}).is_err(), "nothing runs in a closed lane");
    }
}

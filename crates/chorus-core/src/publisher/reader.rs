//! The reader thread: joins that need the store are read here, off every connection's task
//! and off the writer, so a slow append delays neither the connections nor the joins to
//! other rooms. What cannot be finished exactly here goes to the writer
//! ([`super::catchup`]).

use std::sync::mpsc;

use super::catchup::{Shared, Work};

/// What the reader thread is asked to do.
pub(super) enum Job {
    Work(Work),
    /// The publisher is gone.
    Stop,
}

/// Runs the reader until the publisher stops.
pub(super) fn run(shared: Shared, jobs: mpsc::Receiver<Job>, writer: Box<dyn Fn(Work) + Send>) {
    while let Ok(Job::Work(work)) = jobs.recv() {
        if let Some(work) = work.run(&shared, false) {
            // A batch of the room is in flight, or went out past what was read: the writer
            // finishes it between batches.
            writer(work);
        }
    }
}

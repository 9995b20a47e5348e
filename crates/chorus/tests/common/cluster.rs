//! What the cluster tests share: waiting for a condition, a node's link to its broker, and a
//! child process (a `chorus serve` node, a Node socket.io server) killed by PID when dropped.

use std::process::Child;
use std::time::{Duration, Instant};

use chorus::Server;

/// Waits (at most 10 s) until `done`; panics naming `what` otherwise.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether `server`'s link to its broker is up.
pub fn link_up(server: &Server) -> bool {
    server.hub().cluster().is_some_and(|c| c.is_up())
}

/// A child process, killed (SIGKILL) and waited for when dropped if it still runs.
pub struct Process(pub Child);

impl Process {
    /// Kills it now, as `kill -9` would, and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

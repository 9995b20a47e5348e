//! [`LatchStore`]: a store whose appends wait at a latch — a real memory store behind it,
//! and a switch a test holds to make the disk "slow" for as long as it likes; another makes
//! appends fail (a full disk, a lost database). For testing that nothing waits for a slow
//! append but what must, and what a failing store shows (feature `testing`).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::{
    Append, MemoryStore, Page, Retention, SessionWrite, Stamp, Store, StoreError, StreamPos,
};
use bytes::Bytes;

/// How long an append waits at a closed latch at most, so a failing test cannot hang.
const SAFETY: Duration = Duration::from_secs(20);

#[derive(Debug, Default)]
struct Gate {
    closed: bool,
    /// Appends fail while this is set.
    failing: bool,
    /// Appends that have reached the latch.
    arrived: usize,
}

/// A [`MemoryStore`] whose `append_batch` waits while the latch is closed (at most 20 s,
/// so a failing test cannot hang).
#[derive(Debug, Default)]
pub struct LatchStore {
    inner: MemoryStore,
    gate: Mutex<Gate>,
    changed: Condvar,
}

impl LatchStore {
    /// An empty store, latch open.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Appends from now on wait.
    pub fn close(&self) {
        self.gate.lock().unwrap().closed = true;
    }

    /// Waiting appends go on, and later ones do not wait.
    pub fn open(&self) {
        self.gate.lock().unwrap().closed = false;
        self.changed.notify_all();
    }

    /// Appends fail (`true`) or work again (`false`).
    pub fn fail(&self, failing: bool) {
        self.gate.lock().unwrap().failing = failing;
    }

    /// Blocks until `n` appends in all have reached the latch.
    pub fn wait_for_appends(&self, n: usize) {
        let gate = self.gate.lock().unwrap();
        let (_gate, timeout) = self
            .changed
            .wait_timeout_while(gate, SAFETY, |gate| gate.arrived < n)
            .unwrap();
        assert!(!timeout.timed_out(), "no append reached the store");
    }
}

impl Store for LatchStore {
    fn append_batch(&self, batch: &[Append]) -> Result<Vec<Stamp>, StoreError> {
        {
            let mut gate = self.gate.lock().unwrap();
            gate.arrived += 1;
            self.changed.notify_all();
            let (gate, _) = self
                .changed
                .wait_timeout_while(gate, SAFETY, |gate| gate.closed)
                .unwrap();
            if gate.failing {
                return Err(StoreError::backend(std::io::Error::other("disk full")));
            }
        }
        self.inner.append_batch(batch)
    }

    fn position(&self, stream: &str) -> Result<StreamPos, StoreError> {
        self.inner.position(stream)
    }

    fn read_after(
        &self,
        stream: &str,
        epoch: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.inner.read_after(stream, epoch, after, limit)
    }

    fn read_after_seq(
        &self,
        stream: &str,
        epoch: &str,
        after: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.inner
            .read_after_seq(stream, epoch, after, after_seq, limit)
    }

    fn read_last(&self, stream: &str, n: usize) -> Result<Page, StoreError> {
        self.inner.read_last(stream, n)
    }

    fn trim(&self, now_ms: u64, retention: &dyn Fn(&str) -> Retention) -> Result<u64, StoreError> {
        self.inner.trim(now_ms, retention)
    }

    fn write_sessions(&self, writes: &[SessionWrite]) -> Result<(), StoreError> {
        self.inner.write_sessions(writes)
    }

    fn read_session(&self, id: &str, now_ms: u64) -> Result<Option<Bytes>, StoreError> {
        self.inner.read_session(id, now_ms)
    }

    fn expire_open_sessions(&self, expires_ms: u64) -> Result<u64, StoreError> {
        self.inner.expire_open_sessions(expires_ms)
    }
}

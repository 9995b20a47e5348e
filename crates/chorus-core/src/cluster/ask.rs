//! [`Ask`]: an [`Op`](crate::ops::Op) run on every other node of the cluster, and the
//! replies as they come — until every live node answered, or the asker stops waiting.
//!
//! A request goes to every node as a signal; each runs the op on its connections and
//! replies to the asker alone (the reply names it). The asker counts the nodes alive when it
//! asked ([`super::DEAD_AFTER`]): a node that dies meanwhile never answers, so the library
//! waits with a timeout and says how many answered.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::envelope::NodeId;
use crate::ops::Reply;

/// The requests this node is waiting on.
#[derive(Default)]
pub(crate) struct Asks {
    next: u64,
    pending: HashMap<u64, Pending>,
}

struct Pending {
    /// When it was asked: a reply's round trip is measured from here.
    asked: std::time::Instant,
    expected: usize,
    replies: Vec<(NodeId, Reply)>,
    done: Option<oneshot::Sender<()>>,
}

impl Asks {
    /// A new request expecting `expected` replies: its number, and what says they came.
    pub(crate) fn open(&mut self, expected: usize) -> (u64, oneshot::Receiver<()>) {
        self.next += 1;
        let (done, rx) = oneshot::channel();
        let mut pending = Pending {
            asked: std::time::Instant::now(),
            expected,
            replies: Vec::new(),
            done: Some(done),
        };
        if expected == 0 {
            if let Some(done) = pending.done.take() {
                let _ = done.send(());
            }
        }
        self.pending.insert(self.next, pending);
        (self.next, rx)
    }

    /// A reply to request `id` came from `node`: how long after the asking, if it was
    /// still awaited.
    pub(crate) fn reply(
        &mut self,
        id: u64,
        node: NodeId,
        reply: Reply,
    ) -> Option<std::time::Duration> {
        let Some(pending) = self.pending.get_mut(&id) else {
            // Too late: the asker stopped waiting.
            return None;
        };
        if pending.replies.iter().any(|(from, _)| *from == node) {
            return None;
        }
        let took = pending.asked.elapsed();
        pending.replies.push((node, reply));
        if pending.replies.len() >= pending.expected {
            if let Some(done) = pending.done.take() {
                let _ = done.send(());
            }
        }
        Some(took)
    }

    fn close(&mut self, id: u64) -> Vec<(NodeId, Reply)> {
        self.pending
            .remove(&id)
            .map(|p| p.replies)
            .unwrap_or_default()
    }
}

/// A request to the other nodes, waiting for their replies.
pub struct Ask {
    id: u64,
    expected: usize,
    done: Option<oneshot::Receiver<()>>,
    asks: Weak<AsksLock>,
}

impl Ask {
    pub(crate) fn new(
        asks: &Arc<AsksLock>,
        id: u64,
        expected: usize,
        done: oneshot::Receiver<()>,
    ) -> Self {
        Self {
            id,
            expected,
            done: Some(done),
            asks: Arc::downgrade(asks),
        }
    }

    /// How many nodes were asked (those alive then).
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// Resolves once every node asked has replied (never, if one died meanwhile: wait with
    /// a timeout).
    pub async fn answered(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }

    /// The replies so far; the request is closed (later replies are dropped).
    pub fn replies(self) -> Vec<(NodeId, Reply)> {
        self.close()
    }

    fn close(&self) -> Vec<(NodeId, Reply)> {
        match self.asks.upgrade() {
            Some(asks) => asks.lock().close(self.id),
            None => Vec::new(),
        }
    }
}

impl Drop for Ask {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The lock the cluster keeps its requests under.
pub(crate) type AsksLock = Mutex<Asks>;

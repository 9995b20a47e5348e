//! A connection's outbound queue: bounded in items and in bytes, never awaited by a sender.
//!
//! A [`Mailbox`] is the sending side, shared by whoever fans out to the connection; the
//! transport task owns the receiving side, a [`PeerQueue`]. Usually one [`crate::Peer`] owns a
//! mailbox, but a transport that multiplexes several hub identities over one socket (a
//! Socket.IO client connected to several namespaces) gives all of them the same mailbox:
//! one queue, one byte budget, one slow-consumer verdict for the socket they share.
//!
//! The slow-consumer policy lives here. A push never waits: if the queue is full, a volatile
//! item is dropped for this recipient, anything else closes the connection (1008) — never drop
//! silently, never slow the publisher. A close jumps the queue, so a connection that stopped
//! reading is not kept alive by the backlog that condemned it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::{CloseReason, Outbound, WireFormat};

/// How much a connection's outbound queue may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most items queued.
    pub messages: usize,
    /// Most bytes queued (see [`Outbound::weight`]). One item larger than this still fits
    /// in an empty queue, so no message is undeliverable.
    pub bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            messages: 1024,
            bytes: 4 << 20,
        }
    }
}

/// The sending side of one connection's outbound queue.
#[derive(Debug)]
pub struct Mailbox {
    format: WireFormat,
    tx: mpsc::Sender<Outbound>,
    kill: Mutex<Option<CloseReason>>,
    killed: AtomicBool,
    wake: Notify,
    closed: Notify,
    queued_bytes: AtomicUsize,
    max_bytes: usize,
}

impl Mailbox {
    /// A new, empty queue for a connection speaking `format`.
    pub fn new(format: WireFormat, limits: QueueLimits) -> (Arc<Self>, PeerQueue) {
        let (tx, rx) = mpsc::channel(limits.messages.max(1));
        let mailbox = Arc::new(Self {
            format,
            tx,
            kill: Mutex::new(None),
            killed: AtomicBool::new(false),
            wake: Notify::new(),
            closed: Notify::new(),
            queued_bytes: AtomicUsize::new(0),
            max_bytes: limits.bytes,
        });
        let queue = PeerQueue {
            rx,
            mailbox: mailbox.clone(),
        };
        (mailbox, queue)
    }

    /// The wire format the connection speaks.
    pub fn format(&self) -> WireFormat {
        self.format
    }

    /// Queues an item without waiting. Returns `false` if it was not queued: the
    /// connection is closing, or its queue was full (in messages or bytes), in which case
    /// the connection is told to close as a slow consumer.
    pub fn push(&self, item: Outbound) -> bool {
        match self.enqueue(item) {
            Ok(()) => true,
            Err(Refused::Full) => {
                self.close(CloseReason::new(1008, "slow consumer: outbound queue full"));
                false
            }
            Err(Refused::Closed) => false,
        }
    }

    /// Queues a volatile item: dropped (not a disconnect) if the queue is full.
    pub fn push_volatile(&self, item: Outbound) -> bool {
        self.enqueue(item).is_ok()
    }

    /// [`Mailbox::push_volatile`] or [`Mailbox::push`], as `volatile` says.
    pub fn push_with(&self, item: Outbound, volatile: bool) -> bool {
        if volatile {
            self.push_volatile(item)
        } else {
            self.push(item)
        }
    }

    fn enqueue(&self, item: Outbound) -> Result<(), Refused> {
        if self.killed.load(Ordering::Relaxed) {
            return Err(Refused::Closed);
        }
        let weight = item.weight();
        let before = self.queued_bytes.fetch_add(weight, Ordering::Relaxed);
        if before > 0 && before + weight > self.max_bytes {
            self.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
            return Err(Refused::Full);
        }
        match self.tx.try_send(item) {
            Ok(()) => Ok(()),
            Err(err) => {
                self.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
                Err(match err {
                    mpsc::error::TrySendError::Full(_) => Refused::Full,
                    mpsc::error::TrySendError::Closed(_) => Refused::Closed,
                })
            }
        }
    }

    /// Bytes waiting on the queue.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Tells the connection to close now, ahead of anything still queued. The first reason
    /// given wins.
    pub fn close(&self, reason: CloseReason) {
        {
            let mut kill = self.kill.lock();
            if kill.is_some() {
                return;
            }
            *kill = Some(reason);
        }
        self.killed.store(true, Ordering::Release);
        self.wake.notify_one();
        self.closed.notify_waiters();
    }

    /// Resolves once [`Mailbox::close`] has been called. The transport races its socket
    /// writes against this, so a client that stopped reading cannot hold its task in a write.
    pub async fn closing(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.killed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// True once [`Mailbox::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Why the connection was told to close, if it was.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.kill.lock().clone()
    }
}

enum Refused {
    Full,
    Closed,
}

/// The receiving end of a connection's queue, owned by the transport task.
#[derive(Debug)]
pub struct PeerQueue {
    rx: mpsc::Receiver<Outbound>,
    mailbox: Arc<Mailbox>,
}

impl PeerQueue {
    /// The next item to write. A [`Mailbox::close`] jumps the queue and arrives as
    /// [`Outbound::Close`]. Cancel-safe: nothing is lost if the future is dropped.
    pub async fn next(&mut self) -> Option<Outbound> {
        loop {
            if self.mailbox.killed.load(Ordering::Acquire) {
                if let Some(reason) = self.mailbox.close_reason() {
                    return Some(Outbound::Close(reason));
                }
            }
            tokio::select! {
                biased;
                () = self.mailbox.wake.notified() => continue,
                item = self.rx.recv() => return item.map(|item| self.taken(item)),
            }
        }
    }

    /// The next item if one is ready now, for batching writes. Never returns a close that
    /// [`PeerQueue::next`] would have put first.
    pub fn try_next(&mut self) -> Option<Outbound> {
        if self.mailbox.killed.load(Ordering::Acquire) {
            return None;
        }
        self.rx.try_recv().ok().map(|item| self.taken(item))
    }

    fn taken(&self, item: Outbound) -> Outbound {
        self.mailbox
            .queued_bytes
            .fetch_sub(item.weight(), Ordering::Relaxed);
        item
    }

    /// The mailbox this queue belongs to.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }
}

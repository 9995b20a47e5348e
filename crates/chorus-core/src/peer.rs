//! One connection as the hub sees it.
//!
//! A [`Peer`] is shared (`Arc`) by the namespace, every room it is in, and the transport
//! task that owns the socket. Fan-out calls [`Peer::push`], which never waits: the queue is
//! bounded, and a peer whose queue is full is a slow consumer. It is told to close (the
//! policy for non-volatile messages: never drop silently, never slow the publisher), and the
//! transport closes it with 1008 once it has written what was already queued.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, Notify};

use crate::{CloseReason, ConnId, Outbound, WireFormat};

/// A snapshot of a peer's public identity, as listed in presence.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Connection id.
    pub id: ConnId,
    /// Nickname.
    pub name: Arc<str>,
    /// User data (JSON), if set.
    pub data: Option<Arc<RawValue>>,
}

#[derive(Debug)]
struct Meta {
    name: Arc<str>,
    data: Option<Arc<RawValue>>,
}

/// The hub's handle on one connection.
#[derive(Debug)]
pub struct Peer {
    id: ConnId,
    format: WireFormat,
    tx: mpsc::Sender<Outbound>,
    meta: RwLock<Meta>,
    rooms: Mutex<HashSet<Arc<str>>>,
    kill: Mutex<Option<CloseReason>>,
    killed: AtomicBool,
    wake: Notify,
    closed: Notify,
    queued_bytes: AtomicUsize,
    max_bytes: usize,
}

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

impl Peer {
    pub(crate) fn new(
        id: ConnId,
        format: WireFormat,
        name: Arc<str>,
        limits: QueueLimits,
    ) -> (Arc<Self>, PeerQueue) {
        let (tx, rx) = mpsc::channel(limits.messages.max(1));
        let peer = Arc::new(Self {
            id,
            format,
            tx,
            meta: RwLock::new(Meta { name, data: None }),
            rooms: Mutex::new(HashSet::new()),
            kill: Mutex::new(None),
            killed: AtomicBool::new(false),
            wake: Notify::new(),
            closed: Notify::new(),
            queued_bytes: AtomicUsize::new(0),
            max_bytes: limits.bytes,
        });
        let queue = PeerQueue {
            rx,
            peer: peer.clone(),
        };
        (peer, queue)
    }

    /// The connection id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The wire format this connection speaks.
    pub fn format(&self) -> WireFormat {
        self.format
    }

    /// The current nickname.
    pub fn name(&self) -> Arc<str> {
        self.meta.read().name.clone()
    }

    /// The current user data.
    pub fn data(&self) -> Option<Arc<RawValue>> {
        self.meta.read().data.clone()
    }

    /// Sets the nickname and/or the user data.
    pub fn set(&self, name: Option<Arc<str>>, data: Option<Arc<RawValue>>) {
        let mut meta = self.meta.write();
        if let Some(name) = name {
            meta.name = name;
        }
        if let Some(data) = data {
            meta.data = Some(data);
        }
    }

    /// A snapshot for presence.
    pub fn info(&self) -> PeerInfo {
        let meta = self.meta.read();
        PeerInfo {
            id: self.id,
            name: meta.name.clone(),
            data: meta.data.clone(),
        }
    }

    /// The rooms this connection is in (in the namespace it belongs to).
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.rooms.lock().iter().cloned().collect()
    }

    /// True if the connection is in `room`.
    pub fn in_room(&self, room: &str) -> bool {
        self.rooms.lock().contains(room)
    }

    pub(crate) fn rooms_mut(&self) -> parking_lot::MutexGuard<'_, HashSet<Arc<str>>> {
        self.rooms.lock()
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

    /// Bytes waiting on the outbound queue.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// [`Peer::push_volatile`] or [`Peer::push`], as `volatile` says.
    pub fn push_with(&self, item: Outbound, volatile: bool) -> bool {
        if volatile {
            self.push_volatile(item)
        } else {
            self.push(item)
        }
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

    /// Resolves once [`Peer::close`] has been called. The transport races its socket writes
    /// against this, so a client that stopped reading cannot hold its task in a write.
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

    /// True once [`Peer::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }
}

enum Refused {
    Full,
    Closed,
}

/// The receiving end of a peer's queue, owned by the transport task.
#[derive(Debug)]
pub struct PeerQueue {
    rx: mpsc::Receiver<Outbound>,
    peer: Arc<Peer>,
}

impl PeerQueue {
    /// The next item to write. A [`Peer::close`] jumps the queue and arrives as
    /// [`Outbound::Close`]. Cancel-safe: nothing is lost if the future is dropped.
    pub async fn next(&mut self) -> Option<Outbound> {
        loop {
            if self.peer.killed.load(Ordering::Acquire) {
                let reason = self.peer.kill.lock().clone();
                if let Some(reason) = reason {
                    return Some(Outbound::Close(reason));
                }
            }
            tokio::select! {
                biased;
                () = self.peer.wake.notified() => continue,
                item = self.rx.recv() => return item.map(|item| self.taken(item)),
            }
        }
    }

    /// The next item if one is ready now, for batching writes. Never returns a close that
    /// [`PeerQueue::next`] would have put first.
    pub fn try_next(&mut self) -> Option<Outbound> {
        if self.peer.killed.load(Ordering::Acquire) {
            return None;
        }
        self.rx.try_recv().ok().map(|item| self.taken(item))
    }

    fn taken(&self, item: Outbound) -> Outbound {
        self.peer
            .queued_bytes
            .fetch_sub(item.weight(), Ordering::Relaxed);
        item
    }

    /// The peer this queue belongs to.
    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }
}

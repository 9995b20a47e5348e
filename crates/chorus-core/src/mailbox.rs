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

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::{CloseReason, Format, Outbound};

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

/// Capacity an emptied queue keeps: a connection that just received a burst gives the
/// memory back, while one with a steady trickle does not allocate per message.
const IDLE_CAPACITY: usize = 8;

/// The sending side of one connection's outbound queue.
///
/// The queue is a plain `VecDeque` under a mutex rather than a channel: it allocates
/// nothing until the first message (an idle connection costs no queue memory), the byte
/// budget is kept under the same lock as the items, and the reader is woken only when the
/// queue goes from empty to non-empty (it drains everything before it waits again).
///
/// Every connection has one for its whole life, so what only a closing connection needs
/// (its close reason, the hook and the waiters that want to hear of it) is boxed on first
/// use: an idle connection's mailbox is one 128-byte allocation.
#[derive(Debug)]
pub struct Mailbox {
    format: Format,
    /// This connection's messages on their way through the publisher (stored first, then
    /// delivered): while any are, its other messages queue behind them, so a sender's
    /// messages keep their order whatever their targets. In the mailbox because a
    /// connection's publishes all come from it, and it had room.
    in_flight: AtomicU32,
    queue: Mutex<Queue>,
    /// The transport task, waiting for the queue to fill or the connection to be closed.
    reader: AtomicWaker,
    killed: AtomicBool,
    /// A tick of the transport's heartbeat clock waits to be seen: see [`Mailbox::tick`].
    ticked: AtomicBool,
    limits: QueueLimits,
}

/// What few connections need, boxed apart: why the connection was told to close and who
/// else wants to hear of it, and who is told of the events queued.
#[derive(Default)]
struct Kill {
    reason: Option<CloseReason>,
    hook: Option<CloseHook>,
    /// For [`Mailbox::closing`], made by the first to wait.
    closed: Option<Arc<Notify>>,
    /// Told of each event queued for an identity of this connection, by the identity's
    /// namespace (see [`Mailbox::observe_outgoing`]).
    observers: Vec<(Arc<str>, Observer)>,
}

type CloseHook = Box<dyn FnOnce(&CloseReason) + Send>;

/// What [`Mailbox::observe_outgoing`] keeps.
pub type Observer = Box<dyn Fn(&crate::Event) + Send + Sync>;

impl std::fmt::Debug for Kill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kill")
            .field("reason", &self.reason)
            .field("hook", &self.hook.is_some())
            .field("awaited", &self.closed.is_some())
            .field("observers", &self.observers.len())
            .finish()
    }
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Outbound>,
    bytes: usize,
    /// The reading side is gone: the connection is over.
    gone: bool,
    /// Made when the connection is told to close, or something waits for that, or
    /// something observes what is queued.
    kill: Option<Box<Kill>>,
}

/// Tells the observer of `item`'s namespace, if any, of an event about to be queued.
fn observe(observers: &[(Arc<str>, Observer)], item: &Outbound) {
    if observers.is_empty() {
        return;
    }
    let Outbound::Shared(shared) = item else {
        return;
    };
    let Some(event) = shared.as_event() else {
        return;
    };
    for (namespace, f) in observers {
        if *namespace == event.namespace {
            f(event);
        }
    }
}

impl Queue {
    fn kill(&mut self) -> &mut Kill {
        self.kill.get_or_insert_with(Box::default)
    }
}

impl Mailbox {
    /// A new, empty queue for a connection speaking `format`.
    pub fn new(format: Format, limits: QueueLimits) -> (Arc<Self>, PeerQueue) {
        let mailbox = Arc::new(Self {
            format,
            in_flight: AtomicU32::new(0),
            queue: Mutex::new(Queue::default()),
            reader: AtomicWaker::new(),
            killed: AtomicBool::new(false),
            ticked: AtomicBool::new(false),
            limits: QueueLimits {
                messages: limits.messages.max(1),
                bytes: limits.bytes,
            },
        });
        let queue = PeerQueue {
            mailbox: mailbox.clone(),
        };
        (mailbox, queue)
    }

    /// The wire format the connection speaks.
    pub fn format(&self) -> Format {
        self.format
    }

    /// One more of this connection's messages is on its way through the publisher.
    pub(crate) fn hold(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// One of them is delivered (or failed).
    pub(crate) fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// True while any of this connection's messages are on their way through the
    /// publisher (its next ones wait behind them).
    pub fn holds(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
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
        let was_empty = {
            let mut queue = self.queue.lock();
            if queue.gone {
                return Err(Refused::Closed);
            }
            let len = queue.items.len();
            if len >= self.limits.messages || (len > 0 && queue.bytes + weight > self.limits.bytes)
            {
                return Err(Refused::Full);
            }
            if let Some(kill) = queue.kill.as_deref() {
                observe(&kill.observers, &item);
            }
            queue.items.push_back(item);
            queue.bytes += weight;
            len == 0
        };
        if was_empty {
            self.reader.wake();
        }
        Ok(())
    }

    /// Has `f` told of every event queued from now on for this connection's identity in
    /// `namespace` (socket.io's `onAnyOutgoing`); a multiplexed connection has one identity
    /// per namespace. `f` runs where the event is queued — on the publisher's path, under
    /// this queue's lock and perhaps a room's — so it must only hand the event on (to a
    /// channel), never call back into the hub.
    pub fn observe_outgoing(&self, namespace: Arc<str>, f: Observer) {
        self.queue.lock().kill().observers.push((namespace, f));
    }

    /// Bytes waiting on the queue.
    pub fn queued_bytes(&self) -> usize {
        self.queue.lock().bytes
    }

    /// Tells the connection to close now, ahead of anything still queued. The first reason
    /// given wins.
    pub fn close(&self, reason: CloseReason) {
        let (hook, closed) = {
            let mut queue = self.queue.lock();
            let kill = queue.kill();
            if kill.reason.is_some() {
                return;
            }
            kill.reason = Some(reason.clone());
            (kill.hook.take(), kill.closed.clone())
        };
        self.killed.store(true, Ordering::Release);
        self.reader.wake();
        if let Some(closed) = closed {
            closed.notify_waiters();
        }
        if let Some(hook) = hook {
            hook(&reason);
        }
    }

    /// Calls `hook` once when the mailbox is closed — at once if it already is. For an owner
    /// that must act on a close without a task waiting on [`Mailbox::closing`] for each
    /// connection (an Engine.IO session, whose transport may be a series of long-polls).
    ///
    /// The hook runs on the thread that closes the mailbox, which may hold locks of its own
    /// (a hub in the middle of a broadcast): it should only hand the news on (a channel, a
    /// spawn), never call back into the hub. A second hook replaces the first.
    pub fn on_close(&self, hook: impl FnOnce(&CloseReason) + Send + 'static) {
        let reason = {
            let mut queue = self.queue.lock();
            let kill = queue.kill();
            match &kill.reason {
                Some(reason) => reason.clone(),
                None => {
                    kill.hook = Some(Box::new(hook));
                    return;
                }
            }
        };
        hook(&reason);
    }

    /// Resolves once [`Mailbox::close`] has been called. The transport races its socket
    /// writes against this, so a client that stopped reading cannot hold its task in a write.
    pub async fn closing(&self) {
        let closed = {
            let mut queue = self.queue.lock();
            let kill = queue.kill();
            if kill.reason.is_some() {
                return;
            }
            kill.closed.get_or_insert_with(Default::default).clone()
        };
        loop {
            let notified = closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.killed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Hands the reading side a tick of a clock it is enrolled in — the transport's
    /// heartbeat: the reader is woken and sees the tick once ([`PeerQueue::ticked`]).
    /// Through the mailbox because its waker is kept current anyway, so one clock can
    /// serve every connection without each holding a timer. Returns `false` once the
    /// reading side is gone, so a clock drops a connection that ended without leaving it.
    pub fn tick(&self) -> bool {
        if self.queue.lock().gone {
            return false;
        }
        self.ticked.store(true, Ordering::Release);
        self.reader.wake();
        true
    }

    /// True once [`Mailbox::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Why the connection was told to close, if it was.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.queue.lock().kill.as_ref()?.reason.clone()
    }

    /// The next item, if one is queued.
    fn pop(&self) -> Option<Outbound> {
        let mut queue = self.queue.lock();
        let item = queue.items.pop_front()?;
        queue.bytes -= item.weight();
        if queue.items.is_empty() && queue.items.capacity() > IDLE_CAPACITY {
            queue.items.shrink_to(IDLE_CAPACITY);
        }
        Some(item)
    }
}

enum Refused {
    Full,
    Closed,
}

/// The receiving end of a connection's queue, owned by the transport task.
#[derive(Debug)]
pub struct PeerQueue {
    mailbox: Arc<Mailbox>,
}

impl PeerQueue {
    /// The next item to write. A [`Mailbox::close`] jumps the queue and arrives as
    /// [`Outbound::Close`]. Cancel-safe: nothing is lost if the future is dropped.
    ///
    /// Returns `None` never in practice (the queue lives as long as this reader); the
    /// `Option` lets a transport treat "no more items" uniformly.
    pub async fn next(&mut self) -> Option<Outbound> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// [`PeerQueue::next`] for a transport that polls by hand: the next item, or `Pending`
    /// with `cx` woken when one comes.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        if let Some(item) = self.ready() {
            return Poll::Ready(Some(item));
        }
        self.mailbox.reader.register(cx.waker());
        // Checked again after registering: a push or close in between woke nobody.
        match self.ready() {
            Some(item) => Poll::Ready(Some(item)),
            None => Poll::Pending,
        }
    }

    /// A close if one was asked for, else the next queued item.
    fn ready(&self) -> Option<Outbound> {
        if self.mailbox.killed.load(Ordering::Acquire) {
            if let Some(reason) = self.mailbox.close_reason() {
                return Some(Outbound::Close(reason));
            }
        }
        self.mailbox.pop()
    }

    /// The next item if one is ready now, for batching writes. Never returns a close that
    /// [`PeerQueue::next`] would have put first.
    pub fn try_next(&mut self) -> Option<Outbound> {
        if self.mailbox.killed.load(Ordering::Acquire) {
            return None;
        }
        self.mailbox.pop()
    }

    /// Whether a [`Mailbox::tick`] came since the last call. Seen at most once per tick;
    /// ticks that come before it is asked are seen as one. A reader that returned
    /// `Pending` from [`PeerQueue::poll_next`] is woken by the next tick.
    pub fn ticked(&self) -> bool {
        self.mailbox.ticked.load(Ordering::Acquire)
            && self.mailbox.ticked.swap(false, Ordering::AcqRel)
    }

    /// The mailbox this queue belongs to.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }
}

impl Drop for PeerQueue {
    /// The connection is over: later pushes are refused, and what is queued is freed now
    /// rather than when the last sender lets go of the mailbox.
    fn drop(&mut self) {
        let items = {
            let mut queue = self.mailbox.queue.lock();
            queue.gone = true;
            queue.bytes = 0;
            std::mem::take(&mut queue.items)
        };
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn a_close_hook_runs_once_with_the_first_reason_or_at_once_if_already_closed() {
        let (mailbox, _queue) = Mailbox::new(test_format(), QueueLimits::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let heard = Arc::new(Mutex::new(None));
        {
            let (calls, heard) = (calls.clone(), heard.clone());
            mailbox.on_close(move |reason| {
                calls.fetch_add(1, Ordering::SeqCst);
                *heard.lock() = Some(reason.clone());
            });
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0, "not before the close");
        mailbox.close(CloseReason::new(1008, "first"));
        mailbox.close(CloseReason::new(1000, "second"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(*heard.lock(), Some(CloseReason::new(1008, "first")));

        let late = Arc::new(Mutex::new(None));
        let sink = late.clone();
        mailbox.on_close(move |reason| *sink.lock() = Some(reason.code));
        assert_eq!(
            *late.lock(),
            Some(1008),
            "a hook set after the close runs at once"
        );
    }

    /// Every connection holds a mailbox for its whole life: with `Arc`'s two counts it
    /// must stay within a 128-byte allocation (it was 192 before the close state was boxed).
    fn test_format() -> Format {
        crate::format::tests::plain()
    }

    #[test]
    fn a_mailbox_fits_a_128_byte_allocation() {
        let size = std::mem::size_of::<Mailbox>();
        assert!(size + 16 <= 128, "{size} bytes");
    }

    #[tokio::test]
    async fn closing_resolves_for_a_waiter_that_came_before_or_after_the_close() {
        let (mailbox, _queue) = Mailbox::new(test_format(), QueueLimits::default());
        let waiter = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.closing().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        mailbox.close(CloseReason::new(1000, "bye"));
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the close reached the waiter")
            .expect("no panic");
        tokio::time::timeout(std::time::Duration::from_secs(5), mailbox.closing())
            .await
            .expect("already closed: at once");
        assert_eq!(mailbox.close_reason(), Some(CloseReason::new(1000, "bye")));
    }

    #[test]
    fn a_tick_is_seen_once_and_not_after_the_reader_is_gone() {
        let (mailbox, queue) = Mailbox::new(test_format(), QueueLimits::default());
        assert!(!queue.ticked());
        assert!(mailbox.tick());
        assert!(mailbox.tick());
        assert!(queue.ticked(), "two ticks before a look are seen as one");
        assert!(!queue.ticked());
        drop(queue);
        assert!(!mailbox.tick(), "nobody reads: the clock lets go");
    }
}

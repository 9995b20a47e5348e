//! One Engine.IO session: the part that outlives any one HTTP request or WebSocket.
//!
//! A session owns the connection's [`Mailbox`] (where the layer above and the heartbeat
//! queue packets) and, while no transport is draining it, the receiving end of that queue.
//! A long-poll GET borrows the queue for the length of the request ([`QueueLease`]); after
//! an upgrade the WebSocket task takes it for good. Packets from the client — in POST bodies
//! or WebSocket frames — all go through [`EngineSession::on_packet`].
//!
//! A session ends exactly once, in [`EngineSession::finish`]: when its mailbox is closed
//! (by the layer above, a failed heartbeat, a protocol error, a slow consumer), when the
//! client sends a close packet, or when its WebSocket drops. The engine's heartbeat task
//! hears of every close of the mailbox ([`super::heartbeat`]), so whatever closes it, the
//! session is taken out of the table and the layer above hears about it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chorus_core::{Mailbox, Outbound, PeerQueue};
use chorus_proto::engineio::{self, Packet};
use chorus_proto::WsMessage;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::wire::{close, Closed, Session};

/// Where a session is listed (its engine's table), as the session sees it.
pub(crate) trait Listing: Send + Sync {
    /// Takes session `sid` out of the table.
    fn unlist(&self, sid: &str);
    /// How long a ping may go unanswered.
    fn ping_timeout(&self) -> Duration;
}

/// Which transport carries the session now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// Long-polling, while a WebSocket is probing to take over.
    Upgrading,
    /// WebSocket (from the start, or after an upgrade).
    WebSocket,
}

/// Why a packet cannot be accepted: the session is closed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Fatal(pub(crate) &'static str);

pub(crate) struct EngineSession {
    pub(crate) sid: Arc<str>,
    engine: Weak<dyn Listing>,
    pub(crate) mailbox: Arc<Mailbox>,
    queue: Mutex<Option<PeerQueue>>,
    /// A close a long-poll dequeued behind data: it ends the *next* poll, so the client
    /// handles the data (a DISCONNECT packet, say) before it sees the transport close.
    held: Mutex<Option<Outbound>>,
    queue_returned: Notify,
    /// An upgrade's probe came: the long-poll in progress (or the next one) is answered
    /// with a noop at once, so the client can send `5`. The noop goes to the polling
    /// transport only, never into the queue the WebSocket takes over.
    upgrading: AtomicBool,
    poll_released: Notify,
    transport: Mutex<TransportKind>,
    upper: Mutex<Option<Box<dyn Session>>>,
    /// When the unanswered ping was sent, if one is.
    ping_sent: Mutex<Option<tokio::time::Instant>>,
    closed_by_client: AtomicBool,
    finished: AtomicBool,
}

impl EngineSession {
    pub(crate) fn new(
        sid: Arc<str>,
        engine: Weak<dyn Listing>,
        mailbox: Arc<Mailbox>,
        queue: Option<PeerQueue>,
        transport: TransportKind,
    ) -> Arc<Self> {
        Arc::new(Self {
            sid,
            engine,
            mailbox,
            queue: Mutex::new(queue),
            held: Mutex::new(None),
            queue_returned: Notify::new(),
            upgrading: AtomicBool::new(false),
            poll_released: Notify::new(),
            transport: Mutex::new(transport),
            upper: Mutex::new(None),
            ping_sent: Mutex::new(None),
            closed_by_client: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        })
    }

    /// Installs the layer above (Socket.IO, or a raw message endpoint).
    pub(crate) fn set_upper(&self, upper: Box<dyn Session>) {
        *self.upper.lock() = Some(upper);
    }

    pub(crate) fn transport(&self) -> TransportKind {
        *self.transport.lock()
    }

    pub(crate) fn set_transport(&self, kind: TransportKind) {
        *self.transport.lock() = kind;
    }

    /// Moves from polling to upgrading; false if the session is not polling.
    pub(crate) fn begin_upgrade(&self) -> bool {
        let mut transport = self.transport.lock();
        if *transport == TransportKind::Polling {
            *transport = TransportKind::Upgrading;
            true
        } else {
            false
        }
    }

    /// True if the client ended the session with a close packet.
    pub(crate) fn closed_by_client(&self) -> bool {
        self.closed_by_client.load(Ordering::Acquire)
    }

    /// Borrows the outbound queue for one long-poll; `None` if another request (or the
    /// WebSocket) has it.
    pub(crate) fn lease(self: &Arc<Self>) -> Option<QueueLease> {
        let queue = self.queue.lock().take()?;
        Some(QueueLease {
            session: self.clone(),
            queue: Some(queue),
        })
    }

    /// Takes the outbound queue for good (the WebSocket after an upgrade), waiting for a
    /// long-poll in progress to give it back.
    pub(crate) async fn take_queue(&self) -> PeerQueue {
        loop {
            let returned = self.queue_returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(queue) = self.queue.lock().take() {
                return queue;
            }
            returned.await;
        }
    }

    /// The upgrade's probe came: releases the long-poll in progress, and any that comes
    /// before the upgrade completes, with a noop.
    pub(crate) fn release_polls(&self) {
        self.upgrading.store(true, Ordering::Release);
        self.poll_released.notify_waiters();
    }

    /// The upgrade failed: long-polls wait for data again.
    pub(crate) fn upgrade_failed(&self) {
        self.upgrading.store(false, Ordering::Release);
    }

    /// Waits until [`EngineSession::release_polls`]; at once if it was called.
    pub(crate) async fn poll_released(&self) {
        let released = self.poll_released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        if self.upgrading.load(Ordering::Acquire) {
            return;
        }
        released.await;
    }

    /// A close the last long-poll held back, if any.
    pub(crate) fn take_held(&self) -> Option<Outbound> {
        self.held.lock().take()
    }

    /// Handles one packet from the client, whichever transport brought it.
    pub(crate) fn on_packet(&self, packet: Packet) -> Result<(), Fatal> {
        match packet {
            Packet::Message(msg) => {
                if let Some(upper) = self.upper.lock().as_mut() {
                    upper.on_message(msg);
                }
                Ok(())
            }
            Packet::Pong(_) => {
                *self.ping_sent.lock() = None;
                Ok(())
            }
            Packet::Ping(data) => {
                self.mailbox.push(Outbound::Message(engineio::pong(&data)));
                Ok(())
            }
            Packet::Close => {
                self.closed_by_client.store(true, Ordering::Release);
                self.mailbox.close(close::normal("transport close"));
                Ok(())
            }
            Packet::Noop => Ok(()),
            Packet::Open | Packet::Upgrade => Err(Fatal("unexpected packet")),
        }
    }

    /// A ping (due at `due`) is on its way: the client owes a pong.
    pub(crate) fn ping_sent(&self, due: tokio::time::Instant) {
        *self.ping_sent.lock() = Some(due);
    }

    /// True if the ping sent at `sent` has not been answered.
    pub(crate) fn awaiting_pong(&self, sent: tokio::time::Instant) -> bool {
        *self.ping_sent.lock() == Some(sent)
    }

    /// True if a ping has gone unanswered for `timeout`: the session is dead even if the
    /// heartbeat task has not woken up to say so yet. Requests check this, so a client
    /// never gets through on a session past its deadline.
    pub(crate) fn expired(&self, timeout: Duration) -> bool {
        self.ping_sent
            .lock()
            .is_some_and(|sent| sent.elapsed() >= timeout)
    }

    /// Ends the session: out of the table, the mailbox closed, the layer above told.
    /// Only the first call does anything.
    ///
    /// One exception to "out of the table": a client that closes its long-polling session
    /// while no long-poll is waiting is owed a noop by the poll that may be on its way (the
    /// reference server answers it so); the session stays listed, closed, until that poll
    /// collects it or `ping_timeout` passes.
    pub(crate) fn finish(self: &Arc<Self>, closed: &Closed) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        let poll_owed = self.closed_by_client()
            && self.transport() != TransportKind::WebSocket
            && self.queue.lock().is_some();
        if let Some(engine) = self.engine.upgrade() {
            if poll_owed {
                let grace = engine.ping_timeout();
                let session = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    session.unlist();
                });
            } else {
                engine.unlist(&self.sid);
            }
        }
        self.mailbox.close(close::normal(&closed.reason));
        let upper = self.upper.lock().take();
        if let Some(mut upper) = upper {
            upper.on_close(closed);
        }
    }

    /// Takes the session out of its engine's table.
    pub(crate) fn unlist(&self) {
        if let Some(engine) = self.engine.upgrade() {
            engine.unlist(&self.sid);
        }
    }

    /// True once [`EngineSession::finish`] has run.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// How the session ended, from the reason its mailbox was closed with.
    pub(crate) fn closed_from_mailbox(&self) -> Closed {
        let reason = self
            .mailbox
            .close_reason()
            .map_or_else(|| "transport close".to_owned(), |r| r.reason.to_string());
        Closed {
            code: None,
            by_server: !self.closed_by_client(),
            reason,
            error: None,
        }
    }
}

/// A long-poll's hold on the session's queue; gives it back when dropped (also when the
/// client goes away mid-request, so the queue is never lost with the request).
pub(crate) struct QueueLease {
    session: Arc<EngineSession>,
    queue: Option<PeerQueue>,
}

impl QueueLease {
    /// The next item: one held back by the previous poll, or the queue's next.
    pub(crate) async fn next(&mut self) -> Option<Outbound> {
        if let Some(item) = self.session.held.lock().take() {
            return Some(item);
        }
        self.queue.as_mut().expect("held until drop").next().await
    }

    /// The next item if one is ready now.
    pub(crate) fn try_next(&mut self) -> Option<Outbound> {
        self.queue.as_mut().expect("held until drop").try_next()
    }

    /// Keeps `item` for the next poll.
    pub(crate) fn hold(&mut self, item: Outbound) {
        *self.session.held.lock() = Some(item);
    }
}

impl Drop for QueueLease {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.take() {
            *self.session.queue.lock() = Some(queue);
            self.session.queue_returned.notify_waiters();
        }
    }
}

/// The WebSocket transport of a session: frames are Engine.IO packets.
pub(crate) struct WsCarrier {
    pub(crate) session: Arc<EngineSession>,
}

impl Session for WsCarrier {
    fn on_message(&mut self, msg: WsMessage) {
        let result = Packet::from_ws(msg)
            .map_err(|_| Fatal("parse error"))
            .and_then(|packet| self.session.on_packet(packet));
        if let Err(Fatal(reason)) = result {
            self.session.mailbox.close(close::protocol_error(reason));
        }
    }

    fn on_close(&mut self, closed: &Closed) {
        let closed = if self.session.mailbox.is_closing() {
            self.session.closed_from_mailbox()
        } else if closed.by_server && !closed.reason.is_empty() {
            closed.clone()
        } else {
            Closed {
                reason: if closed.error.is_some() {
                    "transport error"
                } else {
                    "transport close"
                }
                .to_owned(),
                ..closed.clone()
            }
        };
        self.session.finish(&closed);
    }
}

impl EngineSession {
    /// Gives the session its queue (a polling session, at creation).
    pub(crate) fn put_queue(&self, queue: PeerQueue) {
        *self.queue.lock() = Some(queue);
        self.queue_returned.notify_waiters();
    }
}

//! One connection as the hub sees it.
//!
//! A [`Peer`] is shared (`Arc`) by the namespace, every room it is in, and the transport
//! task that owns the socket. Fan-out calls [`Peer::push`], which never waits: the queue is
//! bounded, and a peer whose queue is full is a slow consumer. It is told to close (the
//! policy for non-volatile messages: never drop silently, never slow the publisher), and the
//! transport closes it with 1008 once it has written what was already queued.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;

use crate::{CloseReason, ConnId, Mailbox, Outbound, WireFormat};

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
    mailbox: Arc<Mailbox>,
    meta: RwLock<Meta>,
    rooms: Mutex<HashSet<Arc<str>>>,
}

impl Peer {
    pub(crate) fn new(id: ConnId, mailbox: Arc<Mailbox>, name: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            id,
            mailbox,
            meta: RwLock::new(Meta { name, data: None }),
            rooms: Mutex::new(HashSet::new()),
        })
    }

    /// The connection id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The wire format this connection speaks.
    pub fn format(&self) -> WireFormat {
        self.mailbox.format()
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

    /// The queue this connection's messages go to (shared with the other identities of a
    /// multiplexed transport).
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// Queues an item without waiting; see [`Mailbox::push`].
    pub fn push(&self, item: Outbound) -> bool {
        self.mailbox.push(item)
    }

    /// Queues a volatile item: dropped (not a disconnect) if the queue is full.
    pub fn push_volatile(&self, item: Outbound) -> bool {
        self.mailbox.push_volatile(item)
    }

    /// [`Peer::push_volatile`] or [`Peer::push`], as `volatile` says.
    pub fn push_with(&self, item: Outbound, volatile: bool) -> bool {
        self.mailbox.push_with(item, volatile)
    }

    /// Bytes waiting on the outbound queue.
    pub fn queued_bytes(&self) -> usize {
        self.mailbox.queued_bytes()
    }

    /// Tells the connection to close now, ahead of anything still queued.
    pub fn close(&self, reason: CloseReason) {
        self.mailbox.close(reason);
    }

    /// Resolves once [`Peer::close`] has been called.
    pub async fn closing(&self) {
        self.mailbox.closing().await;
    }

    /// True once [`Peer::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.mailbox.is_closing()
    }
}

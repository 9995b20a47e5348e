//! [`Link`]: the namespaces one Socket.IO connection has joined (or is joining), shared by
//! the connection and its sockets (a socket that disconnects itself takes its entry out).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use chorus_core::ConnId;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::events::Socket;

/// Set once a namespace was joined on the connection.
const JOINED_ONCE: u8 = 1;
/// Set (under the lock) once the connection is over: no socket may join it any more.
const CLOSED: u8 = 2;

/// One connection's namespaces. Kept small: every idle Socket.IO connection has one.
#[derive(Debug, Default)]
pub(crate) struct Link {
    /// Each namespace's socket; `None` while its CONNECT is being answered (a recovery
    /// reads the store first), so that a second CONNECT for it is ignored, as for a
    /// namespace already joined.
    sockets: Mutex<HashMap<Arc<str>, Option<Socket>>>,
    flags: AtomicU8,
    /// Told once, at the first join: the connect timeout's task ends then rather than
    /// keeping its timer for the rest of `connect_timeout`.
    joined: Notify,
}

impl Link {
    pub(crate) fn get(&self, nsp: &str) -> Option<Socket> {
        self.sockets.lock().get(nsp).and_then(Option::clone)
    }

    /// Starts answering a CONNECT to `nsp`; false if the connection is in it already, on
    /// its way in, or closed.
    pub(crate) fn begin(&self, nsp: &Arc<str>) -> bool {
        let mut sockets = self.sockets.lock();
        if self.is(CLOSED) || sockets.contains_key(nsp) {
            return false;
        }
        sockets.insert(nsp.clone(), None);
        true
    }

    /// A CONNECT to `nsp` was refused: it may be tried again.
    pub(crate) fn abandon(&self, nsp: &str) {
        let mut sockets = self.sockets.lock();
        if sockets.get(nsp).is_some_and(Option::is_none) {
            sockets.remove(nsp);
        }
    }

    /// The socket of a CONNECT to `nsp` is open; false if the connection closed meanwhile
    /// (the caller closes the socket: nobody else will).
    pub(crate) fn insert(&self, nsp: Arc<str>, socket: Socket) -> bool {
        {
            let mut sockets = self.sockets.lock();
            if self.is(CLOSED) {
                sockets.remove(&nsp);
                return false;
            }
            sockets.insert(nsp, Some(socket));
        }
        if self.flags.fetch_or(JOINED_ONCE, Ordering::AcqRel) & JOINED_ONCE == 0 {
            // A permit if the task is not waiting yet: it is never missed.
            self.joined.notify_one();
        }
        true
    }

    /// Resolves once any namespace was joined on this connection.
    pub(crate) async fn joined(&self) {
        if !self.joined_once() {
            self.joined.notified().await;
        }
    }

    /// Takes the socket `id` out of `nsp`; returns how many namespaces are left (joined
    /// or being joined: a connection on its way into one is not over).
    pub(crate) fn remove(&self, nsp: &str, id: ConnId) -> usize {
        let mut sockets = self.sockets.lock();
        if sockets
            .get(nsp)
            .is_some_and(|s| s.as_ref().is_some_and(|s| s.id() == id))
        {
            sockets.remove(nsp);
        }
        sockets.len()
    }

    pub(crate) fn take(&self, nsp: &str) -> Option<Socket> {
        let mut sockets = self.sockets.lock();
        match sockets.get(nsp) {
            Some(Some(_)) => sockets.remove(nsp).flatten(),
            _ => None,
        }
    }

    /// The connection is over: its sockets, and no more.
    pub(crate) fn drain(&self) -> Vec<Socket> {
        let mut sockets = self.sockets.lock();
        self.flags.fetch_or(CLOSED, Ordering::AcqRel);
        sockets.drain().filter_map(|(_, s)| s).collect()
    }

    /// True once any namespace was joined on this connection.
    pub(crate) fn joined_once(&self) -> bool {
        self.is(JOINED_ONCE)
    }

    fn is(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }
}

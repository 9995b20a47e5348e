//! [`Link`]: the namespaces one Socket.IO connection has joined (or is joining), shared by
//! the connection and its sockets (a socket that disconnects itself takes its entry out).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chorus_core::ConnId;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::events::Socket;

/// One connection's namespaces.
#[derive(Debug, Default)]
pub(crate) struct Link {
    state: Mutex<State>,
    joined_once: AtomicBool,
    /// Told once, at the first join: the connect timeout's task ends then rather than
    /// keeping its timer for the rest of `connect_timeout`.
    joined: Notify,
}

#[derive(Debug, Default)]
struct State {
    sockets: HashMap<Arc<str>, Socket>,
    /// Namespaces whose CONNECT is being answered (a recovery reads the store first): a
    /// second CONNECT for one of them is ignored, as for a namespace already joined.
    connecting: Vec<Arc<str>>,
    /// The connection is over: no socket may join it any more.
    closed: bool,
}

impl Link {
    pub(crate) fn get(&self, nsp: &str) -> Option<Socket> {
        self.state.lock().sockets.get(nsp).cloned()
    }

    /// Starts answering a CONNECT to `nsp`; false if the connection is in it already, on
    /// its way in, or closed.
    pub(crate) fn begin(&self, nsp: &Arc<str>) -> bool {
        let mut state = self.state.lock();
        if state.closed || state.sockets.contains_key(nsp) || state.connecting.contains(nsp) {
            return false;
        }
        state.connecting.push(nsp.clone());
        true
    }

    /// A CONNECT to `nsp` was refused: it may be tried again.
    pub(crate) fn abandon(&self, nsp: &str) {
        self.state.lock().connecting.retain(|n| &**n != nsp);
    }

    /// The socket of a CONNECT to `nsp` is open; false if the connection closed meanwhile
    /// (the caller closes the socket: nobody else will).
    pub(crate) fn insert(&self, nsp: Arc<str>, socket: Socket) -> bool {
        {
            let mut state = self.state.lock();
            state.connecting.retain(|n| **n != *nsp);
            if state.closed {
                return false;
            }
            state.sockets.insert(nsp, socket);
        }
        if !self.joined_once.swap(true, Ordering::AcqRel) {
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

    /// Takes the socket `id` out of `nsp`; returns how many namespaces are left.
    pub(crate) fn remove(&self, nsp: &str, id: ConnId) -> usize {
        let mut state = self.state.lock();
        if state.sockets.get(nsp).is_some_and(|s| s.id() == id) {
            state.sockets.remove(nsp);
        }
        state.sockets.len()
    }

    pub(crate) fn take(&self, nsp: &str) -> Option<Socket> {
        self.state.lock().sockets.remove(nsp)
    }

    /// The connection is over: its sockets, and no more.
    pub(crate) fn drain(&self) -> Vec<Socket> {
        let mut state = self.state.lock();
        state.closed = true;
        state.sockets.drain().map(|(_, s)| s).collect()
    }

    /// True once any namespace was joined on this connection.
    pub(crate) fn joined_once(&self) -> bool {
        self.joined_once.load(Ordering::Acquire)
    }
}

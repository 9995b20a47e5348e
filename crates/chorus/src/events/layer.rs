//! [`Layer`]: what the event layer does for a namespace's connections when an op asks —
//! this node's or another node's (`chorus_core::namespace::EventLayer`).

use std::sync::{Arc, Weak};

use chorus_core::namespace::EventLayer;
use chorus_core::ops::{AckBroadcast, Reply};
use chorus_core::Peer;

use super::socket::{IoInner, Socket};

/// The event layer of one namespace, as its core namespace reaches it.
pub(crate) struct Layer(pub(crate) Weak<IoInner>);

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Layer")
    }
}

impl Layer {
    /// The socket of this layer on `peer`, if there is one.
    fn socket(&self, peer: &Arc<Peer>) -> Option<(Arc<IoInner>, Socket)> {
        let inner = self.0.upgrade()?;
        let socket = inner.sockets.read().get(&peer.id()).cloned()?;
        Some((inner, socket))
    }
}

impl EventLayer for Layer {
    /// Broadcasts with acks, from this node or another, reach this layer's sockets.
    fn broadcast_with_ack(&self, broadcast: AckBroadcast, done: Box<dyn FnOnce(Reply) + Send>) {
        super::gather::gather_here(&self.0, broadcast, done);
    }

    /// A disconnect from another node (or the library's `disconnect_sockets`) is the
    /// socket's own: a Socket.IO client is told, and does not reconnect by itself.
    fn disconnect(&self, peer: &Arc<Peer>) -> bool {
        let Some((_, socket)) = self.socket(peer) else {
            return false;
        };
        socket.disconnect();
        true
    }

    /// Rooms an op changes (another node's `sockets_join`, the library's) are told to the
    /// watchers as the socket's own joins and leaves are.
    fn room_changed(&self, peer: &Arc<Peer>, room: &str, joined: bool) {
        let Some((inner, socket)) = self.socket(peer) else {
            return;
        };
        let watchers = inner.watchers.read().clone();
        for w in watchers {
            w.room(&socket, room, joined);
        }
    }
}

//! What a server does to sockets wherever they are — on this node or on another node of
//! its cluster — with socket.io's names: `fetch_sockets`, `sockets_join`, `sockets_leave`,
//! `disconnect_sockets`, and server-side events between the servers
//! (`server_side_emit`, `server_side_emit_with_ack`, `on_server_side`).
//!
//! Each runs on this node's sockets at once, and on a cluster is sent to every other live
//! node (`chorus_core::cluster::Ask`) and waits for their replies, at most the emitter's
//! timeout (5 s unless [`Emitter::timeout`] says otherwise): a node that does not answer in
//! time makes the call fail with [`ClusterError::Timeout`], saying how many did — as
//! socket.io's Redis adapter does. On one server alone there is nobody else to ask.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chorus_core::cluster::NodeId;
use chorus_core::ops::{Op, Reply, Selector, ServerHandler};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::emitter::Emitter;
use super::socket::Io;

/// How long a call waits for the other nodes unless told otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call on every node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Not every node answered in time.
    #[error("timeout reached: only {answered} of {expected} other nodes answered")]
    Timeout {
        /// Nodes that answered.
        answered: usize,
        /// Nodes asked.
        expected: usize,
    },
    /// The data could not be serialised to JSON.
    #[error("cannot serialise event data: {0}")]
    Json(#[from] serde_json::Error),
}

/// A socket as [`Emitter::fetch_sockets`] lists it, wherever it is.
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    /// Its id (a chorus connection's, or a Node socket.io server's socket's in a mixed
    /// cluster).
    pub id: Arc<str>,
    /// Its nickname.
    pub name: Arc<str>,
    /// Its user data.
    pub data: Option<Value>,
    /// The rooms it is in.
    pub rooms: Vec<Arc<str>>,
    /// The user behind it (its token's `sub`), if it has one.
    pub user: Option<Arc<str>>,
    /// The node that holds it; `None` for this one.
    pub node: Option<NodeId>,
}

impl Emitter {
    /// The sockets this emitter selects, on every node.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, ClusterError> {
        let mut out = Vec::new();
        for (node, reply) in self.everywhere(Op::Fetch(self.selector())).await? {
            if let Reply::Sockets(sockets) = reply {
                out.extend(sockets.into_iter().map(|s| RemoteSocket {
                    id: s.id,
                    name: s.name,
                    data: s.data.and_then(|d| serde_json::from_str(d.get()).ok()),
                    rooms: s.rooms,
                    user: s.user,
                    node,
                }));
            }
        }
        Ok(out)
    }

    /// Makes the sockets this emitter selects, on every node, join `room`. Returns how
    /// many joined.
    pub async fn sockets_join(&self, room: &str) -> Result<u64, ClusterError> {
        self.count(Op::Join(self.selector(), vec![Arc::from(room)]))
            .await
    }

    /// Makes the sockets this emitter selects, on every node, leave `room`. Returns how
    /// many left.
    pub async fn sockets_leave(&self, room: &str) -> Result<u64, ClusterError> {
        self.count(Op::Leave(self.selector(), vec![Arc::from(room)]))
            .await
    }

    /// Closes the connections of the sockets this emitter selects, on every node. Returns
    /// how many.
    pub async fn disconnect_sockets(&self) -> Result<u64, ClusterError> {
        self.count(Op::Disconnect(self.selector())).await
    }

    pub(crate) fn selector(&self) -> Selector {
        Selector {
            rooms: self.rooms().to_vec(),
            except_rooms: self.except_rooms().to_vec(),
            users: self.user().cloned().into_iter().collect(),
            conns: self.conn().into_iter().collect(),
        }
    }

    /// Runs `op` on this node and every other: the sum of what each did.
    pub(crate) async fn count(&self, op: Op) -> Result<u64, ClusterError> {
        Ok(self
            .everywhere(op)
            .await?
            .into_iter()
            .map(|(_, reply)| match reply {
                Reply::Done(n) => n,
                _ => 0,
            })
            .sum())
    }

    /// Every node's figures ([`Op::Stats`], JSON text), this node's first, and how many
    /// nodes did not answer in time (their figures are left out, not waited for).
    pub(crate) async fn stats(&self) -> (Vec<Bytes>, usize) {
        let ns = self.namespace();
        let mut out = Vec::new();
        if let Reply::Ack(Some(mine)) = here(ns, &Op::Stats).await {
            out.push(mine);
        }
        let Some(cluster) = ns.cluster() else {
            return (out, 0);
        };
        let mut ask = cluster.ask(ns.name(), Op::Stats);
        let expected = ask.expected();
        let _ = tokio::time::timeout(self.wait(), ask.answered()).await;
        let replies = ask.replies();
        let missing = expected.saturating_sub(replies.len());
        out.extend(replies.into_iter().filter_map(|(_, reply)| match reply {
            Reply::Ack(Some(figures)) => Some(figures),
            _ => None,
        }));
        (out, missing)
    }

    /// Runs `op` here, then on every other node; every node's reply (`None`: this one).
    async fn everywhere(&self, op: Op) -> Result<Vec<(Option<NodeId>, Reply)>, ClusterError> {
        let ns = self.namespace();
        let mut out = vec![(None, here(ns, &op).await)];
        let Some(cluster) = ns.cluster() else {
            return Ok(out);
        };
        let mut ask = cluster.ask(ns.name(), op);
        let expected = ask.expected();
        let _ = tokio::time::timeout(self.wait(), ask.answered()).await;
        let replies = ask.replies();
        if replies.len() < expected {
            return Err(ClusterError::Timeout {
                answered: replies.len(),
                expected,
            });
        }
        out.extend(replies.into_iter().map(|(node, reply)| (Some(node), reply)));
        Ok(out)
    }
}

/// Runs `op` on this node's sockets of `ns`: its reply.
pub(crate) async fn here(ns: &Arc<chorus_core::Namespace>, op: &Op) -> Reply {
    let (tx, rx) = tokio::sync::oneshot::channel();
    ns.run_then(
        op,
        Box::new(move |reply| {
            let _ = tx.send(reply);
        }),
    );
    rx.await.unwrap_or(Reply::Done(0))
}

impl Io {
    /// The sockets of the namespace, on every node.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, ClusterError> {
        self.all().fetch_sockets().await
    }

    /// Sends a server-side event to the other servers of the cluster (their
    /// [`Io::on_server_side`] handler); not to this one, and not to any client.
    pub fn server_side_emit(&self, event: &str, data: &impl Serialize) -> Result<(), ClusterError> {
        if let Some(cluster) = self.namespace().cluster() {
            let data = Bytes::from(serde_json::to_vec(data)?);
            let op = Op::Emit {
                event: Arc::from(event),
                data,
                ack: false,
            };
            cluster.broadcast_op(self.name(), op);
        }
        Ok(())
    }

    /// [`Io::server_side_emit`], waiting (at most 5 s) for every other
    /// server's answer: the answers, one per server whose handler gave one.
    pub async fn server_side_emit_with_ack(
        &self,
        event: &str,
        data: &impl Serialize,
    ) -> Result<Vec<Value>, ClusterError> {
        let data = Bytes::from(serde_json::to_vec(data)?);
        let op = Op::Emit {
            event: Arc::from(event),
            data,
            ack: true,
        };
        let Some(cluster) = self.namespace().cluster() else {
            return Ok(Vec::new());
        };
        let mut ask = cluster.ask(self.name(), op);
        let expected = ask.expected();
        let _ = tokio::time::timeout(DEFAULT_TIMEOUT, ask.answered()).await;
        let replies = ask.replies();
        if replies.len() < expected {
            return Err(ClusterError::Timeout {
                answered: replies.len(),
                expected,
            });
        }
        Ok(replies
            .into_iter()
            .filter_map(|(_, reply)| match reply {
                Reply::Ack(Some(answer)) => serde_json::from_slice(&answer).ok(),
                _ => None,
            })
            .collect())
    }

    /// Sets what this server does with the other servers' server-side events: `f` gets the
    /// event's name and data and may answer (what [`Io::server_side_emit_with_ack`] on the
    /// sender collects). It runs on the task that reads the broker: it must not block.
    pub fn on_server_side(&self, f: impl Fn(&str, Value) -> Option<Value> + Send + Sync + 'static) {
        self.namespace()
            .on_server_event(ServerHandler::new(move |event, data: &RawValue| {
                let data: Value = serde_json::from_str(data.get()).unwrap_or(Value::Null);
                let answer = f(event, data)?;
                serde_json::value::to_raw_value(&answer).ok()
            }));
    }
}

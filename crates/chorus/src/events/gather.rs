//! Broadcasts with acks: one event to many sockets, every socket's acknowledgement
//! gathered — socket.io's `io.timeout(5000).emitWithAck("poll", question)`, which answers
//! with every client's response, or fails when some did not answer in time.
//!
//! The event goes out as an [`Op::EmitWithAck`]: run on this node's sockets and, on a
//! cluster, on every other live node's. Each node sends it to its sockets the emitter
//! selects (every protocol that acknowledges: Socket.IO and native clients), waits for
//! their answers at most the emitter's timeout, then replies with how many sockets it
//! asked and what they answered. The sender merges the replies: complete when every socket
//! of every node answered.
//!
//! Each socket gets its own acknowledgement id, so the event is encoded once per socket,
//! not once per broadcast as a plain emit is: a broadcast with acks is a poll, not a feed.

use std::sync::{Arc, Weak};
use std::time::Duration;

use chorus_core::ops::{AckBroadcast, Op, Reply};
use chorus_core::EventData;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;

use super::data::Data;
use super::emitter::Emitter;
use super::everywhere::here;
use super::socket::{Io, IoInner};

/// How much longer than the emitter's timeout the sender waits for the other nodes'
/// replies: each node waits the timeout for its sockets, then its reply crosses the
/// broker.
const REPLY_GRACE: Duration = Duration::from_secs(1);

/// Why a broadcast with acks did not gather every answer.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// Some sockets (or whole nodes) did not answer within the timeout; what did answer
    /// is here, as socket.io's callback gets its error and the responses that came.
    #[error(
        "timeout reached: {} of {expected} sockets answered; {silent_nodes} other nodes did not reply",
        answers.len()
    )]
    Incomplete {
        /// The answers that came, in the order they came (this node's first).
        answers: Vec<Data>,
        /// The sockets the event was sent to, on the nodes that replied.
        expected: usize,
        /// Other nodes of the cluster that did not reply in time (their sockets are not
        /// counted in `expected`).
        silent_nodes: usize,
    },
    /// The data could not be serialised to JSON.
    #[error("cannot serialise event data: {0}")]
    Json(#[from] serde_json::Error),
}

impl Emitter {
    /// Sends a JSON event to every socket this emitter selects, on every node, and gathers
    /// each one's acknowledgement (socket.io's `io.timeout(d).emitWithAck`): every answer,
    /// in the order they came, once every socket answered — or [`GatherError::Incomplete`]
    /// with the answers that came within the timeout ([`Emitter::timeout`]; 5 s unless
    /// set). The other nodes' replies are waited for a second longer, the time they take
    /// to cross the broker.
    pub async fn emit_with_ack(
        self,
        event: &str,
        data: &impl Serialize,
    ) -> Result<Vec<Data>, GatherError> {
        let data = EventData::json(data)?;
        self.emit_args_with_ack(event, Data::new(data)).await
    }

    /// [`Emitter::emit_with_ack`] with event data as it is: several arguments, binary
    /// values among them (`Data::new(EventData::Args { .. })`), reach every node's sockets
    /// as they are — a Node socket.io server's in a mixed cluster too.
    pub async fn emit_args_with_ack(
        self,
        event: &str,
        data: Data,
    ) -> Result<Vec<Data>, GatherError> {
        let wait = self.wait();
        let op = Op::EmitWithAck {
            selector: self.selector(),
            except: self.except_id().map(|id| Arc::from(id.to_string())),
            event: Arc::from(event),
            data: data.into_inner(),
            wait_ms: crate::session::engineio::millis(wait),
        };
        let ns = self.namespace().clone();
        let there = async {
            let Some(cluster) = ns.cluster() else {
                return (Vec::new(), 0);
            };
            if cluster.is_cut_off() {
                // Nobody can be asked: the nodes known to be alive are silent.
                return (Vec::new(), cluster.nodes());
            }
            let mut ask = cluster.ask(ns.name(), op.clone());
            let nodes = ask.expected();
            let _ = tokio::time::timeout(wait + REPLY_GRACE, ask.answered()).await;
            (ask.replies(), nodes)
        };
        let (mine, (theirs, nodes)) = tokio::join!(here(&ns, &op), there);
        let silent_nodes = nodes.saturating_sub(theirs.len());
        let mut expected = 0;
        let mut answers = Vec::new();
        for reply in std::iter::once(mine).chain(theirs.into_iter().map(|(_, reply)| reply)) {
            if let Reply::Acks {
                expected: asked,
                answers: came,
            } = reply
            {
                expected += asked as usize;
                answers.extend(came.into_iter().map(Data::new));
            }
        }
        if silent_nodes > 0 || answers.len() < expected {
            return Err(GatherError::Incomplete {
                answers,
                expected,
                silent_nodes,
            });
        }
        Ok(answers)
    }
}

/// One node's part: sends a broadcast with acks to `io`'s sockets and gathers their
/// answers (the namespace's event layer, [`super::layer`], calls it).
pub(crate) fn gather_here(
    io: &Weak<IoInner>,
    broadcast: AckBroadcast,
    done: Box<dyn FnOnce(Reply) + Send>,
) {
    {
        let nothing = || Reply::Acks {
            expected: 0,
            answers: Vec::new(),
        };
        let Some(inner) = io.upgrade() else {
            return done(nothing());
        };
        let io = Io::from_inner(inner);
        let sockets: Vec<_> = broadcast
            .peers
            .iter()
            .filter_map(|peer| io.socket(peer.id()))
            .collect();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return done(nothing());
        };
        let data = broadcast.data;
        runtime.spawn(async move {
            let expected = sockets.len() as u64;
            let mut asked: FuturesUnordered<_> = sockets
                .iter()
                .map(|socket| {
                    let data = Data::new(data.clone());
                    socket.emit_args_with_ack(&broadcast.event, data, broadcast.wait)
                })
                .collect();
            let mut answers = Vec::new();
            while let Some(answer) = asked.next().await {
                if let Ok(answer) = answer {
                    answers.push(answer.into_inner());
                }
            }
            done(Reply::Acks { expected, answers });
        });
    }
}

impl Io {
    /// An emitter for every socket of the namespace whose calls on every node wait at most
    /// `wait` (socket.io's `io.timeout(ms)`): `io.timeout(d).emit_with_ack(...)`.
    pub fn timeout(&self, wait: Duration) -> Emitter {
        self.all().timeout(wait)
    }
}

//! [`RedisBroker`]: a cluster's envelopes over Redis pub/sub.
//!
//! Every node publishes on, and subscribes to, one channel (`chorus:cluster`). Redis hands
//! a channel's messages to every subscriber in the order it executed the `PUBLISH`es, and
//! a node publishes on one connection, in order: so every node sees one order, and its
//! own envelopes in the order it sent them — what [`chorus_core::cluster`] needs.
//!
//! Two connections per node:
//!
//! * the *writer* takes the node's envelopes from a queue and sends all that are waiting
//!   as one pipeline of `PUBLISH`es, then waits for their replies: one round trip per
//!   batch, however many messages it holds. A publish that fails is reported (the node
//!   delivers that message to its own connections only);
//! * the *reader* subscribes, tells the node the link is up, and hands it every message.
//!   When its connection ends the link is down until it has subscribed again.
//!
//! Both reconnect by themselves, waiting a little longer after each failure (up to a
//! second). The writer also reconnects whenever the reader has subscribed anew: a server
//! that restarted broke the writer's connection too, and the writer would otherwise learn
//! it only by losing the next batch.
//!
//! The broker first asks the server what it is: on a Redis Cluster it runs `sharded`
//! instead (sharded pub/sub, one cluster connection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use chorus_core::cluster::{Control, Envelope, NodeId, Signal};
use chorus_core::ops::{Op, Reply};
use chorus_core::{Broker, BrokerError, Inbox};
use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::error::ConnectError;
use crate::socketio_adapter;

mod sharded;

/// The channel of a cluster.
pub(crate) const CHANNEL: &str = "chorus:cluster";
/// Most envelopes one pipeline carries.
const MAX_BATCH: usize = 512;
/// The first wait before reconnecting, doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

type Outgoing = (u64, Bytes);

/// A Redis server as a cluster's broker.
pub struct RedisBroker {
    client: redis::Client,
    runtime: Handle,
    queue: mpsc::UnboundedSender<Outgoing>,
    pending: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
    /// How many times the reader has subscribed: a new one means a new server connection.
    subscriptions: Arc<AtomicU64>,
    /// Also speak `@socket.io/redis-adapter`'s format (see [`crate::socketio_adapter`]).
    socketio_adapter: bool,
    /// Subscribers of the adapter's request channel of each Socket.IO namespace (Node
    /// servers and chorus nodes speaking its format), refreshed every second.
    answering: Arc<parking_lot::Mutex<HashMap<String, usize>>>,
    /// This node's Socket.IO namespaces, whose requests it answers: the reader subscribes
    /// to each one's channels (told of new ones through `opened`).
    namespaces: Arc<parking_lot::Mutex<Vec<String>>>,
    opened: mpsc::UnboundedSender<String>,
    opened_rx: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field(
                "server",
                &self.client.get_connection_info().addr().to_string(),
            )
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// A broker on the Redis server at `url`; nothing is connected until the node starts
    /// it. Must be called inside a tokio runtime, where its connections will run.
    pub fn new(url: &str) -> Result<Arc<Self>, ConnectError> {
        Self::with_socketio_adapter(url, false)
    }

    /// [`RedisBroker::new`], also speaking `@socket.io/redis-adapter`'s format when
    /// `socketio_adapter`: Node socket.io servers on the same Redis are nodes of the cluster
    /// too (see [`crate::socketio_adapter`]).
    pub fn with_socketio_adapter(
        url: &str,
        socketio_adapter: bool,
    ) -> Result<Arc<Self>, ConnectError> {
        let client = redis::Client::open(url).map_err(|err| ConnectError::Url {
            url: url.to_owned(),
            why: err.to_string(),
        })?;
        let runtime = Handle::try_current().map_err(|_| ConnectError::NoRuntime)?;
        let (queue, pending) = mpsc::unbounded_channel();
        let (opened, opened_rx) = mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            client,
            runtime,
            queue,
            pending: parking_lot::Mutex::new(Some(pending)),
            subscriptions: Arc::new(AtomicU64::new(0)),
            socketio_adapter,
            answering: Arc::default(),
            namespaces: Arc::default(),
            opened,
            opened_rx: parking_lot::Mutex::new(Some(opened_rx)),
        }))
    }
}

impl Broker for RedisBroker {
    fn start(&self, inbox: Weak<dyn Inbox>, node: NodeId) {
        let Some(queue) = self.pending.lock().take() else {
            return;
        };
        let adapter = self.socketio_adapter.then(|| Adapter {
            uid: Arc::from(socketio_adapter::uid(node)),
            node,
            asked: Arc::default(),
            answers: Arc::default(),
            gathers: Arc::default(),
            inbox: inbox.clone(),
        });
        let namespaces = adapter.is_some().then(|| Namespaces {
            known: self.namespaces.clone(),
            opened: self.opened_rx.lock().take(),
        });
        self.runtime.spawn(run(Run {
            client: self.client.clone(),
            queue,
            inbox,
            node,
            subscriptions: self.subscriptions.clone(),
            adapter,
            namespaces,
            answering: self.answering.clone(),
        }));
    }

    fn publish(&self, seq: u64, envelope: Bytes) {
        // The writer only stops when the node is gone: nobody waits for this one then.
        let _ = self.queue.send((seq, envelope));
    }

    fn other_servers(&self, ns: &str) -> usize {
        if !self.socketio_adapter {
            return 0;
        }
        self.answering.lock().get(ns).copied().unwrap_or(0)
    }

    fn namespace_opened(&self, ns: &str) {
        if !self.socketio_adapter || !ns.starts_with('/') {
            return;
        }
        let mut known = self.namespaces.lock();
        if !known.iter().any(|n| n == ns) {
            known.push(ns.to_owned());
            let _ = self.opened.send(ns.to_owned());
        }
    }
}

/// What a started broker runs with.
struct Run {
    client: redis::Client,
    queue: mpsc::UnboundedReceiver<Outgoing>,
    inbox: Weak<dyn Inbox>,
    node: NodeId,
    subscriptions: Arc<AtomicU64>,
    adapter: Option<Adapter>,
    namespaces: Option<Namespaces>,
    answering: Arc<parking_lot::Mutex<HashMap<String, usize>>>,
}

/// Finds out what the server is (retrying until it answers), then runs the broker on it:
/// pub/sub on one server, sharded pub/sub on a Redis Cluster ([`sharded`]).
async fn run(mut run: Run) {
    let mut backoff = FIRST_BACKOFF;
    let server = loop {
        match Server::detect(&run.client).await {
            Ok(server) => break server,
            Err(err) => {
                // Nothing can be sent now: what waits is delivered on its own node only.
                if !fail_waiting(&mut run.queue, &run.inbox, &err) {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    match server {
        Server::Standalone => {
            if run.adapter.is_some() {
                tokio::spawn(count_answering(
                    run.client.clone(),
                    run.answering,
                    run.namespaces
                        .as_ref()
                        .map(|n| n.known.clone())
                        .unwrap_or_default(),
                    run.inbox.clone(),
                ));
            }
            tokio::spawn(write(
                run.client.clone(),
                run.queue,
                run.inbox.clone(),
                run.subscriptions.clone(),
                run.adapter.clone(),
            ));
            read(
                run.client,
                run.inbox,
                run.subscriptions,
                run.adapter,
                run.namespaces,
            )
            .await;
        }
        Server::Cluster { sharded: true } if run.adapter.is_none() => {
            let info = run.client.get_connection_info().clone();
            sharded::run(info, run.queue, run.inbox, run.node).await;
        }
        Server::Cluster { sharded } => {
            let why = if sharded {
                "on a Redis Cluster, Node socket.io servers use the sharded adapter's format, \
                 which chorus does not speak; run the mixed cluster on one Redis server"
            } else {
                "a Redis Cluster older than 7.0 has no sharded pub/sub; \
                 chorus needs Redis 7 or later for a cluster"
            };
            tracing::error!("redis broker: {why}; this node stays cut off from the others");
            let error = BrokerError(Arc::from(why));
            while let Some((seq, _)) = run.queue.recv().await {
                let Some(inbox) = run.inbox.upgrade() else {
                    return;
                };
                inbox.failed(seq, error.clone());
            }
        }
    }
}

/// What the broker's server is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// One server (perhaps with replicas): pub/sub.
    Standalone,
    /// A node of a Redis Cluster, which has sharded pub/sub if its version is 7 or later.
    Cluster { sharded: bool },
}

impl Server {
    /// Asks the server (`INFO server`: `redis_mode`, `redis_version`).
    async fn detect(client: &redis::Client) -> redis::RedisResult<Server> {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let info: redis::RedisResult<String> = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await;
        match info {
            Ok(info) => Ok(Server::from_info(&info)),
            // The server answered, and refused (`INFO` renamed away or denied by an ACL,
            // as managed services do): one server, as before chorus asked.
            Err(err) if matches!(err.kind(), redis::ErrorKind::Server(_)) => {
                tracing::info!(%err, "redis broker: INFO refused; taking the server for one server");
                Ok(Server::Standalone)
            }
            Err(err) => Err(err),
        }
    }

    fn from_info(info: &str) -> Server {
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        if field("redis_mode") != Some("cluster") {
            return Server::Standalone;
        }
        let major = field("redis_version")
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        Server::Cluster {
            sharded: major >= 7,
        }
    }
}

/// Fails every message waiting to be sent; false when the node is gone.
fn fail_waiting(
    queue: &mut mpsc::UnboundedReceiver<Outgoing>,
    inbox: &Weak<dyn Inbox>,
    err: &redis::RedisError,
) -> bool {
    let error = BrokerError(Arc::from(err.to_string()));
    while let Ok((seq, _)) = queue.try_recv() {
        let Some(inbox) = inbox.upgrade() else {
            return false;
        };
        inbox.failed(seq, error.clone());
    }
    inbox.strong_count() > 0
}

/// The namespaces whose requests a node answers, for the reader.
struct Namespaces {
    known: Arc<parking_lot::Mutex<Vec<String>>>,
    opened: Option<mpsc::UnboundedReceiver<String>>,
}

/// Keeps the count of the adapter's request channel's subscribers (`PUBSUB NUMSUB`): how
/// many servers answer a request, as the Node servers count them.
async fn count_answering(
    client: redis::Client,
    answering: Arc<parking_lot::Mutex<HashMap<String, usize>>>,
    namespaces: Arc<parking_lot::Mutex<Vec<String>>>,
    inbox: Weak<dyn Inbox>,
) {
    loop {
        if inbox.strong_count() == 0 {
            return;
        }
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            while inbox.strong_count() > 0 {
                let names = namespaces.lock().clone();
                let mut ok = true;
                for ns in names {
                    let counted: redis::RedisResult<(String, usize)> = redis::cmd("PUBSUB")
                        .arg("NUMSUB")
                        .arg(socketio_adapter::request_channel(&ns))
                        .query_async(&mut conn)
                        .await;
                    match counted {
                        Ok((_, n)) => {
                            answering.lock().insert(ns, n);
                        }
                        Err(_) => {
                            ok = false;
                            break;
                        }
                    }
                }
                if !ok {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The writer: the node's envelopes, pipelined.
async fn write(
    client: redis::Client,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    inbox: Weak<dyn Inbox>,
    subscriptions: Arc<AtomicU64>,
    adapter: Option<Adapter>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut batch: Vec<Outgoing> = Vec::new();
    loop {
        let connected_at = subscriptions.load(Ordering::Acquire);
        let mut conn = match client.get_multiplexed_async_connection().await {
            Ok(conn) => {
                backoff = FIRST_BACKOFF;
                conn
            }
            Err(err) => {
                // Nothing can be sent now: what waits is delivered on its own node only.
                if !fail_waiting(&mut queue, &inbox, &err) {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        loop {
            if batch.is_empty() && queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
            if subscriptions.load(Ordering::Acquire) != connected_at {
                // The reader found the server anew: this connection may be to the old one.
                break;
            }
            let mut pipe = redis::pipe();
            for (_, envelope) in &batch {
                let Some(adapter) = &adapter else {
                    pipe.cmd("PUBLISH").arg(CHANNEL).arg(&envelope[..]).ignore();
                    continue;
                };
                let (own, extra) = adapter.outgoing(envelope);
                if own {
                    pipe.cmd("PUBLISH").arg(CHANNEL).arg(&envelope[..]).ignore();
                }
                // The same message (or request, or this node's answer to one) for the Node
                // socket.io servers of the cluster.
                for (channel, message) in extra {
                    pipe.cmd("PUBLISH").arg(channel).arg(message).ignore();
                }
            }
            if let Err(err) = pipe.query_async::<()>(&mut conn).await {
                tracing::warn!(%err, "redis broker: publishing failed; reconnecting");
                let error = BrokerError(Arc::from(err.to_string()));
                let Some(inbox) = inbox.upgrade() else { return };
                for (seq, _) in batch.drain(..) {
                    inbox.failed(seq, error.clone());
                }
                break;
            }
            batch.clear();
        }
    }
}

/// The reader: the cluster's envelopes, and the link's state.
async fn read(
    client: redis::Client,
    inbox: Weak<dyn Inbox>,
    subscriptions: Arc<AtomicU64>,
    adapter: Option<Adapter>,
    mut namespaces: Option<Namespaces>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut reported = false;
    loop {
        let known = namespaces
            .as_ref()
            .map(|n| n.known.lock().clone())
            .unwrap_or_default();
        match subscribe(&client, adapter.is_some(), &known).await {
            Ok(pubsub) => {
                backoff = FIRST_BACKOFF;
                reported = false;
                subscriptions.fetch_add(1, Ordering::AcqRel);
                {
                    let Some(inbox) = inbox.upgrade() else { return };
                    inbox.link(true);
                }
                let (mut sink, mut messages) = pubsub.split();
                let mut opened = namespaces.as_mut().and_then(|n| n.opened.as_mut());
                loop {
                    let msg = tokio::select! {
                        msg = messages.next() => msg,
                        // A namespace opened since: answer its requests too.
                        Some(ns) = async { opened.as_mut()?.recv().await }, if opened.is_some() => {
                            let _ = sink.subscribe(socketio_adapter::request_channel(&ns)).await;
                            let _ = sink
                                .subscribe(socketio_adapter::response_channel_of(&ns))
                                .await;
                            continue;
                        }
                    };
                    let Some(msg) = msg else { break };
                    let Some(inbox) = inbox.upgrade() else { return };
                    if let Some(adapter) = &adapter {
                        if msg.get_channel_name() != CHANNEL {
                            // A Node socket.io server's broadcast, request or answer.
                            for bytes in adapter.translate(&msg) {
                                inbox.receive(bytes);
                            }
                            continue;
                        }
                    }
                    inbox.receive(Bytes::copy_from_slice(msg.get_payload_bytes()));
                }
                drop(messages);
                tracing::warn!("redis broker: subscription lost; reconnecting");
                let Some(inbox) = inbox.upgrade() else { return };
                inbox.link(false);
            }
            Err(err) => {
                if !reported {
                    tracing::warn!(%err, "redis broker: cannot subscribe; retrying");
                    reported = true;
                }
                if inbox.strong_count() == 0 {
                    return;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(
    client: &redis::Client,
    socketio_adapter: bool,
    namespaces: &[String],
) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    if socketio_adapter {
        pubsub.psubscribe(socketio_adapter::PATTERN).await?;
        // Exact, so that the Node servers count this node among those who answer.
        for ns in namespaces {
            pubsub
                .subscribe(socketio_adapter::request_channel(ns))
                .await?;
            pubsub
                .subscribe(socketio_adapter::response_channel_of(ns))
                .await?;
        }
    }
    Ok(pubsub)
}

/// How long after its wait this node's broadcast with acks still takes the Node servers'
/// answers: within the second the sender gives replies to cross the broker.
const GATHER_GRACE: Duration = Duration::from_millis(500);

/// Most Node servers' requests waiting for this node's answer; beyond it they are forgotten
/// (an answer that never came).
const MAX_ASKED: usize = 4096;

/// What a node speaking `@socket.io/redis-adapter`'s format keeps: its uid there, and the
/// Node servers' requests it owes an answer, by the number the cluster knows them by.
#[derive(Clone)]
struct Adapter {
    uid: Arc<str>,
    node: NodeId,
    asked: Arc<parking_lot::Mutex<(u64, HashMap<u64, socketio_adapter::Asked>)>>,
    /// Answers of Node servers received: each counts as another node's reply.
    answers: Arc<AtomicU64>,
    /// This node's broadcasts with acks, gathering the Node servers' answers.
    gathers: Arc<parking_lot::Mutex<HashMap<u64, Gather>>>,
    /// Where gathered answers go when a gather's time is up.
    inbox: Weak<dyn Inbox>,
}

/// The Node servers' answers to one of this node's broadcasts with acks. A Node server
/// says how many sockets it asked, then sends each answer, with nothing to tell which
/// server an answer is from: so replies (one per server, as the cluster counts them) go
/// out when every answer counted so far is in — the sums are what matter — and whatever
/// came goes out when the wait is over.
#[derive(Default)]
struct Gather {
    /// Each Node server's count, in the order they came.
    counts: Vec<u64>,
    /// Servers whose reply went out.
    replied: usize,
    /// Answers not yet in a reply.
    answers: Vec<chorus_core::EventData>,
    /// Answers received in all.
    received: u64,
}

impl Gather {
    /// The replies due: one per server counted and not yet replied for, the answers with
    /// the first — all of them when `all` (the wait is over), else only once every answer
    /// counted is in.
    fn due(&mut self, all: bool) -> Vec<Reply> {
        let counted: u64 = self.counts.iter().sum();
        if !all && self.received < counted {
            return Vec::new();
        }
        let mut replies = Vec::new();
        while self.replied < self.counts.len() {
            replies.push(Reply::Acks {
                expected: self.counts[self.replied],
                answers: std::mem::take(&mut self.answers),
            });
            self.replied += 1;
        }
        replies
    }
}

impl Adapter {
    /// A reply to this node's request `id` from a Node server, as the cluster's signal.
    fn reply(&self, id: u64, reply: Reply) -> Bytes {
        let n = self.answers.fetch_add(1, Ordering::Relaxed) + 1;
        Signal {
            origin: NodeId(socketio_adapter::FOREIGN.0 ^ n),
            control: Control::Reply {
                id,
                to: self.node,
                reply,
            },
        }
        .encode()
    }

    /// A message of the adapter's format as the cluster's own: a broadcast as an envelope,
    /// a request as a signal from [`socketio_adapter::FOREIGN`], answers as replies.
    fn translate(&self, msg: &redis::Msg) -> Vec<Bytes> {
        let channel = msg.get_channel_name();
        let bytes = msg.get_payload_bytes();
        if channel.starts_with("socket.io-response#") {
            if let Some((id, part)) = socketio_adapter::decode_gathered(bytes, &self.uid) {
                let mut gathers = self.gathers.lock();
                let Some(gather) = gathers.get_mut(&id) else {
                    return Vec::new();
                };
                match part {
                    socketio_adapter::Gathered::Count(n) => gather.counts.push(n),
                    socketio_adapter::Gathered::Answer(data) => {
                        gather.received += 1;
                        gather.answers.push(data);
                    }
                }
                let due = gather.due(false);
                drop(gathers);
                return due.into_iter().map(|reply| self.reply(id, reply)).collect();
            }
        }
        self.translate_one(channel, bytes).into_iter().collect()
    }

    fn translate_one(&self, channel: &str, bytes: &[u8]) -> Option<Bytes> {
        if let Some(envelope) = socketio_adapter::decode(channel, bytes, &self.uid) {
            return Some(envelope.encode());
        }
        if channel.starts_with("socket.io-response#") {
            let (id, reply) = socketio_adapter::decode_response(bytes, &self.uid)?;
            return Some(self.reply(id, reply));
        }
        let (op, asked) = socketio_adapter::decode_request(channel, bytes, &self.uid)?;
        let id = match asked {
            Some(asked) => {
                let mut table = self.asked.lock();
                if table.1.len() >= MAX_ASKED {
                    table.1.clear();
                }
                table.0 += 1;
                let id = table.0;
                table.1.insert(id, asked);
                id
            }
            None => 0,
        };
        let ns = channel
            .strip_prefix(socketio_adapter::KEY)
            .and_then(|c| c.strip_prefix("-request#"))
            .and_then(|c| c.strip_suffix('#'))
            .unwrap_or("/");
        let signal = Signal {
            origin: socketio_adapter::FOREIGN,
            control: Control::Request {
                id,
                ns: Arc::from(ns),
                op,
            },
        };
        Some(signal.encode())
    }

    /// Starts gathering the Node servers' answers to this node's broadcast with acks `id`;
    /// when `wait` is over, what came is replied and the gather forgotten.
    fn gather(&self, id: u64, wait: Duration) {
        self.gathers.lock().insert(id, Gather::default());
        let adapter = self.clone();
        tokio::spawn(async move {
            // Until the sender stops waiting (its wait, and the grace it gives replies).
            tokio::time::sleep(wait + GATHER_GRACE).await;
            let Some(mut gather) = adapter.gathers.lock().remove(&id) else {
                return;
            };
            let Some(inbox) = adapter.inbox.upgrade() else {
                return;
            };
            for reply in gather.due(true) {
                inbox.receive(adapter.reply(id, reply));
            }
        });
    }

    /// What this node publishes, for the adapter's side too: whether it goes on the
    /// cluster's channel, and its form for the Node servers — an event in their broadcast
    /// format, this node's request in their request format, or (alone) this node's answer
    /// to one of theirs. Read once, by its first byte; notices and markers pass as they are.
    fn outgoing(&self, bytes: &Bytes) -> (bool, Vec<(String, Vec<u8>)>) {
        if Envelope::peek(bytes).is_some() {
            let translated = Envelope::decode(bytes.clone())
                .ok()
                .and_then(|e| socketio_adapter::encode(&e, &self.uid));
            return (true, translated.into_iter().collect());
        }
        if !Signal::is_signal(bytes) {
            return (true, Vec::new());
        }
        match Signal::decode(bytes.clone()) {
            Ok(Signal {
                control: Control::Reply { id, to, reply },
                ..
            }) if to == socketio_adapter::FOREIGN => {
                let asked = self.asked.lock().1.remove(&id);
                let answers = asked
                    .map(|a| socketio_adapter::encode_responses(&a, &reply))
                    .unwrap_or_default();
                (false, answers)
            }
            Ok(Signal {
                origin,
                control: Control::Request { id, ns, op },
            }) if origin == self.node && ns.starts_with('/') => {
                if let Op::EmitWithAck { wait_ms, .. } = &op {
                    self.gather(id, Duration::from_millis(*wait_ms));
                }
                (
                    true,
                    socketio_adapter::encode_request(&ns, id, &op, &self.uid)
                        .into_iter()
                        .collect(),
                )
            }
            _ => (true, Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Gather, Reply, Server};

    fn totals(replies: &[Reply]) -> (u64, usize) {
        replies.iter().fold((0, 0), |(e, a), reply| match reply {
            Reply::Acks { expected, answers } => (e + expected, a + answers.len()),
            _ => (e, a),
        })
    }

    #[test]
    fn node_servers_answers_are_replied_once_every_counted_one_is_in() {
        let json = || chorus_core::EventData::null();
        let mut gather = Gather::default();
        // Server one asked 2 sockets; one answer in: nothing yet.
        gather.counts.push(2);
        gather.received += 1;
        gather.answers.push(json());
        assert!(gather.due(false).is_empty());
        // Server two asked none; server one's second answer: both servers' replies.
        gather.counts.push(0);
        gather.received += 1;
        gather.answers.push(json());
        let due = gather.due(false);
        assert_eq!(due.len(), 2);
        assert_eq!(totals(&due), (2, 2));
        // A third server asked 1 and never answers: when the wait is over, its reply goes
        // out with nothing in it, and nothing is replied twice.
        gather.counts.push(1);
        assert!(gather.due(false).is_empty());
        let last = gather.due(true);
        assert_eq!(totals(&last), (1, 0));
        assert!(gather.due(true).is_empty());
    }

    #[test]
    fn the_server_kind_is_read_from_info() {
        let standalone = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(Server::from_info(standalone), Server::Standalone);
        let cluster = "# Server\r\nredis_version:7.2.4\r\nredis_mode:cluster\r\n";
        assert_eq!(
            Server::from_info(cluster),
            Server::Cluster { sharded: true }
        );
        let old = "# Server\r\nredis_version:6.2.14\r\nredis_mode:cluster\r\n";
        assert_eq!(Server::from_info(old), Server::Cluster { sharded: false });
    }
}

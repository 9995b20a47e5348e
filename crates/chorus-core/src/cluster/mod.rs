//! Several nodes as one: a [`Broker`] carries every published message to every node, and
//! each node delivers it to its own connections.
//!
//! The broker is the order. A message published on a node is not delivered there at once:
//! it goes to the broker as an [`Envelope`] and is delivered — on this node as on every
//! other — when the broker hands it back. Every node sees a namespace's messages in the
//! order the broker gave them, so a room has one order across the cluster, whoever
//! published into it and wherever its members are. A node knows its own envelopes when they
//! come back (the origin and the sequence number they carry) and never publishes what it
//! received.
//!
//! What a node sends to one of its own connections (an emit to a socket) does not need the
//! broker; it still waits behind the node's own messages that have not come back yet, so
//! everything published on one node reaches each connection in the order it was published
//! (`order`).
//!
//! When the broker's link is lost the node serves its own connections alone: what it had
//! sent and not seen come back is delivered here, and what is published meanwhile is
//! delivered here only, until the link is up again. Messages never stored in history are
//! not kept anywhere else: a node that was cut off misses what others published meanwhile.
//!
//! * [`envelope`] — [`Envelope`], a message between nodes, and its binary form.
//! * `local` — [`Local`], a namespace as the cluster sees it.
//! * `order` — the node's own messages waiting to come back.
//! * [`stored`] — [`Notice`], a stored message as a shared store announces it.
//! * [`control`] — [`Signal`], what nodes tell each other of themselves: presence changes,
//!   heartbeats, member snapshots.
//! * `presence` — the other nodes, and the members they hold.
//! * `ask` — [`Ask`], an op run on every other node, and its replies.

mod ask;
pub mod control;
pub mod envelope;
mod local;
mod order;
mod presence;
pub mod stored;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};

pub use self::ask::Ask;
use self::ask::AsksLock;
pub use self::control::{Control, Membership, Signal};
pub use self::envelope::{Envelope, EnvelopeError, NodeId, Payload};
pub(crate) use self::envelope::{Parts, PayloadRef};
pub use self::local::Local;
pub(crate) use self::order::Delivery;
use self::order::Order;
use self::presence::Presence;
pub use self::presence::{DEAD_AFTER, HEARTBEAT};
pub use self::stored::{Marker, Notice};
use crate::{Broadcast, HubError, Outbound, PeerInfo, PresenceAction, PresenceNotice, Publisher};

/// Most of a node's own messages that may wait for the broker at once: beyond it a publish
/// is refused ([`HubError::Backlog`]) rather than queued without bound.
const MAX_WAITING: usize = 65_536;

/// What a broker failed at.
#[derive(Debug, Clone, thiserror::Error)]
#[error("broker: {0}")]
pub struct BrokerError(pub Arc<str>);

/// The service that carries envelopes between nodes: Redis, NATS, ….
///
/// A broker must keep the order of [`Broker::publish`] calls in what it hands back: every
/// subscriber receives a namespace's envelopes in one order, and the publishing node its
/// own in the order it published them.
pub trait Broker: Send + Sync + 'static {
    /// Starts carrying for node `node`: `inbox` hears every envelope of the cluster (this
    /// node's own included), the failure of a publish, and the link going up (once it
    /// receives) and down. Called once, by [`Cluster::new`].
    fn start(&self, inbox: Weak<dyn Inbox>, node: NodeId);

    /// Sends `envelope`, this node's `seq`th, to every node of the cluster, this one
    /// included.
    fn publish(&self, seq: u64, envelope: Bytes);

    /// How many servers answer requests about namespace `ns` in another server's format
    /// (Node socket.io servers, when the broker speaks their adapter's), counted as that
    /// format counts them — chorus nodes speaking it included. A request this node makes
    /// waits for the others' replies too. None by default.
    fn other_servers(&self, ns: &str) -> usize {
        let _ = ns;
        0
    }

    /// Namespace `ns` now exists on this node (a broker speaking another server's format
    /// subscribes to that namespace's requests). Nothing by default.
    fn namespace_opened(&self, ns: &str) {
        let _ = ns;
    }
}

/// What a broker tells its node.
pub trait Inbox: Send + Sync {
    /// An envelope arrived.
    fn receive(&self, envelope: Bytes);

    /// The envelope this node published as `seq` could not be sent.
    fn failed(&self, seq: u64, error: BrokerError);

    /// The link to the broker is down (`false`: envelopes sent and not yet back may never
    /// come back), or up again with every subscription in place (`true`: envelopes sent
    /// before it do not come back).
    fn link(&self, up: bool);
}

/// What a shared store publishes on the broker.
enum Stored {
    Notice(Notice),
    Marker(Marker),
}

/// Counters of a node's cluster traffic.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Envelopes this node published.
    pub published: AtomicU64,
    /// Envelopes received from other nodes.
    pub received: AtomicU64,
    /// Envelopes that could not be read (dropped).
    pub malformed: AtomicU64,
    /// Publishes the broker failed, and messages delivered here only while the link was
    /// down.
    pub local_only: AtomicU64,
    /// How long other nodes took to answer this node's requests (an op: a fetch, a join, a
    /// broadcast with acks, figures), from asking to each reply, through the broker both
    /// ways.
    pub round_trip: crate::Histogram,
}

/// A node of a cluster: its broker, and its namespaces as the broker's envelopes find them.
pub struct Cluster {
    node: NodeId,
    broker: Arc<dyn Broker>,
    namespaces: RwLock<HashMap<Arc<str>, Weak<dyn Local>>>,
    order: Mutex<Order>,
    up: AtomicBool,
    /// The link was up once: down now means cut off, not starting.
    ever_up: AtomicBool,
    stats: ClusterStats,
    /// The node's publisher, when its rooms keep history in a store shared by the cluster.
    publisher: OnceLock<Weak<Publisher>>,
    /// The other nodes and their members.
    presence: Mutex<Presence>,
    /// Where other nodes reach this node's HTTP, if known.
    address: RwLock<Option<Arc<str>>>,
    /// Requests this node waits on.
    asks: Arc<AsksLock>,
    /// This node itself, for what answers later (a broadcast with acks).
    me: OnceLock<Weak<Cluster>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("up", &self.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A node on `broker`, which is started. The link counts as down until the broker says
    /// it is up: until then the node serves its own connections alone.
    pub fn new(broker: Arc<dyn Broker>) -> Arc<Self> {
        let cluster = Arc::new(Self {
            node: NodeId::random(),
            broker,
            namespaces: RwLock::new(HashMap::new()),
            order: Mutex::new(Order::default()),
            up: AtomicBool::new(false),
            ever_up: AtomicBool::new(false),
            stats: ClusterStats::default(),
            publisher: OnceLock::new(),
            presence: Mutex::new(Presence::default()),
            address: RwLock::new(None),
            asks: Arc::default(),
            me: OnceLock::new(),
        });
        let _ = cluster.me.set(Arc::downgrade(&cluster));
        let inbox: Weak<dyn Inbox> = Arc::downgrade(&cluster) as Weak<Cluster>;
        cluster.broker.start(inbox, cluster.node);
        let clock = Arc::downgrade(&cluster);
        std::thread::Builder::new()
            .name("chorus-cluster-clock".into())
            .spawn(move || loop {
                std::thread::sleep(HEARTBEAT);
                let Some(cluster) = clock.upgrade() else {
                    return;
                };
                cluster.beat();
            })
            .expect("spawning the cluster's clock thread");
        cluster
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Whether the broker's link is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Whether the node lost its link to the broker (as opposed to not having it yet,
    /// starting).
    pub fn is_cut_off(&self) -> bool {
        !self.is_up() && self.ever_up.load(Ordering::Acquire)
    }

    /// The node's counters.
    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    /// Tells the other nodes, from the next heartbeat on, that this node's HTTP is at
    /// `address` (`host:port`): where they forward an Engine.IO long-polling request of a
    /// session this node holds.
    pub fn advertise(&self, address: &str) {
        *self.address.write() = Some(Arc::from(address));
        self.signal(self.heartbeat());
    }

    /// Where node `node` said its HTTP is, while it is alive.
    pub fn address_of(&self, node: NodeId) -> Option<Arc<str>> {
        self.presence.lock().address(node)
    }

    fn heartbeat(&self) -> Control {
        Control::Heartbeat(self.address.read().clone())
    }

    /// Runs `op` on the connections of namespace `ns` on every other live node; the replies
    /// come to the [`Ask`]. With the link down, nobody is asked.
    pub fn ask(&self, ns: &Arc<str>, op: crate::ops::Op) -> Ask {
        let chorus = self.nodes();
        // Servers of another kind on the broker answer what has an answer for them (and
        // count this node and the other chorus nodes among their subscribers).
        let others = match op {
            crate::ops::Op::Fetch(_)
            | crate::ops::Op::Emit { ack: true, .. }
            | crate::ops::Op::EmitWithAck { .. } => {
                self.broker.other_servers(ns).saturating_sub(chorus + 1)
            }
            _ => 0,
        };
        let expected = if self.is_up() { chorus + others } else { 0 };
        let (id, done) = self.asks.lock().open(expected);
        // Sent even when no reply is awaited: other servers act on what they do not answer
        // (a join, a leave, a disconnect).
        if self.is_up() {
            self.signal(Control::Request {
                id,
                ns: ns.clone(),
                op,
            });
        }
        Ask::new(&self.asks, id, expected, done)
    }

    /// Runs `op` on every other live node without waiting for replies (a server-side event
    /// nobody answers).
    pub fn broadcast_op(&self, ns: &Arc<str>, op: crate::ops::Op) {
        self.signal(Control::Request {
            id: 0,
            ns: ns.clone(),
            op,
        });
    }

    /// How many other nodes are alive (heard within [`DEAD_AFTER`]).
    pub fn nodes(&self) -> usize {
        self.presence.lock().nodes()
    }

    /// The members other nodes' connections make in `room` of namespace `ns`.
    pub fn remote_members(&self, ns: &str, room: &str) -> Vec<PeerInfo> {
        self.presence.lock().members(ns, room)
    }

    /// Tells the other nodes that a connection of this one joined, left or changed in a
    /// room. Sent in order with this node's messages; dropped while the link is down (the
    /// snapshot this node sends when it is back says it all).
    pub(crate) fn announce_presence(&self, ns: &Arc<str>, notice: &PresenceNotice) {
        self.signal(Control::Presence {
            membership: Membership {
                ns: ns.clone(),
                room: notice.room.clone(),
                member: notice.member.clone(),
            },
            action: notice.action,
        });
    }

    /// Sends a signal to the other nodes.
    fn signal(&self, control: Control) {
        if !self.is_up() {
            return;
        }
        let bytes = Signal {
            origin: self.node,
            control,
        }
        .encode();
        // Under the order lock, as every publish: the broker keeps this node's order.
        // Number 0: nothing here waits for it to come back.
        let _order = self.order.lock();
        self.broker.publish(0, bytes);
    }

    /// Every member this node's connections make.
    fn snapshot(&self) -> Vec<Membership> {
        let namespaces: Vec<Arc<dyn Local>> = self
            .namespaces
            .read()
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        namespaces.iter().flat_map(|ns| ns.snapshot()).collect()
    }

    /// The clock: says this node is alive, and drops the nodes that stopped saying so.
    fn beat(&self) {
        if !self.is_up() {
            // Nobody can be heard now; that says nothing of them.
            return;
        }
        self.signal(self.heartbeat());
        let gone = self.presence.lock().expire(std::time::Instant::now());
        for membership in gone {
            self.tell(membership, PresenceAction::Leave);
        }
    }

    /// Tells this node's members of a room what happened on another node.
    fn tell(&self, membership: Membership, action: PresenceAction) {
        if action == PresenceAction::Leave
            && self
                .presence
                .lock()
                .holds(&membership.ns, &membership.room, membership.member.id)
        {
            // Its session is on another node now: it did not leave.
            return;
        }
        let ns = self.namespaces.read().get(&membership.ns).cloned();
        let Some(ns) = ns.and_then(|ns| ns.upgrade()) else {
            return;
        };
        let notice = PresenceNotice {
            room: membership.room,
            action,
            member: membership.member,
        };
        self.hand(Box::new(move || ns.presence(notice)));
    }

    /// Runs a delivery of something the broker brought, where the broker put it among this
    /// node's own messages.
    fn hand(&self, deliver: Box<dyn FnOnce() + Send>) {
        let mut order = self.order.lock();
        if order.is_idle() {
            drop(order);
            return deliver();
        }
        order.push_arrived(deliver);
        self.drain(order);
    }

    /// A signal of another node.
    fn signalled(&self, bytes: Bytes) {
        let signal = match Signal::decode(bytes) {
            Ok(signal) => signal,
            Err(err) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%err, "cluster: a node's signal could not be read; dropped");
                return;
            }
        };
        if signal.origin == self.node {
            return;
        }
        // A node is what beats: a request from something else (a Node socket.io server,
        // through the broker) does not make it one this node waits for.
        if matches!(signal.control, Control::Heartbeat(_)) {
            self.presence
                .lock()
                .heard(signal.origin, std::time::Instant::now());
        }
        match signal.control {
            Control::Heartbeat(address) => {
                if let Some(address) = address {
                    self.presence.lock().located(signal.origin, address);
                }
            }
            Control::Ask => {
                self.signal(self.heartbeat());
                self.signal(Control::Snapshot(self.snapshot()));
            }
            Control::Presence { membership, action } => {
                let changed = self
                    .presence
                    .lock()
                    .apply(signal.origin, &membership, action);
                if changed {
                    self.tell(membership, action);
                }
            }
            Control::Request { id, ns, op } => {
                let wants = id != 0 && !matches!(op, crate::ops::Op::Emit { ack: false, .. });
                let to = signal.origin;
                let local = self.namespaces.read().get(&ns).cloned();
                let Some(ns) = local.and_then(|ns| ns.upgrade()) else {
                    if wants {
                        let reply = match &op {
                            crate::ops::Op::Fetch(_) => crate::ops::Reply::Sockets(Vec::new()),
                            crate::ops::Op::Emit { .. } => crate::ops::Reply::Ack(None),
                            crate::ops::Op::EmitWithAck { .. } => crate::ops::Reply::Acks {
                                expected: 0,
                                answers: Vec::new(),
                            },
                            _ => crate::ops::Reply::Done(0),
                        };
                        self.signal(Control::Reply { id, to, reply });
                    }
                    return;
                };
                // A broadcast with acks answers later, when its wait is over.
                let me = self.me.get().cloned();
                ns.run_then(
                    &op,
                    Box::new(move |reply| {
                        if let (true, Some(cluster)) = (wants, me.and_then(|me| me.upgrade())) {
                            cluster.signal(Control::Reply { id, to, reply });
                        }
                    }),
                );
            }
            Control::Reply { id, to, reply } => {
                if to == self.node {
                    let took = self.asks.lock().reply(id, signal.origin, reply);
                    if let Some(took) = took {
                        self.stats.round_trip.observe(took);
                    }
                }
            }
            Control::Snapshot(members) => {
                let (joined, left) = self.presence.lock().replace(signal.origin, members);
                for membership in joined {
                    self.tell(membership, PresenceAction::Join);
                }
                for membership in left {
                    self.tell(membership, PresenceAction::Leave);
                }
            }
        }
    }

    /// The node's publisher, whose stored messages arrive through the broker: it is told
    /// when the link comes back, to read what it missed.
    pub(crate) fn attach(&self, publisher: &Arc<Publisher>) {
        let _ = self.publisher.set(Arc::downgrade(publisher));
    }

    /// Makes `ns` reachable by envelopes.
    pub(crate) fn register(&self, ns: &Arc<dyn Local>) {
        self.namespaces
            .write()
            .insert(ns.name().clone(), Arc::downgrade(ns));
        self.broker.namespace_opened(ns.name());
    }

    /// Publishes an encoded envelope (numbered here: see [`Parts::encode`]) to the cluster;
    /// `delivery` is this node's part of it, made when the envelope comes back.
    pub(crate) fn publish(&self, mut bytes: BytesMut, delivery: Delivery) {
        if !self.is_up() {
            self.stats.local_only.fetch_add(1, Ordering::Relaxed);
            return self.local(Box::new(move || delivery.run()));
        }
        // Encoded before the lock; the number is set under it, where the order is decided.
        let mut order = self.order.lock();
        let seq = order.next_seq();
        Envelope::set_seq(&mut bytes, seq);
        order.push_sent(seq, delivery);
        // Under the lock: the broker receives the envelopes in the order they are waited for.
        self.broker.publish(seq, bytes.freeze());
        drop(order);
        self.stats.published.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages of these streams are about to be appended by this node: their delivery
    /// here comes with their notices, and what this node delivers to its own connections
    /// meanwhile waits behind them, so each sender's order holds for stored messages too.
    pub(crate) fn expect<'a>(&self, streams: impl Iterator<Item = &'a Arc<str>>) {
        if !self.is_up() {
            // No notice can come now: the store gives these to this node once it is back.
            return;
        }
        let mut order = self.order.lock();
        for stream in streams {
            order.push_expect(stream.clone());
        }
    }

    /// The append of messages [`Cluster::expect`]ed, in the same order: each one's offset,
    /// or `None` for those that failed.
    pub(crate) fn appended<'a>(&self, outcome: impl Iterator<Item = (&'a str, Option<u64>)>) {
        let mut order = self.order.lock();
        for (stream, offset) in outcome {
            order.appended(stream, offset);
        }
        self.drain(order);
    }

    /// Refuses another message while too many of this node's wait for the broker.
    pub(crate) fn check_backlog(&self) -> Result<(), HubError> {
        let waiting = self.order.lock().len();
        if waiting >= MAX_WAITING {
            return Err(HubError::Backlog(waiting));
        }
        Ok(())
    }

    /// Runs `deliver`, a delivery to this node's own connections only, after this node's
    /// messages still on their way through the broker.
    pub(crate) fn local(&self, deliver: Box<dyn FnOnce() + Send>) {
        let mut order = self.order.lock();
        if order.is_idle() {
            drop(order);
            return deliver();
        }
        order.push_local(deliver);
        self.drain(order);
    }

    /// Runs what is ready at the front of the queue, in order, with the lock released while
    /// it runs; one caller at a time drains.
    fn drain<'a>(&'a self, mut order: parking_lot::MutexGuard<'a, Order>) {
        if order.draining {
            return;
        }
        order.draining = true;
        loop {
            let ready = order.take_ready();
            if ready.is_empty() {
                order.draining = false;
                return;
            }
            drop(order);
            for run in ready {
                run();
            }
            order = self.order.lock();
        }
    }

    /// What a shared store published — a stored message's notice, or a stream's marker:
    /// handed to its namespace in its stream's order, where the broker put it among this
    /// node's own messages.
    fn arrived(&self, bytes: Bytes) {
        let (ns, room, stored) = if Notice::is_notice(&bytes) {
            // The namespace and room from the head alone: a notice of a room nobody here
            // hears is not decoded.
            let Some(stream) = Notice::peek_stream(&bytes) else {
                return self.malformed("a stored message's notice is cut short");
            };
            let Some((ns, room)) = self.local_room(stream) else {
                return;
            };
            if !ns.listens(room) {
                return;
            }
            let room: Arc<str> = Arc::from(room);
            match Notice::decode(bytes) {
                Ok(notice) => (ns, room, Stored::Notice(notice)),
                Err(err) => return self.malformed(&err.to_string()),
            }
        } else {
            let marker = match Marker::decode(bytes) {
                Ok(marker) => marker,
                Err(err) => return self.malformed(&err.to_string()),
            };
            let Some((ns, room)) = self.local_room(&marker.stream) else {
                return;
            };
            let room: Arc<str> = Arc::from(room);
            (ns, room, Stored::Marker(marker))
        };
        let stream = match &stored {
            Stored::Notice(notice) => notice.stream.clone(),
            Stored::Marker(marker) => marker.stream.clone(),
        };
        let offset = match &stored {
            Stored::Notice(notice) => Some(notice.pos.offset),
            Stored::Marker(_) => None,
        };
        let deliver: Box<dyn FnOnce() + Send> = Box::new(move || match stored {
            Stored::Notice(notice) => ns.stored(&room, notice),
            Stored::Marker(marker) => ns.marked(&room, marker),
        });
        let Some(offset) = offset else {
            return self.hand(deliver);
        };
        let mut order = self.order.lock();
        match order.fulfil(&stream, offset, deliver) {
            // One of this node's own: delivered in its place.
            Ok(()) => self.drain(order),
            Err(deliver) => {
                drop(order);
                self.hand(deliver);
            }
        }
    }

    /// The namespace of this node a stream (`namespace\x1froom`) is in, and its room.
    fn local_room<'s>(&self, stream: &'s str) -> Option<(Arc<dyn Local>, &'s str)> {
        let (ns, room) = stream.split_once('\u{1f}')?;
        let ns = self.namespaces.read().get(ns).cloned()?.upgrade()?;
        Some((ns, room))
    }

    /// Counts and logs what the store published that could not be read.
    fn malformed(&self, why: &str) {
        self.stats.malformed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            why,
            "cluster: a stored message's notice could not be read; dropped"
        );
    }

    /// An envelope of another node: delivered to this node's connections.
    fn deliver_remote(&self, envelope: Envelope) {
        let ns = self.namespaces.read().get(&envelope.namespace).cloned();
        let Some(ns) = ns.and_then(|ns| ns.upgrade()) else {
            // No connection here was ever in that namespace.
            return;
        };
        let item = match &envelope.payload {
            Payload::Frame(msg) => Outbound::Message(msg.clone()),
            Payload::Event { .. } => match envelope.event() {
                Some(event) => Outbound::Shared(Broadcast::event(event)),
                None => return,
            },
        };
        let delivery = Delivery {
            ns,
            to: envelope.to,
            except_rooms: envelope.except_rooms,
            except: envelope.except,
            item,
            volatile: envelope.volatile,
            done: None,
        };
        delivery.run();
    }
}

impl Inbox for Cluster {
    fn receive(&self, bytes: Bytes) {
        if Signal::is_signal(&bytes) {
            return self.signalled(bytes);
        }
        if Notice::is_notice(&bytes) || Marker::is_marker(&bytes) {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
            return self.arrived(bytes);
        }
        // This node's own: only its number matters (its delivery is waiting here).
        if let Some((origin, seq)) = Envelope::peek(&bytes) {
            if origin == self.node {
                let mut order = self.order.lock();
                if order.arrived(seq) {
                    self.drain(order);
                }
                return;
            }
        }
        let envelope = match Envelope::decode(bytes) {
            Ok(envelope) => envelope,
            Err(err) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%err, "cluster: an envelope could not be read; dropped");
                return;
            }
        };
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        self.deliver_remote(envelope);
    }

    fn failed(&self, seq: u64, error: BrokerError) {
        tracing::warn!(%error, "cluster: a message reached this node only");
        self.stats.local_only.fetch_add(1, Ordering::Relaxed);
        let mut order = self.order.lock();
        if order.arrived(seq) {
            self.drain(order);
        }
    }

    fn link(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        if up {
            self.ever_up.store(true, Ordering::Release);
        }
        if up {
            tracing::info!(node = %self.node, "cluster: broker link up");
        } else {
            tracing::warn!(node = %self.node, "cluster: broker link down; serving this node's connections alone");
        }
        // Either way, what waits was sent before this subscription: it will not come back.
        let mut order = self.order.lock();
        let lost = order.arrive_all();
        self.stats
            .local_only
            .fetch_add(lost as u64, Ordering::Relaxed);
        self.drain(order);
        if up {
            if let Some(publisher) = self.publisher.get().and_then(Weak::upgrade) {
                publisher.resync();
            }
            // Back on the broker: the others may have changed meanwhile, and may have
            // missed what changed here.
            self.presence.lock().forgive(std::time::Instant::now());
            self.signal(self.heartbeat());
            self.signal(Control::Ask);
            self.signal(Control::Snapshot(self.snapshot()));
        }
    }
}

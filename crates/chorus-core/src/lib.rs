//! The chorus hub: who is connected, which rooms they are in, and how a message reaches
//! them.
//!
//! This crate does no I/O. Transports (in the `chorus` crate) register a connection with the
//! [`Hub`], get back a [`Peer`] handle and the receiving end of its bounded outbound queue, and
//! write whatever arrives on that queue to their socket. Everything else — joining rooms,
//! fan-out, presence — is a method call here that never blocks and never awaits, so no lock
//! is ever held across an `.await`.
//!
//! # Layout
//!
//! * [`id`] — [`ConnId`], a connection's opaque, unguessable id.
//! * [`event`] — [`Event`], the protocol-neutral message the event layer fans out, and its
//!   data; [`presence`] — [`PresenceNotice`], a change in a room's membership.
//! * [`format`](mod@format) — [`Format`] and [`Encode`]: the wire formats the protocols
//!   register, each encoding events and notices its own way.
//! * [`broadcast`] — [`Broadcast`], a message encoded at most once per wire format however
//!   many recipients it has; [`outbound`] — [`Outbound`], an item on a connection's queue.
//! * [`latency`] — [`Histogram`], durations in fixed buckets for `/metrics` (the store's
//!   appends, stored messages' publish-to-delivery time).
//! * [`mailbox`] — [`Mailbox`] and [`PeerQueue`], a connection's bounded outbound queue
//!   (the two ends), and the slow-consumer policy.
//! * [`peer`] — [`Peer`], the hub's handle on one connection: its mailbox, its nickname and
//!   user data, the rooms it is in.
//! * [`room`] — [`Room`], the member set a broadcast walks.
//! * [`namespace`] — [`Namespace`], a set of connections and rooms under one [`Policy`].
//! * [`audience`] — [`Audience`] and [`Target`], who a message goes to.
//! * [`route`] — [`Namespace::publish`], the one way a message enters: the permission check,
//!   store or broadcast, the sender's order; [`receipt`] — [`Receipt`], what its sender
//!   hears once a message went out.
//! * [`cluster`] — [`Cluster`]: a node of several, its messages through a [`Broker`] and
//!   back, in one order per room (the brokers themselves are in `chorus-broker`).
//! * [`ops`] — what a server does to the connections of some rooms on every node (list,
//!   join, leave, disconnect, a server-side event); one node's part is [`Namespace::run_then`].
//! * [`hub`] — [`Hub`], the registry of namespaces.
//! * [`history`] — which rooms keep history, and for how long.
//! * [`publisher`] — [`Publisher`], the thread every message of a room with history passes
//!   through: stored, numbered, delivered, acknowledged, in one order; recovery joins too.
//! * [`store`] — the [`Store`] seam: room streams with offsets and epochs, for history and
//!   recovery (implementations in `chorus-store`).
//! * [`error`] — [`HubError`] and its [`Code`]s.
//!
//! Nothing here knows a protocol: `chorus-proto` is used for [`chorus_proto::WsMessage`]
//! alone, the unit a format encodes into.

pub mod audience;
pub mod broadcast;
pub mod cluster;
pub mod error;
pub mod event;
pub mod format;
pub mod history;
pub mod hub;
pub mod id;
pub mod latency;
pub mod mailbox;
pub mod namespace;
pub mod ops;
pub mod outbound;
pub mod peer;
pub mod presence;
pub mod publisher;
pub mod receipt;
pub mod room;
pub mod route;
pub mod store;

pub use audience::{Audience, Target};
pub use broadcast::Broadcast;
pub use cluster::{Broker, BrokerError, Cluster, Inbox, NodeId};
pub use error::{Code, Forbidden, HubError};
pub use event::{Event, EventData, SenderInfo, RAW_BINARY, RAW_TEXT};
pub use format::{Encode, Encoded, Format, MAX_FORMATS};
pub use history::{HistoryRule, HistoryRules};
pub use hub::{Hub, HubConfig};
pub use id::ConnId;
pub use latency::Histogram;
pub use mailbox::{Mailbox, PeerQueue, QueueLimits};
pub use namespace::{History, Namespace, Policy};
pub use outbound::{CloseReason, Outbound};
pub use peer::Peer;
pub use presence::{MembershipChange, MembershipWatch, PeerInfo, PresenceAction, PresenceNotice};
pub use publisher::{
    At, JoinDone, Joined, Publisher, Replay, RestoreDone, RestoreRoom, Restored, Rooms,
};
pub use receipt::{Done, Receipt};
pub use room::Room;
pub use route::{Access, Action, Body, Client, Publish, Routed};
pub use store::{
    Append, DataKind, Entry, Page, Retention, SessionWrite, Stamp, Store, StoreError, StoredEvent,
    StreamPos,
};

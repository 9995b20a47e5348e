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
//! * [`outbound`] — [`Outbound`], an item on a connection's queue, and [`Broadcast`], a
//!   message encoded at most once per wire format however many recipients it has.
//! * [`event`] — [`Event`] and [`PresenceNotice`], the protocol-neutral messages the event
//!   layer fans out.
//! * [`mailbox`] — [`Mailbox`] and [`PeerQueue`], a connection's bounded outbound queue
//!   (the two ends), and the slow-consumer policy.
//! * [`peer`] — [`Peer`], the hub's handle on one connection: its mailbox, its nickname and
//!   user data, the rooms it is in.
//! * [`room`] — [`Room`], the member set a broadcast walks.
//! * [`namespace`] — [`Namespace`], a set of connections and rooms that share a protocol
//!   space (the event layer at `/`, or the raw plain-WebSocket rooms).
//! * [`hub`] — [`Hub`], the registry of namespaces and connections.
//! * [`history`] — which rooms keep history, and for how long.
//! * [`publisher`] — [`Publisher`], the thread every message of a room with history passes
//!   through: stored, numbered, delivered, acknowledged, in one order; recovery joins too.
//! * [`store`] — the [`Store`] seam: room streams with offsets and epochs, for history and
//!   recovery (implementations in `chorus-store`).
//! * [`error`] — [`HubError`].

pub mod error;
pub mod event;
pub mod history;
pub mod hub;
pub mod id;
pub mod mailbox;
pub mod namespace;
pub mod outbound;
pub mod peer;
pub mod publisher;
pub mod room;
pub mod store;

pub use error::HubError;
pub use event::{Event, EventData, PresenceNotice, SenderInfo, RAW_BINARY, RAW_TEXT};
pub use history::{HistoryRule, HistoryRules};
pub use hub::{Hub, HubConfig};
pub use id::ConnId;
pub use mailbox::{Mailbox, PeerQueue, QueueLimits};
pub use namespace::{Namespace, Target};
pub use outbound::{Broadcast, CloseReason, Encoded, Outbound, WireFormat};
pub use peer::{Peer, PeerInfo};
pub use publisher::{Joined, Published, Publisher, RestoreRoom, Restored};
pub use room::Room;
pub use store::{
    Append, DataKind, Entry, Page, Retention, SessionWrite, Stamp, Store, StoreError, StoredEvent,
    StreamPos,
};

//! The history seam: where a room's messages are kept so a client that was away can get
//! what it missed, and so a restart loses nothing that was acknowledged.
//!
//! A room's messages form a *stream*: each appended message gets the next *offset* (1, 2,
//! 3, …), and the stream has an *epoch*, a random id chosen when the stream is created.
//! A client remembers `(epoch, offset)` of the last message it saw; if the epoch is still the
//! same, everything after its offset (within retention) can be replayed exactly, and if it
//! changed (the history was lost: a memory store restarted, a data directory wiped), the
//! client knows recovery is impossible instead of silently missing messages.
//!
//! Every message also gets a store-wide *sequence number* (`seq`): it increases with every
//! append, across all streams, and is never handed out twice by one store (a durable store
//! keeps counting across restarts). Within a stream it grows with the offset; across
//! streams it is the order the publisher stored — and delivered — messages in. A client of
//! several rooms that remembers only the `seq` of the last message it received (Socket.IO's
//! connection-state recovery keeps one offset per socket) can therefore be told exactly what
//! it missed in each room: the messages after its join whose `seq` is higher
//! ([`Store::read_after_seq`]).
//!
//! A store also keeps *session records* for that recovery: opaque bytes by id, with an
//! expiry, so a client can recover its rooms across a restart of the server.
//!
//! Implementations (`chorus-store`: memory, SQLite) are driven by the hub's single
//! publisher thread: appends never race each other, so a store assigns offsets in the order
//! it is called. Methods are synchronous — SQLite is — and are never called from an async
//! task directly. One conformance suite (`chorus_store::conformance`) runs against every
//! implementation.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// A stream's identity and how far it has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPos {
    /// Changes whenever the stream's history is lost; opaque to clients.
    pub epoch: Arc<str>,
    /// Offset of the last message appended; 0 for a stream with no message yet.
    pub offset: u64,
}

/// What a stored message's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// One JSON value.
    Json,
    /// Bytes.
    Binary,
    /// A JSON array of arguments with binary attachments (Socket.IO).
    Args,
}

/// One message as a store keeps it: enough to rebuild the [`crate::Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Event name.
    pub name: Arc<str>,
    /// How to read `data`.
    pub kind: DataKind,
    /// The JSON text (UTF-8) for `Json` and `Args`, the bytes for `Binary`.
    pub data: Bytes,
    /// The binary attachments of `Args` data; empty otherwise.
    pub attachments: Vec<Bytes>,
    /// The sender's connection id and nickname, if a client sent it.
    pub from: Option<(Arc<str>, Arc<str>)>,
    /// The connection it was published to everyone in the room but (usually its sender:
    /// `socket.to(room)`), as its id: a replay to a restored connection leaves it out for
    /// that one too.
    pub except: Option<Arc<str>>,
    /// When it was published, in milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// A message read back from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its offset in the stream.
    pub offset: u64,
    /// Its store-wide sequence number (0 for a message stored before stores kept one).
    pub seq: u64,
    /// The message.
    pub event: StoredEvent,
}

/// One append of a batch.
#[derive(Debug, Clone)]
pub struct Append {
    /// The stream (room) name. Streams are per namespace: the hub prefixes room names
    /// with their namespace, so the store sees one flat name space.
    pub stream: Arc<str>,
    /// The message.
    pub event: StoredEvent,
}

/// Where an append put a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Its offset in its stream.
    pub offset: u64,
    /// Its store-wide sequence number: higher than every earlier append's, in any stream.
    pub seq: u64,
}

/// A change to the session records (see [`Store::write_sessions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionWrite {
    /// Creates or replaces a record.
    Put {
        /// The record's id (unique, chosen by the caller).
        id: Arc<str>,
        /// What the caller keeps; opaque to the store.
        record: Bytes,
        /// When it expires, in milliseconds since the Unix epoch; `None` while its client is
        /// connected (see [`Store::expire_open_sessions`]).
        expires_ms: Option<u64>,
    },
    /// Removes a record (nothing happens if there is none).
    Delete {
        /// The record's id.
        id: Arc<str>,
    },
    /// Gives a record the store still holds a new expiry (nothing happens if there is
    /// none). A store several servers share keeps a connected client's record under a
    /// lease its server renews so: a server that dies stops renewing, and its clients'
    /// records expire some time after, rather than stay open for ever.
    Touch {
        /// The record's id.
        id: Arc<str>,
        /// Its new expiry, in milliseconds since the Unix epoch.
        expires_ms: u64,
    },
}

/// How long a stream keeps its messages: whichever limit is hit first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Most messages kept per stream.
    pub max_messages: u64,
    /// Oldest message kept.
    pub max_age: Duration,
}

/// A page of a stream read after an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The stream's position now.
    pub pos: StreamPos,
    /// Messages after the requested offset, oldest first, at most the requested limit.
    pub entries: Vec<Entry>,
    /// True if messages right after the requested offset were already removed by
    /// retention (or the epoch differs): what follows is not a gapless continuation.
    pub truncated: bool,
}

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, a corrupt file, …): its own error, kept whole.
    #[error("store backend error: {0}")]
    Backend(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// A batch came back with fewer offsets than it had messages.
    #[error("the store returned {got} offsets for {sent} messages")]
    ShortBatch {
        /// Messages appended.
        sent: usize,
        /// Offsets returned.
        got: usize,
    },
    /// The publisher thread that drives the store has stopped.
    #[error("the publisher has stopped")]
    Stopped,
}

impl StoreError {
    /// A backend's error.
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Arc::new(err))
    }
}

/// A place to keep room streams.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Appends messages, in order, and makes them as durable as the store is configured to
    /// (memory, batched commit, fsync). Returns the offset given to each, in the same
    /// order. Creates a stream (with a new epoch) on its first append.
    fn append_batch(&self, batch: &[Append]) -> Result<Vec<Stamp>, StoreError>;

    /// A stream's position; a stream never appended to has a fresh epoch and offset 0
    /// (and keeps that epoch once created).
    fn position(&self, stream: &str) -> Result<StreamPos, StoreError>;

    /// Up to `limit` messages after `after` (exclusive), oldest first. With `epoch` given
    /// and different from the stream's, the page is empty and `truncated`.
    fn read_after(
        &self,
        stream: &str,
        epoch: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Page, StoreError>;

    /// Up to `limit` messages after offset `after` whose sequence number is above
    /// `after_seq`, oldest first. `truncated` if `epoch` differs from the stream's, if
    /// `after` is beyond the stream's end, or if retention removed a message after `after`
    /// whose sequence number was above `after_seq` (one the reader may not have seen).
    /// Messages after `after` with a sequence number up to `after_seq` are skipped, gone or
    /// not: the reader has them.
    fn read_after_seq(
        &self,
        stream: &str,
        epoch: &str,
        after: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Page, StoreError>;

    /// The last `n` messages, oldest first.
    fn read_last(&self, stream: &str, n: usize) -> Result<Page, StoreError>;

    /// Removes what `retention(stream)` no longer keeps, as of `now_ms`. Returns how many
    /// messages were removed. Session records that expired before `now_ms` are removed too
    /// (not counted).
    fn trim(&self, now_ms: u64, retention: &dyn Fn(&str) -> Retention) -> Result<u64, StoreError>;

    /// Applies session-record changes, in order, as durably as appends.
    fn write_sessions(&self, writes: &[SessionWrite]) -> Result<(), StoreError>;

    /// The session record `id`, unless there is none or it expired before `now_ms`.
    fn read_session(&self, id: &str, now_ms: u64) -> Result<Option<Bytes>, StoreError>;

    /// Gives every record saved without an expiry (its client was connected when the
    /// previous server stopped) the expiry `expires_ms`. Called once when a server starts,
    /// before any client connects. Returns how many records it changed.
    fn expire_open_sessions(&self, expires_ms: u64) -> Result<u64, StoreError>;

    /// The session record `id` if there is one, else `record`, which becomes it; either
    /// way it is kept open (no expiry). Servers sharing the store agree on it: a shared
    /// store makes this one atomic step. The default reads, then writes.
    fn claim_session(&self, id: &str, record: Bytes, now_ms: u64) -> Result<Bytes, StoreError> {
        let kept = self.read_session(id, now_ms)?.unwrap_or(record);
        self.write_sessions(&[SessionWrite::Put {
            id: Arc::from(id),
            record: kept.clone(),
            expires_ms: None,
        }])?;
        Ok(kept)
    }

    /// Whether the store announces what it appends to every node of a cluster itself (see
    /// [`crate::cluster::stored`]): then the publisher delivers a stored message when its
    /// announcement comes back through the broker, in its stream's order, not after the
    /// append. False for a store one server keeps alone.
    fn announces(&self) -> bool {
        false
    }

    /// The epoch of every stream the last [`Store::append_batch`] wrote to, when one epoch
    /// covers the whole store and the append told it (a cluster's dataset id): the
    /// publisher then need not ask [`Store::position`] for it. `None` by default.
    fn appended_epoch(&self) -> Option<Arc<str>> {
        None
    }

    /// For a store that [announces](Store::announces): publishes `stream`'s position to
    /// every node in order with its announcements (a [`crate::cluster::Marker`]), so that
    /// a node learns where the stream stands after every message up to there. Others do
    /// nothing.
    fn mark(&self, stream: &str) -> Result<(), StoreError> {
        let _ = stream;
        Ok(())
    }
}

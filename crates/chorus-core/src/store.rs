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
    /// When it was published, in milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// A message read back from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its offset in the stream.
    pub offset: u64,
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
    /// The backend failed (I/O, a corrupt file, …).
    #[error("store backend error: {0}")]
    Backend(String),
}

/// A place to keep room streams.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Appends messages, in order, and makes them as durable as the store is configured to
    /// (memory, batched commit, fsync). Returns the offset given to each, in the same
    /// order. Creates a stream (with a new epoch) on its first append.
    fn append_batch(&self, batch: &[Append]) -> Result<Vec<u64>, StoreError>;

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

    /// The last `n` messages, oldest first.
    fn read_last(&self, stream: &str, n: usize) -> Result<Page, StoreError>;

    /// Removes what `retention(stream)` no longer keeps, as of `now_ms`. Returns how many
    /// messages were removed.
    fn trim(&self, now_ms: u64, retention: &dyn Fn(&str) -> Retention) -> Result<u64, StoreError>;
}

//! Where chorus keeps room history and session records: implementations of the [`Store`]
//! seam defined in `chorus-core` (see [`chorus_core::store`] for the model of streams,
//! offsets, epochs, store-wide sequence numbers and session records).
//!
//! * [`MemoryStore`] keeps streams in memory, bounded in messages per stream and in streams,
//!   and session records, bounded in number. A restart loses everything, and clients notice
//!   because every epoch changes.
//! * [`SqliteStore`] keeps them in one SQLite file (WAL), durable across a process kill
//!   ([`Durability::Batched`]) or an OS crash too ([`Durability::Fsync`]). When an OS crash
//!   may have lost `Batched` commits, every stream gets a new epoch rather than hand out
//!   the lost offsets again.
//!
//! Both are driven by the hub's publisher thread (appends and retention) and read from any
//! thread; every method is synchronous and must not be called from an async task directly.
//!
//! # Epochs
//!
//! A stream's epoch is fixed the first time anyone can observe it — including
//! [`Store::position`] of a stream that has no message yet — without the store keeping
//! anything for a stream it was only asked about: the epoch of a stream that does not exist
//! yet is *derived* from a random per-store secret and the stream name (see [`epoch`]), and
//! the stream keeps that epoch when its first message creates it. A new secret (a restarted
//! memory store, a wiped SQLite file) therefore gives every stream a new epoch, and a client
//! that saw an empty room before its first message can still recover.
//!
//! # Layout
//!
//! * [`rules`] — the read and retention rules both implementations share: when a page is
//!   `truncated` (after an offset, or after an offset and a sequence number), what "too
//!   old" means, when a session record has expired.
//! * [`epoch`] — [`epoch::EpochSource`], the per-store secret streams' epochs derive from.
//! * [`memory`] — [`MemoryStore`] and its [`MemoryLimits`]; beside it, `memory/sessions.rs`
//!   (the bounded session-record table and its eviction order).
//! * [`sqlite`] — [`SqliteStore`] and [`Durability`]: the connections, appends and reads.
//!   Beside it, `sqlite/schema.rs` (file layout, pragmas, schema version and migration),
//!   `sqlite/row.rs` (a message as a row), `sqlite/retention.rs` (`trim`),
//!   `sqlite/sessions.rs` (session records) and `sqlite/lifecycle.rs` (new epochs after an
//!   OS crash may have lost `Batched` commits).
//! * [`conformance`] — the suite every [`Store`] must pass, as plain functions, so an
//!   implementation in another crate can run it too.
//!
//! `tests/sigkill.rs` kills a process mid-append and checks nothing acknowledged is lost;
//! `examples/store_bench.rs` measures append throughput of each store
//! (`cargo run --release -p chorus-store --example store_bench`).

pub use chorus_core::store::{
    Append, DataKind, Entry, Page, Retention, SessionWrite, Stamp, Store, StoreError, StoredEvent,
    StreamPos,
};

#[macro_use]
pub mod conformance;
pub mod epoch;
#[cfg(feature = "testing")]
pub mod latch;
pub mod memory;
pub mod rules;
pub mod sqlite;

pub use memory::{MemoryLimits, MemoryStats, MemoryStore};
pub use sqlite::{Durability, SqliteStore};

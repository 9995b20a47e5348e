//! [`RedisStore`]: room history and session records in the Redis server a cluster's nodes
//! share, so a client recovers on whichever node it reconnects to.
//!
//! A room's stream is a Redis stream whose entry ids are its offsets (`0-1`, `0-2`, …), with
//! a hash beside it holding its last offset and the highest sequence number retention
//! removed; one counter numbers every message of the cluster. An append is one script
//! (`store/append.lua`): it numbers the message, adds it to the stream and publishes its
//! [`Notice`] on the broker's channel, atomically — so every node hears a room's messages
//! in offset order, and a node that missed some knows from the offsets and reads them back
//! ([`chorus_core::publisher`]'s arrivals).
//!
//! Every stream's epoch is the *dataset id*, kept in Redis (`store/dataset.lua`): it is
//! replaced when the server that holds the data restarted without syncing every write to
//! disk (anything but `appendonly yes` with `appendfsync always`), or lost it. Clients then
//! see a new epoch and are told they did not recover — never a silent gap or an offset
//! reused for another message. An append checks the id it was given and fails if it
//! changed; the store reads it again and retries.
//!
//! A node that does not know where a stream stands asks for a marker (`store/mark.lua`):
//! the stream's position, published on the channel after every notice up to it.
//!
//! Session records are string keys, with their expiries in one sorted set
//! (`store/sessions.lua`), so expiry follows the caller's clock exactly.
//!
//! The [`Store`] trait is synchronous (the publisher's threads call it): this store uses
//! Redis's blocking connections, a few pooled, each with timeouts, so a stalled server
//! fails a call in bounded time instead of hanging the publisher.
//!
//! Needs one Redis server (or a primary with replicas): the scripts touch keys of several
//! streams, which Redis Cluster's slots do not allow. The server must not evict keys
//! (`maxmemory-policy noeviction`): an evicted stream would restart its offsets.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chorus_core::cluster::stored::{decode_entry, encode_entry};
use chorus_core::cluster::Notice;
use chorus_core::{
    Append, Entry, Page, Retention, SessionWrite, Stamp, Store, StoreError, StreamPos,
};
use parking_lot::Mutex;
use redis::Value;

use crate::error::ConnectError;
use crate::redis::CHANNEL;

/// Most connections open at once (the publisher's writer and reader, and session reads
/// from the connections' tasks share them).
const MAX_OPEN: usize = 8;
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may take before the call fails.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most messages or records one trimming script removes.
const TRIM_STEP: u64 = 1000;
/// Entries read per round trip when skipping what a reader has.
const READ_PAGE: usize = 256;

/// The scripts, loaded once per connection.
struct Scripts {
    append: &'static str,
    dataset: &'static str,
    trim: &'static str,
    sessions: &'static str,
    mark: &'static str,
}

const SCRIPTS: Scripts = Scripts {
    append: include_str!("store/append.lua"),
    dataset: include_str!("store/dataset.lua"),
    trim: include_str!("store/trim.lua"),
    sessions: include_str!("store/sessions.lua"),
    mark: include_str!("store/mark.lua"),
};

/// Key names, under one prefix.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn dataset(&self) -> String {
        format!("{}:dataset", self.prefix)
    }
    fn seq(&self) -> String {
        format!("{}:seq", self.prefix)
    }
    fn streams(&self) -> String {
        format!("{}:streams", self.prefix)
    }
    fn meta(&self, stream: &str) -> String {
        format!("{}:m:{stream}", self.prefix)
    }
    fn stream(&self, stream: &str) -> String {
        format!("{}:h:{stream}", self.prefix)
    }
    fn sessions(&self) -> String {
        format!("{}:sessions", self.prefix)
    }
    fn session_prefix(&self) -> String {
        format!("{}:s:", self.prefix)
    }
}

/// A connection with the scripts' hashes.
struct Conn {
    con: redis::Connection,
    sha: Arc<[String; 5]>,
}

/// The connections: idle ones, and how many are open (idle or in use).
#[derive(Default)]
struct Pool {
    idle: Vec<Conn>,
    open: usize,
}

/// Loads every script; their hashes.
fn load_scripts(con: &mut redis::Connection) -> redis::RedisResult<Arc<[String; 5]>> {
    let mut sha: [String; 5] = Default::default();
    for (i, src) in [
        SCRIPTS.append,
        SCRIPTS.dataset,
        SCRIPTS.trim,
        SCRIPTS.sessions,
        SCRIPTS.mark,
    ]
    .into_iter()
    .enumerate()
    {
        sha[i] = redis::cmd("SCRIPT").arg("LOAD").arg(src).query(con)?;
    }
    Ok(Arc::new(sha))
}

const APPEND: usize = 0;
const DATASET: usize = 1;
const TRIM: usize = 2;
const SESSIONS: usize = 3;
const MARK: usize = 4;

/// History and session records in Redis, shared by every node of a cluster.
pub struct RedisStore {
    client: redis::Client,
    keys: Keys,
    pool: Mutex<Pool>,
    /// Told when a connection is given back or dropped.
    freed: parking_lot::Condvar,
    /// The scripts' hashes, once loaded.
    shas: Mutex<Option<Arc<[String; 5]>>>,
    /// The dataset id appends are checked against.
    dataset: Mutex<Option<Arc<str>>>,
    /// The dataset id the last append stored under.
    appended: Mutex<Option<Arc<str>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "server",
                &self.client.get_connection_info().addr().to_string(),
            )
            .field("prefix", &self.keys.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(err: redis::RedisError) -> StoreError {
    StoreError::backend(err)
}

fn malformed(what: &str) -> StoreError {
    StoreError::backend(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("redis store: {what}"),
    ))
}

impl RedisStore {
    /// A store on the Redis server at `url` (the cluster's broker), its keys under
    /// `chorus:`. Connects once to check the server is there and to settle the dataset id:
    /// a node with history does not start without its store.
    pub fn open(url: &str) -> Result<Self, ConnectError> {
        Self::open_with_prefix(url, "chorus")
    }

    /// [`RedisStore::open`] with keys under `prefix:` (several clusters, or tests, on one
    /// server).
    pub fn open_with_prefix(url: &str, prefix: &str) -> Result<Self, ConnectError> {
        let client = redis::Client::open(url).map_err(|err| ConnectError::Url {
            url: url.to_owned(),
            why: err.to_string(),
        })?;
        let store = Self {
            client,
            keys: Keys {
                prefix: prefix.to_owned(),
            },
            pool: Mutex::new(Pool::default()),
            freed: parking_lot::Condvar::new(),
            shas: Mutex::new(None),
            dataset: Mutex::new(None),
            appended: Mutex::new(None),
        };
        let conn = store.take().map_err(|err| ConnectError::Store {
            url: url.to_owned(),
            why: err.to_string(),
        })?;
        store.put_back(conn);
        Ok(store)
    }

    /// A new connection: timeouts set, scripts known to the server, the dataset id settled.
    fn connect(&self) -> Result<Conn, StoreError> {
        let mut con = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(backend)?;
        con.set_read_timeout(Some(IO_TIMEOUT)).map_err(backend)?;
        con.set_write_timeout(Some(IO_TIMEOUT)).map_err(backend)?;
        // The server keeps scripts for every connection: loaded once, and again when it
        // says it lost them (NOSCRIPT).
        let cached = self.shas.lock().clone();
        let sha = match cached {
            Some(sha) => sha,
            None => {
                let sha = load_scripts(&mut con).map_err(backend)?;
                *self.shas.lock() = Some(sha.clone());
                sha
            }
        };
        let mut conn = Conn { con, sha };
        self.settle_dataset(&mut conn)?;
        Ok(conn)
    }

    /// Settles the dataset id with the server (see `store/dataset.lua`) and remembers it.
    fn settle_dataset(&self, conn: &mut Conn) -> Result<Arc<str>, StoreError> {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query(&mut conn.con)
            .map_err(backend)?;
        if info.lines().any(|line| line.trim() == "redis_mode:cluster") {
            // The scripts touch a room's keys and the cluster-wide ones in one step: one
            // server's keys, not a Redis Cluster's slots.
            return Err(StoreError::backend(std::io::Error::other(
                "the history store needs one Redis server (with replicas if you like), not a \
                 Redis Cluster: use store = \"none\" with a Redis Cluster broker",
            )));
        }
        let run = info
            .lines()
            .find_map(|line| line.strip_prefix("run_id:"))
            .unwrap_or("")
            .trim()
            .to_owned();
        let durable = self.every_write_synced(conn);
        let fresh = format!("{:016x}", rand::random::<u64>());
        let settle = |conn: &mut Conn| -> redis::RedisResult<String> {
            redis::cmd("EVALSHA")
                .arg(&conn.sha[DATASET])
                .arg(1)
                .arg(self.keys.dataset())
                .arg(&fresh)
                .arg(&run)
                .arg(if durable { "1" } else { "0" })
                .query(&mut conn.con)
        };
        let id = match settle(conn) {
            // A server that lost the scripts (restarted): load them again, once.
            Err(err) if err.code() == Some("NOSCRIPT") => {
                let sha = load_scripts(&mut conn.con).map_err(backend)?;
                *self.shas.lock() = Some(sha.clone());
                conn.sha = sha;
                settle(conn).map_err(backend)?
            }
            other => other.map_err(backend)?,
        };
        if id == fresh {
            tracing::warn!(
                dataset = %id,
                "redis store: a new dataset id; clients recovering from before it start anew"
            );
        }
        let id: Arc<str> = Arc::from(id);
        *self.dataset.lock() = Some(id.clone());
        Ok(id)
    }

    /// Whether the server syncs every write to disk before answering (AOF, `always`).
    /// `false` if it will not say (`CONFIG` renamed away, as managed services do).
    fn every_write_synced(&self, conn: &mut Conn) -> bool {
        let get = |con: &mut redis::Connection, key: &str| -> Option<String> {
            let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(key).query(con).ok()?;
            pair.get(1).cloned()
        };
        get(&mut conn.con, "appendonly").as_deref() == Some("yes")
            && get(&mut conn.con, "appendfsync").as_deref() == Some("always")
    }

    /// A connection: an idle one, a new one while fewer than [`MAX_OPEN`] are open, or the
    /// next one given back — waiting at most [`IO_TIMEOUT`]. A burst of callers shares the
    /// connections rather than opening one each.
    fn take(&self) -> Result<Conn, StoreError> {
        let deadline = std::time::Instant::now() + IO_TIMEOUT;
        let mut pool = self.pool.lock();
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(conn);
            }
            if pool.open < MAX_OPEN {
                pool.open += 1;
                drop(pool);
                return self.connect().inspect_err(|_| self.discard());
            }
            if self.freed.wait_until(&mut pool, deadline).timed_out() {
                return Err(backend(redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "every connection to the store is busy",
                ))));
            }
        }
    }

    /// Gives a working connection back.
    fn put_back(&self, conn: Conn) {
        self.pool.lock().idle.push(conn);
        self.freed.notify_one();
    }

    /// Forgets a connection that was dropped (broken, or never made).
    fn discard(&self) {
        let mut pool = self.pool.lock();
        pool.open = pool.open.saturating_sub(1);
        drop(pool);
        self.freed.notify_one();
    }

    /// Runs `f` on a pooled connection; a connection whose call failed for anything but
    /// a reply is dropped, and the call is tried once more on another. Every call made
    /// through here is safe to run twice: reads, session writes (the same value again),
    /// markers (a second one changes nothing), and appends (their token).
    fn with<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.take()?;
        match f(&mut conn) {
            Ok(value) => {
                self.put_back(conn);
                Ok(value)
            }
            Err(err) if err.code() == Some("NOSCRIPT") => {
                // The server lost its scripts (restarted, or flushed them): load them again.
                match load_scripts(&mut conn.con) {
                    Ok(sha) => {
                        *self.shas.lock() = Some(sha.clone());
                        conn.sha = sha;
                    }
                    Err(err) => {
                        drop(conn);
                        self.discard();
                        return Err(backend(err));
                    }
                }
                let value = f(&mut conn);
                self.put_back(conn);
                value.map_err(backend)
            }
            Err(err) if err.code().is_some() => {
                self.put_back(conn);
                Err(backend(err))
            }
            Err(err) => {
                drop(conn);
                self.discard();
                if err.is_connection_dropped() || err.is_io_error() {
                    // The server closed the connections meanwhile (restarted, say): the
                    // idle ones are as dead. One new try.
                    let stale = {
                        let mut pool = self.pool.lock();
                        let stale = std::mem::take(&mut pool.idle);
                        pool.open = pool.open.saturating_sub(stale.len());
                        stale
                    };
                    drop(stale);
                    let mut conn = self.take()?;
                    return match f(&mut conn) {
                        Ok(value) => {
                            self.put_back(conn);
                            Ok(value)
                        }
                        Err(err) => {
                            drop(conn);
                            self.discard();
                            Err(backend(err))
                        }
                    };
                }
                Err(backend(err))
            }
        }
    }

    /// The dataset id an append is checked against.
    fn dataset(&self) -> Result<Arc<str>, StoreError> {
        if let Some(id) = self.dataset.lock().clone() {
            return Ok(id);
        }
        let mut conn = self.take()?;
        let settled = self.settle_dataset(&mut conn);
        self.put_back(conn);
        settled
    }

    /// One consistent look at a stream: the dataset id, its last offset, the highest
    /// sequence number retention removed, and what `range` reads of it.
    fn snapshot(
        &self,
        stream: &str,
        range: impl Fn(&mut redis::Pipeline),
    ) -> Result<(Arc<str>, u64, u64, Vec<Entry>), StoreError> {
        let values: Vec<Value> = self.with(|conn| {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("HGET")
                .arg(self.keys.dataset())
                .arg("id")
                .cmd("HMGET")
                .arg(self.keys.meta(stream))
                .arg("offset")
                .arg("trimmed_seq");
            range(&mut pipe);
            pipe.query(&mut conn.con)
        })?;
        let mut values = values.into_iter();
        let (Some(id), Some(meta)) = (values.next(), values.next()) else {
            return Err(malformed("a snapshot's replies"));
        };
        let entries = values.next().unwrap_or(Value::Nil);
        let id: Arc<str> = match id {
            Value::BulkString(id) => Arc::from(String::from_utf8_lossy(&id).as_ref()),
            // The data is gone: settle a new id (the next append would anyway).
            _ => {
                *self.dataset.lock() = None;
                self.dataset()?
            }
        };
        let (last, trimmed_seq) = match meta {
            Value::Array(fields) => {
                let mut numbers = fields.into_iter().map(|v| number(&v).unwrap_or(0));
                (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
            }
            _ => (0, 0),
        };
        Ok((id, last, trimmed_seq, parse_entries(entries)?))
    }
}

/// A number in a reply (Redis answers numbers as integers or as strings).
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(text) => text.parse().ok(),
        _ => None,
    }
}

/// The entries of an `XRANGE` / `XREVRANGE` reply, in the reply's order.
fn parse_entries(reply: Value) -> Result<Vec<Entry>, StoreError> {
    let Value::Array(items) = reply else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(pair) = item else {
            return Err(malformed("a stream entry"));
        };
        let [id, fields] = <[Value; 2]>::try_from(pair).map_err(|_| malformed("a stream entry"))?;
        let offset = match &id {
            Value::BulkString(id) => std::str::from_utf8(id)
                .ok()
                .and_then(|id| id.strip_prefix("0-"))
                .and_then(|n| n.parse::<u64>().ok()),
            _ => None,
        }
        .ok_or_else(|| malformed("a stream entry id"))?;
        let Value::Array(fields) = fields else {
            return Err(malformed("stream entry fields"));
        };
        let (mut event, mut seq) = (None, 0);
        for pair in fields.chunks(2) {
            match pair {
                [Value::BulkString(name), Value::BulkString(bytes)] if name == b"e" => {
                    event = Some(bytes.clone());
                }
                [Value::BulkString(name), value] if name == b"s" => {
                    seq = number(value).unwrap_or(0);
                }
                _ => {}
            }
        }
        let event = event.ok_or_else(|| malformed("a stream entry without its message"))?;
        let event = decode_entry(Bytes::from(event))
            .map_err(|err| malformed(&format!("a stored message: {err}")))?;
        entries.push(Entry { offset, seq, event });
    }
    Ok(entries)
}

impl Store for RedisStore {
    fn append_batch(&self, batch: &[Append]) -> Result<Vec<Stamp>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let encoded: Vec<(Bytes, Bytes)> = batch
            .iter()
            .map(|a| (encode_entry(&a.event), Notice::tail(&a.stream)))
            .collect();
        let token = format!("{}:batch:{:032x}", self.keys.prefix, rand::random::<u128>());
        // One script for the whole batch: stored whole or not at all, and safe to send
        // again (its token) when the connection fails under it.
        let mut attempt = 0;
        let reply: String = loop {
            attempt += 1;
            let dataset = self.dataset()?;
            let sent = self.with(|conn| {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(&conn.sha[APPEND])
                    .arg(4 + 2 * batch.len())
                    .arg(self.keys.dataset())
                    .arg(self.keys.seq())
                    .arg(self.keys.streams())
                    .arg(&token);
                for a in batch {
                    cmd.arg(self.keys.meta(&a.stream))
                        .arg(self.keys.stream(&a.stream));
                }
                cmd.arg(&*dataset).arg(CHANNEL).arg(batch.len());
                for (a, (entry, tail)) in batch.iter().zip(&encoded) {
                    cmd.arg(&entry[..])
                        .arg(&tail[..])
                        .arg(&*a.stream)
                        .arg(a.event.time_ms);
                }
                cmd.query(&mut conn.con)
            });
            match sent {
                Ok(reply) => break reply,
                // The dataset id changed since this node looked: look again, once.
                Err(StoreError::Backend(err))
                    if attempt == 1 && err.to_string().contains("CHORUSSTALE") =>
                {
                    *self.dataset.lock() = None;
                }
                Err(err) => return Err(err),
            }
        };
        let mut words = reply.split(' ');
        let epoch: Arc<str> = Arc::from(words.next().unwrap_or_default());
        let numbers: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
        let stamps: Vec<Stamp> = numbers
            .chunks_exact(2)
            .map(|pair| Stamp {
                offset: pair[0],
                seq: pair[1],
            })
            .collect();
        if stamps.len() != batch.len() {
            return Err(StoreError::ShortBatch {
                sent: batch.len(),
                got: stamps.len(),
            });
        }
        *self.appended.lock() = Some(epoch);
        Ok(stamps)
    }

    fn appended_epoch(&self) -> Option<Arc<str>> {
        self.appended.lock().clone()
    }

    fn position(&self, stream: &str) -> Result<StreamPos, StoreError> {
        let (epoch, offset, _, _) = self.snapshot(stream, |_| {})?;
        Ok(StreamPos { epoch, offset })
    }

    fn read_after(
        &self,
        stream: &str,
        epoch: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let key = self.keys.stream(stream);
        let start = format!("0-{}", after.saturating_add(1));
        let count = limit.clamp(1, i64::MAX as usize);
        let (id, last, _, mut entries) = self.snapshot(stream, |pipe| {
            pipe.cmd("XRANGE")
                .arg(&key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(count);
        })?;
        let pos = StreamPos {
            epoch: id,
            offset: last,
        };
        if epoch.is_some_and(|e| e != &*pos.epoch) {
            return Ok(Page {
                pos,
                entries: Vec::new(),
                truncated: true,
            });
        }
        entries.retain(|e| e.offset <= last);
        let truncated =
            chorus_store::rules::truncated(after, last, entries.first().map(|e| e.offset));
        entries.truncate(limit);
        Ok(Page {
            pos,
            entries,
            truncated,
        })
    }

    fn read_after_seq(
        &self,
        stream: &str,
        epoch: &str,
        after: u64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let key = self.keys.stream(stream);
        let start = format!("0-{}", after.saturating_add(1));
        let (id, last, trimmed_seq, mut page) = self.snapshot(stream, |pipe| {
            pipe.cmd("XRANGE")
                .arg(&key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(READ_PAGE);
        })?;
        let pos = StreamPos {
            epoch: id,
            offset: last,
        };
        if epoch != &*pos.epoch {
            return Ok(Page {
                pos,
                entries: Vec::new(),
                truncated: true,
            });
        }
        let first_kept_after = page.first().map(|e| e.offset);
        let truncated = chorus_store::rules::truncated_after_seq(
            after,
            last,
            first_kept_after,
            trimmed_seq,
            after_seq,
        );
        let mut entries = Vec::new();
        loop {
            let full = page.len() >= READ_PAGE;
            let next = page.last().map(|e| e.offset);
            for entry in page {
                if entry.offset > last || entries.len() >= limit {
                    break;
                }
                if entry.seq > after_seq {
                    entries.push(entry);
                }
            }
            match next {
                Some(next) if full && next < last && entries.len() < limit => {
                    let start = format!("0-{}", next + 1);
                    page = self
                        .with(|conn| {
                            redis::cmd("XRANGE")
                                .arg(&key)
                                .arg(&start)
                                .arg("+")
                                .arg("COUNT")
                                .arg(READ_PAGE)
                                .query(&mut conn.con)
                        })
                        .and_then(parse_entries)?;
                }
                _ => break,
            }
        }
        Ok(Page {
            pos,
            entries,
            truncated,
        })
    }

    fn read_last(&self, stream: &str, n: usize) -> Result<Page, StoreError> {
        let key = self.keys.stream(stream);
        let (id, last, _, mut entries) = self.snapshot(stream, |pipe| {
            pipe.cmd("XREVRANGE")
                .arg(&key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(n.clamp(1, i64::MAX as usize));
        })?;
        let after = chorus_store::rules::last_n_after(last, n);
        entries.retain(|e| e.offset > after && e.offset <= last);
        entries.reverse();
        let truncated =
            chorus_store::rules::truncated(after, last, entries.first().map(|e| e.offset));
        Ok(Page {
            pos: StreamPos {
                epoch: id,
                offset: last,
            },
            entries,
            truncated,
        })
    }

    fn trim(&self, now_ms: u64, retention: &dyn Fn(&str) -> Retention) -> Result<u64, StoreError> {
        let mut streams: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, page): (u64, Vec<String>) = self.with(|conn| {
                redis::cmd("SSCAN")
                    .arg(self.keys.streams())
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut conn.con)
            })?;
            streams.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut removed = 0;
        for stream in streams {
            let keep = retention(&stream);
            let cutoff = chorus_store::rules::age_cutoff_ms(now_ms, keep.max_age);
            loop {
                let n: u64 = self.with(|conn| {
                    redis::cmd("EVALSHA")
                        .arg(&conn.sha[TRIM])
                        .arg(2)
                        .arg(self.keys.meta(&stream))
                        .arg(self.keys.stream(&stream))
                        .arg(keep.max_messages.to_string())
                        .arg(cutoff)
                        .arg(TRIM_STEP)
                        .query(&mut conn.con)
                })?;
                removed += n;
                if n < TRIM_STEP {
                    break;
                }
            }
        }
        loop {
            let n: u64 = self.with(|conn| {
                redis::cmd("EVALSHA")
                    .arg(&conn.sha[SESSIONS])
                    .arg(1)
                    .arg(self.keys.sessions())
                    .arg("trim")
                    .arg(self.keys.session_prefix())
                    .arg(now_ms)
                    .arg(TRIM_STEP)
                    .query(&mut conn.con)
            })?;
            if n < TRIM_STEP {
                break;
            }
        }
        Ok(removed)
    }

    fn write_sessions(&self, writes: &[SessionWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let prefix = self.keys.session_prefix();
        let sessions = self.keys.sessions();
        self.with(|conn| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for write in writes {
                match write {
                    SessionWrite::Put {
                        id,
                        record,
                        expires_ms,
                    } => {
                        let score = expires_ms.map_or_else(|| "+inf".to_owned(), |e| e.to_string());
                        pipe.cmd("SET")
                            .arg(format!("{prefix}{id}"))
                            .arg(&record[..])
                            .ignore()
                            .cmd("ZADD")
                            .arg(&sessions)
                            .arg(score)
                            .arg(&**id)
                            .ignore();
                    }
                    SessionWrite::Touch { id, expires_ms } => {
                        // XX: only a record still there (a deleted one stays deleted).
                        pipe.cmd("ZADD")
                            .arg(&sessions)
                            .arg("XX")
                            .arg(*expires_ms)
                            .arg(&**id)
                            .ignore();
                    }
                    SessionWrite::Delete { id } => {
                        pipe.cmd("DEL")
                            .arg(format!("{prefix}{id}"))
                            .ignore()
                            .cmd("ZREM")
                            .arg(&sessions)
                            .arg(&**id)
                            .ignore();
                    }
                }
            }
            pipe.query::<()>(&mut conn.con)
        })
    }

    fn read_session(&self, id: &str, now_ms: u64) -> Result<Option<Bytes>, StoreError> {
        let (record, score): (Option<Vec<u8>>, Option<String>) = self.with(|conn| {
            redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(format!("{}{id}", self.keys.session_prefix()))
                .cmd("ZSCORE")
                .arg(self.keys.sessions())
                .arg(id)
                .query(&mut conn.con)
        })?;
        let (Some(record), Some(score)) = (record, score) else {
            return Ok(None);
        };
        let expires = match score.as_str() {
            "inf" | "+inf" => None,
            score => Some(
                score
                    .parse::<f64>()
                    .map_err(|_| malformed("a session expiry"))? as u64,
            ),
        };
        if chorus_store::rules::session_expired(expires, now_ms) {
            return Ok(None);
        }
        Ok(Some(Bytes::from(record)))
    }

    fn expire_open_sessions(&self, expires_ms: u64) -> Result<u64, StoreError> {
        self.with(|conn| {
            redis::cmd("EVALSHA")
                .arg(&conn.sha[SESSIONS])
                .arg(1)
                .arg(self.keys.sessions())
                .arg("expire_open")
                .arg(self.keys.session_prefix())
                .arg(expires_ms)
                .query(&mut conn.con)
        })
    }

    fn claim_session(&self, id: &str, record: Bytes, now_ms: u64) -> Result<Bytes, StoreError> {
        let kept: Vec<u8> = self.with(|conn| {
            redis::cmd("EVALSHA")
                .arg(&conn.sha[SESSIONS])
                .arg(1)
                .arg(self.keys.sessions())
                .arg("claim")
                .arg(self.keys.session_prefix())
                .arg(id)
                .arg(&record[..])
                .arg(now_ms)
                .query(&mut conn.con)
        })?;
        Ok(Bytes::from(kept))
    }

    fn announces(&self) -> bool {
        true
    }

    fn mark(&self, stream: &str) -> Result<(), StoreError> {
        let tail = Notice::tail(stream);
        self.with(|conn| {
            redis::cmd("EVALSHA")
                .arg(&conn.sha[MARK])
                .arg(2)
                .arg(self.keys.dataset())
                .arg(self.keys.meta(stream))
                .arg(CHANNEL)
                .arg(&tail[..])
                .query::<()>(&mut conn.con)
        })
    }
}

//! Socket.IO connection-state recovery, backed by the history store.
//!
//! socket.io (≥ 4.6) lets a client that lost its connection come back as the *same* socket:
//! the server's CONNECT answer carries a private session id (`pid`), every broadcast event
//! carries an offset as its last argument, and a reconnecting client sends both back in its
//! CONNECT (`{"pid", "offset"}`); the server restores the socket's id and rooms and replays
//! what it missed, and the client sees `socket.recovered === true`. The reference server
//! keeps all of it in process memory, so a restart loses every session.
//!
//! Chorus keeps it in the store. A socket's *session* — its namespace, id, token subject,
//! and rooms, each room with history with the stream position it was joined at — is a record
//! in the store, written (through the publisher thread, batched with messages) when the
//! socket connects and whenever it joins or leaves a room, and given an expiry when the
//! connection is lost (`max_disconnection` from then). A record still open when the server
//! stopped (a crash) gets that expiry when the next server starts. The offset an event
//! carries is its store-wide sequence number, signed ([`chorus_core::Event::offset`],
//! [`chorus_core::Publisher::recovery_offset`]): since the publisher delivers in sequence
//! order, everything a client received precedes its last offset, so what it missed in each
//! room is exactly the room's messages after the join position whose sequence number is
//! higher — whichever room the last one came from. A room's join position is never moved
//! forward while the socket stays in it (a replay can be lost in a second drop). A room is
//! in the session from the moment the socket joins it; its position, when the room's stream
//! cannot tell it at once (the first join since the server started, a batch of the room in
//! flight), follows from a store read or the room's next delivery, and is recorded even if
//! the connection is lost meanwhile — a session with a room whose position is not known is
//! not restored (the client starts afresh rather than miss messages silently). The
//! replay goes out in sequence order under the publisher's gate
//! ([`chorus_core::Publisher::restore`]): no gap, no duplicate, then live messages.
//!
//! A client that received no stored event yet sends no offset; it missed everything after
//! its joins, which is what sequence number 0 asks for. An offset the server did not sign
//! (an application's own last string argument, which a socket.io client cannot tell from an
//! offset, or one relayed from another client to make it skip messages) is not trusted:
//! that client starts afresh. The signing key is kept in the store like the sessions. So
//! does a client whose session is unknown, expired, in another namespace or of another token subject, or whose missed
//! messages are beyond retention: it gets a new id and `pid`, and `socket.recovered` is
//! false, as socket.io does.
//!
//! On a cluster the store is shared, and a node that dies cannot give its clients' open
//! records their expiry, nor can a node starting tell them from another live node's. So
//! there a connected client's record is not open but *leased* ([`Lease`]): it expires
//! `max_disconnection` plus two renewal periods from now, and its node renews it every
//! period while the socket stays. A node killed stops renewing: its clients can recover on
//! another node for at least `max_disconnection` after its death, and their records expire
//! at most two periods after that.
//!
//! While a client is connected its session is owned by that socket; a client that recovers
//! while the server still holds its old connection (the server has not noticed it is dead)
//! takes the session over, and the old socket is disconnected without touching it.
//!
//! Not restored: per-socket data ([`crate::Socket::insert_data`] holds arbitrary Rust
//! values) and messages that were never stored (rooms without history, broadcasts to
//! everyone or to several rooms, direct emits).
//!
//! * [`session`] — [`Session`](session::Session), one socket's session in memory.
//! * [`record`] — the store's side: session records, the signing key, pids, expiries.

mod record;
mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chorus_core::{ConnId, Publisher, RestoreRoom, SessionWrite, StreamPos};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;

use self::record::{expiry_ms, is_pid, offset_key, Record, RoomRecord};
use self::session::{Owner, Rooms, Session, Since, State};
use crate::events::Socket;

/// How often forgotten sessions are swept from memory, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Disconnect reasons after which a client may come back (socket.io's list): the
/// connection was lost, not closed on purpose.
const RECOVERABLE: [&str; 4] = [
    "transport close",
    "transport error",
    "ping timeout",
    "server shutting down",
];

/// On a store several servers share: how long a connected client's record is kept beyond
/// `max_disconnection`, and how often its server renews it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lease {
    renew_every: Duration,
}

impl Lease {
    /// A renewal period of a tenth of `max_disconnection`, between 1 s and 10 s.
    fn for_max(max_disconnection: Duration) -> Self {
        Self {
            renew_every: (max_disconnection / 10)
                .clamp(Duration::from_secs(1), Duration::from_secs(10)),
        }
    }

    /// The expiry a connected client's record gets now.
    fn expiry(&self, max_disconnection: Duration) -> u64 {
        expiry_ms(max_disconnection + 2 * self.renew_every)
    }
}

/// The recovery sessions of a server.
pub(crate) struct Recovery {
    publisher: Arc<Publisher>,
    max_disconnection: Duration,
    /// On a shared store: connected clients' records are leased, not open.
    lease: Option<Lease>,
    /// Most messages one restore replays, over all rooms: more and the client starts
    /// afresh (its queue could not take them, and the replay is read under the gate).
    max_replay: usize,
    sessions: Mutex<Sessions>,
    generation: AtomicU64,
}

impl std::fmt::Debug for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the sessions: their keys are the clients' secret pids.
        f.debug_struct("Recovery")
            .field("max_disconnection", &self.max_disconnection)
            .field("max_replay", &self.max_replay)
            .field("sessions", &self.sessions.lock().by_pid.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Sessions {
    by_pid: HashMap<Arc<str>, Arc<Session>>,
    last_sweep: Option<Instant>,
}

/// A socket's hold on its session: what `Socket::join`, `leave` and `close` report to.
#[derive(Clone)]
pub(crate) struct SessionLink {
    recovery: Arc<Recovery>,
    session: Arc<Session>,
    generation: u64,
}

impl std::fmt::Debug for SessionLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the pid: it is the client's secret.
        f.debug_struct("SessionLink")
            .field("sid", &self.session.sid)
            .field("generation", &self.generation)
            .finish()
    }
}

/// What a reconnecting client asks for.
pub(crate) struct Claim {
    pid: Arc<str>,
    after_seq: u64,
}

/// A session found for a claim, ready to restore.
pub(crate) struct Found {
    pub(crate) sid: ConnId,
    pub(crate) rooms: Vec<RestoreRoom>,
    pub(crate) after_seq: u64,
    session: Arc<Session>,
}

impl Recovery {
    /// Recovery over `publisher`'s store. Sessions left open by a previous server (it
    /// stopped without telling them) expire `max_disconnection` from now.
    pub(crate) fn start(
        publisher: Arc<Publisher>,
        max_disconnection: Duration,
        max_replay: usize,
    ) -> Arc<Self> {
        let expires = expiry_ms(max_disconnection);
        // A store a cluster shares holds the open sessions of other nodes' clients too:
        // this node starting must not expire them.
        let shared = publisher.store().announces();
        let expired = if shared {
            Ok(0)
        } else {
            publisher.store().expire_open_sessions(expires)
        };
        match expired {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                sessions = n,
                "socket.io sessions of the previous run may recover"
            ),
            Err(err) => tracing::warn!(%err, "cannot read the previous run's socket.io sessions"),
        }
        publisher.set_offset_key(offset_key(&publisher));
        let lease = shared.then(|| Lease::for_max(max_disconnection));
        let recovery = Arc::new(Self {
            publisher,
            max_disconnection,
            max_replay,
            lease,
            sessions: Mutex::new(Sessions::default()),
            generation: AtomicU64::new(1),
        });
        if let Some(lease) = lease {
            let weak = Arc::downgrade(&recovery);
            let renewing = std::thread::Builder::new()
                .name("chorus-session-lease".into())
                .spawn(move || loop {
                    std::thread::sleep(lease.renew_every);
                    let Some(recovery) = weak.upgrade() else {
                        return;
                    };
                    recovery.renew();
                });
            if let Err(err) = renewing {
                tracing::error!(%err, "cannot start renewing socket.io sessions");
            }
        }
        recovery
    }

    /// The expiry a connected client's record gets: none (open) on a store of this server's
    /// own, a lease on a shared one.
    fn open_expiry(&self) -> Option<u64> {
        self.lease.map(|lease| lease.expiry(self.max_disconnection))
    }

    /// Renews the lease of every session a socket of this server holds.
    fn renew(&self) {
        let Some(expires_ms) = self.open_expiry() else {
            return;
        };
        let held: Vec<Arc<str>> = self
            .sessions
            .lock()
            .by_pid
            .values()
            .filter(|session| matches!(session.state.lock().owner, Owner::Socket(_)))
            .map(|session| session.pid.clone())
            .collect();
        for id in held {
            self.publisher
                .write_session(SessionWrite::Touch { id, expires_ms }, None);
        }
    }

    /// Most messages one restore replays, over all rooms.
    pub(crate) fn max_replay(&self) -> usize {
        self.max_replay
    }

    /// What a CONNECT's `auth` claims: `pid` and `offset` (socket.io-client adds them to
    /// the application's auth object). `None` when it claims nothing we can trust.
    pub(crate) fn claim(&self, auth: Option<&RawValue>) -> Option<Claim> {
        #[derive(Deserialize)]
        struct Auth {
            pid: Option<serde_json::Value>,
            offset: Option<serde_json::Value>,
        }
        let auth: Auth = serde_json::from_str(auth?.get()).ok()?;
        let pid = match auth.pid? {
            serde_json::Value::String(pid) if is_pid(&pid) => pid,
            _ => return None,
        };
        let after_seq = match auth.offset {
            None | Some(serde_json::Value::Null) => 0,
            Some(serde_json::Value::String(offset)) => {
                self.publisher.verify_recovery_offset(&offset)?
            }
            Some(_) => return None,
        };
        Some(Claim {
            pid: Arc::from(pid),
            after_seq,
        })
    }

    /// The session a claim names, if the client may have it back: known (here or in the
    /// store), unexpired, in namespace `nsp`, for the same token subject, and not being
    /// restored or opened for another claim right now. A session still held by a connected
    /// socket is taken over: that socket is disconnected. The session is then the claim's
    /// until [`Recovery::own`], [`Recovery::release`] or [`Recovery::forget`].
    pub(crate) fn find(&self, claim: Claim, nsp: &str, sub: Option<&str>) -> Option<Found> {
        let session = match self.in_memory(&claim.pid) {
            Some(session) => session,
            None => self.read_stored(&claim.pid)?,
        };
        if &*session.nsp != nsp || session.sub.as_deref() != sub {
            return None;
        }
        let old = {
            let mut state = session.state.lock();
            if state
                .disconnected
                .is_some_and(|at| at.elapsed() > self.max_disconnection)
            {
                return None;
            }
            // A room joined just before the connection was lost, its position still on its
            // way (or never told): what the client missed there cannot be told.
            if state.rooms.any_pending() {
                return None;
            }
            let old = match state.owner {
                Owner::Nobody => None,
                // Another claim of the same pid is under way.
                Owner::Claimed => return None,
                Owner::Socket(_) => match state.socket.upgrade() {
                    Some(old) => Some(old),
                    // Its socket is still being opened: not now.
                    None => return None,
                },
            };
            // The old socket's close, when it comes, leaves the session alone.
            state.owner = Owner::Claimed;
            state.socket = Weak::new();
            old
        };
        if let Some(old) = old {
            // The server had not noticed the old connection was gone (or someone else has
            // the pid): that socket is told it is disconnected, and leaves the session be.
            Socket { inner: old }.disconnect();
        }
        let rooms = session
            .state
            .lock()
            .rooms
            .iter()
            .map(|(room, since)| RestoreRoom {
                room: room.clone(),
                since: since.position().cloned(),
            })
            .collect();
        Some(Found {
            sid: session.sid,
            rooms,
            after_seq: claim.after_seq,
            session,
        })
    }

    fn in_memory(&self, pid: &str) -> Option<Arc<Session>> {
        self.sessions.lock().by_pid.get(pid).cloned()
    }

    /// Reads a session a previous server left in the store, and keeps it in memory.
    fn read_stored(&self, pid: &Arc<str>) -> Option<Arc<Session>> {
        let now = chorus_core::publisher::now_ms();
        let bytes = match self.publisher.store().read_session(pid, now) {
            Ok(found) => found?,
            Err(err) => {
                tracing::warn!(%err, "cannot read a socket.io session");
                return None;
            }
        };
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        let rooms = record
            .rooms
            .into_iter()
            .map(|r| {
                let since = match r.epoch {
                    _ if r.pending => Since::Pending(0),
                    Some(epoch) => Since::At(StreamPos {
                        epoch: Arc::from(epoch),
                        offset: r.offset,
                    }),
                    None => Since::Live,
                };
                (Arc::from(r.room), since)
            })
            .collect();
        let session = Arc::new(Session {
            pid: pid.clone(),
            nsp: Arc::from(record.nsp),
            sid: record.sid.parse().ok()?,
            sub: record.sub.map(Arc::from),
            state: Mutex::new(State {
                rooms,
                tickets: 0,
                owner: Owner::Nobody,
                socket: Weak::new(),
                // Its expiry is the store's: it was read unexpired.
                disconnected: Some(Instant::now()),
            }),
        });
        // Another connection may have read it meanwhile: keep the first.
        let mut sessions = self.sessions.lock();
        Some(
            sessions
                .by_pid
                .entry(pid.clone())
                .or_insert(session)
                .clone(),
        )
    }

    /// A new session for a socket that could not be restored.
    pub(crate) fn create(
        self: &Arc<Self>,
        nsp: Arc<str>,
        sid: ConnId,
        sub: Option<Arc<str>>,
    ) -> Arc<Session> {
        let pid: Arc<str> = Arc::from(format!("{:032x}", rand::random::<u128>()));
        let session = Arc::new(Session {
            pid: pid.clone(),
            nsp,
            sid,
            sub,
            state: Mutex::new(State {
                rooms: Rooms::default(),
                tickets: 0,
                owner: Owner::Claimed,
                socket: Weak::new(),
                disconnected: None,
            }),
        });
        self.sessions.lock().by_pid.insert(pid, session.clone());
        session
    }

    /// A claim that could not be restored for now (the old socket was still there, the
    /// store failed): the session goes back to waiting for its client, as it was.
    pub(crate) fn release(&self, found: Found) {
        let session = found.session;
        {
            let mut state = session.state.lock();
            if state.owner != Owner::Claimed {
                return;
            }
            state.owner = Owner::Nobody;
            state.disconnected.get_or_insert_with(Instant::now);
        }
        let expires = expiry_ms(self.max_disconnection);
        self.save(&session, Some(expires));
    }

    /// A restore that failed: the session is dropped (the client gets a new one).
    pub(crate) fn forget(&self, found: Found) {
        let pid = found.session.pid.clone();
        self.sessions.lock().by_pid.remove(&pid);
        self.publisher
            .write_session(SessionWrite::Delete { id: pid }, None);
    }

    /// Gives a new or restored `session` to the socket being opened, and saves it. The
    /// socket is named with [`SessionLink::set_socket`] once it exists.
    pub(crate) fn own(self: &Arc<Self>, session: &Arc<Session>) -> SessionLink {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = session.state.lock();
            state.owner = Owner::Socket(generation);
            state.disconnected = None;
        }
        // A failed racing claim may have dropped it meanwhile.
        self.sessions
            .lock()
            .by_pid
            .insert(session.pid.clone(), session.clone());
        let link = SessionLink {
            recovery: self.clone(),
            session: session.clone(),
            generation,
        };
        self.save(session, self.open_expiry());
        self.sweep();
        link
    }

    /// Writes a session's record, open (`None`) or expiring (lost, or leased).
    fn save(&self, session: &Session, expires_ms: Option<u64>) {
        let record = {
            let state = session.state.lock();
            Record {
                nsp: session.nsp.to_string(),
                sid: session.sid.to_string(),
                sub: session.sub.as_deref().map(str::to_owned),
                rooms: state
                    .rooms
                    .iter()
                    .map(|(room, since)| RoomRecord {
                        room: room.to_string(),
                        epoch: since.position().map(|p| p.epoch.to_string()),
                        offset: since.position().map_or(0, |p| p.offset),
                        pending: matches!(since, Since::Pending(_)),
                    })
                    .collect(),
            }
        };
        let record = serde_json::to_vec(&record).expect("a session record serialises");
        self.publisher.write_session(
            SessionWrite::Put {
                id: session.pid.clone(),
                record: record.into(),
                expires_ms,
            },
            None,
        );
    }

    /// Forgets, in memory, sessions whose client did not come back in time (the store's
    /// retention pass removes their records).
    fn sweep(&self) {
        let mut sessions = self.sessions.lock();
        if sessions
            .last_sweep
            .is_some_and(|at| at.elapsed() < SWEEP_EVERY)
        {
            return;
        }
        sessions.last_sweep = Some(Instant::now());
        let max = self.max_disconnection;
        sessions.by_pid.retain(|_, session| {
            session
                .state
                .lock()
                .disconnected
                .is_none_or(|at| at.elapsed() <= max)
        });
    }
}

/// A join in progress in a session ([`SessionLink::joining`]): told where it started, or
/// dropped untold if it did not happen (the room is taken out again).
pub(crate) struct RoomJoin {
    link: SessionLink,
    room: Arc<str>,
    ticket: u32,
    told: bool,
}

impl RoomJoin {
    /// The join started at `pos` in the room's stream (`None`: a room without history).
    pub(crate) fn started(mut self, pos: Option<StreamPos>) {
        self.told = true;
        let since = pos.map_or(Since::Live, Since::At);
        self.link.settle(&self.room, self.ticket, since);
    }

    /// Where the join started cannot be told (the store failed): the session is not
    /// restored while the socket is in the room.
    pub(crate) fn unknown(mut self) {
        self.told = true;
        self.link.settle(&self.room, self.ticket, Since::Pending(0));
    }
}

impl Drop for RoomJoin {
    fn drop(&mut self) {
        if !self.told {
            let mut state = self.link.session.state.lock();
            state.rooms.abandon(&self.room, self.ticket);
        }
    }
}

impl Found {
    /// The session's private id.
    pub(crate) fn pid(&self) -> &str {
        &self.session.pid
    }

    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl SessionLink {
    /// The id the client sends back to recover.
    pub(crate) fn pid(&self) -> &Arc<str> {
        &self.session.pid
    }

    /// Names the socket that owns the session, so a client taking it over can disconnect
    /// it.
    pub(crate) fn set_socket(&self, socket: &Socket) {
        let mut state = self.session.state.lock();
        if state.owner == Owner::Socket(self.generation) {
            state.socket = Arc::downgrade(&socket.inner);
        }
    }

    /// The socket is joining `room`: the session has it at once, its position pending until
    /// the returned [`RoomJoin`] is told it — so a connection lost before then keeps the
    /// room. `None` if the session is in the room already (its first position stays:
    /// messages after it may still be on their way to the client), or is no longer this
    /// socket's.
    pub(crate) fn joining(&self, room: &str) -> Option<RoomJoin> {
        let mut state = self.session.state.lock();
        if state.owner != Owner::Socket(self.generation) {
            return None;
        }
        let ticket = state.tickets.wrapping_add(1).max(1);
        state.tickets = ticket;
        state
            .rooms
            .insert(room, Since::Pending(ticket))
            .then(|| RoomJoin {
                link: self.clone(),
                room: Arc::from(room),
                ticket,
                told: false,
            })
    }

    /// The join of `ticket` to `room` starts at `since`: saved, with the expiry the
    /// session has if the connection was lost meanwhile.
    fn settle(&self, room: &str, ticket: u32, since: Since) {
        let expires = {
            let mut state = self.session.state.lock();
            if !state.rooms.settle(room, ticket, since) {
                return;
            }
            match (state.owner, state.disconnected) {
                (Owner::Socket(generation), _) if generation == self.generation => {
                    self.recovery.open_expiry()
                }
                (Owner::Nobody, Some(at)) => {
                    let left = self.recovery.max_disconnection.saturating_sub(at.elapsed());
                    Some(expiry_ms(left))
                }
                // Ended, or someone else's now: nothing to save for this socket.
                _ => return,
            }
        };
        self.recovery.save(&self.session, expires);
    }

    /// The socket left `room`.
    pub(crate) fn left(&self, room: &str) {
        let mut removed = false;
        let owned = self.update(|rooms| removed = rooms.remove(room));
        if owned && removed {
            self.recovery
                .save(&self.session, self.recovery.open_expiry());
        }
    }

    /// The socket disconnected for `reason`: a lost connection keeps the session for
    /// `max_disconnection`, anything else ends it.
    pub(crate) fn closed(&self, reason: &str) {
        let recovery = &self.recovery;
        {
            let mut state = self.session.state.lock();
            if state.owner != Owner::Socket(self.generation) {
                return;
            }
            state.owner = Owner::Nobody;
            state.socket = Weak::new();
            if RECOVERABLE.contains(&reason) {
                state.disconnected = Some(Instant::now());
            }
        }
        if RECOVERABLE.contains(&reason) {
            let expires = expiry_ms(recovery.max_disconnection);
            recovery.save(&self.session, Some(expires));
        } else {
            recovery.sessions.lock().by_pid.remove(&self.session.pid);
            recovery.publisher.write_session(
                SessionWrite::Delete {
                    id: self.session.pid.clone(),
                },
                None,
            );
        }
    }

    /// Changes the rooms if this socket still owns the session.
    fn update(&self, f: impl FnOnce(&mut Rooms)) -> bool {
        let mut state = self.session.state.lock();
        if state.owner != Owner::Socket(self.generation) {
            return false;
        }
        f(&mut state.rooms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    const PID: &str = "0123456789abcdef0123456789abcdef";

    fn recovery() -> Arc<Recovery> {
        let store = Arc::new(chorus_store::MemoryStore::default());
        let rules = chorus_core::HistoryRules::all(chorus_core::Retention::default());
        let publisher = Publisher::start(store, rules);
        Recovery::start(publisher, Duration::from_secs(60), 100)
    }

    #[test]
    fn claims() {
        let recovery = recovery();
        let claim = |json: &str| recovery.claim(Some(&raw(json))).map(|c| c.after_seq);
        // No stored event received yet: everything after the joins.
        assert_eq!(claim(&format!(r#"{{"pid":"{PID}"}}"#)), Some(0));
        assert_eq!(
            claim(&format!(r#"{{"pid":"{PID}","offset":null,"token":"x"}}"#)),
            Some(0)
        );
        // An application's own last argument is not an offset, nor is one made up.
        assert_eq!(
            claim(&format!(r#"{{"pid":"{PID}","offset":"hello"}}"#)),
            None
        );
        assert_eq!(claim(&format!(r#"{{"pid":"{PID}","offset":"42"}}"#)), None);
        assert_eq!(
            claim(&format!(
                r#"{{"pid":"{PID}","offset":"42-00ff00ff00ff00ff"}}"#
            )),
            None
        );
        assert_eq!(claim(&format!(r#"{{"pid":"{PID}","offset":7}}"#)), None);
        // One the server signed stands for its sequence number.
        let offset = recovery.publisher.recovery_offset(42).unwrap();
        assert_eq!(
            claim(&format!(r#"{{"pid":"{PID}","offset":"{offset}"}}"#)),
            Some(42)
        );
        let forged = offset.replace("42-", "43-");
        assert_eq!(
            claim(&format!(r#"{{"pid":"{PID}","offset":"{forged}"}}"#)),
            None
        );
        assert_eq!(claim(r#"{"pid":"nope"}"#), None);
        assert_eq!(claim(r#"{"offset":"1-ab"}"#), None);
        assert_eq!(claim("[1,2]"), None);
        assert!(recovery.claim(None).is_none());
    }
}

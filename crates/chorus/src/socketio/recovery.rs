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
//! carries is its store-wide sequence number ([`chorus_core::Event::recovery_offset`]):
//! since the publisher delivers in sequence order, everything a client received precedes
//! its last offset, so what it missed in each room is exactly the room's messages after
//! the join position whose sequence number is higher — whichever room the last one came
//! from. The replay goes out in sequence order under the publisher's gate
//! ([`chorus_core::Publisher::restore`]): no gap, no duplicate, then live messages.
//!
//! A client that received no stored event yet sends no offset; it missed everything after
//! its joins, which is what sequence number 0 asks for. An offset that is not one of ours
//! (an application's own last string argument, which a socket.io client cannot tell from an
//! offset) is not trusted: that client starts afresh. So does a client whose session is
//! unknown, expired, in another namespace or of another token subject, or whose missed
//! messages are beyond retention: it gets a new id and `pid`, and `socket.recovered` is
//! false, as socket.io does.
//!
//! While a client is connected its session is owned by that socket; a client that recovers
//! while the server still holds its old connection (the server has not noticed it is dead)
//! takes the session over, and the old socket is disconnected without touching it.
//!
//! Not restored: per-socket data ([`crate::Socket::insert_data`] holds arbitrary Rust
//! values) and messages that were never stored (rooms without history, broadcasts to
//! everyone or to several rooms, direct emits).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chorus_core::{ConnId, Publisher, RestoreRoom, SessionWrite, StreamPos};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::io::Socket;

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

/// The recovery sessions of a server.
#[derive(Debug)]
pub(crate) struct Recovery {
    publisher: Arc<Publisher>,
    max_disconnection: Duration,
    sessions: Mutex<Sessions>,
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct Sessions {
    by_pid: HashMap<Arc<str>, Arc<Session>>,
    last_sweep: Option<Instant>,
}

/// One socket's session.
pub(crate) struct Session {
    pid: Arc<str>,
    nsp: Arc<str>,
    sid: ConnId,
    sub: Option<Arc<str>>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Rooms, with the position each room with history was joined (or restored) at.
    rooms: BTreeMap<Arc<str>, Option<StreamPos>>,
    /// The socket that owns the session now (its generation), and that socket.
    owner: u64,
    socket: Weak<crate::io::SocketInner>,
    /// When the connection was lost; `None` while connected.
    disconnected: Option<Instant>,
}

/// A socket's hold on its session: what `Socket::join`, `leave` and `close` report to.
#[derive(Clone)]
pub(crate) struct SessionLink {
    recovery: Arc<Recovery>,
    session: Arc<Session>,
    generation: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the pid: it is the client's secret.
        f.debug_struct("Session")
            .field("nsp", &self.nsp)
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
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

/// A session as the store keeps it.
#[derive(Serialize, Deserialize)]
struct Record {
    nsp: String,
    sid: String,
    sub: Option<String>,
    rooms: Vec<RoomRecord>,
}

#[derive(Serialize, Deserialize)]
struct RoomRecord {
    room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    epoch: Option<String>,
    #[serde(default)]
    offset: u64,
}

impl Recovery {
    /// Recovery over `publisher`'s store. Sessions left open by a previous server (it
    /// stopped without telling them) expire `max_disconnection` from now.
    pub(crate) fn start(publisher: Arc<Publisher>, max_disconnection: Duration) -> Arc<Self> {
        let expires = chorus_core::publisher::now_ms() + millis(max_disconnection);
        match publisher.store().expire_open_sessions(expires) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                sessions = n,
                "socket.io sessions of the previous run may recover"
            ),
            Err(err) => tracing::warn!(%err, "cannot read the previous run's socket.io sessions"),
        }
        Arc::new(Self {
            publisher,
            max_disconnection,
            sessions: Mutex::new(Sessions::default()),
            generation: AtomicU64::new(1),
        })
    }

    /// Most messages replayed per room: the room's retention.
    pub(crate) fn limit(&self, room: &str) -> usize {
        self.publisher
            .retention(room)
            .map_or(0, |r| usize::try_from(r.max_messages).unwrap_or(usize::MAX))
    }

    /// The publisher sessions are restored through.
    pub(crate) fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// What a CONNECT's `auth` claims: `pid` and `offset` (socket.io-client adds them to
    /// the application's auth object). `None` when it claims nothing we can trust.
    pub(crate) fn claim(auth: Option<&RawValue>) -> Option<Claim> {
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
            Some(serde_json::Value::String(offset)) => chorus_core::parse_recovery_offset(&offset)?,
            Some(_) => return None,
        };
        Some(Claim {
            pid: Arc::from(pid),
            after_seq,
        })
    }

    /// The session a claim names, if the client may have it back: known (here or in the
    /// store), unexpired, in namespace `nsp`, for the same token subject. A session still
    /// held by a connected socket is taken over: that socket is disconnected.
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
            // Nobody owns it until it is restored; the old socket's close does not count.
            state.owner = 0;
            std::mem::take(&mut state.socket).upgrade()
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
                since: since.clone(),
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
                let since = r.epoch.map(|epoch| StreamPos {
                    epoch: Arc::from(epoch),
                    offset: r.offset,
                });
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
                owner: 0,
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
                rooms: BTreeMap::new(),
                owner: 0,
                socket: Weak::new(),
                disconnected: None,
            }),
        });
        self.sessions.lock().by_pid.insert(pid, session.clone());
        session
    }

    /// A restore that failed: the session is dropped (the client gets a new one).
    pub(crate) fn forget(&self, found: Found) {
        let pid = found.session.pid.clone();
        self.sessions.lock().by_pid.remove(&pid);
        self.publisher
            .write_session(SessionWrite::Delete { id: pid }, None);
    }

    /// Gives `session` to the socket being opened, restored into `rooms` (each room with
    /// history at the position it was restored at; none for a new session), and saves it.
    /// The socket is named with [`SessionLink::set_socket`] once it exists.
    pub(crate) fn own(
        self: &Arc<Self>,
        session: &Arc<Session>,
        rooms: &[(Arc<str>, StreamPos)],
    ) -> SessionLink {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = session.state.lock();
            state.owner = generation;
            state.disconnected = None;
            for (room, pos) in rooms {
                state.rooms.insert(room.clone(), Some(pos.clone()));
            }
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
        link.save(None);
        self.sweep();
        link
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
        if state.owner == self.generation {
            state.socket = Arc::downgrade(&socket.inner);
        }
    }

    /// The socket joined `room`; `pos` is the room's position then, for a room with
    /// history.
    pub(crate) fn joined(&self, room: &str, pos: Option<StreamPos>) {
        if self.update(|rooms| {
            rooms.insert(Arc::from(room), pos);
        }) {
            self.save(None);
        }
    }

    /// The socket left `room`.
    pub(crate) fn left(&self, room: &str) {
        if self.update(|rooms| {
            rooms.remove(room);
        }) {
            self.save(None);
        }
    }

    /// The socket disconnected for `reason`: a lost connection keeps the session for
    /// `max_disconnection`, anything else ends it.
    pub(crate) fn closed(&self, reason: &str) {
        let recovery = &self.recovery;
        {
            let mut state = self.session.state.lock();
            if state.owner != self.generation {
                return;
            }
            state.owner = 0;
            state.socket = Weak::new();
            if RECOVERABLE.contains(&reason) {
                state.disconnected = Some(Instant::now());
            }
        }
        if RECOVERABLE.contains(&reason) {
            let expires = chorus_core::publisher::now_ms() + millis(recovery.max_disconnection);
            self.save(Some(expires));
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
    fn update(&self, f: impl FnOnce(&mut BTreeMap<Arc<str>, Option<StreamPos>>)) -> bool {
        let mut state = self.session.state.lock();
        if state.owner != self.generation {
            return false;
        }
        f(&mut state.rooms);
        true
    }

    /// Writes the session's record, open (`None`) or expiring.
    fn save(&self, expires_ms: Option<u64>) {
        let session = &self.session;
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
                        epoch: since.as_ref().map(|p| p.epoch.to_string()),
                        offset: since.as_ref().map_or(0, |p| p.offset),
                    })
                    .collect(),
            }
        };
        let record = serde_json::to_vec(&record).expect("a session record serialises");
        self.recovery.publisher.write_session(
            SessionWrite::Put {
                id: session.pid.clone(),
                record: record.into(),
                expires_ms,
            },
            None,
        );
    }
}

/// A pid we could have made: 32 lowercase hex digits.
fn is_pid(pid: &str) -> bool {
    pid.len() == 32 && pid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    const PID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn claims() {
        let claim = |json: &str| Recovery::claim(Some(&raw(json))).map(|c| c.after_seq);
        assert_eq!(
            claim(&format!(r#"{{"pid":"{PID}","offset":"42-00ff"}}"#)),
            Some(42)
        );
        // No stored event received yet: everything after the joins.
        assert_eq!(claim(&format!(r#"{{"pid":"{PID}"}}"#)), Some(0));
        assert_eq!(
            claim(&format!(r#"{{"pid":"{PID}","offset":null,"token":"x"}}"#)),
            Some(0)
        );
        // An application's own last argument is not an offset.
        assert_eq!(
            claim(&format!(r#"{{"pid":"{PID}","offset":"hello"}}"#)),
            None
        );
        assert_eq!(claim(&format!(r#"{{"pid":"{PID}","offset":"42"}}"#)), None);
        assert_eq!(claim(&format!(r#"{{"pid":"{PID}","offset":7}}"#)), None);
        assert_eq!(claim(r#"{"pid":"nope","offset":"1-ab"}"#), None);
        assert_eq!(claim(r#"{"offset":"1-ab"}"#), None);
        assert_eq!(claim("[1,2]"), None);
        assert!(Recovery::claim(None).is_none());
    }
}

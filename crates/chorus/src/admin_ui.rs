//! The official Socket.IO admin UI (`@socket.io/admin-ui`, its hosted page or its own
//! static files) against chorus: the `/admin` namespace speaking the UI's protocol, as the
//! package's `instrument(io)` does for a Node server.
//!
//! * Login: the UI's CONNECT carries `{username, password}` (then the `sessionId` it was
//!   given); anything else is refused with `invalid credentials`. Off unless
//!   `admin_ui_password` is set.
//! * On connection the UI gets `config` (the features it may use), `all_sockets` (every
//!   socket of every namespace, on every node of a cluster) and, every 2 s,
//!   `server_stats` (uptime, connections, each namespace's sockets).
//! * As things happen: `socket_connected`, `socket_disconnected`, `room_joined`,
//!   `room_left`, `event_received` and `event_sent` (each socket's `on_any` and
//!   `on_any_outgoing`).
//! * The UI's actions — `emit`, `join`, `leave`, `_disconnect`, on a namespace and
//!   optionally a room — run through the library's calls on every node.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chorus_core::EventData;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::config::Secret;
use crate::events::socket::Watcher;
use crate::events::{ConnectError, Data, Io, Socket};
use crate::session::socketio::Namespaces;

/// The namespace the UI connects to.
const NAMESPACE: &str = "/admin";
/// How often the UI gets `server_stats`.
const STATS_EVERY: Duration = Duration::from_secs(2);
/// Most login sessions remembered (the oldest is forgotten first).
const MAX_SESSIONS: usize = 256;
/// The features the UI may offer (the package's names).
const FEATURES: [&str; 9] = [
    "EMIT",
    "JOIN",
    "LEAVE",
    "DISCONNECT",
    "MJOIN",
    "MLEAVE",
    "MDISCONNECT",
    "AGGREGATED_EVENTS",
    "ALL_EVENTS",
];

/// The admin UI's side of a server.
struct Admin {
    io: Io,
    namespaces: Arc<Namespaces>,
    username: String,
    password: Secret,
    /// Session ids given to the UI after a login, newest last.
    sessions: Mutex<VecDeque<String>>,
    started: Instant,
    /// Connections and disconnections since the last stats, by second (the UI's
    /// `aggregatedEvents`: its connection chart).
    events: Mutex<Vec<Aggregated>>,
}

/// A count of one kind of event in one second, as the UI charts it.
struct Aggregated {
    /// The second, in milliseconds since the Unix epoch.
    timestamp: i64,
    kind: &'static str,
    sub: Option<String>,
    count: u64,
}

/// Answers the admin UI on `/admin` of the server whose namespaces are `namespaces`.
pub(crate) fn install(
    admin_io: Io,
    namespaces: Arc<Namespaces>,
    username: String,
    password: Secret,
) -> AdminUi {
    let admin = Arc::new(Admin {
        io: admin_io.clone(),
        namespaces: namespaces.clone(),
        username,
        password,
        sessions: Mutex::new(VecDeque::new()),
        started: Instant::now(),
        events: Mutex::new(Vec::new()),
    });
    let checking = Arc::downgrade(&admin);
    admin_io.middleware(move |handshake| {
        let Some(admin) = checking.upgrade() else {
            return Err(ConnectError::new("invalid credentials"));
        };
        let auth: Value = handshake.auth().and_then(Result::ok).unwrap_or(Value::Null);
        if admin.admits(&auth) {
            Ok(())
        } else {
            Err(ConnectError::new("invalid credentials"))
        }
    });
    let greeting = Arc::downgrade(&admin);
    admin_io.on_connection(move |socket| {
        if let Some(admin) = greeting.upgrade() {
            admin.greet(socket);
        }
    });
    let watching = Arc::downgrade(&admin);
    namespaces.watch(Arc::new(move |io: &Io| {
        if let Some(admin) = watching.upgrade() {
            io.watch(Arc::new(Watch {
                admin: Arc::downgrade(&admin),
                ns: io.name().to_string(),
            }));
        }
    }));
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let admin = Arc::downgrade(&admin);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(STATS_EVERY);
            loop {
                tick.tick().await;
                let Some(admin) = admin.upgrade() else { return };
                let _ = admin.io.emit("server_stats", &admin.stats());
            }
        });
    }
    AdminUi(admin)
}

/// The admin UI's side of a server, kept by the server (its handlers hold it weakly).
pub(crate) struct AdminUi(#[allow(dead_code)] Arc<Admin>);

impl std::fmt::Debug for AdminUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminUi")
    }
}

/// Sends `event` with several arguments (`args`, a JSON array) to everyone of `io`.
fn emit_many(io: &Io, event: &str, args: Value) {
    let Ok(args) = serde_json::value::to_raw_value(&args) else {
        return;
    };
    io.all().emit_args(
        event,
        Data::new(EventData::Args {
            args,
            attachments: Vec::new(),
        }),
    );
}

impl Admin {
    /// Whether a CONNECT's `auth` is the UI's login, or a session it was given.
    fn admits(&self, auth: &Value) -> bool {
        if let Some(id) = auth.get("sessionId").and_then(Value::as_str) {
            if self.sessions.lock().iter().any(|s| s == id) {
                return true;
            }
        }
        let username = auth.get("username").and_then(Value::as_str).unwrap_or("");
        let password = auth.get("password").and_then(Value::as_str).unwrap_or("");
        same(username.as_bytes(), self.username.as_bytes())
            & same(password.as_bytes(), self.password.expose().as_bytes())
    }

    /// A UI that just connected: its session (after a login), its handlers, the config and
    /// every socket.
    fn greet(self: &Arc<Self>, socket: &Socket) {
        let auth: Value = socket
            .handshake()
            .auth()
            .and_then(Result::ok)
            .unwrap_or(Value::Null);
        if auth.get("username").is_some() {
            let id = format!("{:032x}", rand::random::<u128>());
            {
                let mut sessions = self.sessions.lock();
                if sessions.len() >= MAX_SESSIONS {
                    sessions.pop_front();
                }
                sessions.push_back(id.clone());
            }
            let _ = socket.emit("session", &id);
        }
        self.handle_actions(socket);
        let _ = socket.emit("config", &json!({ "supportedFeatures": FEATURES }));
        let admin = self.clone();
        let ui = socket.clone();
        tokio::spawn(async move {
            let sockets = admin.all_sockets().await;
            let _ = ui.emit("all_sockets", &sockets);
        });
    }

    /// The UI's actions, on a namespace and, if given, a room: through the library's calls
    /// on every node.
    fn handle_actions(self: &Arc<Self>, socket: &Socket) {
        let namespaces = self.namespaces.clone();
        let target = move |data: &Data, room_at: usize| {
            let args = data.parse::<Vec<Value>>().ok()?;
            let io = namespaces.get(args.first()?.as_str()?)?;
            let filter = args.get(room_at).and_then(Value::as_str).map(str::to_owned);
            let emitter = match &filter {
                Some(room) => io.to(room),
                None => io.all(),
            };
            Some((emitter, args))
        };
        let target = Arc::new(target);
        let t = target.clone();
        socket.on("emit", move |_, data, _| {
            // (nsp, filter, event, ...args)
            let Some((emitter, args)) = t(&data, 1) else {
                return;
            };
            let Some(event) = args.get(2).and_then(Value::as_str) else {
                return;
            };
            let Ok(rest) = serde_json::value::to_raw_value(&args[3..]) else {
                return;
            };
            emitter.emit_args(
                event,
                Data::new(EventData::Args {
                    args: rest,
                    attachments: Vec::new(),
                }),
            );
        });
        for (action, join) in [("join", true), ("leave", false)] {
            let t = target.clone();
            socket.on(action, move |_, data, _| {
                // (nsp, room, filter)
                let Some((emitter, args)) = t(&data, 2) else {
                    return;
                };
                let Some(room) = args.get(1).and_then(Value::as_str).map(str::to_owned) else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = if join {
                        emitter.sockets_join(&room).await
                    } else {
                        emitter.sockets_leave(&room).await
                    };
                });
            });
        }
        let t = target;
        socket.on("_disconnect", move |_, data, _| {
            // (nsp, close, filter)
            let Some((emitter, _)) = t(&data, 2) else {
                return;
            };
            tokio::spawn(async move {
                let _ = emitter.disconnect_sockets().await;
            });
        });
    }

    /// Every socket of every namespace, on every node, as the UI shows them.
    async fn all_sockets(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for io in self.namespaces.all() {
            let ns = io.name().to_string();
            let Ok(sockets) = io.fetch_sockets().await else {
                continue;
            };
            for remote in sockets {
                let here = remote
                    .id
                    .parse()
                    .ok()
                    .filter(|_| remote.node.is_none())
                    .and_then(|id| io.socket(id));
                out.push(match here {
                    Some(socket) => serialize(&socket, &ns),
                    None => json!({
                        "id": &*remote.id, "clientId": &*remote.id, "transport": "websocket",
                        "nsp": ns, "data": remote.data.unwrap_or(json!({})),
                        "handshake": {"address": "", "headers": {}, "query": {},
                                      "issued": 0, "secure": false, "time": "", "url": "",
                                      "xdomain": false},
                        "rooms": remote.rooms.iter().map(|r| &**r).collect::<Vec<_>>(),
                    }),
                });
            }
        }
        out
    }

    /// Counts one event of `kind` now, for the next stats.
    fn count(&self, kind: &'static str, sub: Option<&str>) {
        self.count_by(kind, sub, 1);
    }

    /// Counts `n` of `kind` now, for the next stats.
    fn count_by(&self, kind: &'static str, sub: Option<&str>, n: u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let timestamp = now - now % 1000;
        let mut events = self.events.lock();
        if let Some(e) = events
            .iter_mut()
            .find(|e| e.timestamp == timestamp && e.kind == kind && e.sub.as_deref() == sub)
        {
            e.count += n;
        } else if events.len() < 1024 {
            events.push(Aggregated {
                timestamp,
                kind,
                sub: sub.map(str::to_owned),
                count: n,
            });
        }
    }

    /// Clients connected now: each connection once, whatever namespaces it joined (as
    /// socket.io counts Engine.IO clients).
    fn clients(&self) -> usize {
        let mut connections: Vec<*const chorus_core::Mailbox> = self
            .namespaces
            .all()
            .iter()
            .flat_map(|io| io.sockets())
            .map(|socket| Arc::as_ptr(socket.peer().mailbox()))
            .collect();
        connections.sort_unstable();
        connections.dedup();
        connections.len()
    }

    /// What `server_stats` says now.
    fn stats(&self) -> Value {
        let hostname = hostname();
        let namespaces: Vec<Value> = self
            .namespaces
            .all()
            .iter()
            .map(|io| json!({"name": &**io.name(), "socketsCount": io.sockets().len()}))
            .collect();
        json!({
            "serverId": hostname,
            "hostname": hostname,
            "pid": std::process::id(),
            "uptime": self.started.elapsed().as_secs_f64(),
            "clientsCount": self.clients(),
            "pollingClientsCount": 0,
            "aggregatedEvents": std::mem::take(&mut *self.events.lock())
                .into_iter()
                .map(|e| json!({"timestamp": e.timestamp, "type": e.kind,
                                "subType": e.sub, "count": e.count}))
                .collect::<Vec<_>>(),
            "namespaces": namespaces,
        })
    }
}

/// What the UI hears of one namespace.
struct Watch {
    admin: Weak<Admin>,
    ns: String,
}

impl Watcher for Watch {
    fn connected(&self, socket: &Socket) {
        let Some(admin) = self.admin.upgrade() else {
            return;
        };
        emit_many(
            &admin.io,
            "socket_connected",
            json!([serialize(socket, &self.ns), now()]),
        );
        if self.ns != NAMESPACE {
            admin.count("rawConnection", None);
        }
        let ns = self.ns.clone();
        let io = admin.io.clone();
        let counting = self.admin.clone();
        socket.on_disconnect(move |socket, reason| {
            if let Some(admin) = counting.upgrade().filter(|_| ns != NAMESPACE) {
                admin.count("rawDisconnection", Some(reason));
            }
            emit_many(
                &io,
                "socket_disconnected",
                json!([ns, socket.id().to_string(), reason, now()]),
            );
        });
        if self.ns == NAMESPACE {
            return;
        }
        let (ns, io) = (self.ns.clone(), admin.io.clone());
        let counting = self.admin.clone();
        socket.on_any(move |socket, event, data| {
            if let Some(admin) = counting.upgrade() {
                admin.count("packetsIn", None);
                admin.count_by("bytesIn", None, size_of(event, data));
            }
            emit_many(
                &io,
                "event_received",
                json!([ns, socket.id().to_string(), args_of(event, data), now()]),
            );
        });
        let (ns, io) = (self.ns.clone(), admin.io.clone());
        let counting = self.admin.clone();
        socket.on_any_outgoing(move |socket, event, data| {
            if let Some(admin) = counting.upgrade() {
                admin.count("packetsOut", None);
                admin.count_by("bytesOut", None, size_of(event, data));
            }
            emit_many(
                &io,
                "event_sent",
                json!([ns, socket.id().to_string(), args_of(event, data), now()]),
            );
        });
    }

    fn room(&self, socket: &Socket, room: &str, joined: bool) {
        let Some(admin) = self.admin.upgrade() else {
            return;
        };
        let event = if joined { "room_joined" } else { "room_left" };
        emit_many(
            &admin.io,
            event,
            json!([self.ns, room, socket.id().to_string(), now()]),
        );
    }
}

/// About how many bytes an event is on the wire: its name, its JSON and its binary parts
/// (the packet's framing left out).
fn size_of(event: &str, data: &Data) -> u64 {
    let (args, attachments) = data.to_args();
    let binary: usize = attachments.iter().map(bytes::Bytes::len).sum();
    (event.len() + args.get().len() + binary) as u64
}

/// An event as the UI lists it: its name, then its arguments.
fn args_of(event: &str, data: &Data) -> Value {
    let mut args = vec![Value::String(event.to_owned())];
    args.extend(
        data.args()
            .iter()
            .map(|a| serde_json::from_str(a.get()).unwrap_or(Value::Null)),
    );
    Value::Array(args)
}

/// A socket as the UI shows it (the package's `serialize`).
fn serialize(socket: &Socket, ns: &str) -> Value {
    let handshake = socket.handshake();
    let headers: serde_json::Map<String, Value> = handshake
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_owned(),
                Value::String(v.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    let id = socket.id().to_string();
    let since = socket
        .inner
        .connected_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut rooms = vec![id.clone()];
    rooms.extend(socket.rooms().iter().map(|r| r.to_string()));
    json!({
        "id": id,
        "clientId": id,
        "transport": if socket.is_socketio() { "websocket" } else { "native" },
        "nsp": ns,
        "data": {},
        "handshake": {
            "address": handshake.remote_addr().map(|a| a.ip().to_string()).unwrap_or_default(),
            "headers": headers,
            "query": {},
            "issued": since,
            "secure": false,
            "time": iso8601(since),
            "url": "",
            "xdomain": false,
        },
        "rooms": rooms,
    })
}

/// Compares two byte strings in time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The machine's name, for `server_stats`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "chorus".to_owned())
}

/// Now as ISO 8601 in UTC, as JavaScript's `JSON.stringify(new Date())` writes it.
fn now() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    iso8601(ms)
}

fn iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_javascript_writes_them() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        // Checked against Python's datetime.fromtimestamp(…, timezone.utc).
        assert_eq!(iso8601(1_796_675_460_276), "2026-12-07T20:31:00.276Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn credentials_are_compared_whole() {
        assert!(same(b"admin", b"admin"));
        assert!(!same(b"admin", b"admim"));
        assert!(!same(b"admin", b"admin2"));
    }
}

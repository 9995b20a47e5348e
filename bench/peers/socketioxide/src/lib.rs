//! Shared code of the two socketioxide benchmark peers (Socket.IO v5 protocol / Engine.IO v4,
//! socketioxide on axum + tokio):
//! * `socketioxide-peer` (src/main.rs): a single server, socketioxide's default local adapter;
//! * `socketioxide-redis-peer` (src/bin/socketioxide-redis-peer.rs): one node of a cluster, with
//!   socketioxide-redis's adapter, so that `to` also reaches room members connected to the
//!   other nodes.
//!
//! Events (default namespace `/`, path `/socket.io/`):
//! * `join(room)` — the socket joins `room`; if the client asked for an ack: `{ room }`.
//! * `to(room, event, ...args)` — `socket.to(room).emit(event, ...args)`: every member of
//!   `room` except the sender; if the client asked for an ack: `{ delivered: n }`, n being the
//!   number of other members of the room connected to this server (see [`on_connect`]).
//!
//! The per-message code here is generic (over the adapter, or serde's (de)serializer), so it is
//! monomorphized, and optimized, in each binary: the local peer compiles to the same code as
//! when it all lived in main.rs.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::serve::ListenerExt;
use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeTuple, Serializer};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef, State};
use socketioxide::socket::Sid;
use socketioxide::SocketIoBuilder;

/// Arguments of a `to` event: `(room, event, ...args)`.
///
/// socketioxide hands a handler only the first argument unless the target type deserializes
/// as a tuple, so this deserializes as a tuple of any length. The forwarded arguments are kept
/// as `rmpv::Value` (the generic type socketioxide recommends when payloads may be binary:
/// unlike `serde_json::Value` it keeps binary attachments binary).
struct ToArgs {
    room: String,
    event: String,
    args: Vec<rmpv::Value>,
}

impl<'de> Deserialize<'de> for ToArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ToArgsVisitor;
        impl<'de> Visitor<'de> for ToArgsVisitor {
            type Value = ToArgs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("(room, event, ...args)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ToArgs, A::Error> {
                let room = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let event = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element()? {
                    args.push(arg);
                }
                Ok(ToArgs { room, event, args })
            }
        }
        deserializer.deserialize_tuple(usize::MAX, ToArgsVisitor)
    }
}

/// Serializes as a tuple so socketioxide emits each element as a separate argument
/// (a `Vec` would be emitted as one array argument).
struct EmitArgs<'a>(&'a [rmpv::Value]);

impl Serialize for EmitArgs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for arg in self.0 {
            tuple.serialize_element(arg)?;
        }
        tuple.end()
    }
}

#[derive(serde::Serialize)]
struct JoinAck<'a> {
    room: &'a str,
}

#[derive(serde::Serialize)]
struct ToAck {
    delivered: usize,
}

/// Room sizes for the `delivered` count of the `to` ack.
///
/// socketioxide's public API has no O(1) "how many sockets are in this room" (the closest,
/// `socket.to(room).sockets().len()`, walks the room and clones a handle per member), so the
/// peer keeps its own counts, updated on `join` and on disconnect: one short-held mutex and
/// two hash lookups per ack.
#[derive(Default)]
pub struct RoomSizes {
    size: HashMap<String, usize>,
    joined: HashMap<Sid, Vec<String>>,
}

/// The shared [`RoomSizes`], given to the handlers as socketioxide state.
pub type Rooms = Arc<Mutex<RoomSizes>>;

/// Per-connection handler of the default namespace: registers `join`, `to` and disconnect.
///
/// The `delivered` count of the `to` ack comes from this process's own [`RoomSizes`], i.e. it
/// counts the room members connected to *this* server only. With the local adapter that is
/// every member; with the Redis adapter the members on the other nodes also receive the event
/// but are not counted (knowing them would take a request/response round over Redis to every
/// node per ack).
pub async fn on_connect<A: Adapter>(socket: SocketRef<A>) {
    socket.on(
        "join",
        async |socket: SocketRef<A>,
               Data(room): Data<String>,
               ack: AckSender<A>,
               State(rooms): State<Rooms>| {
            socket.join(room.clone());
            {
                let mut r = rooms.lock().unwrap();
                let RoomSizes { size, joined } = &mut *r;
                let mine = joined.entry(socket.id).or_default();
                if !mine.contains(&room) {
                    mine.push(room.clone());
                    *size.entry(room.clone()).or_default() += 1;
                }
            }
            let _ = ack.send(&JoinAck { room: &room });
        },
    );

    socket.on(
        "to",
        async |socket: SocketRef<A>,
               Data(to): Data<ToArgs>,
               ack: AckSender<A>,
               State(rooms): State<Rooms>| {
            // Errors (a reserved event name, a full per-socket buffer, with the Redis adapter a
            // failed PUBLISH) are not fatal for the peer. With the Redis adapter this future
            // completes once the PUBLISH has been answered by Redis, then sends locally.
            let _ = socket
                .to(to.room.clone())
                .emit(&to.event, &EmitArgs(&to.args))
                .await;
            let delivered = {
                let r = rooms.lock().unwrap();
                let members = r.size.get(&to.room).copied().unwrap_or(0);
                let me = r
                    .joined
                    .get(&socket.id)
                    .is_some_and(|mine| mine.contains(&to.room));
                members - usize::from(me)
            };
            let _ = ack.send(&ToAck { delivered });
        },
    );

    socket.on_disconnect(async |socket: SocketRef<A>, State(rooms): State<Rooms>| {
        let mut r = rooms.lock().unwrap();
        if let Some(mine) = r.joined.remove(&socket.id) {
            for room in mine {
                if let Some(n) = r.size.get_mut(&room) {
                    *n -= 1;
                    if *n == 0 {
                        r.size.remove(&room);
                    }
                }
            }
        }
    });
}

/// `PORT` from the environment, default 9001.
pub fn port_from_env() -> u16 {
    std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001)
}

/// The peer's Socket.IO settings, shared by both binaries, plus the [`Rooms`] state.
///
/// No compression: socketioxide/engineioxide never negotiate permessage-deflate and have no
/// HTTP compression layer unless one is added.
pub fn configure<A: Adapter>(builder: SocketIoBuilder<A>) -> SocketIoBuilder<A> {
    builder
        .req_path("/socket.io")
        // Largest accepted Engine.IO packet: room for a 1 MiB payload plus the Socket.IO envelope
        // (same limit as the Node socket.io peer's maxHttpBufferSize).
        .max_payload(2 * 1024 * 1024)
        .ws_max_message_size(2 * 1024 * 1024)
        // Per-connection outgoing packet queue. The default (128 packets) makes emit() drop
        // packets for a socket whose queue is full; the other peers never drop (Node's
        // socket.io buffers without bound), so make it effectively unbounded here too. tokio's
        // bounded channel allocates lazily, so a large capacity costs nothing up front.
        .max_buffer_size(1 << 20)
        .with_state(Rooms::default())
}

/// Serves `app` on 127.0.0.1:`port` (TCP_NODELAY on every accepted socket) until SIGINT.
pub async fn serve(app: axum::Router, port: u16, name: &str) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"))
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    println!("{name} listening on http://{addr}/socket.io/");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .unwrap();
}

//! The event level, the socket.io way: `io.on_connection`, `socket.on("event")`,
//! `socket.emit`, rooms, broadcasts and acks.
//!
//! An [`Io`] is the event layer of one namespace: `/` (which native `/ws` clients and
//! Socket.IO clients share, rooms included) or a named Socket.IO namespace
//! (`server.of("/admin")`). Each client is a [`Socket`], whatever protocol it speaks: what
//! differs per protocol is handed in by the session as a [`wire::Wire`]. Handlers are plain
//! closures that run on the connection's task: they may emit, join, reply and spawn, but
//! should not block. Emits never wait — they queue on each recipient's bounded queue.
//!
//! * [`io`] — [`Io`]: a namespace's sockets, handlers, middlewares and broadcasts.
//! * [`socket`] — [`Socket`]: one client; handlers, emits, rooms, acks, disconnect.
//! * [`emitter`] — [`Emitter`]: a broadcast being built (rooms, exclusions, volatile).
//! * [`dynamic`] — [`DynamicIo`]: a family of namespaces made on demand.
//! * [`handshake`] — [`Handshake`], what a client said when it connected, and the
//!   middlewares' [`ConnectError`].
//! * [`data`] — [`Data`]: an event's data, parsed only when asked.
//! * [`error`] — [`EmitError`].
//! * [`ack`] — [`Ack`], the answer to a client's event, and the table of the server's own
//!   emits awaiting the client's answer.
//! * [`wire`] — what a socket's protocol does for the event layer.
//! * [`layer`] — what the event layer does when an op asks (a broadcast with acks, a
//!   disconnect, rooms changed), for the core namespace.
//! * [`everywhere`] — what a server does to sockets on every node of its cluster
//!   (`fetch_sockets`, `sockets_join`, …) and server-side events between the servers.
//! * [`gather`] — broadcasts with acks: every socket's answer, on every node.

pub(crate) mod ack;
pub(crate) mod data;
pub(crate) mod dynamic;
pub(crate) mod emitter;
pub(crate) mod error;
pub(crate) mod everywhere;
pub(crate) mod gather;
pub(crate) mod handshake;
pub(crate) mod io;
pub(crate) mod layer;
pub(crate) mod socket;
pub(crate) mod wire;

pub use ack::{Ack, AckError};
pub use data::Data;
pub use dynamic::DynamicIo;
pub use emitter::{Emitter, Sent};
pub use error::EmitError;
pub use everywhere::{ClusterError, RemoteSocket};
pub use gather::GatherError;
pub use handshake::{ConnectError, Handshake};
pub(crate) use socket::close;
pub(crate) use socket::EventFn;
pub use socket::Io;
pub use socket::Socket;

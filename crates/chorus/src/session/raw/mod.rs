//! Plain WebSocket, the `ws` way: endpoints with handlers, and raw rooms.
//!
//! * [`endpoint`] — a [`RawEndpoint`] is a path with [`RawHandlers`] — on connection, on
//!   text, on binary, on close, on error — and a [`Conn`] handle per client to send, close,
//!   and keep per-connection data. This is the library's raw level, the counterpart of
//!   `new WebSocket.Server(...)` and `wss.on('connection', ...)`.
//! * [`room`] — raw rooms, what `chorus serve` does on every path it does not claim: each
//!   path is a room, and every message a client sends goes to every client in that room
//!   (the sender too, unless `echo_to_sender` is off), with the binary flag kept. The
//!   seeds' own pages work against it unchanged. A room named in `raw_room_history` also
//!   keeps its messages (stored before they go out, like any room with history) and gives
//!   a client that enters its last `raw_room_replay` ones first, as plain messages.
//! * [`format`] — the plain WebSocket wire format (a raw client receives plain messages
//!   only).

pub(crate) mod endpoint;
pub(crate) mod format;
pub(crate) mod room;

pub use endpoint::{Conn, RawEndpoint, RawHandlers};

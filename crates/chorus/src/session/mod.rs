//! Sessions: each protocol turns a client's frames into calls of the event layer and the
//! hub, and the hub's messages into the client's frames.
//!
//! * [`raw`] — plain WebSocket: library endpoints with handlers, and raw rooms (every path
//!   `chorus serve` does not claim).
//! * [`native`] — the native JSON protocol at `/ws` (`docs/protocol.md`).
//! * [`engineio`] — Engine.IO v4: long-polling and WebSocket sessions, the upgrade, the
//!   heartbeat; under Socket.IO and raw Engine.IO endpoints.
//! * [`socketio`] — Socket.IO v5 over Engine.IO: namespaces, events, acks, recovery, and
//!   the built-in events of `chorus serve`.
//! * [`context`] — [`Context`], what a session's set-up needs from the server.
//!
//! A session's set-up (`open` in each) checks the handshake and the token, registers the
//! client with the hub *before* the `101` goes out (so nothing sent after the client sees
//! its socket open can miss it), and spawns the connection with the session in it.

pub(crate) mod context;
pub(crate) mod engineio;
pub(crate) mod native;
pub(crate) mod raw;
pub(crate) mod socketio;

pub(crate) use context::Context;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle connection pays for its task, so its size is bounded here for each
    /// session a server spawns (with the admission slot the spawned task also holds): a
    /// change that lets it grow back (an `async` block, a codec, a timer or a buffer held
    /// inline, a larger session) fails this test instead of showing up only in a
    /// benchmark run. What the future holds: the inlet's few words (see `crate::wire::inlet`),
    /// the outlet, the queue, settings, the rate bucket and the session. (It was 992 bytes
    /// when the codec read every connection, 872 of them the codec's; 200 with a timer
    /// per connection and a session inline.)
    #[test]
    fn every_connection_task_fits_a_256_byte_tokio_cell() {
        use crate::wire::connection::{Connection, TASK_FUTURE_BUDGET};
        use crate::wire::socket::{HttpIo, Upgrading};
        fn task<T>() -> usize {
            std::mem::size_of::<Connection<HttpIo, Upgrading, T>>()
                + std::mem::size_of::<Option<std::sync::Arc<crate::wire::listener::ConnSlot>>>()
        }
        let sizes = [
            ("raw room", task::<raw::room::RoomSession>()),
            ("raw endpoint", task::<raw::endpoint::EndpointSession>()),
            ("native", task::<Box<native::NativeSession>>()),
            ("engine.io", task::<engineio::session::WsCarrier>()),
        ];
        for (session, size) in sizes {
            assert!(size <= TASK_FUTURE_BUDGET, "{session}: {size} bytes");
        }
    }
}

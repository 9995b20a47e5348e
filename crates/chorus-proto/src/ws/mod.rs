//! WebSocket frames (RFC 6455 §5), sans-IO: a server's decoder of client frames and the
//! header of the frames it writes.
//!
//! Bytes in, frames out: [`Decoder::decode`] takes whatever bytes have arrived, unmasks and
//! checks the frame at their start, and says how many bytes it used or how many more it
//! needs. It never reads a socket and never buffers the stream itself, so the transport
//! decides where bytes live (the server reads every socket into one buffer per thread and
//! keeps bytes only for a frame still arriving), and a fuzzer can cut the stream anywhere.
//!
//! The checks are RFC 6455's for a server without extensions (§5.2–§5.5, §7.4; a connection
//! that negotiated permessage-deflate is read by a codec that inflates, not by this):
//! client frames are masked, reserved bits and opcodes unused, control frames short and
//! unfragmented, continuations in order, text UTF-8 (checked fragment by fragment, and
//! inside a frame still arriving, so a message fails as soon as it cannot be valid), close
//! frames well-formed with a code a peer may send. Sizes are checked from the header, before
//! a byte of the payload is kept.
//!
//! * [`frame`] — [`Frame`] and [`OpCode`]: a message or a control frame, as the transport
//!   handles it.
//! * [`decode`] — [`Decoder`]: the frame at the start of the bytes, reassembling fragments.
//! * [`header`] — [`Header`]: the 2–10 bytes in front of a frame the server writes; and
//!   [`client_frame`], a whole frame as a client writes it.
//! * [`error`] — [`FrameError`], each with the close code it is answered with.

pub mod decode;
pub mod error;
pub mod frame;
pub mod header;
mod mask;

pub use decode::{Decoder, Limits, Step};
pub use error::FrameError;
pub use frame::{Frame, OpCode};
pub use header::{client_frame, Header};
pub use mask::unmask;

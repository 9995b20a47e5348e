//! [`Frame`]: one complete message or control frame, and its [`OpCode`].

use bytes::Bytes;

/// What a frame carries (RFC 6455 §5.2; 0x3–0x7 and 0xB–0xF are reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// The continuation of a fragmented message.
    Continuation,
    /// A text message (UTF-8).
    Text,
    /// A binary message.
    Binary,
    /// The closing handshake.
    Close,
    /// A ping, answered with a pong carrying the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl OpCode {
    /// The opcode of a frame's first byte's low four bits; `None` for a reserved one.
    pub fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The four bits on the wire.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// True for close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A complete message (all its fragments) or a control frame, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    opcode: OpCode,
    payload: Bytes,
}

impl Frame {
    /// A frame of any kind. The decoder only makes frames it has checked; a frame made
    /// here to be written is the writer's to get right.
    pub fn new(opcode: OpCode, payload: Bytes) -> Self {
        Self { opcode, payload }
    }

    /// A text message; `payload` must be UTF-8.
    pub fn text(payload: Bytes) -> Self {
        Self::new(OpCode::Text, payload)
    }

    /// A binary message.
    pub fn binary(payload: Bytes) -> Self {
        Self::new(OpCode::Binary, payload)
    }

    /// A ping.
    pub fn ping(payload: Bytes) -> Self {
        Self::new(OpCode::Ping, payload)
    }

    /// A pong.
    pub fn pong(payload: Bytes) -> Self {
        Self::new(OpCode::Pong, payload)
    }

    /// A close frame with `code` and `reason`, the reason cut to fit a control frame's 125
    /// bytes (at a character boundary). Code 1005 ("no status") is never sent: it makes a
    /// close frame with no payload.
    pub fn close(code: u16, reason: &str) -> Self {
        if code == 1005 {
            return Self::new(OpCode::Close, Bytes::new());
        }
        let reason = truncate_reason(reason);
        let mut payload = Vec::with_capacity(2 + reason.len());
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(reason.as_bytes());
        Self::new(OpCode::Close, Bytes::from(payload))
    }

    /// The frame's kind.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The payload, taken.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }

    /// A close frame's status code; `None` for a close frame without one (or another kind
    /// of frame).
    pub fn close_code(&self) -> Option<u16> {
        match (self.opcode, &self.payload[..]) {
            (OpCode::Close, [hi, lo, ..]) => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        }
    }

    /// A close frame's reason (empty without one); `None` if it is not UTF-8 (the decoder
    /// never returns such a frame).
    pub fn close_reason(&self) -> Option<&str> {
        match (self.opcode, &self.payload[..]) {
            (OpCode::Close, [_, _, reason @ ..]) => std::str::from_utf8(reason).ok(),
            (OpCode::Close, _) => Some(""),
            _ => None,
        }
    }
}

/// Most bytes of a close reason: a control frame carries 125 bytes, two of them the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// `reason` cut to [`MAX_CLOSE_REASON`] bytes at a character boundary.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip_and_reserved_ones_are_none() {
        for bits in 0..16u8 {
            match OpCode::from_bits(bits) {
                Some(op) => assert_eq!(op.bits(), bits),
                None => assert!(matches!(bits, 0x3..=0x7 | 0xB..=0xF), "{bits}"),
            }
        }
    }

    #[test]
    fn close_frames_carry_code_and_a_reason_that_fits() {
        let frame = Frame::close(1000, "bye");
        assert_eq!(frame.close_code(), Some(1000));
        assert_eq!(frame.close_reason(), Some("bye"));
        let long = "é".repeat(100);
        let frame = Frame::close(1001, &long);
        assert!(frame.payload().len() <= 125);
        assert!(
            frame.close_reason().is_some(),
            "cut at a character boundary"
        );
        let none = Frame::close(1005, "ignored");
        assert!(none.payload().is_empty());
        assert_eq!(none.close_code(), None);
        assert_eq!(none.close_reason(), Some(""));
    }
}

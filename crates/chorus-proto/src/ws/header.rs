//! [`Header`]: the bytes in front of a frame the server writes (§5.2): final, unmasked,
//! the shortest length form.

use super::OpCode;

/// A server frame's header, kept inline (every queued frame has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    bytes: [u8; 10],
    len: u8,
}

impl Header {
    /// The header of a final, unmasked frame of `opcode` with `payload_len` bytes.
    pub fn new(opcode: OpCode, payload_len: usize) -> Self {
        let mut bytes = [0u8; 10];
        bytes[0] = 0x80 | opcode.bits();
        let len = if payload_len < 126 {
            bytes[1] = payload_len as u8;
            2
        } else if let Ok(short) = u16::try_from(payload_len) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
            10
        };
        Self { bytes, len }
    }

    /// No header: bytes written as they are (what another encoder already framed).
    pub const fn none() -> Self {
        Self {
            bytes: [0; 10],
            len: 0,
        }
    }

    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// How many bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for [`Header::none`].
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_shortest_length_form() {
        let sizes = [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)];
        for (len, header_len) in sizes {
            let header = Header::new(OpCode::Binary, len);
            assert_eq!(header.len(), header_len, "{len}");
            assert_eq!(header.as_bytes()[0], 0x82);
        }
        assert_eq!(Header::new(OpCode::Text, 2).as_bytes(), &[0x81, 2]);
        assert_eq!(
            Header::new(OpCode::Text, 300).as_bytes(),
            &[0x81, 126, 1, 44]
        );
        assert!(Header::none().is_empty());
    }
}

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

/// A client's frame as it is on the wire (§5.3): `first` as given (FIN, reserved bits and
/// opcode — whatever a test or a client wants to send), the mask bit set, the shortest
/// length form, and `payload` masked with `mask`. What a client writes; the server never
/// does.
pub fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let header = Header::new(OpCode::Binary, payload.len());
    let mut out = Vec::with_capacity(header.len() + 4 + payload.len());
    out.push(first);
    out.push(0x80 | header.as_bytes()[1]);
    out.extend_from_slice(&header.as_bytes()[2..]);
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    super::unmask(&mut out[start..], mask);
    out
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

    #[test]
    fn a_client_frame_is_masked_with_the_header_as_given() {
        let frame = client_frame(0x81, b"Hi", [1, 2, 3, 4]);
        assert_eq!(frame, [0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2]);
        let long = client_frame(0x02, &[0; 300], [9, 9, 9, 9]);
        assert_eq!(&long[..8], &[0x02, 0x80 | 126, 1, 44, 9, 9, 9, 9]);
        assert!(long[8..].iter().all(|&b| b == 9));
    }
}

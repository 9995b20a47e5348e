//! The binary frame layout: `u32` big-endian header length, JSON header, raw payload.
//!
//! A binary event keeps its bytes as they are (no base64 inflation) and still carries the
//! same JSON header a text command would.

use bytes::{BufMut, Bytes, BytesMut};

/// Largest JSON header accepted in a binary frame.
pub const MAX_HEADER: usize = 64 * 1024;

/// Why a binary frame's layout is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Fewer than four bytes: no header length.
    #[error("binary frame shorter than its 4-byte header length")]
    NoLength,
    /// The header length points past the end of the frame.
    #[error("binary frame header length exceeds the frame")]
    Truncated,
    /// The header length is over [`MAX_HEADER`].
    #[error("binary frame header over 64 KiB")]
    HeaderTooLarge,
    /// The header is not UTF-8.
    #[error("binary frame header is not UTF-8")]
    NotUtf8,
}

/// Splits a binary frame into its JSON header text and its payload (sharing `frame`).
pub fn split(frame: &Bytes) -> Result<(&str, Bytes), LayoutError> {
    let len_bytes: [u8; 4] = frame
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(LayoutError::NoLength)?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_HEADER {
        return Err(LayoutError::HeaderTooLarge);
    }
    let end = 4 + len;
    let header = frame.get(4..end).ok_or(LayoutError::Truncated)?;
    let header = std::str::from_utf8(header).map_err(|_| LayoutError::NotUtf8)?;
    Ok((header, frame.slice(end..)))
}

/// Lays out a binary frame from a header and a payload.
pub fn encode(header: &[u8], payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + header.len() + payload.len());
    out.put_u32(u32::try_from(header.len()).expect("header length fits in u32"));
    out.put_slice(header);
    out.put_slice(payload);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let frame = encode(b"{\"a\":1}", b"\xde\xad");
        let (header, payload) = split(&frame).unwrap();
        assert_eq!(header, "{\"a\":1}");
        assert_eq!(&payload[..], b"\xde\xad");
    }

    #[test]
    fn rejects_bad_layouts() {
        assert_eq!(
            split(&Bytes::from_static(b"\x00")),
            Err(LayoutError::NoLength)
        );
        assert_eq!(
            split(&Bytes::from_static(b"\x00\x00\x00\x05{}")),
            Err(LayoutError::Truncated)
        );
        assert_eq!(
            split(&Bytes::from_static(b"\x00\x02\x00\x00")),
            Err(LayoutError::HeaderTooLarge)
        );
        assert_eq!(
            split(&Bytes::from_static(b"\x00\x00\x00\x01\xff")),
            Err(LayoutError::NotUtf8)
        );
    }
}

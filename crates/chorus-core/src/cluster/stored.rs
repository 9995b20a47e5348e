//! A stored message as a cluster's shared store keeps it and announces it.
//!
//! On a cluster, a room with history has one stream in a store every node shares, and the
//! store numbers its messages: the append and the announcement to every node are one atomic
//! step there (a Redis script appends to the stream, numbers it and publishes it on the
//! broker's channel), so the order nodes hear messages in is the order of their offsets.
//! The announcement is a [`Notice`]; the message inside it, and in the stream, is an
//! *entry* — a [`StoredEvent`] in the binary form of this module ([`encode_entry`]).
//!
//! A notice's head is written by the store's script, which knows the offset, the sequence
//! number and the epoch only as it appends; it is kept simple enough to write there:
//!
//! ```text
//! 0x02 | len | offset (ASCII digits) | len | seq (ASCII digits) | len | epoch
//!      | stream (LEB128 length, UTF-8) | entry
//! ```
//!
//! The first byte tells a notice from an [`super::Envelope`] (whose version byte is 1).
//! The stream name and the entry are encoded here and handed to the script as they are.
//!
//! A [`Marker`] is a stream's position, published by the store on the same channel when a
//! node asks (`0x03 | len | offset | len | epoch | stream`): every notice of the stream up
//! to that offset comes before it, so a node that did not know where a stream stands learns
//! it in order with the stream's messages — not from a read that may be ahead of them.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::envelope::{put_bytes, put_len, EnvelopeError, Reader};
use crate::{DataKind, StoredEvent, StreamPos};

/// The first byte of a notice.
pub const NOTICE: u8 = 2;
/// The first byte of a marker.
pub const MARKER: u8 = 3;

/// Most binary attachments one stored event carries.
const MAX_ATTACHMENTS: u64 = 4096;

// Entry kinds.
const JSON: u8 = 0;
const BINARY: u8 = 1;
const ARGS: u8 = 2;

// Entry flags.
const HAS_FROM: u8 = 1;
const HAS_EXCEPT: u8 = 2;

/// A message the shared store appended, as every node hears of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its stream (namespace and room: see [`crate::publisher::stream_name`]).
    pub stream: Arc<str>,
    /// Where the store put it.
    pub pos: StreamPos,
    /// Its store-wide sequence number.
    pub seq: u64,
    /// The message.
    pub event: StoredEvent,
}

impl Notice {
    /// Whether `bytes` is a notice rather than an envelope.
    pub fn is_notice(bytes: &[u8]) -> bool {
        bytes.first() == Some(&NOTICE)
    }

    /// The stream a notice (not a marker) is about, read from its head alone (no entry
    /// decoded): enough to drop a notice of a room nobody here hears.
    pub fn peek_stream(bytes: &[u8]) -> Option<&str> {
        let mut at = 1;
        for _ in 0..3 {
            let n = usize::from(*bytes.get(at)?);
            at += 1 + n;
        }
        let mut len = 0usize;
        for shift in (0..35).step_by(7) {
            let byte = *bytes.get(at)?;
            at += 1;
            len |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return std::str::from_utf8(bytes.get(at..at.checked_add(len)?)?).ok();
            }
        }
        None
    }

    /// What the store's script appends to the head it writes: the stream's name, then the
    /// entry.
    pub fn tail(stream: &str) -> Bytes {
        let mut out = BytesMut::with_capacity(stream.len() + 5);
        put_bytes(&mut out, stream.as_bytes());
        out.freeze()
    }

    /// The whole notice, as the store's script writes it (for tests and fuzzing: the
    /// script is the writer that counts).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u8(NOTICE);
        for field in [
            self.pos.offset.to_string().as_bytes(),
            self.seq.to_string().as_bytes(),
            self.pos.epoch.as_bytes(),
        ] {
            out.put_u8(u8::try_from(field.len()).expect("a short field"));
            out.put_slice(field);
        }
        out.put_slice(&Notice::tail(&self.stream));
        out.put_slice(&encode_entry(&self.event));
        out.freeze()
    }

    /// Reads a notice; the entry's data are slices of `bytes`.
    pub fn decode(bytes: Bytes) -> Result<Notice, EnvelopeError> {
        let mut r = Reader(bytes);
        let tag = r.u8()?;
        if tag != NOTICE {
            return Err(EnvelopeError::Tag {
                what: "notice",
                tag,
            });
        }
        let offset = digits(&mut r, "offset")?;
        let seq = digits(&mut r, "sequence number")?;
        let epoch = short(&mut r)?;
        let epoch = std::str::from_utf8(&epoch)
            .map(Arc::from)
            .map_err(|_| EnvelopeError::Malformed("epoch"))?;
        let stream = r.name("stream")?;
        let event = decode_entry(r.0)?;
        Ok(Notice {
            stream,
            pos: StreamPos { epoch, offset },
            seq,
            event,
        })
    }
}

/// A stream's position, published in order with its notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The stream.
    pub stream: Arc<str>,
    /// Its position when the store published the marker.
    pub pos: StreamPos,
}

impl Marker {
    /// Whether `bytes` is a marker.
    pub fn is_marker(bytes: &[u8]) -> bool {
        bytes.first() == Some(&MARKER)
    }

    /// The whole marker, as the store's script writes it (for tests).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u8(MARKER);
        for field in [
            self.pos.offset.to_string().as_bytes(),
            self.pos.epoch.as_bytes(),
        ] {
            out.put_u8(u8::try_from(field.len()).expect("a short field"));
            out.put_slice(field);
        }
        out.put_slice(&Notice::tail(&self.stream));
        out.freeze()
    }

    /// Reads a marker.
    pub fn decode(bytes: Bytes) -> Result<Marker, EnvelopeError> {
        let mut r = Reader(bytes);
        let tag = r.u8()?;
        if tag != MARKER {
            return Err(EnvelopeError::Tag {
                what: "marker",
                tag,
            });
        }
        let offset = digits(&mut r, "offset")?;
        let epoch = short(&mut r)?;
        let epoch = std::str::from_utf8(&epoch)
            .map(Arc::from)
            .map_err(|_| EnvelopeError::Malformed("epoch"))?;
        let stream = r.name("stream")?;
        if !r.0.is_empty() {
            return Err(EnvelopeError::Trailing(r.0.len()));
        }
        Ok(Marker {
            stream,
            pos: StreamPos { epoch, offset },
        })
    }
}

/// A field with a one-byte length.
fn short(r: &mut Reader) -> Result<Bytes, EnvelopeError> {
    let n = usize::from(r.u8()?);
    if n > r.0.len() {
        return Err(EnvelopeError::Short);
    }
    Ok(r.0.split_to(n))
}

/// A decimal number with a one-byte length.
fn digits(r: &mut Reader, what: &'static str) -> Result<u64, EnvelopeError> {
    let field = short(r)?;
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(EnvelopeError::Malformed(what));
    }
    std::str::from_utf8(&field)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(EnvelopeError::Bounds(what))
}

/// A stored event's binary form: what a shared store keeps in a stream, and what a
/// notice carries.
pub fn encode_entry(event: &StoredEvent) -> Bytes {
    let attached: usize = event.attachments.iter().map(|a| a.len() + 5).sum();
    let mut out = BytesMut::with_capacity(event.name.len() + event.data.len() + attached + 32);
    out.put_u8(match event.kind {
        DataKind::Json => JSON,
        DataKind::Binary => BINARY,
        DataKind::Args => ARGS,
    });
    let mut flags = 0;
    if event.from.is_some() {
        flags |= HAS_FROM;
    }
    if event.except.is_some() {
        flags |= HAS_EXCEPT;
    }
    out.put_u8(flags);
    out.put_u64_le(event.time_ms);
    put_bytes(&mut out, event.name.as_bytes());
    put_bytes(&mut out, &event.data);
    put_len(&mut out, event.attachments.len());
    for attachment in &event.attachments {
        put_bytes(&mut out, attachment);
    }
    if let Some((id, name)) = &event.from {
        put_bytes(&mut out, id.as_bytes());
        put_bytes(&mut out, name.as_bytes());
    }
    if let Some(except) = &event.except {
        put_bytes(&mut out, except.as_bytes());
    }
    out.freeze()
}

/// Reads an entry; its data and attachments are slices of `bytes`. The data is not
/// checked for JSON here: a replay turns damaged data into `null`
/// ([`crate::Event::from_stored`]), as for every store.
pub fn decode_entry(bytes: Bytes) -> Result<StoredEvent, EnvelopeError> {
    let mut r = Reader(bytes);
    let kind = match r.u8()? {
        JSON => DataKind::Json,
        BINARY => DataKind::Binary,
        ARGS => DataKind::Args,
        tag => {
            return Err(EnvelopeError::Tag {
                what: "entry kind",
                tag,
            })
        }
    };
    let flags = r.u8()?;
    if flags & !(HAS_FROM | HAS_EXCEPT) != 0 {
        return Err(EnvelopeError::Tag {
            what: "entry flags",
            tag: flags,
        });
    }
    let time_ms = r.u64()?;
    let name = r.name("event name")?;
    let data = r.bytes()?;
    let n = r.count(MAX_ATTACHMENTS, "attachment count")?;
    let attachments = (0..n).map(|_| r.bytes()).collect::<Result<Vec<_>, _>>()?;
    let from = if flags & HAS_FROM != 0 {
        Some((r.name("sender id")?, r.name("sender name")?))
    } else {
        None
    };
    let except = if flags & HAS_EXCEPT != 0 {
        Some(r.name("left-out connection")?)
    } else {
        None
    };
    if !r.0.is_empty() {
        return Err(EnvelopeError::Trailing(r.0.len()));
    }
    Ok(StoredEvent {
        name,
        kind,
        data,
        attachments,
        from,
        except,
        time_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: DataKind, from: bool, except: bool) -> StoredEvent {
        StoredEvent {
            name: Arc::from("said ✓"),
            kind,
            data: Bytes::from_static(b"[\"hi\",{\"_placeholder\":true,\"num\":0}]"),
            attachments: if kind == DataKind::Args {
                vec![Bytes::from_static(b"\0\x01\x02"), Bytes::new()]
            } else {
                Vec::new()
            },
            from: from.then(|| (Arc::from("00000000000000a1"), Arc::from("ann"))),
            except: except.then(|| Arc::from("00000000000000b2")),
            time_ms: 1_765_000_000_123,
        }
    }

    #[test]
    fn entries_round_trip_every_kind_and_option() {
        for kind in [DataKind::Json, DataKind::Binary, DataKind::Args] {
            for (from, except) in [(false, false), (true, false), (false, true), (true, true)] {
                let e = event(kind, from, except);
                assert_eq!(decode_entry(encode_entry(&e)).unwrap(), e);
            }
        }
    }

    #[test]
    fn notices_round_trip_and_are_told_from_envelopes() {
        let notice = Notice {
            stream: Arc::from("/\u{1f}lobby"),
            pos: StreamPos {
                epoch: Arc::from("5f0c2a9d11e04b7a"),
                offset: u64::MAX,
            },
            seq: 1,
            event: event(DataKind::Args, true, true),
        };
        let bytes = notice.encode();
        assert!(Notice::is_notice(&bytes));
        assert_eq!(Notice::peek_stream(&bytes), Some("/\u{1f}lobby"));
        assert_eq!(Notice::decode(bytes).unwrap(), notice);
        assert!(!Notice::is_notice(&[1, 0, 0]));
    }

    #[test]
    fn the_fuzz_seeds_of_notices_and_markers_read_back() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/cluster_envelope");
        let (mut notices, mut markers) = (0, 0);
        for entry in std::fs::read_dir(seeds).unwrap() {
            let bytes = Bytes::from(std::fs::read(entry.unwrap().path()).unwrap());
            if Notice::is_notice(&bytes) {
                assert_eq!(Notice::decode(bytes.clone()).unwrap().encode(), bytes);
                notices += 1;
            } else if Marker::is_marker(&bytes) {
                assert_eq!(Marker::decode(bytes.clone()).unwrap().encode(), bytes);
                markers += 1;
            }
        }
        assert!(notices >= 2 && markers >= 1);
    }

    #[test]
    fn markers_round_trip_and_cuts_are_errors() {
        let marker = Marker {
            stream: Arc::from("/\u{1f}lobby"),
            pos: StreamPos {
                epoch: Arc::from("5f0c2a9d11e04b7a"),
                offset: 12,
            },
        };
        let bytes = marker.encode();
        assert!(Marker::is_marker(&bytes) && !Notice::is_notice(&bytes));
        assert_eq!(Marker::decode(bytes.clone()).unwrap(), marker);
        for end in 0..bytes.len() {
            assert!(Marker::decode(bytes.slice(..end)).is_err(), "cut at {end}");
        }
    }

    #[test]
    fn damaged_notices_are_errors_not_panics() {
        let notice = Notice {
            stream: Arc::from("s"),
            pos: StreamPos {
                epoch: Arc::from("e"),
                offset: 7,
            },
            seq: 9,
            event: event(DataKind::Json, true, false),
        };
        let bytes = notice.encode();
        // Every cut is an error.
        for end in 0..bytes.len() {
            assert!(Notice::decode(bytes.slice(..end)).is_err(), "cut at {end}");
        }
        // Not digits where digits go; a number too big; a byte left over.
        let mut bad = bytes.to_vec();
        bad[2] = b'x';
        assert_eq!(
            Notice::decode(bad.into()),
            Err(EnvelopeError::Malformed("offset"))
        );
        let mut big = vec![NOTICE, 21];
        big.extend_from_slice(b"999999999999999999999");
        big.extend_from_slice(&bytes[3..]);
        assert!(Notice::decode(big.into()).is_err());
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(Notice::decode(long.into()), Err(EnvelopeError::Trailing(1)));
    }
}

//! [`Decoder`]: a server's reader of client frames, one step at a time.
//!
//! The caller owns the bytes: it hands [`Decoder::decode`] whatever has arrived and not been
//! used, and gets back either a frame and how many bytes it took, or how many more bytes
//! the frame at the start needs. The decoder keeps only what spans calls: a fragmented
//! message being put together, and how much of a text frame still arriving is known to be
//! UTF-8 — a few words while idle.

use std::num::NonZeroU32;

use bytes::{Bytes, BytesMut};

use super::{unmask, Frame, FrameError, OpCode};

/// How large a client's frames and messages may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame payload, in bytes.
    pub max_frame: usize,
    /// Largest message (all its fragments), in bytes.
    pub max_message: usize,
}

/// What the bytes at the start of the input gave.
#[derive(Debug)]
pub enum Step {
    /// A whole frame was there, and used `used` bytes: a message or control frame for the
    /// caller, or `None` for a fragment taken into the message being put together.
    Frame {
        /// The message or control frame, if the frame completed one.
        frame: Option<Frame>,
        /// Bytes of the input the frame took.
        used: usize,
    },
    /// The frame at the start has not all come: at least this many more bytes are needed
    /// (its header's, at the least). What has come of its payload was checked as far as it
    /// can be.
    Need(usize),
}

/// A connection's frame reader state.
#[derive(Debug)]
pub struct Decoder {
    /// A fragmented message being put together.
    message: Option<Box<Fragments>>,
    /// How much of the payload of a text frame still arriving is known to be UTF-8.
    arriving_checked: u32,
    /// [`Limits`], in half the space (every connection holds them). Non-zero (a limit of
    /// zero is none a message could meet): the spare value lets whoever holds a decoder
    /// tell its own kinds apart without a tag.
    max_frame: NonZeroU32,
    max_message: u32,
}

#[derive(Debug)]
struct Fragments {
    text: bool,
    data: BytesMut,
    /// How much of `data` is known to be valid UTF-8 (text only).
    checked: usize,
}

/// A frame's header, parsed.
struct Header {
    fin: bool,
    opcode: OpCode,
    mask: [u8; 4],
    /// Header bytes, then payload bytes.
    header_len: usize,
    payload_len: usize,
}

/// What [`parse`] found.
enum Parsed {
    Whole(Header),
    /// More bytes are needed: at least `need`; the header, once it has come.
    Partial {
        need: usize,
        header: Option<Header>,
    },
}

impl Decoder {
    /// A decoder for a new connection. Limits above `u32::MAX` are taken as `u32::MAX`.
    pub fn new(limits: Limits) -> Self {
        Self {
            message: None,
            arriving_checked: 0,
            max_frame: NonZeroU32::new(u32::try_from(limits.max_frame).unwrap_or(u32::MAX))
                .unwrap_or(NonZeroU32::MIN),
            max_message: u32::try_from(limits.max_message).unwrap_or(u32::MAX),
        }
    }

    /// The limits it checks.
    pub fn limits(&self) -> Limits {
        Limits {
            max_frame: self.max_frame.get() as usize,
            max_message: self.max_message as usize,
        }
    }

    /// True while a fragmented message is being put together.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Decodes the frame at the start of `bytes`, unmasking its payload in place.
    ///
    /// Call it again with the bytes after `used` for the next frame, or, after
    /// [`Step::Need`], with the same bytes and at least that many more after them. Any
    /// error fails the connection (see [`FrameError::close_code`]); the decoder is not to
    /// be used after one.
    pub fn decode(&mut self, bytes: &mut [u8]) -> Result<Step, FrameError> {
        let limits = self.limits();
        match parse(bytes, limits)? {
            Parsed::Whole(header) => {
                let used = header.header_len + header.payload_len;
                let payload = &mut bytes[header.header_len..used];
                self.arriving_checked = 0;
                let frame = accept(&mut self.message, limits, header, payload)?;
                Ok(Step::Frame { frame, used })
            }
            Parsed::Partial { need, header } => {
                if let Some(header) = header {
                    check_arriving(
                        bytes,
                        &header,
                        self.message.as_deref(),
                        &mut self.arriving_checked,
                        limits,
                    )?;
                }
                Ok(Step::Need(need))
            }
        }
    }
}

/// A complete frame, unmasked: returns what the caller handles (a message once complete, a
/// control frame), or `None` for a fragment taken into `message`.
fn accept(
    message: &mut Option<Box<Fragments>>,
    limits: Limits,
    header: Header,
    payload: &mut [u8],
) -> Result<Option<Frame>, FrameError> {
    unmask(payload, header.mask);
    match header.opcode {
        OpCode::Ping => Ok(Some(Frame::ping(Bytes::copy_from_slice(payload)))),
        OpCode::Pong => Ok(Some(Frame::pong(Bytes::copy_from_slice(payload)))),
        OpCode::Close => close_frame(payload).map(Some),
        OpCode::Text | OpCode::Binary => {
            if message.is_some() {
                return Err(FrameError::Interleaved);
            }
            let text = header.opcode == OpCode::Text;
            if header.fin {
                if text && simdutf8::basic::from_utf8(payload).is_err() {
                    return Err(FrameError::InvalidUtf8);
                }
                let payload = Bytes::copy_from_slice(payload);
                return Ok(Some(if text {
                    Frame::text(payload)
                } else {
                    Frame::binary(payload)
                }));
            }
            let mut fragments = Box::new(Fragments {
                text,
                data: BytesMut::new(),
                checked: 0,
            });
            fragments.append(payload, limits)?;
            *message = Some(fragments);
            Ok(None)
        }
        OpCode::Continuation => {
            let Some(fragments) = message else {
                return Err(FrameError::UnexpectedContinuation);
            };
            fragments.append(payload, limits)?;
            if !header.fin {
                return Ok(None);
            }
            let fragments = message.take().expect("checked above");
            if fragments.text && fragments.checked != fragments.data.len() {
                // Ends inside a character.
                return Err(FrameError::InvalidUtf8);
            }
            let data = fragments.data.freeze();
            Ok(Some(if fragments.text {
                Frame::text(data)
            } else {
                Frame::binary(data)
            }))
        }
    }
}

impl Fragments {
    fn append(&mut self, payload: &[u8], limits: Limits) -> Result<(), FrameError> {
        if self.data.len() + payload.len() > limits.max_message {
            return Err(FrameError::TooLarge);
        }
        self.data.extend_from_slice(payload);
        if self.text {
            // Valid so far, or cut inside a character the next fragment may finish.
            match simdutf8::compat::from_utf8(&self.data[self.checked..]) {
                Ok(_) => self.checked = self.data.len(),
                Err(err) if err.error_len().is_none() => self.checked += err.valid_up_to(),
                Err(_) => return Err(FrameError::InvalidUtf8),
            }
        }
        Ok(())
    }
}

/// Parses the frame at the start of `bytes` (RFC 6455 §5.2), checking what the header alone
/// can tell.
fn parse(bytes: &[u8], limits: Limits) -> Result<Parsed, FrameError> {
    if bytes.len() < 2 {
        return Ok(Parsed::Partial {
            need: 2 - bytes.len(),
            header: None,
        });
    }
    let (b0, b1) = (bytes[0], bytes[1]);
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(FrameError::ReservedOpCode(b0 & 0x0F))?;
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    let extra = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let header_len = 2 + extra + 4;
    if bytes.len() < header_len {
        return Ok(Parsed::Partial {
            need: header_len - bytes.len(),
            header: None,
        });
    }
    let payload_len = match extra {
        0 => u64::from(b1 & 0x7F),
        2 => u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        _ => u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes")),
    };
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::ControlFragmented);
        }
        if payload_len > 125 {
            return Err(FrameError::ControlTooLong);
        }
    }
    let payload_len = usize::try_from(payload_len).map_err(|_| FrameError::TooLarge)?;
    if payload_len > limits.max_frame || payload_len > limits.max_message {
        return Err(FrameError::TooLarge);
    }
    let mask = bytes[header_len - 4..header_len]
        .try_into()
        .expect("4 bytes");
    let header = Header {
        fin,
        opcode,
        mask,
        header_len,
        payload_len,
    };
    let total = header_len + payload_len;
    if bytes.len() < total {
        return Ok(Parsed::Partial {
            need: total - bytes.len(),
            header: Some(header),
        });
    }
    Ok(Parsed::Whole(header))
}

/// Checks what can be checked of a frame still arriving (`bytes` holds its header and part
/// of its payload): a continuation that will take its message over the limit is refused
/// now, and text is checked as UTF-8 from where the last check stopped, so a client sending
/// invalid text slowly, or a huge frame of it, is refused at the bad bytes rather than once
/// the rest has come. The errors are those the complete frame would give, in the same
/// order.
fn check_arriving(
    bytes: &[u8],
    header: &Header,
    message: Option<&Fragments>,
    checked: &mut u32,
    limits: Limits,
) -> Result<(), FrameError> {
    if let (OpCode::Continuation, Some(m)) = (header.opcode, message) {
        if m.data.len() + header.payload_len > limits.max_message {
            return Err(FrameError::TooLarge);
        }
    }
    let text = match header.opcode {
        OpCode::Text => message.is_none(),
        OpCode::Continuation => message.is_some_and(|m| m.text),
        _ => false,
    };
    let arrived = &bytes[header.header_len..];
    let done = *checked as usize;
    if !text || arrived.len() <= done {
        return Ok(());
    }
    let mut unmasked = Vec::with_capacity(3 + arrived.len() - done);
    if done == 0 && header.opcode == OpCode::Continuation {
        // The previous fragment may have ended inside a character.
        let m = message.expect("checked above");
        unmasked.extend_from_slice(&m.data[m.checked..]);
    }
    let carried = unmasked.len();
    unmasked.extend_from_slice(&arrived[done..]);
    let mask = [0, 1, 2, 3].map(|i| header.mask[(done + i) % 4]);
    unmask(&mut unmasked[carried..], mask);
    let done = match simdutf8::compat::from_utf8(&unmasked) {
        Ok(_) => arrived.len(),
        Err(err) if err.error_len().is_none() => done + err.valid_up_to().saturating_sub(carried),
        Err(_) => return Err(FrameError::InvalidUtf8),
    };
    // Below the frame's length, which the limits (`u32`) bound.
    *checked = u32::try_from(done).unwrap_or(u32::MAX);
    Ok(())
}

/// A close frame's payload: nothing, or a code a peer may send and a UTF-8 reason (§5.5.1,
/// §7.4).
fn close_frame(payload: &[u8]) -> Result<Frame, FrameError> {
    match payload {
        [] => Ok(Frame::new(OpCode::Close, Bytes::new())),
        [_] => Err(FrameError::InvalidCloseFrame),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !may_send(code) {
                return Err(FrameError::InvalidCloseCode);
            }
            if simdutf8::basic::from_utf8(reason).is_err() {
                return Err(FrameError::InvalidUtf8);
            }
            Ok(Frame::new(OpCode::Close, Bytes::copy_from_slice(payload)))
        }
    }
}

/// Close codes an endpoint may put on the wire: the registered ones but 1004 (reserved),
/// 1005, 1006 and 1015 (stand-ins for "no code", "no close frame" and "TLS failed"), and
/// the ranges for libraries and applications.
fn may_send(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// What a connection reads from `stream` when its bytes arrive `read_size` at a time (0:
/// all at once), decoded as a server does: each message or control frame as (opcode bits,
/// payload), then how the stream ended (`None`: it ran out between frames, cleanly).
///
/// The bytes are fed as a transport feeds them: what has arrived and not been used, grown
/// by one read at a time until a frame is whole. Used by the `ws_frames` fuzz target and
/// the tests below, which check that no cut of the stream changes what comes out.
#[doc(hidden)]
pub fn decode_stream(
    stream: &[u8],
    read_size: usize,
    limits: Limits,
) -> (Vec<(u8, Vec<u8>)>, Option<FrameError>) {
    let read_size = if read_size == 0 {
        usize::MAX
    } else {
        read_size
    };
    let mut decoder = Decoder::new(limits);
    let mut frames = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        match decoder.decode(&mut buffer) {
            Ok(Step::Frame { frame, used }) => {
                buffer.drain(..used);
                if let Some(frame) = frame {
                    frames.push((frame.opcode().bits(), frame.into_payload().to_vec()));
                }
            }
            Ok(Step::Need(_)) => {
                if fed == stream.len() {
                    return (frames, None);
                }
                let n = read_size.min(stream.len() - fed);
                buffer.extend_from_slice(&stream[fed..fed + n]);
                fed += n;
            }
            Err(err) => return (frames, Some(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_frame: 1000,
        max_message: 2000,
    };

    /// A client's frame as it is on the wire: masked (RFC 6455 §5.3).
    fn wire(first: u8, payload: &[u8]) -> Vec<u8> {
        crate::ws::client_frame(first, payload, [0x37, 0xfa, 0x21, 0x3d])
    }

    const TEXT: u8 = 0x81;
    const BINARY: u8 = 0x82;

    fn read(stream: &[u8], cut: usize) -> (Vec<(u8, Vec<u8>)>, Option<FrameError>) {
        decode_stream(stream, cut, LIMITS)
    }

    /// However the bytes are cut into reads — all at once, one byte per read — the same
    /// messages come out.
    #[test]
    fn frames_come_out_whole_however_the_reads_cut_them() {
        let big = vec![b'x'; 700];
        let stream = [
            wire(TEXT, "héllo".as_bytes()),
            wire(BINARY, &[1, 2, 3]),
            wire(0x89, b"ping!"),
            wire(0x02, &big[..300]),
            wire(0x8A, b"pong"), // a control frame between fragments
            wire(0x80, &big[300..]),
            wire(0x88, &[0x03, 0xe8, b'b', b'y', b'e']),
        ]
        .concat();
        let expected = vec![
            (0x1, "héllo".as_bytes().to_vec()),
            (0x2, vec![1, 2, 3]),
            (0x9, b"ping!".to_vec()),
            (0xA, b"pong".to_vec()),
            (0x2, big.clone()),
            (0x8, vec![0x03, 0xe8, b'b', b'y', b'e']),
        ];
        for cut in [0, 1, 2, 3, 7, 13, 100] {
            let (frames, end) = read(&stream, cut);
            assert_eq!(frames, expected, "reads of {cut} bytes");
            assert_eq!(end, None, "reads of {cut} bytes");
        }
    }

    /// Text split across fragments may cut a character in two; a sequence that cannot be
    /// UTF-8 fails at the fragment that has it, not at the end of the message.
    #[test]
    fn text_is_checked_fragment_by_fragment() {
        let euro = "€".as_bytes(); // three bytes
        let ok = [
            wire(0x01, &euro[..1]),
            wire(0x00, &euro[1..2]),
            wire(0x80, &euro[2..]),
        ]
        .concat();
        assert_eq!(read(&ok, 0).0, [(0x1, euro.to_vec())]);

        let bad_early = [wire(0x01, &[0xce, 0xba, 0xff]), wire(0x80, b"never read")].concat();
        let (frames, err) = read(&bad_early[..9], 0);
        assert!(frames.is_empty());
        assert_eq!(err, Some(FrameError::InvalidUtf8));

        let cut_at_end = [wire(0x01, b"a"), wire(0x80, &euro[..2])].concat();
        assert_eq!(read(&cut_at_end, 0).1, Some(FrameError::InvalidUtf8));

        let surrogate = wire(TEXT, &[0xed, 0xa0, 0x80]);
        assert_eq!(read(&surrogate, 0).1, Some(FrameError::InvalidUtf8));

        // Fragments cut into one-byte reads: characters split across reads and fragments.
        let split = [
            wire(0x01, "a€".as_bytes()[..2].as_ref()),
            wire(0x00, "a€".as_bytes()[2..3].as_ref()),
            wire(0x80, "a€".as_bytes()[3..].as_ref()),
        ]
        .concat();
        assert_eq!(read(&split, 1).0, [(0x1, "a€".as_bytes().to_vec())]);
    }

    /// A text frame still arriving fails at its first bad byte: the rest of it never needs
    /// to come (here it never does, and the error is not the end of the stream).
    #[test]
    fn text_still_arriving_fails_at_the_bad_bytes() {
        let mut payload = "κόσμε".as_bytes().to_vec();
        payload.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]); // past U+10FFFF
        payload.extend_from_slice(b"edited");
        let frame = wire(TEXT, &payload);
        let bad_at = 6 + "κόσμε".len() + 2;
        for cut in [1, 3, 5] {
            let (frames, err) = read(&frame[..bad_at], cut);
            assert!(frames.is_empty());
            assert_eq!(err, Some(FrameError::InvalidUtf8), "{cut}");
        }
        // A continuation, whose first bytes finish the previous fragment's character.
        let euro = "€".as_bytes();
        let stream = [wire(0x01, &euro[..1]), wire(0x80, &[euro[1], 0x41, b'x'])].concat();
        assert_eq!(
            read(&stream[..stream.len() - 1], 0).1,
            Some(FrameError::InvalidUtf8)
        );
        let fine = [
            wire(0x01, &euro[..1]),
            wire(0x80, &[euro[1], euro[2], b'x']),
        ]
        .concat();
        assert_eq!(read(&fine[..fine.len() - 1], 0).1, None);
    }

    /// Each violation is an error, before any message behind it is returned.
    #[test]
    fn protocol_violations() {
        fn fails(bytes: Vec<u8>, what: &str) -> FrameError {
            let (frames, err) = read(&bytes, 0);
            assert!(frames.is_empty(), "{what}: {frames:?}");
            err.unwrap_or_else(|| panic!("{what}: no error"))
        }
        let mut unmasked = wire(TEXT, b"hi");
        unmasked[1] &= 0x7F;
        assert_eq!(fails(unmasked, "an unmasked frame"), FrameError::Unmasked);
        assert_eq!(
            fails(wire(TEXT | 0x40, b"hi"), "RSV1 without an extension"),
            FrameError::ReservedBits
        );
        assert_eq!(
            fails(wire(0x83, b"hi"), "a reserved data opcode"),
            FrameError::ReservedOpCode(3)
        );
        assert_eq!(
            fails(wire(0x8B, b"hi"), "a reserved control opcode"),
            FrameError::ReservedOpCode(0xB)
        );
        assert_eq!(
            fails(wire(0x89, &[0; 126]), "a ping over 125 bytes"),
            FrameError::ControlTooLong
        );
        assert_eq!(
            fails(wire(0x09, b"hi"), "a fragmented ping"),
            FrameError::ControlFragmented
        );
        assert_eq!(
            fails(wire(0x80, b"hi"), "a continuation with nothing to continue"),
            FrameError::UnexpectedContinuation
        );
        assert_eq!(
            fails(
                [wire(0x01, b"a"), wire(TEXT, b"b")].concat(),
                "a new message inside a fragmented one"
            ),
            FrameError::Interleaved
        );
        assert_eq!(
            fails(wire(0x88, &[0x03]), "a close frame of one byte"),
            FrameError::InvalidCloseFrame
        );
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let err = fails(wire(0x88, &code.to_be_bytes()), "a close code");
            assert_eq!(err, FrameError::InvalidCloseCode, "{code}");
        }
        let err = fails(wire(0x88, &[0x03, 0xe8, 0xff]), "a close reason");
        assert_eq!(err, FrameError::InvalidUtf8);
        assert_eq!(err.close_code(), 1007);
        assert_eq!(FrameError::TooLarge.close_code(), 1009);
        assert_eq!(FrameError::Unmasked.close_code(), 1002);
    }

    /// Sizes are refused from the header alone: a client announcing a huge frame is cut
    /// off before any of it is kept.
    #[test]
    fn oversized_frames_and_messages_are_refused_from_the_header() {
        let header_only = wire(BINARY, &vec![0; LIMITS.max_frame + 1])[..8].to_vec();
        assert_eq!(read(&header_only, 0).1, Some(FrameError::TooLarge));

        let mut huge = vec![BINARY, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(read(&huge, 0).1, Some(FrameError::TooLarge));

        let part = vec![0; 900];
        let three = [wire(0x02, &part), wire(0x00, &part), wire(0x80, &part)].concat();
        let (frames, err) = read(&three, 0);
        assert!(frames.is_empty());
        assert_eq!(err, Some(FrameError::TooLarge));
        // The third fragment is refused from its header, before its payload has come.
        let (_, err) = read(&three[..three.len() - 800], 0);
        assert_eq!(err, Some(FrameError::TooLarge));

        let (frames, _) = read(&wire(BINARY, &vec![0; LIMITS.max_frame]), 0);
        assert_eq!(frames.len(), 1, "a frame at the limit is allowed");
    }

    /// The decoder keeps a few words while idle; what a connection holds beyond it is its
    /// transport's.
    #[test]
    fn a_decoder_is_small_and_leaves_a_niche() {
        assert!(std::mem::size_of::<Decoder>() <= 24);
        assert_eq!(
            std::mem::size_of::<Option<Decoder>>(),
            std::mem::size_of::<Decoder>()
        );
    }
}

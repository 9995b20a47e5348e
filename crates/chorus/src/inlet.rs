//! Where a connection's bytes come in: WebSocket frames read, checked and put together by
//! the transport itself, with no read buffer per connection while it is idle.
//!
//! A codec that owns its socket keeps a read buffer per connection for the connection's
//! whole life — about 1 KiB at the least, more once a large message has passed — and an
//! idle connection is most of what a realtime server holds. Here every read lands in one
//! buffer per thread (a read is one synchronous call, so one buffer serves every
//! connection that thread runs); a frame is handled from there, and only bytes that are
//! not handled before the read returns — the start of a frame still arriving, or frames
//! behind a burst the transport stops at — are kept with the connection, until handled.
//!
//! The checks are RFC 6455's for a server without extensions (§5.2–§5.5, §7.4; a
//! connection that negotiated permessage-deflate is read by the codec, see
//! [`crate::upgrade::Opened`]): client frames are masked, reserved bits and opcodes unused,
//! control frames short and unfragmented, continuations in order, text UTF-8 (checked
//! fragment by fragment, so a message fails as soon as it cannot be valid), close frames
//! well-formed with a code a peer may send. Sizes are checked from the header, before a
//! byte of the payload is buffered.

use std::cell::RefCell;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};
use yawc::{Frame, OpCode, WebSocketError};

/// Bytes one read may take.
const READ_SIZE: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_SIZE]);
}

/// How large a client's frames and messages may be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest frame payload, in bytes.
    pub(crate) max_frame: usize,
    /// Largest message (all its fragments), in bytes.
    pub(crate) max_message: usize,
}

/// A connection's read state: a few words while idle.
pub(crate) struct Inlet {
    /// Bytes read and not yet handled: the start of a frame still arriving, or the frames
    /// behind one already returned. `None` while idle (boxed: a word, not four, in every
    /// connection).
    pending: Option<Box<Pending>>,
    /// A fragmented message being put together.
    message: Option<Box<Fragments>>,
    /// How much of the payload of a text frame still arriving is known to be UTF-8.
    arriving_checked: u32,
    /// [`Limits`], in half the space (every connection holds them).
    ///
    /// Non-zero (a limit of zero is none a message could meet): the spare value lets the
    /// reader that holds an inlet tell its kinds apart without a tag of its own.
    max_frame: NonZeroU32,
    max_message: u32,
}

/// Bytes read and not yet handled, from `start`; never all handled.
struct Pending {
    bytes: Vec<u8>,
    start: usize,
}

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

impl Inlet {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            pending: None,
            message: None,
            arriving_checked: 0,
            max_frame: NonZeroU32::new(u32::try_from(limits.max_frame).unwrap_or(u32::MAX))
                .unwrap_or(NonZeroU32::MIN),
            max_message: u32::try_from(limits.max_message).unwrap_or(u32::MAX),
        }
    }

    /// The next message or control frame from the client. `Err(ConnectionClosed)` at the
    /// end of the stream; any other error is a protocol violation whose close code
    /// [`crate::transport`] sends.
    ///
    /// Pings are returned, not answered: the answer is the caller's to queue.
    pub(crate) fn poll_next<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Frame, WebSocketError>> {
        loop {
            let limits = self.limits();
            if let Some(pending) = self.pending.as_deref_mut() {
                let bytes = &mut pending.bytes[pending.start..];
                let (frame, used) = match take(bytes, &mut self.message, limits)? {
                    Taken::Frame(frame, used) => (frame, used),
                    Taken::Incomplete(Incomplete { need, header }) => {
                        if let Some(header) = header {
                            check_arriving(
                                bytes,
                                &header,
                                self.message.as_deref(),
                                &mut self.arriving_checked,
                                limits,
                            )?;
                        }
                        ready!(pending.read_more(io, cx, need))?;
                        continue;
                    }
                };
                pending.start += used;
                self.arriving_checked = 0;
                if pending.start == pending.bytes.len() {
                    // Handled: an idle connection keeps no buffer.
                    self.pending = None;
                }
                match frame {
                    Some(frame) => return Poll::Ready(Ok(frame)),
                    None => continue,
                }
            }
            // Nothing pending: read into the thread's buffer, handle the first frame from
            // there, keep the rest.
            let first = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let mut buf = ReadBuf::new(&mut scratch[..]);
                ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
                let n = buf.filled().len();
                if n == 0 {
                    return Poll::Ready(Err(WebSocketError::ConnectionClosed));
                }
                let bytes = &mut scratch[..n];
                let (frame, used) = match take(bytes, &mut self.message, limits)? {
                    Taken::Frame(frame, used) => (frame, used),
                    Taken::Incomplete(_) => (None, 0),
                };
                if used < n {
                    self.pending = Some(Box::new(Pending {
                        bytes: bytes[used..].to_vec(),
                        start: 0,
                    }));
                }
                Poll::Ready(Ok(frame))
            });
            if let Some(frame) = ready!(first)? {
                return Poll::Ready(Ok(frame));
            }
        }
    }

    /// Bytes held for what is not handled yet (for tests).
    #[cfg(test)]
    fn pending_capacity(&self) -> usize {
        self.pending
            .as_ref()
            .map_or(0, |pending| pending.bytes.capacity())
    }

    fn limits(&self) -> Limits {
        Limits {
            max_frame: self.max_frame.get() as usize,
            max_message: self.max_message as usize,
        }
    }
}

impl Pending {
    /// Reads at least one more byte onto the pending ones, which hold an incomplete frame
    /// that needs `need` more bytes (its header's at the least). The buffer grows by at most
    /// one read's worth at a time, with what actually comes: a header announcing a large
    /// frame costs its sender 14 bytes, and must not cost the server the frame's size.
    fn read_more<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
        need: usize,
    ) -> Poll<Result<(), WebSocketError>> {
        if self.start > 0 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        let len = self.bytes.len();
        // At least 1 KiB, so a client's next frames can come in the same read.
        self.bytes.resize(len + need.clamp(1024, READ_SIZE), 0);
        let mut buf = ReadBuf::new(&mut self.bytes[len..]);
        let read = Pin::new(io).poll_read(cx, &mut buf);
        let n = buf.filled().len();
        self.bytes.truncate(len + n);
        match read {
            Poll::Ready(Ok(())) if n == 0 => Poll::Ready(Err(WebSocketError::ConnectionClosed)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => Poll::Ready(Err(err.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What [`take`] found at the start of the bytes.
enum Taken {
    /// A frame, and the bytes it used: what the transport handles, or `None` for a
    /// fragment taken into the message being put together.
    Frame(Option<Frame>, usize),
    Incomplete(Incomplete),
}

/// Decodes and accepts the frame at the start of `bytes`, if it has all come.
fn take(
    bytes: &mut [u8],
    message: &mut Option<Box<Fragments>>,
    limits: Limits,
) -> Result<Taken, WebSocketError> {
    match decode(bytes, limits)? {
        Decoded::Frame(header) => {
            let used = header.header_len + header.payload_len;
            let payload = &mut bytes[header.header_len..used];
            Ok(Taken::Frame(
                accept(message, limits, header, payload)?,
                used,
            ))
        }
        Decoded::Incomplete(incomplete) => Ok(Taken::Incomplete(incomplete)),
    }
}

/// A complete frame, unmasked: returns what the transport handles (a message once
/// complete, a control frame), or `None` for a fragment taken into `message`.
fn accept(
    message: &mut Option<Box<Fragments>>,
    limits: Limits,
    header: Header,
    payload: &mut [u8],
) -> Result<Option<Frame>, WebSocketError> {
    unmask(payload, header.mask);
    match header.opcode {
        OpCode::Ping => Ok(Some(Frame::ping(Bytes::copy_from_slice(payload)))),
        OpCode::Pong => Ok(Some(Frame::pong(Bytes::copy_from_slice(payload)))),
        OpCode::Close => close_frame(payload).map(Some),
        OpCode::Text | OpCode::Binary => {
            if message.is_some() {
                // A new message while a fragmented one is unfinished.
                return Err(WebSocketError::InvalidFragment);
            }
            let text = header.opcode == OpCode::Text;
            if header.fin {
                if text && simdutf8::basic::from_utf8(payload).is_err() {
                    return Err(WebSocketError::InvalidUTF8);
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
                return Err(WebSocketError::InvalidContinuationFrame);
            };
            fragments.append(payload, limits)?;
            if !header.fin {
                return Ok(None);
            }
            let fragments = message.take().expect("checked above");
            if fragments.text && fragments.checked != fragments.data.len() {
                // Ends inside a character.
                return Err(WebSocketError::InvalidUTF8);
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
    fn append(&mut self, payload: &[u8], limits: Limits) -> Result<(), WebSocketError> {
        if self.data.len() + payload.len() > limits.max_message {
            return Err(WebSocketError::FrameTooLarge);
        }
        self.data.extend_from_slice(payload);
        if self.text {
            // Valid so far, or cut inside a character the next fragment may finish.
            match simdutf8::compat::from_utf8(&self.data[self.checked..]) {
                Ok(_) => self.checked = self.data.len(),
                Err(err) if err.error_len().is_none() => self.checked += err.valid_up_to(),
                Err(_) => return Err(WebSocketError::InvalidUTF8),
            }
        }
        Ok(())
    }
}

enum Decoded {
    Frame(Header),
    Incomplete(Incomplete),
}

/// More bytes are needed: at least `need`; the frame's header, once it has come.
struct Incomplete {
    need: usize,
    header: Option<Header>,
}

/// Parses the frame at the start of `bytes` (RFC 6455 §5.2), checking what the header
/// alone can tell.
fn decode(bytes: &[u8], limits: Limits) -> Result<Decoded, WebSocketError> {
    if bytes.len() < 2 {
        return Ok(Decoded::Incomplete(Incomplete {
            need: 2 - bytes.len(),
            header: None,
        }));
    }
    let (b0, b1) = (bytes[0], bytes[1]);
    if b0 & 0x70 != 0 {
        return Err(WebSocketError::ReservedBitsNotZero);
    }
    let opcode = OpCode::try_from(b0 & 0x0F)?;
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 == 0 {
        // A client's frames are masked (§5.1).
        return Err(WebSocketError::InvalidFragment);
    }
    let extra = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let header_len = 2 + extra + 4;
    if bytes.len() < header_len {
        return Ok(Decoded::Incomplete(Incomplete {
            need: header_len - bytes.len(),
            header: None,
        }));
    }
    let payload_len = match extra {
        0 => u64::from(b1 & 0x7F),
        2 => u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        _ => u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes")),
    };
    if opcode.is_control() {
        if !fin {
            return Err(WebSocketError::ControlFrameFragmented);
        }
        if payload_len > 125 {
            return Err(WebSocketError::PingFrameTooLarge);
        }
    }
    let payload_len = usize::try_from(payload_len).map_err(|_| WebSocketError::FrameTooLarge)?;
    if payload_len > limits.max_frame || payload_len > limits.max_message {
        return Err(WebSocketError::FrameTooLarge);
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
        return Ok(Decoded::Incomplete(Incomplete {
            need: total - bytes.len(),
            header: Some(header),
        }));
    }
    Ok(Decoded::Frame(header))
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
) -> Result<(), WebSocketError> {
    if let (OpCode::Continuation, Some(m)) = (header.opcode, message) {
        if m.data.len() + header.payload_len > limits.max_message {
            return Err(WebSocketError::FrameTooLarge);
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
        Err(_) => return Err(WebSocketError::InvalidUTF8),
    };
    // Below the frame's length, which the limits (`u32`) bound.
    *checked = u32::try_from(done).unwrap_or(u32::MAX);
    Ok(())
}

/// A close frame's payload: nothing, or a code a peer may send and a UTF-8 reason (§5.5.1,
/// §7.4).
fn close_frame(payload: &[u8]) -> Result<Frame, WebSocketError> {
    match payload {
        [] => Ok(Frame::from((OpCode::Close, Bytes::new()))),
        [_] => Err(WebSocketError::InvalidCloseFrame),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !may_send(code) {
                return Err(WebSocketError::InvalidCloseCode);
            }
            if simdutf8::basic::from_utf8(reason).is_err() {
                return Err(WebSocketError::InvalidUTF8);
            }
            Ok(Frame::from((
                OpCode::Close,
                Bytes::copy_from_slice(payload),
            )))
        }
    }
}

/// Close codes an endpoint may put on the wire: the registered ones but 1004 (reserved),
/// 1005, 1006 and 1015 (stand-ins for "no code", "no close frame" and "TLS failed"), and
/// the ranges for libraries and applications.
fn may_send(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Unmasks a payload in place (§5.3): eight bytes at a time, the rest one by one.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so at the mask's first byte.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// For the `ws_frames` fuzz target (`fuzz/`): what a connection reads from `stream` when
/// the socket hands it over in reads of at most `read_size` bytes — each message or control
/// frame as (opcode, payload), then how the stream ended (`None`: at its end, cleanly).
#[doc(hidden)]
pub fn read_frames(
    stream: &[u8],
    read_size: usize,
    limits: (usize, usize),
) -> (Vec<(u8, Vec<u8>)>, Option<String>) {
    struct Cut<'a>(&'a [u8], usize);
    impl AsyncRead for Cut<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = self.0.len().min(self.1).min(buf.remaining());
            buf.put_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Poll::Ready(Ok(()))
        }
    }
    let mut io = Cut(stream, read_size.max(1));
    let mut inlet = Inlet::new(Limits {
        max_frame: limits.0,
        max_message: limits.1,
    });
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut frames = Vec::new();
    loop {
        match inlet.poll_next(&mut io, &mut cx) {
            Poll::Ready(Ok(frame)) => {
                frames.push((u8::from(frame.opcode()), frame.into_payload().to_vec()))
            }
            Poll::Ready(Err(WebSocketError::ConnectionClosed)) => return (frames, None),
            Poll::Ready(Err(err)) => return (frames, Some(err.to_string())),
            Poll::Pending => unreachable!("the reads are never pending"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    const LIMITS: Limits = Limits {
        max_frame: 1000,
        max_message: 2000,
    };

    /// A client's frame as it is on the wire: masked (RFC 6455 §5.3).
    fn wire(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    const TEXT: u8 = 0x81;
    const BINARY: u8 = 0x82;

    /// A socket that yields the given reads one by one, then the end of the stream.
    struct Reads(VecDeque<Vec<u8>>);

    impl AsyncRead for Reads {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if let Some(mut chunk) = self.0.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.0.push_front(chunk.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    /// Everything the inlet returns from `reads`, up to the first error.
    fn read_all(reads: Vec<Vec<u8>>) -> (Vec<Frame>, WebSocketError, Inlet) {
        read_all_with(reads, LIMITS)
    }

    fn read_all_with(reads: Vec<Vec<u8>>, limits: Limits) -> (Vec<Frame>, WebSocketError, Inlet) {
        let mut io = Reads(reads.into());
        let mut inlet = Inlet::new(limits);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut frames = Vec::new();
        loop {
            match inlet.poll_next(&mut io, &mut cx) {
                Poll::Ready(Ok(frame)) => frames.push(frame),
                Poll::Ready(Err(err)) => return (frames, err, inlet),
                Poll::Pending => unreachable!("the test socket is never pending"),
            }
        }
    }

    fn payloads(frames: &[Frame]) -> Vec<(OpCode, Vec<u8>)> {
        frames
            .iter()
            .map(|f| (f.opcode(), f.payload().to_vec()))
            .collect()
    }

    /// However the bytes are cut into reads — all at once, one byte per read — the same
    /// messages come out, and nothing is kept once they have.
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
            (OpCode::Text, "héllo".as_bytes().to_vec()),
            (OpCode::Binary, vec![1, 2, 3]),
            (OpCode::Ping, b"ping!".to_vec()),
            (OpCode::Pong, b"pong".to_vec()),
            (OpCode::Binary, big.clone()),
            (OpCode::Close, vec![0x03, 0xe8, b'b', b'y', b'e']),
        ];
        for cut in [stream.len(), 1, 2, 3, 7, 13, 100] {
            let reads = stream.chunks(cut).map(<[u8]>::to_vec).collect();
            let (frames, end, inlet) = read_all(reads);
            assert_eq!(payloads(&frames), expected, "reads of {cut} bytes");
            assert!(matches!(end, WebSocketError::ConnectionClosed), "{end:?}");
            assert_eq!(inlet.pending_capacity(), 0, "reads of {cut} bytes");
            assert!(inlet.message.is_none());
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
        let (frames, _, _) = read_all(vec![ok]);
        assert_eq!(payloads(&frames), [(OpCode::Text, euro.to_vec())]);

        let bad_early = [wire(0x01, &[0xce, 0xba, 0xff]), wire(0x80, b"never read")].concat();
        let (frames, err, _) = read_all(vec![bad_early[..9].to_vec(), bad_early[9..].to_vec()]);
        assert!(frames.is_empty());
        assert!(matches!(err, WebSocketError::InvalidUTF8), "{err:?}");

        let cut_at_end = [wire(0x01, b"a"), wire(0x80, &euro[..2])].concat();
        let (_, err, _) = read_all(vec![cut_at_end]);
        assert!(matches!(err, WebSocketError::InvalidUTF8), "{err:?}");

        let (_, err, _) = read_all(vec![wire(TEXT, &[0xed, 0xa0, 0x80])]); // a surrogate
        assert!(matches!(err, WebSocketError::InvalidUTF8), "{err:?}");

        // Fragments cut into one-byte reads: characters split across reads and fragments.
        let split = [
            wire(0x01, "a€".as_bytes()[..2].as_ref()),
            wire(0x00, "a€".as_bytes()[2..3].as_ref()),
            wire(0x80, "a€".as_bytes()[3..].as_ref()),
        ]
        .concat();
        let (frames, _, _) = read_all(split.chunks(1).map(<[u8]>::to_vec).collect());
        assert_eq!(
            payloads(&frames),
            [(OpCode::Text, "a€".as_bytes().to_vec())]
        );
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
            let reads = frame[..bad_at].chunks(cut).map(<[u8]>::to_vec).collect();
            let (frames, err, _) = read_all(reads);
            assert!(frames.is_empty());
            assert!(matches!(err, WebSocketError::InvalidUTF8), "{cut}: {err:?}");
        }
        // A continuation, whose first bytes finish the previous fragment's character.
        let euro = "€".as_bytes();
        let stream = [wire(0x01, &euro[..1]), wire(0x80, &[euro[1], 0x41, b'x'])].concat();
        let (_, err, _) = read_all(vec![stream[..stream.len() - 1].to_vec()]);
        assert!(matches!(err, WebSocketError::InvalidUTF8), "{err:?}");
        let fine = [
            wire(0x01, &euro[..1]),
            wire(0x80, &[euro[1], euro[2], b'x']),
        ]
        .concat();
        let (_, err, _) = read_all(vec![fine[..fine.len() - 1].to_vec()]);
        assert!(matches!(err, WebSocketError::ConnectionClosed), "{err:?}");
    }

    /// Each violation is an error, before any message behind it is returned.
    #[test]
    fn protocol_violations() {
        fn fails(bytes: Vec<u8>, what: &str) -> WebSocketError {
            let (frames, err, _) = read_all(vec![bytes]);
            assert!(frames.is_empty(), "{what}: {:?}", payloads(&frames));
            assert!(!matches!(err, WebSocketError::ConnectionClosed), "{what}");
            err
        }
        let mut unmasked = wire(TEXT, b"hi");
        unmasked[1] &= 0x7F;
        fails(unmasked, "an unmasked frame");
        fails(wire(TEXT | 0x40, b"hi"), "RSV1 without an extension");
        fails(wire(0x83, b"hi"), "a reserved data opcode");
        fails(wire(0x8B, b"hi"), "a reserved control opcode");
        fails(wire(0x89, &[0; 126]), "a ping over 125 bytes");
        fails(wire(0x09, b"hi"), "a fragmented ping");
        fails(wire(0x80, b"hi"), "a continuation with nothing to continue");
        fails(
            [wire(0x01, b"a"), wire(TEXT, b"b")].concat(),
            "a new message inside a fragmented one",
        );
        fails(wire(0x88, &[0x03]), "a close frame of one byte");
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let err = fails(wire(0x88, &code.to_be_bytes()), "a close code");
            assert!(
                matches!(err, WebSocketError::InvalidCloseCode),
                "{code}: {err:?}"
            );
        }
        let err = fails(wire(0x88, &[0x03, 0xe8, 0xff]), "a close reason");
        assert!(matches!(err, WebSocketError::InvalidUTF8), "{err:?}");
    }

    /// Sizes are refused from the header alone: a client announcing a huge frame is cut
    /// off before the server buffers any of it.
    #[test]
    fn oversized_frames_and_messages_are_refused_from_the_header() {
        let header_only = wire(BINARY, &vec![0; LIMITS.max_frame + 1])[..8].to_vec();
        let (_, err, inlet) = read_all(vec![header_only]);
        assert!(matches!(err, WebSocketError::FrameTooLarge), "{err:?}");
        assert!(inlet.pending_capacity() < LIMITS.max_frame);

        let mut huge = vec![BINARY, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        let (_, err, _) = read_all(vec![huge]);
        assert!(matches!(err, WebSocketError::FrameTooLarge), "{err:?}");

        let part = vec![0; 900];
        let three = [wire(0x02, &part), wire(0x00, &part), wire(0x80, &part)].concat();
        let (frames, err, _) = read_all(vec![three]);
        assert!(frames.is_empty());
        assert!(matches!(err, WebSocketError::FrameTooLarge), "{err:?}");

        let (frames, _, _) = read_all(vec![wire(BINARY, &vec![0; LIMITS.max_frame])]);
        assert_eq!(frames.len(), 1, "a frame at the limit is allowed");
    }

    /// A header announcing a large (allowed) frame, then a trickle: the connection holds
    /// what came, not what was announced.
    #[test]
    fn a_large_frame_costs_what_has_come_not_what_it_announces() {
        let limits = Limits {
            max_frame: 16 << 20,
            max_message: 16 << 20,
        };
        let mut bytes = vec![BINARY, 0x80 | 127];
        bytes.extend_from_slice(&(16u64 << 20).to_be_bytes());
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let (frames, err, inlet) = read_all_with(vec![bytes], limits);
        assert!(frames.is_empty());
        assert!(matches!(err, WebSocketError::ConnectionClosed), "{err:?}");
        assert!(
            inlet.pending_capacity() <= 2 * READ_SIZE,
            "{} bytes held",
            inlet.pending_capacity()
        );

        // And the whole frame still comes through, read by read.
        let payload = vec![7u8; 300_000];
        let frame = wire(BINARY, &payload);
        let reads = frame.chunks(10_000).map(<[u8]>::to_vec).collect();
        let (frames, _, _) = read_all_with(reads, limits);
        assert_eq!(payloads(&frames), [(OpCode::Binary, payload)]);
    }

    #[test]
    fn unmasking_matches_the_rfc_at_every_length_and_alignment() {
        let mask = [1, 2, 3, 4];
        for len in 0..40 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let mut masked: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            unmask(&mut masked, mask);
            assert_eq!(masked, plain, "{len}");
        }
    }
}

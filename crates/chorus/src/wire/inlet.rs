//! Where a connection's bytes come in: the socket read into one buffer per thread, frames
//! decoded from there, and bytes kept with the connection only while a frame is still
//! arriving.
//!
//! A codec that owns its socket keeps a read buffer per connection for the connection's
//! whole life — about 1 KiB at the least, more once a large message has passed — and an
//! idle connection is most of what a realtime server holds. Here every read lands in one
//! buffer per thread (a read is one synchronous call, so one buffer serves every
//! connection that thread runs); the frame at its start is decoded from there by the
//! sans-IO [`Decoder`] of `chorus_proto::ws` (which does every RFC 6455 check), and only
//! bytes not handled before the read returns — the start of a frame still arriving, or
//! frames behind a burst the transport stops at — are kept with the connection, in a
//! buffer sized for what has come and freed once handled.

use std::cell::RefCell;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use chorus_proto::ws::{Decoder, Frame, Limits, Step};
use tokio::io::{AsyncRead, ReadBuf};

use super::error::WireError;

/// Bytes one read may take.
const READ_SIZE: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_SIZE]);
}

/// A connection's read state: a few words while idle.
pub(crate) struct Inlet {
    /// Bytes read and not yet handled: the start of a frame still arriving, or the frames
    /// behind one already returned. `None` while idle (boxed: a word, not four, in every
    /// connection).
    pending: Option<Box<Pending>>,
    /// The frames' state between reads: a fragmented message, the limits. Its non-zero
    /// limit lets the reader that holds an inlet tell its kinds apart without a tag.
    decoder: Decoder,
}

/// Bytes read and not yet handled, from `start`; never all handled.
struct Pending {
    bytes: Vec<u8>,
    start: usize,
}

impl Inlet {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            pending: None,
            decoder: Decoder::new(limits),
        }
    }

    /// The next message or control frame from the client. [`WireError::Closed`] at the end
    /// of the stream; [`WireError::Frame`] for a protocol violation, whose close code
    /// [`crate::transport`] sends.
    ///
    /// Pings are returned, not answered: the answer is the caller's to queue.
    pub(crate) fn poll_next<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Frame, WireError>> {
        loop {
            if let Some(pending) = self.pending.as_deref_mut() {
                let (frame, used) =
                    match self.decoder.decode(&mut pending.bytes[pending.start..])? {
                        Step::Frame { frame, used } => (frame, used),
                        Step::Need(need) => {
                            ready!(pending.read_more(io, cx, need))?;
                            continue;
                        }
                    };
                pending.start += used;
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
                    return Poll::Ready(Err(WireError::Closed));
                }
                let bytes = &mut scratch[..n];
                let (frame, used) = match self.decoder.decode(bytes)? {
                    Step::Frame { frame, used } => (frame, used),
                    Step::Need(_) => (None, 0),
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
    ) -> Poll<Result<(), WireError>> {
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
            Poll::Ready(Ok(())) if n == 0 => Poll::Ready(Err(WireError::Closed)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => Poll::Ready(Err(err.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    //! What the inlet adds to the decoder (whose checks `chorus_proto::ws` tests): the
    //! bytes it keeps between reads, however the socket cuts the stream.

    use super::*;
    use chorus_proto::ws::{FrameError, OpCode};
    use std::collections::VecDeque;

    const LIMITS: Limits = Limits {
        max_frame: 1000,
        max_message: 2000,
    };

    /// A client's frame as it is on the wire: masked (RFC 6455 §5.3).
    fn wire(first: u8, payload: &[u8]) -> Vec<u8> {
        chorus_proto::ws::client_frame(first, payload, [0x37, 0xfa, 0x21, 0x3d])
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
    fn read_all(reads: Vec<Vec<u8>>, limits: Limits) -> (Vec<Frame>, WireError, Inlet) {
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

    /// However the socket cuts the bytes into reads — all at once, one byte per read — the
    /// same messages come out, and nothing is kept once they have.
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
            let (frames, end, inlet) = read_all(reads, LIMITS);
            assert_eq!(payloads(&frames), expected, "reads of {cut} bytes");
            assert!(matches!(end, WireError::Closed), "{end:?}");
            assert_eq!(inlet.pending_capacity(), 0, "reads of {cut} bytes");
            assert!(!inlet.decoder.in_message());
        }
    }

    /// Text still arriving is checked as it comes through the kept bytes too: a bad byte
    /// fails the connection without the rest of the frame (which never comes here).
    #[test]
    fn text_kept_between_reads_fails_at_the_bad_bytes() {
        let mut payload = "κόσμε".as_bytes().to_vec();
        payload.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]); // past U+10FFFF
        payload.extend_from_slice(b"edited");
        let frame = wire(TEXT, &payload);
        let bad_at = 6 + "κόσμε".len() + 2;
        for cut in [1, 3, 5] {
            let reads = frame[..bad_at].chunks(cut).map(<[u8]>::to_vec).collect();
            let (frames, err, _) = read_all(reads, LIMITS);
            assert!(frames.is_empty());
            assert!(
                matches!(err, WireError::Frame(FrameError::InvalidUtf8)),
                "{cut}: {err:?}"
            );
        }
    }

    /// Sizes are refused from the header alone: a client announcing a huge frame is cut
    /// off before the server buffers any of it.
    #[test]
    fn an_oversized_frame_is_refused_before_it_is_buffered() {
        let header_only = wire(BINARY, &vec![0; LIMITS.max_frame + 1])[..8].to_vec();
        let (_, err, inlet) = read_all(vec![header_only], LIMITS);
        assert!(
            matches!(err, WireError::Frame(FrameError::TooLarge)),
            "{err:?}"
        );
        assert!(inlet.pending_capacity() < LIMITS.max_frame);
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
        let (frames, err, inlet) = read_all(vec![bytes], limits);
        assert!(frames.is_empty());
        assert!(matches!(err, WireError::Closed), "{err:?}");
        assert!(
            inlet.pending_capacity() <= 2 * READ_SIZE,
            "{} bytes held",
            inlet.pending_capacity()
        );

        // And the whole frame still comes through, read by read.
        let payload = vec![7u8; 300_000];
        let frame = wire(BINARY, &payload);
        let reads = frame.chunks(10_000).map(<[u8]>::to_vec).collect();
        let (frames, _, _) = read_all(reads, limits);
        assert_eq!(payloads(&frames), [(OpCode::Binary, payload)]);
    }
}

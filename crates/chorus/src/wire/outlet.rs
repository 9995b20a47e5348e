//! Where a connection's bytes leave: data frames written by the transport itself, with no
//! write buffer per connection.
//!
//! The codec (`yawc`) owns the socket it reads from, and writes through a buffer of its own
//! that keeps whatever it grew to — 0.7–0.8 KiB once a connection has been greeted, up to
//! 8 KiB after a burst — for the rest of the connection's life, idle or not. So the codec
//! is given a [`Plug`] instead of the socket: it reads through it, and what it writes
//! (control frames, compressed frames, the closing handshake) is queued, in order, with the
//! data frames the transport queues through the [`Outlet`]. A data frame is its header and
//! the message's shared bytes, never copied per connection until the moment of the write:
//! then everything queued is gathered into one buffer per thread (a "cork") and written
//! with one call. Only bytes the socket did not take stay with the connection, and an
//! emptied queue gives its memory back.
//!
//! A connection without the codec (no permessage-deflate: nearly all of them) has no plug:
//! its outlet owns the socket and the queue outright, in one box, with no lock.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use chorus_proto::ws::{Header, OpCode};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes gathered for one write.
const CORK: usize = 64 * 1024;

thread_local! {
    /// The gathering buffer; a write is one synchronous call, so one per thread serves
    /// every connection that thread runs.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(CORK));
}

/// The transport's side: queues data frames and writes them out.
pub(crate) struct Outlet<S> {
    hold: Hold<S>,
}

/// Who else holds the socket.
enum Hold<S> {
    /// Nobody: the transport reads and writes every frame itself.
    Alone(Box<Shared<S>>),
    /// The codec, through its [`Plug`].
    Plugged(Arc<Mutex<Shared<S>>>),
}

/// The codec's side: the socket to read from, and a writer whose bytes join the queue.
pub(crate) struct Plug<S> {
    shared: Arc<Mutex<Shared<S>>>,
}

struct Shared<S> {
    io: S,
    /// Whole frames (or the codec's bytes) in the order they must leave.
    queue: VecDeque<Chunk>,
    /// Bytes of the first chunk already written.
    head: usize,
    /// Bytes queued and not yet written.
    backlog: usize,
}

/// A frame's header and its payload, or bytes the codec wrote (no header).
struct Chunk {
    header: Header,
    payload: Bytes,
}

impl Chunk {
    /// An unmasked, final server frame.
    fn frame(opcode: OpCode, payload: Bytes) -> Self {
        Self {
            header: Header::new(opcode, payload.len()),
            payload,
        }
    }

    fn bytes(payload: Bytes) -> Self {
        Self {
            header: Header::none(),
            payload,
        }
    }

    fn parts(&self) -> [&[u8]; 2] {
        [self.header.as_bytes(), &self.payload]
    }

    fn len(&self) -> usize {
        self.header.len() + self.payload.len()
    }
}

impl<S> Shared<S> {
    fn new(io: S) -> Self {
        Self {
            io,
            queue: VecDeque::new(),
            head: 0,
            backlog: 0,
        }
    }
}

/// Splits `io` into the codec's [`Plug`] and the transport's [`Outlet`].
pub(crate) fn split<S>(io: S) -> (Plug<S>, Outlet<S>) {
    let shared = Arc::new(Mutex::new(Shared::new(io)));
    (
        Plug {
            shared: shared.clone(),
        },
        Outlet {
            hold: Hold::Plugged(shared),
        },
    )
}

impl<S> Outlet<S> {
    /// An outlet that is alone with `io`: the transport also reads it, through
    /// [`AsyncRead`] on the outlet.
    pub(crate) fn alone(io: S) -> Self {
        Self {
            hold: Hold::Alone(Box::new(Shared::new(io))),
        }
    }

    fn with<R>(&mut self, f: impl FnOnce(&mut Shared<S>) -> R) -> R {
        match &mut self.hold {
            Hold::Alone(shared) => f(shared),
            Hold::Plugged(shared) => f(&mut shared.lock()),
        }
    }
}

impl<S: AsyncWrite + Unpin> Outlet<S> {
    /// Queues a data (or ping) frame; [`Outlet::poll_flush`] writes it.
    pub(crate) fn push(&mut self, opcode: OpCode, payload: Bytes) {
        self.with(|shared| shared.push(Chunk::frame(opcode, payload)));
    }

    /// Bytes queued and not yet taken by the socket.
    pub(crate) fn backlog(&mut self) -> usize {
        self.with(|shared| shared.backlog)
    }

    /// Writes everything queued (the codec's bytes included), then flushes the socket.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|shared| shared.poll_flush(cx))
    }

    /// Writes everything queued, then shuts the socket's sending side.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|shared| shared.poll_shutdown(cx))
    }
}

/// The socket's reading side, for a transport that reads its frames itself (no codec).
impl<S: AsyncRead + Unpin> AsyncRead for Outlet<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().with(|shared| shared.poll_read(cx, buf))
    }
}

impl<S> Shared<S> {
    fn push(&mut self, chunk: Chunk) {
        self.backlog += chunk.len();
        self.queue.push_back(chunk);
    }
}

impl<S: AsyncRead + Unpin> Shared<S> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> Shared<S> {
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.queue.is_empty() {
            let written = SCRATCH.with(|scratch| {
                let mut cork = scratch.borrow_mut();
                cork.clear();
                self.gather(&mut cork);
                Pin::new(&mut self.io).poll_write(cx, &cork)
            });
            match written {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.advance(n),
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.queue.capacity() > 0 {
            // An idle connection keeps no queue memory.
            self.queue = VecDeque::new();
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_flush(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    /// Copies up to [`CORK`] bytes of the queue, from where the last write stopped.
    fn gather(&self, cork: &mut Vec<u8>) {
        let mut skip = self.head;
        for chunk in &self.queue {
            for part in chunk.parts() {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                let part = &part[skip..];
                skip = 0;
                let room = CORK - cork.len();
                cork.extend_from_slice(&part[..part.len().min(room)]);
                if cork.len() == CORK {
                    return;
                }
            }
        }
    }

    /// Drops the `n` bytes just written from the front of the queue.
    fn advance(&mut self, n: usize) {
        self.backlog -= n;
        let mut n = self.head + n;
        while let Some(front) = self.queue.front() {
            let len = front.len();
            if n < len {
                break;
            }
            n -= len;
            self.queue.pop_front();
        }
        self.head = n;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Plug<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.shared.lock().poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Plug<S> {
    /// Takes all of `buf` at once, in order after what is queued: the codec writes whole
    /// frames, and a frame must never be split by one of the transport's.
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.shared
            .lock()
            .push(Chunk::bytes(Bytes::copy_from_slice(buf)));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.lock().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.lock().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Frames and the codec's bytes leave in the order they were queued, across writes
    /// the socket takes only in part, and an emptied queue holds no memory.
    #[tokio::test]
    async fn queued_bytes_leave_in_order_across_partial_writes() {
        let (ours, mut theirs) = tokio::io::duplex(7);
        let (mut plug, mut outlet) = split(ours);
        outlet.push(OpCode::Text, Bytes::from_static(b"hello"));
        // The codec's bytes are taken at once, whatever the socket's room.
        assert_eq!(plug.write(b"CODEC").await.unwrap(), 5);
        outlet.push(OpCode::Binary, Bytes::from(vec![9u8; 200]));
        assert_eq!(outlet.backlog(), 2 + 5 + 5 + 4 + 200);

        let expected: Vec<u8> = [&[0x81, 5][..], b"hello", b"CODEC", &[0x82, 126, 0, 200]]
            .concat()
            .into_iter()
            .chain(std::iter::repeat_n(9u8, 200))
            .collect();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; expected.len()];
            theirs.read_exact(&mut got).await.unwrap();
            assert_eq!(got, expected);
        });
        std::future::poll_fn(|cx| outlet.poll_flush(cx))
            .await
            .unwrap();
        reader.await.unwrap();
        outlet.with(|shared| {
            assert!(shared.queue.is_empty());
            assert_eq!(shared.queue.capacity(), 0);
            assert_eq!(shared.head, 0);
            assert_eq!(shared.backlog, 0);
        });
    }
}

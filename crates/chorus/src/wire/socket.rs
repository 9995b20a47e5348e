//! The live socket of an accepted handshake: [`Upgrading`] until the `101` is on the wire,
//! then [`Opened`] — where its frames come from (the inlet, or the permessage-deflate
//! codec) and the outlet its frames leave by — over [`HttpIo`], the stream hyper hands over.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use chorus_proto::ws::{Frame, Limits, OpCode};
use hyper_util::rt::TokioIo;

use super::error::WireError;
use super::inlet::Inlet;
use super::outlet::{Outlet, Plug};

/// The WebSocket of an accepted handshake, once the `101` is on the wire: the codec over a
/// [`Plug`], and the [`Outlet`] the transport writes data frames through.
pub(crate) struct Upgrading {
    pub(super) on: hyper::upgrade::OnUpgrade,
    /// The `Sec-WebSocket-Extensions` the response agreed to.
    pub(super) extensions: Option<Box<str>>,
    pub(super) options: yawc::Options,
    pub(super) limits: Limits,
}

/// An open WebSocket, ready for [`super::connection::run`]: where its frames come from, and
/// the [`Outlet`] its frames leave by.
pub(crate) struct Opened<S> {
    pub(crate) reader: Reader<S>,
    pub(crate) outlet: Outlet<S>,
}

/// Who reads a connection's frames.
pub(crate) enum Reader<S> {
    /// The transport itself, with no buffer while idle (see [`super::inlet`]), reading the
    /// socket through the outlet; it also writes every frame, through the outlet.
    Direct(Inlet),
    /// The codec, for a connection that negotiated permessage-deflate: it inflates what it
    /// reads and deflates what it writes, with per-connection state of its own. It answers
    /// pings and echoes closes itself.
    Codec(Box<yawc::WebSocket<Plug<S>>>),
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Opened<S> {
    /// Wraps a stream that has completed the handshake with the given agreed extensions.
    pub(crate) fn new(
        io: S,
        extensions: Option<&str>,
        options: yawc::Options,
        limits: Limits,
    ) -> Result<Self, WireError> {
        if extensions.is_none() {
            return Ok(Self {
                reader: Reader::Direct(Inlet::new(limits)),
                outlet: Outlet::alone(io),
            });
        }
        let (plug, outlet) = super::outlet::split(io);
        let ws = yawc::WebSocket::from_stream_with_extensions(
            plug,
            yawc::Role::Server,
            extensions,
            options,
        )?;
        Ok(Self {
            reader: Reader::Codec(Box::new(ws)),
            outlet,
        })
    }

    /// Whether the transport writes data frames itself (not when the codec compresses
    /// them).
    pub(crate) fn is_direct(&self) -> bool {
        matches!(self.reader, Reader::Direct(_))
    }

    /// The next message or control frame from the client.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Frame, WireError>> {
        match &mut self.reader {
            Reader::Direct(inlet) => inlet.poll_next(&mut self.outlet, cx),
            Reader::Codec(ws) => ws
                .poll_next_frame(cx)
                .map(|read| read.map(from_codec).map_err(WireError::from)),
        }
    }

    pub(crate) async fn next_frame(&mut self) -> Result<Frame, WireError> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Queues the answer to a ping. False if the codec owes it (it answers pings itself,
    /// and writes the pong when its sink is readied).
    pub(crate) fn pong(&mut self, payload: bytes::Bytes) -> bool {
        match self.reader {
            Reader::Direct(_) => {
                self.outlet.push(OpCode::Pong, payload);
                true
            }
            Reader::Codec(_) => false,
        }
    }
}

/// Frames leave through the outlet (pings, pongs, closes and data alike), or through the
/// codec when it compresses them: `SinkExt::send` sends one and flushes, `SinkExt::close`
/// writes what is queued and shuts the socket's sending side.
impl<S> futures::Sink<Frame> for Opened<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    type Error = WireError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.get_mut().reader {
            // The outlet takes every frame at once; its backlog is the transport's to bound.
            Reader::Direct(_) => Poll::Ready(Ok(())),
            Reader::Codec(ws) => Pin::new(&mut **ws).poll_ready(cx).map_err(Into::into),
        }
    }

    fn start_send(self: Pin<&mut Self>, frame: Frame) -> Result<(), Self::Error> {
        let this = self.get_mut();
        match &mut this.reader {
            Reader::Direct(_) => {
                this.outlet.push(frame.opcode(), frame.into_payload());
                Ok(())
            }
            Reader::Codec(ws) => Pin::new(&mut **ws)
                .start_send(to_codec(frame))
                .map_err(Into::into),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        match &mut this.reader {
            Reader::Direct(_) => this.outlet.poll_flush(cx).map_err(Into::into),
            Reader::Codec(ws) => Pin::new(&mut **ws).poll_flush(cx).map_err(Into::into),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        match &mut this.reader {
            Reader::Direct(_) => this.outlet.poll_shutdown(cx).map_err(Into::into),
            Reader::Codec(ws) => Pin::new(&mut **ws).poll_close(cx).map_err(Into::into),
        }
    }
}

/// Why an upgrade did not give a WebSocket.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpgradeError {
    #[error("the connection did not switch protocols: {0}")]
    Http(#[from] hyper::Error),
    #[error("the agreed extensions cannot be honoured: {0}")]
    Codec(#[from] WireError),
}

/// The socket of an upgraded connection.
///
/// Hyper hands an upgraded connection over as `Upgraded`: the connection's I/O boxed
/// behind a trait object, plus the bytes it read past the request. When those are none and
/// the I/O is a plain TCP stream — a connection our listener served, whose client waited
/// for the `101` before sending, as clients do — the stream is taken out of the box and
/// held as it is: 40 bytes in the connection instead of 48 plus a 32-byte allocation.
/// A client that did not wait gets its early bytes read first, from a box beside the
/// stream. Anything else (TLS, another server's I/O type) keeps hyper's box, boxed once
/// more so that the rare cases do not make every connection larger.
pub(crate) enum HttpIo {
    Tcp(tokio::net::TcpStream),
    Early(Box<Early>),
    Upgraded(Box<TokioIo<hyper::upgrade::Upgraded>>),
}

/// A TCP stream, and bytes hyper read from it past the handshake, to be read first.
pub(crate) struct Early {
    read: bytes::Bytes,
    io: tokio::net::TcpStream,
}

impl HttpIo {
    fn new(upgraded: hyper::upgrade::Upgraded) -> Self {
        match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) if parts.read_buf.is_empty() => Self::Tcp(parts.io.into_inner()),
            Ok(parts) => Self::Early(Box::new(Early {
                read: parts.read_buf,
                io: parts.io.into_inner(),
            })),
            Err(upgraded) => Self::Upgraded(Box::new(TokioIo::new(upgraded))),
        }
    }
}

impl tokio::io::AsyncRead for HttpIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_read(cx, buf),
            Self::Early(early) if !early.read.is_empty() => {
                let n = early.read.len().min(buf.remaining());
                buf.put_slice(&early.read.split_to(n));
                Poll::Ready(Ok(()))
            }
            Self::Early(early) => Pin::new(&mut early.io).poll_read(cx, buf),
            Self::Upgraded(io) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl HttpIo {
    /// Where writes go: the stream, whichever way it is held.
    fn writer(&mut self) -> Pin<&mut (dyn tokio::io::AsyncWrite + Unpin + Send)> {
        match self {
            Self::Tcp(io) => Pin::new(io),
            Self::Early(early) => Pin::new(&mut early.io),
            Self::Upgraded(io) => Pin::new(&mut **io),
        }
    }
}

impl tokio::io::AsyncWrite for HttpIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().writer().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().writer().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().writer().poll_shutdown(cx)
    }
}

impl Future for Upgrading {
    type Output = Result<Opened<HttpIo>, UpgradeError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = ready!(Pin::new(&mut self.on).poll(cx))?;
        let options = std::mem::take(&mut self.options);
        Poll::Ready(Ok(Opened::new(
            HttpIo::new(upgraded),
            self.extensions.as_deref(),
            options,
            self.limits,
        )?))
    }
}

/// A frame the codec read, as the transport handles it.
fn from_codec(frame: yawc::Frame) -> Frame {
    let opcode = match frame.opcode() {
        yawc::OpCode::Continuation => OpCode::Continuation,
        yawc::OpCode::Text => OpCode::Text,
        yawc::OpCode::Binary => OpCode::Binary,
        yawc::OpCode::Close => OpCode::Close,
        yawc::OpCode::Ping => OpCode::Ping,
        yawc::OpCode::Pong => OpCode::Pong,
    };
    Frame::new(opcode, frame.into_payload())
}

/// A frame for the codec to write (and compress, if it is a message).
fn to_codec(frame: Frame) -> yawc::Frame {
    let opcode = match frame.opcode() {
        OpCode::Continuation => yawc::OpCode::Continuation,
        OpCode::Text => yawc::OpCode::Text,
        OpCode::Binary => yawc::OpCode::Binary,
        OpCode::Close => yawc::OpCode::Close,
        OpCode::Ping => yawc::OpCode::Ping,
        OpCode::Pong => yawc::OpCode::Pong,
    };
    yawc::Frame::from((opcode, frame.into_payload()))
}

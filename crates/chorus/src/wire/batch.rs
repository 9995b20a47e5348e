//! Writing a connection's queue: [`Batch`], everything ready fed to the socket and flushed
//! once, so a burst of broadcasts costs one write rather than one per message.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use chorus_core::{CloseReason, Format, Outbound, PeerQueue};
use chorus_proto::ws::Frame;
use chorus_proto::{MessageKind, WsMessage};
use futures::Sink;
use tokio::io::{AsyncRead, AsyncWrite};

use super::closing::CLOSE_TIMEOUT;
use super::error::WireError;
use super::socket::Opened;

/// Most queued items written per flush, so a busy connection still reads its socket.
const MAX_BATCH: usize = 64;

/// Before a close the client caused — its close frame, or a protocol error after valid
/// messages in the same read — what is already queued for it (the replies to what it sent
/// before) goes out ahead of the close frame, in [`Batch`]es as usual, up to a close
/// request, within [`CLOSE_TIMEOUT`]. Only when the transport writes the frames: the codec
/// has queued its own close already.
pub(super) async fn send_queued<S>(socket: &mut Opened<S>, queue: &mut PeerQueue, format: Format)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if !socket.is_direct() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Some(item) = queue.try_next() {
            let mut batch = Batch::new(Some(item), format);
            let written = std::future::poll_fn(|cx| batch.poll(socket, queue, cx)).await;
            if !matches!(written, Ok(None)) {
                break;
            }
        }
    })
    .await;
}

/// How a batch ended: written and flushed (with the close request it stopped at, if it
/// dequeued one), or the socket's error.
pub(super) type BatchResult = Result<Option<(u16, String)>, WireError>;

/// One write batch: `first` and whatever else is ready (up to [`MAX_BATCH`] items), fed
/// to the codec and flushed once, after a ping if the heartbeat asked for one. A close
/// request stops it: everything before it is flushed, then the request is returned.
pub(super) struct Batch {
    /// A ping to send first.
    pub(super) ping: bool,
    /// The item being written, and the index of its next message to feed.
    item: Option<Outbound>,
    fed: usize,
    /// Items written so far.
    written: usize,
    /// A close request met: flush, then report it.
    close: Option<CloseReason>,
    format: Format,
    /// Messages and payload bytes fed so far, for the traffic counters.
    sent: (u64, u64),
}

impl Batch {
    pub(super) fn new(first: Option<Outbound>, format: Format) -> Self {
        Self {
            ping: false,
            item: first,
            fed: 0,
            written: 0,
            close: None,
            format,
            sent: (0, 0),
        }
    }

    /// The messages and payload bytes fed since the last call.
    pub(super) fn take_sent(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.sent)
    }

    pub(super) fn poll<S>(
        &mut self,
        socket: &mut Opened<S>,
        queue: &mut PeerQueue,
        cx: &mut Context<'_>,
    ) -> Poll<BatchResult>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if self.ping {
            if let Err(err) = ready!(poll_feed(socket, Frame::ping(Bytes::new()), cx)) {
                return Poll::Ready(Err(err));
            }
            self.ping = false;
        }
        while let Some(item) = &self.item {
            if let Outbound::Close(reason) = item {
                self.close = Some(reason.clone());
                self.item = None;
                break;
            }
            let messages = item.messages_for(self.format);
            while let Some(msg) = messages.get(self.fed) {
                if let Err(err) = ready!(poll_feed(socket, to_frame(msg), cx)) {
                    return Poll::Ready(Err(err));
                }
                self.fed += 1;
                self.sent.0 += 1;
                self.sent.1 += msg.payload.len() as u64;
            }
            self.written += usize::from(!messages.is_empty());
            self.fed = 0;
            self.item = if self.written < MAX_BATCH {
                queue.try_next()
            } else {
                None
            };
        }
        if let Err(err) = ready!(Pin::new(&mut *socket).poll_flush(cx)) {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(self
            .close
            .take()
            .map(|reason| (reason.code, reason.reason.to_string()))))
    }
}

/// Feeds one frame once the socket can take it (the outlet always can; the codec may have to
/// write first). On `Pending` the frame is dropped: the caller makes it again, from shared
/// bytes.
fn poll_feed<S>(
    socket: &mut Opened<S>,
    frame: Frame,
    cx: &mut Context<'_>,
) -> Poll<Result<(), WireError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut socket = Pin::new(socket);
    ready!(socket.as_mut().poll_ready(cx))?;
    Poll::Ready(socket.start_send(frame))
}

fn to_frame(msg: &WsMessage) -> Frame {
    match msg.kind {
        MessageKind::Text => Frame::text(msg.payload.clone()),
        MessageKind::Binary => Frame::binary(msg.payload.clone()),
    }
}

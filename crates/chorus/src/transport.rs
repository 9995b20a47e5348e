//! The WebSocket transport: one task per connection that owns the socket.
//!
//! The task waits on two things at once — the next frame from the client, and the next item
//! on the connection's outbound queue — and never holds a lock while it waits. Frames go to
//! a [`Session`] (the protocol: raw room, library endpoint or native), which reacts without
//! awaiting. Queued items are written in batches: everything ready is fed to the codec, then
//! flushed once, so a burst of broadcasts costs one syscall rather than one per message.
//! Control frames (ping → pong, close echo, protocol-error closes with the right code) are
//! the codec's job.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chorus_core::{CloseReason, Mailbox, Outbound, PeerQueue, WireFormat};
use chorus_proto::{MessageKind, WsMessage};
use futures::{FutureExt, Sink, SinkExt};
use tokio::io::{AsyncRead, AsyncWrite};
use yawc::close::CloseCode;

use crate::metrics::{Event, Metrics};
use crate::rate::TokenBucket;
use yawc::{Frame, OpCode, WebSocket, WebSocketError};

/// Most queued items written per flush, so a busy connection still reads its socket.
const MAX_BATCH: usize = 64;
/// Most frames handled in a row while the connection has something to write.
const READ_BURST: u32 = 64;
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Timing of a connection's heartbeat.
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    /// Time between server pings.
    pub(crate) ping_interval: Duration,
    /// Grace after a ping before a silent client is dropped.
    pub(crate) ping_timeout: Duration,
    /// Messages per second a client may send (`None`: unlimited), and the burst.
    pub(crate) rate: Option<(u32, u32)>,
    /// Where the defences that fire are counted.
    pub(crate) metrics: Arc<Metrics>,
    /// Whether the transport keeps the heartbeat with WebSocket pings. Off for protocols
    /// that have their own (Engine.IO pings in its packets, and watches the answers).
    pub(crate) ws_pings: bool,
}

/// The protocol logic of one connection, driven by [`run`].
pub(crate) trait Session: Send {
    /// A complete text or binary message from the client.
    fn on_message(&mut self, msg: WsMessage);
    /// The connection is over; called exactly once.
    fn on_close(&mut self, closed: &Closed);
}

/// How a connection ended.
#[derive(Debug, Clone, Default)]
pub struct Closed {
    /// The close code sent or received, if any.
    pub code: Option<u16>,
    /// The close reason sent or received.
    pub reason: String,
    /// True if the server started the close.
    pub by_server: bool,
    /// The protocol or I/O error that ended the connection, if one did.
    pub error: Option<String>,
}

/// Drives a connection until it closes: awaits the HTTP upgrade, then runs the socket.
/// If the upgrade never completes, the session is closed as if the client had left.
///
/// Heartbeat: every `ping_interval` the server pings; anything the client sends (a pong,
/// a message) proves it alive. A client silent for `ping_interval + ping_timeout` is
/// dropped, which runs the session's close and so empties its rooms.
///
/// This future is the bulk of what an idle connection costs, so it is kept small: the
/// paths a connection takes rarely (pings, closes, protocol errors) run in boxed futures
/// allocated only while they run, and the socket lives in this future once.
///
/// Written as a function returning an `async` block rather than an `async fn`: an
/// `async fn` keeps each argument twice in its future (as passed and as a local), which
/// every idle connection would pay for. The upgrade future is boxed for the same reason:
/// it is only alive until the socket is.
pub(crate) fn run<S, E>(
    upgrade: impl std::future::Future<Output = Result<WebSocket<S>, E>> + Send,
    mut queue: PeerQueue,
    mut session: impl Session,
    config: TransportConfig,
) -> impl std::future::Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    E: std::fmt::Display,
{
    let upgrade = Box::pin(upgrade);
    async move {
        let mut ws = match upgrade.await {
            Ok(ws) => ws,
            Err(err) => {
                tracing::debug!(%err, "upgrade failed");
                session.on_close(&Closed {
                    error: Some(err.to_string()),
                    ..Closed::default()
                });
                return;
            }
        };
        let format = queue.mailbox().format();
        // Held apart from the queue so a write (which borrows the queue) can watch it.
        let mailbox = queue.mailbox().clone();
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + config.ping_interval,
            config.ping_interval,
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = tokio::time::Instant::now();
        let mut bucket = config
            .rate
            .map(|(rate, burst)| TokenBucket::new(rate, burst));
        // Set when our close frame is on its way: the client's is then awaited.
        let mut closing = false;
        // Reads done in a row since the last write: see READ_BURST.
        let mut reads = 0u32;
        let closed = loop {
            // Frames already received are handled before anything is written, so the replies
            // and broadcasts they cause leave in one write instead of one each; after
            // READ_BURST of them the writer gets its turn even if the client keeps sending.
            let writer_turn = if reads >= READ_BURST {
                reads = 0;
                queue.next().now_or_never()
            } else {
                None
            };
            let step = match writer_turn {
                Some(item) => Step::Write(item),
                None => tokio::select! {
                    biased;
                    frame = ws.next_frame() => Step::Read(frame),
                    item = queue.next() => Step::Write(item),
                    _ = heartbeat.tick(), if config.ws_pings => Step::Tick,
                },
            };
            match step {
                Step::Tick => {
                    if let Some(closed) =
                        Box::pin(heartbeat_due(&mut ws, last_heard, &config)).await
                    {
                        break closed;
                    }
                }
                Step::Write(item) => {
                    reads = 0;
                    let Some(item) = item else {
                        break Closed {
                            by_server: true,
                            ..Closed::default()
                        };
                    };
                    match write(&mut ws, &mut queue, &mailbox, item, format, &config).await {
                        Written::All => {}
                        Written::Close(code, reason) => {
                            closing = true;
                            break Box::pin(send_close(&mut ws, code, reason)).await;
                        }
                        Written::Failed(closed) => break closed,
                    }
                }
                Step::Read(frame) => {
                    reads += 1;
                    match frame {
                        Ok(frame) => {
                            last_heard = tokio::time::Instant::now();
                            let data = matches!(frame.opcode(), OpCode::Text | OpCode::Binary);
                            if data
                                && bucket
                                    .as_mut()
                                    .is_some_and(|b| !b.take(last_heard.into_std()))
                            {
                                config.metrics.count(Event::RateLimited);
                                closing = true;
                                break Box::pin(send_close(
                                    &mut ws,
                                    1008,
                                    "message rate limit exceeded".into(),
                                ))
                                .await;
                            }
                            match frame.opcode() {
                                OpCode::Text => session
                                    .on_message(WsMessage::text_from_utf8(frame.into_payload())),
                                OpCode::Binary => {
                                    session.on_message(WsMessage::binary(frame.into_payload()))
                                }
                                OpCode::Close => {
                                    // A close frame without a status code reports 1005, as RFC 6455
                                    // §7.1.5 says; `None` is kept for connections that simply dropped.
                                    let code = Some(frame.close_code().map_or(1005, u16::from));
                                    let reason = frame
                                        .close_reason()
                                        .ok()
                                        .flatten()
                                        .unwrap_or_default()
                                        .to_owned();
                                    Box::pin(finish(&mut ws)).await;
                                    break Closed {
                                        code,
                                        reason,
                                        ..Closed::default()
                                    };
                                }
                                _ => {}
                            }
                        }
                        Err(err) => {
                            let code = error_close_code(&err);
                            if let Some(code) = code {
                                config.metrics.count(Event::ProtocolError);
                                Box::pin(fail_connection(&mut ws, code, &err)).await;
                            }
                            break Closed {
                                code,
                                by_server: code.is_some(),
                                error: Some(err.to_string()),
                                ..Closed::default()
                            };
                        }
                    }
                }
            }
        };
        // The session ends first: a connection the server is closing leaves its rooms now, not
        // after a client that may never answer finishes the closing handshake.
        session.on_close(&closed);
        if closing && closed.error.is_none() {
            Box::pin(await_close(&mut ws)).await;
        }
    }
}

/// A heartbeat tick: drops a client silent for too long, else pings it. Returns how the
/// connection ended, if it did.
async fn heartbeat_due<S>(
    ws: &mut WebSocket<S>,
    last_heard: tokio::time::Instant,
    config: &TransportConfig,
) -> Option<Closed>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if last_heard.elapsed() >= config.ping_interval + config.ping_timeout {
        config.metrics.count(Event::HeartbeatTimeout);
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close()).await;
        return Some(Closed {
            error: Some("heartbeat timeout: the client stopped answering pings".into()),
            ..Closed::default()
        });
    }
    match tokio::time::timeout(config.ping_timeout, ws.send(Frame::ping(Bytes::new()))).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(Closed {
            error: Some(err.to_string()),
            ..Closed::default()
        }),
        Err(_) => {
            config.metrics.count(Event::WriteTimeout);
            Some(write_timed_out())
        }
    }
}

fn write_timed_out() -> Closed {
    Closed {
        error: Some("write timed out: the client stopped reading".into()),
        ..Closed::default()
    }
}

/// What the connection's loop does next.
enum Step {
    /// A frame (or the reason there is none) from the client.
    Read(Result<Frame, WebSocketError>),
    /// An item from the outbound queue.
    Write(Option<Outbound>),
    /// The heartbeat is due.
    Tick,
}

/// What became of a write.
enum Written {
    /// Everything taken from the queue went out.
    All,
    /// A close request was dequeued (everything before it went out): send it.
    Close(u16, String),
    /// The connection is over.
    Failed(Closed),
}

/// Writes `item` and whatever else is queued.
///
/// A client that stopped reading blocks the write; when the hub gives up on it (slow
/// consumer), stop writing and drop the socket: no close frame can reach a peer that does
/// not read. One that stopped reading without more messages coming to fill its queue is
/// given up after the heartbeat's whole grace period. The write is polled first: a close at
/// the head of the queue (how an Engine.IO session ends: parse error, ping or connect
/// timeout) still goes out when the socket takes it; only a write that blocks is abandoned.
///
/// The batch is driven by polling ([`Batch::poll`]), not by an `async` block, and the
/// usual case — the socket takes everything at once — needs no timer, no close watch and
/// no allocation: only a write that has to wait moves to a boxed future that watches them.
/// This keeps the connection's future (and so every idle connection) small.
async fn write<S>(
    ws: &mut WebSocket<S>,
    queue: &mut PeerQueue,
    mailbox: &Mailbox,
    item: Outbound,
    format: WireFormat,
    config: &TransportConfig,
) -> Written
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut batch = Batch::new(item, format);
    let first = std::future::poll_fn(|cx| batch.poll(ws, queue, cx)).now_or_never();
    let written = match first {
        Some(written) => written,
        None => match Box::pin(write_blocked(ws, queue, mailbox, &mut batch, config)).await {
            Ok(written) => written,
            Err(gave_up) => return gave_up,
        },
    };
    match written {
        Ok(None) => Written::All,
        Ok(Some((code, reason))) => {
            if mailbox.close_reason().is_some_and(|r| is_slow_consumer(&r)) {
                // The hub's slow-consumer close, found at the head of the queue.
                config.metrics.count(Event::SlowConsumer);
            }
            Written::Close(code, reason)
        }
        Err(err) => Written::Failed(Closed {
            error: Some(err.to_string()),
            ..Closed::default()
        }),
    }
}

/// A batch the socket did not take at once: finished unless the client stops reading for
/// the whole grace period or the hub gives up on it first (`Err`, how the connection ends).
async fn write_blocked<S>(
    ws: &mut WebSocket<S>,
    queue: &mut PeerQueue,
    mailbox: &Mailbox,
    batch: &mut Batch,
    config: &TransportConfig,
) -> Result<BatchResult, Written>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    tokio::select! {
        biased;
        written = std::future::poll_fn(|cx| batch.poll(ws, queue, cx)) => Ok(written),
        () = tokio::time::sleep(config.ping_interval + config.ping_timeout) => {
            config.metrics.count(Event::WriteTimeout);
            Err(Written::Failed(write_timed_out()))
        }
        () = mailbox.closing() => {
            let reason = mailbox.close_reason().unwrap_or_else(|| {
                CloseReason::new(1008, "slow consumer: outbound queue full")
            });
            if is_slow_consumer(&reason) {
                config.metrics.count(Event::SlowConsumer);
            }
            Err(Written::Failed(Closed {
                code: Some(reason.code),
                reason: reason.reason.to_string(),
                by_server: true,
                error: None,
            }))
        }
    }
}

/// How a batch ended: written and flushed (with the close request it stopped at, if it
/// dequeued one), or the socket's error.
type BatchResult = Result<Option<(u16, String)>, WebSocketError>;

/// One write batch: `first` and whatever else is ready (up to [`MAX_BATCH`] items), fed
/// to the codec and flushed once. A close request stops it: everything before it is
/// flushed, then the request is returned.
struct Batch {
    /// The item being written, and the index of its next message to feed.
    item: Option<Outbound>,
    fed: usize,
    /// Items written so far.
    written: usize,
    /// A close request met: flush, then report it.
    close: Option<CloseReason>,
    format: WireFormat,
}

impl Batch {
    fn new(first: Outbound, format: WireFormat) -> Self {
        Self {
            item: Some(first),
            fed: 0,
            written: 0,
            close: None,
            format,
        }
    }

    fn poll<S>(
        &mut self,
        ws: &mut WebSocket<S>,
        queue: &mut PeerQueue,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<BatchResult>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        use std::task::Poll;
        let mut ws = std::pin::Pin::new(ws);
        while let Some(item) = &self.item {
            if let Outbound::Close(reason) = item {
                self.close = Some(reason.clone());
                self.item = None;
                break;
            }
            let messages = item.messages_for(self.format);
            while let Some(msg) = messages.get(self.fed) {
                if let Err(err) = std::task::ready!(ws.as_mut().poll_ready(cx)) {
                    return Poll::Ready(Err(err));
                }
                if let Err(err) = ws.as_mut().start_send(to_frame(msg)) {
                    return Poll::Ready(Err(err));
                }
                self.fed += 1;
            }
            self.written += usize::from(!messages.is_empty());
            self.fed = 0;
            self.item = if self.written < MAX_BATCH {
                queue.try_next()
            } else {
                None
            };
        }
        if let Err(err) = std::task::ready!(ws.as_mut().poll_flush(cx)) {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(self
            .close
            .take()
            .map(|reason| (reason.code, reason.reason.to_string()))))
    }
}

fn to_frame(msg: &WsMessage) -> Frame {
    match msg.kind {
        MessageKind::Text => Frame::text(msg.payload.clone()),
        MessageKind::Binary => Frame::binary(msg.payload.clone()),
    }
}

/// Sends our close frame; [`await_close`] then waits for the client's. Should the send
/// fail, the error is reported and there is nothing to wait for.
async fn send_close<S>(ws: &mut WebSocket<S>, code: u16, reason: String) -> Closed
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut reason = reason;
    truncate_reason(&mut reason);
    let sent = ws
        .send(Frame::close(CloseCode::from(code), reason.as_bytes()))
        .await;
    Closed {
        code: Some(code),
        reason,
        by_server: true,
        error: sent.err().map(|err| err.to_string()),
    }
}

/// After our close frame: waits (bounded) for the client's, then shuts the socket.
async fn await_close<S>(ws: &mut WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        loop {
            match ws.next_frame().await {
                Ok(frame) if frame.opcode() == OpCode::Close => break,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close()).await;
}

/// After the client's close (or a protocol error), lets the codec write the close frame it
/// owes, then shuts the socket.
async fn finish<S>(ws: &mut WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // The codec queues the echoed close (or the error close) and writes it on the next
    // read, which then reports the connection closed.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.next_frame()).await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close()).await;
}

/// Fails the connection after a protocol error: makes sure a close frame with `code` goes
/// out, then shuts the socket.
///
/// The codec sends that close itself for errors found while decoding a frame, but not for
/// those found after reassembly (invalid UTF-8 in a message, a message over the size limit,
/// a bad fragment sequence). It marks itself closed when it did send one, so the next read
/// reports `ConnectionClosed` at once; anything else means the close is ours to send.
async fn fail_connection<S>(ws: &mut WebSocket<S>, code: u16, err: &WebSocketError)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let codec_closed = matches!(
        ws.next_frame().now_or_never(),
        Some(Err(WebSocketError::ConnectionClosed))
    );
    if !codec_closed {
        let mut reason = err.to_string();
        truncate_reason(&mut reason);
        let frame = Frame::close(CloseCode::from(code), reason.as_bytes());
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.send(frame)).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close()).await;
}

/// The close code the codec sends for a protocol error, for reporting.
fn error_close_code(err: &WebSocketError) -> Option<u16> {
    Some(match err {
        WebSocketError::FrameTooLarge => 1009,
        WebSocketError::InvalidUTF8 => 1007,
        WebSocketError::InvalidOpCode(_) => 1003,
        WebSocketError::ReservedBitsNotZero
        | WebSocketError::ControlFrameFragmented
        | WebSocketError::PingFrameTooLarge
        | WebSocketError::InvalidFragment
        | WebSocketError::InvalidCloseFrame
        | WebSocketError::InvalidCloseCode
        | WebSocketError::FragmentTimeout
        | WebSocketError::InvalidContinuationFrame
        | WebSocketError::CompressionNotSupported => 1002,
        WebSocketError::ConnectionClosed | WebSocketError::IoError(_) => return None,
        _ => 1011,
    })
}

/// True for the hub's slow-consumer verdict (other closes also jump the queue: an
/// Engine.IO session's ping timeout or parse error).
fn is_slow_consumer(reason: &CloseReason) -> bool {
    reason.code == 1008 && reason.reason.starts_with("slow consumer")
}

/// Close reasons are limited to 123 bytes on the wire; cut at a character boundary.
fn truncate_reason(reason: &mut String) {
    if reason.len() > 123 {
        let mut end = 123;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
}

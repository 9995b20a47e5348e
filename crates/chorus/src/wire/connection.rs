//! The WebSocket connection: one task per connection that owns the socket.
//!
//! The task waits on two things at once — the next frame from the client, and the next item
//! on the connection's outbound queue — and never holds a lock while it waits. Frames go to
//! a [`Session`] (the protocol: raw room, library endpoint, native, Engine.IO), which reacts
//! without awaiting. Queued items are written in [`Batch`]es: everything ready is queued on
//! the [`super::outlet`], then flushed once, so a burst of broadcasts costs one syscall
//! rather than one per message. Frames are read and checked by [`super::inlet`]; the
//! connection answers pings, echoes the client's close and fails a connection that breaks
//! the protocol with the right close code. (A connection with permessage-deflate is read
//! and written by the codec instead, which answers pings and echoes closes itself.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use chorus_core::{CloseReason, Format, Outbound, PeerQueue};
use chorus_proto::ws::{Frame, OpCode};
use chorus_proto::WsMessage;
use futures::{Sink, SinkExt};
use tokio::io::{AsyncRead, AsyncWrite};

use super::batch::{send_queued, Batch, BatchResult};
use super::close;
use super::closing::{await_close, fail_connection, finish, send_close, CLOSE_TIMEOUT};
use super::error::WireError;
use super::handshake::Upgrade;
use super::pulse::{Beat, Heard, Pulse};
use super::rate::TokenBucket;
use super::session::{Closed, Session};
use super::socket::{Opened, Reader};
use crate::metrics::{Event, Metrics, Protocol};

/// Most frames handled in a row while the connection has something to write.
const READ_BURST: u8 = 64;
/// Most bytes the client may leave unread (pongs the codec owes it, mostly) before it is
/// no longer read from: see [`Open::poll_owed`].
const READ_GATE: usize = 64 * 1024;

/// Timing of a connection's heartbeat.
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    /// Time between server pings.
    pub(crate) ping_interval: Duration,
    /// Grace after a ping before a silent client is dropped.
    pub(crate) ping_timeout: Duration,
    /// Messages per second a client may send (`None`: unlimited), and the burst.
    pub(crate) rate: Option<(u32, u32)>,
    /// Where the defences that fire, and the traffic, are counted.
    pub(crate) metrics: Arc<Metrics>,
    /// The protocol the traffic is counted under.
    pub(crate) protocol: Protocol,
    /// The clock of the heartbeat the transport keeps with WebSocket pings. `None` for
    /// protocols that have their own (Engine.IO pings in its packets, and watches the
    /// answers).
    pub(crate) pulse: Option<Arc<Pulse>>,
}

/// Most bytes a connection task's future may take. Tokio lays a task out as 96 bytes of
/// its own (state, links, scheduler, join waker) plus the future's stage — the future, and
/// a tag when the future leaves no spare value for it — in cells aligned to 128 bytes: a
/// future of 152 bytes or less always makes a 256-byte task, a larger one may make a
/// 384-byte one, per idle connection. Checked for every task spawned in debug builds.
pub(crate) const TASK_FUTURE_BUDGET: usize = 152;

/// Drives a connection until it closes: awaits the HTTP upgrade, then runs the socket.
/// If the upgrade never completes, the session is closed as if the client had left.
///
/// Heartbeat: every `ping_interval` the server pings; anything the client sends (a pong,
/// a message) proves it alive. A client silent for `ping_interval + ping_timeout` is
/// dropped, which runs the session's close and so empties its rooms.
pub(crate) fn run<S, E, U, T>(
    upgrade: U,
    queue: PeerQueue,
    session: T,
    config: Arc<TransportConfig>,
) -> Connection<S, U, T>
where
    U: Future<Output = Result<Opened<S>, E>>,
{
    Connection {
        state: State::Upgrading {
            upgrade: Box::pin(upgrade),
            queue,
            session,
            config,
        },
    }
}

/// Runs a registered connection on its own task once the HTTP connection has switched
/// protocols; if it never does, the session is closed as if the client had left.
pub(crate) fn spawn(
    upgrade: Upgrade,
    queue: PeerQueue,
    session: impl Session + 'static,
    config: Arc<TransportConfig>,
) {
    use futures::FutureExt;
    let Upgrade { upgraded, slot } = upgrade;
    // Not an `async` block around the connection: that would keep its captures beside the
    // connection's own future for the connection's whole life.
    let task = run(upgraded, queue, session, config).map(move |()| drop(slot));
    debug_assert!(
        std::mem::size_of_val(&task) <= TASK_FUTURE_BUDGET,
        "a connection task of {} bytes: box its session",
        std::mem::size_of_val(&task)
    );
    tokio::spawn(task);
}

/// A connection's whole life, as one future written by hand.
///
/// This future is the bulk of what an idle connection costs, which is why it is not an
/// `async` block: a compiler-built state machine lays out every local of every await point
/// side by side with padding between them, and keeps its captured arguments for its whole
/// life even once they are moved on — about 1.9 KiB per connection, where the fields an
/// idle connection needs take about 1.1 KiB. Here the open socket's state is exactly
/// [`Open`]; a write the socket does not take at once, and the closing handshake, run in
/// boxed futures allocated only while they last.
pub(crate) struct Connection<S, U, T> {
    state: State<S, U, T>,
}

// The open state is the one a connection spends its life in; boxing it would cost every
// connection one more allocation to make the rare states smaller.
#[allow(clippy::large_enum_variant)]
enum State<S, U, T> {
    /// Waiting for the HTTP connection to switch protocols.
    Upgrading {
        upgrade: Pin<Box<U>>,
        queue: PeerQueue,
        session: T,
        config: Arc<TransportConfig>,
    },
    /// The socket is open.
    Open(Open<S, T>),
    /// The connection is over but for its closing handshake and the session's close.
    Ending(Pin<Box<dyn Future<Output = ()> + Send>>),
    Done,
}

impl<S, E, U, T> Future for Connection<S, U, T>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    E: std::fmt::Display,
    U: Future<Output = Result<Opened<S>, E>>,
    T: Session + Unpin + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Upgrading { upgrade, .. } => {
                    let upgraded = ready!(upgrade.as_mut().poll(cx));
                    let State::Upgrading {
                        queue,
                        mut session,
                        config,
                        ..
                    } = std::mem::replace(&mut this.state, State::Done)
                    else {
                        unreachable!("matched above")
                    };
                    match upgraded {
                        Ok(opened) => {
                            this.state = State::Open(Open::new(opened, queue, session, config));
                        }
                        Err(err) => {
                            tracing::debug!(%err, "upgrade failed");
                            session.on_close(&Closed {
                                error: Some(err.to_string()),
                                ..Closed::default()
                            });
                            return Poll::Ready(());
                        }
                    }
                }
                State::Open(open) => {
                    let end = ready!(open.poll_open(cx));
                    let State::Open(open) = std::mem::replace(&mut this.state, State::Done) else {
                        unreachable!("matched above")
                    };
                    this.state = State::Ending(Box::pin(open.end(end)));
                }
                State::Ending(ending) => {
                    ready!(ending.as_mut().poll(cx));
                    this.state = State::Done;
                    return Poll::Ready(());
                }
                State::Done => return Poll::Ready(()),
            }
        }
    }
}

/// An open connection: the socket, its queue and protocol, and the heartbeat.
struct Open<S, T> {
    socket: Opened<S>,
    queue: PeerQueue,
    session: T,
    config: Arc<TransportConfig>,
    /// When the client was last heard from.
    last_heard: Heard,
    /// Boxed: most servers set no rate, and every connection holds the field.
    bucket: Option<Box<TokenBucket>>,
    format: Format,
    /// Frames handled in a row since the last write: see [`READ_BURST`].
    reads: u8,
    /// A ping came and the codec owes a pong, to hand over before the next read.
    pong_owed: bool,
    /// Where the heartbeat's clock ticks this connection; `None` for protocols with a
    /// heartbeat of their own.
    beat: Option<Beat>,
    /// A write the socket did not take at once, with its watchdog.
    blocked: Option<Box<Blocked>>,
}

/// How an open connection ended, and what is left to do on its socket.
enum End {
    /// Nothing: drop the socket.
    Drop(Closed),
    /// Our close frame, then the client's is awaited.
    SendClose(u16, String),
    /// The client's close frame came: the codec's echo goes out, then the socket shuts.
    Echo(Closed),
    /// A protocol error: a close frame with the code goes out, then the socket shuts.
    Fail(u16, WireError, Closed),
    /// The socket shuts without more (a client silent past the heartbeat).
    Shut(Closed),
}

/// A write batch the socket did not take at once, and what gives up on it: the write
/// deadline, or the hub's close (a slow consumer).
struct Blocked {
    batch: Batch,
    watch: Pin<Box<dyn Future<Output = GaveUp> + Send>>,
}

enum GaveUp {
    Deadline,
    Closing,
}

impl<S, T> Open<S, T>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: Session + 'static,
{
    fn new(opened: Opened<S>, queue: PeerQueue, session: T, config: Arc<TransportConfig>) -> Self {
        let format = queue.mailbox().format();
        let beat = config
            .pulse
            .as_ref()
            .map(|pulse| pulse.enroll(queue.mailbox()));
        let bucket = config
            .rate
            .map(|(rate, burst)| Box::new(TokenBucket::new(rate, burst)));
        config.metrics.traffic.opened(config.protocol, true);
        Self {
            socket: opened,
            queue,
            session,
            config,
            last_heard: Heard::at(Instant::now()),
            bucket,
            format,
            reads: 0,
            pong_owed: false,
            beat,
            blocked: None,
        }
    }

    /// Runs the connection until it ends. Waits on the next frame from the client, the
    /// next item on the queue and the heartbeat, in that order of preference.
    ///
    /// Frames already received are handled before anything is written, so the replies and
    /// broadcasts they cause leave in one write instead of one each; after [`READ_BURST`]
    /// of them the writer gets its turn even if the client keeps sending. While a write
    /// is blocked nothing else happens: the client is not read from until it reads.
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        loop {
            if let Some(blocked) = &mut self.blocked {
                let written = match blocked.batch.poll(&mut self.socket, &mut self.queue, cx) {
                    Poll::Ready(written) => {
                        count_sent(&self.config, &mut blocked.batch);
                        written
                    }
                    Poll::Pending => {
                        let gave_up = ready!(blocked.watch.as_mut().poll(cx));
                        return Poll::Ready(self.gave_up(gave_up));
                    }
                };
                self.blocked = None;
                match self.written(written) {
                    Some(end) => return Poll::Ready(end),
                    None => continue,
                }
            }
            if self.reads >= READ_BURST {
                self.reads = 0;
                if let Poll::Ready(item) = self.queue.poll_next(cx) {
                    match self.write(item, cx) {
                        Some(end) => return Poll::Ready(end),
                        None => continue,
                    }
                }
            }
            let readable = match self.poll_owed(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(end)) => return Poll::Ready(end),
                Poll::Pending => false,
            };
            if readable {
                if let Poll::Ready(frame) = self.socket.poll_next(cx) {
                    self.reads += 1;
                    match self.on_frame(frame) {
                        Some(end) => return Poll::Ready(end),
                        None => continue,
                    }
                }
            }
            if let Poll::Ready(item) = self.queue.poll_next(cx) {
                self.reads = 0;
                match self.write(item, cx) {
                    Some(end) => return Poll::Ready(end),
                    None => continue,
                }
            }
            // The heartbeat's tick comes through the queue (see `crate::pulse`): seen here,
            // after the queue's waker is registered, it cannot be missed.
            if self.queue.ticked() {
                match self.heartbeat_due(cx) {
                    Some(end) => return Poll::Ready(end),
                    None => continue,
                }
            }
            // Pongs queued while reading leave once there is nothing more to read (a
            // socket that does not take them wakes this task when it can).
            if self.socket.outlet.backlog() > 0 {
                if let Poll::Ready(Err(err)) = self.socket.outlet.poll_flush(cx) {
                    return Poll::Ready(write_failed(&err));
                }
            }
            return Poll::Pending;
        }
    }

    /// Whether the client may be read from: not while it leaves more than [`READ_GATE`]
    /// bytes unread — pongs, mostly: a client that sends pings and never reads stops being
    /// read (TCP then stops it sending) instead of making the server queue pongs without
    /// bound. The codec (permessage-deflate connections) writes its pongs only once it has
    /// no frame left to read — never, in a flood — so they are handed to the outlet here.
    fn poll_owed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), End>> {
        if self.pong_owed {
            if let Reader::Codec(ws) = &mut self.socket.reader {
                // Readying the codec's sink writes what it owes; `Pending` means only
                // that the socket did not take it all, and the rest is in the backlog.
                if let Poll::Ready(Err(err)) = Pin::new(&mut **ws).poll_ready(cx) {
                    return Poll::Ready(Err(write_failed(&err)));
                }
            }
            self.pong_owed = false;
        }
        if self.socket.outlet.backlog() <= READ_GATE {
            return Poll::Ready(Ok(()));
        }
        match ready!(self.socket.outlet.poll_flush(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(err) => Poll::Ready(Err(write_failed(&err))),
        }
    }

    /// A frame (or the reason there is none) from the client.
    fn on_frame(&mut self, frame: Result<Frame, WireError>) -> Option<End> {
        let frame = match frame {
            Ok(frame) => frame,
            Err(err) => {
                let code = err.close_code();
                let closed = Closed {
                    code,
                    by_server: code.is_some(),
                    error: Some(err.to_string()),
                    ..Closed::default()
                };
                return Some(match code {
                    Some(code) => {
                        self.config.metrics.count(Event::ProtocolError);
                        End::Fail(code, err, closed)
                    }
                    None => End::Drop(closed),
                });
            }
        };
        let now = Instant::now();
        self.last_heard = Heard::at(now);
        // A ping costs an answer, so it counts as a message.
        let counted = matches!(frame.opcode(), OpCode::Text | OpCode::Binary | OpCode::Ping);
        if frame.opcode() == OpCode::Ping && !self.socket.pong(frame.payload().clone()) {
            self.pong_owed = true;
        }
        if counted && self.bucket.as_mut().is_some_and(|b| !b.take(now)) {
            self.config.metrics.count(Event::RateLimited);
            let (code, reason) = close::rate_limited();
            return Some(End::SendClose(code, reason.into()));
        }
        match frame.opcode() {
            OpCode::Text | OpCode::Binary => {
                let traffic = &self.config.metrics.traffic;
                traffic.received(self.config.protocol, 1, frame.payload().len() as u64);
                let text = frame.opcode() == OpCode::Text;
                let payload = frame.into_payload();
                self.session.on_message(if text {
                    WsMessage::text_from_utf8(payload)
                } else {
                    WsMessage::binary(payload)
                });
            }
            OpCode::Close => {
                // A close frame without a status code reports 1005, as RFC 6455 §7.1.5
                // says; `None` is kept for connections that simply dropped.
                let code = Some(frame.close_code().unwrap_or(close::NO_STATUS));
                let reason = frame.close_reason().unwrap_or_default().to_owned();
                return Some(End::Echo(Closed {
                    code,
                    reason,
                    ..Closed::default()
                }));
            }
            _ => {}
        }
        None
    }

    /// Writes `item` and whatever else is queued (see [`Batch`]). The usual case — the
    /// socket takes everything at once — needs no timer, no close watch and no allocation.
    fn write(&mut self, item: Option<Outbound>, cx: &mut Context<'_>) -> Option<End> {
        let Some(item) = item else {
            return Some(End::Drop(Closed {
                by_server: true,
                ..Closed::default()
            }));
        };
        let grace = self.config.ping_interval + self.config.ping_timeout;
        self.start(Batch::new(Some(item), self.format), grace, cx)
    }

    /// A heartbeat tick: drops a client silent for too long, else pings it (a ping the
    /// socket does not take within `ping_timeout` ends the connection).
    fn heartbeat_due(&mut self, cx: &mut Context<'_>) -> Option<End> {
        let silent = self.last_heard.until(Instant::now());
        if silent >= self.config.ping_interval + self.config.ping_timeout {
            self.config.metrics.count(Event::HeartbeatTimeout);
            return Some(End::Shut(Closed {
                error: Some("heartbeat timeout: the client stopped answering pings".into()),
                ..Closed::default()
            }));
        }
        let mut ping = Batch::new(None, self.format);
        ping.ping = true;
        self.start(ping, self.config.ping_timeout, cx)
    }

    /// Polls a new batch once; one the socket does not take at once is boxed with a
    /// watchdog that gives up after `grace` or at the hub's close.
    fn start(&mut self, mut batch: Batch, grace: Duration, cx: &mut Context<'_>) -> Option<End> {
        match batch.poll(&mut self.socket, &mut self.queue, cx) {
            Poll::Ready(written) => {
                count_sent(&self.config, &mut batch);
                self.written(written)
            }
            Poll::Pending => {
                let mailbox = self.queue.mailbox().clone();
                let watch = Box::pin(async move {
                    tokio::select! {
                        biased;
                        () = tokio::time::sleep(grace) => GaveUp::Deadline,
                        () = mailbox.closing() => GaveUp::Closing,
                    }
                });
                self.blocked = Some(Box::new(Blocked { batch, watch }));
                None
            }
        }
    }

    /// What a finished batch means for the connection.
    fn written(&mut self, written: BatchResult) -> Option<End> {
        match written {
            Ok(None) => None,
            Ok(Some((code, reason))) => {
                if self
                    .queue
                    .mailbox()
                    .close_reason()
                    .is_some_and(|r| close::is_slow_consumer(&r))
                {
                    // The hub's slow-consumer close, found at the head of the queue.
                    self.config.metrics.count(Event::SlowConsumer);
                }
                Some(End::SendClose(code, reason))
            }
            Err(err) => Some(write_failed(&err)),
        }
    }

    /// A blocked write was given up. A client that stopped reading is dropped: no close
    /// frame can reach a peer that does not read.
    fn gave_up(&mut self, gave_up: GaveUp) -> End {
        self.blocked = None;
        match gave_up {
            GaveUp::Deadline => {
                self.config.metrics.count(Event::WriteTimeout);
                End::Drop(write_timed_out())
            }
            GaveUp::Closing => {
                let reason = self.queue.mailbox().close_reason().unwrap_or_else(|| {
                    CloseReason::new(close::POLICY, "slow consumer: outbound queue full")
                });
                if close::is_slow_consumer(&reason) {
                    self.config.metrics.count(Event::SlowConsumer);
                }
                End::Drop(Closed {
                    code: Some(reason.code),
                    reason: reason.reason.to_string(),
                    by_server: true,
                    error: None,
                })
            }
        }
    }

    /// The rest of a connection that ended: what its socket still owes, then the session's
    /// close — before waiting for the client's close frame, so a connection the server is
    /// closing leaves its rooms now, not after a client that may never answer.
    async fn end(self, end: End) {
        let Self {
            mut socket,
            mut queue,
            mut session,
            format,
            config,
            beat,
            ..
        } = self;
        if let (Some(pulse), Some(beat)) = (&config.pulse, beat) {
            pulse.leave(queue.mailbox(), beat);
        }
        config.metrics.traffic.opened(config.protocol, false);
        let (closed, await_reply) = match end {
            End::Drop(closed) => (closed, false),
            End::SendClose(code, reason) => {
                let closed = send_close(&mut socket, code, reason).await;
                let sent = closed.error.is_none();
                (closed, sent)
            }
            End::Echo(closed) => {
                send_queued(&mut socket, &mut queue, format).await;
                finish(&mut socket, &closed).await;
                (closed, false)
            }
            End::Fail(code, err, closed) => {
                send_queued(&mut socket, &mut queue, format).await;
                fail_connection(&mut socket, code, &err).await;
                (closed, false)
            }
            End::Shut(closed) => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
                (closed, false)
            }
        };
        session.on_close(&closed);
        drop(queue);
        if await_reply {
            await_close(&mut socket).await;
        }
    }
}

/// Counts what a finished batch wrote, once per batch.
fn count_sent(config: &TransportConfig, batch: &mut Batch) {
    let (messages, bytes) = batch.take_sent();
    config
        .metrics
        .traffic
        .sent(config.protocol, messages, bytes);
}

/// A write the socket refused: the connection is gone.
fn write_failed(err: &dyn std::fmt::Display) -> End {
    End::Drop(Closed {
        error: Some(err.to_string()),
        ..Closed::default()
    })
}

fn write_timed_out() -> Closed {
    Closed {
        error: Some("write timed out: the client stopped reading".into()),
        ..Closed::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorder(Arc<std::sync::Mutex<Option<Closed>>>);

    impl Session for Recorder {
        fn on_message(&mut self, _: WsMessage) {}
        fn on_close(&mut self, closed: &Closed) {
            *self.0.lock().unwrap() = Some(closed.clone());
        }
    }

    /// A close the server sends to a client that stopped reading (a flood cut off, a slow
    /// consumer, a shutdown) must not wait forever on the client's full socket: the session
    /// closes — leaves its rooms, frees its slot — within the close timeout, and says why.
    #[tokio::test(start_paused = true)]
    async fn a_close_to_a_client_that_never_reads_gives_up() {
        // 64 bytes of pipe: the one message below fills it exactly, so its write completes
        // and the close frame after it is the write that cannot.
        let (server_io, _client_io) = tokio::io::duplex(64);
        let limits = chorus_proto::ws::Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        };
        let opened = Opened::new(server_io, None, yawc::Options::default(), limits).unwrap();
        let (mailbox, queue) =
            chorus_core::Mailbox::new(crate::session::raw::format::raw(), Default::default());
        let closed = Arc::new(std::sync::Mutex::new(None));
        let config = Arc::new(TransportConfig {
            ping_interval: Duration::from_secs(3600),
            ping_timeout: Duration::from_secs(3600),
            rate: None,
            metrics: Arc::new(Metrics::default()),
            protocol: Protocol::Raw,
            pulse: None,
        });
        let upgrade = std::future::ready(Ok::<_, std::convert::Infallible>(opened));
        let task = tokio::spawn(run(upgrade, queue, Recorder(closed.clone()), config));

        let payload = bytes::Bytes::from(vec![b'x'; 62]);
        assert!(mailbox.push(Outbound::Message(WsMessage::binary(payload))));
        tokio::task::yield_now().await;
        mailbox.close(CloseReason::new(1001, "going away"));

        tokio::time::timeout(CLOSE_TIMEOUT * 2, task)
            .await
            .expect("the connection gave up on its close")
            .unwrap();
        let ended = closed.lock().unwrap().clone().expect("on_close ran");
        assert_eq!(ended.code, Some(1001));
        assert!(ended.by_server);
        assert!(ended.error.is_some(), "{ended:?}");
    }
}

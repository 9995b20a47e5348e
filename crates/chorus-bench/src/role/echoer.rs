//! A member alone in its room, keeping `depth` messages in flight to itself.
//!
//! On raw and native the server sends a member's message back to it, so the round trip
//! ends when the message returns and its stamp gives the latency. Socket.IO never sends
//! a message back to its sender, so there the round trip is publish → acknowledgement
//! (`to` acks with `{delivered: 0}` in a room of one), timed from a small queue of send
//! times. Every completed round trip immediately sends the next message. Frames that
//! are already buffered are all handled before one flush, so at depth > 1 a burst of
//! returns costs one write, not one per message.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::{FutureExt, SinkExt};
use tokio::sync::mpsc;
use yawc::frame::Frame;

use super::{close, send_failed, take_pending};
use crate::clock;
use crate::payload::{self, Stamp};
use crate::proto::{socketio, Inbound, Proto, FIRST_PUBLISH_ID};
use crate::run::{Run, Setup};
use crate::stage::{self, Stage};
use crate::transport::{self, Closed, Read, Ws};

/// An echoing member, before it connects.
#[derive(Debug)]
pub(crate) struct Echoer {
    /// Connection index.
    pub(crate) index: usize,
    /// Its own room.
    pub(crate) room: String,
    /// Messages kept in flight.
    pub(crate) depth: u64,
}

/// What an echoer hands back.
#[derive(Debug)]
pub(crate) struct EchoReport {
    /// How it ended, if it was set up and ended before the run did.
    pub(crate) ended: Option<Closed>,
}

/// Round-trip state of one echoer.
struct InFlight {
    next_seq: u64,
    /// `(seq, sent_ns)` awaiting an ack (Socket.IO only).
    pending: VecDeque<(u64, u64)>,
    /// Whether a returned message sends the next one (false once draining).
    refill: bool,
    /// Frames fed since the last flush.
    unflushed: bool,
}

impl Echoer {
    /// Sets up, reports to `ready`, waits for warm-up, echoes until drain, reads until
    /// shutdown.
    pub(crate) async fn run(self, run: Arc<Run>, ready: mpsc::Sender<Setup>) -> EchoReport {
        let mut ws = match run.establish(self.index, &self.room).await {
            Ok(ws) => {
                let _ = ready.send(Ok(())).await;
                ws
            }
            Err(err) => {
                let _ = ready.send(Err(err)).await;
                return EchoReport { ended: None };
            }
        };
        let ended = self.echo(&mut ws, &run).await;
        match &ended {
            None => close(&mut ws).await,
            Some(_) => run.stats.disconnected.add(self.index, 1),
        }
        EchoReport { ended }
    }

    async fn echo(&self, ws: &mut Ws, run: &Run) -> Option<Closed> {
        let mut stages = run.stage.watch();
        // Nothing to do until warm-up but keep the connection alive.
        tokio::select! {
            _ = stage::reached(&mut stages, Stage::Warmup) => {}
            closed = idle(ws, run.proto) => return Some(closed),
        }
        let mut state = InFlight {
            next_seq: 0,
            pending: VecDeque::with_capacity(self.depth as usize),
            refill: true,
            unflushed: false,
        };
        for _ in 0..self.depth {
            if let Err(closed) = self.send_next(ws, run, &mut state).await {
                return Some(closed);
            }
        }
        loop {
            if let Err(closed) = flush(ws, &mut state).await {
                return Some(closed);
            }
            let read = tokio::select! {
                biased;
                read = transport::read(ws) => read,
                _ = stages.changed() => {
                    let stage = *stages.borrow_and_update();
                    if stage >= Stage::Shutdown {
                        return None;
                    }
                    state.refill = stage < Stage::Drain;
                    continue;
                }
            };
            let mut read = Some(read);
            // Handle this frame and every one already buffered, then flush once.
            while let Some(next) = read.take() {
                let frame = match next {
                    Read::Data(frame) => frame,
                    Read::Closed(closed) => return Some(closed),
                };
                if let Err(closed) = self.on_frame(&frame, ws, run, &mut state).await {
                    return Some(closed);
                }
                read = transport::read(ws).now_or_never();
            }
        }
    }

    /// Handles one frame: a completed round trip sends the next message.
    async fn on_frame(
        &self,
        frame: &Frame,
        ws: &mut Ws,
        run: &Run,
        state: &mut InFlight,
    ) -> Result<(), Closed> {
        let now = clock::now_ns();
        let sent_ns = match run.proto.classify(frame.payload()) {
            Inbound::Delivery(body) if run.proto != Proto::Socketio => {
                payload::parse(body).map(|stamp| stamp.sent_ns)
            }
            Inbound::Reply { id, .. } if run.proto == Proto::Socketio && id >= FIRST_PUBLISH_ID => {
                take_pending(&mut state.pending, id - FIRST_PUBLISH_ID)
            }
            Inbound::Ping => {
                ws.feed(Frame::text(socketio::PONG))
                    .await
                    .map_err(|err| send_failed(&err))?;
                state.unflushed = true;
                None
            }
            _ => None,
        };
        let Some(sent_ns) = sent_ns else {
            return Ok(());
        };
        run.stats.round_trips.add(self.index, 1);
        if run.stage.measuring() {
            run.stats
                .latency
                .record(self.index, payload::latency_us(sent_ns, now));
        }
        if state.refill {
            self.send_next(ws, run, state).await?;
        }
        Ok(())
    }

    /// Feeds the next message (flushed by the loop).
    async fn send_next(&self, ws: &mut Ws, run: &Run, state: &mut InFlight) -> Result<(), Closed> {
        let seq = state.next_seq;
        state.next_seq += 1;
        let sent_ns = clock::now_ns();
        let ack = (run.proto == Proto::Socketio).then_some(FIRST_PUBLISH_ID + seq);
        let body = run
            .proto
            .publish(&self.room, Stamp { seq, sent_ns }, run.size, ack);
        ws.feed(Frame::text(body))
            .await
            .map_err(|err| send_failed(&err))?;
        if ack.is_some() {
            state.pending.push_back((seq, sent_ns));
        }
        run.stats.published.add(self.index, 1);
        state.unflushed = true;
        Ok(())
    }
}

async fn flush(ws: &mut Ws, state: &mut InFlight) -> Result<(), Closed> {
    if state.unflushed {
        state.unflushed = false;
        ws.flush().await.map_err(|err| send_failed(&err))?;
    }
    Ok(())
}

/// Reads and discards (answering Engine.IO pings) until the connection ends.
async fn idle(ws: &mut Ws, proto: Proto) -> Closed {
    loop {
        match transport::read(ws).await {
            Read::Closed(closed) => return closed,
            Read::Data(frame) => {
                if proto.classify(frame.payload()) == Inbound::Ping {
                    if let Err(closed) = super::send_text(ws, socketio::PONG).await {
                        return closed;
                    }
                }
            }
        }
    }
}

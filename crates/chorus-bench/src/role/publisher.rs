//! A member that publishes: at a fixed rate, or as fast as its in-flight window allows.
//!
//! One task does both directions over the one socket: it must keep reading while it
//! publishes, because on raw and native it receives its own messages (and on `--ack`
//! the server's replies), and an unread connection is dropped as a slow consumer. Each
//! turn of the loop races three things: a frame to read (first, so inbound never
//! backs up), a stage change, and the gate that says how many may be sent now. A batch
//! is fed to the socket and flushed once, so a full window goes out in one write.
//!
//! When the run reaches [`Stage::Drain`] it stops publishing and reports how many it
//! sent, so receivers' losses can be settled against an exact total, then keeps reading
//! until shutdown (its own tail and late acks still count).

use std::collections::VecDeque;
use std::sync::Arc;

use futures::SinkExt;
use tokio::sync::{mpsc, oneshot, Notify};
use yawc::frame::Frame;

use super::receiver::{Progress, Receiver, ReceiverReport};
use super::{finish, send_failed, send_text, take_pending};
use crate::clock;
use crate::inflight::{allowance, in_flight};
use crate::pacer::Pacer;
use crate::payload::{self, Stamp};
use crate::proto::{socketio, Inbound, FIRST_PUBLISH_ID};
use crate::run::{Run, Setup};
use crate::stage::Stage;
use crate::transport::{self, Closed, Read, Ws};

/// How fast to publish.
#[derive(Debug)]
pub(crate) enum Pace {
    /// Messages per second, on a timer.
    Rate {
        /// Messages per second.
        rate: f64,
        /// Where in the period the timer starts, 0 to 1 (see [`Pacer::new`]).
        phase: f64,
    },
    /// As fast as possible with at most `size` in flight.
    Window {
        /// Most messages in flight.
        size: u64,
        /// The receivers whose progress defines "in flight".
        watch: Option<Watch>,
    },
}

/// The receivers a max-rate publisher watches.
#[derive(Debug)]
pub(crate) struct Watch {
    /// Everyone's progress.
    pub(crate) progress: Arc<Progress>,
    /// The watched slots.
    pub(crate) slots: Vec<usize>,
    /// Notified when a watched receiver advances.
    pub(crate) wake: Arc<Notify>,
}

/// A publishing member, before it connects.
#[derive(Debug)]
pub(crate) struct Publisher {
    /// Connection index.
    pub(crate) index: usize,
    /// The room it joins and publishes to.
    pub(crate) room: String,
    /// How fast.
    pub(crate) pace: Pace,
    /// Ask the server to acknowledge each publish (native `rid`, Socket.IO ack id).
    pub(crate) ack: bool,
    /// Accounting of its own messages coming back, where they count as deliveries.
    pub(crate) receiver: Option<Receiver>,
}

/// What a publisher hands back.
#[derive(Debug)]
pub(crate) struct PublisherReport {
    /// False if it never got set up.
    pub(crate) set_up: bool,
    /// Messages published (seqs `0..sent`).
    pub(crate) sent: u64,
    /// Publishes still unacknowledged at the end (with `ack`).
    pub(crate) unacked: u64,
    /// Its own deliveries, if they count.
    pub(crate) receiver: Option<ReceiverReport>,
    /// How it ended, if it ended before the run did.
    pub(crate) ended: Option<Closed>,
}

/// One turn of the loop.
enum Step {
    Read(Read),
    Stage,
    Send(u64),
}

/// The publishing state of a set-up publisher.
struct Sending {
    sent: u64,
    /// Acknowledgements received, refusals included.
    answered: u64,
    /// `(seq, sent_ns)` of publishes awaiting acknowledgement, oldest first.
    pending: VecDeque<(u64, u64)>,
}

impl Publisher {
    /// Sets up, reports to `ready`, publishes from warm-up to drain, sends its total on
    /// `total`, and reads until shutdown.
    pub(crate) async fn run(
        mut self,
        run: Arc<Run>,
        ready: mpsc::Sender<Setup>,
        total: oneshot::Sender<u64>,
    ) -> PublisherReport {
        let mut ws = match run.establish(self.index, &self.room).await {
            Ok(ws) => {
                let _ = ready.send(Ok(())).await;
                ws
            }
            Err(err) => {
                let _ = ready.send(Err(err)).await;
                let _ = total.send(0);
                return PublisherReport {
                    set_up: false,
                    sent: 0,
                    unacked: 0,
                    receiver: None,
                    ended: None,
                };
            }
        };
        let mut state = Sending {
            sent: 0,
            answered: 0,
            pending: VecDeque::new(),
        };
        let mut total = Some(total);
        let ended = self.publish(&mut ws, &run, &mut state, &mut total).await;
        if let Some(total) = total.take() {
            let _ = total.send(state.sent);
        }
        finish(&mut ws, &ended, &run, self.index, self.receiver.as_ref()).await;
        PublisherReport {
            set_up: true,
            sent: state.sent,
            unacked: state.pending.len() as u64,
            receiver: self.receiver.map(Receiver::report),
            ended,
        }
    }

    /// The loop; returns how the connection ended, or `None` at shutdown.
    async fn publish(
        &mut self,
        ws: &mut Ws,
        run: &Run,
        state: &mut Sending,
        total: &mut Option<oneshot::Sender<u64>>,
    ) -> Option<Closed> {
        let mut stages = run.stage.watch();
        let mut pacer = None;
        loop {
            let stage = *stages.borrow_and_update();
            if stage >= Stage::Shutdown {
                return None;
            }
            if stage >= Stage::Drain {
                if let Some(total) = total.take() {
                    let _ = total.send(state.sent);
                }
            }
            let publishing = matches!(stage, Stage::Warmup | Stage::Measure);
            if let (true, None, Pace::Rate { rate, phase }) = (publishing, &pacer, &self.pace) {
                pacer = Some(Pacer::new(*rate, *phase));
            }
            let acked = self.ack.then_some(state.answered);
            let step = tokio::select! {
                biased;
                read = transport::read(ws) => Step::Read(read),
                _ = stages.changed() => Step::Stage,
                n = gate(&self.pace, &mut pacer, state.sent, acked), if publishing => Step::Send(n),
            };
            let outcome = match step {
                Step::Stage => Ok(()),
                Step::Read(Read::Closed(closed)) => Err(closed),
                Step::Read(Read::Data(frame)) => self.on_frame(&frame, ws, run, state).await,
                Step::Send(n) => self.send(n, ws, run, state).await,
            };
            if let Err(closed) = outcome {
                return Some(closed);
            }
        }
    }

    /// Publishes `n` messages in one write.
    async fn send(
        &self,
        n: u64,
        ws: &mut Ws,
        run: &Run,
        state: &mut Sending,
    ) -> Result<(), Closed> {
        for _ in 0..n {
            let seq = state.sent;
            let sent_ns = clock::now_ns();
            let id = self.ack.then_some(FIRST_PUBLISH_ID + seq);
            let body = run
                .proto
                .publish(&self.room, Stamp { seq, sent_ns }, run.size, id);
            ws.feed(Frame::text(body))
                .await
                .map_err(|err| send_failed(&err))?;
            if self.ack {
                state.pending.push_back((seq, sent_ns));
            }
            state.sent += 1;
            run.stats.published.add(self.index, 1);
        }
        ws.flush().await.map_err(|err| send_failed(&err))
    }

    /// Handles one frame from the server.
    async fn on_frame(
        &mut self,
        frame: &Frame,
        ws: &mut Ws,
        run: &Run,
        state: &mut Sending,
    ) -> Result<(), Closed> {
        match run.proto.classify(frame.payload()) {
            Inbound::Delivery(body) => {
                if let Some(receiver) = &mut self.receiver {
                    receiver.deliver(run, body);
                }
            }
            Inbound::Reply { id, ok } if self.ack && id >= FIRST_PUBLISH_ID => {
                let now = clock::now_ns();
                state.answered += 1;
                if ok {
                    run.stats.acks.add(self.index, 1);
                } else {
                    run.stats.ack_errors.add(self.index, 1);
                }
                if let Some(sent_ns) = take_pending(&mut state.pending, id - FIRST_PUBLISH_ID) {
                    if run.stage.measuring() {
                        run.stats
                            .ack_latency
                            .record(self.index, payload::latency_us(sent_ns, now));
                    }
                }
            }
            Inbound::Ping => send_text(ws, socketio::PONG).await?,
            _ => {}
        }
        Ok(())
    }
}

/// Waits until publishing may go on; returns how many messages to send now.
async fn gate(pace: &Pace, pacer: &mut Option<Pacer>, sent: u64, acked: Option<u64>) -> u64 {
    match pace {
        Pace::Rate { .. } => match pacer {
            Some(pacer) => pacer.tick().await,
            None => std::future::pending().await,
        },
        Pace::Window { size, watch } => loop {
            let watched = watch
                .iter()
                .flat_map(|w| w.slots.iter().map(|&slot| w.progress.get(slot)))
                .chain(acked);
            let n = allowance(in_flight(sent, watched), *size);
            if n > 0 {
                return n;
            }
            match watch {
                Some(watch) => watch.wake.notified().await,
                // Only acknowledgements govern: the read branch wakes the loop.
                None => std::future::pending().await,
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_window_gate_waits_for_a_watcher() {
        let progress = Arc::new(Progress::new(2));
        let wake = Arc::new(Notify::new());
        let pace = Pace::Window {
            size: 4,
            watch: Some(Watch {
                progress: progress.clone(),
                slots: vec![0, 1],
                wake: wake.clone(),
            }),
        };
        assert_eq!(gate(&pace, &mut None, 0, None).await, 4);
        // Full: nothing until a watcher moves.
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            gate(&pace, &mut None, 4, None),
        )
        .await;
        assert!(waiting.is_err());
        Receiver::new(0, 0, progress.clone(), Some(wake.clone())).depart();
        // Slot 0 left; slot 1 still at 0 governs.
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            gate(&pace, &mut None, 4, None),
        )
        .await;
        assert!(waiting.is_err());
        Receiver::new(1, 1, progress, Some(wake)).depart();
        assert_eq!(gate(&pace, &mut None, 4, None).await, 4);
        // Acknowledgements lagging hold it back too.
        assert_eq!(gate(&pace, &mut None, 4, Some(2)).await, 2);
    }
}

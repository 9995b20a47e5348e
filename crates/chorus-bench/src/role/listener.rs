//! A member that only receives: a fan-out subscriber, a room member, an idle connection.
//!
//! It reads until the run shuts down, accounting deliveries if it has a [`Receiver`]
//! and answering Engine.IO pings (WebSocket pings are answered by yawc as it reads).
//! The stop signal is raced against the whole read loop rather than checked per frame,
//! so a delivery costs no more than the read and the accounting.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::receiver::{Receiver, ReceiverReport};
use super::{finish, send_text};
use crate::proto::{socketio, Inbound};
use crate::run::{Run, Setup};
use crate::stage::{self, Stage};
use crate::transport::{self, Closed, Read, Ws};

/// A receiving member, before it connects.
#[derive(Debug)]
pub(crate) struct Listener {
    /// Connection index.
    pub(crate) index: usize,
    /// The room it joins.
    pub(crate) room: String,
    /// Delivery accounting; `None` for a connection that only has to stay up.
    pub(crate) receiver: Option<Receiver>,
}

/// What a listener hands back.
#[derive(Debug)]
pub(crate) struct ListenerReport {
    /// Delivery figures, for a set-up connection with a receiver (one that never got
    /// set up is counted as a setup failure, not as loss).
    pub(crate) receiver: Option<ReceiverReport>,
    /// How it ended, if it ended before the run did.
    pub(crate) ended: Option<Closed>,
}

impl Listener {
    /// Sets up, reports to `ready`, and listens until shutdown.
    pub(crate) async fn run(mut self, run: Arc<Run>, ready: mpsc::Sender<Setup>) -> ListenerReport {
        let mut ws = match run.establish(self.index, &self.room).await {
            Ok(ws) => {
                let _ = ready.send(Ok(())).await;
                ws
            }
            Err(err) => {
                if let Some(receiver) = &self.receiver {
                    receiver.depart();
                }
                let _ = ready.send(Err(err)).await;
                return ListenerReport {
                    receiver: None,
                    ended: None,
                };
            }
        };
        let mut stages = run.stage.watch();
        let ended = tokio::select! {
            _ = stage::reached(&mut stages, Stage::Shutdown) => None,
            closed = self.listen(&mut ws, &run) => Some(closed),
        };
        finish(&mut ws, &ended, &run, self.index, self.receiver.as_ref()).await;
        ListenerReport {
            receiver: self.receiver.map(Receiver::report),
            ended,
        }
    }

    /// Reads until the connection ends.
    async fn listen(&mut self, ws: &mut Ws, run: &Run) -> Closed {
        loop {
            let frame = match transport::read(ws).await {
                Read::Data(frame) => frame,
                Read::Closed(closed) => return closed,
            };
            match run.proto.classify(frame.payload()) {
                Inbound::Delivery(body) => {
                    if let Some(receiver) = &mut self.receiver {
                        receiver.deliver(run, body);
                    }
                }
                Inbound::Ping => {
                    if let Err(closed) = send_text(ws, socketio::PONG).await {
                        return closed;
                    }
                }
                _ => {}
            }
        }
    }
}

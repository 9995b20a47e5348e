//! The heartbeat of every session of one engine, kept by one task.
//!
//! Each session is pinged every `ping_interval` and ends if its pong does not come within
//! `ping_timeout`; and whatever closes a session's mailbox (the layer above, a slow
//! consumer, a close packet, a failed heartbeat), the session must then be finished — out
//! of the table, the layer above told — even when no transport is draining it (a
//! long-polling client between two polls).
//!
//! A task per session did both, for ~0.7 KiB per connection (its future, its timer, tokio's
//! task header). Here one task per engine holds a timer heap with one entry per session
//! (~40 bytes), and a mailbox's close reaches it through a channel ([`Mailbox::on_close`]):
//! the session is finished on this task, never on the thread that closed the mailbox, which
//! may be a hub in the middle of a broadcast.
//!
//! [`Mailbox::on_close`]: chorus_core::Mailbox::on_close

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chorus_core::{CloseReason, Outbound};
use chorus_proto::engineio;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::session::EngineSession;
use crate::wire::close;

/// The handle sessions are registered with; the task ends when it and every session's
/// close hook are gone.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeats {
    tx: mpsc::UnboundedSender<Command>,
}

enum Command {
    /// A new session: its first ping is due one interval from now.
    Start(Weak<EngineSession>),
    /// A session's mailbox was closed: finish it.
    Closed(Weak<EngineSession>),
}

/// What is due for a session at a timer's deadline.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// Send a ping.
    Ping,
    /// The pong for the ping sent at `sent` is due by now.
    Pong { sent: Instant },
}

struct Timer {
    at: Instant,
    due: Due,
    session: Weak<EngineSession>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

impl Heartbeats {
    /// Starts the task (on the current runtime).
    pub(crate) fn start(interval: Duration, timeout: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, interval, timeout));
        Self { tx }
    }

    /// Keeps `session`'s heartbeat, and finishes it once its mailbox is closed.
    pub(crate) fn watch(&self, session: &Arc<EngineSession>) {
        let weak = Arc::downgrade(session);
        let _ = self.tx.send(Command::Start(weak.clone()));
        let tx = self.tx.clone();
        session.mailbox.on_close(move |_: &CloseReason| {
            let _ = tx.send(Command::Closed(weak));
        });
    }
}

/// Finished sessions whose timers may still be in the heap before it is swept.
const SWEEP_AFTER: usize = 64;

async fn run(mut rx: mpsc::UnboundedReceiver<Command>, interval: Duration, timeout: Duration) {
    let mut timers: BinaryHeap<Reverse<Timer>> = BinaryHeap::new();
    // Sessions finished since the last sweep. A finished session's timer stays in the heap
    // until it fires, and its `Weak` keeps the session's allocation with it: under a
    // stream of short sessions that would be one dead session per session opened in the
    // last interval. Once they outnumber the live ones the heap is swept, so the dead never
    // hold more than the living (at a cost, spread over those closes, of one pass).
    let mut finished = 0usize;
    loop {
        let next = timers.peek().map(|Reverse(timer)| timer.at);
        let command = match next {
            Some(at) => tokio::select! {
                command = rx.recv() => command,
                () = tokio::time::sleep_until(at) => {
                    fire_due(&mut timers, interval, timeout);
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match command {
            Some(Command::Start(session)) => timers.push(Reverse(Timer {
                at: Instant::now() + interval,
                due: Due::Ping,
                session,
            })),
            Some(Command::Closed(session)) => {
                if let Some(session) = session.upgrade() {
                    let closed = session.closed_from_mailbox();
                    session.finish(&closed);
                }
                finished += 1;
                if finished > SWEEP_AFTER && finished * 2 > timers.len() {
                    timers.retain(|Reverse(timer)| {
                        timer
                            .session
                            .upgrade()
                            .is_some_and(|session| !session.is_finished())
                    });
                    finished = 0;
                }
            }
            None => break,
        }
        // A flood of new sessions must not starve the timers.
        tokio::task::consume_budget().await;
    }
}

/// Handles every timer whose deadline has passed.
fn fire_due(timers: &mut BinaryHeap<Reverse<Timer>>, interval: Duration, timeout: Duration) {
    let now = Instant::now();
    while timers.peek().is_some_and(|Reverse(timer)| timer.at <= now) {
        let Reverse(timer) = timers.pop().expect("peeked");
        let Some(session) = timer.session.upgrade() else {
            continue;
        };
        if session.mailbox.is_closing() {
            // Its close is on its way here as a command; no more heartbeat.
            continue;
        }
        let next = match timer.due {
            Due::Ping => {
                // Deadlines count from when each ping was *due*, not from when this task
                // got to it: a client is held to the schedule it was announced.
                session.ping_sent(timer.at);
                if !session.mailbox.push(Outbound::Message(engineio::ping())) {
                    continue;
                }
                Timer {
                    at: timer.at + timeout,
                    due: Due::Pong { sent: timer.at },
                    session: timer.session,
                }
            }
            Due::Pong { sent } => {
                if session.awaiting_pong(sent) {
                    session.mailbox.close(close::normal("ping timeout"));
                    continue;
                }
                Timer {
                    at: (sent + interval).max(now),
                    due: Due::Ping,
                    session: timer.session,
                }
            }
        };
        timers.push(Reverse(next));
    }
}

#[cfg(test)]
mod tests {
    use chorus_core::{Mailbox, QueueLimits};

    use super::super::session::TransportKind;
    use super::*;

    /// A stream of short sessions must not leave the heap holding every one of them (its
    /// allocation, through the timer's `Weak`) until its next ping was due.
    #[tokio::test(start_paused = true)]
    async fn finished_sessions_are_swept_from_the_timers() {
        let heartbeats = Heartbeats::start(Duration::from_secs(25), Duration::from_secs(20));
        let sessions: Vec<Arc<EngineSession>> = (0..200)
            .map(|i| {
                let (mailbox, queue) = Mailbox::new(
                    crate::session::socketio::format::socketio(),
                    QueueLimits::default(),
                );
                let session = EngineSession::new(
                    Arc::from(format!("s{i}")),
                    Weak::<crate::session::engineio::Engine>::new(),
                    mailbox,
                    Some(queue),
                    TransportKind::Polling,
                );
                heartbeats.watch(&session);
                session
            })
            .collect();
        let settle = || async {
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
        };
        settle().await;
        // Each live session is held weakly by its close hook and by its timer.
        assert!(sessions.iter().all(|s| Arc::weak_count(s) == 2));

        let (closed, open) = sessions.split_at(150);
        for session in closed {
            session.mailbox.close(CloseReason::new(1000, "bye"));
        }
        settle().await;
        assert!(closed.iter().all(|s| s.is_finished()));
        // Swept once the finished outnumbered the rest (at the 101st close); the 49 closed
        // after wait for the next sweep: never more than SWEEP_AFTER or the living.
        let held = closed.iter().filter(|s| Arc::weak_count(s) > 0).count();
        assert_eq!(held, 49, "finished sessions still in the heap");
        assert!(held <= SWEEP_AFTER.max(open.len()));
        assert!(
            open.iter().all(|s| Arc::weak_count(s) == 2),
            "the live ones' are kept"
        );
    }
}

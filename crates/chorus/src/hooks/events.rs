//! The `events` hook: rooms occupied and vacated, members joined and left, told to the
//! backend in order, in batches.
//!
//! Changes are noted on the thread that made them (a join, a leave, a disconnect) into a
//! bounded queue and never wait; one task sends them, up to [`BATCH`] per request. A batch
//! the backend does not take is tried again after a pause that doubles, `retries` times,
//! then dropped and counted (`chorus_hook_requests_total{hook="events",outcome="dropped"}`):
//! the backend's being down must not grow the server's memory. The events are this node's:
//! in a cluster each node tells of its own connections, and says which node it is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chorus_core::{MembershipChange, MembershipWatch};
use serde::Serialize;
use tokio::sync::mpsc;

use super::call::Caller;
use super::stats::Stats;

/// Most events waiting to be sent; past that new ones are dropped and counted.
pub(crate) const MAX_QUEUED: usize = 10_000;
/// Most events in one request.
pub(crate) const BATCH: usize = 100;
/// The first pause before a failed batch is tried again.
const FIRST_PAUSE: Duration = Duration::from_millis(200);

/// One event, as the backend gets it.
#[derive(Debug, Serialize)]
struct Event {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(serialize_with = "text")]
    namespace: Arc<str>,
    #[serde(serialize_with = "text")]
    room: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "some_text")]
    user: Option<Arc<str>>,
    /// Milliseconds since the Unix epoch.
    at: u64,
}

fn text<S: serde::Serializer>(text: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(text)
}

fn some_text<S: serde::Serializer>(text: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match text {
        Some(text) => s.serialize_str(text),
        None => s.serialize_none(),
    }
}

/// The queue of events and the task that sends them.
#[derive(Debug)]
pub(crate) struct Events {
    queue: mpsc::Sender<Event>,
    stats: Arc<Stats>,
    dropped: AtomicU64,
}

impl Events {
    pub(crate) fn start(
        caller: Arc<Caller>,
        stats: Arc<Stats>,
        node: Option<Arc<str>>,
    ) -> Arc<Self> {
        let (queue, waiting) = mpsc::channel(MAX_QUEUED);
        tokio::spawn(send(waiting, caller, stats.clone(), node));
        Arc::new(Self {
            queue,
            stats,
            dropped: AtomicU64::new(0),
        })
    }

    fn note(&self, event: Event) {
        if self.queue.try_send(event).is_err() {
            self.stats.count("events", "dropped", 1);
            // Said once per thousand, so a dead backend does not flood the log.
            if self
                .dropped
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(1000)
            {
                tracing::warn!("the events hook's queue is full: events dropped");
            }
        }
    }
}

impl MembershipWatch for Events {
    fn changed(&self, change: MembershipChange) {
        let at = chorus_core::publisher::now_ms();
        let event = |kind, member: bool| Event {
            kind,
            namespace: change.namespace.clone(),
            room: change.room.clone(),
            conn: member.then(|| change.conn.to_string()),
            user: if member { change.user.clone() } else { None },
            at,
        };
        if change.joined {
            if change.alone {
                self.note(event("room_occupied", false));
            }
            self.note(event("member_joined", true));
        } else {
            self.note(event("member_left", true));
            if change.alone {
                self.note(event("room_vacated", false));
            }
        }
    }
}

/// Sends the queued events in batches, in order, until the queue is dropped.
async fn send(
    mut waiting: mpsc::Receiver<Event>,
    caller: Arc<Caller>,
    stats: Arc<Stats>,
    node: Option<Arc<str>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while waiting.recv_many(&mut batch, BATCH).await > 0 {
        let body =
            serde_json::json!({ "hook": "events", "node": node.as_deref(), "events": &batch });
        let body = Bytes::from(serde_json::to_vec(&body).expect("JSON values serialise"));
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        let mut tries = 0;
        let sent = loop {
            match caller.post_once("events", body.clone()).await {
                Ok(_) => break true,
                Err(err) if tries < caller.retries() => {
                    tracing::debug!(%err, "the events hook failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    tries += 1;
                }
                Err(err) => {
                    tracing::warn!(%err, events = batch.len(), "the events hook failed: events dropped");
                    break false;
                }
            }
        };
        stats.observe("events", started.elapsed());
        let n = batch.len() as u64;
        stats.count("events", if sent { "sent" } else { "dropped" }, n);
        batch.clear();
    }
}

//! [`NatsBroker`]: a NATS server (`nats-server`) as a cluster's broker — core NATS
//! publish/subscribe on one subject, `chorus.cluster`.
//!
//! One client connection both publishes and subscribes; the client reconnects by itself
//! and subscribes again. NATS delivers what one connection publishes in order, and a single
//! server hands every subscriber a subject's messages in the order it received them — the
//! one order per room a cluster needs. (A NATS *cluster* of several servers does not: nodes
//! on different servers may see two publishers' messages in different orders. Run the
//! chorus nodes on one `nats-server`, or use Redis.)
//!
//! The link's state comes from the client's events: disconnected → down; connected again
//! (subscription re-sent, then a round trip to the server so it is in place) → up. A slow
//! consumer — the client dropped messages this node did not read fast enough — counts as the
//! link going down and up: what was missed is never silently skipped.
//!
//! Core NATS keeps nothing: history shared by the nodes needs the Redis store
//! (`store = "redis"` with a Redis broker).

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use bytes::Bytes;
use chorus_core::{Broker, BrokerError, Inbox};
use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::error::ConnectError;

/// The subject of a cluster.
const SUBJECT: &str = "chorus.cluster";
/// Most envelopes published before the writer yields to flush.
const MAX_BATCH: usize = 512;

type Outgoing = (u64, Bytes);

/// A NATS server as a cluster's broker.
pub struct NatsBroker {
    url: String,
    runtime: Handle,
    queue: mpsc::UnboundedSender<Outgoing>,
    pending: parking_lot::Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("server", &self.url)
            .finish_non_exhaustive()
    }
}

impl NatsBroker {
    /// A broker on the NATS server at `url` (`nats://host:port`); nothing is connected
    /// until the node starts it. Must be called inside a tokio runtime, where its
    /// connection will run.
    pub fn new(url: &str) -> Result<Arc<Self>, ConnectError> {
        url.parse::<async_nats::ServerAddr>()
            .map_err(|err| ConnectError::Url {
                url: url.to_owned(),
                why: err.to_string(),
            })?;
        let runtime = Handle::try_current().map_err(|_| ConnectError::NoRuntime)?;
        let (queue, pending) = mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            url: url.to_owned(),
            runtime,
            queue,
            pending: parking_lot::Mutex::new(Some(pending)),
        }))
    }
}

impl Broker for NatsBroker {
    fn start(&self, inbox: Weak<dyn Inbox>, _node: chorus_core::NodeId) {
        let Some(pending) = self.pending.lock().take() else {
            return;
        };
        self.runtime.spawn(run(self.url.clone(), pending, inbox));
    }

    fn publish(&self, seq: u64, envelope: Bytes) {
        // The task only stops when the node is gone: nobody waits for this one then.
        let _ = self.queue.send((seq, envelope));
    }
}

/// Connects (retrying until the server is there), then publishes, receives and reports the
/// link, until the node is gone.
async fn run(url: String, queue: mpsc::UnboundedReceiver<Outgoing>, inbox: Weak<dyn Inbox>) {
    let (events_tx, events) = mpsc::unbounded_channel();
    let options = ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(50u64.saturating_mul(1 << attempts.min(5)).min(1000))
        })
        .event_callback(move |event| {
            let events_tx = events_tx.clone();
            async move {
                let _ = events_tx.send(event);
            }
        });
    let client = match options.connect(url.as_str()).await {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(%err, "nats broker: cannot set up the connection");
            return;
        }
    };
    let subscriber = loop {
        match client.subscribe(SUBJECT).await {
            Ok(subscriber) => break subscriber,
            Err(err) => {
                tracing::warn!(%err, "nats broker: cannot subscribe; retrying");
                if inbox.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    tokio::spawn(link(client.clone(), events, inbox.clone()));
    tokio::spawn(write(client.clone(), queue, inbox.clone()));
    let mut subscriber = subscriber;
    while let Some(message) = subscriber.next().await {
        let Some(inbox) = inbox.upgrade() else { return };
        inbox.receive(message.payload);
    }
}

/// Reports the link from the client's events.
async fn link(client: Client, mut events: mpsc::UnboundedReceiver<Event>, inbox: Weak<dyn Inbox>) {
    // The first connection: up once the subscription is in place.
    if client.flush().await.is_ok() {
        let Some(inbox) = inbox.upgrade() else { return };
        inbox.link(true);
    }
    while let Some(event) = events.recv().await {
        let Some(inbox) = inbox.upgrade() else { return };
        match event {
            Event::Disconnected => {
                tracing::warn!("nats broker: connection lost; reconnecting");
                inbox.link(false);
            }
            Event::Connected => {
                // The client sent the subscription again; a round trip puts it in place.
                if client.flush().await.is_ok() {
                    inbox.link(true);
                }
            }
            Event::SlowConsumer(_) => {
                tracing::warn!("nats broker: messages were dropped for this node; resyncing");
                inbox.link(false);
                inbox.link(true);
            }
            other => tracing::debug!(event = %other, "nats broker"),
        }
    }
}

/// The writer: the node's envelopes, in order.
async fn write(
    client: Client,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    inbox: Weak<dyn Inbox>,
) {
    let mut batch: Vec<Outgoing> = Vec::new();
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        for (seq, envelope) in batch.drain(..) {
            if let Err(err) = client.publish(SUBJECT, envelope).await {
                let Some(inbox) = inbox.upgrade() else { return };
                inbox.failed(seq, BrokerError(Arc::from(err.to_string())));
            }
        }
    }
}

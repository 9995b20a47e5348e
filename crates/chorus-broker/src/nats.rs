//! [`NatsBroker`]: a NATS server (`nats-server`, JetStream enabled) as a cluster's broker.
//!
//! Core NATS keeps each publisher's order but not one order across publishers: two nodes'
//! messages may reach two subscribers in different orders (each connection's messages are
//! fanned out by the server as they come). A cluster needs one order per room, so the nodes
//! publish into one JetStream stream, `CHORUS` (subject `chorus.cluster`, in memory, kept a
//! minute), which numbers every message, and each node reads it with an *ordered consumer*:
//! every node sees the stream's one order. The ordered consumer also resumes after a
//! reconnection from the last message it had, so a node that lost its connection for a while
//! gets what was published meanwhile (within the minute) — no hole.
//!
//! The link's state comes from the client's events: disconnected → down; connected again →
//! up. What was published meanwhile still arrives, in order — unless the server restarted
//! (the stream was in memory): then the stream is made again and read from then on.
//!
//! NATS keeps nothing chorus needs for history: history shared by the nodes needs the Redis
//! store (`store = "redis"` with a Redis broker).

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::{Client, ConnectOptions, Event};
use bytes::Bytes;
use chorus_core::{Broker, BrokerError, Inbox};
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::error::ConnectError;

/// The subject of a cluster.
const SUBJECT: &str = "chorus.cluster";
/// The JetStream stream that orders it.
const STREAM: &str = "CHORUS";
/// How long the stream keeps a message: enough for a node that reconnects to catch up.
const KEEP: Duration = Duration::from_secs(60);
/// Most publishes waiting for the server's acknowledgement at once.
const MAX_UNACKED: usize = 4096;
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

/// Connects (retrying until the server is there), sets up the stream, then publishes,
/// receives and reports the link, until the node is gone.
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
    let js = jetstream::new(client.clone());
    let mut events = events;
    tokio::spawn(write(js.clone(), queue, inbox.clone()));
    loop {
        let (created, mut messages) = loop {
            match consume(&js, &client).await {
                Ok(consumed) => break consumed,
                Err(err) => {
                    tracing::warn!(%err, "nats broker: cannot set up the JetStream stream; retrying (is JetStream enabled? nats-server -js)");
                    if inbox.strong_count() == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        // The stream this node reads, by when it was made: after a reconnection a stream
        // made anew (the server restarted: it was in memory) needs a new consumer.
        let made = Some(created);
        if let Some(inbox) = inbox.upgrade() {
            inbox.link(true);
        }
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(inbox) = inbox.upgrade() else { return };
                    match message {
                        Some(Ok(message)) => inbox.receive(message.message.payload),
                        Some(Err(err)) => {
                            tracing::warn!(%err, "nats broker: reading the stream; setting it up again");
                            inbox.link(false);
                            break;
                        }
                        None => break,
                    }
                }
                event = events.recv() => {
                    let Some(inbox) = inbox.upgrade() else { return };
                    match event {
                        Some(Event::Disconnected) => {
                            tracing::warn!("nats broker: connection lost; reconnecting");
                            inbox.link(false);
                        }
                        Some(Event::Connected) => {
                            // The same stream: the ordered consumer goes on from where it
                            // was. Another one: read it anew.
                            let same = js
                                .get_stream(STREAM)
                                .await
                                .is_ok_and(|s| Some(s.cached_info().created) == made);
                            if !same {
                                break;
                            }
                            inbox.link(true);
                        }
                        Some(other) => tracing::debug!(event = %other, "nats broker"),
                        None => return,
                    }
                }
            }
        }
        if inbox.strong_count() == 0 {
            return;
        }
    }
}

/// The stream (made if missing) and an ordered consumer of it from now on.
async fn consume(
    js: &jetstream::Context,
    client: &Client,
) -> Result<(Created, consumer::push::Ordered), Box<dyn std::error::Error + Send + Sync>> {
    let mut stream = js
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec![SUBJECT.to_owned()],
            storage: stream::StorageType::Memory,
            max_age: KEEP,
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        })
        .await?;
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?;
    let created = stream.info().await?.created;
    Ok((created, consumer.messages().await?))
}

/// When a stream was made.
type Created = async_nats::datetime::DateTime;

/// The writer: the node's envelopes, in order, the server's acknowledgements awaited behind
/// them (a publish the stream did not take is reported failed).
async fn write(
    js: jetstream::Context,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    inbox: Weak<dyn Inbox>,
) {
    let mut unacked = FuturesOrdered::new();
    let mut batch: Vec<Outgoing> = Vec::new();
    loop {
        tokio::select! {
            n = queue.recv_many(&mut batch, MAX_BATCH), if unacked.len() < MAX_UNACKED => {
                if n == 0 {
                    return;
                }
                for (seq, envelope) in batch.drain(..) {
                    match js.publish(SUBJECT, envelope).await {
                        Ok(ack) => unacked.push_back(async move { (seq, ack.await.err()) }),
                        Err(err) => {
                            let Some(inbox) = inbox.upgrade() else { return };
                            inbox.failed(seq, BrokerError(Arc::from(err.to_string())));
                        }
                    }
                }
            }
            Some((seq, err)) = unacked.next(), if !unacked.is_empty() => {
                if let Some(err) = err {
                    let Some(inbox) = inbox.upgrade() else { return };
                    inbox.failed(seq, BrokerError(Arc::from(err.to_string())));
                }
            }
        }
    }
}

//! The broker on a Redis Cluster: sharded pub/sub.
//!
//! On a Redis Cluster a `PUBLISH` reaches every node of the cluster over its bus, whoever
//! subscribes where. A *shard channel* (`SPUBLISH`, `SSUBSCRIBE`; Redis 7) lives on the one
//! shard that owns its slot: the chorus cluster's traffic costs that shard alone and
//! nothing crosses the bus. The chorus cluster's channel is one shard channel, so every
//! node still sees one order, as on one server.
//!
//! One cluster connection carries both the publishes (pipelined, one round trip per batch,
//! as on one server) and the subscription, whose messages come as RESP3 pushes. The client
//! keeps a connection per Redis node, follows `MOVED` and slot changes, and reconnects and
//! subscribes again by itself — but does not say when it has subscribed again, and after a
//! failover it was seen to leave the subscription nowhere without a word. So the node
//! *probes* ([`Probes`]): a message of its own on the channel, which comes back to it only
//! through its subscription. After a disconnection, or a probe that did not come back, the
//! link is down and the node subscribes again until a probe crosses.

use std::sync::Weak;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chorus_core::cluster::NodeId;
use chorus_core::{BrokerError, Inbox};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use super::{fail_waiting, Outgoing, CHANNEL, FIRST_BACKOFF, MAX_BACKOFF, MAX_BATCH};

/// The head of a probe; no envelope, signal, notice or marker starts so.
const PROBE: &[u8] = b"chorus-probe\0";
/// While the link is down, a probe goes out this often until one comes back.
const PROBE_WAIT: Duration = Duration::from_millis(250);
/// While the link is up, a probe goes out this often ...
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// ... and one not back after this long means the subscription is gone.
const PROBE_LOST: Duration = Duration::from_secs(2);
/// Connecting to a Redis node, and each reply, may take this long: a node that does not
/// answer is reported (its messages delivered here only) rather than waited on.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the broker on the Redis Cluster that `seed` is a node of, until the node is gone.
pub(super) async fn run(
    seed: ConnectionInfo,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    inbox: Weak<dyn Inbox>,
    node: NodeId,
) {
    let (pushed, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
    let client = match ClusterClientBuilder::new(vec![seed])
        .use_protocol(ProtocolVersion::RESP3)
        .push_sender(pushed)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        // A pipeline the server ran but whose reply was slow must not be sent again: the
        // other nodes would deliver its messages twice. A failed one is reported (its
        // messages delivered on this node only).
        .retries(0)
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(%err, "redis broker: the cluster client cannot be set up");
            return;
        }
    };
    let mut backoff = FIRST_BACKOFF;
    let mut reported = false;
    let conn = loop {
        let subscribed = async {
            let mut conn = client.get_async_connection().await?;
            conn.ssubscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        match subscribed.await {
            Ok(conn) => break conn,
            Err(err) => {
                if !reported {
                    tracing::warn!(%err, "redis broker: cannot subscribe on the Redis Cluster; retrying");
                    reported = true;
                }
                if !fail_waiting(&mut queue, &inbox, &err) {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    tokio::spawn(write(conn.clone(), queue, inbox.clone()));
    {
        let Some(inbox) = inbox.upgrade() else { return };
        inbox.link(true);
    }

    let mut up = true;
    let mut probes = Probes::new(node);
    let mut tick = tokio::time::interval(PROBE_WAIT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let push = tokio::select! {
            push = pushes.recv() => push,
            _ = tick.tick() => {
                let now = Instant::now();
                if up && probes.overdue(now) {
                    // Nothing said the subscription ended, but it no longer hears this node.
                    up = false;
                    probes.went_down();
                    tracing::warn!("redis broker: this node's probe did not come back; subscribing again");
                    let Some(inbox) = inbox.upgrade() else { return };
                    inbox.link(false);
                }
                if !up {
                    // The client subscribes again by itself after a disconnection, but not
                    // always after a failover: asking again costs nothing (a connection
                    // subscribed twice to a channel hears it once).
                    resubscribe(&conn);
                    probes.send(&conn, now);
                } else if probes.due(now) {
                    probes.send(&conn, now);
                }
                continue;
            }
        };
        let Some(push) = push else { return };
        let Some(inbox) = inbox.upgrade() else { return };
        match push.kind {
            PushKind::SMessage => {
                let Some(payload) = payload(push.data) else {
                    continue;
                };
                if payload.starts_with(PROBE) {
                    if probes.came_back(&payload) && !up {
                        // A probe sent since the link went down crossed: the subscription is
                        // in place again.
                        up = true;
                        tracing::info!("redis broker: subscribed on the Redis Cluster again");
                        inbox.link(true);
                    }
                    continue;
                }
                inbox.receive(payload);
            }
            PushKind::Disconnection => {
                // A connection to some node of the Redis Cluster closed; it may be the one
                // the subscription is on.
                if up {
                    up = false;
                    probes.went_down();
                    tracing::warn!("redis broker: a Redis Cluster connection closed; waiting for the subscription");
                    inbox.link(false);
                }
                probes.send(&conn, Instant::now());
            }
            _ => {}
        }
    }
}

/// Subscribes to the channel again, in the background.
fn resubscribe(conn: &ClusterConnection) {
    let mut conn = conn.clone();
    tokio::spawn(async move {
        if let Err(err) = conn.ssubscribe(CHANNEL).await {
            tracing::debug!(%err, "redis broker: subscribing again failed");
        }
    });
}

/// A shard channel message's payload: `[channel, payload]`.
fn payload(data: Vec<Value>) -> Option<Bytes> {
    let mut data = data.into_iter();
    let _channel = data.next()?;
    match data.next()? {
        Value::BulkString(bytes) => Some(Bytes::from(bytes)),
        _ => None,
    }
}

/// This node's probes, numbered.
///
/// While the link is up one is out at a time: the next goes [`PROBE_EVERY`] after the last
/// came back, and one not back [`PROBE_LOST`] after it was sent means the subscription is
/// gone though nothing said so. While the link is down one goes out every [`PROBE_WAIT`],
/// and any of them coming back — any sent since the link went down — proves the
/// subscription is in place again, however long the round trip.
struct Probes {
    node: NodeId,
    sent: u64,
    sent_at: Instant,
    /// Whether the last one sent came back.
    back: bool,
    /// The first probe that counts as sent since the link went down.
    since: u64,
}

impl Probes {
    fn new(node: NodeId) -> Self {
        Self {
            node,
            sent: 0,
            sent_at: Instant::now(),
            back: true,
            since: 0,
        }
    }

    fn encode(&self, n: u64) -> Vec<u8> {
        let mut bytes = PROBE.to_vec();
        bytes.extend_from_slice(&self.node.0.to_be_bytes());
        bytes.extend_from_slice(&n.to_be_bytes());
        bytes
    }

    /// The number of this node's probe `payload` is, if it is one of this node's.
    fn number(&self, payload: &[u8]) -> Option<u64> {
        let rest = payload.strip_prefix(PROBE)?;
        let (node, n) = rest.split_at_checked(8)?;
        if node != self.node.0.to_be_bytes() {
            return None;
        }
        Some(u64::from_be_bytes(n.try_into().ok()?))
    }

    /// Whether the next probe is due (the link up): the last came back a while ago.
    fn due(&self, now: Instant) -> bool {
        self.back && now.duration_since(self.sent_at) >= PROBE_EVERY
    }

    /// Whether the last probe is late enough to count as lost.
    fn overdue(&self, now: Instant) -> bool {
        !self.back && now.duration_since(self.sent_at) >= PROBE_LOST
    }

    /// The link went down: only probes sent from now on prove it is back.
    fn went_down(&mut self) {
        self.since = self.sent + 1;
    }

    /// Publishes the next probe, in the background: the client may be waiting for a node.
    fn send(&mut self, conn: &ClusterConnection, now: Instant) {
        self.sent += 1;
        self.sent_at = now;
        self.back = false;
        let probe = self.encode(self.sent);
        let mut conn = conn.clone();
        tokio::spawn(async move {
            let sent: redis::RedisResult<i64> = redis::cmd("SPUBLISH")
                .arg(CHANNEL)
                .arg(probe)
                .query_async(&mut conn)
                .await;
            if let Err(err) = sent {
                tracing::debug!(%err, "redis broker: a probe could not be sent");
            }
        });
    }

    /// A probe came back: whether it is one of this node's sent since the link last went
    /// down (its coming back proves the subscription is in place).
    fn came_back(&mut self, payload: &[u8]) -> bool {
        let Some(n) = self.number(payload) else {
            return false;
        };
        if n == self.sent {
            self.back = true;
        }
        n >= self.since
    }
}

/// The writer: the node's envelopes as `SPUBLISH`es, pipelined.
async fn write(
    mut conn: ClusterConnection,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    inbox: Weak<dyn Inbox>,
) {
    let mut batch: Vec<Outgoing> = Vec::new();
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for (_, envelope) in &batch {
            pipe.cmd("SPUBLISH")
                .arg(CHANNEL)
                .arg(&envelope[..])
                .ignore();
        }
        if let Err(err) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(%err, "redis broker: publishing on the Redis Cluster failed");
            let error = BrokerError(std::sync::Arc::from(err.to_string()));
            let Some(inbox) = inbox.upgrade() else { return };
            for (seq, _) in batch.drain(..) {
                inbox.failed(seq, error.clone());
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_out_one_at_a_time_and_any_sent_since_going_down_proves_the_link() {
        let t0 = Instant::now();
        let mut p = Probes::new(NodeId(7));
        // Sent by hand (no connection): as `send` counts them.
        let sent = |p: &mut Probes, at: Instant| {
            p.sent += 1;
            p.sent_at = at;
            p.back = false;
            p.encode(p.sent)
        };
        let first = sent(&mut p, t0);
        // Not back: no second one however long, and lost after PROBE_LOST.
        assert!(!p.due(t0 + PROBE_EVERY * 5));
        assert!(!p.overdue(t0 + PROBE_LOST - Duration::from_millis(1)));
        assert!(p.overdue(t0 + PROBE_LOST));
        // Down; probes go out; an old one (sent before) proves nothing, a slow new one
        // does, even when a newer one is already out.
        p.went_down();
        let slow = sent(&mut p, t0 + PROBE_LOST);
        let _newer = sent(&mut p, t0 + PROBE_LOST + PROBE_WAIT);
        assert!(!p.came_back(&first));
        assert!(p.came_back(&slow));
        // Another node's probe is not this one's.
        let other = Probes::new(NodeId(8)).encode(p.sent);
        assert!(!p.came_back(&other));
    }
}

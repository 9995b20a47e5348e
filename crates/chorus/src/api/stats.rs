//! `stats`: every node's figures — connections, messages and bytes in and out by protocol,
//! deliveries, slow consumers dropped, the fullest rooms, the store and the broker — for
//! the admin page's charts and for a backend that wants them as JSON rather than as
//! Prometheus text.
//!
//! Each node answers for itself ([`report`], installed as the namespace `/`'s reporter of
//! `chorus_core::ops::Op::Stats`); the call gathers the answers over the cluster, and a
//! node that does not answer in time is counted, not waited for.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::Api;
use crate::events::Emitter;
use crate::http::Routes;
use crate::metrics::{Event, Protocol};

/// The fullest rooms a node reports.
const TOP_ROOMS: usize = 10;

/// `stats` takes nothing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsRequest {}

/// Every node's figures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatsResult {
    /// One per node that answered, this node first.
    pub(crate) nodes: Vec<NodeStats>,
    /// Nodes of the cluster that did not answer in time.
    pub(crate) unanswered: usize,
}

/// One node's figures, since it started (rates are the difference of two calls).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct NodeStats {
    /// The node's id in the cluster; none for a server alone.
    pub(crate) node: Option<String>,
    /// `chorus/<version>`.
    pub(crate) server: String,
    /// Seconds since it started.
    pub(crate) uptime_secs: u64,
    /// When these figures were taken, in milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
    /// By protocol: `raw`, `native`, `socketio`.
    pub(crate) protocols: BTreeMap<String, ProtocolStats>,
    /// Copies of messages queued for their recipients.
    pub(crate) deliveries: u64,
    /// Messages published.
    pub(crate) published: u64,
    /// Connections dropped for not reading what they were sent.
    pub(crate) slow_consumers: u64,
    /// Bytes waiting in outbound queues.
    pub(crate) queued_bytes: u64,
    /// Rooms with a member here.
    pub(crate) rooms: usize,
    /// The fullest rooms here, fullest first.
    pub(crate) top_rooms: Vec<TopRoom>,
    /// Where history is kept: `sqlite`, `memory`, `redis` or `none`.
    pub(crate) store: String,
    /// Whether the store took the last batch it was given (none without a store).
    pub(crate) store_ok: Option<bool>,
    /// Batches the store failed to append.
    pub(crate) store_failures: u64,
    /// Whether the link to the broker is up; none for a server alone.
    pub(crate) broker_up: Option<bool>,
}

/// One protocol's figures on a node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ProtocolStats {
    pub(crate) connections: i64,
    pub(crate) messages_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) messages_out: u64,
    pub(crate) bytes_out: u64,
}

/// A room and its members on a node.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct TopRoom {
    pub(crate) namespace: String,
    pub(crate) room: String,
    pub(crate) members: usize,
}

/// Every node's figures.
#[utoipa::path(post, path = "/api/stats", tag = "node",
    request_body = StatsRequest,
    responses((status = 200, description = "Every node's figures", body = StatsResult)))]
pub(crate) async fn stats(api: &Api, _req: StatsRequest) -> Result<StatsResult, ApiError> {
    let ns = api.namespace(None)?;
    // Figures are for a page that asks again in 2 s: a silent node is not waited for long.
    let emitter = Emitter::new(ns, None, None).timeout(std::time::Duration::from_secs(2));
    let (answers, unanswered) = emitter.stats().await;
    let nodes = answers
        .iter()
        .filter_map(|figures| serde_json::from_slice(figures).ok())
        .collect();
    Ok(StatsResult { nodes, unanswered })
}

/// What this node answers to a request for its figures: made from the server's routes,
/// held weakly (the namespace holding the reporter is the routes' own).
pub(crate) fn reporter(
    routes: Weak<Routes>,
    started: std::time::Instant,
) -> chorus_core::ops::Reporter {
    chorus_core::ops::Reporter::new(move || match routes.upgrade() {
        Some(routes) => report(&routes, started),
        None => Bytes::from_static(b"null"),
    })
}

/// This node's figures, as JSON.
fn report(routes: &Arc<Routes>, started: std::time::Instant) -> Bytes {
    let hub = &routes.hub;
    let metrics = &routes.ctx.metrics;
    let socketio_sessions = routes.engine_sessions();
    let protocols = Protocol::ALL
        .iter()
        .map(|p| {
            let t = metrics.traffic.totals(*p);
            let connections = match p {
                Protocol::SocketIo => i64::try_from(socketio_sessions).unwrap_or(i64::MAX),
                _ => t.connections,
            };
            let stats = ProtocolStats {
                connections,
                messages_in: t.messages_in,
                bytes_in: t.bytes_in,
                messages_out: t.messages_out,
                bytes_out: t.bytes_out,
            };
            (p.as_str().to_owned(), stats)
        })
        .collect();
    let namespaces = hub.namespaces();
    let mut top: Vec<TopRoom> = Vec::new();
    let mut rooms = 0;
    for ns in &namespaces {
        for room in ns.room_names() {
            rooms += 1;
            let members = ns.room_len(&room);
            if top.len() < TOP_ROOMS || top.last().is_some_and(|t| t.members < members) {
                let at = top.partition_point(|t| t.members >= members);
                top.insert(
                    at,
                    TopRoom {
                        namespace: ns.name().to_string(),
                        room: room.to_string(),
                        members,
                    },
                );
                top.truncate(TOP_ROOMS);
            }
        }
    }
    let figures = NodeStats {
        node: hub.cluster().map(|c| c.node().to_string()),
        server: concat!("chorus/", env!("CARGO_PKG_VERSION")).to_owned(),
        uptime_secs: started.elapsed().as_secs(),
        at_ms: chorus_core::publisher::now_ms(),
        protocols,
        deliveries: namespaces.iter().map(|ns| ns.delivered()).sum(),
        published: namespaces.iter().map(|ns| ns.published()).sum(),
        slow_consumers: metrics.get(Event::SlowConsumer),
        queued_bytes: namespaces.iter().map(|ns| ns.queued_bytes().0 as u64).sum(),
        rooms,
        top_rooms: top,
        store: format!("{:?}", routes.ctx.config.store).to_lowercase(),
        store_ok: hub
            .publisher()
            .map(|p| !p.stats().failing.load(std::sync::atomic::Ordering::Relaxed)),
        store_failures: hub.publisher().map_or(0, |p| {
            p.stats()
                .append_failures
                .load(std::sync::atomic::Ordering::Relaxed)
        }),
        broker_up: hub.cluster().map(|c| c.is_up()),
    };
    Bytes::from(serde_json::to_vec(&figures).expect("figures serialise"))
}

//! `info`: this node, what it holds, and its cluster as it sees it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::Api;

/// `info` takes nothing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InfoRequest {}

/// This node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Info {
    /// `chorus/<version>`.
    pub(crate) server: String,
    /// Seconds since the server started.
    pub(crate) uptime_secs: u64,
    /// Connections open on this node, every protocol and namespace.
    pub(crate) connections: usize,
    /// Each namespace this node has (`raw` is the raw rooms', `engine.io:<path>` a raw
    /// Engine.IO endpoint's).
    pub(crate) namespaces: Vec<NamespaceInfo>,
    /// The cluster, if this node is one of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cluster: Option<ClusterInfo>,
}

/// One namespace on this node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct NamespaceInfo {
    /// Its name.
    pub(crate) name: String,
    /// Connections open in it.
    pub(crate) connections: usize,
    /// Rooms with a member here.
    pub(crate) rooms: usize,
    /// Users (tokens' `sub`) with a connection here.
    pub(crate) users: usize,
    /// Messages published in it since the server started.
    pub(crate) published: u64,
}

/// The cluster as this node sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ClusterInfo {
    /// This node's id.
    pub(crate) node: String,
    /// Other nodes known to be alive.
    pub(crate) other_nodes: usize,
    /// Whether the link to the broker is up.
    pub(crate) broker_up: bool,
}

/// Tells about this node.
#[utoipa::path(post, path = "/api/info", tag = "node",
    request_body = InfoRequest,
    responses((status = 200, description = "This node", body = Info)))]
pub(crate) async fn info(api: &Api, _req: InfoRequest) -> Result<Info, ApiError> {
    let mut namespaces: Vec<NamespaceInfo> = api
        .hub
        .namespaces()
        .iter()
        .map(|ns| NamespaceInfo {
            name: ns.name().to_string(),
            connections: ns.len(),
            rooms: ns.room_count(),
            users: ns.user_count(),
            published: ns.published(),
        })
        .collect();
    namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Info {
        server: concat!("chorus/", env!("CARGO_PKG_VERSION")).to_owned(),
        uptime_secs: api.started.elapsed().as_secs(),
        connections: api.hub.connection_count(),
        namespaces,
        cluster: api.hub.cluster().map(|cluster| ClusterInfo {
            node: cluster.node().to_string(),
            other_nodes: cluster.nodes(),
            broker_up: cluster.is_up(),
        }),
    })
}

//! Engine.IO without sticky sessions: a request for a session another node of the cluster
//! holds is forwarded there.
//!
//! On a cluster, a session id names the node that holds the session ([`new_sid`]: its node
//! id, then 128 random bits). A long-polling GET or POST, or a WebSocket upgrade, that a
//! load balancer sent to another node is passed to the holder over HTTP — at the address it
//! advertises in its heartbeats ([`chorus_core::Cluster::address_of`]) — and its answer
//! passed back; an upgrade becomes a tunnel, bytes copied both ways. Only nodes of the
//! cluster are ever forwarded to (the address comes from the broker, never from the
//! request), and a forwarded request is never forwarded again.
//!
//! [`new_sid`]: super::new_sid

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chorus_core::cluster::NodeId;
use chorus_core::Cluster;
use http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::EngineError;

/// Marks a request one node forwarded to another.
pub(crate) const FORWARDED: HeaderName = HeaderName::from_static("x-chorus-forwarded");

/// How long connecting to another node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Headers that belong to one hop and are not passed on (RFC 9110 §7.6.1), except the
/// upgrade's own, kept for a WebSocket.
const HOP: [HeaderName; 5] = [
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
];

/// A session id for a new session of `node` (or of a server alone): URL-safe, 128 random
/// bits from the thread's CSPRNG after the node's id. It is the only credential of a
/// long-polling client, so it must not be guessable.
pub(crate) fn new_sid(node: Option<NodeId>) -> String {
    let random: [u8; 16] = rand::random();
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    match node {
        None => url.encode(random),
        Some(node) => {
            let mut bytes = [0u8; 24];
            bytes[..8].copy_from_slice(&node.0.to_le_bytes());
            bytes[8..].copy_from_slice(&random);
            url.encode(bytes)
        }
    }
}

/// The node a session id names, if it names one.
pub(crate) fn owner(sid: &str) -> Option<NodeId> {
    if sid.len() != 32 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sid)
        .ok()?;
    let node: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(NodeId(u64::from_le_bytes(node)))
}

/// Where a request for `sid` should go instead of this node: the address of the node that
/// holds it, when that is another live node of `cluster` and the request was not
/// forwarded already.
pub(crate) fn target(cluster: &Cluster, sid: &str, req: &Request) -> Option<Arc<str>> {
    if req.headers().contains_key(&FORWARDED) {
        return None;
    }
    let node = owner(sid)?;
    if node == cluster.node() {
        return None;
    }
    cluster.address_of(node)
}

fn client() -> &'static Client<HttpConnector, Body> {
    static CLIENT: OnceLock<Client<HttpConnector, Body>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        Client::builder(TokioExecutor::new()).build(connector)
    })
}

/// Passes `req` to the node at `address` and its answer back; a WebSocket upgrade becomes
/// a tunnel between the client and that node.
pub(crate) async fn forward(address: &str, mut req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let Ok(uri) = format!("http://{address}{path}").parse::<Uri>() else {
        return EngineError::UnknownSid.into_response();
    };
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let client_side = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let mut out = http::Request::builder()
        .method(parts.method)
        .uri(uri)
        .version(http::Version::HTTP_11);
    for (name, value) in &parts.headers {
        if HOP.contains(name) || name == header::HOST {
            continue;
        }
        if !upgrade && (name == header::CONNECTION || name == header::UPGRADE) {
            continue;
        }
        out = out.header(name, value);
    }
    out = out.header(FORWARDED, HeaderValue::from_static("1"));
    let Ok(out) = out.body(body) else {
        return EngineError::BadRequest.into_response();
    };
    let mut answer = match client().request(out).await {
        Ok(answer) => answer,
        Err(err) => {
            tracing::warn!(%err, %address, "engine.io: the node holding a session did not answer");
            return (
                StatusCode::BAD_GATEWAY,
                "the node holding this session did not answer",
            )
                .into_response();
        }
    };
    if let (Some(client_side), StatusCode::SWITCHING_PROTOCOLS) = (client_side, answer.status()) {
        let node_side = hyper::upgrade::on(&mut answer);
        tokio::spawn(async move {
            let (Ok(client_side), Ok(node_side)) = (client_side.await, node_side.await) else {
                return;
            };
            let mut client_side = TokioIo::new(client_side);
            let mut node_side = TokioIo::new(node_side);
            let _ = tokio::io::copy_bidirectional(&mut client_side, &mut node_side).await;
        });
    }
    let (parts, body) = answer.into_parts();
    let mut response = Response::from_parts(parts, Body::new(body));
    for name in &HOP {
        response.headers_mut().remove(name);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_id_names_its_node_and_is_otherwise_random() {
        let node = NodeId(0x0123_4567_89ab_cdef);
        let sid = new_sid(Some(node));
        assert_eq!(sid.len(), 32);
        assert_eq!(owner(&sid), Some(node));
        assert_ne!(new_sid(Some(node)), sid);
        // A server alone keeps the short form, which names nobody.
        let alone = new_sid(None);
        assert_eq!(alone.len(), 22);
        assert_eq!(owner(&alone), None);
        assert_eq!(owner("not base64 at all, but 32 chars!"), None);
    }
}

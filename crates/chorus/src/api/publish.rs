//! The calls that send: `publish` (one room), `broadcast` (one message to many rooms),
//! `emit` (one connection, or every connection of a user).
//!
//! Each message takes the hub's one route (`chorus_core::Namespace::publish`) as a message
//! from the server — not on any client's behalf — so it reaches every protocol's clients,
//! is stored first in a room that keeps history (the answer then carries its `offset` and
//! `epoch`: acknowledged means recoverable), and crosses the cluster like any other.

use std::sync::Arc;

use chorus_core::{Audience, ConnId, EventData, Publish, Receipt};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorDetail};
use super::Api;

/// `publish`: one event to the members of one room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {
    /// The room (1–128 characters, no control characters).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub(crate) room: String,
    /// The event's name (1–128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub(crate) event: String,
    /// The event's data: any JSON value (default `null`).
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub(crate) data: Option<Box<RawValue>>,
    /// The namespace (default `/`, where `/ws` and Socket.IO's main namespace are).
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    /// A key of the caller's choosing: the same key again within the server's window gets
    /// this request's answer, and the message is not sent twice.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub(crate) idempotency_key: Option<String>,
}

/// What a publish did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PublishResult {
    /// How many of this node's connections it was queued for (on a cluster, the other
    /// nodes' deliveries are not counted).
    pub(crate) delivered: usize,
    /// Its offset in the room's stream, when the room keeps history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) offset: Option<u64>,
    /// The stream's epoch, with `offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) epoch: Option<String>,
}

impl From<Receipt> for PublishResult {
    fn from(receipt: Receipt) -> Self {
        Self {
            delivered: receipt.delivered,
            offset: receipt.pos.as_ref().map(|p| p.offset),
            epoch: receipt.pos.map(|p| p.epoch.to_string()),
        }
    }
}

/// Publishes an event to a room.
#[utoipa::path(post, path = "/api/publish", tag = "publish",
    request_body = PublishRequest,
    responses(
        (status = 200, description = "Sent; stored first in a room with history", body = PublishResult),
        (status = 400, description = "A bad room, event or data", body = super::error::ErrorBody),
        (status = 409, description = "The idempotency key was used for another request (`idempotency_conflict`)", body = super::error::ErrorBody),
        (status = 413, description = "Larger than the server's maximum message size", body = super::error::ErrorBody),
        (status = 503, description = "The history store or the broker cannot take it now", body = super::error::ErrorBody),
    ))]
pub(crate) async fn publish(api: &Api, req: PublishRequest) -> Result<PublishResult, ApiError> {
    check_publish(api, req)?.send().await
}

/// A publish or a broadcast checked — its namespace, rooms, event and data — and ready to
/// send: checked once, before an idempotency key is looked up, so a bad request is
/// refused whatever key it carries.
pub(crate) struct Checked {
    ns: Arc<chorus_core::Namespace>,
    rooms: Vec<String>,
    event: String,
    data: EventData,
}

/// Checks a publish (its key is the caller's business).
pub(crate) fn check_publish(api: &Api, req: PublishRequest) -> Result<Checked, ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    api.check_room(&req.room)?;
    let data = api.event_data(&req.event, req.data)?;
    Ok(Checked {
        ns,
        rooms: vec![req.room],
        event: req.event,
        data,
    })
}

/// Checks a broadcast: every room before any is sent to.
pub(crate) fn check_broadcast(api: &Api, req: BroadcastRequest) -> Result<Checked, ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    if req.rooms.is_empty() || req.rooms.len() > MAX_BROADCAST_ROOMS {
        return Err(ApiError::bad_request(format!(
            "`rooms` must name 1 to {MAX_BROADCAST_ROOMS} rooms"
        )));
    }
    for room in &req.rooms {
        api.check_room(room)?;
    }
    let data = api.event_data(&req.event, req.data)?;
    Ok(Checked {
        ns,
        rooms: req.rooms,
        event: req.event,
        data,
    })
}

impl Checked {
    /// Sends a checked publish: its one room's outcome.
    pub(crate) async fn send(self) -> Result<PublishResult, ApiError> {
        let room: Arc<str> = Arc::from(self.rooms.into_iter().next().unwrap_or_default());
        send(&self.ns, &self.event, self.data, Audience::Room(&room)).await
    }

    /// Sends a checked broadcast: a copy to each room, each room's outcome.
    pub(crate) async fn send_each(self) -> BroadcastResult {
        let sends = self.rooms.iter().map(|room| {
            let (ns, data, event) = (&self.ns, self.data.clone(), &self.event);
            async move {
                let room: Arc<str> = Arc::from(room.as_str());
                send(ns, event, data, Audience::Room(&room)).await
            }
        });
        let outcomes = futures::future::join_all(sends).await;
        BroadcastResult {
            results: self
                .rooms
                .into_iter()
                .zip(outcomes)
                .map(|(room, outcome)| match outcome {
                    Ok(result) => RoomOutcome {
                        room,
                        result: Some(result),
                        error: None,
                    },
                    Err(err) => RoomOutcome {
                        room,
                        result: None,
                        error: Some(err.detail()),
                    },
                })
                .collect(),
        }
    }
}

/// `broadcast`: one event to each of several rooms.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BroadcastRequest {
    /// The rooms (1 to 1,000), each sent its own copy: stored in each that keeps history.
    #[schema(min_items = 1, max_items = 1000)]
    pub(crate) rooms: Vec<String>,
    /// The event's name (1–128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub(crate) event: String,
    /// The event's data: any JSON value.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub(crate) data: Option<Box<RawValue>>,
    /// The namespace (default `/`).
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    /// As `publish`'s.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub(crate) idempotency_key: Option<String>,
}

/// Most rooms one broadcast names.
pub(crate) const MAX_BROADCAST_ROOMS: usize = 1000;

/// One room's outcome in a broadcast.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RoomOutcome {
    /// The room.
    pub(crate) room: String,
    /// What was sent, if it was.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<PublishResult>,
    /// Why not, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<ErrorDetail>,
}

/// What a broadcast did, room by room, in the order asked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct BroadcastResult {
    /// One outcome per room.
    pub(crate) results: Vec<RoomOutcome>,
}

/// Publishes one event to several rooms.
#[utoipa::path(post, path = "/api/broadcast", tag = "publish",
    request_body = BroadcastRequest,
    responses(
        (status = 200, description = "Each room's outcome", body = BroadcastResult),
        (status = 400, description = "No rooms, too many, a bad room, or a bad event or data", body = super::error::ErrorBody),
        (status = 409, description = "The idempotency key was used for another request (`idempotency_conflict`)", body = super::error::ErrorBody),
        (status = 413, description = "Larger than the server's maximum message size", body = super::error::ErrorBody),
    ))]
pub(crate) async fn broadcast(
    api: &Api,
    req: BroadcastRequest,
) -> Result<BroadcastResult, ApiError> {
    Ok(check_broadcast(api, req)?.send_each().await)
}

/// Whether a broadcast's answer holds a room the server failed to send to (a 5xx of its
/// own): remembered under an idempotency key, a retry would never send to it.
pub(crate) fn partly_failed(answer: &serde_json::Value) -> bool {
    answer["results"].as_array().is_some_and(|results| {
        results.iter().any(|r| {
            matches!(
                r["error"]["code"].as_str(),
                Some("unavailable" | "internal" | "timeout")
            )
        })
    })
}

/// `emit`: one event to one connection, or to every connection of a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmitRequest {
    /// A connection's id (as `hello` and presence show it). Give this or `user`.
    #[schema(pattern = r"^[0-9a-fA-F]{16}$")]
    #[serde(default)]
    pub(crate) conn: Option<String>,
    /// A user (a token's `sub`): every connection of theirs, on every node. Give this
    /// or `conn`.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub(crate) user: Option<String>,
    /// The event's name (1–128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub(crate) event: String,
    /// The event's data: any JSON value.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub(crate) data: Option<Box<RawValue>>,
    /// The namespace (default `/`).
    #[serde(default)]
    pub(crate) namespace: Option<String>,
}

/// Sends an event to one connection or to a user's connections.
#[utoipa::path(post, path = "/api/emit", tag = "publish",
    request_body = EmitRequest,
    responses(
        (status = 200, description = "Sent", body = PublishResult),
        (status = 400, description = "Neither or both of `conn` and `user`, or a bad event or data", body = super::error::ErrorBody),
        (status = 404, description = "No open connection with that id (on a server alone)", body = super::error::ErrorBody),
    ))]
pub(crate) async fn emit(api: &Api, req: EmitRequest) -> Result<PublishResult, ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    let data = api.event_data(&req.event, req.data)?;
    match Who::of(req.conn, req.user)? {
        Who::Conn(id) => {
            if ns.cluster().is_none() && ns.peer(id).is_none() {
                return Err(chorus_core::HubError::NoSuchConn(id.to_string()).into());
            }
            send(&ns, &req.event, data, Audience::Conn(id)).await
        }
        Who::User(user) => send(&ns, &req.event, data, Audience::User(&user)).await,
    }
}

/// Whom a call for connections is about: one connection, or a user's.
pub(crate) enum Who {
    Conn(ConnId),
    User(Arc<str>),
}

impl Who {
    /// From a request's `conn` and `user`: exactly one of them.
    pub(crate) fn of(conn: Option<String>, user: Option<String>) -> Result<Self, ApiError> {
        match (conn, user) {
            // Sixteen hex digits, as the document's pattern says (a sign is no digit).
            (Some(conn), None) => (conn.len() == 16 && conn.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| conn.parse().ok())
                .flatten()
                .map(Who::Conn)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("`conn` {conn:?} is not a connection id"))
                }),
            (None, Some(user)) if (1..=256).contains(&user.chars().count()) => {
                Ok(Who::User(Arc::from(user)))
            }
            (None, Some(_)) => Err(ApiError::bad_request("`user` must be 1 to 256 characters")),
            _ => Err(ApiError::bad_request(
                "give exactly one of `conn` and `user`",
            )),
        }
    }
}

/// Publishes from the server and waits for the receipt: at once, or once stored.
async fn send(
    ns: &Arc<chorus_core::Namespace>,
    event: &str,
    data: EventData,
    to: Audience<'_>,
) -> Result<PublishResult, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    ns.publish_then(Publish::event(event, data, to), move |receipt| {
        let _ = tx.send(receipt);
    });
    match rx.await {
        Ok(receipt) => Ok(receipt?.into()),
        Err(_) => Err(chorus_core::HubError::Store(chorus_core::StoreError::Stopped).into()),
    }
}

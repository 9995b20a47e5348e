//! The calls that read rooms: `presence`, `presence_stats`, `rooms`, `history`, and
//! `history_remove`. Presence and rooms are every node's (each node lists its
//! connections); history is the store's, which every node of a cluster shares or keeps
//! alike.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::ApiError;
use super::Api;
use crate::events::{Emitter, RemoteSocket};

/// A room, in a namespace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoomRequest {
    /// The room.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub(crate) room: String,
    /// The namespace (default `/`).
    #[serde(default)]
    pub(crate) namespace: Option<String>,
}

/// One connection in a room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Member {
    /// Its id.
    pub(crate) id: String,
    /// Its nickname.
    pub(crate) name: String,
    /// Its user data (the native `set` command's), if any.
    #[schema(value_type = Option<Object>)]
    pub(crate) data: Option<Value>,
    /// The user behind it (its token's `sub`), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
}

/// Who is in a room, on every node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Presence {
    /// The room.
    pub(crate) room: String,
    /// Its members.
    pub(crate) members: Vec<Member>,
}

/// Lists a room's members, on every node.
#[utoipa::path(post, path = "/api/presence", tag = "rooms",
    request_body = RoomRequest,
    responses(
        (status = 200, description = "The members", body = Presence),
        (status = 400, description = "A bad room", body = super::error::ErrorBody),
        (status = 504, description = "Another node did not answer in time", body = super::error::ErrorBody),
    ))]
pub(crate) async fn presence(api: &Api, req: RoomRequest) -> Result<Presence, ApiError> {
    let members = members(api, &req).await?;
    Ok(Presence {
        room: req.room,
        members: members
            .into_iter()
            .map(|s| Member {
                id: s.id.to_string(),
                name: s.name.to_string(),
                data: s.data,
                user: s.user.map(|u| u.to_string()),
            })
            .collect(),
    })
}

/// How many are in a room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PresenceStats {
    /// The room.
    pub(crate) room: String,
    /// Connections in it.
    pub(crate) connections: usize,
    /// Distinct users among them (connections with a token's `sub`).
    pub(crate) users: usize,
}

/// Counts a room's connections and users, on every node.
#[utoipa::path(post, path = "/api/presence_stats", tag = "rooms",
    request_body = RoomRequest,
    responses(
        (status = 200, description = "The counts", body = PresenceStats),
        (status = 400, description = "A bad room", body = super::error::ErrorBody),
        (status = 504, description = "Another node did not answer in time", body = super::error::ErrorBody),
    ))]
pub(crate) async fn presence_stats(api: &Api, req: RoomRequest) -> Result<PresenceStats, ApiError> {
    let members = members(api, &req).await?;
    let users: HashSet<&str> = members.iter().filter_map(|s| s.user.as_deref()).collect();
    Ok(PresenceStats {
        connections: members.len(),
        users: users.len(),
        room: req.room,
    })
}

async fn members(api: &Api, req: &RoomRequest) -> Result<Vec<RemoteSocket>, ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    api.check_room(&req.room)?;
    let mut sockets = Emitter::new(ns, None, None)
        .to(&req.room)
        .fetch_sockets()
        .await?;
    // A room named like a connection's id selects that connection when no such room
    // exists (socket.io's addressing): a member is one that is in the room.
    sockets.retain(|s| s.rooms.iter().any(|r| **r == *req.room));
    Ok(sockets)
}

/// `rooms`: the rooms with members, on every node.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoomsRequest {
    /// Only rooms matching this `*` glob (`chat:*`).
    #[serde(default)]
    pub(crate) pattern: Option<String>,
    /// The namespace (default `/`).
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    /// Most rooms listed, the fullest first (default and most: 1000).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::whole")]
    pub(crate) limit: Option<usize>,
}

/// A room and how many are in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RoomCount {
    /// The room.
    pub(crate) room: String,
    /// Connections in it.
    pub(crate) members: usize,
}

/// The rooms with members.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Rooms {
    /// The fullest first, then by name.
    pub(crate) rooms: Vec<RoomCount>,
    /// How many rooms matched, listed or not.
    pub(crate) total: usize,
}

/// Most rooms a `rooms` call lists.
const MAX_ROOMS_LISTED: usize = 1000;

/// Lists the rooms that have members, with how many, on every node.
#[utoipa::path(post, path = "/api/rooms", tag = "rooms",
    request_body = RoomsRequest,
    responses(
        (status = 200, description = "The rooms", body = Rooms),
        (status = 504, description = "Another node did not answer in time", body = super::error::ErrorBody),
    ))]
pub(crate) async fn rooms(api: &Api, req: RoomsRequest) -> Result<Rooms, ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    let limit = req.limit.unwrap_or(MAX_ROOMS_LISTED);
    if limit == 0 || limit > MAX_ROOMS_LISTED {
        return Err(ApiError::bad_request(format!(
            "`limit` must be 1 to {MAX_ROOMS_LISTED}"
        )));
    }
    let sockets = Emitter::new(ns, None, None).fetch_sockets().await?;
    let mut counts: HashMap<Arc<str>, usize> = HashMap::new();
    for socket in &sockets {
        for room in &socket.rooms {
            let wanted = req
                .pattern
                .as_deref()
                .is_none_or(|p| chorus_core::history::glob(p, room));
            if wanted {
                *counts.entry(room.clone()).or_default() += 1;
            }
        }
    }
    let total = counts.len();
    let mut rooms: Vec<RoomCount> = counts
        .into_iter()
        .map(|(room, members)| RoomCount {
            room: room.to_string(),
            members,
        })
        .collect();
    rooms.sort_by(|a, b| b.members.cmp(&a.members).then_with(|| a.room.cmp(&b.room)));
    rooms.truncate(limit);
    Ok(Rooms { rooms, total })
}

/// A place in a room's stream.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Position {
    /// The stream's epoch.
    pub(crate) epoch: String,
    /// An offset in it.
    #[serde(deserialize_with = "offset")]
    pub(crate) offset: u64,
}

fn offset<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    super::whole(deserializer)?.ok_or_else(|| serde::de::Error::custom("expected an offset"))
}

/// `history`: a room's stored messages.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryRequest {
    /// The room.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub(crate) room: String,
    /// The namespace (default `/`).
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    /// Most messages (default 100, most 1000): the last ones, or the first after `after`.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::whole")]
    pub(crate) limit: Option<usize>,
    /// Read the messages after this position (paging forward).
    #[serde(default)]
    pub(crate) after: Option<Position>,
    /// The page newest first.
    #[serde(default)]
    pub(crate) reverse: bool,
}

/// A page of a room's history, as the native protocol's `history` reply has it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct History {
    /// The room.
    pub(crate) room: String,
    /// The stream's position now (`null` for a room that keeps no history).
    #[schema(value_type = Option<Object>)]
    pub(crate) position: Value,
    /// True when messages right after `after` are gone (retention, or another epoch).
    pub(crate) truncated: bool,
    /// The messages: `event`, `data`, `offset`, `time` (ms since the Unix epoch), `from`.
    #[schema(value_type = Vec<Object>)]
    pub(crate) events: Vec<Value>,
}

/// Most messages one history call returns.
const MAX_HISTORY: usize = 1000;

/// Reads a room's history.
#[utoipa::path(post, path = "/api/history", tag = "history",
    request_body = HistoryRequest,
    responses(
        (status = 200, description = "A page of the room's messages", body = History),
        (status = 400, description = "A bad room or limit", body = super::error::ErrorBody),
        (status = 503, description = "The history store failed", body = super::error::ErrorBody),
    ))]
pub(crate) async fn history(api: &Api, req: HistoryRequest) -> Result<History, ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    api.check_room(&req.room)?;
    let limit = req.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_HISTORY {
        return Err(ApiError::bad_request(format!(
            "`limit` must be 1 to {MAX_HISTORY}"
        )));
    }
    let after = req.after;
    let read = with_store(&ns, &req.room, move |store, stream| match &after {
        Some(after) => store.read_after(stream, Some(&after.epoch), after.offset, limit),
        None => store.read_last(stream, limit),
    });
    let Some(page) = read.await? else {
        return Ok(History {
            room: req.room,
            position: Value::Null,
            truncated: false,
            events: Vec::new(),
        });
    };
    // The native protocol's `history` reply, taken apart rather than copied.
    let mut json = crate::session::native::history::history_json(&req.room, &page);
    let mut events = match json["events"].take() {
        Value::Array(events) => events,
        _ => Vec::new(),
    };
    if req.reverse {
        events.reverse();
    }
    Ok(History {
        room: req.room,
        position: json["position"].take(),
        truncated: page.truncated,
        events,
    })
}

/// Runs `f` on the history store with the stream of `room`, off the async threads (a
/// store call may touch the disk or the network); `None` if the room keeps no history.
async fn with_store<T: Send + 'static>(
    ns: &chorus_core::Namespace,
    room: &str,
    f: impl FnOnce(&dyn chorus_core::Store, &str) -> Result<T, chorus_core::StoreError> + Send + 'static,
) -> Result<Option<T>, ApiError> {
    let Some(publisher) = ns.history_for(room) else {
        return Ok(None);
    };
    let store = publisher.store().clone();
    let stream = chorus_core::publisher::stream_name(ns.name(), room);
    let stored = |err| ApiError::from(chorus_core::HubError::Store(err));
    tokio::task::spawn_blocking(move || f(&*store, &stream))
        .await
        .map_err(|_| stored(chorus_core::StoreError::Stopped))?
        .map(Some)
        .map_err(stored)
}

/// How many messages were removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Removed {
    /// Messages removed from the room's history.
    pub(crate) removed: u64,
}

/// Removes a room's stored messages. The stream keeps its epoch and offsets (the next
/// message continues them); a client recovering from before the removal is told the
/// history could not be replayed in full.
#[utoipa::path(post, path = "/api/history_remove", tag = "history",
    request_body = RoomRequest,
    responses(
        (status = 200, description = "How many were removed", body = Removed),
        (status = 400, description = "A bad room", body = super::error::ErrorBody),
        (status = 503, description = "The history store failed", body = super::error::ErrorBody),
    ))]
pub(crate) async fn history_remove(api: &Api, req: RoomRequest) -> Result<Removed, ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    api.check_room(&req.room)?;
    // The store's retention pass, keeping nothing of this stream and everything else.
    let remove = with_store(&ns, &req.room, |store, stream| {
        let keep = |messages| chorus_core::Retention {
            max_messages: messages,
            max_age: std::time::Duration::MAX,
        };
        let stream = stream.to_owned();
        store.trim(chorus_core::publisher::now_ms(), &move |name| {
            keep(if name == stream { 0 } else { u64::MAX })
        })
    });
    let removed = remove.await?.unwrap_or(0);
    Ok(Removed { removed })
}

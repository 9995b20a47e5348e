//! The calls on connections wherever they are: `disconnect`, `join`, `leave` — one
//! connection by its id, or every connection of a user. On a cluster each runs on every
//! node (the library's calls on every node, `crate::events::everywhere`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::publish::Who;
use super::Api;
use crate::events::Emitter;

/// `disconnect`: close one connection, or every connection of a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisconnectRequest {
    /// A connection's id. Give this or `user`.
    #[schema(pattern = r"^[0-9a-fA-F]{16}$")]
    #[serde(default)]
    pub(crate) conn: Option<String>,
    /// A user (a token's `sub`). Give this or `conn`.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub(crate) user: Option<String>,
    /// The namespace; without it, a user's connections in every namespace (and raw
    /// rooms and endpoints) are closed, a connection is looked for in `/`.
    #[serde(default)]
    pub(crate) namespace: Option<String>,
}

/// How many connections a call changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Changed {
    /// Connections disconnected, or that joined or left.
    pub(crate) changed: u64,
}

/// Closes a connection, or a user's connections, the way each protocol does (a
/// Socket.IO client is told and does not come back by itself).
#[utoipa::path(post, path = "/api/disconnect", tag = "connections",
    request_body = DisconnectRequest,
    responses(
        (status = 200, description = "How many were closed", body = Changed),
        (status = 400, description = "Neither or both of `conn` and `user`", body = super::error::ErrorBody),
        (status = 504, description = "Another node did not answer in time", body = super::error::ErrorBody),
    ))]
pub(crate) async fn disconnect(api: &Api, req: DisconnectRequest) -> Result<Changed, ApiError> {
    let who = Who::of(req.conn, req.user)?;
    let namespaces = match (&req.namespace, &who) {
        (Some(name), _) => vec![api.namespace(Some(name))?],
        (None, Who::User(_)) => api.hub.namespaces(),
        (None, Who::Conn(_)) => vec![api.namespace(None)?],
    };
    let mut changed = 0;
    for ns in namespaces {
        changed += select(ns, &who).disconnect_sockets().await?;
    }
    Ok(Changed { changed })
}

/// `join` / `leave`: make a connection, or a user's connections, join or leave a room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoomChangeRequest {
    /// A connection's id. Give this or `user`.
    #[schema(pattern = r"^[0-9a-fA-F]{16}$")]
    #[serde(default)]
    pub(crate) conn: Option<String>,
    /// A user (a token's `sub`). Give this or `conn`.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub(crate) user: Option<String>,
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

/// Makes a connection, or a user's connections, join a room (their room's members are
/// told, as for a join of their own).
#[utoipa::path(post, path = "/api/join", tag = "connections",
    request_body = RoomChangeRequest,
    responses(
        (status = 200, description = "How many joined", body = Changed),
        (status = 400, description = "A bad room, or neither or both of `conn` and `user`", body = super::error::ErrorBody),
        (status = 504, description = "Another node did not answer in time", body = super::error::ErrorBody),
    ))]
pub(crate) async fn join(api: &Api, req: RoomChangeRequest) -> Result<Changed, ApiError> {
    let (emitter, room) = room_change(api, req)?;
    Ok(Changed {
        changed: emitter.sockets_join(&room).await?,
    })
}

/// Makes a connection, or a user's connections, leave a room.
#[utoipa::path(post, path = "/api/leave", tag = "connections",
    request_body = RoomChangeRequest,
    responses(
        (status = 200, description = "How many left", body = Changed),
        (status = 400, description = "A bad room, or neither or both of `conn` and `user`", body = super::error::ErrorBody),
        (status = 504, description = "Another node did not answer in time", body = super::error::ErrorBody),
    ))]
pub(crate) async fn leave(api: &Api, req: RoomChangeRequest) -> Result<Changed, ApiError> {
    let (emitter, room) = room_change(api, req)?;
    Ok(Changed {
        changed: emitter.sockets_leave(&room).await?,
    })
}

fn room_change(api: &Api, req: RoomChangeRequest) -> Result<(Emitter, String), ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    api.check_room(&req.room)?;
    let who = Who::of(req.conn, req.user)?;
    Ok((select(ns, &who), req.room))
}

/// An emitter selecting `who` in `ns`: a connection by its id — that connection alone,
/// never the members of a room a client named like the id — or a user's connections.
fn select(ns: Arc<chorus_core::Namespace>, who: &Who) -> Emitter {
    let all = Emitter::new(ns, None, None);
    match who {
        Who::Conn(id) => all.for_conn(*id),
        Who::User(user) => all.to_user(user),
    }
}

/// `connections`: who is connected — a user's connections, or a room's members — with
/// their rooms, on every node.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionsRequest {
    /// A user (a token's `sub`). Give this or `room`.
    #[schema(min_length = 1, max_length = 256)]
    #[serde(default)]
    pub(crate) user: Option<String>,
    /// A room. Give this or `user`.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    #[serde(default)]
    pub(crate) room: Option<String>,
    /// The namespace [default: `/`].
    #[serde(default)]
    pub(crate) namespace: Option<String>,
}

/// The connections found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Connections {
    pub(crate) connections: Vec<Connection>,
}

/// One connection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Connection {
    /// Its id (what `disconnect`, `emit`, `join` and `leave` take as `conn`).
    pub(crate) id: String,
    /// Its nickname.
    pub(crate) name: String,
    /// Its user, if it has one.
    pub(crate) user: Option<String>,
    /// The rooms it is in.
    pub(crate) rooms: Vec<String>,
    /// The node that holds it; none for this one.
    pub(crate) node: Option<String>,
}

/// Lists a user's connections, or a room's members, on every node.
#[utoipa::path(post, path = "/api/connections", tag = "connections",
    request_body = ConnectionsRequest,
    responses(
        (status = 200, description = "The connections", body = Connections),
        (status = 400, description = "Neither or both of `user` and `room`", body = super::error::ErrorBody),
        (status = 504, description = "Another node did not answer in time", body = super::error::ErrorBody),
    ))]
pub(crate) async fn connections(
    api: &Api,
    req: ConnectionsRequest,
) -> Result<Connections, ApiError> {
    let ns = api.namespace(req.namespace.as_deref())?;
    let emitter = match (req.user, req.room) {
        (Some(user), None) => select(ns, &Who::of(None, Some(user))?),
        (None, Some(room)) => {
            api.check_room(&room)?;
            Emitter::new(ns, None, None).to(&room)
        }
        _ => return Err(ApiError::bad_request("give one of `user` and `room`")),
    };
    let connections = emitter
        .fetch_sockets()
        .await?
        .into_iter()
        .map(|s| Connection {
            id: s.id.to_string(),
            name: s.name.to_string(),
            user: s.user.map(|u| u.to_string()),
            rooms: s.rooms.iter().map(|r| r.to_string()).collect(),
            node: s.node.map(|n| n.to_string()),
        })
        .collect();
    Ok(Connections { connections })
}

//! Who a message goes to: [`Audience`], borrowed where a message is published, and
//! [`Target`], owned where it must outlive the publish (a delivery held back behind its
//! sender's stored messages, an envelope between nodes).

use std::sync::Arc;

use crate::ConnId;

/// Who a message goes to. It borrows the room names (a raw room's message costs no
/// allocation and no reference count to address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// The members of one room.
    Room(&'a Arc<str>),
    /// The members of these rooms, each member once.
    Rooms(&'a [Arc<str>]),
    /// Every connection of the namespace.
    Everyone,
    /// One connection.
    Conn(ConnId),
    /// Every connection of one user (a token's `sub`), on every node.
    User(&'a Arc<str>),
}

impl<'a> Audience<'a> {
    /// The one room it names, if it names exactly one.
    pub fn single_room(&self) -> Option<&'a Arc<str>> {
        match *self {
            Audience::Room(room) | Audience::Rooms([room]) => Some(room),
            _ => None,
        }
    }
}

/// An [`Audience`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The members of one room.
    Room(Arc<str>),
    /// The members of these rooms, each once.
    Rooms(Vec<Arc<str>>),
    /// Every connection of the namespace.
    Everyone,
    /// One connection.
    Conn(ConnId),
    /// Every connection of one user.
    User(Arc<str>),
}

impl From<Audience<'_>> for Target {
    fn from(to: Audience<'_>) -> Self {
        match to {
            Audience::Room(room) => Target::Room(room.clone()),
            Audience::Rooms(rooms) => Target::Rooms(rooms.to_vec()),
            Audience::Everyone => Target::Everyone,
            Audience::Conn(id) => Target::Conn(id),
            Audience::User(user) => Target::User(user.clone()),
        }
    }
}

impl Target {
    /// It, borrowed.
    pub fn audience(&self) -> Audience<'_> {
        match self {
            Target::Room(room) => Audience::Room(room),
            Target::Rooms(rooms) => Audience::Rooms(rooms),
            Target::Everyone => Audience::Everyone,
            Target::Conn(id) => Audience::Conn(*id),
            Target::User(user) => Audience::User(user),
        }
    }
}

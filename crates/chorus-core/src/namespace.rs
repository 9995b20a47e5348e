//! A namespace: connections that share one space of rooms, and the rules they live by.
//!
//! The event layer (native `/ws` clients, and Socket.IO clients of the same namespace) lives
//! in one namespace, so they share rooms; plain-WebSocket raw rooms live in another, where a
//! room is named by the request path. "Everyone" in a broadcast means everyone in the
//! namespace. A namespace's [`Policy`] says whether joins are announced, whether clients may
//! emit to one another, and which of its rooms keep history; messages enter it through
//! [`Namespace::publish`] (`crate::route`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::audience::Audience;
use crate::cluster::{Cluster, Local};
use crate::id::ConnMap;
use crate::publisher::{JoinDone, Joined, Replay, RestoreDone, RestoreRoom, Rooms};
use crate::{
    Broadcast, ConnId, Format, HubError, Mailbox, Outbound, Peer, PeerInfo, PeerQueue,
    PresenceAction, PresenceNotice, Publisher, QueueLimits, Room, StreamPos,
};

/// How a namespace behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Room members hear joins, leaves and updates (presence notices).
    pub presence: bool,
    /// Clients may emit to other clients (rooms, everyone, one connection). Off, only the
    /// server's own code may.
    pub client_emits: bool,
    /// Which rooms keep history (stored, numbered, recoverable).
    pub history: History,
}

impl Default for Policy {
    /// Presence on, client emits on, history as the hub's rules say.
    fn default() -> Self {
        Self {
            presence: true,
            client_emits: true,
            history: History::Rules,
        }
    }
}

/// Which rooms of a namespace keep history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum History {
    /// None.
    Off,
    /// Those the hub's history rules keep.
    Rules,
    /// Those whose names match one of these `*`-globs and that the rules keep.
    Rooms(Vec<String>),
}

/// Which connections belong to which user: kept beside the connections rather than in
/// each [`Peer`], which stays small (most connections of most servers have no user).
#[derive(Debug, Default)]
struct Users {
    by_user: HashMap<Arc<str>, Vec<Arc<Peer>>>,
    of_conn: HashMap<ConnId, Arc<str>>,
}

impl Users {
    /// Whether this very connection (not just its id: a restored Socket.IO socket reuses
    /// the id of one on its way out) is indexed.
    fn holds(&self, peer: &Arc<Peer>) -> bool {
        self.of_conn
            .get(&peer.id())
            .and_then(|user| self.by_user.get(user))
            .is_some_and(|peers| peers.iter().any(|p| Arc::ptr_eq(p, peer)))
    }

    fn insert(&mut self, peer: &Arc<Peer>, user: &str) {
        if self.holds(peer) {
            return;
        }
        // An older connection with the same id (a restored socket's predecessor) leaves.
        self.remove_id(peer.id());
        let user: Arc<str> = match self.by_user.get_key_value(user) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(user),
        };
        self.of_conn.insert(peer.id(), user.clone());
        self.by_user.entry(user).or_default().push(peer.clone());
    }

    /// Takes this very connection out (an older or newer one with its id stays).
    fn remove(&mut self, peer: &Arc<Peer>) {
        if self.holds(peer) {
            self.remove_id(peer.id());
        }
    }

    fn remove_id(&mut self, id: ConnId) {
        let Some(user) = self.of_conn.remove(&id) else {
            return;
        };
        if let Some(peers) = self.by_user.get_mut(&user) {
            peers.retain(|p| p.id() != id);
            if peers.is_empty() {
                self.by_user.remove(&user);
            }
        }
    }
}

/// A space of connections and rooms.
#[derive(Debug)]
pub struct Namespace {
    name: Arc<str>,
    pub(crate) policy: Policy,
    queue: QueueLimits,
    max_rooms_per_conn: usize,
    /// Where messages of rooms with history go; `None` when the hub keeps none.
    publisher: Option<Arc<Publisher>>,
    /// The node's cluster, when it is one of several.
    pub(crate) cluster: Option<Arc<Cluster>>,
    peers: RwLock<ConnMap<Arc<Peer>>>,
    rooms: RwLock<HashMap<Arc<str>, Arc<Room>>>,
    /// The connections of each user (a token's `sub`) open here: what the server API's
    /// calls for a user select.
    users: RwLock<Users>,
    next_user: AtomicU64,
    /// Messages published here, for `/metrics` (and to prove a way in takes the route).
    pub(crate) published: AtomicU64,
    /// Copies queued for recipients here (one add per message, not per recipient).
    delivered: AtomicU64,
    /// What other servers' server-side events do here (see [`crate::ops`]).
    pub(crate) server_handler: RwLock<Option<crate::ops::ServerHandler>>,
    /// What a revocation of tokens does on this node (see [`crate::ops::Op::Revoke`]).
    revoker: RwLock<Option<crate::ops::Revoker>>,
    /// What this node answers to a request for its figures (see [`crate::ops::Op::Stats`]).
    reporter: RwLock<Option<crate::ops::Reporter>>,
    /// What the event layer does for this node's connections (a broadcast with acks, a
    /// disconnect in the protocol's way, rooms changed by ops told to its watchers).
    event_layer: RwLock<Option<Arc<dyn EventLayer>>>,
    /// Who is told of joins and leaves here (the server's hooks), if anyone.
    watch: RwLock<Option<Arc<dyn crate::presence::MembershipWatch>>>,
}

impl Namespace {
    pub(crate) fn new(
        name: Arc<str>,
        policy: Policy,
        queue: QueueLimits,
        max_rooms_per_conn: usize,
        publisher: Option<Arc<Publisher>>,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        Self {
            name,
            policy,
            queue,
            max_rooms_per_conn,
            publisher,
            cluster,
            peers: RwLock::new(ConnMap::default()),
            rooms: RwLock::new(HashMap::new()),
            users: RwLock::new(Users::default()),
            next_user: AtomicU64::new(1),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            server_handler: RwLock::new(None),
            revoker: RwLock::new(None),
            reporter: RwLock::new(None),
            event_layer: RwLock::new(None),
            watch: RwLock::new(None),
        }
    }

    /// The namespace's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Messages published in this namespace so far (through [`Namespace::publish`]).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// The publisher, if `room` keeps history: the namespace's policy names it, and the
    /// hub's rules keep messages for it.
    pub fn history_for(&self, room: &str) -> Option<&Arc<Publisher>> {
        let publisher = self.publisher.as_ref()?;
        let named = match &self.policy.history {
            History::Off => false,
            History::Rules => true,
            History::Rooms(patterns) => patterns
                .iter()
                .any(|pattern| crate::history::glob(pattern, room)),
        };
        (named && publisher.retention(room).is_some()).then_some(publisher)
    }

    /// The publisher of the hub, if it keeps history.
    pub fn publisher(&self) -> Option<&Arc<Publisher>> {
        self.publisher.as_ref()
    }

    /// The namespace's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Registers a new connection. `name` is its nickname; `None` picks `userN`, counting
    /// from 1 in this namespace (the seeds' chat room convention).
    pub fn connect(&self, format: Format, name: Option<Arc<str>>) -> (Arc<Peer>, PeerQueue) {
        let (mailbox, queue) = Mailbox::new(format, self.queue);
        (self.attach(mailbox, name), queue)
    }

    /// Registers a new connection that writes to an existing queue: another identity of a
    /// transport that multiplexes several namespaces over one socket (Socket.IO). It has its
    /// own id, nickname and rooms, and shares the queue's limits and fate.
    pub fn attach(&self, mailbox: Arc<Mailbox>, name: Option<Arc<str>>) -> Arc<Peer> {
        // A fresh id is new to this process, but a restored client keeps an id from an
        // earlier one: in the (2^-64-unlikely) event they meet, draw again.
        loop {
            if let Some(peer) = self.attach_as(ConnId::next(), mailbox.clone(), name.clone()) {
                return peer;
            }
        }
    }

    /// [`Namespace::attach`] with a given id: a client restored after a reconnect keeps
    /// the id it had. `None` if a connection with that id is open in this namespace.
    pub fn attach_as(
        &self,
        id: ConnId,
        mailbox: Arc<Mailbox>,
        name: Option<Arc<str>>,
    ) -> Option<Arc<Peer>> {
        let name = name.unwrap_or_else(|| {
            let n = self.next_user.fetch_add(1, Ordering::Relaxed);
            Arc::from(format!("user{n}"))
        });
        let peer = Peer::new(id, mailbox, name);
        match self.peers.write().entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => return None,
            std::collections::hash_map::Entry::Vacant(slot) => slot.insert(peer.clone()),
        };
        Some(peer)
    }

    /// Removes a connection: it leaves every room (members are told) and the namespace.
    /// Safe to call more than once.
    pub fn disconnect(&self, peer: &Arc<Peer>) {
        let rooms = peer.rooms_mut().take();
        for room in rooms {
            self.leave_room(peer, &room);
        }
        self.peers.write().remove(&peer.id());
        // After it left `peers`: a `set_user` now finds it gone (see there). Most
        // connections have no user: a shared lock tells, and the write lock is taken only
        // for one that has.
        if self.users.read().holds(peer) {
            self.users.write().remove(peer);
        }
    }

    /// Says which user a connection belongs to (its token's `sub`), once, so that calls
    /// for a user ([`crate::ops::Selector::users`], [`Audience::User`]) reach it. A
    /// connection that has a user keeps it: a later call changes nothing.
    pub fn set_user(&self, peer: &Arc<Peer>, user: &str) {
        let mut users = self.users.write();
        // Under the index's lock, which a disconnect takes after removing the connection:
        // either it is still open here and the disconnect will find its user, or it is gone.
        if self
            .peer(peer.id())
            .is_some_and(|open| Arc::ptr_eq(&open, peer))
        {
            users.insert(peer, user);
        }
    }

    /// The user behind a connection (its token's `sub`), if it has one.
    pub fn user_of(&self, id: ConnId) -> Option<Arc<str>> {
        self.users.read().of_conn.get(&id).cloned()
    }

    /// The connections of `user` open on this node.
    pub fn user_peers(&self, user: &str) -> Vec<Arc<Peer>> {
        self.users
            .read()
            .by_user
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// How many users have a connection open on this node.
    pub fn user_count(&self) -> usize {
        self.users.read().by_user.len()
    }

    /// The connection with this id, if open in this namespace.
    pub fn peer(&self, id: ConnId) -> Option<Arc<Peer>> {
        self.peers.read().get(&id).cloned()
    }

    /// Every open connection.
    pub fn peers(&self) -> Vec<Arc<Peer>> {
        self.peers.read().values().cloned().collect()
    }

    /// Bytes waiting in this namespace's connections' outbound queues: in all, and in the
    /// fullest one (for `/metrics`; a walk over the connections, made when scraped).
    pub fn queued_bytes(&self) -> (usize, usize) {
        let peers = self.peers.read();
        peers.values().fold((0, 0), |(total, max), peer| {
            let queued = peer.queued_bytes();
            (total + queued, max.max(queued))
        })
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.peers.read().len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.peers.read().is_empty()
    }

    /// Number of rooms with at least one member.
    pub fn room_count(&self) -> usize {
        self.rooms.read().len()
    }

    /// Names of the rooms with at least one member.
    pub fn room_names(&self) -> Vec<Arc<str>> {
        self.rooms.read().keys().cloned().collect()
    }

    /// Puts `peer` in `room` now. Returns the room's members (the joiner included). Joining
    /// a room one is in succeeds again without notifying anyone.
    pub fn join(&self, peer: &Arc<Peer>, room: &str) -> Result<Vec<PeerInfo>, HubError> {
        let joined = self.enter(peer, room)?;
        Ok(self.with_other_nodes(room, joined.members()))
    }

    /// [`Namespace::join`] for a joiner that has no use for the member list (a raw client):
    /// a snapshot of every member costs the join as much as the room is large.
    pub fn enter(&self, peer: &Arc<Peer>, room: &str) -> Result<Arc<Room>, HubError> {
        let name = self.reserve(peer, room)?;
        Ok(self.insert_member(peer, name))
    }

    /// [`Namespace::join`], telling `at` where in the room's stream the joiner started (`None`
    /// for a room without history): at once if the room's last delivered position is
    /// known, else once a store read or the room's next delivery tells it — the joiner is
    /// a member meanwhile, and the caller never waits for the store.
    pub fn join_at(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        room: &str,
        at: Box<dyn FnOnce(Result<Option<StreamPos>, HubError>) + Send>,
    ) -> Result<Vec<PeerInfo>, HubError> {
        match self.history_for(room).cloned() {
            Some(publisher) => {
                let rooms: Arc<dyn Rooms> = self.clone();
                publisher.join_live(&rooms, peer, room, Box::new(move |pos| at(pos.map(Some))))
            }
            None => {
                let members = self.join(peer, room)?;
                at(Ok(None));
                Ok(members)
            }
        }
    }

    /// Joins `peer` to `room` in order with the room's stream: first `replay` is queued to it
    /// (what it missed after a position, or the room's last messages), then it becomes a
    /// member, and `done` hears the position it joined at — everything before it was sent
    /// (or is history), everything after arrives live, nothing twice. The room is in
    /// `peer`'s rooms at once (a message it sends to the room right after is not refused);
    /// it receives the room's messages once `done` is called. A store read, if one is
    /// needed, is made on the publisher's reader thread: the caller never waits for the
    /// store. In a room without history it is a plain join.
    pub fn join_ordered(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        room: &str,
        replay: Replay,
        members: bool,
        done: JoinDone,
    ) {
        let name = match self.reserve(peer, room) {
            Ok(name) => name,
            Err(err) => return done(Err(err)),
        };
        match self.history_for(room).cloned() {
            Some(publisher) => {
                publisher.join_ordered(self.clone(), peer.clone(), name, replay, members, done)
            }
            None => done(match Rooms::admit(&**self, peer, room, members) {
                Some(members) => Ok(Joined {
                    members,
                    pos: None,
                    recovered: false,
                    replayed: 0,
                }),
                None => Err(HubError::NotInRoom(room.to_owned())),
            }),
        }
    }

    /// Restores a connection that was away in `rooms`: every message it missed in its
    /// rooms with history — those after the room's `since` whose sequence number is above
    /// `after_seq`, the last one the client says it received — is queued to `peer` in the
    /// order they were published (by sequence number, across rooms), leaving out what
    /// `peer` was left out of when it was published (its own `to(room)` emits), and `peer`
    /// rejoins every room, in order with the rooms' streams: no gap, no duplicate, and what
    /// follows arrives live.
    ///
    /// `ready` runs once everything missed is known to be available, before anything is
    /// queued (the protocol's "you are back" goes first). If a room cannot be recovered —
    /// another epoch, messages gone by retention — or more than `max_replay` messages were
    /// missed over all rooms, nothing is queued or joined and `done` hears `None`: the
    /// caller starts the client afresh. The store is read on the publisher's reader thread;
    /// `ready` and `done` run on one of its threads and must not block.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        rooms: Vec<RestoreRoom>,
        after_seq: u64,
        max_replay: usize,
        ready: Box<dyn FnOnce() + Send>,
        done: RestoreDone,
    ) {
        match self.publisher.clone() {
            Some(publisher) => publisher.restore(
                self.clone(),
                peer.clone(),
                rooms,
                after_seq,
                max_replay,
                ready,
                done,
            ),
            None => done(Ok(None)),
        }
    }

    /// Adds `room` to `peer`'s rooms (not yet to the room's members); the room's own copy
    /// of its name.
    fn reserve(&self, peer: &Arc<Peer>, room: &str) -> Result<Arc<str>, HubError> {
        let mut rooms = peer.rooms_mut();
        if let Some(existing) = rooms.get(room) {
            return Ok(existing.clone());
        }
        if rooms.len() >= self.max_rooms_per_conn {
            return Err(HubError::TooManyRooms(self.max_rooms_per_conn));
        }
        // The room's own name when it exists: one allocation per room, not one per member.
        let name: Arc<str> = match self.rooms.read().get(room) {
            Some(existing) => existing.name().clone(),
            None => Arc::from(room),
        };
        rooms.insert(name.clone());
        Ok(name)
    }

    /// Adds `peer` to the members of the room it reserved, announcing it.
    fn insert_member(&self, peer: &Arc<Peer>, room_name: Arc<str>) -> Arc<Room> {
        let (room, newly) = {
            // Read lock on the map while inserting, so `leave_room` cannot drop the room
            // from the map between our lookup and our insert (it takes the write lock).
            let rooms = self.rooms.read();
            match rooms.get(&room_name) {
                Some(room) => (room.clone(), self.insert_into(room, peer)),
                None => {
                    drop(rooms);
                    let mut rooms = self.rooms.write();
                    let room = rooms
                        .entry(room_name.clone())
                        .or_insert_with(|| Arc::new(Room::new(room_name.clone())))
                        .clone();
                    let newly = self.insert_into(&room, peer);
                    (room, newly)
                }
            }
        };
        if newly {
            let notice = PresenceNotice {
                room: room_name,
                action: PresenceAction::Join,
                member: peer.info(),
            };
            if let Some(cluster) = &self.cluster {
                cluster.announce_presence(&self.name, &notice);
            }
            if self.policy.presence {
                let notice = Broadcast::presence(notice);
                room.push_all(&Outbound::Shared(notice), Some(peer.id()), false);
            }
        }
        room
    }

    /// Queues `item` for the members of one room but `except`.
    fn deliver_room(
        &self,
        room: &str,
        except: Option<ConnId>,
        item: &Outbound,
        volatile: bool,
    ) -> usize {
        let found = self.rooms.read().get(room).cloned();
        match found {
            Some(found) => found.push_all(item, except, volatile),
            // Socket.IO's way: every socket is alone in a room named by its id.
            None => match self.own_room(room) {
                Some(peer) if Some(peer.id()) != except => {
                    // Not `deliver`, which counts: the callers count what this returns.
                    usize::from(peer.push_with(item.clone(), volatile))
                }
                _ => 0,
            },
        }
    }

    /// The connection a room named by a connection's id stands for (a socket is alone in
    /// the room of its id, as in socket.io), when no room of that name exists here.
    fn own_room(&self, room: &str) -> Option<Arc<Peer>> {
        if room.len() != 16 {
            return None;
        }
        self.peer(room.parse().ok()?)
    }

    /// [`Namespace::deliver_room`] for a message `sender` sends, which must be a member:
    /// `None` (and nothing queued) if it is not. Checked under the lock the walk takes.
    pub(crate) fn deliver_room_from(
        &self,
        room: &str,
        sender: ConnId,
        except: Option<ConnId>,
        item: &Outbound,
        volatile: bool,
    ) -> Option<usize> {
        let room = self.rooms.read().get(room).cloned()?;
        let delivered = room.push_all_from(sender, item, except, volatile)?;
        Some(self.count_delivered(delivered))
    }

    /// Takes `peer` out of `room`; the remaining members are told.
    pub fn leave(&self, peer: &Arc<Peer>, room: &str) -> Result<(), HubError> {
        if !peer.rooms_mut().remove(room) {
            return Err(HubError::NotInRoom(room.to_owned()));
        }
        self.leave_room(peer, room);
        Ok(())
    }

    fn leave_room(&self, peer: &Arc<Peer>, room_name: &str) {
        let room = match self.rooms.read().get(room_name) {
            Some(room) => room.clone(),
            None => return,
        };
        let removed = match self.watching(peer) {
            None => room.remove(peer.id()),
            Some((watch, user)) => room.remove_told(peer.id(), |left| {
                watch.changed(self.change(&room, peer, user, false, left == 0));
            }),
        };
        if !removed {
            return;
        }
        if let Some(cluster) = &self.cluster {
            let notice = PresenceNotice {
                room: room.name().clone(),
                action: PresenceAction::Leave,
                member: peer.info(),
            };
            cluster.announce_presence(&self.name, &notice);
        }
        if room.is_empty() {
            let mut rooms = self.rooms.write();
            // Re-check under the write lock: someone may have joined meanwhile.
            if rooms.get(room_name).is_some_and(|r| r.is_empty()) {
                rooms.remove(room_name);
            }
            return;
        }
        if self.policy.presence {
            let notice = Broadcast::presence(PresenceNotice {
                room: room.name().clone(),
                action: PresenceAction::Leave,
                member: peer.info(),
            });
            room.push_all(&Outbound::Shared(notice), None, false);
        }
    }

    /// Adds `peer` to `room`'s members, telling the watch, if any.
    fn insert_into(&self, room: &Room, peer: &Arc<Peer>) -> bool {
        match self.watching(peer) {
            None => room.insert(peer.clone()),
            Some((watch, user)) => room.insert_told(peer.clone(), |members| {
                watch.changed(self.change(room, peer, user, true, members == 1));
            }),
        }
    }

    /// The watch, if any, and `peer`'s user (read before the room's lock is taken).
    #[allow(clippy::type_complexity)]
    fn watching(
        &self,
        peer: &Arc<Peer>,
    ) -> Option<(Arc<dyn crate::presence::MembershipWatch>, Option<Arc<str>>)> {
        let watch = self.watch.read().clone()?;
        Some((watch, self.user_of(peer.id())))
    }

    fn change(
        &self,
        room: &Room,
        peer: &Arc<Peer>,
        user: Option<Arc<str>>,
        joined: bool,
        alone: bool,
    ) -> crate::presence::MembershipChange {
        crate::presence::MembershipChange {
            namespace: self.name.clone(),
            room: room.name().clone(),
            conn: peer.id(),
            user,
            joined,
            alone,
        }
    }

    /// Sets who is told of every join and leave of this namespace's rooms on this node
    /// (see [`crate::presence::MembershipWatch`]).
    pub fn watch_membership(&self, watch: Arc<dyn crate::presence::MembershipWatch>) {
        *self.watch.write() = Some(watch);
    }

    /// Tells every room `peer` is in that its nickname or data changed.
    pub fn announce_update(&self, peer: &Arc<Peer>) {
        if !self.policy.presence && self.cluster.is_none() {
            return;
        }
        for room_name in peer.rooms() {
            let room = self.rooms.read().get(&room_name).cloned();
            if let Some(room) = room {
                let notice = PresenceNotice {
                    room: room_name,
                    action: PresenceAction::Update,
                    member: peer.info(),
                };
                if let Some(cluster) = &self.cluster {
                    cluster.announce_presence(&self.name, &notice);
                }
                if self.policy.presence {
                    let notice = Broadcast::presence(notice);
                    room.push_all(&Outbound::Shared(notice), Some(peer.id()), false);
                }
            }
        }
    }

    /// The cluster this node is one of, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// This node's members of `room`.
    pub(crate) fn members_here(&self, room: &str) -> Vec<Arc<Peer>> {
        let Some(room) = self.rooms.read().get(room).cloned() else {
            return self.own_room(room).into_iter().collect();
        };
        let mut out = Vec::with_capacity(room.len());
        room.for_each(|_, peer| out.push(peer.clone()));
        out
    }

    /// How many connections are in `room`, without copying their details.
    pub fn room_len(&self, room: &str) -> usize {
        self.rooms.read().get(room).map_or(0, |r| r.len())
    }

    /// The members of `room` (empty if nobody is in it): on a cluster, every node's.
    pub fn members(&self, room: &str) -> Vec<PeerInfo> {
        let local = self
            .rooms
            .read()
            .get(room)
            .map(|r| r.members())
            .unwrap_or_default();
        self.with_other_nodes(room, local)
    }

    /// `local`, the members this node holds in `room`, with those of the other nodes of
    /// its cluster (a connection listed once, as this node knows it, if a session moved).
    fn with_other_nodes(&self, room: &str, mut local: Vec<PeerInfo>) -> Vec<PeerInfo> {
        let Some(cluster) = &self.cluster else {
            return local;
        };
        let remote = cluster.remote_members(&self.name, room);
        if remote.is_empty() {
            return local;
        }
        let here: std::collections::HashSet<ConnId> = local.iter().map(|m| m.id).collect();
        local.extend(remote.into_iter().filter(|m| !here.contains(&m.id)));
        local
    }

    /// The connections in any of `rooms` here.
    fn members_of(&self, rooms: &[Arc<str>]) -> HashSet<ConnId> {
        let mut ids = HashSet::new();
        let map = self.rooms.read();
        for name in rooms {
            if let Some(room) = map.get(name) {
                ids.extend(room.member_ids());
            }
        }
        ids
    }

    /// Queues `item` for every connection `to` names — the members of its rooms (each
    /// once), everyone, or one connection — leaving out members of any of `except_rooms`
    /// and the connection `except`. Returns how many took it. A volatile item is dropped
    /// for a recipient whose queue is full instead of disconnecting it.
    ///
    /// The last step of every publish (`crate::route`), never a way in of its own.
    pub(crate) fn deliver(
        &self,
        to: &Audience<'_>,
        except_rooms: &[Arc<str>],
        except: Option<ConnId>,
        item: Outbound,
        volatile: bool,
    ) -> usize {
        let delivered = self.deliver_to(to, except_rooms, except, item, volatile);
        self.count_delivered(delivered)
    }

    /// Counts `delivered` copies (for `/metrics`), and gives the number back.
    fn count_delivered(&self, delivered: usize) -> usize {
        if delivered > 0 {
            self.delivered
                .fetch_add(delivered as u64, std::sync::atomic::Ordering::Relaxed);
        }
        delivered
    }

    /// Copies queued for recipients here since the server started (each recipient of each
    /// message, this node's and other nodes' messages alike).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn deliver_to(
        &self,
        to: &Audience<'_>,
        except_rooms: &[Arc<str>],
        except: Option<ConnId>,
        item: Outbound,
        volatile: bool,
    ) -> usize {
        let rooms = match *to {
            Audience::Conn(id) => {
                if Some(id) == except {
                    return 0;
                }
                return self
                    .peer(id)
                    .map_or(0, |peer| usize::from(peer.push_with(item, volatile)));
            }
            Audience::User(user) => {
                let skip = self.members_of(except_rooms);
                let mut delivered = 0;
                for peer in self.user_peers(user) {
                    let id = peer.id();
                    if Some(id) != except && !skip.contains(&id) {
                        delivered += usize::from(peer.push_with(item.clone(), volatile));
                    }
                }
                return delivered;
            }
            Audience::Room(room) if except_rooms.is_empty() => {
                return self.deliver_room(room, except, &item, volatile)
            }
            Audience::Room(room) => std::slice::from_ref(room),
            Audience::Everyone => &[][..],
            Audience::Rooms(rooms) => rooms,
        };
        if except_rooms.is_empty() {
            match (to, rooms) {
                (Audience::Everyone, _) => {
                    let peers = self.peers.read();
                    let mut delivered = 0;
                    for (id, peer) in peers.iter() {
                        if Some(*id) == except {
                            continue;
                        }
                        delivered += usize::from(peer.push_with(item.clone(), volatile));
                    }
                    return delivered;
                }
                (_, [room]) => return self.deliver_room(room, except, &item, volatile),
                (_, []) => return 0,
                _ => {}
            }
        }
        let mut skip = self.members_of(except_rooms);
        skip.extend(except);
        let mut delivered = 0;
        let mut offer = |id: ConnId, peer: &Arc<Peer>, skip: &mut HashSet<ConnId>| {
            if skip.insert(id) {
                delivered += usize::from(peer.push_with(item.clone(), volatile));
            }
        };
        if matches!(to, Audience::Everyone) {
            for (id, peer) in self.peers.read().iter() {
                offer(*id, peer, &mut skip);
            }
        } else {
            let targets: Vec<Arc<Room>> = {
                let map = self.rooms.read();
                rooms.iter().filter_map(|r| map.get(r).cloned()).collect()
            };
            for room in targets {
                room.for_each(|id, peer| offer(id, peer, &mut skip));
            }
        }
        delivered
    }
}

/// The cluster's view of a namespace: where another node's messages are delivered.
impl Local for Namespace {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn deliver(
        &self,
        to: &Audience<'_>,
        except_rooms: &[Arc<str>],
        except: Option<ConnId>,
        item: Outbound,
        volatile: bool,
    ) -> usize {
        Namespace::deliver(self, to, except_rooms, except, item, volatile)
    }

    fn presence(self: Arc<Self>, notice: PresenceNotice) {
        if !self.policy.presence {
            return;
        }
        let Some(room) = self.rooms.read().get(&notice.room).cloned() else {
            return;
        };
        if notice.action == PresenceAction::Leave && room.contains(notice.member.id) {
            // A session that moved here: it did not leave.
            return;
        }
        let item = Outbound::Shared(Broadcast::presence(notice));
        room.push_all(&item, None, false);
    }

    fn run_then(&self, op: &crate::ops::Op, done: Box<dyn FnOnce(crate::ops::Reply) + Send>) {
        Namespace::run_then(self, op, done)
    }

    fn listens(&self, room: &str) -> bool {
        self.room_len(room) > 0
            || self
                .publisher()
                .is_some_and(|p| p.follows(&crate::publisher::stream_name(&self.name, room)))
    }

    fn snapshot(&self) -> Vec<crate::cluster::Membership> {
        let rooms: Vec<Arc<Room>> = self.rooms.read().values().cloned().collect();
        let mut out = Vec::new();
        for room in rooms {
            for member in room.members() {
                out.push(crate::cluster::Membership {
                    ns: self.name.clone(),
                    room: room.name().clone(),
                    member,
                });
            }
        }
        out
    }

    fn stored(self: Arc<Self>, room: &Arc<str>, notice: crate::cluster::Notice) {
        if let Some(publisher) = self.publisher().cloned() {
            let rooms: Arc<dyn Rooms> = self;
            publisher.arrived(&rooms, room, notice);
        }
    }

    fn marked(self: Arc<Self>, room: &Arc<str>, marker: crate::cluster::Marker) {
        if let Some(publisher) = self.publisher().cloned() {
            let rooms: Arc<dyn Rooms> = self;
            publisher.marked(&rooms, room, marker);
        }
    }
}

/// The publisher's view of a namespace: where stored messages are delivered and ordered
/// joins become members.
impl Rooms for Namespace {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn deliver(&self, room: &str, except: Option<ConnId>, item: Outbound) -> usize {
        let delivered = self.deliver_room(room, except, &item, false);
        self.count_delivered(delivered)
    }

    fn join(&self, peer: &Arc<Peer>, room: &str, members: bool) -> Result<Vec<PeerInfo>, HubError> {
        let joined = self.enter(peer, room)?;
        Ok(if members {
            self.with_other_nodes(room, joined.members())
        } else {
            Vec::new()
        })
    }

    fn admit(&self, peer: &Arc<Peer>, room: &str, members: bool) -> Option<Vec<PeerInfo>> {
        let name = peer.room(room)?;
        let joined = self.insert_member(peer, name);
        // It may have left the room (or the namespace) meanwhile: it must not stay a
        // member of a room its own list no longer names.
        if !peer.in_room(room) {
            self.leave_room(peer, room);
            return None;
        }
        Some(if members {
            self.with_other_nodes(room, joined.members())
        } else {
            Vec::new()
        })
    }

    fn has_members(&self, room: &str) -> bool {
        self.room_len(room) > 0
    }

    fn cancel(&self, peer: &Arc<Peer>, room: &str) {
        peer.rooms_mut().remove(room);
    }
}

/// What the event layer (the library's sockets, which know each connection's protocol)
/// does for a namespace's connections when an op — this node's or another's — asks.
pub trait EventLayer: Send + Sync + std::fmt::Debug {
    /// Sends a broadcast with acks and gathers the answers: `done` once with
    /// [`crate::ops::Reply::Acks`], at the latest when the wait is over.
    fn broadcast_with_ack(
        &self,
        broadcast: crate::ops::AckBroadcast,
        done: Box<dyn FnOnce(crate::ops::Reply) + Send>,
    );

    /// Disconnects a connection the way its protocol does (a Socket.IO client is told,
    /// and does not come back by itself); false if it does not know it (it is closed).
    fn disconnect(&self, peer: &Arc<Peer>) -> bool;

    /// An op made a connection join (`true`) or leave `room`.
    fn room_changed(&self, peer: &Arc<Peer>, room: &str, joined: bool);
}

/// The ops of [`crate::ops`]: one node's part.
impl Namespace {
    /// Runs `op` on this node's connections; `done` gets the reply — at once, or for a
    /// broadcast with acks once the answers are in or the wait is over.
    pub fn run_then(&self, op: &crate::ops::Op, done: Box<dyn FnOnce(crate::ops::Reply) + Send>) {
        // A node's figures walk its rooms and connections: off the caller's path (for
        // another node's request, the task that reads the broker and delivers).
        if let crate::ops::Op::Stats = op {
            let reporter = self.reporter.read().clone();
            let report = move || done(crate::ops::Reply::Ack(reporter.map(|r| (r.0)())));
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(report)),
                Err(_) => report(),
            }
            return;
        }
        let crate::ops::Op::EmitWithAck {
            selector,
            except,
            event,
            data,
            wait_ms,
        } = op
        else {
            return done(self.run(op));
        };
        let mut peers = self.select(selector);
        if let Some(except) = except {
            peers.retain(|peer| *peer.id().to_string() != **except);
        }
        let layer = self.event_layer.read().clone();
        match layer {
            Some(layer) => layer.broadcast_with_ack(
                crate::ops::AckBroadcast {
                    peers,
                    event: event.clone(),
                    data: data.clone(),
                    wait: std::time::Duration::from_millis(*wait_ms),
                },
                done,
            ),
            // Nothing here can ask a connection for an acknowledgement.
            None => done(crate::ops::Reply::Acks {
                expected: 0,
                answers: Vec::new(),
            }),
        }
    }

    /// Sets the event layer of this namespace (see [`EventLayer`]).
    pub fn set_event_layer(&self, layer: Arc<dyn EventLayer>) {
        *self.event_layer.write() = Some(layer);
    }

    /// Runs `op` on this node's connections, when it answers at once (not a broadcast
    /// with acks: see [`Namespace::run_then`]).
    pub(crate) fn run(&self, op: &crate::ops::Op) -> crate::ops::Reply {
        match op {
            crate::ops::Op::Fetch(selector) => crate::ops::Reply::Sockets(
                self.select(selector)
                    .iter()
                    .map(|peer| crate::ops::SocketInfo {
                        id: Arc::from(peer.id().to_string()),
                        name: peer.name(),
                        data: peer.data(),
                        rooms: peer.rooms(),
                        user: self.user_of(peer.id()),
                    })
                    .collect(),
            ),
            crate::ops::Op::Join(selector, rooms) => {
                let mut changed = 0;
                let layer = self.event_layer.read().clone();
                for peer in self.select(selector) {
                    for room in rooms {
                        if !peer.in_room(room) && self.enter(&peer, room).is_ok() {
                            changed += 1;
                            if let Some(layer) = &layer {
                                layer.room_changed(&peer, room, true);
                            }
                        }
                    }
                }
                crate::ops::Reply::Done(changed)
            }
            crate::ops::Op::Leave(selector, rooms) => {
                let mut changed = 0;
                let layer = self.event_layer.read().clone();
                for peer in self.select(selector) {
                    for room in rooms {
                        if self.leave(&peer, room).is_ok() {
                            changed += 1;
                            if let Some(layer) = &layer {
                                layer.room_changed(&peer, room, false);
                            }
                        }
                    }
                }
                crate::ops::Reply::Done(changed)
            }
            crate::ops::Op::Disconnect(selector) => {
                let peers = self.select(selector);
                let layer = self.event_layer.read().clone();
                for peer in &peers {
                    if layer.as_ref().is_some_and(|layer| layer.disconnect(peer)) {
                        continue;
                    }
                    peer.push(Outbound::Close(crate::CloseReason {
                        code: 1000,
                        reason: Arc::from("disconnected by the server"),
                    }));
                }
                crate::ops::Reply::Done(peers.len() as u64)
            }
            crate::ops::Op::Emit { event, data, .. } => {
                let handler = self.server_handler.read().clone();
                let data = std::str::from_utf8(data).ok().and_then(|text| {
                    serde_json::value::RawValue::from_string(text.to_owned()).ok()
                });
                let answer = match (handler, data) {
                    (Some(handler), Some(data)) => (handler.0)(event, &data),
                    _ => None,
                };
                crate::ops::Reply::Ack(answer.map(|a| bytes::Bytes::from(a.get().to_owned())))
            }
            crate::ops::Op::EmitWithAck { .. } => crate::ops::Reply::Acks {
                expected: 0,
                answers: Vec::new(),
            },
            crate::ops::Op::Revoke(revocation) => {
                let revoker = self.revoker.read().clone();
                crate::ops::Reply::Done(revoker.map_or(0, |r| (r.0)(revocation)))
            }
            crate::ops::Op::Stats => {
                let reporter = self.reporter.read().clone();
                crate::ops::Reply::Ack(reporter.map(|r| (r.0)()))
            }
        }
    }

    /// Sets what a revocation of tokens does on this node (the server sets it on the
    /// namespace its API sends revocations in).
    pub fn on_revoke(&self, revoker: crate::ops::Revoker) {
        *self.revoker.write() = Some(revoker);
    }

    /// Sets what this node answers to [`crate::ops::Op::Stats`].
    pub fn on_stats(&self, reporter: crate::ops::Reporter) {
        *self.reporter.write() = Some(reporter);
    }

    /// Sets what this namespace does with other servers' server-side events.
    pub fn on_server_event(&self, handler: crate::ops::ServerHandler) {
        *self.server_handler.write() = Some(handler);
    }

    /// This node's connections a selector picks, each once, closing ones left out.
    fn select(&self, selector: &crate::ops::Selector) -> Vec<Arc<Peer>> {
        let mut peers: Vec<Arc<Peer>> = if selector.rooms.is_empty()
            && selector.users.is_empty()
            && selector.conns.is_empty()
        {
            self.peers()
        } else {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            let members = selector
                .rooms
                .iter()
                .flat_map(|room| self.members_here(room));
            let users = selector.users.iter().flat_map(|user| self.user_peers(user));
            let conns = selector.conns.iter().filter_map(|id| self.peer(*id));
            for peer in members.chain(users).chain(conns) {
                if seen.insert(peer.id()) {
                    out.push(peer);
                }
            }
            out
        };
        peers.retain(|peer| {
            let id = peer.id().to_string();
            !peer.is_closing()
                && !selector
                    .except_rooms
                    .iter()
                    .any(|room| peer.in_room(room) || **room == *id)
        });
        peers
    }
}

//! [`Emitter`]: a broadcast being built — `io.to("a").to("b").except_room("c").emit(...)`.

use std::sync::Arc;

use bytes::Bytes;
use chorus_core::{
    Broadcast, ConnId, Event, EventData, Namespace, Outbound, Publisher, SenderInfo,
};
use serde::Serialize;

use super::{Data, EmitError};

/// A broadcast being built: who it goes to (rooms, or everyone), who is left out, and how.
/// The event is encoded at most once per wire format, whoever receives it. An event for one
/// room that keeps history is stored and numbered first (see [`chorus_core::Publisher`]).
#[derive(Debug, Clone)]
pub struct Emitter {
    ns: Arc<Namespace>,
    publisher: Option<Arc<Publisher>>,
    rooms: Vec<Arc<str>>,
    except_rooms: Vec<Arc<str>>,
    except: Option<ConnId>,
    from: Option<SenderInfo>,
    volatile: bool,
}

impl Emitter {
    pub(crate) fn new(
        ns: Arc<Namespace>,
        publisher: Option<Arc<Publisher>>,
        from: Option<SenderInfo>,
    ) -> Self {
        Self {
            ns,
            publisher,
            rooms: Vec::new(),
            except_rooms: Vec::new(),
            except: None,
            from,
            volatile: false,
        }
    }

    /// Adds a room: the event goes to the members of every room added (each member once).
    /// Without any room it goes to everyone in the namespace.
    pub fn to(mut self, room: &str) -> Self {
        if !self.rooms.iter().any(|r| &**r == room) {
            self.rooms.push(Arc::from(room));
        }
        self
    }

    /// Leaves out the members of `room` (socket.io's `except`).
    pub fn except_room(mut self, room: &str) -> Self {
        self.except_rooms.push(Arc::from(room));
        self
    }

    /// Leaves one socket out.
    pub fn except(mut self, id: ConnId) -> Self {
        self.except = Some(id);
        self
    }

    /// Drops the event for recipients whose queue is full instead of disconnecting them.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Sends a JSON event; returns how many sockets it was queued for. A message to one
    /// room with history is stored first: the count is then the room's members now. A
    /// message from a socket whose earlier messages to such rooms are still being stored
    /// goes out after them (order per sender is kept), and the count is then 0.
    pub fn emit(self, event: &str, data: &impl Serialize) -> Result<usize, EmitError> {
        let data = EventData::json(data)?;
        Ok(self.emit_data(event, data))
    }

    /// Sends a binary event.
    pub fn emit_binary(self, event: &str, data: impl Into<Bytes>) -> usize {
        self.emit_data(event, EventData::Binary(data.into()))
    }

    /// Sends event data as it is (for instance what a handler received: several
    /// arguments, binary inside them).
    pub fn emit_args(self, event: &str, data: Data) -> usize {
        self.emit_data(event, data.into_inner())
    }

    /// Sends event data, then calls `done` once the event is *safe*: for a room that keeps
    /// history, after it is stored (with its place in the room's stream), so an
    /// acknowledgement built on it means "recoverable"; otherwise at once. `done` gets how
    /// many connections the event was queued for, or why the store refused it.
    pub fn emit_args_then(
        self,
        event: &str,
        data: Data,
        done: impl FnOnce(Result<Sent, chorus_core::StoreError>) + Send + 'static,
    ) {
        if let Some((publisher, room)) = self.stored_room() {
            let event = self.event(event, data.into_inner());
            publisher.publish(
                self.ns.clone(),
                room,
                event,
                self.except,
                Some(Box::new(move |published| {
                    done(published.map(|p| Sent {
                        delivered: p.delivered,
                        pos: Some(p.pos),
                    }))
                })),
            );
            return;
        }
        let delivered = self.emit_data_now(event, data.into_inner());
        done(Ok(Sent {
            delivered,
            pos: None,
        }));
    }

    /// The publisher and the room, if this emit goes to one room that keeps history (and
    /// is not volatile): such an emit is stored and numbered before it goes out.
    fn stored_room(&self) -> Option<(Arc<Publisher>, Arc<str>)> {
        match (
            self.rooms.as_slice(),
            self.except_rooms.as_slice(),
            self.volatile,
        ) {
            ([room], [], false) => self
                .publisher
                .as_ref()
                .filter(|p| p.retention(room).is_some())
                .map(|p| (p.clone(), room.clone())),
            _ => None,
        }
    }

    fn event(&self, event: &str, data: EventData) -> Event {
        // A room broadcast names its room (native clients see it); a multi-room or
        // everyone broadcast does not.
        let room = match self.rooms.as_slice() {
            [room] => Some(room.clone()),
            _ => None,
        };
        Event {
            namespace: self.ns.name().clone(),
            name: Arc::from(event),
            data,
            room,
            from: self.from.clone(),
            pos: None,
            seq: 0,
            offset: None,
        }
    }

    pub(crate) fn emit_data(self, event: &str, data: EventData) -> usize {
        // One room that keeps history, not volatile: through the publisher, to be stored
        // and numbered before it goes out. The count is then the room's members now.
        if let Some((publisher, room)) = self.stored_room() {
            // The room's size now: counted, not copied (this runs per message).
            let in_room = |id: ConnId| self.ns.peer(id).is_some_and(|p| p.in_room(&room));
            let expected = self
                .ns
                .room_len(&room)
                .saturating_sub(usize::from(self.except.is_some_and(in_room)));
            let event = self.event(event, data);
            publisher.publish(self.ns.clone(), room, event, self.except, None);
            return expected;
        }
        self.emit_data_now(event, data)
    }

    /// Delivers at once (no store on the way), in order with the sender's publishes still
    /// being stored.
    fn emit_data_now(self, event: &str, data: EventData) -> usize {
        let item = Outbound::Shared(Broadcast::event(self.event(event, data)));
        let Emitter {
            ns,
            publisher,
            rooms,
            except_rooms,
            except,
            from,
            volatile,
        } = self;
        let deliver = move || ns.broadcast_select(&rooms, &except_rooms, except, item, volatile);
        // After the sender's publishes still being stored, never before them.
        match (&publisher, &from) {
            (Some(publisher), Some(from)) => publisher.in_order(from.id, deliver).unwrap_or(0),
            _ => deliver(),
        }
    }
}

/// What [`Emitter::emit_args_then`] reports once an event is safe.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Connections it was queued for.
    pub delivered: usize,
    /// Its place in the room's stream, for a room that keeps history.
    pub pos: Option<chorus_core::StreamPos>,
}

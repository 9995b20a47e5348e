//! The route's last step on a node of a cluster: the message goes to the broker, and is
//! delivered here when it comes back (see [`crate::cluster`]).

use std::sync::Arc;

use super::message::Outgoing;
use crate::cluster::{Delivery, Local, Parts, PayloadRef};
use crate::{
    Audience, Body, Broadcast, Cluster, Done, HubError, Namespace, Outbound, Peer, Receipt, Routed,
    Target,
};

impl Namespace {
    /// Sends `msg` through `cluster`'s broker; this node's part of it, and `done`, once it
    /// comes back. A message to one of this node's connections does not leave the node.
    /// A message from a sender whose stored messages are still being appended (`held`)
    /// leaves after them, so the broker carries the sender's messages in its order.
    pub(super) fn through_cluster<F>(
        self: &Arc<Self>,
        cluster: &Arc<Cluster>,
        msg: Outgoing<'_>,
        held: Option<&Arc<Peer>>,
        done: Option<F>,
    ) -> Result<Routed, (HubError, Option<F>)>
    where
        F: FnOnce(Result<Receipt, HubError>) + Send + 'static,
    {
        if let Err(err) = cluster.check_backlog() {
            return Err((err, done));
        }
        let Outgoing {
            body,
            to,
            except_rooms,
            except,
            from,
            volatile,
        } = msg;
        let room = to.single_room();
        let item = match body {
            Body::Frame(msg) => Outbound::Message(msg),
            body => {
                let event = self.event(body, room.cloned(), from.map(|p| &**p));
                Outbound::Shared(Broadcast::event(event))
            }
        };
        let payload = match &item {
            Outbound::Message(msg) => Some(PayloadRef::Frame(msg)),
            Outbound::Shared(broadcast) => broadcast.as_event().map(|event| PayloadRef::Event {
                name: &event.name,
                data: &event.data,
                from: event.from.as_ref(),
            }),
            _ => None,
        };
        let parts = payload.map(|payload| Parts {
            origin: cluster.node(),
            namespace: self.name(),
            to,
            except_rooms,
            except,
            volatile,
            payload,
        });
        // Encoded now, while the message is borrowed; delivered here when it comes back.
        let envelope = match &parts {
            // One of this node's connections: it does not leave the node.
            Some(_) if matches!(to, Audience::Conn(id) if self.peer(id).is_some()) => None,
            Some(parts) => Some(parts.encode()),
            None => None,
        };
        let delivery = Delivery {
            ns: self.clone() as Arc<dyn Local>,
            to: Target::from(to),
            except_rooms: except_rooms.to_vec(),
            except,
            item,
            volatile,
            done: done.map(|done| Box::new(done) as Done),
        };
        let expected = match &envelope {
            Some(_) => room.map_or(0, |room| self.room_len(room)),
            None => 0,
        };
        let send = {
            let cluster = cluster.clone();
            move || match envelope {
                Some(envelope) => cluster.publish(envelope, delivery),
                None => cluster.local(Box::new(move || delivery.run())),
            }
        };
        match (self.publisher(), held) {
            (Some(publisher), Some(from)) => publisher.in_order(from.clone(), move || {
                send();
                0
            }),
            _ => send(),
        }
        Ok(Routed::Later { expected })
    }
}

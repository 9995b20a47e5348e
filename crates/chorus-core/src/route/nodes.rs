//! The route's last step on a node of a cluster: the message goes to the broker, and is
//! delivered here when it comes back (see [`crate::cluster`]).

use std::sync::Arc;

use super::message::Outgoing;
use crate::cluster::{Delivery, Envelope, Local, Payload};
use crate::{
    Audience, Body, Broadcast, Cluster, Done, HubError, Namespace, Outbound, Receipt, Routed,
    Target,
};

impl Namespace {
    /// Sends `msg` through `cluster`'s broker; this node's part of it, and `done`, once it
    /// comes back. A message to one of this node's connections does not leave the node.
    pub(super) fn through_cluster<F>(
        self: &Arc<Self>,
        cluster: &Cluster,
        msg: Outgoing<'_>,
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
        let (payload, item) = match body {
            Body::Frame(msg) => (Payload::Frame(msg.clone()), Outbound::Message(msg)),
            body => {
                let event = self.event(body, room.cloned(), from.map(|p| &**p));
                let payload = Payload::Event {
                    name: event.name.clone(),
                    data: event.data.clone(),
                    from: event.from.clone(),
                };
                (payload, Outbound::Shared(Broadcast::event(event)))
            }
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
        if let Audience::Conn(id) = to {
            if self.peer(id).is_some() {
                cluster.local(Box::new(move || delivery.run()));
                return Ok(Routed::Later { expected: 0 });
            }
        }
        let envelope = Envelope {
            origin: cluster.node(),
            seq: 0,
            namespace: self.name().clone(),
            to: delivery.to.clone(),
            except_rooms: delivery.except_rooms.clone(),
            except,
            volatile,
            payload,
        };
        let expected = room.map_or(0, |room| self.room_len(room));
        cluster.publish(envelope, delivery);
        Ok(Routed::Later { expected })
    }
}

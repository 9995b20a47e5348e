//! [`Order`]: this node's own messages, in the order they were published, waiting for the
//! broker to hand them back — and the deliveries to this node's connections alone that
//! must not overtake them.
//!
//! An entry is *ready* when its envelope came back (or can no longer: the publish failed,
//! the link went down); a local delivery is ready at once. The queue runs from the front,
//! ready entries only, so this node delivers what it published in the order it published
//! it, and where the broker put it among the other nodes' messages.

use std::collections::VecDeque;
use std::sync::Arc;

use super::local::Local;
use crate::{ConnId, Done, Outbound, Receipt, Target};

/// This node's part of a published message: its delivery here.
pub(crate) struct Delivery {
    pub(crate) ns: Arc<dyn Local>,
    pub(crate) to: Target,
    pub(crate) except_rooms: Vec<Arc<str>>,
    pub(crate) except: Option<ConnId>,
    pub(crate) item: Outbound,
    pub(crate) volatile: bool,
    /// Told how many connections of this node it reached.
    pub(crate) done: Option<Done>,
}

impl Delivery {
    /// Delivers it to this node's connections, and tells whoever waits.
    pub(crate) fn run(self) {
        let delivered = self.ns.deliver(
            &self.to.audience(),
            &self.except_rooms,
            self.except,
            self.item,
            self.volatile,
        );
        if let Some(done) = self.done {
            done(Ok(Receipt {
                delivered,
                pos: None,
            }));
        }
    }
}

enum Entry {
    /// A published message, `seq`, until it comes back.
    Sent {
        seq: u64,
        ready: bool,
        delivery: Delivery,
    },
    /// A delivery to this node's connections alone.
    Local(Box<dyn FnOnce() + Send>),
    /// A stored message this node is appending (`offset` once the store said it), until
    /// its notice comes back from the store: it is then delivered in its place.
    Expect {
        stream: Arc<str>,
        offset: Option<u64>,
    },
}

/// The queue.
#[derive(Default)]
pub(crate) struct Order {
    last_seq: u64,
    entries: VecDeque<Entry>,
    /// Someone is running the ready entries (with the lock released).
    pub(crate) draining: bool,
    /// Notices that came while an append of their stream had no offset yet: one of them
    /// may be that append's, back before the store told its offset.
    seen: Vec<(Arc<str>, u64)>,
}

impl Order {
    /// The number of the next published message.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    /// Entries waiting.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing waits and nobody runs: a local delivery may go now.
    pub(crate) fn is_idle(&self) -> bool {
        self.entries.is_empty() && !self.draining
    }

    pub(crate) fn push_sent(&mut self, seq: u64, delivery: Delivery) {
        self.entries.push_back(Entry::Sent {
            seq,
            ready: false,
            delivery,
        });
    }

    pub(crate) fn push_local(&mut self, deliver: Box<dyn FnOnce() + Send>) {
        self.entries.push_back(Entry::Local(deliver));
    }

    /// A delivery of something the broker brought now (a stored message's notice): after
    /// this node's messages that came back before it, before those still on their way —
    /// where the broker put it among them.
    pub(crate) fn push_arrived(&mut self, deliver: Box<dyn FnOnce() + Send>) {
        let at = self
            .entries
            .iter()
            .position(|e| !e.is_ready())
            .unwrap_or(self.entries.len());
        self.entries.insert(at, Entry::Local(deliver));
    }

    /// A stored message of `stream` this node is about to append: what is queued after it
    /// waits for its notice. Its offset comes with [`Order::appended`].
    pub(crate) fn push_expect(&mut self, stream: Arc<str>) {
        self.entries.push_back(Entry::Expect {
            stream,
            offset: None,
        });
    }

    /// The store appended the oldest message of `stream` this node expects at `offset`, or
    /// failed to (`None`: nothing will come, nothing waits for it).
    pub(crate) fn appended(&mut self, stream: &str, offset: Option<u64>) {
        let Some(entry) = self
            .entries
            .iter_mut()
            .find(|e| matches!(e, Entry::Expect { stream: s, offset: None } if &**s == stream))
        else {
            return;
        };
        let back = offset.and_then(|o| {
            let at = self
                .seen
                .iter()
                .position(|(s, n)| &**s == stream && *n == o)?;
            Some(self.seen.swap_remove(at))
        });
        *entry = match (offset, back) {
            // Its notice already came, and was delivered where it came.
            (Some(_), Some(_)) | (None, _) => Entry::Local(Box::new(|| {})),
            (Some(offset), None) => Entry::Expect {
                stream: Arc::from(stream),
                offset: Some(offset),
            },
        };
        let waiting = self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Expect { stream: s, offset: None } if &**s == stream));
        if !waiting {
            self.seen.retain(|(s, _)| &**s != stream);
        }
    }

    /// The notice of `offset` of `stream` came back: if this node waits for it, `deliver`
    /// takes its place (and what this node appended before it in that stream, whose notices
    /// were missed, waits no more). Gives `deliver` back otherwise, to be delivered where
    /// it came ([`Order::push_arrived`]).
    pub(crate) fn fulfil(
        &mut self,
        stream: &str,
        offset: u64,
        deliver: Box<dyn FnOnce() + Send>,
    ) -> Result<(), Box<dyn FnOnce() + Send>> {
        let mut deliver = Some(deliver);
        let mut pending = false;
        for entry in &mut self.entries {
            let Entry::Expect {
                stream: s,
                offset: o,
            } = entry
            else {
                continue;
            };
            if &**s != stream {
                continue;
            }
            match *o {
                None => pending = true,
                Some(o) if o > offset => {}
                Some(o) => {
                    let run = if o == offset { deliver.take() } else { None };
                    *entry = Entry::Local(run.unwrap_or_else(|| Box::new(|| {})));
                }
            }
        }
        match deliver {
            None => Ok(()),
            Some(deliver) => {
                if pending {
                    // Perhaps the notice of an append whose offset is not known yet.
                    self.seen.push((Arc::from(stream), offset));
                }
                Err(deliver)
            }
        }
    }

    /// Message `seq` came back (or never will): it is ready, and so is every earlier one
    /// still waiting — the broker keeps this node's order, so those are lost. False if
    /// `seq` waits no longer (delivered when the link went down).
    pub(crate) fn arrived(&mut self, seq: u64) -> bool {
        let mut found = false;
        for entry in &mut self.entries {
            if let Entry::Sent { seq: s, ready, .. } = entry {
                if *s > seq {
                    break;
                }
                *ready = true;
                found |= *s == seq;
            }
        }
        found
    }

    /// Every message waiting is ready: the link is down. Returns how many had not come
    /// back.
    pub(crate) fn arrive_all(&mut self) -> usize {
        let mut lost = 0;
        for entry in &mut self.entries {
            if matches!(entry, Entry::Expect { .. }) {
                // Its notice may never come; the store gives it to this node's
                // connections once the link is back.
                *entry = Entry::Local(Box::new(|| {}));
                continue;
            }
            self.seen.clear();
            if let Entry::Sent { ready, .. } = entry {
                lost += usize::from(!*ready);
                *ready = true;
            }
        }
        lost
    }

    /// The ready entries at the front, taken out in order.
    pub(crate) fn take_ready(&mut self) -> Vec<Box<dyn FnOnce() + Send>> {
        let mut ready = Vec::new();
        while let Some(front) = self.entries.front() {
            if !front.is_ready() {
                break;
            }
            match self.entries.pop_front() {
                Some(Entry::Sent { delivery, .. }) => {
                    ready.push(Box::new(move || delivery.run()) as Box<_>)
                }
                Some(Entry::Local(run)) => ready.push(run),
                Some(Entry::Expect { .. }) | None => break,
            }
        }
        ready
    }
}

impl Entry {
    fn is_ready(&self) -> bool {
        match self {
            Entry::Sent { ready, .. } => *ready,
            Entry::Local(_) => true,
            Entry::Expect { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A namespace of nobody that records what it was asked to deliver.
    struct Log(Arc<str>, Arc<Mutex<Vec<String>>>);

    impl Local for Log {
        fn name(&self) -> &Arc<str> {
            &self.0
        }

        fn deliver(
            &self,
            _to: &crate::Audience<'_>,
            _except_rooms: &[Arc<str>],
            _except: Option<ConnId>,
            item: Outbound,
            _volatile: bool,
        ) -> usize {
            if let Outbound::Message(msg) = item {
                let text = msg.as_text().unwrap_or_default().to_owned();
                self.1.lock().unwrap().push(text);
            }
            1
        }

        fn stored(self: Arc<Self>, _room: &Arc<str>, _notice: crate::cluster::Notice) {}

        fn marked(self: Arc<Self>, _room: &Arc<str>, _marker: crate::cluster::Marker) {}

        fn presence(self: Arc<Self>, _notice: crate::PresenceNotice) {}

        fn snapshot(&self) -> Vec<crate::cluster::control::Membership> {
            Vec::new()
        }

        fn listens(&self, _room: &str) -> bool {
            true
        }

        fn run_then(&self, _op: &crate::ops::Op, done: Box<dyn FnOnce(crate::ops::Reply) + Send>) {
            done(crate::ops::Reply::Done(0))
        }
    }

    fn delivery(log: &Arc<Log>, text: &'static str) -> Delivery {
        Delivery {
            ns: log.clone(),
            to: Target::Everyone,
            except_rooms: Vec::new(),
            except: None,
            item: Outbound::Message(chorus_proto::WsMessage::text(text)),
            volatile: false,
            done: None,
        }
    }

    fn run(order: &mut Order) {
        for run in order.take_ready() {
            run();
        }
    }

    #[test]
    fn own_messages_run_in_publish_order_once_back_and_locals_wait_behind_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Log(Arc::from("/"), seen.clone()));
        let mut order = Order::default();
        assert!(order.is_idle());
        let one = order.next_seq();
        order.push_sent(one, delivery(&log, "one"));
        let local = log.clone();
        order.push_local(Box::new(move || delivery(&local, "local").run()));
        let two = order.next_seq();
        order.push_sent(two, delivery(&log, "two"));
        assert!(!order.is_idle());
        run(&mut order);
        assert!(seen.lock().unwrap().is_empty(), "nothing is back yet");
        // Two comes back first: it is not delivered before one.
        assert!(order.arrived(two));
        assert_eq!(*seen.lock().unwrap(), Vec::<String>::new());
        assert_eq!(order.len(), 3);
        // Two back means one is lost (the broker keeps a node's order): all three run.
        run(&mut order);
        assert_eq!(*seen.lock().unwrap(), ["one", "local", "two"]);
        assert!(order.is_idle());
        assert!(!order.arrived(two), "already delivered");
    }

    #[test]
    fn an_arrival_goes_after_what_came_back_and_before_what_did_not() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Log(Arc::from("/"), seen.clone()));
        let mut order = Order::default();
        for text in ["a", "b"] {
            let seq = order.next_seq();
            order.push_sent(seq, delivery(&log, text));
        }
        let local = log.clone();
        order.push_local(Box::new(move || delivery(&local, "local").run()));
        // "a" came back, "b" not yet; then a stored message arrived.
        assert!(order.arrived(1));
        let arrived = log.clone();
        order.push_arrived(Box::new(move || delivery(&arrived, "arrived").run()));
        run(&mut order);
        assert_eq!(*seen.lock().unwrap(), ["a", "arrived"]);
        assert!(order.arrived(2));
        run(&mut order);
        assert_eq!(*seen.lock().unwrap(), ["a", "arrived", "b", "local"]);
    }

    #[test]
    fn what_follows_a_stored_message_waits_for_its_notice() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Log(Arc::from("/"), seen.clone()));
        let mut order = Order::default();
        order.push_expect(Arc::from("s"));
        order.push_expect(Arc::from("s"));
        order.push_expect(Arc::from("s"));
        order.appended("s", Some(4));
        order.appended("s", Some(5));
        let local = log.clone();
        order.push_local(Box::new(move || delivery(&local, "after").run()));
        run(&mut order);
        assert!(seen.lock().unwrap().is_empty(), "waits for the notices");
        // Another stream's notice does not release it; another node's goes before it.
        let other = log.clone();
        let other = order
            .fulfil("t", 5, Box::new(move || delivery(&other, "other").run()))
            .unwrap_err();
        order.push_arrived(other);
        run(&mut order);
        assert_eq!(*seen.lock().unwrap(), ["other"]);
        // 5's notice: 4's was missed (the store fills it), 5 is delivered in its place.
        let five = log.clone();
        assert!(order
            .fulfil("s", 5, Box::new(move || delivery(&five, "five").run()))
            .is_ok());
        run(&mut order);
        assert!(seen.lock().unwrap().len() == 2, "still waits for the third");
        // The third's notice comes before the store said its offset: delivered where it
        // came, and nothing waits for it once the offset is told.
        let six = log.clone();
        let six = order
            .fulfil("s", 6, Box::new(move || delivery(&six, "six").run()))
            .unwrap_err();
        order.push_arrived(six);
        run(&mut order);
        assert_eq!(*seen.lock().unwrap(), ["other", "five", "six"]);
        order.appended("s", Some(6));
        run(&mut order);
        assert_eq!(*seen.lock().unwrap(), ["other", "five", "six", "after"]);
        assert!(order.is_idle());
        // An append that failed leaves nothing waiting.
        order.push_expect(Arc::from("s"));
        order.appended("s", None);
        run(&mut order);
        assert!(order.is_idle());
    }

    #[test]
    fn a_link_down_releases_everything_waiting() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Log(Arc::from("/"), seen.clone()));
        let mut order = Order::default();
        for text in ["a", "b", "c"] {
            let seq = order.next_seq();
            order.push_sent(seq, delivery(&log, text));
        }
        assert!(order.arrived(1));
        assert_eq!(order.arrive_all(), 2);
        run(&mut order);
        assert_eq!(*seen.lock().unwrap(), ["a", "b", "c"]);
    }
}

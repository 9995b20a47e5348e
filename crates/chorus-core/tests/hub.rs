//! The hub's behaviour without any transport: rooms, presence, fan-out, slow consumers.

mod common;

use std::sync::Arc;

use chorus_core::{
    Audience, Body, CloseReason, EventData, Hub, HubConfig, HubError, Outbound, Policy, Publish,
    Routed,
};
use chorus_proto::WsMessage;
use common::{lines, text};

fn quiet() -> Policy {
    Policy {
        presence: false,
        ..Policy::default()
    }
}

fn frame(to: &Arc<str>, msg: WsMessage) -> Publish<'_> {
    Publish::new(Body::Frame(msg), Audience::Room(to))
}

#[tokio::test]
async fn join_leave_presence_and_cleanup() {
    let hub = Hub::new(HubConfig::default(), None);
    let ns = hub.namespace("/", Policy::default());
    let (alice, mut aq) = ns.connect(lines(), Some("alice".into()));
    let (bob, mut bq) = ns.connect(lines(), None);
    assert!(bob.name().starts_with("user"));

    assert_eq!(ns.join(&alice, "lobby").unwrap().len(), 1);
    let members = ns.join(&bob, "lobby").unwrap();
    assert_eq!(members.len(), 2);
    // Joining twice is idempotent and silent.
    assert_eq!(ns.join(&bob, "lobby").unwrap().len(), 2);

    let notice = aq.next().await.unwrap();
    assert_eq!(
        text(&notice, lines()),
        format!("presence Join lobby {}", bob.name())
    );
    assert!(aq.try_next().is_none(), "second join must not notify");

    let room_lobby: Arc<str> = Arc::from("lobby");
    let mut to_room = Publish::event("e", EventData::null(), Audience::Room(&room_lobby));
    to_room.except = Some(alice.id());
    assert_eq!(ns.publish(to_room, None).unwrap(), Routed::Now(1));
    assert_eq!(
        text(&bq.next().await.unwrap(), lines()),
        "event e lobby null"
    );

    assert!(matches!(
        ns.leave(&bob, "nowhere"),
        Err(HubError::NotInRoom(room)) if room == "nowhere"
    ));
    ns.disconnect(&bob);
    assert!(text(&aq.next().await.unwrap(), lines()).starts_with("presence Leave lobby"));
    ns.disconnect(&alice);
    assert_eq!(ns.room_count(), 0, "empty rooms are dropped");
    assert!(ns.is_empty());
}

#[tokio::test]
async fn slow_consumer_is_closed_and_volatile_is_dropped() {
    let hub = Hub::new(
        HubConfig {
            queue: chorus_core::QueueLimits {
                messages: 4,
                bytes: 1 << 20,
            },
            max_rooms_per_conn: 2,
        },
        None,
    );
    let ns = hub.namespace("raw", quiet());
    let (slow, mut slow_q) = ns.connect(lines(), None);
    let (fast, mut fast_q) = ns.connect(lines(), None);
    ns.join(&slow, "/").unwrap();
    ns.join(&fast, "/").unwrap();
    assert_eq!(ns.join(&fast, "/a").unwrap().len(), 1);
    assert!(matches!(
        ns.join(&fast, "/b"),
        Err(HubError::TooManyRooms(2))
    ));

    let root: Arc<str> = Arc::from("/");
    for i in 0..4 {
        let msg = frame(&root, WsMessage::text(format!("m{i}")));
        assert_eq!(ns.publish(msg, None).unwrap(), Routed::Now(2));
        assert!(fast_q.try_next().is_some());
    }
    // Volatile: dropped for the full queue, nobody disconnected.
    let mut msg = frame(&root, WsMessage::text("v"));
    msg.volatile = true;
    assert_eq!(ns.publish(msg, None).unwrap(), Routed::Now(1));
    assert!(!slow.is_closing());
    // Reliable: the slow one is told to close, the fast one still gets it.
    let msg = frame(&root, WsMessage::text("m4"));
    assert_eq!(ns.publish(msg, None).unwrap(), Routed::Now(1));
    assert!(slow.is_closing());
    assert!(fast_q.try_next().is_some());
    match slow_q.next().await.unwrap() {
        Outbound::Close(CloseReason { code, .. }) => assert_eq!(code, 1008),
        other => panic!("expected close, got {other:?}"),
    }
}

#[tokio::test]
async fn queues_are_bounded_in_bytes_too() {
    let hub = Hub::new(
        HubConfig {
            queue: chorus_core::QueueLimits {
                messages: 1000,
                bytes: 10_000,
            },
            max_rooms_per_conn: 10,
        },
        None,
    );
    let ns = hub.namespace("raw", quiet());
    let (peer, mut queue) = ns.connect(lines(), None);
    let big = || Outbound::Message(WsMessage::binary(vec![0u8; 4_000]));
    assert!(peer.push(big()));
    assert!(peer.push(big()));
    assert_eq!(peer.queued_bytes(), 8_000);
    // A volatile one that does not fit is dropped; the connection lives.
    assert!(!peer.push_volatile(big()));
    assert!(!peer.is_closing());
    // Taking one out makes room.
    assert!(queue.try_next().is_some());
    assert_eq!(peer.queued_bytes(), 4_000);
    assert!(peer.push(big()));
    // A reliable one that does not fit closes it.
    assert!(!peer.push(big()));
    assert!(peer.is_closing());
    // One message larger than the limit still fits an empty queue.
    let (peer, _queue) = ns.connect(lines(), None);
    assert!(peer.push(Outbound::Message(WsMessage::binary(vec![0u8; 50_000]))));
}

/// `enter` is a join without the member list: the same membership, the same notices, and
/// the room's own copy of its name held by the joiner.
#[tokio::test]
async fn enter_joins_like_join_without_the_member_list() {
    let hub = Hub::new(HubConfig::default(), None);
    let ns = hub.namespace("/", Policy::default());
    let (alice, mut aq) = ns.connect(lines(), Some("alice".into()));
    let (bob, _bq) = ns.connect(lines(), Some("bob".into()));
    let room = ns.enter(&alice, "lobby").unwrap();
    assert_eq!(room.len(), 1);
    ns.enter(&bob, "lobby").unwrap();
    assert_eq!(ns.room_len("lobby"), 2);
    let notice = aq.try_next().expect("alice hears bob come");
    assert_eq!(text(&notice, lines()), "presence Join lobby bob");
    let held = bob.room("lobby").expect("bob is in the lobby");
    assert!(
        Arc::ptr_eq(&held, room.name()),
        "one name for the room and its members"
    );
    assert!(ns.enter(&bob, "lobby").is_ok(), "entering again is fine");
    assert!(aq.try_next().is_none(), "and tells nobody");
}

/// A watch that keeps what it is told.
#[derive(Debug, Default)]
struct Told(parking_lot::Mutex<Vec<chorus_core::MembershipChange>>);

impl chorus_core::MembershipWatch for Told {
    fn changed(&self, change: chorus_core::MembershipChange) {
        self.0.lock().push(change);
    }
}

/// Joins and leaves racing on several threads are told in an order that replays: each
/// connection alternates joined/left, and "occupied" (alone on a join) and "vacated" (alone
/// on a leave) match the member count the changes add up to at every step.
#[test]
fn membership_changes_are_told_in_the_order_they_happened() {
    let hub = Hub::new(HubConfig::default(), None);
    let ns = hub.namespace("/", quiet());
    let told = Arc::new(Told::default());
    ns.watch_membership(told.clone());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let ns = ns.clone();
            std::thread::spawn(move || {
                let (peer, _queue) = ns.connect(lines(), None);
                for i in 0..2000 {
                    ns.join(&peer, "busy").unwrap();
                    if i % 2 == 0 {
                        ns.leave(&peer, "busy").unwrap();
                    } else {
                        ns.disconnect(&peer);
                        let (again, _queue) = ns.connect(lines(), None);
                        ns.join(&again, "busy").unwrap();
                        ns.leave(&again, "busy").unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let changes = told.0.lock();
    assert!(changes.len() >= 4 * 2000 * 2);
    let mut members = std::collections::HashSet::new();
    for (i, change) in changes.iter().enumerate() {
        if change.joined {
            assert!(members.insert(change.conn), "#{i}: joined twice");
            assert_eq!(change.alone, members.len() == 1, "#{i}: occupied iff first");
        } else {
            assert!(members.remove(&change.conn), "#{i}: left without joining");
            assert_eq!(change.alone, members.is_empty(), "#{i}: vacated iff last");
        }
    }
    assert!(members.is_empty());
    assert_eq!(ns.room_count(), 0);
}

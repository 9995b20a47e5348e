//! The hub's behaviour without any transport: rooms, presence, fan-out, slow consumers.

use std::sync::Arc;

use chorus_core::{
    Broadcast, CloseReason, Event, EventData, Hub, HubConfig, HubError, Outbound, Target,
    WireFormat,
};
use chorus_proto::WsMessage;

fn event(name: &str) -> Outbound {
    Outbound::Shared(Broadcast::event(Event {
        namespace: Arc::from("/"),
        name: Arc::from(name),
        data: EventData::null(),
        room: None,
        from: None,
        pos: None,
        seq: 0,
        offset: None,
    }))
}

fn text(msg: &Outbound) -> String {
    let ws = msg
        .messages_for(WireFormat::Native)
        .first()
        .expect("native form");
    String::from_utf8(ws.payload.to_vec()).unwrap()
}

#[tokio::test]
async fn join_leave_presence_and_cleanup() {
    let hub = Hub::new(HubConfig::default());
    let ns = hub.namespace("/", true);
    let (alice, mut aq) = ns.connect(WireFormat::Native, Some("alice".into()));
    let (bob, mut bq) = ns.connect(WireFormat::Native, None);
    assert!(bob.name().starts_with("user"));

    assert_eq!(ns.join(&alice, "lobby").unwrap().len(), 1);
    let members = ns.join(&bob, "lobby").unwrap();
    assert_eq!(members.len(), 2);
    // Joining twice is idempotent and silent.
    assert_eq!(ns.join(&bob, "lobby").unwrap().len(), 2);

    let notice = aq.next().await.unwrap();
    assert!(text(&notice).contains(r#""action":"join""#));
    assert!(aq.try_next().is_none(), "second join must not notify");

    assert_eq!(
        ns.broadcast(
            Target::Room {
                room: "lobby",
                except: Some(alice.id())
            },
            event("e"),
            false
        ),
        1
    );
    assert!(text(&bq.next().await.unwrap()).contains(r#""event":"e""#));

    assert_eq!(
        ns.leave(&bob, "nowhere"),
        Err(HubError::NotInRoom("nowhere".into()))
    );
    ns.disconnect(&bob);
    assert!(text(&aq.next().await.unwrap()).contains(r#""action":"leave""#));
    ns.disconnect(&alice);
    assert_eq!(ns.room_count(), 0, "empty rooms are dropped");
    assert!(ns.is_empty());
}

#[tokio::test]
async fn encode_once_per_format() {
    let hub = Hub::new(HubConfig::default());
    let ns = hub.namespace("/", false);
    let (a, mut aq) = ns.connect(WireFormat::Native, None);
    let (b, mut bq) = ns.connect(WireFormat::Native, None);
    ns.join(&a, "r").unwrap();
    ns.join(&b, "r").unwrap();
    assert_eq!(
        ns.broadcast(
            Target::Room {
                room: "r",
                except: None
            },
            event("x"),
            false
        ),
        2
    );
    let ma = aq
        .next()
        .await
        .unwrap()
        .messages_for(WireFormat::Native)
        .first()
        .cloned()
        .unwrap();
    let mb = bq
        .next()
        .await
        .unwrap()
        .messages_for(WireFormat::Native)
        .first()
        .cloned()
        .unwrap();
    // Same allocation: the second recipient reused the first one's encoding.
    assert_eq!(ma.payload.as_ptr(), mb.payload.as_ptr());
}

#[tokio::test]
async fn slow_consumer_is_closed_and_volatile_is_dropped() {
    let hub = Hub::new(HubConfig {
        queue: chorus_core::QueueLimits {
            messages: 4,
            bytes: 1 << 20,
        },
        max_rooms_per_conn: 2,
    });
    let ns = hub.namespace("raw", false);
    let (slow, mut slow_q) = ns.connect(WireFormat::Raw, None);
    let (fast, mut fast_q) = ns.connect(WireFormat::Raw, None);
    ns.join(&slow, "/").unwrap();
    ns.join(&fast, "/").unwrap();
    assert_eq!(ns.join(&fast, "/a").unwrap().len(), 1);
    assert_eq!(ns.join(&fast, "/b").unwrap_err(), HubError::TooManyRooms(2));

    for i in 0..4 {
        let msg = Outbound::Message(WsMessage::text(format!("m{i}")));
        assert_eq!(
            ns.broadcast(
                Target::Room {
                    room: "/",
                    except: None
                },
                msg,
                false
            ),
            2
        );
        assert!(fast_q.try_next().is_some());
    }
    // Volatile: dropped for the full queue, nobody disconnected.
    let msg = Outbound::Message(WsMessage::text("v"));
    assert_eq!(
        ns.broadcast(
            Target::Room {
                room: "/",
                except: None
            },
            msg,
            true
        ),
        1
    );
    assert!(!slow.is_closing());
    // Reliable: the slow one is told to close, the fast one still gets it.
    let msg = Outbound::Message(WsMessage::text("m4"));
    assert_eq!(
        ns.broadcast(
            Target::Room {
                room: "/",
                except: None
            },
            msg,
            false
        ),
        1
    );
    assert!(slow.is_closing());
    assert!(fast_q.try_next().is_some());
    match slow_q.next().await.unwrap() {
        Outbound::Close(CloseReason { code, .. }) => assert_eq!(code, 1008),
        other => panic!("expected close, got {other:?}"),
    }
}

#[tokio::test]
async fn queues_are_bounded_in_bytes_too() {
    let hub = Hub::new(HubConfig {
        queue: chorus_core::QueueLimits {
            messages: 1000,
            bytes: 10_000,
        },
        max_rooms_per_conn: 10,
    });
    let ns = hub.namespace("raw", false);
    let (peer, mut queue) = ns.connect(WireFormat::Raw, None);
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
    let (peer, _queue) = ns.connect(WireFormat::Raw, None);
    assert!(peer.push(Outbound::Message(WsMessage::binary(vec![0u8; 50_000]))));
}

/// `enter` is a join without the member list: the same membership, the same notices, and
/// the room's own copy of its name held by the joiner.
#[tokio::test]
async fn enter_joins_like_join_without_the_member_list() {
    let hub = Hub::new(HubConfig::default());
    let ns = hub.namespace("/", true);
    let (alice, mut aq) = ns.connect(WireFormat::Native, Some("alice".into()));
    let (bob, _bq) = ns.connect(WireFormat::Native, Some("bob".into()));
    let room = ns.enter(&alice, "lobby").unwrap();
    assert_eq!(room.len(), 1);
    ns.enter(&bob, "lobby").unwrap();
    assert_eq!(ns.room_len("lobby"), 2);
    let notice = aq.try_next().expect("alice hears bob come");
    assert!(text(&notice).contains(r#""action":"join""#));
    let held = bob.room("lobby").expect("bob is in the lobby");
    assert!(
        Arc::ptr_eq(&held, room.name()),
        "one name for the room and its members"
    );
    assert!(ns.enter(&bob, "lobby").is_ok(), "entering again is fine");
    assert!(aq.try_next().is_none(), "and tells nobody");
}

//! The one route: every message enters through `Namespace::publish`, which checks a
//! client's rights once, stores what a room with history keeps before it goes out, keeps
//! each sender's order, and encodes a broadcast once per wire format — formats the hub
//! knows nothing of (both are registered by this test, as protocols register theirs).

mod common;

use std::sync::{Arc, Mutex};

use chorus_core::{
    Access, Action, Audience, Body, Client, Code, EventData, Forbidden, HistoryRules, Hub,
    HubConfig, HubError, Policy, Publish, Publisher, Receipt, Retention, Routed,
};
use chorus_proto::WsMessage;
use chorus_store::MemoryStore;
use common::{lines, shout, text};

/// A client's rights: the rooms it may join and publish to.
struct Rights {
    join: Vec<&'static str>,
    publish: Vec<&'static str>,
}

impl Access for Rights {
    fn may_join(&self, room: &str) -> bool {
        self.join.contains(&room)
    }
    fn may_publish(&self, room: &str) -> bool {
        self.publish.contains(&room)
    }
    fn may_publish_anywhere(&self) -> bool {
        self.publish.contains(&"*")
    }
}

fn history_hub() -> Hub {
    let store = Arc::new(MemoryStore::default());
    let publisher = Publisher::start(store, HistoryRules::all(Retention::default()));
    Hub::new(HubConfig::default(), Some(publisher))
}

/// One broadcast, two wire formats the hub has never heard of: each recipient gets its own
/// format, each format is encoded once (the second recipient of a format gets the very
/// bytes of the first), and a format with no form for presence gets none.
#[tokio::test]
async fn a_broadcast_is_encoded_once_per_format_whatever_the_formats_are() {
    let hub = Hub::new(HubConfig::default(), None);
    let ns = hub.namespace("/", Policy::default());
    let (a, mut aq) = ns.connect(lines(), None);
    let (b, mut bq) = ns.connect(lines(), None);
    let (c, mut cq) = ns.connect(shout(), None);
    let (d, mut dq) = ns.connect(shout(), None);
    for peer in [&a, &b, &c, &d] {
        ns.join(peer, "r").unwrap();
    }
    // Presence: the lines format has one, the shout format none.
    let first = aq.try_next().unwrap();
    assert!(text(&first, lines()).starts_with("presence Join r"));
    assert!(first.messages_for(shout()).is_empty());
    while aq.try_next().is_some() {}
    while bq.try_next().is_some() {}
    while cq.try_next().is_some() {}
    while dq.try_next().is_some() {}

    let room_r: Arc<str> = Arc::from("r");
    let msg = Publish::event("hello", EventData::null(), Audience::Room(&room_r));
    assert_eq!(ns.publish(msg, None).unwrap(), Routed::Now(4));
    let got = [aq.try_next(), bq.try_next(), cq.try_next(), dq.try_next()].map(Option::unwrap);
    let [ma, mb] = [&got[0], &got[1]].map(|item| item.messages_for(lines())[0].clone());
    let [mc, md] = [&got[2], &got[3]].map(|item| item.messages_for(shout())[0].clone());
    assert_eq!(ma.payload, "event hello r null");
    assert_eq!(mc.payload, "HELLO");
    assert_eq!(
        ma.payload.as_ptr(),
        mb.payload.as_ptr(),
        "encoded once for lines"
    );
    assert_eq!(
        mc.payload.as_ptr(),
        md.payload.as_ptr(),
        "encoded once for shout"
    );
}

/// What a client asks for itself is checked, with the same refusals whatever the way in;
/// what the server's own code publishes is not.
#[tokio::test]
async fn a_clients_rights_are_checked_once_and_the_servers_never() {
    let hub = Hub::new(HubConfig::default(), None);
    let ns = hub.namespace("/", Policy::default());
    let (alice, _aq) = ns.connect(lines(), None);
    let (bob, mut bq) = ns.connect(lines(), None);
    ns.join(&alice, "open").unwrap();
    ns.join(&alice, "closed").unwrap();
    ns.join(&bob, "open").unwrap();
    ns.join(&bob, "closed").unwrap();
    while bq.try_next().is_some() {}
    let rights: Arc<dyn Access> = Arc::new(Rights {
        join: vec!["open", "closed"],
        publish: vec!["open"],
    });
    let client = Client {
        peer: alice.clone(),
        access: Some(rights),
    };
    let as_alice = |to: Audience| {
        let mut msg = Publish::event("e", EventData::null(), to);
        msg.client = Some(&client);
        msg.from = Some(&alice);
        ns.publish(msg, None)
    };
    let refused = |result: Result<Routed, HubError>| result.unwrap_err();

    let room_open: Arc<str> = Arc::from("open");
    assert_eq!(
        as_alice(Audience::Room(&room_open)).unwrap(),
        Routed::Now(2)
    );
    let room_closed: Arc<str> = Arc::from("closed");
    let err = refused(as_alice(Audience::Room(&room_closed)));
    assert!(matches!(&err, HubError::Forbidden(Forbidden::Publish(room)) if room == "closed"));
    assert_eq!(err.code(), Code::Forbidden);
    let err = refused(as_alice(Audience::Everyone));
    assert!(matches!(
        err,
        HubError::Forbidden(Forbidden::PublishAnywhere)
    ));
    let err = refused(as_alice(Audience::Conn(bob.id())));
    assert!(matches!(
        err,
        HubError::Forbidden(Forbidden::PublishAnywhere)
    ));
    assert!(ns.permit(&client, Action::Join("open")).is_ok());
    let err = ns.permit(&client, Action::Join("elsewhere")).unwrap_err();
    assert!(matches!(&err, HubError::Forbidden(Forbidden::Join(room)) if room == "elsewhere"));

    // Membership: a client sends to rooms it is in, and to connections that exist.
    let anyone = Client {
        peer: alice.clone(),
        access: None,
    };
    let room_elsewhere: Arc<str> = Arc::from("elsewhere");
    let mut msg = Publish::event("e", EventData::null(), Audience::Room(&room_elsewhere));
    msg.client = Some(&anyone);
    let err = refused(ns.publish(msg, None));
    assert_eq!(err.code(), Code::NotInRoom);
    // A room that exists, without her: refused, and its members get nothing.
    ns.join(&bob, "bobs").unwrap();
    while bq.try_next().is_some() {}
    let room_bobs: Arc<str> = Arc::from("bobs");
    for to in [
        Audience::Room(&room_bobs),
        Audience::Rooms(std::slice::from_ref(&room_bobs)),
    ] {
        let mut msg = Publish::event("e", EventData::null(), to);
        msg.client = Some(&anyone);
        let err = refused(ns.publish(msg, None));
        assert!(matches!(&err, HubError::NotInRoom(room) if room == "bobs"));
    }
    assert!(bq.try_next().is_none());
    let gone = chorus_core::ConnId::next();
    let mut msg = Publish::event("e", EventData::null(), Audience::Conn(gone));
    msg.client = Some(&anyone);
    assert_eq!(refused(ns.publish(msg, None)).code(), Code::NoSuchConn);
    // publish_then tells its callback in every case: the refusal, or the receipt.
    let told = Arc::new(Mutex::new(Vec::new()));
    for to in [Audience::Room(&room_elsewhere), Audience::Everyone] {
        let mut msg = Publish::event("e", EventData::null(), to);
        msg.client = Some(&anyone);
        let told = told.clone();
        ns.publish_then(msg, move |outcome| {
            told.lock()
                .unwrap()
                .push(outcome.map(|r| r.delivered).map_err(|e| e.code()));
        });
    }
    assert_eq!(*told.lock().unwrap(), [Err(Code::NotInRoom), Ok(2)]);

    // A namespace that lets no client emit refuses them all, whatever their rights.
    let quiet = hub.namespace(
        "/quiet",
        Policy {
            client_emits: false,
            ..Policy::default()
        },
    );
    let (carol, _cq) = quiet.connect(lines(), None);
    quiet.join(&carol, "r").unwrap();
    let room_r: Arc<str> = Arc::from("r");
    let mut msg = Publish::event("e", EventData::null(), Audience::Room(&room_r));
    let carol_client = Client {
        peer: carol.clone(),
        access: None,
    };
    msg.client = Some(&carol_client);
    let err = refused(quiet.publish(msg, None));
    assert!(matches!(err, HubError::Forbidden(Forbidden::ClientEmits)));

    // The server's own code: no rights, no membership needed.
    let room_closed: Arc<str> = Arc::from("closed");
    let msg = Publish::event("e", EventData::null(), Audience::Room(&room_closed));
    assert_eq!(ns.publish(msg, None).unwrap(), Routed::Now(2));
    let published_before = ns.published();
    let msg = Publish::new(Body::Frame(WsMessage::text("x")), Audience::Everyone);
    ns.publish(msg, None).unwrap();
    assert_eq!(
        ns.published(),
        published_before + 1,
        "every publish is counted"
    );
}

/// A message to a room that keeps history is stored, then delivered, then reported with
/// its place in the room's stream; one to a room without history (or volatile, or to
/// several rooms) goes out at once.
#[tokio::test]
async fn a_room_with_history_is_stored_before_it_goes_out() {
    let hub = history_hub();
    let ns = hub.namespace(
        "/",
        Policy {
            presence: false,
            ..Policy::default()
        },
    );
    let (alice, mut aq) = ns.connect(lines(), None);
    ns.join(&alice, "r").unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let room_r: Arc<str> = Arc::from("r");
    let msg = Publish::event("kept", EventData::null(), Audience::Room(&room_r));
    let routed = ns
        .publish(msg, Some(Box::new(move |receipt| drop(tx.send(receipt)))))
        .unwrap();
    assert_eq!(routed, Routed::Later { expected: 1 });
    let Receipt { delivered, pos } = rx.await.unwrap().unwrap();
    assert_eq!(delivered, 1);
    assert_eq!(pos.expect("stored").offset, 1);
    let item = aq.next().await.unwrap();
    let event = match &item {
        chorus_core::Outbound::Shared(shared) => shared.as_event().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        event.pos.as_ref().unwrap().offset,
        1,
        "delivered with its offset"
    );

    let room_r: Arc<str> = Arc::from("r");
    let mut volatile = Publish::event("gone", EventData::null(), Audience::Room(&room_r));
    volatile.volatile = true;
    assert_eq!(ns.publish(volatile, None).unwrap(), Routed::Now(1));
    let history_off = hub.namespace(
        "/plain",
        Policy {
            history: chorus_core::History::Off,
            ..Policy::default()
        },
    );
    let (bob, _bq) = history_off.connect(lines(), None);
    history_off.join(&bob, "r").unwrap();
    let room_r: Arc<str> = Arc::from("r");
    let msg = Publish::event("now", EventData::null(), Audience::Room(&room_r));
    assert_eq!(history_off.publish(msg, None).unwrap(), Routed::Now(1));
}

/// A sender's messages arrive in the order it sent them, though the first is stored first
/// and the second (to everyone, no history) could go out at once.
#[tokio::test]
async fn a_senders_order_holds_across_stored_and_direct_messages() {
    let hub = history_hub();
    let ns = hub.namespace(
        "/",
        Policy {
            presence: false,
            ..Policy::default()
        },
    );
    let (alice, _aq) = ns.connect(lines(), None);
    let (bob, mut bq) = ns.connect(lines(), None);
    ns.join(&alice, "r").unwrap();
    ns.join(&bob, "r").unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let room: Arc<str> = Arc::from("r");
    for i in 0..50 {
        let to = if i % 2 == 0 {
            Audience::Room(&room)
        } else {
            Audience::Everyone
        };
        let mut msg = Publish::event(&format!("m{i}"), EventData::null(), to);
        msg.from = Some(&alice);
        msg.except = Some(alice.id());
        let order = order.clone();
        ns.publish(msg, Some(Box::new(move |_| order.lock().unwrap().push(i))))
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 50 {
        let item = bq.next().await.unwrap();
        got.push(text(&item, lines()));
    }
    let expected: Vec<String> = (0..50)
        .map(|i| match i % 2 {
            0 => format!("event m{i} r null"),
            _ => format!("event m{i} - null"),
        })
        .collect();
    assert_eq!(got, expected);
    for _ in 0..100 {
        if order.lock().unwrap().len() == 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        *order.lock().unwrap(),
        (0..50).collect::<Vec<_>>(),
        "told in order too"
    );
    assert!(!alice.mailbox().holds(), "nothing left in flight");
}

/// A user's connections: an event for the user reaches each of them (and no one else), a
/// selector for the user picks them, and one that closes is no longer the user's.
#[tokio::test]
async fn a_users_connections_are_reached_as_one_and_forgotten_when_closed() {
    use chorus_core::ops::{Op, Reply, Selector};
    let hub = Hub::new(HubConfig::default(), None);
    let ns = hub.namespace("/", Policy::default());
    let (ada_phone, mut phone) = ns.connect(lines(), None);
    let (ada_laptop, mut laptop) = ns.connect(lines(), None);
    let (bob, mut bobq) = ns.connect(lines(), None);
    ns.set_user(&ada_phone, "ada");
    ns.set_user(&ada_laptop, "ada");
    ns.set_user(&bob, "bob");
    // A second call changes nothing: a connection's user is its token's, for good.
    ns.set_user(&ada_laptop, "mallory");
    assert_eq!(ns.user_of(ada_laptop.id()).as_deref(), Some("ada"));
    assert_eq!(ns.user_count(), 2);

    let ada: Arc<str> = Arc::from("ada");
    let msg = Publish::event("shipped", EventData::null(), Audience::User(&ada));
    assert_eq!(ns.publish(msg, None).unwrap(), Routed::Now(2));
    for queue in [&mut phone, &mut laptop] {
        let item = queue.try_next().unwrap();
        assert_eq!(
            item.messages_for(lines())[0].payload,
            "event shipped - null"
        );
    }
    assert!(bobq.try_next().is_none());

    let run = |op: Op| {
        let reply = Arc::new(Mutex::new(None));
        let out = reply.clone();
        ns.run_then(&op, Box::new(move |r| *out.lock().unwrap() = Some(r)));
        let reply = reply.lock().unwrap().take().expect("answered at once");
        reply
    };
    let Reply::Sockets(found) = run(Op::Fetch(Selector::user("ada"))) else {
        panic!("sockets")
    };
    let mut ids: Vec<String> = found.iter().map(|s| s.id.to_string()).collect();
    ids.sort();
    let mut want = vec![ada_phone.id().to_string(), ada_laptop.id().to_string()];
    want.sort();
    assert_eq!(ids, want);
    // A user's selector is no one else's, even with no room in it.
    let Reply::Sockets(nobody) = run(Op::Fetch(Selector::user("carol"))) else {
        panic!("sockets")
    };
    assert!(nobody.is_empty());

    ns.disconnect(&ada_phone);
    assert_eq!(ns.user_peers("ada").len(), 1);
    ns.disconnect(&ada_laptop);
    assert!(ns.user_peers("ada").is_empty());
    assert_eq!(ns.user_count(), 1);
    assert_eq!(ns.user_of(ada_phone.id()), None);
    // Closed before it was told its user: it stays no one's.
    ns.set_user(&ada_phone, "ada");
    assert!(ns.user_peers("ada").is_empty());
}

/// A connection restored under the id of one still on its way out (a Socket.IO socket
/// coming back) is its user's once the old one is gone, whichever order the two take.
#[tokio::test]
async fn a_connection_restored_under_an_old_id_keeps_its_user() {
    let hub = Hub::new(HubConfig::default(), None);
    let ns = hub.namespace("/", Policy::default());
    let (old, _q) = ns.connect(lines(), None);
    ns.set_user(&old, "ada");
    let id = old.id();
    // The old one leaves the connections; before it leaves the index, the new one comes.
    let (mailbox, _q2) = chorus_core::Mailbox::new(lines(), chorus_core::QueueLimits::default());
    ns.disconnect(&old);
    let new = ns
        .attach_as(id, mailbox, None)
        .expect("the id is free again");
    ns.set_user(&new, "ada");
    // A late second disconnect of the old one must not take the new one out.
    ns.disconnect(&old);
    let peers = ns.user_peers("ada");
    assert_eq!(peers.len(), 1);
    assert!(Arc::ptr_eq(&peers[0], &new));
    ns.disconnect(&new);
    assert!(ns.user_peers("ada").is_empty());
}

//! Nothing waits for the store but what must: with an append stuck in the store, joins to
//! other rooms (live, ordered, with a replay) and messages to rooms without history go on;
//! a join to the very room being appended is ordered after that append, exactly.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chorus_core::{
    Audience, EventData, HistoryRule, HistoryRules, Hub, HubConfig, Joined, Policy, Publish,
    Publisher, Replay, Retention, Routed, StreamPos,
};
use chorus_store::latch::LatchStore;
use common::{lines, text};
use tokio::sync::oneshot;

const SOON: Duration = Duration::from_secs(5);

/// Rooms named `plain*` keep no history; every other room does.
fn rules() -> HistoryRules {
    HistoryRules::new(vec![
        HistoryRule {
            pattern: "plain*".into(),
            retention: Retention {
                max_messages: 0,
                max_age: Duration::from_secs(60),
            },
        },
        HistoryRule {
            pattern: "*".into(),
            retention: Retention::default(),
        },
    ])
}

fn quiet() -> Policy {
    Policy {
        presence: false,
        ..Policy::default()
    }
}

#[tokio::test]
async fn joins_and_other_rooms_never_wait_for_a_slow_append() {
    let store = LatchStore::new();
    let publisher = Publisher::start(store.clone(), rules());
    let hub = Hub::new(HubConfig::default(), Some(publisher));
    let ns = hub.namespace("/", quiet());
    let (alice, mut alice_q) = ns.connect(lines(), Some("alice".into()));
    ns.join(&alice, "slow").unwrap();
    // One message stored in another room, so a replay has something to give.
    let (stored, stored_rx) = oneshot::channel();
    let room_other: Arc<str> = Arc::from("other");
    let msg = Publish::event("before", EventData::null(), Audience::Room(&room_other));
    ns.publish(msg, Some(Box::new(move |r| drop(stored.send(r)))))
        .unwrap();
    stored_rx.await.unwrap().unwrap();

    // The store's disk is stuck: an append to "slow" waits at the latch.
    store.close();
    let (acked, mut acked_rx) = oneshot::channel();
    let room_slow: Arc<str> = Arc::from("slow");
    let msg = Publish::event("stuck", EventData::null(), Audience::Room(&room_slow));
    ns.publish(msg, Some(Box::new(move |r| drop(acked.send(r)))))
        .unwrap();
    let waiting = store.clone();
    tokio::task::spawn_blocking(move || waiting.wait_for_appends(2))
        .await
        .unwrap();

    // A live join to a room never touched: a member now, its position from a read.
    let (bob, mut bob_q) = ns.connect(lines(), Some("bob".into()));
    let (at, at_rx) = oneshot::channel();
    ns.join_at(&bob, "fresh", Box::new(move |pos| drop(at.send(pos))))
        .unwrap();
    let fresh = tokio::time::timeout(SOON, at_rx).await.unwrap().unwrap();
    assert_eq!(fresh.unwrap().unwrap().offset, 0);

    // An ordered join with a replay, in a room with history.
    let (joined, joined_rx) = oneshot::channel();
    let done = Box::new(move |j| drop(joined.send(j)));
    ns.join_ordered(&bob, "other", Replay::Last(10), true, done);
    let Joined { pos, replayed, .. } = tokio::time::timeout(SOON, joined_rx)
        .await
        .expect("the join did not wait for the append")
        .unwrap()
        .unwrap();
    assert_eq!((pos.unwrap().offset, replayed), (1, 1));
    assert_eq!(
        text(&bob_q.try_next().unwrap(), lines()),
        "event before other null"
    );

    // A room without history: delivered at once.
    let (carol, mut carol_q) = ns.connect(lines(), None);
    ns.join(&carol, "plain-1").unwrap();
    let room_plain_1: Arc<str> = Arc::from("plain-1");
    let msg = Publish::event("now", EventData::null(), Audience::Room(&room_plain_1));
    assert_eq!(ns.publish(msg, None).unwrap(), Routed::Now(1));
    assert_eq!(
        text(&carol_q.try_next().unwrap(), lines()),
        "event now plain-1 null"
    );

    // The stuck message has gone nowhere, and a join to its room waits behind it.
    assert!(acked_rx.try_recv().is_err(), "the append is still stuck");
    assert!(alice_q.try_next().is_none());
    let (dave, mut dave_q) = ns.connect(lines(), Some("dave".into()));
    let (behind, mut behind_rx) = oneshot::channel();
    ns.join_ordered(
        &dave,
        "slow",
        Replay::None,
        false,
        Box::new(move |j| drop(behind.send(j))),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        behind_rx.try_recv().is_err(),
        "ordered after the append in flight"
    );

    store.open();
    let receipt = tokio::time::timeout(SOON, acked_rx)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(receipt.pos.unwrap().offset, 1);
    assert_eq!(
        text(&alice_q.next().await.unwrap(), lines()),
        "event stuck slow null"
    );
    // Dave joined after the stuck message: it is history to him, and he starts after it.
    let joined = tokio::time::timeout(SOON, behind_rx)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(joined.pos.unwrap().offset, 1);
    assert!(
        dave_q.try_next().is_none(),
        "nothing twice: he joined after it"
    );
}

/// A live join to a room whose message is being appended hears, once it is delivered,
/// that it started right before it — and receives it live.
#[tokio::test]
async fn a_live_join_during_an_append_starts_right_before_it() {
    let store = LatchStore::new();
    let publisher = Publisher::start(store.clone(), rules());
    let hub = Hub::new(HubConfig::default(), Some(publisher));
    let ns = hub.namespace("/", quiet());
    store.close();
    let room_r: Arc<str> = Arc::from("r");
    let msg = Publish::event("first", EventData::null(), Audience::Room(&room_r));
    ns.publish(msg, None).unwrap();
    let waiting = store.clone();
    tokio::task::spawn_blocking(move || waiting.wait_for_appends(1))
        .await
        .unwrap();

    let (erin, mut erin_q) = ns.connect(lines(), Some("erin".into()));
    let (at, mut at_rx) = oneshot::channel();
    ns.join_at(&erin, "r", Box::new(move |pos| drop(at.send(pos))))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        at_rx.try_recv().is_err(),
        "not known while the append is in flight"
    );
    store.open();
    let pos: StreamPos = tokio::time::timeout(SOON, at_rx)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pos.offset, 0, "right before the message in flight");
    let item = tokio::time::timeout(SOON, erin_q.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        text(&item, lines()),
        "event first r null",
        "which it receives live"
    );
}

//! `fanout` and `rooms`: one publisher per room, every other member receiving, with
//! exact loss accounting.
//!
//! The two differ only in layout, so they share this runner:
//!
//! | | rooms | receivers per room | the publisher's own copy |
//! |---|---|---|---|
//! | fanout | 1 | `--subs` subscribers | not counted (it is not a subscriber) |
//! | rooms | `--rooms` | `--members` − 1, plus the publisher on raw/native | counted: it is a member |
//!
//! Timeline: every connection is set up (and reading) before anyone publishes; warm-up
//! and the measured window follow; then publishers stop and report their totals, the
//! runner waits up to `--drain` for every receiver to catch up, and only then settles
//! each receiver's losses against its publisher's exact total.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use crate::cli::{secs, Common, FanoutArgs, RoomsArgs};
use crate::limits;
use crate::loss::Loss;
use crate::measure::human;
use crate::proto::Proto;
use crate::report::{AckFigures, BroadcastFigures, Figures, Percentiles};
use crate::role::listener::{Listener, ListenerReport};
use crate::role::publisher::{Pace, Publisher, PublisherReport, Watch};
use crate::role::receiver::{Progress, Receiver, ReceiverReport};
use crate::run::{collect_setups, setup_channel, Run, SetupSender};
use crate::stats::Counts;
use crate::transport::Target;

use super::{context, disconnect, finish, measured, require_some, Outcome, ScenarioError};

/// How often the drain checks whether every receiver has caught up.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// How a room's publisher paces itself.
#[derive(Debug, Clone, Copy)]
enum Speed {
    /// Messages per second, per room.
    Rate(f64),
    /// As fast as a window of this many in flight allows.
    Window(u64),
}

/// A broadcast scenario's layout and pacing.
#[derive(Debug)]
pub(crate) struct Plan {
    name: &'static str,
    rooms: Vec<String>,
    /// Receiving-only members per room.
    listeners: usize,
    /// Whether the publisher's own copy counts as a delivery.
    publisher_receives: bool,
    speed: Speed,
    ack: bool,
    drain: Duration,
}

impl Plan {
    /// `fanout`: one room, `--subs` subscribers and a publisher.
    pub(crate) fn fanout(common: &Common, args: &FanoutArgs) -> Result<Self, ScenarioError> {
        check_ack(common.proto, args.flow.ack)?;
        Ok(Self {
            name: "fanout",
            rooms: vec![format!("{}fan", common.room_prefix)],
            listeners: args.subs,
            publisher_receives: false,
            speed: speed(args.rate, args.flow.window),
            ack: args.flow.ack,
            drain: secs(args.flow.drain),
        })
    }

    /// `rooms`: `--rooms` rooms of `--members`, the first of each publishing.
    pub(crate) fn rooms(common: &Common, args: &RoomsArgs) -> Result<Self, ScenarioError> {
        check_ack(common.proto, args.flow.ack)?;
        if !common.proto.echoes_to_sender() && args.members < 2 {
            return Err(ScenarioError::Options(
                "rooms over socketio need --members 2 or more: a sender does not receive its own messages",
            ));
        }
        Ok(Self {
            name: "rooms",
            rooms: (0..args.rooms)
                .map(|r| format!("{}r{r}", common.room_prefix))
                .collect(),
            listeners: args.members - 1,
            publisher_receives: common.proto.echoes_to_sender(),
            speed: speed(args.rate, args.flow.window),
            ack: args.flow.ack,
            drain: secs(args.flow.drain),
        })
    }

    fn receivers_per_room(&self) -> usize {
        self.listeners + usize::from(self.publisher_receives)
    }

    fn conns_per_room(&self) -> usize {
        self.listeners + 1
    }

    /// The slots a room's publisher watches at max rate: the first and last listener
    /// (its own copy says little about the others), or its own copy if it is alone.
    fn watched(&self, room: usize) -> Vec<usize> {
        let first = room * self.receivers_per_room();
        match self.listeners {
            0 if self.publisher_receives => vec![first],
            0 => Vec::new(),
            1 => vec![first],
            n => vec![first, first + n - 1],
        }
    }
}

fn speed(rate: f64, window: u64) -> Speed {
    if rate > 0.0 {
        Speed::Rate(rate)
    } else {
        Speed::Window(window)
    }
}

fn check_ack(proto: Proto, ack: bool) -> Result<(), ScenarioError> {
    if ack && proto == Proto::Raw {
        return Err(ScenarioError::Options(
            "--ack needs --proto native or socketio: raw rooms have no acknowledgements",
        ));
    }
    Ok(())
}

/// Everything spawned for a run.
struct Spawned {
    listeners: Vec<JoinHandle<ListenerReport>>,
    /// One per room, in room order.
    publishers: Vec<JoinHandle<PublisherReport>>,
    /// Each room's total, sent when its publisher stops.
    totals: Vec<oneshot::Receiver<u64>>,
    progress: Arc<Progress>,
}

/// Runs a broadcast scenario.
pub(crate) async fn run(
    common: &Common,
    plan: Plan,
    nofile: u64,
) -> Result<Outcome, ScenarioError> {
    let conns = plan.rooms.len() * plan.conns_per_room();
    limits::check(conns as u64, nofile)?;
    let run = context(common, Target::new(&common.url, Vec::new(), None).await?);
    let (ready, mut setups) = setup_channel(conns);
    let spawned = spawn(&run, &plan, &ready);
    drop(ready);
    let failures = collect_setups(&run, &mut setups, conns, plan.name, common.json_only).await;
    require_some(&failures, conns)?;

    let window = measured(&run, common, line).await;
    let (drained, drain_s) = drain(&plan, spawned.totals, &spawned.progress).await;
    let listeners = finish(&run, spawned.listeners).await;
    let publishers = finish(&run, spawned.publishers).await;

    // Losses are settled against each publisher's final count, which is exact.
    let sent: Vec<Option<u64>> = publishers
        .iter()
        .map(|p| p.as_ref().filter(|p| p.set_up).map(|p| p.sent))
        .collect();
    let mut disconnects = Vec::new();
    let mut receivers: Vec<ReceiverReport> = Vec::new();
    let mut unacked = 0;
    for report in listeners.into_iter().flatten() {
        disconnects.extend(report.ended.map(disconnect));
        receivers.extend(report.receiver);
    }
    for report in publishers.into_iter().flatten() {
        disconnects.extend(report.ended.map(disconnect));
        receivers.extend(report.receiver);
        unacked += report.unacked;
    }
    let settled = settle(&plan, &sent, &receivers);

    let counts = window.counts();
    let target_rate = match plan.speed {
        Speed::Rate(rate) => Some(rate * plan.rooms.len() as f64),
        Speed::Window(_) => None,
    };
    let ack = plan.ack.then(|| AckFigures {
        acks: counts.acks,
        ack_errors: counts.ack_errors,
        unacked,
        ack_latency_us: Percentiles::of(&run.stats.ack_latency.merged()),
    });
    Ok(Outcome {
        figures: Figures::Broadcast(BroadcastFigures {
            rooms: plan.rooms.len() as u64,
            receivers_per_message: plan.receivers_per_room() as u64,
            receivers: receivers.len() as u64,
            target_publish_per_s: target_rate,
            published: counts.published,
            published_per_s: window.rate(counts.published),
            deliveries: counts.deliveries,
            deliveries_per_s: window.rate(counts.deliveries),
            latency_us: Percentiles::of(&run.stats.latency.merged()),
            published_total: sent.iter().flatten().sum(),
            expected_deliveries: settled.expected,
            lost: settled.loss.lost,
            receivers_with_loss: settled.receivers_with_loss,
            reordered: settled.loss.reordered,
            duplicates: settled.loss.duplicates,
            malformed: settled.malformed,
            loss_exact: settled.loss.exact,
            drained,
            drain_s,
            ack,
        }),
        window,
        failures,
        disconnects,
        handled: Some(counts.deliveries),
    })
}

/// Spawns every listener and publisher.
fn spawn(run: &Arc<Run>, plan: &Plan, ready: &SetupSender) -> Spawned {
    let per_room = plan.receivers_per_room();
    let progress = Arc::new(Progress::new(plan.rooms.len() * per_room));
    let mut spawned = Spawned {
        listeners: Vec::new(),
        publishers: Vec::new(),
        totals: Vec::new(),
        progress: progress.clone(),
    };
    for (r, room) in plan.rooms.iter().enumerate() {
        let wake = Arc::new(Notify::new());
        let watched = plan.watched(r);
        let receiver = |index: usize, slot: usize| {
            let wake = watched.contains(&slot).then(|| wake.clone());
            Receiver::new(index, slot, progress.clone(), wake)
        };
        let first_index = r * plan.conns_per_room();
        let first_slot = r * per_room;
        for j in 0..plan.listeners {
            let listener = Listener {
                index: first_index + j,
                room: room.clone(),
                receiver: Some(receiver(first_index + j, first_slot + j)),
            };
            spawned
                .listeners
                .push(tokio::spawn(listener.run(run.clone(), ready.clone())));
        }
        let index = first_index + plan.listeners;
        let pace = match plan.speed {
            // Rooms' publishers spread over the period instead of ticking together.
            Speed::Rate(rate) => Pace::Rate {
                rate,
                phase: r as f64 / plan.rooms.len() as f64,
            },
            Speed::Window(size) => Pace::Window {
                size,
                watch: (!watched.is_empty()).then(|| Watch {
                    progress: progress.clone(),
                    slots: watched.clone(),
                    wake: wake.clone(),
                }),
            },
        };
        let publisher = Publisher {
            index,
            room: room.clone(),
            pace,
            ack: plan.ack,
            receiver: plan
                .publisher_receives
                .then(|| receiver(index, first_slot + plan.listeners)),
        };
        let (total, total_rx) = oneshot::channel();
        spawned.totals.push(total_rx);
        spawned.publishers.push(tokio::spawn(publisher.run(
            run.clone(),
            ready.clone(),
            total,
        )));
    }
    spawned
}

/// Waits until every receiver has reached its publisher's total, or `--drain` is up.
/// Returns whether all caught up, and how long it took.
async fn drain(
    plan: &Plan,
    totals: Vec<oneshot::Receiver<u64>>,
    progress: &Progress,
) -> (bool, f64) {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + plan.drain;
    let mut known = Vec::with_capacity(totals.len());
    for total in totals {
        // A publisher that does not answer by the deadline leaves its room unknown.
        known.push(
            tokio::time::timeout_at(deadline, total)
                .await
                .ok()
                .and_then(Result::ok),
        );
    }
    let per_room = plan.receivers_per_room();
    let caught_up = |slot: usize| known[slot / per_room].is_some_and(|t| progress.get(slot) >= t);
    let drained = loop {
        if (0..plan.rooms.len() * per_room).all(caught_up) {
            break true;
        }
        if tokio::time::Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    };
    (drained, started.elapsed().as_secs_f64())
}

/// Losses of every receiver, added up.
struct Settled {
    expected: u64,
    loss: Loss,
    receivers_with_loss: u64,
    malformed: u64,
}

/// Settles each receiver against its room's total; a room whose publisher never came
/// up has nothing to lose.
fn settle(plan: &Plan, sent: &[Option<u64>], receivers: &[ReceiverReport]) -> Settled {
    let per_room = plan.receivers_per_room().max(1);
    let mut out = Settled {
        expected: 0,
        loss: Loss {
            exact: true,
            ..Loss::default()
        },
        receivers_with_loss: 0,
        malformed: 0,
    };
    for r in receivers {
        out.malformed += r.malformed;
        let Some(total) = sent[r.slot / per_room] else {
            continue;
        };
        let loss = r.tracker.loss(total);
        out.expected += total;
        out.loss.lost += loss.lost;
        out.loss.tail += loss.tail;
        out.loss.reordered += loss.reordered;
        out.loss.duplicates += loss.duplicates;
        out.loss.exact &= loss.exact;
        out.receivers_with_loss += u64::from(loss.lost > 0);
    }
    out
}

fn line(last: &Counts, total: &Counts) -> String {
    let mut s = format!(
        "published {}/s  deliveries {}/s",
        human(last.published as f64),
        human(last.deliveries as f64)
    );
    if total.acks + total.ack_errors > 0 {
        s.push_str(&format!("  acks {}/s", human(last.acks as f64)));
    }
    s.push_str(&format!("  disconnected {}", total.disconnected));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::SeqTracker;

    fn plan(listeners: usize, rooms: usize, publisher_receives: bool) -> Plan {
        Plan {
            name: "test",
            rooms: (0..rooms).map(|r| format!("r{r}")).collect(),
            listeners,
            publisher_receives,
            speed: Speed::Window(64),
            ack: false,
            drain: Duration::ZERO,
        }
    }

    #[test]
    fn watches_the_first_and_last_receiver_of_each_room() {
        let p = plan(1000, 1, false);
        assert_eq!(p.watched(0), vec![0, 999]);
        let p = plan(9, 3, true);
        assert_eq!(p.receivers_per_room(), 10);
        // Slot 29 is the publisher's own copy: not watched.
        assert_eq!(p.watched(2), vec![20, 28]);
        let p = plan(1, 2, false);
        assert_eq!(p.watched(1), vec![1]);
        let p = plan(0, 2, true);
        assert_eq!(p.watched(1), vec![1]);
        let p = plan(0, 2, false);
        assert!(p.watched(1).is_empty());
    }

    #[test]
    fn settles_each_receiver_against_its_rooms_total() {
        let p = plan(2, 2, false);
        let tracker = |seqs: &[u64]| {
            let mut t = SeqTracker::default();
            seqs.iter().for_each(|&s| t.observe(s));
            t
        };
        let receivers = [
            ReceiverReport {
                slot: 0,
                tracker: tracker(&[0, 1, 2]),
                malformed: 0,
            },
            // Missed seq 1 and the tail seq 2.
            ReceiverReport {
                slot: 1,
                tracker: tracker(&[0]),
                malformed: 1,
            },
            // Room 1's publisher never came up: nothing to lose.
            ReceiverReport {
                slot: 2,
                tracker: tracker(&[]),
                malformed: 0,
            },
        ];
        let s = settle(&p, &[Some(3), None], &receivers);
        assert_eq!(
            (s.loss.lost, s.loss.tail, s.receivers_with_loss, s.malformed),
            (2, 2, 1, 1)
        );
        assert_eq!(s.expected, 6);
    }
}

//! Stored messages arriving from a cluster's shared store: delivered in their stream's
//! order, each once, with no silent hole.
//!
//! On a node of a cluster whose store announces its appends ([`crate::Store::announces`]),
//! the writer thread appends and acknowledges but does not deliver: every node — the one
//! that appended included — delivers a stored message when its [`Notice`] comes through the
//! broker. Under the gate, a stream's last delivered position says what comes next:
//!
//! * the next offset is delivered;
//! * an offset already delivered is dropped (a notice heard twice, or a message a join's
//!   replay already gave);
//! * an offset beyond the next means notices were missed (the broker's link dropped): the
//!   notice waits, and the missing messages are read from the store on the reader thread
//!   (`fill`), then delivered before it. Messages the store no longer has (retention took
//!   them meanwhile) are counted as lost; what follows carries its offsets, so a client
//!   sees the jump — it is never silent.
//! * a notice of another epoch starts the stream anew: the store lost its history, and the
//!   new epoch tells clients so.
//!
//! When the broker's link comes back, every stream this node delivers is compared with the
//! store's position (`resync`): what was announced while the node could not hear is read
//! and delivered the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::offsets::OffsetKey;
use super::streams::Stream;
use crate::cluster::Notice;
use crate::{Broadcast, ConnId, Event, Outbound, StreamPos};

/// Most messages one read of a fill asks for; a longer gap takes several.
pub(super) const FILL_PAGE: usize = 1024;

/// Counters of what arrived.
#[derive(Debug, Default)]
pub struct ArrivalStats {
    /// Stored messages missed by the broker and read from the store instead.
    pub filled: AtomicU64,
    /// Stored messages missed by the broker that the store no longer had.
    pub lost: AtomicU64,
    /// Announcements of messages already delivered here (dropped).
    pub duplicates: AtomicU64,
}

/// Tells to run once the gate is released.
pub(super) type Tells = Vec<Box<dyn FnOnce() + Send>>;

/// What the gate decides for a notice: deliver it, or have the gap before it read.
pub(super) enum Next {
    Done,
    /// Read the stream after this position, then call [`filled`] with this round.
    Fill(StreamPos, u64),
}

/// A notice arrived: delivered, dropped, or kept until the gap before it is filled.
pub(super) fn arrive(
    key: &OffsetKey,
    stats: &ArrivalStats,
    state: &mut Stream,
    notice: Notice,
    tells: &mut Tells,
) -> Next {
    let same_epoch = state
        .delivered
        .as_ref()
        .is_none_or(|d| d.epoch == notice.pos.epoch);
    if state.waiting.filling {
        if same_epoch {
            state.waiting.early.insert(notice.pos.offset, notice);
            return Next::Done;
        }
        // The store lost the stream's history (a new epoch): what waited for the gap before
        // it belongs to the old one; the stream starts anew here.
        let missed = std::mem::take(&mut state.waiting.early).len() as u64;
        stats.lost.fetch_add(missed, Ordering::Relaxed);
        state.waiting.filling = false;
    }
    if let Some(delivered) = &state.delivered {
        if delivered.epoch == notice.pos.epoch {
            if notice.pos.offset <= delivered.offset {
                stats.duplicates.fetch_add(1, Ordering::Relaxed);
                return Next::Done;
            }
            if notice.pos.offset > delivered.offset + 1 {
                let after = delivered.clone();
                state.waiting.filling = true;
                state.waiting.round += 1;
                state.waiting.early.insert(notice.pos.offset, notice);
                return Next::Fill(after, state.waiting.round);
            }
        }
    }
    deliver(key, state, notice, tells);
    Next::Done
}

/// A fill's read came back (`None`: it failed): what it has is delivered, then the notices
/// that waited, in order. Returns the next read when the gap is longer than one page. A
/// read of a fill given up meanwhile (`round` is not the stream's) changes nothing.
pub(super) fn filled(
    key: &OffsetKey,
    stats: &ArrivalStats,
    state: &mut Stream,
    stream: &Arc<str>,
    (read, round): (Option<crate::Page>, u64),
    tells: &mut Tells,
) -> Next {
    if !state.waiting.filling || state.waiting.round != round {
        return Next::Done;
    }
    let mut full_page = false;
    if let (Some(page), Some(delivered)) = (read, state.delivered.clone()) {
        full_page = page.entries.len() >= FILL_PAGE;
        if page.pos.epoch == delivered.epoch {
            for entry in page.entries {
                let last = state.delivered.as_ref().map_or(0, |d| d.offset);
                if entry.offset <= last {
                    continue;
                }
                stats.filled.fetch_add(1, Ordering::Relaxed);
                let notice = Notice {
                    stream: stream.clone(),
                    pos: StreamPos {
                        epoch: page.pos.epoch.clone(),
                        offset: entry.offset,
                    },
                    seq: entry.seq,
                    event: entry.event,
                };
                deliver(key, state, notice, tells);
            }
        }
    }
    if full_page {
        if let Some(delivered) = &state.delivered {
            // More to read.
            return Next::Fill(delivered.clone(), round);
        }
    }
    // The notices that waited, in order; a gap the read could not fill is lost.
    while let Some((&offset, _)) = state.waiting.early.first_key_value() {
        let Some(delivered) = state.delivered.clone() else {
            break;
        };
        if offset <= delivered.offset {
            state.waiting.early.pop_first();
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let (_, notice) = state.waiting.early.pop_first().expect("a first entry");
        if notice.pos.epoch == delivered.epoch && offset > delivered.offset + 1 {
            let missed = offset - delivered.offset - 1;
            stats.lost.fetch_add(missed, Ordering::Relaxed);
            tracing::warn!(
                stream = %stream.replace('\u{1f}', " "),
                missed,
                "cluster: stored messages missed by this node are no longer in the store"
            );
        }
        deliver(key, state, notice, tells);
    }
    state.waiting.filling = false;
    Next::Done
}

/// Delivers a notice's message to the room's members here: the stream's position moves to
/// it, and live joins waiting for their position hear the one before it.
fn deliver(key: &OffsetKey, state: &mut Stream, notice: Notice, tells: &mut Tells) {
    let Notice {
        pos, seq, event, ..
    } = notice;
    let before = StreamPos {
        epoch: pos.epoch.clone(),
        offset: pos.offset.saturating_sub(1),
    };
    for waiter in state.waiters.drain(..) {
        let (at, before) = (waiter.at, before.clone());
        tells.push(Box::new(move || at(Ok(before))));
    }
    state.delivered = Some(pos.clone());
    let Some(home) = &state.home else { return };
    let Some(rooms) = home.rooms.upgrade() else {
        return;
    };
    let except = event
        .except
        .as_deref()
        .and_then(|id| id.parse::<ConnId>().ok());
    let mut event = Event::from_stored(rooms.name().clone(), home.room.clone(), event, pos, seq);
    key.stamp(&mut event);
    rooms.deliver(
        &home.room,
        except,
        Outbound::Shared(Broadcast::event(event)),
    );
}

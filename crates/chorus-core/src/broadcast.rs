//! [`Broadcast`]: a message shared by many recipients, encoded at most once per wire format.
//!
//! Fan-out puts the *same* broadcast (behind an `Arc`) on every recipient's queue; the
//! first writer that needs a given [`Format`] encodes it and caches the bytes, every other
//! writer of that format reuses them. A broadcast to ten thousand native clients is encoded
//! once.

use std::sync::{Arc, OnceLock};

use crate::format::MAX_FORMATS;
use crate::{Encoded, Event, Format, PresenceNotice};

/// A message shared by many recipients, encoded at most once per wire format.
#[derive(Debug)]
pub struct Broadcast {
    body: Body,
    pub(crate) weight: usize,
    encoded: [OnceLock<Option<Encoded>>; MAX_FORMATS],
}

/// Bytes a broadcast is counted as on a queue before it is encoded: its data and names,
/// plus room for the envelope.
const ENVELOPE: usize = 96;

#[derive(Debug)]
enum Body {
    Event(Event),
    Presence(PresenceNotice),
}

impl Broadcast {
    /// Wraps an event.
    pub fn event(event: Event) -> Arc<Self> {
        let weight = ENVELOPE
            + event.name.len()
            + event.data.len()
            + event.room.as_ref().map_or(0, |r| r.len());
        Arc::new(Self {
            body: Body::Event(event),
            weight,
            encoded: Default::default(),
        })
    }

    /// Wraps a presence notice.
    pub fn presence(notice: PresenceNotice) -> Arc<Self> {
        let weight = ENVELOPE
            + notice.room.len()
            + notice.member.name.len()
            + notice.member.data.as_ref().map_or(0, |d| d.get().len());
        Arc::new(Self {
            body: Body::Presence(notice),
            weight,
            encoded: Default::default(),
        })
    }

    /// The event, if this is one.
    pub fn as_event(&self) -> Option<&Event> {
        match &self.body {
            Body::Event(event) => Some(event),
            Body::Presence(_) => None,
        }
    }

    /// The message for `format`, encoding it on first use; `None` if this message has no
    /// form in that format (the format's encoder says so).
    pub fn encoded(&self, format: Format) -> Option<&Encoded> {
        self.encoded[format.index()]
            .get_or_init(|| {
                let encoder = format.encoder();
                match &self.body {
                    Body::Event(event) => encoder.event(event),
                    Body::Presence(notice) => encoder.presence(notice),
                }
            })
            .as_ref()
    }
}

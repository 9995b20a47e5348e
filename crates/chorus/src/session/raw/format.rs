//! The plain WebSocket wire format: a raw client receives only plain messages — a raw
//! room's messages, delivered as they came, and replayed from its history as they were
//! stored ([`chorus_core::Event::raw`]). Events of other protocols and presence have no form
//! here.

use std::sync::LazyLock;

use chorus_core::{Encode, Encoded, Event, Format};

/// The raw format, registered once.
pub(crate) fn raw() -> Format {
    static FORMAT: LazyLock<Format> = LazyLock::new(|| Format::register(&Raw));
    *FORMAT
}

struct Raw;

impl Encode for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn event(&self, event: &Event) -> Option<Encoded> {
        event.as_raw().map(Encoded::One)
    }
}

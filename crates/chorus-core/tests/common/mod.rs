//! Wire formats for the hub's tests, registered here as any protocol registers its own:
//! the hub needs a format to deliver anything, and knows none itself.

#![allow(dead_code)] // each test file uses some of them

use std::sync::LazyLock;

use chorus_core::{Encode, Encoded, Event, Format, Outbound, PresenceNotice};
use chorus_proto::WsMessage;

/// `event <name> <room> <data>` for events, `presence <action> <room> <name>` for notices.
struct Lines;

impl Encode for Lines {
    fn name(&self) -> &'static str {
        "test-lines"
    }

    fn event(&self, event: &Event) -> Option<Encoded> {
        let data = event.data.to_json().map(|raw| raw.get().to_owned());
        let room = event.room.as_deref().unwrap_or("-");
        let text = format!("event {} {room} {}", event.name, data.unwrap_or_default());
        Some(WsMessage::text(text).into())
    }

    fn presence(&self, notice: &PresenceNotice) -> Option<Encoded> {
        let text = format!(
            "presence {:?} {} {}",
            notice.action, notice.room, notice.member.name
        );
        Some(WsMessage::text(text).into())
    }
}

/// Events as their name in upper case; no presence at all.
struct Shout;

impl Encode for Shout {
    fn name(&self) -> &'static str {
        "test-shout"
    }

    fn event(&self, event: &Event) -> Option<Encoded> {
        Some(WsMessage::text(event.name.to_uppercase()).into())
    }
}

static LINES: LazyLock<Format> = LazyLock::new(|| Format::register(&Lines));
static SHOUT: LazyLock<Format> = LazyLock::new(|| Format::register(&Shout));

pub(crate) fn lines() -> Format {
    *LINES
}

pub(crate) fn shout() -> Format {
    *SHOUT
}

/// The first message of an item, as text, for a connection speaking `format`.
pub(crate) fn text(item: &Outbound, format: Format) -> String {
    let msg = item
        .messages_for(format)
        .first()
        .expect("a form in this format");
    String::from_utf8(msg.payload.to_vec()).unwrap()
}

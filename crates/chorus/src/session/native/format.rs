//! The native protocol's wire format: how an event or a presence notice reaches a `/ws`
//! client (`docs/protocol.md`).

use std::sync::{Arc, LazyLock};

use chorus_core::{Encode, Encoded, Event, EventData, Format, PresenceAction, PresenceNotice};
use chorus_proto::native::{self, push};
use chorus_proto::WsMessage;
use serde_json::value::RawValue;

/// The native format, registered once.
pub(crate) fn native() -> Format {
    static FORMAT: LazyLock<Format> = LazyLock::new(|| Format::register(&Native));
    *FORMAT
}

struct Native;

impl Encode for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn event(&self, event: &Event) -> Option<Encoded> {
        Some(encode_event(event, None).into())
    }

    fn presence(&self, notice: &PresenceNotice) -> Option<Encoded> {
        let id = notice.member.id.to_string();
        let action = match notice.action {
            PresenceAction::Join => push::PresenceAction::Join,
            PresenceAction::Leave => push::PresenceAction::Leave,
            PresenceAction::Update => push::PresenceAction::Update,
        };
        let member = push::Member {
            id: &id,
            name: &notice.member.name,
            data: notice.member.data.as_deref(),
        };
        Some(push::presence(&notice.room, action, &member).into())
    }
}

/// An `event` push, asking the client to acknowledge it with `ack` when given.
pub(crate) fn encode_event(event: &Event, ack: Option<u64>) -> WsMessage {
    static NULL: LazyLock<Box<RawValue>> =
        LazyLock::new(|| RawValue::from_string("null".into()).expect("null is JSON"));
    let id;
    let from = match &event.from {
        Some(sender) => {
            id = sender.id.to_string();
            Some(push::Sender {
                id: &id,
                name: &sender.name,
            })
        }
        None => None,
    };
    let json = event.data.to_json();
    push::EventPush {
        event: &event.name,
        data: match (&event.data, &json) {
            (EventData::Binary(bytes), _) => push::EventData::Binary(bytes),
            (_, Some(raw)) => push::EventData::Json(raw),
            (_, None) => push::EventData::Json(&NULL),
        },
        room: event.room.as_deref(),
        from,
        ack,
        pos: event.pos.as_ref().map(|p| (&*p.epoch, p.offset)),
    }
    .encode()
}

/// A command's payload as event data.
pub(crate) fn event_data(payload: native::command::Payload) -> EventData {
    match payload {
        native::command::Payload::Json(raw) => EventData::Json(raw),
        native::command::Payload::Binary(bytes) => EventData::Binary(bytes),
    }
}

/// An event of namespace `namespace` for one native client (not a broadcast).
pub(crate) fn event_to(namespace: &Arc<str>, name: &str, data: EventData, ack: u64) -> WsMessage {
    let event = Event {
        namespace: namespace.clone(),
        name: Arc::from(name),
        data,
        room: None,
        from: None,
        pos: None,
        seq: 0,
        offset: None,
    };
    encode_event(&event, Some(ack))
}

//! The replies of `history` (and the `position` of `join`): a room's stored events as the
//! native protocol shows them.

use std::sync::Arc;

use chorus_core::{Event, StreamPos};

pub(crate) fn position_json(pos: &StreamPos) -> serde_json::Value {
    serde_json::json!({ "epoch": &*pos.epoch, "offset": pos.offset })
}

/// A `history` reply: the events as the native protocol shows them (binary data as
/// `{"$binary": base64}`, since a reply is JSON).
pub(crate) fn history_json(room: &str, page: &chorus_core::Page) -> serde_json::Value {
    use base64::Engine as _;
    let events: Vec<serde_json::Value> = page
        .entries
        .iter()
        .map(|entry| {
            let stored = &entry.event;
            let data: serde_json::Value = match stored.kind {
                chorus_core::DataKind::Binary => serde_json::json!({
                    "$binary": base64::engine::general_purpose::STANDARD.encode(&stored.data)
                }),
                _ => {
                    let event = Event::from_stored(
                        Arc::from("/"),
                        Arc::from(room),
                        stored.clone(),
                        StreamPos {
                            epoch: page.pos.epoch.clone(),
                            offset: entry.offset,
                        },
                        entry.seq,
                    );
                    event
                        .data
                        .to_json()
                        .and_then(|raw| serde_json::from_str(raw.get()).ok())
                        .unwrap_or(serde_json::Value::Null)
                }
            };
            let mut value = serde_json::json!({
                "event": &*stored.name,
                "data": data,
                "offset": entry.offset,
                "time": stored.time_ms,
            });
            if let Some((id, name)) = &stored.from {
                value["from"] = serde_json::json!({ "id": &**id, "name": &**name });
            }
            value
        })
        .collect();
    serde_json::json!({
        "room": room,
        "position": position_json(&page.pos),
        "events": events,
        "truncated": page.truncated,
    })
}

//! What a native client's protocol does for the event layer: events that ask for an
//! answer, answers to the client's own events (replies to its request ids), and the
//! server's disconnect.

use std::sync::Arc;

use base64::Engine as _;
use chorus_core::{ConnId, EventData, Outbound};
use chorus_proto::native::{push, ErrorCode, Rid};
use serde_json::value::RawValue;

use crate::events::wire::{Answer, Disconnect, Responder, Wire};

/// A native socket's protocol.
pub(crate) struct NativeWire;

impl Wire for NativeWire {
    fn event_with_ack(
        &self,
        namespace: &Arc<str>,
        name: &str,
        data: EventData,
        id: u64,
    ) -> Outbound {
        Outbound::Message(super::format::event_to(namespace, name, data, id))
    }

    /// A native client's connection is closed (1000); the socket goes with it.
    fn disconnect(&self, _namespace: &Arc<str>, _id: ConnId) -> Disconnect {
        Disconnect {
            notice: None,
            gone: false,
            close_connection: true,
        }
    }
}

/// The reply to a client's request id.
pub(crate) struct Reply(pub(crate) Rid);

impl Responder for Reply {
    fn answer(self: Box<Self>, answer: Answer<'_>) -> Outbound {
        let rid = &self.0;
        Outbound::Message(match answer {
            Answer::Json(raw) => {
                if raw.get().trim_start().starts_with('{') {
                    push::reply_ok(rid, &raw)
                } else {
                    push::reply_ok(rid, &serde_json::json!({ "value": raw }))
                }
            }
            Answer::Data(data) => {
                let value: serde_json::Value = match data.to_json() {
                    Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
                    None => serde_json::json!({ "$binary": match &data {
                        EventData::Binary(bytes) =>
                            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                        _ => None,
                    } }),
                };
                let result = if value.is_object() {
                    value
                } else {
                    serde_json::json!({ "value": value })
                };
                push::reply_ok(rid, &result)
            }
            Answer::Error(message) => push::reply_err(rid, ErrorCode::BadRequest, message),
            Answer::Nothing => push::reply_ok(rid, &serde_json::json!({})),
        })
    }

    /// A client that asked for a reply gets `{}` when the handler sends none.
    fn unanswered(self: Box<Self>) -> Option<Outbound> {
        let empty = RawValue::from_string("{}".into()).expect("JSON");
        Some(Outbound::Message(push::reply_ok(&self.0, &empty)))
    }
}

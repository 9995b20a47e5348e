//! [`Data`]: what a handler receives, parsed only if the handler asks.

use bytes::Bytes;
use chorus_core::EventData;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// An event's data, parsed only if the handler asks.
///
/// A native client's event carries one value. A Socket.IO client's emit carries any number
/// of arguments: one argument arrives as that value, several as a JSON array of them (so
/// `data.parse::<(String, u32)>()` takes two arguments apart), binary values where they were.
#[derive(Debug, Clone)]
pub struct Data(pub(crate) EventData);

impl Data {
    /// Wraps event data.
    pub fn new(data: EventData) -> Self {
        Data(data)
    }

    /// Deserialises JSON data into `T` (several arguments as a tuple or a `Vec`).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match &self.0 {
            EventData::Json(raw) => serde_json::from_str(raw.get()),
            EventData::Args { args, attachments } if attachments.is_empty() => {
                serde_json::from_str(args.get())
            }
            EventData::Args { .. } | EventData::Binary(_) => Err(serde::de::Error::custom(
                "binary data, not JSON: use Data::bytes or Data::attachments",
            )),
        }
    }

    /// The JSON text, if the data is JSON without binary parts.
    pub fn json_text(&self) -> Option<&str> {
        match &self.0 {
            EventData::Json(raw) => Some(raw.get()),
            EventData::Args { args, attachments } if attachments.is_empty() => Some(args.get()),
            _ => None,
        }
    }

    /// The arguments one by one: one for a single value, each element for several
    /// arguments (binary ones as Socket.IO placeholders), none for binary data.
    pub fn args(&self) -> Vec<&RawValue> {
        match &self.0 {
            EventData::Json(raw) => vec![raw],
            EventData::Args { args, .. } => serde_json::from_str(args.get()).unwrap_or_default(),
            EventData::Binary(_) => Vec::new(),
        }
    }

    /// Argument `index` on its own, binary parts kept: what a handler forwards when it
    /// relays one argument of several (`socket.on("to-room", (room, event, data) => …)`).
    /// Index 0 of single-valued data is the data itself.
    pub fn arg(&self, index: usize) -> Option<Data> {
        match &self.0 {
            EventData::Json(_) | EventData::Binary(_) => (index == 0).then(|| self.clone()),
            EventData::Args { args, attachments } => {
                let items: Vec<&RawValue> = serde_json::from_str(args.get()).ok()?;
                let item = *items.get(index)?;
                if attachments.is_empty() || !item.get().contains("_placeholder") {
                    return Some(Data(EventData::Json(item.to_owned())));
                }
                if let Some(num) = chorus_proto::socketio::placeholder_num(item) {
                    return attachments
                        .get(num)
                        .map(|bytes| Data(EventData::Binary(bytes.clone())));
                }
                // Placeholders inside keep their numbers: all attachments go along.
                let args = RawValue::from_string(format!("[{}]", item.get())).ok()?;
                Some(Data(EventData::Args {
                    args,
                    attachments: attachments.clone(),
                }))
            }
        }
    }

    /// The data as Socket.IO arguments: a JSON array in which binary values are
    /// placeholders, and the binary values they stand for. The way to build new data
    /// around what a client sent (wrap it in an object, add arguments) without losing its
    /// binary parts.
    pub fn to_args(&self) -> (Box<RawValue>, Vec<Bytes>) {
        match &self.0 {
            EventData::Json(raw) => (
                RawValue::from_string(format!("[{}]", raw.get())).expect("an array of JSON"),
                Vec::new(),
            ),
            EventData::Binary(bytes) => (
                RawValue::from_string(format!(
                    "[{}]",
                    chorus_proto::socketio::placeholder(0).get()
                ))
                .expect("an array of JSON"),
                vec![bytes.clone()],
            ),
            EventData::Args { args, attachments } => (args.clone(), attachments.clone()),
        }
    }

    /// The bytes, if the data is one binary value.
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.0 {
            EventData::Binary(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The binary values carried inside the arguments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        match &self.0 {
            EventData::Binary(bytes) => std::slice::from_ref(bytes),
            EventData::Args { attachments, .. } => attachments,
            EventData::Json(_) => &[],
        }
    }

    /// A string, if the data is a JSON string.
    pub fn as_str(&self) -> Option<String> {
        self.parse::<String>().ok()
    }

    /// The underlying event data.
    pub fn into_inner(self) -> EventData {
        self.0
    }

    /// The underlying event data, borrowed.
    pub fn inner(&self) -> &EventData {
        &self.0
    }
}

impl From<EventData> for Data {
    fn from(data: EventData) -> Self {
        Data(data)
    }
}

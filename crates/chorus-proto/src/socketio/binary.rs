//! Binary attachments: placeholders in the JSON, raw bytes in the frames that follow.
//!
//! A Socket.IO packet that carries binary data (`BINARY_EVENT` / `BINARY_ACK`) replaces each
//! binary value in its arguments with `{"_placeholder":true,"num":N}` and announces how many
//! attachments follow (`452-[…]`). The attachments then arrive as that many binary Engine.IO
//! messages, in order: attachment `N` is the `N`th.
//!
//! The codec keeps the arguments as JSON text and the attachments as [`Bytes`] beside them,
//! so relaying a binary event needs neither to be rebuilt. This module checks that the two
//! agree ([`check_placeholders`]) and collects the frames ([`Attachments`]).

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::error::DecodeError;

/// The placeholder object standing for attachment `num`: `{"_placeholder":true,"num":N}`,
/// as JSON ready to pass in [`Args`](super::Args) or splice into an arguments array.
pub fn placeholder(num: usize) -> Box<RawValue> {
    RawValue::from_string(format!(r#"{{"_placeholder":true,"num":{num}}}"#))
        .expect("a placeholder is JSON")
}

/// If `value` is exactly a placeholder object `{"_placeholder":true,"num":N}` (keys in any
/// order, no other keys, `N` a non-negative integer), `N`.
pub fn placeholder_num(value: &RawValue) -> Option<usize> {
    if !value.get().starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Value>(value.get()).ok()? {
        Value::Object(map) => exact_placeholder(&map),
        _ => None,
    }
}

/// Checks that every placeholder nested anywhere in `args` refers to an attachment below
/// `count`, and that every attachment `0..count` is referred to at least once.
///
/// An object whose `_placeholder` is `true` is a placeholder and must be exactly one (see
/// [`placeholder_num`]); other objects are ordinary data and are searched for placeholders.
pub fn check_placeholders(args: &RawValue, count: usize) -> Result<(), DecodeError> {
    let value: Value =
        serde_json::from_str(args.get()).map_err(|err| DecodeError::BadJson(err.to_string()))?;
    let mut seen = Vec::new();
    // An explicit stack rather than recursion: the depth is whatever the client sent.
    let mut stack = vec![&value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {
                let num = exact_placeholder(map).ok_or(DecodeError::BadPlaceholder)?;
                if num >= count {
                    return Err(DecodeError::PlaceholderOutOfRange { num, count });
                }
                seen.push(num);
            }
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    seen.sort_unstable();
    seen.dedup();
    // `seen` holds distinct numbers below `count`, sorted: the first gap is the first
    // attachment nobody refers to.
    let referenced = seen
        .iter()
        .enumerate()
        .position(|(i, &num)| i != num)
        .unwrap_or(seen.len());
    if referenced < count {
        return Err(DecodeError::UnusedAttachment(referenced));
    }
    Ok(())
}

fn exact_placeholder(map: &Map<String, Value>) -> Option<usize> {
    if map.len() != 2 || map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    usize::try_from(map.get("num")?.as_u64()?).ok()
}

/// The attachments of one binary packet, collected as their frames arrive.
///
/// The session creates one after decoding a packet with [`attachments`] > 0, pushes each
/// following binary message into it, and hands the packet on once [`push`] says it is
/// complete. A frame beyond the announced count is a protocol error, not a new packet.
///
/// [`attachments`]: super::Packet::attachments
/// [`push`]: Attachments::push
#[derive(Debug, Clone, Default)]
pub struct Attachments {
    expected: usize,
    received: Vec<Bytes>,
}

impl Attachments {
    /// Waits for `expected` attachments.
    pub fn new(expected: usize) -> Self {
        Self {
            expected,
            // Not `with_capacity(expected)`: the count came from the client.
            received: Vec::new(),
        }
    }

    /// Adds the next attachment; `Ok(true)` once all announced attachments are in.
    pub fn push(&mut self, attachment: Bytes) -> Result<bool, DecodeError> {
        if self.is_complete() {
            return Err(DecodeError::ExtraAttachment(self.expected));
        }
        self.received.push(attachment);
        Ok(self.is_complete())
    }

    /// True when every announced attachment has arrived.
    pub fn is_complete(&self) -> bool {
        self.received.len() >= self.expected
    }

    /// How many attachments the packet announced.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// The attachments received so far, in order: index `N` is placeholder `N`.
    pub fn into_vec(self) -> Vec<Bytes> {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn placeholder_text() {
        assert_eq!(placeholder(0).get(), r#"{"_placeholder":true,"num":0}"#);
        assert_eq!(
            placeholder(usize::MAX).get(),
            format!(r#"{{"_placeholder":true,"num":{}}}"#, usize::MAX)
        );
        assert_eq!(placeholder_num(&placeholder(7)), Some(7));
    }

    #[test]
    fn placeholder_num_is_exact() {
        assert_eq!(
            placeholder_num(&raw(r#"{ "num" : 3, "_placeholder" : true }"#)),
            Some(3)
        );
        for not in [
            r#"{"_placeholder":false,"num":0}"#,
            r#"{"_placeholder":true}"#,
            r#"{"_placeholder":true,"num":-1}"#,
            r#"{"_placeholder":true,"num":1.5}"#,
            r#"{"_placeholder":true,"num":"1"}"#,
            r#"{"_placeholder":true,"num":0,"x":1}"#,
            r#"{"_placeholder":"true","num":0}"#,
            r#"[{"_placeholder":true,"num":0}]"#,
            r#"{}"#,
            "null",
        ] {
            assert_eq!(placeholder_num(&raw(not)), None, "{not}");
        }
    }

    #[test]
    fn placeholders_match_attachments() {
        let args = raw(
            r#"[{"_placeholder":true,"num":0},{"a":[{"num":1,"_placeholder":true}]},"x",{"_placeholder":true,"num":0}]"#,
        );
        assert_eq!(check_placeholders(&args, 2), Ok(()));
        assert_eq!(check_placeholders(&raw("[1,2]"), 0), Ok(()));
        // Objects that merely mention `_placeholder` are data.
        assert_eq!(
            check_placeholders(&raw(r#"[{"_placeholder":false,"num":9}]"#), 0),
            Ok(())
        );
    }

    #[test]
    fn placeholder_errors() {
        let two = raw(r#"[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
        // More placeholders than attachments.
        assert_eq!(
            check_placeholders(&two, 1),
            Err(DecodeError::PlaceholderOutOfRange { num: 1, count: 1 })
        );
        // An attachment nobody refers to.
        assert_eq!(
            check_placeholders(&two, 3),
            Err(DecodeError::UnusedAttachment(2))
        );
        assert_eq!(
            check_placeholders(&raw(r#"[{"_placeholder":true,"num":1}]"#), 2),
            Err(DecodeError::UnusedAttachment(0))
        );
        assert_eq!(
            check_placeholders(&raw("[]"), usize::MAX),
            Err(DecodeError::UnusedAttachment(0))
        );
        assert_eq!(
            check_placeholders(&raw(r#"[{"_placeholder":true,"num":"0"}]"#), 1),
            Err(DecodeError::BadPlaceholder)
        );
        assert_eq!(
            check_placeholders(&raw(r#"[{"_placeholder":true,"num":0,"extra":1}]"#), 1),
            Err(DecodeError::BadPlaceholder)
        );
    }

    #[test]
    fn attachments_collect_then_refuse_more() {
        let mut att = Attachments::new(2);
        assert_eq!(att.expected(), 2);
        assert!(!att.is_complete());
        assert_eq!(att.push(Bytes::from_static(b"a")), Ok(false));
        assert_eq!(att.push(Bytes::from_static(b"b")), Ok(true));
        assert_eq!(
            att.push(Bytes::from_static(b"c")),
            Err(DecodeError::ExtraAttachment(2))
        );
        assert_eq!(
            att.into_vec(),
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
        let mut none = Attachments::new(0);
        assert!(none.is_complete());
        assert_eq!(
            none.push(Bytes::new()),
            Err(DecodeError::ExtraAttachment(0))
        );
    }

    #[test]
    fn random_json_never_panics() {
        let mut rng = Rng::new(99);
        let seed = r#"[{"_placeholder":true,"num":0},{"a":[{"_placeholder":true,"num":1}]}]"#;
        for _ in 0..5000 {
            let text = rng.mutate(seed, 6);
            if let Ok(value) = RawValue::from_string(text) {
                let _ = placeholder_num(&value);
                let _ = check_placeholders(&value, rng.below(4));
            }
        }
    }
}

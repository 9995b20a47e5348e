//! How the seeds' Node programs turn what a client sent into text, for the Socket.IO seed
//! examples that must log and re-send it the same way: JavaScript's `String(value)` (what
//! `'msg from client' + msg` and `` `${nickname}: ${str}` `` do) and `console.log(value)`.
//!
//! Each takes an event's first argument ([`chorus::Data::arg`]`(0)`), `None` when the client
//! sent none (JavaScript's `undefined`). Included with `#[path]` by the examples that need
//! it, so each uses only part of it.

#![allow(dead_code)]

use std::fmt::Write as _;

use chorus::Data;
use serde_json::Value;

/// JavaScript's `String(value)`: a string as it is, `undefined`, `null`, numbers and
/// booleans as written, an array's items joined with `,` (null items empty), any other
/// object `[object Object]`, and a Buffer (binary) decoded as UTF-8.
pub(crate) fn string(value: Option<&Data>) -> String {
    let Some(value) = value else {
        return "undefined".to_owned();
    };
    if let Some(bytes) = value.bytes() {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match value.parse::<Value>() {
        Ok(value) => js_string(&value),
        // JSON with binary parts inside: an object or array holding a Buffer.
        Err(_) => "[object Object]".to_owned(),
    }
}

fn js_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                item => js_string(item),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.to_string(),
    }
}

/// What `console.log(value)` prints, nearly: a string as it is, `undefined`, a Buffer as
/// `<Buffer 68 69>`; any other value as its JSON (Node prints those with `util.inspect`,
/// `{ a: 1 }` where this prints `{"a":1}`).
pub(crate) fn log(value: Option<&Data>) -> String {
    let Some(value) = value else {
        return "undefined".to_owned();
    };
    if let Some(bytes) = value.bytes() {
        let mut text = String::from("<Buffer");
        for byte in bytes.iter().take(50) {
            let _ = write!(text, " {byte:02x}");
        }
        if bytes.len() > 50 {
            let _ = write!(text, " ... {} more bytes", bytes.len() - 50);
        }
        text.push('>');
        return text;
    }
    if let Some(text) = value.as_str() {
        return text;
    }
    match value.json_text() {
        Some(json) => json.to_owned(),
        None => {
            let (args, _attachments) = value.to_args();
            // `[value]` with placeholders for its binary parts: the value alone.
            let json = args.get();
            json[1..json.len() - 1].to_owned()
        }
    }
}

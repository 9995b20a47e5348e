//! The hub knows no wire format: of `chorus-proto` it uses only the protocol-neutral
//! message type its formats encode into. A protocol plugs in by registering a
//! `chorus_core::Format` from its own crate (the route tests register two); this test fails
//! the day core code reaches for a protocol's codec instead.

use std::path::Path;

/// The `chorus_proto` items core code may name: one WebSocket data message, and its kind.
const ALLOWED: [&str; 2] = ["WsMessage", "MessageKind"];

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }
}

/// The item (or module) named right after each `chorus_proto::`, inside braces too.
fn named(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in text.match_indices("chorus_proto::") {
        let rest = &text[at + "chorus_proto::".len()..];
        let items = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or_default().to_owned(),
            None => rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        for item in items.split(',') {
            let item = item.trim();
            let first = item.split("::").next().unwrap_or_default();
            if !first.is_empty() {
                names.push(first.to_owned());
            }
        }
    }
    names
}

#[test]
fn core_names_no_protocol_of_chorus_proto() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "the sources were found");
    for (path, text) in &files {
        for name in named(text) {
            assert!(
                ALLOWED.contains(&name.as_str()),
                "{path} names chorus_proto::{name}: the hub must not know a protocol"
            );
        }
    }
}

#[test]
fn the_check_sees_what_it_must_refuse() {
    assert_eq!(named("use chorus_proto::native::push;"), ["native"]);
    assert_eq!(
        named("use chorus_proto::{MessageKind, socketio};"),
        ["MessageKind", "socketio"]
    );
    assert_eq!(named("chorus_proto::WsMessage::text(x)"), ["WsMessage"]);
}

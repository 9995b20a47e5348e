//! Socket.IO packets in the MessagePack parser's form (`socket.io-msgpack-parser`), as a
//! client of a `socketio_parser = "msgpack"` server sends them: any bytes in one binary
//! message. Besides "never panics" (nor overflows its stack on deep nesting), an event it
//! accepts keeps the limits and, written back as MessagePack by the server's side, reads
//! as the same event, and is written the same way again (binary values may be numbered in
//! another order — object keys are sorted — but each stays where it was).
#![no_main]

use chorus_proto::socketio::{msgpack, Limits, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok((packet, attachments)) = msgpack::decode(data, &limits) else {
        return;
    };
    assert!(attachments.len() <= limits.max_attachments);
    // The default form of the packet, as the server would have built it.
    let text = match &packet {
        Packet::Event {
            nsp, id, name, args, attachments: n,
        } => {
            let head = if *n > 0 { format!("5{n}-") } else { "2".to_owned() };
            let nsp = if nsp == "/" { String::new() } else { format!("{nsp},") };
            let id = id.map(|id| id.to_string()).unwrap_or_default();
            let inner = args.get().trim();
            let inner = &inner[1..inner.len() - 1];
            let name = serde_json::to_string(name).unwrap();
            let sep = if inner.trim().is_empty() { "" } else { "," };
            format!("{head}{nsp}{id}[{name}{sep}{inner}]")
        }
        _ => return,
    };
    let bytes = msgpack::encode(&text, &attachments).expect("an event read has a form");
    let (again, again_attachments) =
        msgpack::decode(&bytes, &limits).expect("what was written reads back");
    assert_eq!(again_attachments.len(), attachments.len());
    let Packet::Event {
        nsp, id, name, args, attachments: n,
    } = &again
    else {
        panic!("an event reads back as an event");
    };
    let Packet::Event {
        nsp: nsp0, id: id0, name: name0, ..
    } = &packet
    else {
        unreachable!();
    };
    assert_eq!((nsp, id, name), (nsp0, id0, name0));
    let head = if *n > 0 { format!("5{n}-") } else { "2".to_owned() };
    let nsp = if nsp == "/" { String::new() } else { format!("{nsp},") };
    let id = id.map(|id| id.to_string()).unwrap_or_default();
    let inner = args.get().trim();
    let inner = &inner[1..inner.len() - 1];
    let sep = if inner.trim().is_empty() { "" } else { "," };
    let name = serde_json::to_string(name).unwrap();
    let text = format!("{head}{nsp}{id}[{name}{sep}{inner}]");
    let twice = msgpack::encode(&text, &again_attachments).expect("and again");
    assert_eq!(twice, bytes, "written the same way again");
});

//! A Socket.IO client over the WebSocket transport, by hand: connect to `/`, packets
//! (answering Engine.IO pings), emits with acks, events.

use std::net::SocketAddr;

use futures::SinkExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{connect as ws_connect, recv_text, Ws};

/// Connects to namespace `/` with the CONNECT payload `auth` (`""` for none).
pub async fn connect(addr: SocketAddr, auth: &str) -> Ws {
    let mut ws = ws_connect(addr, "/socket.io/?EIO=4&transport=websocket").await;
    assert!(recv_text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text(format!("40{auth}"))).await.unwrap();
    let connected = recv(&mut ws).await;
    assert!(connected.starts_with("40{"), "{connected}");
    ws
}

/// The next Socket.IO packet, answering Engine.IO pings.
pub async fn recv(ws: &mut Ws) -> String {
    loop {
        let text = recv_text(ws).await;
        if text == "2" {
            ws.send(Message::text("3")).await.unwrap();
            continue;
        }
        return text;
    }
}

/// Emits `args` with ack id `id`; the ack's one argument.
pub async fn call(ws: &mut Ws, id: u64, args: Value) -> Value {
    ws.send(Message::text(format!("42{id}{args}")))
        .await
        .unwrap();
    loop {
        let packet = recv(ws).await;
        if let Some(rest) = packet.strip_prefix(&format!("43{id}")) {
            let args: Vec<Value> = serde_json::from_str(rest).unwrap();
            return args.into_iter().next().unwrap();
        }
    }
}

/// The next event: its arguments, name first.
pub async fn event(ws: &mut Ws) -> Vec<Value> {
    loop {
        let packet = recv(ws).await;
        if let Some(body) = packet.strip_prefix("42") {
            return serde_json::from_str(body).unwrap();
        }
    }
}

/// Answers the next `event` the server sends with an ack id, with `answer` as the ack's one
/// argument; gives back the socket and the event's arguments (its name first), a binary
/// value among them as `{"binary": [its bytes]}`.
pub fn answer_next(
    mut ws: Ws,
    event: &'static str,
    answer: Value,
) -> tokio::task::JoinHandle<(Ws, Vec<Value>)> {
    tokio::spawn(async move {
        loop {
            let packet = recv(&mut ws).await;
            // An EVENT, or a BINARY_EVENT: `45<attachments>-<id>[…]`, its binary frames next.
            let (attachments, rest) = if let Some(rest) = packet.strip_prefix("42") {
                (0, rest)
            } else if let Some((count, rest)) = packet
                .strip_prefix("45")
                .and_then(|rest| rest.split_once('-'))
            {
                (count.parse::<usize>().unwrap(), rest)
            } else {
                continue;
            };
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (id, args) = rest.split_at(digits);
            let mut args: Vec<Value> = serde_json::from_str(args).unwrap();
            let mut binaries = Vec::new();
            while binaries.len() < attachments {
                match super::recv(&mut ws).await {
                    Message::Binary(bytes) => binaries.push(bytes.to_vec()),
                    Message::Text(ping) if ping.as_str() == "2" => {
                        ws.send(Message::text("3")).await.unwrap();
                    }
                    other => panic!("expected an attachment, got {other:?}"),
                }
            }
            args.iter_mut().for_each(|arg| fill(arg, &binaries));
            if args[0] != event || id.is_empty() {
                continue;
            }
            ws.send(Message::text(format!("43{id}[{answer}]")))
                .await
                .unwrap();
            return (ws, args);
        }
    })
}

/// Puts each attachment in the place of its placeholder, as `{"binary": [bytes]}`.
fn fill(value: &mut Value, binaries: &[Vec<u8>]) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| fill(v, binaries)),
        Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {
            let num = map["num"].as_u64().unwrap() as usize;
            *value = serde_json::json!({ "binary": binaries[num] });
        }
        Value::Object(map) => map.values_mut().for_each(|v| fill(v, binaries)),
        _ => {}
    }
}

//! A Socket.IO client with connection-state recovery, spoken by hand over the WebSocket
//! transport: what socket.io-client keeps (socket id, pid, last offset) and how it
//! reconnects with them. Shared by the recovery tests of one server and of a cluster.

use std::net::SocketAddr;

use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{connect, recv_text, Ws};

const PATH: &str = "/socket.io/";

/// One Socket.IO client over a WebSocket: its socket id, pid and the last offset it saw.
pub struct Client {
    pub ws: Ws,
    pub sid: String,
    pub pid: Option<String>,
    pub offset: Option<String>,
    pub welcome: Value,
    acks: u64,
}

impl Client {
    /// Connects to `/` with this CONNECT payload.
    pub async fn connect(addr: SocketAddr, auth: Option<Value>) -> Self {
        let mut ws = connect(addr, &format!("{PATH}?EIO=4&transport=websocket")).await;
        let open = recv_text(&mut ws).await;
        assert!(open.starts_with(r#"0{"sid":""#), "{open}");
        let connect = match &auth {
            Some(auth) => format!("40{auth}"),
            None => "40".to_owned(),
        };
        ws.send(Message::text(connect)).await.unwrap();
        let mut client = Client {
            ws,
            sid: String::new(),
            pid: None,
            offset: None,
            welcome: Value::Null,
            acks: 0,
        };
        let answer = client.packet().await;
        let body: Value = serde_json::from_str(answer.strip_prefix("40").expect(&answer)).unwrap();
        client.sid = body["sid"].as_str().unwrap().to_owned();
        client.pid = body["pid"].as_str().map(str::to_owned);
        client
    }

    /// Connects, then waits for its `welcome` (events replayed before it are kept).
    pub async fn connect_welcomed(addr: SocketAddr, auth: Option<Value>) -> (Self, Vec<Value>) {
        let mut client = Self::connect(addr, auth).await;
        let mut before = Vec::new();
        loop {
            let event = client.event().await;
            if event[0] == "welcome" {
                client.welcome = event[1].clone();
                return (client, before);
            }
            before.push(event);
        }
    }

    /// The next Socket.IO packet, answering Engine.IO pings.
    pub async fn packet(&mut self) -> String {
        loop {
            let text = recv_text(&mut self.ws).await;
            if text == "2" {
                self.ws.send(Message::text("3")).await.unwrap();
                continue;
            }
            return text;
        }
    }

    /// The next event's arguments (`[name, ...args]`), remembering its offset as
    /// socket.io-client does: a string last argument.
    pub async fn event(&mut self) -> Value {
        loop {
            let packet = self.packet().await;
            let Some(body) = packet.strip_prefix("42") else {
                continue;
            };
            let args: Value = serde_json::from_str(body).unwrap();
            if let Some(Value::String(last)) = args.as_array().and_then(|a| a.last()) {
                if self.pid.is_some() && args.as_array().unwrap().len() > 1 {
                    self.offset = Some(last.clone());
                }
            }
            return args;
        }
    }

    /// Emits a built-in event and waits for its ack (events in between are dropped).
    pub async fn call(&mut self, args: Value) -> Value {
        self.acks += 1;
        let id = self.acks;
        let packet = format!("42{id}{args}");
        self.ws.send(Message::text(packet)).await.unwrap();
        loop {
            let packet = self.packet().await;
            if let Some(rest) = packet.strip_prefix(&format!("43{id}")) {
                let answer: Value = serde_json::from_str(rest).unwrap();
                return answer[0].clone();
            }
        }
    }

    pub async fn join(&mut self, room: &str) {
        let joined = self.call(json!(["join", room])).await;
        assert_eq!(joined["room"], room, "{joined}");
    }

    /// Sends `text` to the other members of `room`; returns once it is stored.
    pub async fn say(&mut self, room: &str, text: &str) {
        let sent = self.call(json!(["to", room, "said", text])).await;
        assert!(sent["offset"].is_u64(), "{sent}");
    }

    /// Drops the TCP connection without a close handshake; what the client keeps.
    pub fn drop_connection(self) -> Left {
        let left = self.left();
        drop(self.ws);
        left
    }

    /// What socket.io-client keeps to reconnect with.
    pub fn left(&self) -> Left {
        Left {
            sid: self.sid.clone(),
            pid: self.pid.clone().expect("a pid"),
            offset: self.offset.clone(),
        }
    }
}

/// A client that lost its connection: its last socket id, pid and offset.
pub struct Left {
    pub sid: String,
    pub pid: String,
    pub offset: Option<String>,
}

impl Left {
    /// Reconnects as socket.io-client does: `{pid, offset}` in the CONNECT.
    pub async fn reconnect(&self, addr: SocketAddr) -> (Client, Vec<Value>) {
        let mut auth = json!({ "pid": self.pid });
        if let Some(offset) = &self.offset {
            auth["offset"] = json!(offset);
        }
        Client::connect_welcomed(addr, Some(auth)).await
    }
}

/// The `said` texts of events, in order.
pub fn texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e[0] == "said")
        .map(|e| e[1].as_str().unwrap().to_owned())
        .collect()
}

/// Receives `n` `said` events.
pub async fn said(client: &mut Client, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let event = client.event().await;
        if event[0] == "said" {
            out.push(event[1].as_str().unwrap().to_owned());
        }
    }
    out
}

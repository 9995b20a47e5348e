//! Benchmark peer: the plain "what a Rust developer writes first" baseline.
//!
//! tokio + tokio-tungstenite with default settings. A client connecting to
//! `ws://127.0.0.1:PORT/<path>` joins the room `<path>`; every text/binary message is sent to
//! every member of the room, the sender included, with the same opcode. On close the client
//! leaves the room.
//!
//! Design (deliberately unoptimized, but correct): one global `Mutex<HashMap<room, members>>`;
//! each connection has a reader loop that broadcasts by cloning the message into each member's
//! unbounded channel, and a writer task that sends one message at a time (send = write + flush).
//!
//! Start: `PORT=9001 bench/peers/target/release/tokio-tungstenite-peer`

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

type Rooms = Arc<Mutex<HashMap<String, HashMap<u64, mpsc::UnboundedSender<Message>>>>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

async fn handle(stream: TcpStream, rooms: Rooms) {
    let mut path = String::new();
    let ws = match tokio_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
        path = req.uri().path().to_string();
        Ok(resp)
    })
    .await
    {
        Ok(ws) => ws,
        Err(_) => return,
    };

    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    rooms
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default()
        .insert(id, tx);

    let (mut sink, mut stream) = ws.split();

    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
    });

    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                let rooms = rooms.lock().unwrap();
                if let Some(members) = rooms.get(&path) {
                    for member in members.values() {
                        let _ = member.send(msg.clone());
                    }
                }
            }
            // Close: keep polling; tungstenite answers the close frame on the next read and
            // then ends the stream. Pings are answered by tungstenite itself as well.
            _ => {}
        }
    }

    // Leave the room. Dropping our sender ends the writer task once it has sent what is queued.
    {
        let mut rooms = rooms.lock().unwrap();
        if let Some(members) = rooms.get_mut(&path) {
            members.remove(&id);
            if members.is_empty() {
                rooms.remove(&path);
            }
        }
    }
    let _ = writer.await;
}

#[tokio::main] // multi-thread runtime, one worker per core
async fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    println!("tokio-tungstenite peer listening on ws://{addr}/<room>");

    let rooms: Rooms = Arc::default();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handle(stream, rooms.clone()));
            }
            Err(e) => {
                // e.g. EMFILE when the fd limit is hit: back off briefly instead of spinning.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

//! Every way a message comes in takes the hub's one route (`Namespace::publish`): each is
//! counted there (`chorus_messages_published_total`), a message to a room with history is
//! stored before it goes out and reports its offset whichever way it came, and a client's
//! rights are checked there — the same refusal, in the same words, whatever protocol the
//! client speaks.

mod common;

use std::net::SocketAddr;

use chorus::{builtin, Config, RawHandlers, Server};
use common::native::{join, reply};
use common::*;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Messages the route took in namespace `ns`.
fn published(server: &Server, ns: &str) -> u64 {
    server
        .hub()
        .get_namespace(ns)
        .map_or(0, |ns| ns.published())
}

async fn native(addr: SocketAddr, query: &str) -> Ws {
    native::connect(addr, query).await.0
}

fn served() -> Config {
    Config {
        raw_rooms: true,
        raw_room_history: vec!["/kept".into()],
        ..config()
    }
}

#[tokio::test]
async fn a_raw_frame_takes_the_route_and_is_stored_in_a_room_with_history() {
    let (server, addr) = start_with(served()).await;
    let mut raw = connect(addr, "/kept").await;
    raw.send(Message::text("first")).await.unwrap();
    assert_eq!(recv_text(&mut raw).await, "first");
    assert_eq!(published(&server, "raw"), 1);
    // Stored before it went out: a client entering later is replayed it.
    let mut later = connect(addr, "/kept").await;
    assert_eq!(recv_text(&mut later).await, "first");
    let mut plain = connect(addr, "/plain").await;
    plain.send(Message::binary(vec![1, 2])).await.unwrap();
    assert_eq!(recv(&mut plain).await, Message::binary(vec![1, 2]));
    assert_eq!(published(&server, "raw"), 2);
}

#[tokio::test]
async fn a_native_emit_takes_the_route_and_is_acknowledged_with_its_offset() {
    let (server, addr) = start_with(served()).await;
    let mut ws = native(addr, "").await;
    join(&mut ws, 1, "r").await;
    let emit = json!({"type": "emit", "rid": 2, "event": "e", "data": 1, "to": {"room": "r"}});
    send_json(&mut ws, emit).await;
    assert_eq!(reply(&mut ws, 2).await["result"]["offset"], 1);
    let emit = json!({"type": "emit", "rid": 3, "event": "e", "data": 2, "to": {"all": true}});
    send_json(&mut ws, emit).await;
    assert_eq!(reply(&mut ws, 3).await["result"]["delivered"], 1);
    assert_eq!(published(&server, "/"), 2);
}

#[tokio::test]
async fn a_socketio_event_takes_the_route_and_is_acknowledged_with_its_offset() {
    let (server, addr) = start_with(served()).await;
    builtin::install(&server.io(), true);
    let mut sio = socketio::connect(addr, "").await;
    assert_eq!(
        socketio::call(&mut sio, 1, json!(["join", "r"])).await["room"],
        "r"
    );
    let ack = socketio::call(&mut sio, 2, json!(["to", "r", "ev", 1])).await;
    assert_eq!(ack["offset"], 1, "{ack}");
    let ack = socketio::call(&mut sio, 3, json!(["broadcast", "ev", 2])).await;
    assert_eq!(ack["delivered"], 0, "{ack}");
    assert_eq!(published(&server, "/"), 2);
}

#[tokio::test]
async fn the_librarys_emits_take_the_route() {
    let (server, addr) = start_with(served()).await;
    let io = server.io();
    io.on_connection(|socket| {
        socket.on("greet", |socket, _data, ack| {
            socket.emit("welcome", &"you").unwrap();
            socket.to("r").emit("arrived", &1).unwrap();
            socket.broadcast().emit("arrived", &2).unwrap();
            ack.send(&json!({}));
        });
    });
    let mut member = native(addr, "").await;
    join(&mut member, 1, "r").await;
    let before = published(&server, "/");
    // To a room with history: stored first, so the member sees its position.
    assert_eq!(io.to("r").emit("news", &"today").unwrap(), 1);
    let event = recv_json(&mut member).await;
    assert_eq!(
        (event["event"].as_str(), event["offset"].as_u64()),
        (Some("news"), Some(1))
    );
    io.emit("everyone", &1).unwrap();
    assert_eq!(recv_json(&mut member).await["event"], "everyone");
    assert_eq!(published(&server, "/"), before + 2);

    let mut greeter = native(addr, "").await;
    send_json(
        &mut greeter,
        json!({"type": "emit", "rid": 1, "event": "greet", "data": null}),
    )
    .await;
    reply(&mut greeter, 1).await;
    assert_eq!(
        published(&server, "/"),
        before + 5,
        "socket.emit, socket.to, socket.broadcast"
    );

    let endpoint = server.raw(
        "/ep",
        RawHandlers::new().on_text(|conn, text| {
            conn.send_text(text.to_uppercase());
        }),
    );
    let mut raw = connect(addr, "/ep").await;
    raw.send(Message::text("hi")).await.unwrap();
    assert_eq!(recv_text(&mut raw).await, "HI");
    assert_eq!(endpoint.broadcast(chorus::WsMessage::text("all")), 1);
    assert_eq!(recv_text(&mut raw).await, "all");
    assert_eq!(
        published(&server, "endpoint:/ep"),
        2,
        "Conn::send, RawEndpoint::broadcast"
    );
}

#[tokio::test]
async fn a_clients_refusals_read_the_same_on_every_protocol() {
    let config = Config {
        jwt_secret: Some(SECRET.into()),
        ..served()
    };
    let (server, addr) = start_with(config).await;
    builtin::install(&server.io(), true);
    let token = hs256(json!({"sub": "u", "join": ["*"], "publish": ["open", "/open"]}));

    // Native: a room the token may not publish to.
    let mut ws = native(addr, &format!("?token={token}")).await;
    join(&mut ws, 1, "closed").await;
    let emit = json!({"type": "emit", "rid": 2, "event": "e", "data": 1, "to": {"room": "closed"}});
    send_json(&mut ws, emit).await;
    let refused = reply(&mut ws, 2).await;
    assert_eq!(refused["error"]["code"], "forbidden");
    let native_message = refused["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(
        native_message,
        r#"your token does not allow publishing to room "closed""#
    );

    // Socket.IO: the same.
    let mut sio = socketio::connect(addr, &json!({"token": token}).to_string()).await;
    socketio::call(&mut sio, 1, json!(["join", "closed"])).await;
    let ack = socketio::call(&mut sio, 2, json!(["to", "closed", "e", 1])).await;
    assert_eq!(ack["error"]["code"], "forbidden");
    assert_eq!(ack["error"]["message"], native_message);

    // Raw: the same words, as the close reason (1008).
    let mut raw = connect(addr, &format!("/closed?token={token}")).await;
    raw.send(Message::text("no")).await.unwrap();
    let (code, reason) = expect_close(&mut raw).await;
    assert_eq!(code, 1008);
    assert_eq!(
        reason,
        r#"your token does not allow publishing to room "/closed""#
    );

    // Not in the room: the same code for both event protocols.
    let emit = json!({"type": "emit", "rid": 3, "event": "e", "data": 1, "to": {"room": "open"}});
    send_json(&mut ws, emit).await;
    assert_eq!(reply(&mut ws, 3).await["error"]["code"], "not_in_room");
    let ack = socketio::call(&mut sio, 3, json!(["to", "open", "e", 1])).await;
    assert_eq!(ack["error"]["code"], "not_in_room");
    // Nothing refused was counted as published.
    assert_eq!(published(&server, "/") + published(&server, "raw"), 0);
}

#[tokio::test]
async fn a_server_without_client_emits_refuses_them_the_same_on_every_protocol() {
    let config = Config {
        client_emits: false,
        ..served()
    };
    let (server, addr) = start_with(config).await;
    builtin::install(&server.io(), true);
    let mut ws = native(addr, "").await;
    join(&mut ws, 1, "r").await;
    let emit = json!({"type": "emit", "rid": 2, "event": "e", "data": 1, "to": {"room": "r"}});
    send_json(&mut ws, emit).await;
    let refused = reply(&mut ws, 2).await;
    assert_eq!(refused["error"]["code"], "forbidden");
    let mut sio = socketio::connect(addr, "").await;
    socketio::call(&mut sio, 1, json!(["join", "r"])).await;
    let ack = socketio::call(&mut sio, 2, json!(["to", "r", "e", 1])).await;
    assert_eq!(ack["error"]["code"], "forbidden");
    assert_eq!(ack["error"]["message"], refused["error"]["message"]);
    assert_eq!(
        ack["error"]["message"],
        "this server does not let clients emit to other clients"
    );
}

//! The library API: raw endpoints with handlers, the event level with acks, and mounting
//! beside ordinary axum routes.

mod common;

use std::sync::{Arc, Mutex};

use chorus::{RawHandlers, Server};
use common::*;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Debug, PartialEq)]
struct Nick(String);

#[tokio::test]
async fn raw_endpoint_handlers_see_everything() {
    let server = Server::new(config());
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = events.clone();
    let log2 = events.clone();
    let log3 = events.clone();
    let endpoint = server.raw(
        "/talk",
        RawHandlers::new()
            .on_connection(move |conn| {
                let who = conn.query("user").unwrap_or_default();
                conn.insert_data(Nick(who.clone()));
                log.lock().unwrap().push(format!(
                    "open {who} cookie={:?} ua={:?} addr={}",
                    conn.cookie("session"),
                    conn.headers()
                        .get("user-agent")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    conn.remote_addr().is_some()
                ));
                conn.send_text("welcome");
            })
            .on_text(move |conn, text| {
                let nick = conn.data::<Nick>().unwrap();
                log2.lock().unwrap().push(format!("text {} {text}", nick.0));
                conn.send_text(format!("{}: {text}", nick.0));
            })
            .on_binary(|conn, data| {
                conn.send_binary(data.iter().rev().copied().collect::<Vec<u8>>());
            })
            .on_close(move |conn, code, reason| {
                log3.lock().unwrap().push(format!(
                    "close {} {code:?} {reason}",
                    conn.data::<Nick>().unwrap().0
                ));
            }),
    );
    let addr = start(server.clone()).await;

    let mut req = format!("ws://{addr}/talk?user=ann")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Cookie", "theme=dark; session=abc123".parse().unwrap());
    req.headers_mut()
        .insert("User-Agent", "test-agent".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "welcome");
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "ann: hello");
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(recv(&mut ws).await, Message::binary(vec![3u8, 2, 1]));

    assert_eq!(endpoint.client_count(), 1);
    let mut other = connect(addr, "/talk?user=bo").await;
    assert_eq!(recv_text(&mut other).await, "welcome");
    assert_eq!(endpoint.clients().len(), 2);
    assert_eq!(endpoint.broadcast(chorus::WsMessage::text("to all")), 2);
    assert_eq!(recv_text(&mut ws).await, "to all");
    assert_eq!(recv_text(&mut other).await, "to all");
    let ann = endpoint
        .clients()
        .into_iter()
        .find(|c| c.data::<Nick>() == Some(Nick("ann".into())))
        .unwrap();
    assert_eq!(
        endpoint.broadcast_except(chorus::WsMessage::text("not ann"), ann.id()),
        1
    );
    assert_eq!(recv_text(&mut other).await, "not ann");
    assert_silent(&mut ws).await;

    // Server-side close with code and reason, after what was queued.
    ann.send_text("last words");
    ann.close(4001, "kicked");
    assert_eq!(recv_text(&mut ws).await, "last words");
    assert_eq!(expect_close(&mut ws).await, (4001, "kicked".to_owned()));
    // Polling once more lets the client send its half of the closing handshake.
    use futures::StreamExt;
    assert!(ws.next().await.is_none_or(|m| m.is_err()));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(endpoint.client_count(), 1);

    let log = events.lock().unwrap().clone();
    assert_eq!(
        log[0],
        r#"open ann cookie=Some("abc123") ua=Some("test-agent") addr=true"#
    );
    assert!(log.contains(&"text ann hello".to_owned()), "{log:?}");
    assert!(
        log.contains(&"close ann Some(4001) kicked".to_owned()),
        "{log:?}"
    );
}

#[tokio::test]
async fn endpoint_subprotocol_allow_list() {
    let server = Server::new(config());
    server.raw("/p", RawHandlers::new().protocols(["v2.chat", "v1.chat"]));
    let addr = start(server).await;
    let mut req = format!("ws://{addr}/p").into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v1.chat, v2.chat".parse().unwrap(),
    );
    let (_, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "v2.chat");
}

#[tokio::test]
async fn event_handlers_acks_rooms_and_disconnect() {
    let server = Server::new(config());
    let io = server.io();
    let gone = Arc::new(Mutex::new(Vec::<String>::new()));
    let gone2 = gone.clone();
    let everyone = io.clone();
    io.on_connection(move |socket| {
        socket
            .emit("welcome", &json!({ "id": socket.id().to_string() }))
            .unwrap();
        let everyone = everyone.clone();
        socket.on("chat message", move |_socket, data, ack| {
            let text: String = data.parse().unwrap();
            let n = everyone.emit("chat message", &text).unwrap();
            ack.send(&json!({ "sent_to": n }));
        });
        socket.on("join", |socket, data, ack| {
            let room = data.as_str().unwrap();
            socket.join(&room).unwrap();
            socket.to(&room).emit("hello", &"someone came").unwrap();
            drop(ack); // An unanswered ack replies `{}`.
        });
        socket.on("fail", |_, _, ack| ack.error("nope"));
        socket.on("kick", |socket, _, _| socket.disconnect());
        let gone = gone2.clone();
        socket.on_disconnect(move |socket, reason| {
            gone.lock()
                .unwrap()
                .push(format!("{} {reason}", socket.name()));
        });
    });
    let addr = start(server.clone()).await;

    let mut a = connect(addr, "/ws?name=a").await;
    assert_eq!(recv_json(&mut a).await["type"], "hello");
    assert_eq!(recv_json(&mut a).await["event"], "welcome");
    let mut b = connect(addr, "/ws?name=b").await;
    assert_eq!(recv_json(&mut b).await["type"], "hello");
    assert_eq!(recv_json(&mut b).await["event"], "welcome");

    send_json(
        &mut a,
        json!({"type":"emit","rid":1,"event":"chat message","data":"hi all"}),
    )
    .await;
    let event = recv_json(&mut a).await;
    assert_eq!(
        event,
        json!({"type":"event","event":"chat message","data":"hi all"})
    );
    assert_eq!(
        recv_json(&mut a).await,
        json!({"type":"reply","rid":1,"ok":true,"result":{"sent_to":2}})
    );
    assert_eq!(recv_json(&mut b).await["data"], "hi all");

    send_json(
        &mut b,
        json!({"type":"emit","rid":2,"event":"join","data":"den"}),
    )
    .await;
    assert_eq!(
        recv_json(&mut b).await,
        json!({"type":"reply","rid":2,"ok":true,"result":{}})
    );
    // Rooms keep history here, so b's "someone came" (to nobody yet) is numbered by the
    // publisher; a join before that would be ordered before it, and a would receive it.
    // Wait until it is stored (and so delivered: a join waits for that).
    let mut stored = false;
    for rid in 100..200 {
        send_json(&mut b, json!({"type":"history","rid":rid,"room":"den"})).await;
        let reply = recv_json(&mut b).await;
        if reply["result"]["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
        {
            stored = true;
            break;
        }
        assert_eq!(reply["ok"], true, "{reply}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(stored, "the room emit was never stored");
    send_json(
        &mut a,
        json!({"type":"emit","rid":3,"event":"join","data":"den"}),
    )
    .await;
    assert_eq!(recv_json(&mut a).await["rid"], 3);
    // b sees a's presence notice and then the handler's room emit (sender excluded).
    assert_eq!(recv_json(&mut b).await["action"], "join");
    let hello = recv_json(&mut b).await;
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["room"], "den");
    assert_eq!(hello["from"]["name"], "a");
    assert_silent(&mut a).await;
    assert_eq!(io.members("den").len(), 2);

    send_json(&mut a, json!({"type":"emit","rid":4,"event":"fail"})).await;
    let reply = recv_json(&mut a).await;
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["error"]["message"], "nope");

    send_json(&mut b, json!({"type":"emit","event":"kick"})).await;
    assert_eq!(expect_close(&mut b).await.0, 1000);
    assert_eq!(recv_json(&mut a).await["action"], "leave");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(io.sockets().len(), 1);
    assert_eq!(
        gone.lock().unwrap().as_slice(),
        ["b server namespace disconnect"]
    );
}

#[tokio::test]
async fn mounted_beside_axum_routes() {
    use axum::routing::get;
    let server = Server::new(chorus::Config {
        chat_page: false,
        ..config()
    });
    server.raw(
        "/talk",
        RawHandlers::new().on_text(|conn, t| {
            conn.send_text(t);
        }),
    );
    let app: axum::Router = axum::Router::new()
        .route("/data", get(|| async { "122222" }))
        .merge(server.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let data = http_raw(
        addr,
        "GET /data HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        data.starts_with("HTTP/1.1 200") && data.ends_with("122222"),
        "{data}"
    );
    let mut ws = connect(addr, "/talk").await;
    ws.send(Message::text("ping")).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "ping");
}

#[tokio::test]
async fn http_router_shares_paths_with_websocket_endpoints() {
    use axum::routing::get;
    let server = Server::new(chorus::Config {
        chat_page: false,
        ..config()
    });
    server.raw(
        "/",
        RawHandlers::new().on_connection(|conn| {
            conn.send_text("message from server");
        }),
    );
    server.http(axum::Router::new().route("/", get(|| async { "the page" })));
    let addr = start(server).await;
    let page = http_raw(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(page.ends_with("the page"), "{page}");
    let mut ws = connect(addr, "/").await;
    assert_eq!(recv_text(&mut ws).await, "message from server");
}

#[tokio::test]
async fn on_any_hears_every_event_a_client_sends_before_its_handler() {
    let server = Server::new(config());
    let heard = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = heard.clone();
    server.io().on_connection(move |socket| {
        let any = log.clone();
        socket.on_any(move |_, event, data| {
            any.lock()
                .unwrap()
                .push(format!("{event} {}", data.json_text().unwrap_or("-")));
        });
        let log = log.clone();
        socket.on("known", move |_, _, ack| {
            log.lock().unwrap().push("handler".into());
            ack.send(&json!("ok"));
        });
    });
    let addr = start(server.clone()).await;

    // A Socket.IO client: an event with a handler (any first), one without.
    let mut sio = socketio::connect(addr, "").await;
    assert_eq!(
        socketio::call(&mut sio, 1, json!(["known", {"n": 1}])).await,
        "ok"
    );
    sio.send(Message::text(r#"42["unknown",2]"#)).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while heard.lock().unwrap().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            heard.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // A native client too.
    let (mut native_ws, _) = native::connect(addr, "").await;
    send_json(
        &mut native_ws,
        json!({"type": "emit", "rid": 1, "event": "known", "data": 3}),
    )
    .await;
    assert_eq!(native::reply(&mut native_ws, 1).await["ok"], true);
    send_json(
        &mut native_ws,
        json!({"type": "emit", "rid": 2, "event": "nobody", "data": 4}),
    )
    .await;
    assert_eq!(native::reply(&mut native_ws, 2).await["ok"], false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while heard.lock().unwrap().len() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            heard.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let heard = heard.lock().unwrap().clone();
    let sio_part: Vec<&str> = heard.iter().take(3).map(String::as_str).collect();
    assert_eq!(sio_part, [r#"known {"n":1}"#, "handler", "unknown 2"]);
    let native_part: Vec<&str> = heard.iter().skip(3).map(String::as_str).collect();
    assert_eq!(native_part, ["known 3", "handler", "nobody 4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_any_outgoing_hears_every_event_sent_to_a_socket_in_order() {
    let server = Server::new(config());
    let sent = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = sent.clone();
    server.io().on_connection(move |socket| {
        socket.join("room").unwrap();
        let log = log.clone();
        socket.on_any_outgoing(move |_, event, data| {
            log.lock()
                .unwrap()
                .push(format!("{event} {}", data.json_text().unwrap_or("-")));
        });
        let socket = socket.clone();
        socket.clone().on("start", move |_, _, _| {
            // Its own emit, one to everyone, one to its room, and one that wants an ack.
            socket.emit("direct", &1).unwrap();
            socket.io().emit("everyone", &2).unwrap();
            socket.io().to("room").emit("room", &3).unwrap();
            let asking = socket.clone();
            tokio::spawn(async move {
                let _ = asking
                    .emit_with_ack("asked", &4, std::time::Duration::from_millis(50))
                    .await;
            });
        });
    });
    let addr = start(server.clone()).await;
    let mut sio = socketio::connect(addr, "").await;
    sio.send(Message::text(r#"42["start"]"#)).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while sent.lock().unwrap().len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            sent.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // A second client's event to the room reaches the first: told too.
    let (mut other, _) = native::connect(addr, "").await;
    send_json(
        &mut other,
        json!({"type": "emit", "rid": 1, "event": "from-other", "data": 5,
               "to": {"room": "room", "except_self": true}}),
    )
    .await;
    assert_eq!(native::reply(&mut other, 1).await["ok"], true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !sent.lock().unwrap().iter().any(|s| s == "from-other 5") {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            sent.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let sent = sent.lock().unwrap().clone();
    // What the Socket.IO client heard, in its order; the native client's own emits are its
    // own socket's (the first socket is the Socket.IO one).
    // (A room keeps history by default: its event is queued once stored, after the others
    // perhaps — the listeners hear the order of the socket's queue.)
    let mut first: Vec<&str> = sent.iter().take(4).map(String::as_str).collect();
    assert_eq!(
        &first[..2],
        ["direct 1", "everyone 2"],
        "queued at once, in order"
    );
    first.sort_unstable();
    assert_eq!(first, ["asked 4", "direct 1", "everyone 2", "room 3"]);
    assert_eq!(
        sent.iter().filter(|s| s.starts_with("everyone")).count(),
        1,
        "once"
    );
}

/// A Socket.IO connection (namespace `/` joined first) that connects to namespace `ns` with
/// `auth`: the server's answer to that CONNECT.
async fn connect_namespace(ws: &mut Ws, ns: &str, auth: &str) -> String {
    ws.send(Message::text(format!("40{ns},{auth}")))
        .await
        .unwrap();
    loop {
        let packet = socketio::recv(ws).await;
        if packet.starts_with(&format!("40{ns},")) || packet.starts_with(&format!("44{ns},")) {
            return packet;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_matching_a_family_are_made_when_a_client_asks_for_one() {
    let server = Server::new(config());
    let boards = server.of_matching(|name| {
        name.strip_prefix("/board-")
            .is_some_and(|n| n.parse::<u32>().is_ok())
    });
    boards.on_connection(|socket| {
        let ns = socket.namespace().to_string();
        socket.emit("welcome", &ns).unwrap();
    });
    let addr = start(server.clone()).await;
    let mut sio = socketio::connect(addr, "").await;

    // A name the family takes: made now, with the family's handler.
    let answer = connect_namespace(&mut sio, "/board-1", "").await;
    assert!(answer.starts_with("40/board-1,{\"sid\""), "{answer}");
    let welcome = socketio::recv(&mut sio).await;
    assert_eq!(welcome, r#"42/board-1,["welcome","/board-1"]"#);
    // One it does not: refused as socket.io refuses an unknown namespace.
    let answer = connect_namespace(&mut sio, "/board-x", "").await;
    assert!(answer.starts_with("44/board-x,"), "{answer}");
    assert!(answer.contains("Invalid namespace"), "{answer}");

    // A middleware added later reaches the namespaces made already, and new ones.
    boards.middleware(|handshake| match handshake.auth::<serde_json::Value>() {
        Some(Ok(auth)) if auth["key"] == "open sesame" => Ok(()),
        _ => Err(chorus::ConnectError::new("no key")),
    });
    let mut other = socketio::connect(addr, "").await;
    let refused = connect_namespace(&mut other, "/board-1", "").await;
    assert!(
        refused.starts_with("44/board-1,") && refused.contains("no key"),
        "{refused}"
    );
    let admitted = connect_namespace(&mut other, "/board-2", r#"{"key":"open sesame"}"#).await;
    assert!(admitted.starts_with("40/board-2,"), "{admitted}");
    assert_eq!(
        socketio::recv(&mut other).await,
        r#"42/board-2,["welcome","/board-2"]"#
    );

    // Each made namespace is one of its own: a broadcast in one stays there.
    let mut names: Vec<String> = boards
        .namespaces()
        .iter()
        .map(|io| io.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["/board-1", "/board-2"]);
    server.of("/board-2").emit("only-two", &2).unwrap();
    assert_eq!(
        socketio::recv(&mut other).await,
        r#"42/board-2,["only-two",2]"#
    );
    let next = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        socketio::recv(&mut sio),
    )
    .await;
    assert!(
        next.is_err() || !next.as_ref().unwrap().contains("only-two"),
        "{next:?}"
    );
}

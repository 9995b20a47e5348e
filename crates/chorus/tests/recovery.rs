//! Socket.IO connection-state recovery, spoken by hand over the WebSocket transport: the
//! CONNECT answer's `pid`, offsets as the last argument of stored events, and a reconnect
//! with `{"pid","offset"}` that gets the same socket id, its rooms and exactly the messages
//! it missed — across rooms, in publish order, none it already had — or, when that cannot
//! be, a fresh socket. The restart case (SIGKILL, same data directory) is at the end, against
//! the real binary.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chorus::{builtin, Config, Server};
use common::recovering::{said, texts, Client, Left};
use common::*;
use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A server with `chorus serve`'s built-in events, and a `welcome` event on connection
/// that says whether the socket was recovered.
async fn server(config: Config) -> (Server, SocketAddr) {
    let server = Server::new(config);
    let addr = listen(server.clone()).await;
    (server, addr)
}

/// Serves `server` as [`server`] does.
async fn listen(server: Server) -> SocketAddr {
    let io = server.io();
    io.on_connection(|socket| {
        builtin::events(socket, true);
        let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
        let _ = socket.emit(
            "welcome",
            &json!({ "id": socket.id(), "recovered": socket.recovered(), "rooms": rooms }),
        );
    });
    start(server).await
}

/// A server with alice and bob, both in `rooms`.
async fn two_in(config: Config, rooms: &[&str]) -> (Server, SocketAddr, Client, Client) {
    let (server, addr) = server(config).await;
    let (mut alice, _) = Client::connect_welcomed(addr, None).await;
    let (mut bob, _) = Client::connect_welcomed(addr, None).await;
    for room in rooms {
        alice.join(room).await;
        bob.join(room).await;
    }
    (server, addr, alice, bob)
}

/// Waits until `room` has `members` members (a dropped connection is noticed, a restored
/// one is back).
async fn until_members(server: &Server, room: &str, members: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.io().members(room).len() != members {
        assert!(
            Instant::now() < deadline,
            "{room} never had {members} members"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_reconnecting_client_gets_its_id_rooms_and_exactly_what_it_missed() {
    let (server, addr, mut alice, mut bob) = two_in(config(), &["lobby"]).await;
    assert_eq!(alice.welcome["recovered"], false);
    let pid = alice.pid.clone().expect("recovery is on by default: a pid");
    assert_eq!(pid.len(), 32);

    bob.say("lobby", "one").await;
    let event = alice.event().await;
    // The offset rides as the last argument, where socket.io-client looks for it.
    assert_eq!(event[0], "said");
    assert_eq!(event[1], "one");
    let offset = event[2].as_str().expect("an offset").to_owned();
    assert!(offset.contains('-'), "{offset}");
    assert_eq!(alice.offset.as_deref(), Some(offset.as_str()));

    let sid = alice.sid.clone();
    let gone = alice.drop_connection();
    until_members(&server, "lobby", 1).await;
    for text in ["two", "three", "four"] {
        bob.say("lobby", text).await;
    }

    let (mut alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.sid, sid, "the same socket id");
    assert_eq!(alice.pid.as_deref(), Some(pid.as_str()), "the same pid");
    assert_eq!(alice.welcome["recovered"], true);
    assert_eq!(alice.welcome["rooms"], json!(["lobby"]));
    // The replay comes before the connection handler's first emit, in order, "one" not
    // again.
    assert_eq!(texts(&replayed), ["two", "three", "four"]);
    // And then live.
    bob.say("lobby", "five").await;
    assert_eq!(said(&mut alice, 1).await, ["five"]);
    // What alice sends still reaches bob under her old id.
    alice.say("lobby", "back").await;
    let event = bob.event().await;
    assert_eq!(event[1], "back");
}

#[tokio::test]
async fn the_replay_across_rooms_is_in_publish_order_and_skips_what_was_received() {
    let (server, addr, mut alice, mut bob) = two_in(config(), &["red", "blue"]).await;
    // Received before the drop: the last one alice saw is in "blue", after one in "red".
    bob.say("red", "r1").await;
    bob.say("blue", "b1").await;
    assert_eq!(said(&mut alice, 2).await, ["r1", "b1"]);
    let gone = alice.drop_connection();
    until_members(&server, "red", 1).await;
    for (room, text) in [("red", "r2"), ("blue", "b2"), ("red", "r3"), ("blue", "b3")] {
        bob.say(room, text).await;
    }
    let (alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.welcome["recovered"], true);
    assert_eq!(texts(&replayed), ["r2", "b2", "r3", "b3"]);
}

#[tokio::test]
async fn messages_published_during_the_restore_arrive_once_and_in_order() {
    let (server, addr, mut alice, mut bob) = two_in(config(), &["busy"]).await;
    bob.say("busy", "0").await;
    assert_eq!(said(&mut alice, 1).await, ["0"]);
    let gone = alice.drop_connection();
    until_members(&server, "busy", 1).await;
    // Bob keeps publishing (each acked once stored) while alice is away and while she
    // comes back; she must end up with every message after "0", once, in order.
    const N: usize = 300;
    let publishing = tokio::spawn(async move {
        for n in 1..=N {
            bob.say("busy", &n.to_string()).await;
        }
        bob
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (mut alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.welcome["recovered"], true);
    let mut got = texts(&replayed);
    let _bob = publishing.await.unwrap();
    got.extend(said(&mut alice, N - got.len()).await);
    let expected: Vec<String> = (1..=N).map(|n| n.to_string()).collect();
    assert_eq!(got, expected);
    assert_silent(&mut alice.ws).await;
}

#[tokio::test]
async fn a_client_that_received_nothing_stored_gets_everything_after_its_joins() {
    let (server, addr) = server(config()).await;
    let (mut bob, _) = Client::connect_welcomed(addr, None).await;
    bob.join("quiet").await;
    bob.say("quiet", "before").await;
    let (mut alice, _) = Client::connect_welcomed(addr, None).await;
    alice.join("quiet").await;
    assert!(alice.offset.is_none());
    let gone = alice.drop_connection();
    until_members(&server, "quiet", 1).await;
    bob.say("quiet", "after").await;
    let (alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.welcome["recovered"], true);
    assert_eq!(
        texts(&replayed),
        ["after"],
        "not what was said before the join"
    );
}

#[tokio::test]
async fn a_session_that_cannot_be_recovered_gives_a_fresh_socket() {
    let (server, addr, mut alice, mut bob) = two_in(config(), &["lobby"]).await;
    bob.say("lobby", "one").await;
    said(&mut alice, 1).await;
    let Left { sid, pid, offset } = alice.drop_connection();
    let offset = offset.unwrap();
    until_members(&server, "lobby", 1).await;

    let fresh = |auth: Value| async move {
        let (client, replayed) = Client::connect_welcomed(addr, Some(auth)).await;
        assert_eq!(client.welcome["recovered"], false, "{}", client.welcome);
        assert_eq!(client.welcome["rooms"], json!([]));
        assert!(replayed.is_empty());
        client
    };
    // An unknown pid, an offset that is an application's string, a pid that is not ours.
    let unknown = fresh(json!({ "pid": "0".repeat(32), "offset": offset })).await;
    assert_ne!(unknown.sid, sid);
    assert_ne!(unknown.pid.as_deref(), Some(pid.as_str()));
    fresh(json!({ "pid": pid, "offset": "hello" })).await;
    fresh(json!({ "pid": "../../etc", "offset": offset })).await;
    // Claims that are refused before the session is looked at leave it alone.
    let (back, _) =
        Client::connect_welcomed(addr, Some(json!({ "pid": pid, "offset": offset }))).await;
    assert_eq!(back.welcome["recovered"], true);
    assert_eq!(back.sid, sid);
}

#[tokio::test]
async fn missed_messages_beyond_retention_give_a_fresh_socket() {
    let mut config = config();
    config.history_max_messages = 3;
    let (server, addr, mut alice, mut bob) = two_in(config, &["busy"]).await;
    bob.say("busy", "seen").await;
    said(&mut alice, 1).await;
    let gone = alice.drop_connection();
    until_members(&server, "busy", 1).await;
    for n in 0..5 {
        bob.say("busy", &format!("m{n}")).await;
    }
    let (alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.welcome["recovered"], false);
    assert_ne!(alice.sid, gone.sid);
    assert!(replayed.is_empty());
}

#[tokio::test]
async fn a_client_back_before_the_server_noticed_takes_its_session_over() {
    let (server, addr, mut alice, mut bob) = two_in(config(), &["lobby"]).await;
    bob.say("lobby", "one").await;
    said(&mut alice, 1).await;
    // The old connection is still open as far as the server knows.
    let (mut again, replayed) = alice.left().reconnect(addr).await;
    assert_eq!(again.welcome["recovered"], true);
    assert_eq!(again.sid, alice.sid);
    assert!(texts(&replayed).is_empty());
    // The old socket is told it was disconnected, and its connection closes.
    loop {
        let packet = alice.packet().await;
        if packet == "41" {
            break;
        }
    }
    // The new one is in the room, once.
    bob.say("lobby", "two").await;
    assert_eq!(said(&mut again, 1).await, ["two"]);
    assert_eq!(server.io().members("lobby").len(), 2);
}

#[tokio::test]
async fn an_explicit_disconnect_ends_the_session() {
    let (server, addr) = server(config()).await;
    let (mut alice, _) = Client::connect_welcomed(addr, None).await;
    alice.join("lobby").await;
    let (pid, sid) = (alice.pid.clone().unwrap(), alice.sid.clone());
    alice.ws.send(Message::text("41")).await.unwrap();
    until_members(&server, "lobby", 0).await;
    let (again, _) = Client::connect_welcomed(addr, Some(json!({ "pid": pid }))).await;
    assert_eq!(again.welcome["recovered"], false);
    assert_ne!(again.sid, sid);
}

#[tokio::test]
async fn recovery_off_sends_no_pid_and_no_offsets() {
    let mut config = config();
    config.socketio_recovery_secs = 0;
    let (_server, _addr, mut alice, mut bob) = two_in(config, &["lobby"]).await;
    assert!(alice.pid.is_none());
    bob.say("lobby", "one").await;
    let event = alice.event().await;
    assert_eq!(event, json!(["said", "one"]));
}

// The restart: sessions and history are in the SQLite file, so a client whose server was
// killed comes back to a new process as the same socket, with what it missed.

/// `chorus serve` over a SQLite store in `dir`.
async fn serve(dir: &std::path::Path) -> (std::process::Child, SocketAddr) {
    serve_sqlite(dir, &["--chat-page", "false"]).await
}

#[tokio::test]
async fn a_client_recovers_across_a_sigkill_and_restart() {
    let dir = temp_dir("recovery");
    let (mut child, addr) = serve(&dir).await;

    let mut alice = Client::connect(addr, None).await;
    let mut bob = Client::connect(addr, None).await;
    alice.join("lobby").await;
    bob.join("lobby").await;
    bob.say("lobby", "seen").await;
    assert_eq!(said(&mut alice, 1).await, ["seen"]);
    let gone = alice.drop_connection();
    // Acknowledged (stored) while alice is away, then the server dies without warning.
    for text in ["while", "you", "were", "out"] {
        bob.say("lobby", text).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // A new process on the same data directory (and another port).
    let (mut child, addr) = serve(&dir).await;
    let mut auth = json!({ "pid": gone.pid });
    auth["offset"] = json!(gone.offset.clone().unwrap());
    let mut alice = Client::connect(addr, Some(auth)).await;
    assert_eq!(alice.sid, gone.sid, "the same socket id after a restart");
    assert_eq!(alice.pid.as_deref(), Some(gone.pid.as_str()));
    assert_eq!(said(&mut alice, 4).await, ["while", "you", "were", "out"]);
    // Back in the room, live.
    let mut carol = Client::connect(addr, None).await;
    carol.join("lobby").await;
    carol.say("lobby", "welcome back").await;
    assert_eq!(said(&mut alice, 1).await, ["welcome back"]);

    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_replay_lost_in_a_second_drop_is_replayed_again() {
    let (server, addr, mut alice, mut bob) = two_in(config(), &["lobby"]).await;
    bob.say("lobby", "0").await;
    said(&mut alice, 1).await;
    let gone = alice.drop_connection();
    until_members(&server, "lobby", 1).await;
    for text in ["1", "2", "3"] {
        bob.say("lobby", text).await;
    }
    // Back, and the replay is sent — but the connection drops before the client reads it.
    let again = Client::connect(
        addr,
        Some(json!({ "pid": gone.pid, "offset": gone.offset })),
    )
    .await;
    assert_eq!(again.sid, gone.sid);
    until_members(&server, "lobby", 2).await;
    drop(again.ws);
    until_members(&server, "lobby", 1).await;
    // It still holds the offset of "0": it gets 1, 2, 3 again.
    let (alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.welcome["recovered"], true);
    assert_eq!(texts(&replayed), ["1", "2", "3"]);
}

#[tokio::test]
async fn joining_a_room_again_keeps_what_the_client_may_still_miss() {
    let (server, addr, mut alice, mut bob) = two_in(config(), &["lobby"]).await;
    bob.say("lobby", "0").await;
    said(&mut alice, 1).await;
    // Sent to alice, not read by her, and then she joins again (an app that re-joins on
    // every connection does): the session keeps her first position.
    bob.say("lobby", "1").await;
    alice.join("lobby").await;
    let gone = Left {
        sid: alice.sid.clone(),
        pid: alice.pid.clone().unwrap(),
        offset: alice.offset.clone(),
    };
    drop(alice);
    until_members(&server, "lobby", 1).await;
    let (alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.welcome["recovered"], true);
    assert_eq!(texts(&replayed), ["1"]);
}

#[tokio::test]
async fn who_a_message_left_out_stays_left_out_on_replay() {
    let (server, addr, alice, mut bob) = two_in(config(), &["lobby"]).await;
    let gone = alice.drop_connection();
    until_members(&server, "lobby", 1).await;
    // The server publishes twice while alice is away: once to everyone in the room, once
    // to everyone but her.
    let id: chorus_core::ConnId = gone.sid.parse().unwrap();
    let io = server.io();
    io.to("lobby").emit("said", &"for all").unwrap();
    io.to("lobby")
        .except(id)
        .emit("said", &"not for alice")
        .unwrap();
    io.to("lobby").emit("said", &"for all again").unwrap();
    // The publisher stores in order: once bob's message is acknowledged, all are stored.
    bob.say("lobby", "from bob").await;
    let (alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.welcome["recovered"], true);
    assert_eq!(texts(&replayed), ["for all", "for all again", "from bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_joined_just_before_the_connection_drops_is_kept() {
    // The disk is stuck with a message to "r" in flight: a join to "r" cannot be told its
    // position until that message is delivered — and alice's connection is lost before.
    let store = chorus_store::latch::LatchStore::new();
    let server = Server::with_store(config(), store.clone()).unwrap();
    let addr = listen(server.clone()).await;
    let (alice, _) = Client::connect_welcomed(addr, None).await;
    let (mut alice, mut bob) = (alice, Client::connect_welcomed(addr, None).await.0);
    store.close();
    server.io().to("r").emit("said", &"stuck").unwrap();
    let waiting = store.clone();
    tokio::task::spawn_blocking(move || waiting.wait_for_appends(1))
        .await
        .unwrap();
    alice.join("r").await;
    bob.join("r").await;
    let gone = alice.drop_connection();
    until_members(&server, "r", 1).await;
    store.open();
    assert_eq!(bob.event().await[1], "stuck");
    // Acknowledged once stored: by then the writer has told the joins where they started.
    bob.say("r", "after").await;
    let (alice, replayed) = gone.reconnect(addr).await;
    assert_eq!(alice.welcome["recovered"], true);
    assert_eq!(alice.welcome["rooms"], json!(["r"]));
    assert_eq!(texts(&replayed), ["stuck", "after"]);
}

//! Broadcasts with acks (socket.io's `io.timeout(d).emitWithAck`): one event to the
//! sockets of a room, every answer gathered — Socket.IO and native clients alike, on one
//! server and across the nodes of a cluster on a real `redis-server`; a socket that does
//! not answer makes the call incomplete, with the answers that came.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chorus::{Config, GatherError, Server};
use common::cluster::{link_up, until};
use common::redis::Redis;
use common::*;
use serde_json::{json, Value};

/// A server whose sockets all join `vote` when they connect.
async fn voting(config: Config) -> (Server, SocketAddr) {
    let server = Server::try_new(config).unwrap();
    server.io().on_connection(|socket| {
        socket.join("vote").unwrap();
    });
    let addr = start(server.clone()).await;
    (server, addr)
}

/// A native client that answers the next `poll` with `answer`; its id.
async fn native_voter(
    addr: SocketAddr,
    answer: Option<Value>,
) -> (tokio::task::JoinHandle<Ws>, String) {
    let (mut ws, id) = native::connect(addr, "").await;
    let task = tokio::spawn(async move {
        loop {
            let push = recv_json(&mut ws).await;
            if push["type"] == "event" && push["event"] == "poll" {
                if let Some(answer) = answer {
                    let ack = push["ack"].as_u64().expect("an ack number");
                    send_json(&mut ws, json!({"type": "ack", "ack": ack, "data": answer})).await;
                }
                return ws;
            }
        }
    });
    (task, id)
}

/// A Socket.IO client that answers the next `poll` with `answer`, and checks the question.
async fn socketio_voter(addr: SocketAddr, answer: Value) -> tokio::task::JoinHandle<Ws> {
    let asked = socketio::answer_next(socketio::connect(addr, "").await, "poll", answer);
    tokio::spawn(async move {
        let (ws, args) = asked.await.unwrap();
        assert_eq!(args[1], json!("tea or coffee?"));
        ws
    })
}

fn sorted(answers: Vec<chorus::Data>) -> Vec<Value> {
    let mut out: Vec<Value> = answers.iter().map(|d| d.parse().unwrap()).collect();
    out.sort_by_key(|v| v.to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_with_acks_gathers_every_clients_answer() {
    let (server, addr) = voting(config()).await;
    let (native, _) = native_voter(addr, Some(json!("tea"))).await;
    let sio = socketio_voter(addr, json!("coffee")).await;
    until("both joined", || server.io().members("vote").len() == 2).await;

    let answers = server
        .io()
        .to("vote")
        .timeout(Duration::from_secs(5))
        .emit_with_ack("poll", &json!("tea or coffee?"))
        .await
        .unwrap();
    assert_eq!(sorted(answers), [json!("coffee"), json!("tea")]);
    drop((native.await.unwrap(), sio.await.unwrap()));

    // Nobody in the room: nothing to wait for.
    let none = server
        .io()
        .to("nobody")
        .emit_with_ack("poll", &json!("?"))
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_does_not_answer_makes_it_incomplete_with_the_others_answers() {
    let (server, addr) = voting(config()).await;
    let (native, _) = native_voter(addr, Some(json!("tea"))).await;
    let (silent, _) = native_voter(addr, None).await;
    let (left_out, left_out_id) = native_voter(addr, Some(json!("never asked"))).await;
    until("all joined", || server.io().members("vote").len() == 3).await;

    let started = Instant::now();
    let gathered = server
        .io()
        .to("vote")
        .except(left_out_id.parse().unwrap())
        .timeout(Duration::from_millis(400))
        .emit_with_ack("poll", &json!("tea or coffee?"))
        .await;
    let Err(GatherError::Incomplete {
        answers,
        expected,
        silent_nodes,
    }) = gathered
    else {
        panic!("incomplete, not {gathered:?}");
    };
    assert!(started.elapsed() >= Duration::from_millis(400), "it waited");
    assert_eq!(
        (expected, silent_nodes),
        (2, 0),
        "the excepted socket was not asked"
    );
    assert_eq!(sorted(answers), [json!("tea")]);
    drop((native.await.unwrap(), silent.await.unwrap()));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), left_out)
            .await
            .is_err(),
        "the socket left out got nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_gathered_from_the_sockets_of_every_node() {
    let redis = Redis::start();
    let node_config = || Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::None,
        ..config()
    };
    let (a, addr_a) = voting(node_config()).await;
    let (b, addr_b) = voting(node_config()).await;
    until("both links are up", || link_up(&a) && link_up(&b)).await;
    until("the nodes know each other", || {
        a.hub().cluster().unwrap().nodes() == 1 && b.hub().cluster().unwrap().nodes() == 1
    })
    .await;
    let (here, _) = native_voter(addr_a, Some(json!("tea"))).await;
    let there = socketio_voter(addr_b, json!("coffee")).await;
    let (there_too, _) = native_voter(addr_b, Some(json!("water"))).await;
    until("all joined", || {
        a.io().sockets().len() == 1 && b.io().sockets().len() == 2
    })
    .await;

    let answers = a
        .io()
        .to("vote")
        .timeout(Duration::from_secs(5))
        .emit_with_ack("poll", &json!("tea or coffee?"))
        .await
        .unwrap();
    assert_eq!(
        sorted(answers),
        [json!("coffee"), json!("tea"), json!("water")]
    );
    drop((
        here.await.unwrap(),
        there.await.unwrap(),
        there_too.await.unwrap(),
    ));
}

//! `/readyz`: ready while the history store answers and the broker's link is up; `503`
//! saying which is not while a real `redis-server` (broker and store) is down, and ready
//! again once it is back. `/healthz` answers throughout.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chorus::Config;
use common::redis::Redis;
use common::*;

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

/// Polls `/readyz` until its status is `status`; that answer.
async fn until_ready_is(addr: SocketAddr, status: u16) -> HttpResponse {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = get(addr, "/readyz").await;
        if answer.status == status {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never {status}: {}",
            answer.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_store_and_the_broker() {
    let (_alone, alone) = start_with(config()).await;
    let answer = get(alone, "/readyz").await;
    assert_eq!((answer.status, answer.text()), (200, "ready\n".to_owned()));

    let redis = Redis::start();
    let port: u16 = redis.url().rsplit(':').next().unwrap().parse().unwrap();
    let (_node, addr) = start_with(Config {
        broker: Some(redis.url()),
        store: chorus::config::StoreKind::Redis,
        ..config()
    })
    .await;
    until_ready_is(addr, 200).await;

    let dir = redis.kill_keeping_data();
    let down = until_ready_is(addr, 503).await;
    let body: serde_json::Value = serde_json::from_slice(&down.body).unwrap();
    assert_eq!(body["ready"], false);
    assert!(body["store"].is_string(), "{body}");
    let _ = until_ready_is_with_broker_down(addr).await;
    assert_eq!(
        get(addr, "/healthz").await.status,
        200,
        "alive all the same"
    );

    let _back = Redis::start_in(port, &dir);
    until_ready_is(addr, 200).await;
}

/// The broker's part shows too, once the node has noticed the link is gone.
async fn until_ready_is_with_broker_down(addr: SocketAddr) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = get(addr, "/readyz").await;
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        if body["broker"].is_string() {
            assert_eq!(answer.status, 503);
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the broker's link never shown down: {}",
            answer.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

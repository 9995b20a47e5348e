//! Defences at the door and on the wire: heartbeats, Origin checks, connection limits and
//! the handshake timeout, each with real sockets.

mod common;

use std::time::{Duration, Instant};

use chorus::Config;
use common::*;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped_and_its_rooms_emptied() {
    let (server, addr) = start_with(Config {
        ping_interval_ms: 100,
        ping_timeout_ms: 150,
        ..config()
    })
    .await;
    // A live client: tungstenite answers pings while it is polled.
    let mut live = connect(addr, "/hb").await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        let deadline = Instant::now() + Duration::from_millis(1200);
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline.into(), live.next()).await {
            if msg.is_ping() {
                pings += 1;
            }
        }
        (live, pings)
    });
    // A silent client: reads pings but never answers.
    let mut silent = RawClient::connect(addr, "/hb").await;
    let started = Instant::now();
    let mut pings = 0;
    loop {
        match silent.read_frame().await {
            Some((0x9, _)) => pings += 1,
            Some(_) => {}
            None => break,
        }
    }
    let waited = started.elapsed();
    assert!(pings >= 1, "the server pinged before giving up");
    assert!(
        waited >= Duration::from_millis(250),
        "dropped too early: {waited:?}"
    );
    let (live, live_pings) = reader.await.unwrap();
    assert!(live_pings >= 5, "live client saw {live_pings} pings");
    let raw = server.hub().get_namespace("raw").unwrap();
    assert_eq!(raw.len(), 1, "only the live client is left");
    assert_eq!(raw.members("/hb").len(), 1);
    drop(live);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !raw.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(raw.is_empty());
    assert_eq!(raw.room_count(), 0, "room tables return to empty");
}

#[tokio::test]
async fn cross_site_pages_are_refused_with_403() {
    let (_, addr) = start_with(config()).await;
    let evil = handshake_head(addr, "/room", "Origin: https://evil.example\r\n").await;
    assert!(evil.starts_with("http/1.1 403"), "{evil}");
    let same = handshake_head(addr, "/room", &format!("Origin: http://{addr}\r\n")).await;
    assert!(same.starts_with("http/1.1 101"), "{same}");
    let local = handshake_head(addr, "/ws", "Origin: http://localhost:5500\r\n").await;
    assert!(local.starts_with("http/1.1 101"), "{local}");
    let file = handshake_head(addr, "/ws", "Origin: null\r\n").await;
    assert!(file.starts_with("http/1.1 403"), "{file}");

    let (_, addr) = start_with(Config {
        allowed_origins: vec!["https://app.example".into()],
        ..config()
    })
    .await;
    let listed = handshake_head(addr, "/room", "Origin: https://app.example\r\n").await;
    assert!(listed.starts_with("http/1.1 101"), "{listed}");
    let evil = handshake_head(addr, "/room", "Origin: https://evil.example\r\n").await;
    assert!(evil.starts_with("http/1.1 403"), "{evil}");
}

#[tokio::test]
async fn connections_are_limited_per_address_and_in_all() {
    let (server, addr) = start_with(Config {
        max_connections_per_ip: 2,
        ..config()
    })
    .await;
    let a = connect(addr, "/r").await;
    let _b = connect(addr, "/r").await;
    let refused = http_raw(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert_eq!(server.open_connections(), 2);
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(3);
    while server.open_connections() > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _c = connect(addr, "/r").await;

    let (_, addr) = start_with(Config {
        max_connections: 1,
        ..config()
    })
    .await;
    let _only = connect(addr, "/r").await;
    let refused = http_raw(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let (server, addr) = start_with(Config {
        handshake_timeout_ms: 200,
        ..config()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /room HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server kept a slow client for 5 s");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.open_connections() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.open_connections(), 0);
}

#[tokio::test]
async fn shutdown_flushes_queues_closes_with_1001_and_stops_accepting() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let (server, addr) = start_with(config()).await;
    let mut a = connect(addr, "/news").await;
    let mut b = connect(addr, "/ws").await;
    assert_eq!(recv_json(&mut b).await["type"], "hello");
    a.send(Message::text("last edition")).await.unwrap();
    assert_eq!(recv_text(&mut a).await, "last edition");
    // An idle keep-alive HTTP connection is closed too.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    let drain = {
        let server = server.clone();
        tokio::spawn(async move { server.shutdown(Duration::from_secs(5)).await })
    };
    let (code, reason) = expect_close(&mut a).await;
    assert_eq!((code, reason.as_str()), (1001, "server shutting down"));
    assert_eq!(expect_close(&mut b).await.0, 1001);
    // Let the clients answer the close, as real clients do.
    let _ = tokio::time::timeout(Duration::from_secs(1), a.next()).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), b.next()).await;
    let left = tokio::time::timeout(Duration::from_secs(6), drain)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left, 0, "every connection closed before the deadline");
    let n = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "the idle HTTP connection was closed");
    // No longer accepting.
    let refused = tokio::time::timeout(
        Duration::from_secs(2),
        tokio_tungstenite::connect_async(format!("ws://{addr}/news")),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a new connection was accepted after shutdown"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_before_its_queue_fills() {
    let (server, addr) = start_with(Config {
        ping_interval_ms: 100,
        ping_timeout_ms: 100,
        // Room for everything sent: the queue limit never ends the stuck one; the
        // heartbeat does, or the write timeout when its task is blocked in a write.
        queue_max_bytes: 64 << 20,
        ..config()
    })
    .await;
    let mut sender = connect(addr, "/still").await;
    // Reads nothing, ever, and never answers.
    let _stuck = RawClient::connect_small_buffer(addr, "/still").await;
    // Enough to fill the socket buffers, far less than the queue limit.
    use futures::SinkExt;
    let sender_reader = tokio::spawn(async move {
        for _ in 0..40 {
            sender
                .send(tokio_tungstenite::tungstenite::Message::binary(
                    vec![1u8; 256 * 1024],
                ))
                .await
                .unwrap();
            let _ = recv(&mut sender).await;
        }
        sender
    });
    let _sender = tokio::time::timeout(Duration::from_secs(20), sender_reader)
        .await
        .expect("the sender was held up")
        .unwrap();
    let raw = server.hub().get_namespace("raw").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while raw.len() > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(raw.len(), 1, "the stuck reader was dropped");
}

#[tokio::test]
async fn a_flooding_client_is_closed_at_its_rate_limit_and_others_are_not() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let (_, addr) = start_with(Config {
        max_messages_per_sec: 20,
        message_burst: 10,
        echo_to_sender: false,
        ..config()
    })
    .await;
    let mut calm = connect(addr, "/rate").await;
    let mut flood = connect(addr, "/rate").await;
    for i in 0..50 {
        if flood.send(Message::text(format!("f{i}"))).await.is_err() {
            break;
        }
    }
    // The burst got through, in order, then the flood was cut off.
    for i in 0..10 {
        assert_eq!(recv_text(&mut calm).await, format!("f{i}"));
    }
    let (code, reason) = expect_close(&mut flood).await;
    assert_eq!(
        (code, reason.as_str()),
        (1008, "message rate limit exceeded")
    );
    // A client within the rate is untouched.
    let mut other = connect(addr, "/rate").await;
    for i in 0..5 {
        calm.send(Message::text(format!("c{i}"))).await.unwrap();
        assert_eq!(recv_text(&mut other).await, format!("c{i}"));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

/// Pings cost the server an answer each. A client that floods them and never reads the
/// pongs must be held back by TCP, not answered into an ever-growing queue (this once
/// grew a server by 3 GB in 10 s); one that reads is held to the message rate.
#[tokio::test]
async fn a_ping_flood_is_held_back_while_unread_and_rate_limited_when_read() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let (_, addr) = start_with(Config {
        echo_to_sender: false,
        ..config()
    })
    .await;
    let mut flood = RawClient::connect(addr, "/pings").await;
    let burst = RawClient::frame(true, 0x9, &[b'p'; 125], true).repeat(1000);
    // Loopback buffers hold tens of megabytes at most; a server that keeps reading takes
    // this much in about a second.
    const UNBOUNDED: usize = 256 << 20;
    let mut sent = 0;
    while sent < UNBOUNDED {
        match tokio::time::timeout(Duration::from_secs(2), flood.stream.write_all(&burst)).await {
            Ok(Ok(())) => sent += burst.len(),
            Ok(Err(err)) => panic!("the flooding client was dropped: {err}"),
            Err(_) => break,
        }
    }
    assert!(
        sent < UNBOUNDED,
        "the server read {sent} bytes of pings from a client that reads nothing"
    );
    // Everyone else is served as before.
    let mut a = connect(addr, "/pings").await;
    let mut b = connect(addr, "/pings").await;
    a.send(Message::text("still here")).await.unwrap();
    assert_eq!(recv_text(&mut b).await, "still here");
    // Once the flooder reads, it is answered: every ping it sent gets its pong.
    let mut pongs = 0;
    while pongs < sent / burst.len() * 1000 {
        match flood.read_frame().await {
            Some((0xA, payload)) => {
                assert_eq!(payload, [b'p'; 125]);
                pongs += 1;
            }
            Some(_) => {}
            None => panic!("dropped after {pongs} pongs"),
        }
    }

    // With a rate limit, pings count as messages.
    let (_, addr) = start_with(Config {
        max_messages_per_sec: 20,
        message_burst: 10,
        ..config()
    })
    .await;
    let mut pinger = connect(addr, "/pings").await;
    for _ in 0..50 {
        if pinger.send(Message::Ping(Vec::new().into())).await.is_err() {
            break;
        }
    }
    let (code, reason) = expect_close(&mut pinger).await;
    assert_eq!(
        (code, reason.as_str()),
        (1008, "message rate limit exceeded")
    );
}

#[tokio::test]
async fn every_defence_that_fires_is_counted_at_metrics() {
    let (_, addr) = start_with(Config {
        max_connections_per_ip: 3,
        ..config()
    })
    .await;
    let _ = handshake_head(addr, "/room", "Origin: https://evil.example\r\n").await;
    let plain = http_raw(
        addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(plain.starts_with("HTTP/1.1 426"), "{plain}");
    let mut bad = RawClient::connect(addr, "/r").await;
    bad.send_frame(true, 0x1, b"\xff", true).await;
    assert_eq!(bad.expect_close_code().await, 1007);
    let _a = connect(addr, "/r").await;
    let _b = connect(addr, "/r").await;
    let _c = connect(addr, "/r").await;
    let refused = http_raw(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    drop(_c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = http_raw(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for line in [
        "chorus_handshakes_refused_total{status=\"403\"} 1",
        "chorus_connections_refused_total{reason=\"max_connections_per_ip\"} 1",
        "chorus_disconnects_total{reason=\"protocol_error\"} 1",
        "chorus_clients{namespace=\"raw\"} 2",
        "chorus_rooms{namespace=\"raw\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        text.contains("chorus_handshakes_refused_total{status=\"426\"} 1"),
        "{text}"
    );
}

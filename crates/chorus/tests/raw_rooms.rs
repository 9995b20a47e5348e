//! Raw rooms: the seeds' plain-WebSocket pages, and what bad input does to them.

mod common;

use chorus::Config;
use common::*;
use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn every_message_reaches_every_member_in_order_with_its_kind() {
    let (_, addr) = start_with(config()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(connect(addr, "/chat").await);
    }
    let mut outsider = connect(addr, "/elsewhere").await;
    // No pause: a client whose socket is open is already in its room.
    const N: usize = 20;
    for (c, ws) in clients.iter_mut().enumerate() {
        for i in 0..N {
            if i % 2 == 0 {
                ws.send(Message::text(format!("{c}:{i}"))).await.unwrap();
            } else {
                ws.send(Message::binary(vec![c as u8, i as u8]))
                    .await
                    .unwrap();
            }
        }
    }
    for ws in clients.iter_mut() {
        let mut next = [0usize; 3];
        for _ in 0..3 * N {
            match recv(ws).await {
                Message::Text(text) => {
                    let (c, i) = text.split_once(':').unwrap();
                    let (c, i): (usize, usize) = (c.parse().unwrap(), i.parse().unwrap());
                    assert_eq!(i, next[c], "text out of order from {c}");
                    assert_eq!(i % 2, 0);
                    next[c] += 1;
                }
                Message::Binary(bytes) => {
                    let (c, i) = (bytes[0] as usize, bytes[1] as usize);
                    assert_eq!(i, next[c], "binary out of order from {c}");
                    assert_eq!(i % 2, 1);
                    next[c] += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(next, [N; 3]);
    }
    assert_silent(&mut outsider).await;
}

#[tokio::test]
async fn echo_to_sender_can_be_turned_off() {
    let (_, addr) = start_with(Config {
        echo_to_sender: false,
        ..config()
    })
    .await;
    let mut a = connect(addr, "/").await;
    let mut b = connect(addr, "/").await;
    a.send(Message::text("hello")).await.unwrap();
    assert_eq!(recv_text(&mut b).await, "hello");
    assert_silent(&mut a).await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007_and_others_are_unaffected() {
    let (_, addr) = start_with(config()).await;
    let mut good = connect(addr, "/r").await;
    let mut bad = RawClient::connect(addr, "/r").await;
    bad.send_frame(true, 0x1, b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80", true)
        .await;
    assert_eq!(bad.expect_close_code().await, 1007);
    // Split across fragments too.
    let mut bad = RawClient::connect(addr, "/r").await;
    bad.send_frame(false, 0x1, b"ok \xf0\x90", true).await;
    bad.send_frame(true, 0x0, b"\x28", true).await;
    assert_eq!(bad.expect_close_code().await, 1007);
    good.send(Message::text("fine")).await.unwrap();
    assert_eq!(recv_text(&mut good).await, "fine");
}

#[tokio::test]
async fn unmasked_client_frame_closes_with_1002() {
    let (_, addr) = start_with(config()).await;
    let mut bad = RawClient::connect(addr, "/r").await;
    bad.send_frame(true, 0x1, b"no mask", false).await;
    assert_eq!(bad.expect_close_code().await, 1002);
}

/// A valid message and a protocol error in one write (Autobahn 3.2, 5.15): the message is
/// handled, and its echo reaches the sender before the close that fails the connection.
#[tokio::test]
async fn a_message_before_a_protocol_error_is_still_answered() {
    let (_, addr) = start_with(config()).await;
    let mut bad = RawClient::connect(addr, "/r").await;
    let mut bytes = RawClient::frame(true, 0x1, b"first", true);
    bytes.extend(RawClient::frame(true, 0x1 | 0x20, b"RSV2 set", true));
    use tokio::io::AsyncWriteExt;
    bad.stream.write_all(&bytes).await.unwrap();
    assert_eq!(bad.read_frame().await, Some((0x1, b"first".to_vec())));
    assert_eq!(bad.expect_close_code().await, 1002);
}

#[tokio::test]
async fn oversized_messages_close_with_1009() {
    let (_, addr) = start_with(Config {
        max_message_size: 1024,
        max_frame_size: 1024,
        ..config()
    })
    .await;
    let mut good = connect(addr, "/r").await;
    // One big frame.
    let mut bad = RawClient::connect(addr, "/r").await;
    bad.send_frame(true, 0x2, &[7u8; 2000], true).await;
    assert_eq!(bad.expect_close_code().await, 1009);
    // Small frames adding up to a big message.
    let mut bad = RawClient::connect(addr, "/r").await;
    bad.send_frame(false, 0x2, &[7u8; 600], true).await;
    bad.send_frame(true, 0x0, &[7u8; 600], true).await;
    assert_eq!(bad.expect_close_code().await, 1009);
    // At the limit is fine.
    good.send(Message::binary(vec![1u8; 1024])).await.unwrap();
    match recv(&mut good).await {
        Message::Binary(bytes) => assert_eq!(bytes.len(), 1024),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_client_vanishing_mid_message_hurts_nobody() {
    let (server, addr) = start_with(config()).await;
    let mut good = connect(addr, "/r").await;
    {
        let mut bad = RawClient::connect(addr, "/r").await;
        // A frame header promising 100 bytes, 10 sent, then the socket is dropped.
        let frame = RawClient::frame(true, 0x1, &[b'x'; 100], true);
        use tokio::io::AsyncWriteExt;
        bad.stream.write_all(&frame[..16]).await.unwrap();
    }
    good.send(Message::text("after")).await.unwrap();
    assert_eq!(recv_text(&mut good).await, "after");
    // The vanished client is gone from the room.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let raw = server.hub().get_namespace("raw").unwrap();
    assert_eq!(raw.len(), 1);
}

#[tokio::test]
async fn close_code_and_reason_round_trip_and_rooms_empty() {
    use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
    let (server, addr) = start_with(config()).await;
    let mut ws = connect(addr, "/bye").await;
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Library(4000),
        reason: "done here".into(),
    })))
    .await
    .unwrap();
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!((code, reason.as_str()), (4000, "done here"));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let raw = server.hub().get_namespace("raw").unwrap();
    assert!(raw.is_empty());
    assert_eq!(raw.room_count(), 0);
}

#[tokio::test]
async fn ping_gets_pong() {
    let (_, addr) = start_with(config()).await;
    let mut raw = RawClient::connect(addr, "/r").await;
    raw.send_frame(true, 0x9, b"are you there", true).await;
    let (opcode, payload) = raw.read_frame().await.unwrap();
    assert_eq!(opcode, 0xA);
    assert_eq!(payload, b"are you there");
}

/// A client may send frames right behind its handshake request, without waiting for the
/// `101`; the server reads them with the request, and they must still arrive, first.
#[tokio::test]
async fn frames_sent_with_the_handshake_are_read_first() {
    let (_, addr) = start_with(config()).await;
    let early = [
        RawClient::frame(true, 0x1, b"sent before the 101", true),
        RawClient::frame(true, 0x9, b"ping", true),
    ]
    .concat();
    let mut raw = RawClient::connect_sending(addr, "/early", &early).await;
    raw.send_frame(true, 0x1, b"sent after", true).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(raw.read_frame().await.expect("a frame"));
    }
    assert!(
        got.contains(&(0x1, b"sent before the 101".to_vec())),
        "{got:?}"
    );
    assert!(got.contains(&(0xA, b"ping".to_vec())), "{got:?}");
    let texts: Vec<_> = got.iter().filter(|(op, _)| *op == 0x1).collect();
    assert_eq!(texts[1].1, b"sent after", "in order: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_is_cut_off_and_fast_readers_get_everything() {
    let (server, addr) = start_with(Config {
        queue_max_bytes: 512 * 1024,
        // The sender reads nothing either; without echo it gets nothing to read.
        echo_to_sender: false,
        ..config()
    })
    .await;
    let mut fast = connect(addr, "/feed").await;
    // Connected, then never reads again: its socket buffers fill, then its queue.
    let _slow = RawClient::connect(addr, "/feed").await;
    let mut sender = connect(addr, "/feed").await;
    const N: usize = 300;
    let payload = vec![0xabu8; 32 * 1024];
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = received.clone();
    let reader = tokio::spawn(async move {
        for i in 0..N {
            progress.store(i, std::sync::atomic::Ordering::Relaxed);
            match recv(&mut fast).await {
                Message::Binary(bytes) => {
                    assert_eq!(bytes.len(), 32 * 1024 + 2);
                    assert_eq!(
                        u16::from_be_bytes([bytes[0], bytes[1]]) as usize,
                        i,
                        "order"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        fast
    });
    let sent = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        for i in 0..N {
            // A live publisher: bursts of 4, then it lets a live reader catch up (never
            // more than 8 messages, 256 KiB, behind). The slow reader never catches up,
            // so its queue is what overflows.
            if i % 4 == 0 {
                while received.load(std::sync::atomic::Ordering::Relaxed) + 4 < i {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            let mut msg = (i as u16).to_be_bytes().to_vec();
            msg.extend_from_slice(&payload);
            sender.send(Message::binary(msg)).await.unwrap();
        }
    })
    .await;
    assert!(
        sent.is_ok(),
        "the publisher was slowed down by the slow reader"
    );
    let _fast = tokio::time::timeout(std::time::Duration::from_secs(20), reader)
        .await
        .expect("the fast reader was held up")
        .unwrap();
    // The slow reader was disconnected, and no queue ever held more than the limit.
    let raw = server.hub().get_namespace("raw").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while raw.len() > 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(raw.len(), 2, "the fast reader and the sender remain");
    for peer in raw.peers() {
        assert!(peer.queued_bytes() <= 512 * 1024);
    }
}

#[tokio::test]
async fn a_raw_room_with_history_replays_its_last_messages_to_newcomers() {
    let mut config = config();
    config.raw_room_history = vec!["/kept/*".into()];
    config.raw_room_replay = 3;
    let (_, addr) = start_with(config).await;
    let mut first = connect(addr, "/kept/a").await;
    let mut elsewhere = connect(addr, "/not-kept").await;
    let sent = [
        Message::text("one"),
        Message::binary(vec![2u8, 0, 255]),
        Message::text("three ✓"),
        Message::text("four"),
    ];
    for msg in &sent {
        first.send(msg.clone()).await.unwrap();
        elsewhere.send(msg.clone()).await.unwrap();
    }
    // The sender gets its echo, stored first, in order.
    for msg in &sent {
        assert_eq!(&recv(&mut first).await, msg);
        assert_eq!(&recv(&mut elsewhere).await, msg);
    }
    // A newcomer gets the last three, frame types kept, then what is said live.
    let mut later = connect(addr, "/kept/a").await;
    for msg in &sent[1..] {
        assert_eq!(&recv(&mut later).await, msg);
    }
    first.send(Message::text("five")).await.unwrap();
    assert_eq!(recv(&mut later).await, Message::text("five"));
    assert_eq!(recv(&mut first).await, Message::text("five"));
    // A room not named keeps nothing; another room matching the pattern has its own.
    let mut fresh = connect(addr, "/not-kept").await;
    assert_silent(&mut fresh).await;
    let mut other = connect(addr, "/kept/b").await;
    assert_silent(&mut other).await;
}

#[tokio::test]
async fn raw_room_history_survives_in_the_sqlite_file() {
    let dir = std::env::temp_dir().join(format!("chorus-raw-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || Config {
        store: chorus::config::StoreKind::Sqlite,
        data_dir: dir.clone(),
        raw_room_history: vec!["*".into()],
        ..config()
    };
    {
        let (server, addr) = start_with(config()).await;
        let mut ws = connect(addr, "/log").await;
        ws.send(Message::text("kept")).await.unwrap();
        assert_eq!(recv(&mut ws).await, Message::text("kept"));
        drop(ws);
        drop(server);
    }
    let (_server, addr) = start_with(config()).await;
    let mut ws = connect(addr, "/log").await;
    assert_eq!(recv(&mut ws).await, Message::text("kept"));
    let _ = std::fs::remove_dir_all(&dir);
}

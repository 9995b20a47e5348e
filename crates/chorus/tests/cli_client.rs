//! `chorus client URL`, the binary itself: JSON lines in a pipe against a raw room, the
//! native protocol and Socket.IO, each beside a client of the test's own — and interactive
//! on a real terminal, driven through tmux (send-keys, capture-pane), as a person would.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_chorus");

/// `chorus client` in a pipe.
struct Piped {
    child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Piped {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("client")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            stdout,
        }
    }

    async fn say(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// The next JSON line it printed.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(TIMEOUT, self.stdout.next_line())
            .await
            .expect("chorus client printed nothing")
            .unwrap()
            .expect("chorus client ended");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    /// The next line of `type`, skipping others.
    async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let value = self.next().await;
            if value["type"] == kind {
                return value;
            }
        }
    }

    /// Ends its input; its exit status once it left.
    async fn finish(mut self) -> i32 {
        drop(self.stdin);
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("chorus client did not leave")
            .unwrap();
        status.code().unwrap()
    }
}

async fn server() -> (chorus::Server, SocketAddr) {
    let server = chorus::Server::new(chorus::Config {
        raw_rooms: true,
        ..config()
    });
    chorus::builtin::install(&server.io(), true);
    let addr = start(server.clone()).await;
    (server, addr)
}

#[tokio::test]
async fn json_lines_in_a_pipe_for_a_raw_room() {
    let (_server, addr) = server().await;
    let mut other = connect(addr, "/lobby").await;
    let mut client = Piped::start(&[&format!("ws://{addr}/lobby"), "--linger-ms", "300"]);
    // Its connection is open once it echoes what it says (raw rooms echo to the sender).
    client.say("hello from the pipe").await;
    assert_eq!(
        client.next().await,
        json!({"type": "text", "data": "hello from the pipe"})
    );
    assert_eq!(recv_text(&mut other).await, "hello from the pipe");
    other.send(Message::binary(vec![0u8, 255])).await.unwrap();
    assert_eq!(
        client.next().await,
        json!({"type": "binary", "base64": "AP8="})
    );
    assert_eq!(
        recv(&mut other).await,
        Message::binary(vec![0u8, 255]),
        "its own echo"
    );
    client.say("/binary AQID").await;
    assert_eq!(recv(&mut other).await, Message::binary(vec![1u8, 2, 3]));
    assert_eq!(client.finish().await, 0, "stdin ended: it closed normally");
}

#[tokio::test]
async fn json_lines_in_a_pipe_for_the_native_protocol() {
    let (_server, addr) = server().await;
    let (mut other, _) = native::connect(addr, "").await;
    assert_eq!(native::join(&mut other, 1, "lobby").await["ok"], true);
    let mut client = Piped::start(&[&format!("ws://{addr}/ws")]);
    assert_eq!(client.next().await["type"], "hello");
    client.say("/join lobby").await;
    let joined = client.next_of("reply").await;
    assert_eq!(joined["ok"], true, "{joined}");
    client.say(r#"/emit lobby chat {"text":"hi"}"#).await;
    assert_eq!(
        native::event(&mut other).await,
        ("chat".into(), json!({"text": "hi"}))
    );
    client
        .say(r#"{"type":"presence","rid":7,"room":"lobby"}"#)
        .await;
    let presence = loop {
        let reply = client.next_of("reply").await;
        if reply["rid"] == 7 {
            break reply;
        }
    };
    assert_eq!(presence["result"]["members"].as_array().unwrap().len(), 2);
    assert_eq!(client.finish().await, 0);
}

#[tokio::test]
async fn json_lines_in_a_pipe_for_socketio_with_a_token_and_acks() {
    let (_server, addr) = server().await;
    let (mut other, _) = native::connect(addr, "").await;
    assert_eq!(native::join(&mut other, 1, "lobby").await["ok"], true);
    let mut client = Piped::start(&[&format!("http://{addr}/"), "--auth", r#"{"name":"x"}"#]);
    // Said before the namespace accepted it: it waits for the CONNECT answer.
    client.say(r#"["join","lobby"]"#).await;
    client
        .say(r#"["to","lobby","chat","from socket.io"]"#)
        .await;
    assert_eq!(client.next_of("connect").await["namespace"], "/");
    let joined = client.next_of("ack").await;
    assert_eq!(joined["id"], 1);
    assert_eq!(joined["args"][0]["room"], "lobby", "{joined}");
    let sent = client.next_of("ack").await;
    assert_eq!(sent["args"][0]["delivered"], 1, "{sent}");
    assert_eq!(
        native::event(&mut other).await,
        ("chat".into(), json!("from socket.io"))
    );
    // What others send arrives as events.
    send_json(
        &mut other,
        json!({"type": "emit", "event": "chat", "data": "to socket.io", "to": {"room": "lobby"}}),
    )
    .await;
    let event = client.next_of("event").await;
    assert_eq!(event["event"], "chat");
    assert_eq!(event["args"][0], "to socket.io");
    assert_eq!(client.finish().await, 0);
}

#[tokio::test]
async fn a_refused_handshake_is_said_and_fails() {
    let (_server, addr) = start_with(chorus::Config {
        anonymous: false,
        jwt_secret: Some(SECRET.into()),
        ..config()
    })
    .await;
    let output = Command::new(BIN)
        .args(["client", &format!("ws://{addr}/ws")])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    // With a token it is let in.
    let token = hs256(json!({"sub": "ada", "exp": 4_000_000_000u64}));
    let mut client = Piped::start(&[&format!("ws://{addr}/ws"), "--token", &token]);
    assert_eq!(client.next().await["name"], "ada");
    assert_eq!(client.finish().await, 0);
}

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(tag: &str) -> Self {
        Self {
            socket: format!("chorus-test-{tag}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux (Debian's package; scripts/test.sh installs it)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What the pane shows.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "client"])
    }

    /// Waits until the pane shows `text`.
    async fn until_shown(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The client's exit status once it left, as the shell around it printed it (tmux's
    /// own `pane_dead_status` stays empty when it saw the terminal close before it reaped
    /// the process).
    async fn exit_status(&self) -> i32 {
        let screen = self.until_shown(EXITED).await;
        let after = &screen[screen.find(EXITED).unwrap() + EXITED.len()..];
        after.split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// What the shell around the client prints when it left, before its status.
const EXITED: &str = "chorus client exited:";

/// Starts `chorus client <args>` in a 100×30 tmux pane, in a shell that says how it left.
fn in_tmux(tmux: &Tmux, args: &[&str]) {
    let command = std::iter::once(BIN.to_owned())
        .chain(std::iter::once("client".to_owned()))
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let command = format!("{command}; echo {EXITED} $?; sleep 30");
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "client",
        "-x",
        "100",
        "-y",
        "30",
        "-e",
        "TERM=xterm",
        "sh",
        "-c",
        &command,
    ]);
}

#[tokio::test]
async fn interactive_on_a_terminal_under_tmux() {
    let (server, addr) = server().await;
    let mut other = connect(addr, "/lobby").await;
    let tmux = Tmux::new("raw");
    in_tmux(&tmux, &[&format!("ws://{addr}/lobby")]);
    tmux.until_shown("/help lists the commands").await;
    tmux.run(&[
        "send-keys",
        "-t",
        "client",
        "hello from a terminal",
        "Enter",
    ]);
    assert_eq!(recv_text(&mut other).await, "hello from a terminal");
    other.send(Message::text("hi, person")).await.unwrap();
    assert_eq!(recv_text(&mut other).await, "hi, person", "its own echo");
    let screen = tmux.until_shown("< hi, person").await;
    assert!(screen.contains("> "), "the prompt stays: {screen}");
    // Line editing: a typo erased before Enter.
    tmux.run(&[
        "send-keys",
        "-t",
        "client",
        "tpyo",
        "BSpace",
        "BSpace",
        "BSpace",
        "BSpace",
        "typed",
        "Enter",
    ]);
    assert_eq!(recv_text(&mut other).await, "typed");
    tmux.run(&["send-keys", "-t", "client", "/help", "Enter"]);
    tmux.until_shown("/binary <base64>").await;
    // Ctrl-D leaves, with status 0.
    tmux.run(&["send-keys", "-t", "client", "C-d"]);
    assert_eq!(tmux.exit_status().await, 0);
    drop(tmux);

    // The server closing the connection ends it too, the terminal given back.
    let tmux = Tmux::new("native");
    in_tmux(&tmux, &[&format!("ws://{addr}/ws")]);
    tmux.until_shown("\"type\":\"hello\"").await;
    tmux.run(&["send-keys", "-t", "client", "/join lobby", "Enter"]);
    tmux.until_shown("\"room\":\"lobby\"").await;
    for socket in server.io().sockets() {
        socket.disconnect();
    }
    tmux.until_shown("closed by the server: 1000").await;
    assert_eq!(tmux.exit_status().await, 0);
}

/// In a pipe whose input stays open (`tail -f … |`), the server closing the connection
/// ends the client: nothing waits for a line that may never come.
#[tokio::test]
async fn the_server_closing_ends_a_client_whose_input_stays_open() {
    let (server, addr) = server().await;
    let mut client = Piped::start(&[&format!("ws://{addr}/ws")]);
    assert_eq!(client.next().await["type"], "hello");
    for socket in server.io().sockets() {
        socket.disconnect();
    }
    assert_eq!(client.next().await["type"], "close");
    let status = tokio::time::timeout(Duration::from_secs(10), client.child.wait())
        .await
        .expect("the client waited for its input after the server closed")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    drop(client.stdin);
}

//! The `chorus` binary: configuration precedence (flags > env > file > defaults), unknown
//! keys rejected, and the start-up line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chorus");

/// Starts the binary, waits for the "listening on" line, kills it, returns that line.
fn listening_line(cmd: &mut Command) -> String {
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = rx.recv_timeout(deadline - Instant::now());
    let _ = child.kill();
    let _ = child.wait();
    line.expect("no start-up line")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn flags_beat_env_beat_file() {
    let dir = std::env::temp_dir().join(format!("chorus-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chorus.toml");
    let (p_file, p_env, p_flag) = (free_port(), free_port(), free_port());
    std::fs::write(&file, format!("host = \"127.0.0.1\"\nport = {p_file}\n")).unwrap();

    let line = listening_line(
        Command::new(BIN)
            .env("CHORUS_STORE", "memory")
            .args(["serve", "--config"])
            .arg(&file)
            .env_remove("CHORUS_PORT")
            .env_remove("CHORUS_HOST"),
    );
    assert!(line.contains(&format!("127.0.0.1:{p_file}")), "{line}");

    let line = listening_line(
        Command::new(BIN)
            .env("CHORUS_STORE", "memory")
            .args(["serve", "--config"])
            .arg(&file)
            .env("CHORUS_PORT", p_env.to_string()),
    );
    assert!(line.contains(&format!("127.0.0.1:{p_env}")), "{line}");

    let line = listening_line(
        Command::new(BIN)
            .env("CHORUS_STORE", "memory")
            .args(["serve", "--config"])
            .arg(&file)
            .args(["--port", &p_flag.to_string()])
            .env("CHORUS_PORT", p_env.to_string()),
    );
    assert!(line.contains(&format!("127.0.0.1:{p_flag}")), "{line}");
    assert!(line.contains("in a browser"), "{line}");

    // `chorus` alone is `chorus serve`, and reads the environment too.
    let line = listening_line(
        Command::new(BIN)
            .env("CHORUS_STORE", "memory")
            .env("CHORUS_HOST", "127.0.0.1")
            .env("CHORUS_PORT", p_env.to_string()),
    );
    assert!(line.contains(&format!("127.0.0.1:{p_env}")), "{line}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unknown_config_keys_are_rejected_by_name() {
    let dir = std::env::temp_dir().join(format!("chorus-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chorus.toml");
    std::fs::write(&file, "port = 4000\necho_to_sendr = false\n").unwrap();
    let out = Command::new(BIN)
        .env("CHORUS_STORE", "memory")
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("echo_to_sendr"), "{stderr}");
    assert!(stderr.contains("chorus.toml"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_flag_values_are_explained() {
    let out = Command::new(BIN)
        .env("CHORUS_STORE", "memory")
        .args(["serve", "--port", "seventy"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--port"));
}

#[test]
fn sigterm_drains_and_exits() {
    use std::io::{Read, Write};
    let port = free_port();
    let mut child = Command::new(BIN)
        .env("CHORUS_STORE", "memory")
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no start-up line");
    assert!(started.contains("listening on"), "{started}");
    // A raw WebSocket client, by hand.
    let mut ws = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    ws.write_all(
        b"GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = [0u8; 512];
    let n = ws.read(&mut head).unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // The client is told: a close frame with 1001.
    let mut frame = [0u8; 64];
    let n = ws.read(&mut frame).unwrap();
    assert!(n >= 4, "no close frame");
    assert_eq!(frame[0], 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1001);
    // Answer it, as a client would, and the server exits promptly and cleanly.
    let _ = ws.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn logs_can_be_json_lines() {
    let port = free_port();
    let line = listening_line(
        Command::new(BIN)
            .args(["serve", "--log-format", "json", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--store", "memory"]),
    );
    let entry: serde_json::Value = serde_json::from_str(&line).expect("a JSON object per line");
    assert_eq!(entry["level"], "INFO");
    assert!(entry["message"].as_str().unwrap().contains("listening on"));
    assert!(entry["timestamp"].is_string());
}

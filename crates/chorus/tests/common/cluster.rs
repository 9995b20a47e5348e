//! What the cluster tests share: waiting for a condition, a node's link to its broker, and a
//! child process (a `chorus serve` node, a Node socket.io server) killed by PID when dropped.

use std::process::Child;
use std::time::{Duration, Instant};

use chorus::Server;

/// Waits (at most 10 s) until `done`; panics naming `what` otherwise.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether `server`'s link to its broker is up.
pub fn link_up(server: &Server) -> bool {
    server.hub().cluster().is_some_and(|c| c.is_up())
}

/// A child process, killed (SIGKILL) and waited for when dropped if it still runs.
pub struct Process(pub Child);

impl Process {
    /// Kills it now, as `kill -9` would, and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy on a free loopback port in front of `upstream` that holds back, by
/// `delay`, what the server sends on connections that subscribe (`SUBSCRIBE` seen from
/// the client): a node whose broker subscription lags behind its commands, as one whose
/// pub/sub output queues up at the server would.
pub async fn lagging_subscriptions(upstream: u16, delay: Duration) -> u16 {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let (mut client_rx, mut client_tx) = client.into_split();
            let (mut server_rx, mut server_tx) = server.into_split();
            let subscribes = Arc::new(AtomicBool::new(false));
            let seen = subscribes.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                while let Ok(n) = client_rx.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if buf[..n]
                        .windows(9)
                        .any(|w| w.eq_ignore_ascii_case(b"SUBSCRIBE"))
                    {
                        seen.store(true, Ordering::Release);
                    }
                    if server_tx.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let (chunks, mut queued) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
            tokio::spawn(async move {
                while let Some((at, bytes)) = queued.recv().await {
                    tokio::time::sleep_until(at.into()).await;
                    if client_tx.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                while let Ok(n) = server_rx.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let held = if subscribes.load(Ordering::Acquire) {
                        delay
                    } else {
                        Duration::ZERO
                    };
                    if chunks
                        .send((Instant::now() + held, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    port
}

//! A real `nats-server` (Debian's package; `scripts/test.sh` installs it) with JetStream on
//! a free loopback port, stopped by its PID when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server`.
pub struct Nats {
    child: Child,
    pub port: u16,
}

impl Nats {
    /// Starts one; returns once it accepts connections.
    pub fn start() -> Nats {
        Self::start_on(super::free_port())
    }

    /// Starts one on `port` (a restart of a stopped one, say).
    pub fn start_on(port: u16) -> Nats {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect(
            "nats-server is not installed: scripts/test.sh installs it \
                 (apt-get install nats-server)",
        );
        let dir = super::temp_dir("nats");
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nats { child, port }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops it with SIGKILL and waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

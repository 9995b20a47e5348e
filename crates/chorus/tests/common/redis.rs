//! A real `redis-server` (Debian's package; `scripts/test.sh` installs it) on a free
//! loopback port, with nothing saved to disk, stopped by its PID when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct Redis {
    child: Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Redis {
    /// Starts one; returns once it answers `PING`.
    pub fn start() -> Redis {
        Self::start_on(super::free_port())
    }

    /// Starts one on `port` (a restart of a stopped one, say).
    pub fn start_on(port: u16) -> Redis {
        Self::start_in(port, &super::temp_dir("redis"))
    }

    /// Starts one on `port` with its data in `dir` (a restart from a snapshot, say).
    pub fn start_in(port: u16, dir: &std::path::Path) -> Redis {
        Self::start_with(port, dir, &[])
    }

    /// Starts one on `port` with its data in `dir` and these configuration arguments after
    /// the defaults (which they override: `--appendonly yes`, say).
    pub fn start_with(port: u16, dir: &std::path::Path, config: &[&str]) -> Redis {
        let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect(
                "redis-server is not installed: scripts/test.sh installs it \
                 (apt-get install redis-server)",
            );
        let dir = dir.to_owned();
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let redis = Redis { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.try_command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server never answered PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends a command and returns the reply's first line, or a bulk reply's body.
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args).expect("redis answers")
    }

    fn try_command(&self, args: &[&str]) -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end().to_owned();
        if let Some(len) = line.strip_prefix('$') {
            let len: usize = len.parse().ok()?;
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body).ok()?;
            body.truncate(len);
            return String::from_utf8(body).ok();
        }
        Some(line)
    }

    /// How many times `command` ran (`INFO commandstats`).
    pub fn calls(&self, command: &str) -> u64 {
        let info = self.command(&["INFO", "commandstats"]);
        let key = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|line| line.strip_prefix(&key))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Stops it with SIGKILL, keeping its data directory (returned) for a restart.
    pub fn kill_keeping_data(mut self) -> std::path::PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::take(&mut self.dir);
        std::mem::forget(self);
        dir
    }

    /// Stops it with SIGKILL and waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of real `redis-server`s on free loopback ports: three masters holding
/// the 16384 slots in thirds, and `replicas` replicas of the master that holds `key`'s
/// slot. Formed with `CLUSTER ADDSLOTSRANGE`, `MEET` and `REPLICATE` (no `redis-cli`).
pub struct RedisCluster {
    pub masters: Vec<Redis>,
    pub replicas: Vec<Redis>,
    /// The index in `masters` of the one holding `key`'s slot.
    pub owner: usize,
}

impl RedisCluster {
    pub fn start(key: &str, replicas: usize) -> RedisCluster {
        let mut buses = std::collections::HashMap::new();
        let mut node = || {
            let (redis, bus) = Self::node();
            buses.insert(redis.port, bus);
            redis
        };
        let masters: Vec<Redis> = (0..3).map(|_| node()).collect();
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (master, (from, to)) in masters.iter().zip(ranges) {
            let added = master.command(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &from.to_string(),
                &to.to_string(),
            ]);
            assert_eq!(added, "+OK");
        }
        let slot: u16 = masters[0]
            .command(&["CLUSTER", "KEYSLOT", key])
            .trim_start_matches(':')
            .parse()
            .unwrap();
        let owner = ranges
            .iter()
            .position(|&(from, to)| (from..=to).contains(&slot))
            .unwrap();
        let replicas: Vec<Redis> = (0..replicas).map(|_| node()).collect();
        for other in masters.iter().skip(1).chain(&replicas) {
            // The bus port too: it is not the default (port + 10000).
            let met = masters[0].command(&[
                "CLUSTER",
                "MEET",
                "127.0.0.1",
                &other.port.to_string(),
                &buses[&other.port].to_string(),
            ]);
            assert_eq!(met, "+OK");
        }
        let everyone = || masters.iter().chain(&replicas);
        let known = (masters.len() + replicas.len()).to_string();
        Self::wait("every node knows every other", || {
            everyone().all(|node| {
                node.command(&["CLUSTER", "INFO"])
                    .lines()
                    .any(|l| l.trim() == format!("cluster_known_nodes:{known}"))
            })
        });
        let owner_id = masters[owner].command(&["CLUSTER", "MYID"]);
        for replica in &replicas {
            assert_eq!(replica.command(&["CLUSTER", "REPLICATE", &owner_id]), "+OK");
        }
        Self::wait("the cluster is ok and the replicas in sync", || {
            everyone().all(|node| {
                node.command(&["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
            }) && replicas.iter().all(|r| {
                r.command(&["INFO", "replication"])
                    .contains("master_link_status:up")
            })
        });
        RedisCluster {
            masters,
            replicas,
            owner,
        }
    }

    /// A node, and its cluster bus port.
    fn node() -> (Redis, u16) {
        let port = super::free_port();
        let bus_port = super::free_port();
        let bus = bus_port.to_string();
        let dir = super::temp_dir("redis-cluster");
        let redis = Redis::start_with(
            port,
            &dir,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus,
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
            ],
        );
        (redis, bus_port)
    }

    fn wait(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Calls of `command` on every node.
    pub fn calls(&self, command: &str) -> Vec<u64> {
        self.masters
            .iter()
            .chain(&self.replicas)
            .map(|n| n.calls(command))
            .collect()
    }
}

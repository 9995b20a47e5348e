//! The command line: a scenario, its options, and the options every scenario shares.
//!
//! Every option struct is also `Serialize`, so the JSON result carries exactly what was
//! asked for, defaults included, and a run can be reproduced from its output line.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::proto::Proto;

/// Load generator for chorus: drives a WebSocket server with one of four scenarios and
/// prints a progress line each second and a table to stderr, and one JSON line with all
/// figures to stdout.
#[derive(Debug, Parser)]
#[command(name = "chorus-bench", version)]
pub(crate) struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub(crate) scenario: Scenario,
    /// Options of every scenario.
    #[command(flatten)]
    pub(crate) common: Common,
}

/// The scenarios.
#[derive(Debug, Subcommand, Serialize)]
#[serde(untagged)]
pub(crate) enum Scenario {
    /// Round trips: each connection alone in its own room keeps --depth messages in
    /// flight to itself. Reports messages/s and round-trip latency.
    Echo(EchoArgs),
    /// One publisher, --subs subscribers in one room. Reports published/s,
    /// deliveries/s, end-to-end latency and exact loss.
    Fanout(FanoutArgs),
    /// --rooms rooms of --members members; one member per room publishes at --rate.
    /// Reports deliveries/s, latency and exact loss.
    Rooms(RoomsArgs),
    /// Opens --conns connections (each joins a room) and holds them. Reports
    /// connects/s, failures and, with --server-pid, the server's memory per connection
    /// (use a freshly started server: memory freed by earlier runs is reused and hides
    /// the cost).
    Conns(ConnsArgs),
}

impl Scenario {
    /// The scenario's name, as typed.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Scenario::Echo(_) => "echo",
            Scenario::Fanout(_) => "fanout",
            Scenario::Rooms(_) => "rooms",
            Scenario::Conns(_) => "conns",
        }
    }
}

/// Options every scenario takes.
#[derive(Debug, Args, Serialize)]
pub(crate) struct Common {
    /// Server to drive, ws://host:port; the path is chosen per protocol. Several,
    /// comma-separated, are the nodes of one cluster: connections go to them in turn.
    #[arg(long, global = true, default_value = "ws://127.0.0.1:9001")]
    pub(crate) url: String,
    /// Protocol to speak.
    #[arg(long, global = true, value_enum, default_value_t = Proto::Raw)]
    pub(crate) proto: Proto,
    /// Length of the measured window, in seconds.
    #[arg(long, global = true, default_value_t = 10.0, value_parser = positive_secs)]
    pub(crate) duration: f64,
    /// Load before the window starts, not measured, in seconds.
    #[arg(long, global = true, default_value_t = 2.0, value_parser = non_negative_secs)]
    pub(crate) warmup: f64,
    /// Size of each message body in bytes (at least the stamp it carries).
    #[arg(long, global = true, default_value_t = 64)]
    pub(crate) size: usize,
    /// Prefix of every room name (letters, digits, `_`, `-`, `.`).
    #[arg(long, global = true, default_value = "b", value_parser = room_prefix)]
    pub(crate) room_prefix: String,
    /// Tokio worker threads.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: u16,
    /// Most connection setups (TCP, handshake, join) in progress at once. Above the
    /// server's listen backlog, dropped SYNs show up as ~1 s setup latencies.
    #[arg(long, global = true, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) connect_concurrency: u32,
    /// Longest one connection's setup may take, in seconds.
    #[arg(long, global = true, default_value_t = 30.0, value_parser = positive_secs)]
    pub(crate) setup_timeout: f64,
    /// The server's process id: report its CPU seconds and RSS over the window.
    #[arg(long, global = true)]
    pub(crate) server_pid: Option<u32>,
    /// Print only the JSON line (no progress, no table).
    #[arg(long, global = true)]
    pub(crate) json_only: bool,
    /// Free text copied into the JSON result.
    #[arg(long, global = true)]
    pub(crate) label: Option<String>,
}

/// `echo` options.
#[derive(Debug, Args, Serialize)]
pub(crate) struct EchoArgs {
    /// Connections, each in its own room.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    pub(crate) conns: usize,
    /// Messages each connection keeps in flight.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) depth: u64,
}

/// `fanout` options.
#[derive(Debug, Args, Serialize)]
pub(crate) struct FanoutArgs {
    /// Subscribers in the room (besides the publisher).
    #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
    pub(crate) subs: usize,
    /// Messages per second to publish; 0 publishes as fast as --window allows.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_rate)]
    pub(crate) rate: f64,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) flow: FlowArgs,
}

/// How publishers pace themselves and how a run ends: shared by `fanout` and `rooms`.
#[derive(Debug, Args, Serialize)]
pub(crate) struct FlowArgs {
    /// At --rate 0: most messages each publisher keeps in flight (published, not yet
    /// received by the slower of its room's first and last receiver).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) window: u64,
    /// After the window, how long to wait for messages still on their way, in seconds.
    #[arg(long, default_value_t = 5.0, value_parser = non_negative_secs)]
    pub(crate) drain: f64,
    /// Publish with a request id and time the server's acknowledgement (native: a
    /// durable publish when the server keeps history).
    #[arg(long)]
    pub(crate) ack: bool,
}

/// `rooms` options.
#[derive(Debug, Args, Serialize)]
pub(crate) struct RoomsArgs {
    /// Rooms.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    pub(crate) rooms: usize,
    /// Members per room, the publisher included.
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    pub(crate) members: usize,
    /// Messages per second each room's publisher sends; 0 as fast as --window allows.
    #[arg(long, default_value_t = 10.0, value_parser = non_negative_rate)]
    pub(crate) rate: f64,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) flow: FlowArgs,
}

/// `conns` options.
#[derive(Debug, Args, Serialize)]
pub(crate) struct ConnsArgs {
    /// Connections to open.
    #[arg(long, default_value_t = 10_000, value_parser = at_least_one)]
    pub(crate) conns: usize,
    /// Source addresses 127.0.0.1..=127.0.0.K, used round-robin [default: conns/10000
    /// rounded up, plus 1].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    pub(crate) sources: Option<u8>,
    /// How long to hold every connection open once all are up, in seconds.
    #[arg(long, default_value_t = 5.0, value_parser = non_negative_secs)]
    pub(crate) hold: f64,
}

impl ConnsArgs {
    /// The source addresses to use.
    pub(crate) fn source_ips(&self) -> Vec<IpAddr> {
        let k = self
            .sources
            .map_or_else(|| default_sources(self.conns), usize::from);
        (1..=k)
            .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8)))
            .collect()
    }
}

/// One address per 10 000 connections (an address has ~28 000 ephemeral ports, and
/// binding before connecting cannot share them between destinations), plus one spare.
fn default_sources(conns: usize) -> usize {
    (conns.div_ceil(10_000) + 1).min(254)
}

/// Seconds as a `Duration`.
pub(crate) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn parse_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !v.is_finite() {
        return Err(format!("{s:?} is not finite"));
    }
    Ok(v)
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match parse_f64(s)? {
        v if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err("must be more than 0 and at most 86400 seconds".into()),
    }
}

fn non_negative_secs(s: &str) -> Result<f64, String> {
    match parse_f64(s)? {
        v if (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err("must be 0 to 86400 seconds".into()),
    }
}

fn non_negative_rate(s: &str) -> Result<f64, String> {
    match parse_f64(s)? {
        v if v >= 0.0 => Ok(v),
        _ => Err("must be 0 or more".into()),
    }
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// Room names go into URL paths and JSON strings unescaped, so only safe characters.
fn room_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("1 to 64 letters, digits, `_`, `-` or `.`".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn common_options_go_after_the_scenario() {
        let cli = Cli::try_parse_from([
            "chorus-bench",
            "fanout",
            "--subs",
            "10",
            "--proto",
            "native",
            "--duration",
            "3",
        ])
        .unwrap();
        assert_eq!(cli.common.proto, Proto::Native);
        assert_eq!(cli.common.duration, 3.0);
        match cli.scenario {
            Scenario::Fanout(f) => assert_eq!((f.subs, f.flow.window, f.rate), (10, 64, 0.0)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_unsafe_room_prefixes() {
        assert!(room_prefix("bench-1.x_y").is_ok());
        for bad in ["", "a/b", "a\"b", "a b", "é"] {
            assert!(room_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_sources_scale_with_connections() {
        assert_eq!(default_sources(500), 2);
        assert_eq!(default_sources(10_000), 2);
        assert_eq!(default_sources(10_001), 3);
        let args = ConnsArgs {
            conns: 15_000,
            sources: None,
            hold: 1.0,
        };
        let ips = args.source_ips();
        assert_eq!(ips.len(), 3);
        assert_eq!(ips[2], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    }
}

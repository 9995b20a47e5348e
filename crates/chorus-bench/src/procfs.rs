//! CPU time and resident memory of a process, read from `/proc`.
//!
//! The bench reports its own CPU use (to flag runs where the generator, not the server,
//! was the bottleneck) and, given `--server-pid`, the server's CPU seconds and RSS. Both
//! come from `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/status` (VmRSS), which
//! are cheap to read a few times per run and need no privileges for our own processes.

use std::fs;
use std::io;

use thiserror::Error;

/// Clock ticks per second in `/proc/<pid>/stat`. The kernel reports these in USER_HZ,
/// which is part of the Linux ABI and 100 on every architecture it supports, whatever
/// the kernel's internal HZ; reading it through `sysconf` would need `unsafe` (forbidden
/// here) for a value that cannot differ.
const USER_HZ: f64 = 100.0;

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pid {
    /// The bench itself.
    Me,
    /// Another process, by id.
    Other(u32),
}

impl Pid {
    fn dir(self) -> String {
        match self {
            Pid::Me => "/proc/self".to_owned(),
            Pid::Other(pid) => format!("/proc/{pid}"),
        }
    }
}

/// Reading `/proc` failed.
#[derive(Debug, Error)]
pub(crate) enum ProcError {
    /// The file could not be read (no such process, or not Linux).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The file did not have the expected shape.
    #[error("cannot parse {0}")]
    Parse(String),
}

fn read(path: String) -> Result<String, ProcError> {
    fs::read_to_string(&path).map_err(|source| ProcError::Read { path, source })
}

/// User plus system CPU seconds the process has used so far.
pub(crate) fn cpu_seconds(pid: Pid) -> Result<f64, ProcError> {
    let path = format!("{}/stat", pid.dir());
    let text = read(path.clone())?;
    let ticks = parse_cpu_ticks(&text).ok_or(ProcError::Parse(path))?;
    // Tick counts stay far below 2^53: the conversion is exact.
    Ok(ticks as f64 / USER_HZ)
}

/// Resident set size in KiB.
pub(crate) fn rss_kib(pid: Pid) -> Result<u64, ProcError> {
    let path = format!("{}/status", pid.dir());
    let text = read(path.clone())?;
    parse_vm_rss_kib(&text).ok_or(ProcError::Parse(path))
}

/// utime + stime (fields 14 and 15) from the text of `/proc/<pid>/stat`. The command
/// name (field 2) is in parentheses and may itself contain spaces or parentheses, so
/// fields are counted from the *last* `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is the 12th of these.
    let mut fields = after_comm.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The `VmRSS:` line of `/proc/<pid>/status`, in KiB.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_ascii_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime() {
        let stat = "1234 (chorus) S 1 1234 1234 0 -1 4194560 2000 0 0 0 150 25 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(175));
    }

    #[test]
    fn a_name_with_spaces_and_parens_does_not_shift_fields() {
        let stat = "42 (tokio (w) 1) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_cpu_ticks(stat), Some(10));
    }

    #[test]
    fn short_stat_is_none() {
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2 3"), None);
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tchorus\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(12345));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(cpu_seconds(Pid::Me).unwrap() >= 0.0);
        assert!(rss_kib(Pid::Me).unwrap() > 0);
    }
}

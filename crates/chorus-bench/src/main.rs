//! `chorus-bench`: a load generator for chorus (and any server speaking the same raw,
//! native or Socket.IO protocols).
//!
//! # Layout
//!
//! The modules follow a message from the command line to the report:
//!
//! * [`cli`]: scenarios and options.
//! * [`limits`]: the open-file limit, raised and checked before anything connects.
//! * [`transport`]: TCP (source address, `TCP_NODELAY`) and the WebSocket handshake.
//! * [`proto`]: the three protocols as sans-IO frame builders and classifiers.
//! * [`session`]: greeting and join per protocol.
//! * [`payload`] and [`clock`]: the `"<seq> <send_ns> <padding>"` body and its clock.
//! * [`run`]: the context every connection shares, and bounded connection setup.
//! * [`stage`]: setup → warm-up → measure → drain → shutdown.
//! * [`role`]: what a connection does: listen, publish, echo.
//! * [`pacer`] and [`inflight`]: fixed-rate and max-rate publishing.
//! * [`loss`]: exact loss per receiver (gaps and tail).
//! * [`stats`]: sharded counters and latency histograms.
//! * [`measure`] and [`procfs`]: the measured window, its CPU and memory figures.
//! * [`scenario`]: echo, fanout, rooms, conns.
//! * [`report`]: the JSON line and the table.
//!
//! stdout carries exactly one line, the JSON report; everything for people goes to
//! stderr, so `chorus-bench … | jq` works while the progress lines stay visible.

mod cli;
mod clock;
mod inflight;
mod limits;
mod loss;
mod measure;
mod pacer;
mod payload;
mod procfs;
mod proto;
mod report;
mod role;
mod run;
mod scenario;
mod session;
mod stage;
mod stats;
mod transport;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::cli::Cli;

fn main() -> ExitCode {
    clock::init();
    let cli = Cli::parse();
    match bench(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chorus-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench(cli: &Cli) -> anyhow::Result<()> {
    let nofile = limits::raise_nofile()?;
    // Always said, even with --json-only: it bounds every connection count.
    eprintln!("open files limit: {nofile}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(cli.common.threads))
        .enable_all()
        .build()?;
    let report = runtime.block_on(scenario::run(cli, nofile))?;
    // Connection tasks have ended or been aborted; don't wait on stragglers.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if !cli.common.json_only {
        eprint!("{}", report.table());
    }
    println!("{}", report.json());
    Ok(())
}

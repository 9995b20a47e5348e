//! The four scenarios, and what they share: the context, the warm-up → measure → drain
//! timeline, ending the tasks, and turning an [`Outcome`] into the [`Report`].
//!
//! * [`echo`]: round trips, each connection alone in its room.
//! * [`broadcast`]: `fanout` (one room, many subscribers) and `rooms` (many small rooms),
//!   both one publisher per room with exact loss accounting.
//! * [`conns`]: many idle connections; connect rate and server memory per connection.

pub(crate) mod broadcast;
pub(crate) mod conns;
pub(crate) mod echo;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::task::JoinHandle;

use crate::cli::{secs, Cli, Common, Scenario};
use crate::limits::LimitError;
use crate::measure::{edge, tick_for, Line, Window};
use crate::report::{self, Disconnect, Figures, Report, ServerFigures};
use crate::run::{Failures, Run};
use crate::stage::Stage;
use crate::transport::{Closed, Target, TargetError};

/// How long tasks get to end after shutdown before they are aborted (one stuck on a
/// write to a server that stopped reading must not hang the report).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why a scenario could not run at all (as opposed to failures it counts and reports).
#[derive(Debug, Error)]
pub(crate) enum ScenarioError {
    /// The `--url` is unusable.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Not enough file descriptors for the connections asked for.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// Options that contradict each other or the protocol.
    #[error("{0}")]
    Options(&'static str),
    /// Every connection failed: nothing to measure.
    #[error("none of the {expected} connections could be set up: {reasons}")]
    NoneSetUp {
        /// Connections asked for.
        expected: usize,
        /// The failure reasons, with counts.
        reasons: String,
    },
}

/// What a scenario measured, before it becomes a report.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The scenario's own figures.
    pub(crate) figures: Figures,
    /// The measured window.
    pub(crate) window: Window,
    /// Setup failures.
    pub(crate) failures: Failures,
    /// Connections that ended early, and how.
    pub(crate) disconnects: Vec<Disconnect>,
    /// Messages the server handled in the window, the basis of CPU per million.
    pub(crate) handled: Option<u64>,
}

/// Runs the scenario the command line names; `nofile` is the open-file limit.
pub(crate) async fn run(cli: &Cli, nofile: u64) -> Result<Report, ScenarioError> {
    let common = &cli.common;
    let outcome = match &cli.scenario {
        Scenario::Echo(args) => echo::run(common, args, nofile).await?,
        Scenario::Fanout(args) => {
            broadcast::run(common, broadcast::Plan::fanout(common, args)?, nofile).await?
        }
        Scenario::Rooms(args) => {
            broadcast::run(common, broadcast::Plan::rooms(common, args)?, nofile).await?
        }
        Scenario::Conns(args) => conns::run(common, args, nofile).await?,
    };
    Ok(assemble(cli, outcome))
}

/// The shared context for a scenario's connections.
fn context(common: &Common, target: Target) -> Arc<Run> {
    Arc::new(Run::new(
        target,
        common.proto,
        common.size,
        common.connect_concurrency as usize,
        secs(common.setup_timeout),
    ))
}

/// Fails the run when not a single connection could be set up: there is nothing to
/// measure, and the reasons say why.
fn require_some(failures: &Failures, expected: usize) -> Result<(), ScenarioError> {
    if failures.count as usize >= expected {
        let reasons: Vec<String> = failures
            .reasons
            .iter()
            .map(|(r, n)| format!("{n} × {r}"))
            .collect();
        return Err(ScenarioError::NoneSetUp {
            expected,
            reasons: reasons.join("; "),
        });
    }
    Ok(())
}

/// Warm-up (publishers start), then the measured window; leaves the run draining.
async fn measured(run: &Run, common: &Common, line: Line) -> Window {
    run.stage.set(Stage::Warmup);
    if common.warmup > 0.0 {
        tick_for(run, "warmup ", secs(common.warmup), common.json_only, line).await;
    }
    let start = edge(run, common.server_pid);
    run.stage.set(Stage::Measure);
    tick_for(
        run,
        "measure",
        secs(common.duration),
        common.json_only,
        line,
    )
    .await;
    let end = edge(run, common.server_pid);
    run.stage.set(Stage::Drain);
    Window { start, end }
}

/// Shuts the run down and collects every task's report, in spawn order; a task that
/// does not end within [`STOP_GRACE`] is aborted and gives `None`.
async fn finish<T>(run: &Run, tasks: Vec<JoinHandle<T>>) -> Vec<Option<T>> {
    run.stage.set(Stage::Shutdown);
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    let mut out = Vec::with_capacity(tasks.len());
    let mut stuck = 0;
    for mut task in tasks {
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(report)) => out.push(Some(report)),
            Ok(Err(err)) => {
                eprintln!("a connection task failed: {err}");
                out.push(None);
            }
            Err(_) => {
                task.abort();
                stuck += 1;
                out.push(None);
            }
        }
    }
    if stuck > 0 {
        eprintln!("{stuck} connection tasks did not stop within {STOP_GRACE:?} and were aborted");
    }
    out
}

/// A connection's early end, as reported.
fn disconnect(closed: Closed) -> Disconnect {
    Disconnect {
        code: closed.code,
        reason: closed.reason,
    }
}

/// Puts the report together.
fn assemble(cli: &Cli, outcome: Outcome) -> Report {
    let common = &cli.common;
    let window = outcome.window;
    let bench_cpu_s = window.bench_cpu_s();
    let bench_cpu_util = bench_cpu_s
        .filter(|_| window.secs() > 0.0)
        .map(|cpu| cpu / window.secs());
    let server = common.server_pid.map(|pid| {
        let cpu = window.server_cpu_s();
        ServerFigures {
            server_pid: pid,
            server_cpu_s: cpu,
            server_cpu_s_per_million: cpu
                .zip(outcome.handled.filter(|&n| n > 0))
                .map(|(cpu, n)| cpu / (n as f64 / 1e6)),
            server_rss_kib_start: window.start.server_rss_kib,
            server_rss_kib_end: window.end.server_rss_kib,
        }
    });
    let mut options = serde_json::to_value(common).expect("options serialise");
    if let (Some(all), Ok(serde_json::Value::Object(own))) =
        (options.as_object_mut(), serde_json::to_value(&cli.scenario))
    {
        all.extend(own);
    }
    let disconnected = outcome.disconnects.len() as u64;
    Report {
        scenario: cli.scenario.name(),
        proto: common.proto,
        label: common.label.clone(),
        options,
        window_s: window.secs(),
        failures: outcome.failures.count,
        failure_reasons: outcome.failures.reasons,
        disconnected,
        disconnects: report::group_disconnects(outcome.disconnects),
        figures: outcome.figures,
        bench_cpu_s,
        bench_cpu_util,
        client_limited: report::client_limited(bench_cpu_util),
        server,
    }
}

//! `conns`: how many connections the server takes, how fast, and what each costs it.
//!
//! Opens `--conns` connections from `--sources` loopback addresses (each joins a room,
//! 100 rooms in all, so the server keeps room membership too), holds them for `--hold`
//! seconds with a reader on each (which answers pings, so the server keeps them), and
//! with `--server-pid` reads the server's RSS before the first connect and after the
//! hold. Connections use small buffers here: the figure is the server's memory, and the
//! bench must not run out of its own first. The per-connection figure is only meaningful
//! against a freshly started server: an allocator keeps what earlier runs freed and
//! hands it out again without the RSS growing.

use std::time::Instant;

use crate::cli::{secs, Common, ConnsArgs};
use crate::limits;
use crate::measure::{edge, human, tick_for, Window};
use crate::procfs::{self, Pid};
use crate::report::{ConnsFigures, Figures, Percentiles};
use crate::role::listener::Listener;
use crate::run::{collect_setups, setup_channel};
use crate::stats::Counts;
use crate::transport::Target;

use super::{context, disconnect, finish, require_some, Outcome, ScenarioError};

/// Rooms the connections are spread over.
const ROOMS: usize = 100;

/// Initial read and write buffer per connection, in bytes.
const IDLE_BUFFER: usize = 1024;

/// Runs `conns`.
pub(crate) async fn run(
    common: &Common,
    args: &ConnsArgs,
    nofile: u64,
) -> Result<Outcome, ScenarioError> {
    let n = args.conns;
    limits::check(n as u64, nofile)?;
    let sources = args.source_ips();
    let target = Target::new(&common.url, sources.clone(), Some(IDLE_BUFFER)).await?;
    if !common.json_only {
        eprintln!(
            "opening {n} connections to {} from {} source addresses, {} at a time",
            target.addr(),
            sources.len(),
            common.connect_concurrency
        );
    }
    let run = context(common, target);
    let baseline = common
        .server_pid
        .and_then(|pid| procfs::rss_kib(Pid::Other(pid)).ok());
    let start = edge(&run, common.server_pid);

    let (ready, mut setups) = setup_channel(n);
    let tasks: Vec<_> = (0..n)
        .map(|index| {
            let listener = Listener {
                index,
                room: format!("{}idle{}", common.room_prefix, index % ROOMS),
                receiver: None,
            };
            tokio::spawn(listener.run(run.clone(), ready.clone()))
        })
        .collect();
    drop(ready);
    let connecting = Instant::now();
    let failures = collect_setups(&run, &mut setups, n, "conns", common.json_only).await;
    let connect_s = connecting.elapsed().as_secs_f64();
    require_some(&failures, n)?;
    let connected = run.stats.counts().connected;

    tick_for(&run, "hold", secs(args.hold), common.json_only, line).await;
    let end = edge(&run, common.server_pid);
    let alive = connected.saturating_sub(end.counts.disconnected);
    let after = end.server_rss_kib;

    let reports = finish(&run, tasks).await;
    let disconnects = reports
        .into_iter()
        .flatten()
        .filter_map(|r| r.ended)
        .map(disconnect)
        .collect();
    let rss_per_conn_kib = baseline
        .zip(after)
        .filter(|_| connected > 0)
        .map(|(base, after)| (after as f64 - base as f64) / connected as f64);
    Ok(Outcome {
        figures: Figures::Conns(ConnsFigures {
            requested: n as u64,
            connected,
            connect_s,
            connects_per_s: crate::measure::per_second(connected, connect_s),
            setup_latency_us: Percentiles::of(&run.stats.setup_latency.merged()),
            sources: sources.len() as u64,
            hold_s: args.hold,
            alive_after_hold: alive,
            server_rss_kib_baseline: baseline,
            server_rss_kib_after: after,
            rss_per_conn_kib,
        }),
        window: Window { start, end },
        failures,
        disconnects,
        handled: None,
    })
}

fn line(_last: &Counts, total: &Counts) -> String {
    format!(
        "up {}  disconnected {}",
        human(total.connected.saturating_sub(total.disconnected) as f64),
        total.disconnected
    )
}

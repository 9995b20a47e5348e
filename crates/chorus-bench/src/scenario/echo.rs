//! `echo`: round trips. Each connection is alone in its own room and keeps `--depth`
//! messages in flight to itself, so the figure is the server's request/response
//! throughput and latency with no fan-out at all.

use crate::cli::{Common, EchoArgs};
use crate::limits;
use crate::measure::human;
use crate::report::{EchoFigures, Figures, Percentiles};
use crate::role::echoer::Echoer;
use crate::run::{collect_setups, setup_channel};
use crate::stats::Counts;
use crate::transport::Target;

use super::{context, disconnect, finish, measured, require_some, Outcome, ScenarioError};

/// Runs `echo`.
pub(crate) async fn run(
    common: &Common,
    args: &EchoArgs,
    nofile: u64,
) -> Result<Outcome, ScenarioError> {
    limits::check(args.conns as u64, nofile)?;
    let run = context(common, Target::new(&common.url, Vec::new(), None).await?);
    let (ready, mut setups) = setup_channel(args.conns);
    let tasks: Vec<_> = (0..args.conns)
        .map(|index| {
            let echoer = Echoer {
                index,
                room: format!("{}e{index}", common.room_prefix),
                depth: args.depth,
            };
            tokio::spawn(echoer.run(run.clone(), ready.clone()))
        })
        .collect();
    drop(ready);
    let failures = collect_setups(&run, &mut setups, args.conns, "echo", common.json_only).await;
    require_some(&failures, args.conns)?;

    let window = measured(&run, common, line).await;
    let reports = finish(&run, tasks).await;

    let round_trips = window.counts().round_trips;
    let disconnects = reports
        .into_iter()
        .flatten()
        .filter_map(|r| r.ended)
        .map(disconnect)
        .collect();
    Ok(Outcome {
        figures: Figures::Echo(EchoFigures {
            conns: (args.conns as u64).saturating_sub(failures.count),
            round_trips,
            messages_per_s: window.rate(round_trips),
            latency_us: Percentiles::of(&run.stats.latency.merged()),
        }),
        window,
        failures,
        disconnects,
        handled: Some(round_trips),
    })
}

fn line(last: &Counts, total: &Counts) -> String {
    format!(
        "round trips {}/s  disconnected {}",
        human(last.round_trips as f64),
        total.disconnected
    )
}

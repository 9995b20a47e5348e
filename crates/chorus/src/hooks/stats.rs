//! [`Stats`]: how the hooks went — each hook's latency and outcomes, commands refused for a
//! full lane — and their Prometheus text at `/metrics`.

use std::time::Duration;

use chorus_core::Histogram;

/// The hooks' names, as in their URLs and in `/metrics`.
const HOOKS: [&str; 4] = ["connect", "join", "publish", "events"];

/// How the hooks went, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// How long each hook's requests took (all of its tries), by hook.
    latency: [Histogram; 4],
    /// Requests by hook and outcome (`allow`, `deny`, `failed`; `sent`, `dropped` for
    /// events).
    outcomes: parking_lot::Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
    /// Commands refused at once because their connection's lane was full.
    pub(crate) busy: std::sync::atomic::AtomicU64,
}

impl Stats {
    pub(crate) fn count(&self, hook: &'static str, outcome: &'static str, n: u64) {
        *self.outcomes.lock().entry((hook, outcome)).or_default() += n;
    }

    pub(crate) fn observe(&self, hook: &'static str, took: Duration) {
        let index = HOOKS.iter().position(|h| *h == hook).expect("a hook");
        self.latency[index].observe(took);
    }

    /// The Prometheus text of the hooks' counters and latencies.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP chorus_hook_seconds How long the application's backend took to answer a hook (every try).");
        let _ = writeln!(out, "# TYPE chorus_hook_seconds histogram");
        for (hook, histogram) in HOOKS.iter().zip(&self.latency) {
            histogram.render_series(out, "chorus_hook_seconds", &format!("hook=\"{hook}\""));
        }
        let _ = writeln!(out, "# HELP chorus_hook_busy_total Commands refused at once because too many of their connection's were waiting for the backend.");
        let _ = writeln!(out, "# TYPE chorus_hook_busy_total counter");
        let _ = writeln!(
            out,
            "chorus_hook_busy_total {}",
            self.busy.load(std::sync::atomic::Ordering::Relaxed)
        );
        let _ = writeln!(out, "# TYPE chorus_hook_requests_total counter");
        for ((hook, outcome), count) in self.outcomes.lock().iter() {
            let _ = writeln!(
                out,
                "chorus_hook_requests_total{{hook=\"{hook}\",outcome=\"{outcome}\"}} {count}"
            );
        }
    }
}

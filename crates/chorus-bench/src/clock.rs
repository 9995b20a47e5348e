//! The bench's one clock: nanoseconds since the process started.
//!
//! Publishers stamp every message with [`now_ns`] and receivers subtract the stamp from
//! their own reading. That subtraction is only meaningful because sender and receiver live
//! in this one process and read the same monotonic `Instant`, so no clock sync between
//! machines (and no wall-clock step) can skew a latency figure.

use std::sync::LazyLock;
use std::time::Instant;

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Fixes the origin; called first thing in `main` so the origin precedes every stamp.
pub(crate) fn init() {
    LazyLock::force(&START);
}

/// Nanoseconds since [`init`]. A `u64` of nanoseconds lasts 584 years.
pub(crate) fn now_ns() -> u64 {
    u64::try_from(START.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

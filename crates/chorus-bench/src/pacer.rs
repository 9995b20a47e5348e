//! Publishing at a fixed rate, without bursts.
//!
//! Tokio's timer has millisecond resolution, so one tick per message only works up to
//! 1000 messages/s. Above that the pacer ticks every millisecond and hands out
//! `rate / 1000` messages per tick, carrying the fraction over so the long-run rate is
//! exact. A publisher that falls behind (a stalled socket, a busy runtime) skips the
//! ticks it missed rather than sending them in a burst: the bench then reports the rate
//! it achieved, which is the honest figure, instead of a burst the target rate never
//! asked for.
//!
//! Many publishers at the same rate would all tick in the same millisecond and turn a
//! steady load into a burst per period; each pacer therefore starts at a phase, a
//! fraction of the period, which the caller spreads over its publishers.

use std::time::Duration;

use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};

/// Shortest tick the timer can honour.
const MIN_TICK: Duration = Duration::from_millis(1);

/// Hands out a fixed rate of messages per tick.
pub(crate) struct Pacer {
    interval: Interval,
    quota: Quota,
}

impl Pacer {
    /// A pacer for `rate` messages per second (positive), first ticking after `phase`
    /// (0 to 1) of a period.
    pub(crate) fn new(rate: f64, phase: f64) -> Self {
        let (period, per_tick) = schedule(rate);
        let start = Instant::now() + period.mul_f64(phase.clamp(0.0, 1.0));
        let mut interval = interval_at(start, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Self {
            interval,
            quota: Quota::new(per_tick),
        }
    }

    /// Waits for the next tick; returns how many messages are due (possibly 0 when the
    /// rate is not a whole number per tick). Cancel-safe.
    pub(crate) async fn tick(&mut self) -> u64 {
        self.interval.tick().await;
        self.quota.next()
    }
}

/// The tick period and messages per tick for `rate` messages per second.
fn schedule(rate: f64) -> (Duration, f64) {
    let period = Duration::from_secs_f64(1.0 / rate);
    if period >= MIN_TICK {
        (period, 1.0)
    } else {
        (MIN_TICK, rate * MIN_TICK.as_secs_f64())
    }
}

/// Whole messages per tick out of a fractional quota.
#[derive(Debug)]
struct Quota {
    per_tick: f64,
    carry: f64,
}

impl Quota {
    fn new(per_tick: f64) -> Self {
        Self {
            per_tick,
            carry: 0.0,
        }
    }

    fn next(&mut self) -> u64 {
        self.carry += self.per_tick;
        let whole = self.carry.floor();
        self.carry -= whole;
        // `whole` is a small non-negative integer: the cast is exact.
        whole as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_rates_tick_once_per_message() {
        assert_eq!(schedule(10.0), (Duration::from_millis(100), 1.0));
        assert_eq!(schedule(1000.0), (Duration::from_millis(1), 1.0));
    }

    #[test]
    fn fast_rates_tick_every_millisecond() {
        let (period, per_tick) = schedule(250_000.0);
        assert_eq!(period, MIN_TICK);
        assert!((per_tick - 250.0).abs() < 1e-9);
    }

    #[test]
    fn fractions_carry_over() {
        let mut q = Quota::new(2.5);
        let got: Vec<u64> = (0..4).map(|_| q.next()).collect();
        assert_eq!(got, [2, 3, 2, 3]);
        let mut q = Quota::new(0.25);
        let total: u64 = (0..1000).map(|_| q.next()).sum();
        assert_eq!(total, 250);
    }

    #[tokio::test(start_paused = true)]
    async fn delivers_the_rate_over_time() {
        let mut pacer = Pacer::new(5_000.0, 0.0);
        let mut sent = 0;
        // The first tick is immediate; 1000 more cover one second.
        for _ in 0..=1000 {
            sent += pacer.tick().await;
        }
        assert_eq!(sent, 5_005);
    }

    #[tokio::test(start_paused = true)]
    async fn starts_at_its_phase() {
        let start = Instant::now();
        let mut pacer = Pacer::new(10.0, 0.5);
        pacer.tick().await;
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        pacer.tick().await;
        assert_eq!(start.elapsed(), Duration::from_millis(150));
    }
}

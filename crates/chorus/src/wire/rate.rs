//! A token bucket: the per-connection message rate limit.
//!
//! Each message takes a token; tokens come back at `rate` per second up to `burst`. The
//! bucket lives in the connection's own task, so it needs no lock and no timer: it refills
//! lazily from the time elapsed since the last message.

use std::time::Instant;

/// A token bucket.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `rate` tokens per second, holding at most `burst`.
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token if one is left at `now`.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn per_token(rate: u32) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(rate))
    }

    #[test]
    fn burst_then_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 5);
        for _ in 0..5 {
            assert!(bucket.take(start));
        }
        assert!(!bucket.take(start), "burst spent");
        let later = start + per_token(10);
        assert!(bucket.take(later), "one token back after 100 ms");
        assert!(!bucket.take(later));
        let much_later = later + Duration::from_secs(60);
        for _ in 0..5 {
            assert!(bucket.take(much_later));
        }
        assert!(!bucket.take(much_later), "never more than the burst");
    }
}

//! How many more messages a max-rate publisher may send: the in-flight window.
//!
//! The server gives each connection a bounded outbound queue and drops (or disconnects)
//! a consumer that falls too far behind, so a publisher that sends as fast as it can
//! would measure the server's overload policy instead of its throughput. The publisher
//! therefore keeps at most `window` messages in flight, where in flight is what it sent
//! minus what the slowest *watched* receiver has got. Watching every receiver would cost
//! a shared counter read per receiver per send; watching the first and the last to join
//! the room (the two ends of the server's member list, whichever order it fans out in)
//! bounds the rest in practice.
//!
//! A durable publish (`--ack`) is also in flight until the server acknowledges it, so
//! the slower of deliveries and acknowledgements governs.

/// Messages in flight: `sent` minus the least progress among `watched` (each watcher's
/// "one past the highest seq received", or `u64::MAX` for one that left and must not
/// hold the publisher back). No watchers means nothing is known to be in flight.
pub(crate) fn in_flight(sent: u64, watched: impl IntoIterator<Item = u64>) -> u64 {
    watched
        .into_iter()
        .min()
        .map_or(0, |slowest| sent.saturating_sub(slowest))
}

/// How many more may be sent now so no more than `window` are in flight.
pub(crate) fn allowance(in_flight: u64, window: u64) -> u64 {
    window.saturating_sub(in_flight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_watcher_governs() {
        assert_eq!(in_flight(100, [90, 40]), 60);
        assert_eq!(in_flight(100, [100, 100]), 0);
        assert_eq!(allowance(in_flight(100, [90, 40]), 64), 4);
    }

    #[test]
    fn starts_with_a_full_window() {
        assert_eq!(allowance(in_flight(0, [0, 0]), 64), 64);
    }

    #[test]
    fn full_window_allows_nothing() {
        assert_eq!(allowance(in_flight(64, [0, 10]), 64), 0);
        // More in flight than the window (it shrank, or an ack lags): still nothing.
        assert_eq!(allowance(100, 64), 0);
    }

    #[test]
    fn a_departed_watcher_does_not_stall_the_publisher() {
        assert_eq!(in_flight(500, [u64::MAX, 480]), 20);
        assert_eq!(in_flight(500, [u64::MAX, u64::MAX]), 0);
    }

    #[test]
    fn no_watchers_means_nothing_in_flight() {
        assert_eq!(in_flight(500, []), 0);
    }

    #[test]
    fn acknowledgements_count_like_a_watcher() {
        // Deliveries are ahead, acks lag: the acks govern.
        assert_eq!(in_flight(100, [99, 98, 30]), 70);
    }
}

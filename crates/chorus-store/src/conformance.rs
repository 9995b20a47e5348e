//! The conformance suite: what every [`Store`] must do, as plain functions over a fresh,
//! empty store, so each implementation — here or in another crate — runs the same checks.
//!
//! The cases for streams and offsets are in `conformance/streams.rs`, those for sequence
//! numbers in `conformance/sequence.rs`, those for session records in
//! `conformance/sessions.rs`; what they share in `conformance/support.rs`.
//!
//! Each case panics (with an `assert!` message) on a violation. [`run_all`] runs every case
//! against stores from a factory; [`CASES`] lists them by name, and inside this crate the
//! `conformance_tests!` macro turns them into one `#[test]` each for an implementation.
//!
//! Decisions the suite pins down beyond the trait's wording (see [`crate::rules`]):
//! an unknown stream reports offset 0 and the same epoch on every read, keeps that epoch
//! when its first message creates it, and reading it creates nothing; a read after an
//! offset the stream never reached is `truncated`; `read_last(n)` is a read after
//! `last - n`; a page's `pos` and entries are one consistent snapshot; a read after a
//! sequence number is `truncated` by removal only if a removed message had a higher one
//! ([`crate::rules::truncated_after_seq`]); a session record is still valid during the
//! millisecond it expires in, and `trim`'s count does not include session records.

use crate::Store;

mod sequence;
mod sessions;
mod streams;
mod support;

pub use self::sequence::{
    read_after_seq_is_truncated_only_by_removing_unseen_messages,
    read_after_seq_skips_what_the_reader_has, sequence_numbers_increase_across_batches_and_streams,
};
pub use self::sessions::{
    expire_open_sessions_touches_only_open_records, sessions_are_put_read_replaced_and_deleted,
    sessions_are_touched, sessions_expire, trim_removes_expired_sessions,
};

/// One conformance case: checks a fresh, empty store.
pub type Case = fn(&dyn Store);

pub use self::streams::{
    an_empty_batch_appends_nothing, an_unknown_stream_has_a_stable_epoch_and_keeps_it,
    concurrent_reads_see_consistent_pages, every_data_kind_round_trips,
    many_streams_interleaved_in_one_batch, offsets_start_at_one_and_increase_across_batches,
    read_after_beyond_the_end_is_truncated, read_after_is_exclusive_and_limited,
    read_after_with_another_epoch_is_empty_and_truncated, read_last_reads_the_newest_oldest_first,
    reads_over_trimmed_offsets_are_truncated, senders_and_unicode_names_round_trip, trim_by_age,
    trim_by_count_per_stream, trimming_everything_keeps_the_position,
};
pub use self::support::{append_one, append_stamped, json_event, T0};

/// Defines [`CASES`] and the crate-internal `conformance_tests!` macro from one list.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        /// Every case, by name.
        pub const CASES: &[(&str, Case)] = &[$((stringify!($case), $case)),*];

        /// `conformance_tests!(run)` defines one `#[test]` per case, each calling
        /// `run(case)`; `run` gives the case a fresh store.
        #[cfg(test)]
        macro_rules! conformance_tests {
            ($run:path) => {
                $(
                    #[test]
                    fn $case() {
                        $run($crate::conformance::$case);
                    }
                )*
            };
        }
    };
}

cases! {
    offsets_start_at_one_and_increase_across_batches,
    an_empty_batch_appends_nothing,
    an_unknown_stream_has_a_stable_epoch_and_keeps_it,
    read_after_is_exclusive_and_limited,
    read_after_with_another_epoch_is_empty_and_truncated,
    read_after_beyond_the_end_is_truncated,
    read_last_reads_the_newest_oldest_first,
    reads_over_trimmed_offsets_are_truncated,
    trim_by_count_per_stream,
    trim_by_age,
    trimming_everything_keeps_the_position,
    every_data_kind_round_trips,
    senders_and_unicode_names_round_trip,
    many_streams_interleaved_in_one_batch,
    concurrent_reads_see_consistent_pages,
    sequence_numbers_increase_across_batches_and_streams,
    read_after_seq_skips_what_the_reader_has,
    read_after_seq_is_truncated_only_by_removing_unseen_messages,
    sessions_are_put_read_replaced_and_deleted,
    sessions_expire,
    sessions_are_touched,
    expire_open_sessions_touches_only_open_records,
    trim_removes_expired_sessions,
}

/// Runs every case, each on a new store from `factory`, printing each case's name first
/// (shown by the test harness when one fails).
pub fn run_all(factory: &dyn Fn() -> Box<dyn Store>) {
    for (name, case) in CASES {
        eprintln!("conformance: {name}");
        case(&*factory());
    }
}

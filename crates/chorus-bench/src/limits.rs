//! The open-file limit: every connection is a file descriptor.
//!
//! The soft `RLIMIT_NOFILE` is often 1024 while the hard limit allows far more, so the
//! bench raises the soft limit to the hard one at startup (through the safe `rlimit`
//! crate; the workspace forbids `unsafe`) and refuses up front, with the numbers, a run
//! that could not open its connections, rather than failing thousands of connects with
//! EMFILE halfway through.

use thiserror::Error;

/// Descriptors kept free for the runtime, stdio, `/proc` reads and the like.
pub(crate) const SPARE_FDS: u64 = 50;

/// The run needs more descriptors than the process may open.
#[derive(Debug, Error)]
pub(crate) enum LimitError {
    /// Raising the limit failed.
    #[error("cannot raise the open-file limit: {0}")]
    Raise(#[from] std::io::Error),
    /// Too many connections for the limit.
    #[error(
        "{conns} connections need {needed} open files but the limit is {limit}; \
         raise the hard limit (ulimit -Hn) or ask for fewer connections"
    )]
    TooMany {
        /// Connections asked for.
        conns: u64,
        /// Descriptors those need.
        needed: u64,
        /// The limit in force.
        limit: u64,
    },
}

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
pub(crate) fn raise_nofile() -> Result<u64, LimitError> {
    Ok(rlimit::increase_nofile_limit(u64::MAX)?)
}

/// Checks that `conns` connections fit under `limit`.
pub(crate) fn check(conns: u64, limit: u64) -> Result<(), LimitError> {
    let needed = conns.saturating_add(SPARE_FDS);
    if needed > limit {
        return Err(LimitError::TooMany {
            conns,
            needed,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_room_for_spare_descriptors() {
        assert!(check(19_950, 20_000).is_ok());
        let err = check(19_951, 20_000).unwrap_err();
        assert!(err.to_string().contains("19951 connections need 20001"));
    }
}

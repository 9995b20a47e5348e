//! [`ConnectError`]: why a broker could not be set up.

/// Why a broker could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse, or names no broker this build has.
    #[error("broker URL {url:?}: {why}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The history store on the broker's server could not be opened.
    #[error("history store at {url:?}: {why}")]
    Store {
        /// The URL.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// A broker runs its connections on the tokio runtime it is set up in: there is none.
    #[error("a broker must be set up inside a tokio runtime")]
    NoRuntime,
}

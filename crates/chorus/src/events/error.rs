//! [`EmitError`]: why an emit failed.

use chorus_core::HubError;

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The data could not be serialised to JSON.
    #[error("cannot serialise event data: {0}")]
    Json(#[from] serde_json::Error),
    /// The hub refused (for example: not in the room).
    #[error(transparent)]
    Hub(#[from] HubError),
}

//! [`Receipt`]: what a published message's sender hears once the message went out — told
//! by the route for a message delivered at once, by the publisher's writer for one stored
//! first. Apart from both, so that neither names the other for it.

use crate::{HubError, StreamPos};

/// Where a published message went.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// How many connections it was queued for.
    pub delivered: usize,
    /// Its place in its room's stream, when it was stored.
    pub pos: Option<StreamPos>,
}

/// Told of a published message's [`Receipt`] once it went out (or why it could not).
pub type Done = Box<dyn FnOnce(Result<Receipt, HubError>) + Send>;

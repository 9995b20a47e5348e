//! [`Local`]: a namespace as the cluster sees it.

use std::sync::Arc;

use crate::{Audience, ConnId, Outbound};

/// A namespace as the cluster sees it: where a message an envelope brings is delivered
/// to this node's connections.
pub trait Local: Send + Sync {
    /// Its name.
    fn name(&self) -> &Arc<str>;

    /// Queues `item` for this node's connections `to` names (see the route's delivery).
    fn deliver(
        &self,
        to: &Audience<'_>,
        except_rooms: &[Arc<str>],
        except: Option<ConnId>,
        item: Outbound,
        volatile: bool,
    ) -> usize;
}

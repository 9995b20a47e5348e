//! Opens the history store the configuration asks for, and starts the publisher on it.
//!
//! `sqlite` (the default) keeps `chorus.db` in `data_dir`; `memory` keeps history bounded
//! by the retention defaults and loses it on restart; `none` keeps nothing, so rooms have
//! no offsets and joins no recovery. A store that cannot be opened is an error at start-up,
//! never a silent fall back to memory: acknowledged messages must be where the operator
//! expects them. `redis` keeps history in the cluster's broker, shared by every node.

use std::sync::Arc;

use chorus_core::{Publisher, Store, StoreError};
use chorus_store::{MemoryLimits, MemoryStore, SqliteStore};

use crate::config::{Config, Durability, StoreKind};

/// Most streams (rooms) a memory store keeps; the least recently used goes beyond it.
const MEMORY_STREAMS: usize = 100_000;

/// The publisher over the configured store, or `None` for `store = "none"` (or rules that
/// keep nothing).
pub(crate) fn publisher(config: &Config) -> Result<Option<Arc<Publisher>>, StoreError> {
    let store: Arc<dyn Store> = match config.store {
        StoreKind::None => return Ok(None),
        StoreKind::Memory => Arc::new(MemoryStore::new(MemoryLimits {
            max_messages: usize::try_from(config.history_max_messages).unwrap_or(usize::MAX),
            max_streams: MEMORY_STREAMS,
            ..MemoryLimits::default()
        })),
        StoreKind::Redis => {
            let url = config.broker.as_deref().unwrap_or_default();
            Arc::new(chorus_broker::RedisStore::open(url).map_err(StoreError::backend)?)
        }
        StoreKind::Sqlite => {
            let durability = match config.durability {
                Durability::Batched => chorus_store::Durability::Batched,
                Durability::Fsync => chorus_store::Durability::Fsync,
            };
            Arc::new(SqliteStore::open(
                &config.data_dir.join("chorus.db"),
                durability,
            )?)
        }
    };
    Ok(publisher_over(config, store))
}

/// The publisher over `store`, keeping history as `config`'s rules say (`None` if they
/// keep nothing).
pub(crate) fn publisher_over(config: &Config, store: Arc<dyn Store>) -> Option<Arc<Publisher>> {
    let rules = config.history_rules();
    (!rules.is_empty()).then(|| Publisher::start(store, rules))
}

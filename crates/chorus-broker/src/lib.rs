//! Brokers for a chorus cluster: what carries every message published on one node to every
//! other ([`chorus_core::cluster`]).
//!
//! * [`error`] — [`ConnectError`], why a broker could not be set up.
//! * [`redis`] — [`RedisBroker`]: Redis pub/sub, one channel for the cluster; publishes are
//!   pipelined on one connection and received on another. On a Redis Cluster, sharded
//!   pub/sub on one shard channel (`redis::sharded`).
//! * [`socketio_adapter`] — `@socket.io/redis-adapter`'s broadcast format, so Node
//!   socket.io servers on the same Redis are nodes of the cluster too.
//! * [`nats`] — [`NatsBroker`]: one JetStream stream for the cluster, read by an ordered
//!   consumer.
//! * [`store`] — [`RedisStore`]: room history and session records in the same Redis, each
//!   append announced to every node in the same atomic step.
//!
//! [`connect`] picks the broker a URL names.

pub mod error;
pub mod nats;
pub mod redis;
pub mod socketio_adapter;
pub mod store;

use std::sync::Arc;

use chorus_core::Broker;

pub use self::error::ConnectError;
pub use self::nats::NatsBroker;
pub use self::redis::RedisBroker;
pub use self::store::RedisStore;

/// Whether `url` names a Redis server (the schemes [`connect`] takes for one).
pub fn is_redis_url(url: &str) -> bool {
    matches!(
        url.split_once("://").map(|(scheme, _)| scheme),
        Some("redis" | "rediss" | "redis+unix" | "unix")
    )
}

/// The broker `url` names: `redis://host:port[/db]` (or `rediss://`, `redis+unix://`), or
/// `nats://host:port` (or `tls://`).
/// Its connections are made in the background, retried until they succeed: a cluster
/// node starts whether or not its broker is up yet.
pub fn connect(url: &str) -> Result<Arc<dyn Broker>, ConnectError> {
    connect_with(url, false)
}

/// [`connect`]; with `socketio_adapter`, a Redis broker also speaks
/// `@socket.io/redis-adapter`'s format, so Node socket.io servers on the same Redis are
/// nodes of the cluster too ([`socketio_adapter`]). Refused for another broker.
pub fn connect_with(url: &str, socketio_adapter: bool) -> Result<Arc<dyn Broker>, ConnectError> {
    if is_redis_url(url) {
        return Ok(RedisBroker::with_socketio_adapter(url, socketio_adapter)? as Arc<dyn Broker>);
    }
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some("nats" | "tls") if socketio_adapter => Err(ConnectError::Url {
            url: url.to_owned(),
            why: "the socket.io Redis adapter's format needs a redis:// broker".to_owned(),
        }),
        Some("nats" | "tls") => Ok(NatsBroker::new(url)? as Arc<dyn Broker>),
        _ => Err(ConnectError::Url {
            url: url.to_owned(),
            why: "expected redis://… or nats://…".to_owned(),
        }),
    }
}

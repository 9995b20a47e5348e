//! Benchmark peer: the socketioxide peer (src/main.rs, same events and settings, see
//! src/lib.rs) as one node of a cluster, with socketioxide-redis's adapter over one Redis
//! (standalone, not Redis Cluster). `to(room, ...)` reaches the members of `room` on every node
//! that uses the same Redis; the `delivered` count of its ack counts this node's members only.
//!
//! Start: `PORT=9001 REDIS_URL=redis://127.0.0.1:6379 bench/peers/target/release/socketioxide-redis-peer`
//! (defaults: PORT 9001, REDIS_URL redis://127.0.0.1:6379).
//!
//! How the adapter works (socketioxide-redis 0.4): one multiplexed RESP3 connection per process
//! carries both the PUBLISHes and the subscriptions (pub/sub messages arrive as RESP3 pushes, so
//! no second, subscriber-only connection). Every broadcast that is not local-only is first
//! PUBLISHed, as msgpack, on a channel all nodes subscribe to, then sent to the local sockets;
//! each other node sends it to its own matching sockets.

use socketioxide::SocketIo;
use socketioxide_peer::{configure, on_connect, port_from_env, serve};
use socketioxide_redis::drivers::redis::redis_client::{self as redis, IntoConnectionInfo};
use socketioxide_redis::{RedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

#[tokio::main] // multi-thread runtime, one worker per core
async fn main() {
    let port = port_from_env();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());

    // The adapter's redis driver needs RESP3 (Redis >= 6): force it, whatever the URL says
    // (a URL can also ask for it with `?protocol=resp3`).
    let info = url
        .as_str()
        .into_connection_info()
        .unwrap_or_else(|e| panic!("REDIS_URL {url}: {e}"));
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))
        .unwrap_or_else(|e| panic!("REDIS_URL {url}: {e}"));

    let config = RedisAdapterConfig::new()
        // Queue of pub/sub messages received from Redis and not yet handled. When it is full the
        // driver DROPS incoming messages (default capacity 1024); the peers never drop, so make
        // it effectively unbounded, like `max_buffer_size` in `configure`. tokio's bounded
        // channel allocates lazily.
        .with_stream_buffer(1 << 20);
    let adapter = RedisAdapterCtr::new_with_redis_config(&client, config)
        .await
        .unwrap_or_else(|e| panic!("connecting to Redis at {url}: {e}"));

    let (layer, io) =
        configure(SocketIo::builder().with_adapter::<RedisAdapter<_>>(adapter)).build_layer();
    // With a remote adapter, `ns` returns the adapter's init future (it subscribes to the
    // namespace's Redis channels): await it so the peer only says "listening" once it is part
    // of the cluster.
    io.ns("/", on_connect)
        .await
        .unwrap_or_else(|e| panic!("initializing the Redis adapter: {e}"));
    serve(
        axum::Router::new().layer(layer),
        port,
        "socketioxide redis peer",
    )
    .await;
}

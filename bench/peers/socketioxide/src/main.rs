//! Benchmark peer: socketioxide (Socket.IO v5 protocol / Engine.IO v4) on axum + tokio, a
//! single server with socketioxide's default (local, in-memory) adapter. Events and settings:
//! see src/lib.rs.
//!
//! Start: `PORT=9001 bench/peers/target/release/socketioxide-peer`

use socketioxide::SocketIo;
use socketioxide_peer::{configure, on_connect, port_from_env, serve};

#[tokio::main] // multi-thread runtime, one worker per core
async fn main() {
    let port = port_from_env();
    let (layer, io) = configure(SocketIo::builder()).build_layer();
    io.ns("/", on_connect);
    serve(axum::Router::new().layer(layer), port, "socketioxide peer").await;
}

//! The echo server seed 001's client talks to (`ws://echo.websocket.org` in the seed):
//! every text or binary message comes straight back. Listens on 127.0.0.1:9001 (or the
//! port given as the first argument), with permessage-deflate on, and is the target of the
//! Autobahn conformance run (`scripts/autobahn.sh`).
//!
//! ```sh
//! cargo run --release --example echo
//! ```

use chorus::{Config, RawHandlers, Server};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let config = Config {
        host: [127, 0, 0, 1].into(),
        port,
        compression: true,
        // Autobahn's 9.x cases send messages of up to 16 MiB.
        max_message_size: 64 << 20,
        max_frame_size: 64 << 20,
        ..Config::embedded()
    };
    let server = Server::new(config);
    for path in ["/", "/runCase", "/updateReports", "/getCaseCount"] {
        server.raw(path, echo());
    }
    println!("echo server on ws://127.0.0.1:{port}/");
    server.listen().await
}

fn echo() -> RawHandlers {
    RawHandlers::new()
        .on_text(|conn, text| {
            conn.send_text(text);
        })
        .on_binary(|conn, data| {
            conn.send_binary(data.clone());
        })
}

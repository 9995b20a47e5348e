//! Tokens and room permissions (`docs/auth.md`): a server that requires an HS256 token,
//! greets each client by the name in its token, and lets app code authorize further with
//! the token's claims.
//!
//! ```sh
//! cargo run --example jwt_auth          # prints a token for alice, then serves on 3000
//! websocat "ws://127.0.0.1:3000/ws?token=<the token>"
//! ```
//!
//! Alice's token lets her join `lobby` and the `team:*` rooms and talk in `team:*` only; her
//! `role` claim lets her use the `announce` event, which nobody else may.

use chorus::{Config, Server};
use serde_json::json;

const SECRET: &str = "example-secret-change-me-0123456789";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config {
        jwt_secret: Some(SECRET.into()),
        anonymous: false,
        ..Config::embedded()
    };
    let server = Server::new(config);
    let io = server.io();
    let everyone = io.clone();
    io.on_connection(move |socket| {
        let Some(identity) = socket.identity() else {
            return; // anonymous is off: never here
        };
        let _ = socket.emit(
            "welcome",
            &json!({ "user": identity.user_id, "name": &*socket.name() }),
        );
        let everyone = everyone.clone();
        socket.on("announce", move |socket, data, ack| {
            let admin = socket
                .identity()
                .is_some_and(|id| id.claims.get("role") == Some(&json!("admin")));
            if !admin {
                return ack.error("forbidden: admins only");
            }
            let _ = everyone.emit("announcement", &data.as_str());
            ack.send(&json!({ "ok": true }));
        });
    });

    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = json!({
        "sub": "u-1", "name": "alice", "exp": exp, "role": "admin",
        "join": ["lobby", "team:*"], "publish": ["team:*"],
    });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)?;
    println!("token for alice (valid one hour):\n{token}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    server.serve(listener).await?;
    Ok(())
}

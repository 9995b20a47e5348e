//! `chorus token`: a development token (an HS256 JWT) with the claims chorus reads, signed
//! with the server's `jwt_secret`, to connect a page or a client by hand.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use serde_json::{json, Map, Value};

/// What the token says.
#[derive(Args, Debug)]
pub(crate) struct TokenArgs {
    /// The user id (the `sub` claim).
    #[arg(long)]
    sub: String,
    /// The display name (the `name` claim).
    #[arg(long)]
    name: Option<String>,
    /// Rooms the token may join, comma-separated `*` globs [default: every room].
    #[arg(long, value_delimiter = ',')]
    join: Option<Vec<String>>,
    /// Rooms the token may publish to, comma-separated `*` globs [default: every room].
    #[arg(long, value_delimiter = ',')]
    publish: Option<Vec<String>>,
    /// Seconds until it expires; 0 for a token that never does.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// A token id (the `jti` claim), to revoke it by.
    #[arg(long)]
    jti: Option<String>,
    /// The issuer (`iss`), for a server with `jwt_issuer`.
    #[arg(long, env = "CHORUS_JWT_ISSUER")]
    iss: Option<String>,
    /// The audience (`aud`), for a server with `jwt_audience`.
    #[arg(long, env = "CHORUS_JWT_AUDIENCE")]
    aud: Option<String>,
    /// The HS256 secret: the server's `jwt_secret`; prefer the environment variable.
    #[arg(long, env = "CHORUS_JWT_SECRET", hide_env_values = true)]
    secret: String,
}

/// Prints the token.
pub(crate) fn run(args: TokenArgs) -> anyhow::Result<()> {
    println!("{}", mint(&args, SystemTime::now())?);
    Ok(())
}

fn mint(args: &TokenArgs, now: SystemTime) -> anyhow::Result<String> {
    anyhow::ensure!(
        !args.secret.is_empty(),
        "the secret is empty: give the server's jwt_secret"
    );
    anyhow::ensure!(
        !args.sub.is_empty(),
        "`--sub` is empty: a token names its user"
    );
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(args.sub));
    claims.insert("iat".into(), json!(now));
    let optional: [(&str, Option<Value>); 6] = [
        ("name", args.name.as_ref().map(|n| json!(n))),
        ("join", args.join.as_ref().map(|j| json!(j))),
        ("publish", args.publish.as_ref().map(|p| json!(p))),
        ("exp", (args.ttl > 0).then(|| json!(now + args.ttl))),
        ("jti", args.jti.as_ref().map(|j| json!(j))),
        ("iss", args.iss.as_ref().map(|i| json!(i))),
    ];
    for (claim, value) in optional {
        if let Some(value) = value {
            claims.insert(claim.into(), value);
        }
    }
    if let Some(aud) = &args.aud {
        claims.insert("aud".into(), json!(aud));
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Value::Object(claims),
        &jsonwebtoken::EncodingKey::from_secret(args.secret.as_bytes()),
    )
    .context("signing the token")
}

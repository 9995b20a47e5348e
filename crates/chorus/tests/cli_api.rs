//! The binary's tools against a running server: `chorus token` mints a token the server
//! accepts, and `chorus publish / history / presence / rooms` call its API.

mod common;

use std::process::Output;

use chorus::Config;
use common::*;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_chorus");
const KEY: &str = "cli-test-key-0123456789";

/// Runs the binary with `args` (off the runtime's threads).
async fn chorus(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(&args)
            .env_remove("CHORUS_API_KEY")
            .env_remove("CHORUS_URL")
            .env_remove("CHORUS_JWT_SECRET")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "one line when not on a terminal: {text}"
    );
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_minted_token_is_accepted_and_says_what_it_was_told() {
    let (_server, addr) = start_with(Config {
        jwt_secret: Some(SECRET.into()),
        anonymous: false,
        ..config()
    })
    .await;
    let out = chorus(
        &[
            "token",
            "--sub",
            "ada",
            "--name",
            "Ada Lovelace",
            "--join",
            "chat:*,lobby",
            "--jti",
            "t-9",
        ],
        &[("CHORUS_JWT_SECRET", SECRET)],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (mut ws, _) = native::connect(addr, &format!("?token={token}")).await;
    assert_eq!(native::join(&mut ws, 1, "chat:1").await["ok"], true);
    assert_eq!(
        native::join(&mut ws, 2, "elsewhere").await["error"]["code"],
        "forbidden"
    );
    let mut claims = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    claims.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &claims,
    )
    .unwrap();
    assert_eq!(data.claims["name"], "Ada Lovelace");
    assert_eq!(data.claims["jti"], "t-9");
    assert_eq!(data.claims["join"], json!(["chat:*", "lobby"]));
    let ttl = data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap();
    assert_eq!(ttl, 3600);

    // No secret: a clear error, no token.
    let out = chorus(&["token", "--sub", "ada"], &[]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret"));
}

#[tokio::test]
async fn publish_history_presence_and_rooms_call_the_servers_api() {
    let (_server, addr) = start_with(Config {
        api_keys: vec![KEY.into()],
        ..config()
    })
    .await;
    let url = format!("http://{addr}");
    let env = [("CHORUS_URL", url.as_str()), ("CHORUS_API_KEY", KEY)];
    let (mut ws, id) = native::connect(addr, "?name=reader").await;
    native::join(&mut ws, 1, "lobby").await;

    let sent = stdout_json(
        &chorus(
            &["publish", "lobby", "chat", r#"{"text":"from the shell"}"#],
            &env,
        )
        .await,
    );
    assert_eq!(
        (sent["delivered"].as_u64(), sent["offset"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        native::event(&mut ws).await,
        ("chat".into(), json!({"text": "from the shell"}))
    );
    // A bare word is a string.
    stdout_json(&chorus(&["publish", "lobby", "note", "hello"], &env).await);
    assert_eq!(
        native::event(&mut ws).await,
        ("note".into(), json!("hello"))
    );

    let page = stdout_json(&chorus(&["history", "lobby", "--limit", "1"], &env).await);
    assert_eq!(page["events"][0]["event"], "note");
    let presence = stdout_json(&chorus(&["presence", "lobby"], &env).await);
    assert_eq!(presence["members"][0]["id"], id.as_str());
    let rooms = stdout_json(&chorus(&["rooms", "--pattern", "lob*"], &env).await);
    assert_eq!(rooms["rooms"], json!([{"room": "lobby", "members": 1}]));

    // A refusal: status 1, its code on stderr.
    let out = chorus(
        &[
            "publish",
            "lobby",
            "chat",
            "--key",
            "wrong-key-0123456789",
            "--url",
            &url,
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = chorus(&["history", "", "--key", KEY, "--url", &url], &[]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad_room"));
    // Nothing listening: says so.
    let out = chorus(&["rooms", "--key", KEY, "--url", "http://127.0.0.1:1"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

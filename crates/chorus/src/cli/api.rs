//! `chorus publish / history / presence / rooms`: a running server's API from a shell. The
//! answer is printed as JSON — indented on a terminal, one line otherwise (for `jq`) — and
//! a refusal exits with status 1, its code and message on stderr.

use std::io::IsTerminal;

use anyhow::{bail, Context};
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};

/// Where the server is, and its API key.
#[derive(Args, Debug)]
pub(crate) struct Target {
    /// The server's base URL (http://).
    #[arg(long, env = "CHORUS_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// An API key of the server (its `api_keys`); prefer the environment variable.
    #[arg(long, env = "CHORUS_API_KEY", hide_env_values = true)]
    key: String,
}

/// `chorus publish`: an event to a room.
#[derive(Args, Debug)]
pub(crate) struct PublishArgs {
    /// The room.
    room: String,
    /// The event's name.
    event: String,
    /// The event's data, JSON (a bare word is taken as a string) [default: null].
    data: Option<String>,
    /// The namespace [default: /].
    #[arg(long)]
    namespace: Option<String>,
    /// An idempotency key: a retry with it is not sent twice.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// `chorus history`: a room's stored messages.
#[derive(Args, Debug)]
pub(crate) struct HistoryArgs {
    /// The room.
    room: String,
    /// Most messages (1 to 1000) [default: 100].
    #[arg(long)]
    limit: Option<u64>,
    /// Newest first.
    #[arg(long)]
    reverse: bool,
    /// The namespace [default: /].
    #[arg(long)]
    namespace: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// `chorus presence`: who is in a room, on every node.
#[derive(Args, Debug)]
pub(crate) struct PresenceArgs {
    /// The room.
    room: String,
    /// The namespace [default: /].
    #[arg(long)]
    namespace: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// `chorus rooms`: the rooms that have members, fullest first.
#[derive(Args, Debug)]
pub(crate) struct RoomsArgs {
    /// Only rooms matching this `*` glob.
    #[arg(long)]
    pattern: Option<String>,
    /// The namespace [default: /].
    #[arg(long)]
    namespace: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// Runs `chorus publish`.
pub(crate) fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let data = args.data.as_deref().map_or(Value::Null, |text| {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    });
    let mut body = json!({"room": args.room, "event": args.event, "data": data});
    put(&mut body, "namespace", args.namespace);
    put(&mut body, "idempotency_key", args.idempotency_key);
    call(&args.target, "publish", body)
}

/// Runs `chorus history`.
pub(crate) fn history(args: HistoryArgs) -> anyhow::Result<()> {
    let mut body = json!({"room": args.room, "reverse": args.reverse});
    put(&mut body, "limit", args.limit);
    put(&mut body, "namespace", args.namespace);
    call(&args.target, "history", body)
}

/// Runs `chorus presence`.
pub(crate) fn presence(args: PresenceArgs) -> anyhow::Result<()> {
    let mut body = json!({"room": args.room});
    put(&mut body, "namespace", args.namespace);
    call(&args.target, "presence", body)
}

/// Runs `chorus rooms`.
pub(crate) fn rooms(args: RoomsArgs) -> anyhow::Result<()> {
    let mut body = json!({});
    put(&mut body, "pattern", args.pattern);
    put(&mut body, "namespace", args.namespace);
    call(&args.target, "rooms", body)
}

fn put(body: &mut Value, field: &str, value: Option<impl serde::Serialize>) {
    if let Some(value) = value {
        body[field] = json!(value);
    }
}

/// Calls `method` and prints its answer; a refusal is an error naming its code.
fn call(target: &Target, method: &str, body: Value) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (status, answer) = runtime.block_on(post(target, method, body))?;
    if !status.is_success() {
        let code = answer["error"]["code"].as_str().unwrap_or("?");
        let message = answer["error"]["message"].as_str().unwrap_or("");
        bail!("{method}: {status}: {code}: {message}");
    }
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(&answer)?
    } else {
        answer.to_string()
    };
    println!("{text}");
    Ok(())
}

async fn post(
    target: &Target,
    method: &str,
    body: Value,
) -> anyhow::Result<(http::StatusCode, Value)> {
    let base = target.url.trim_end_matches('/');
    anyhow::ensure!(
        base.starts_with("http://"),
        "{base}: only http:// URLs (for https, call the API with curl: docs/api.md)"
    );
    let uri: http::Uri = format!("{base}/api/{method}")
        .parse()
        .with_context(|| format!("{base} is not a URL"))?;
    let request = http::Request::post(uri)
        .header(
            http::header::AUTHORIZATION,
            format!("apikey {}", target.key),
        )
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(30), client.request(request))
            .await
            .with_context(|| format!("{base}: no answer in 30 s"))?
            .with_context(|| format!("cannot reach {base}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .context("reading the answer")?
        .to_bytes();
    let answer = serde_json::from_slice(&bytes).unwrap_or_else(
        |_| json!({"error": {"code": "not_json", "message": String::from_utf8_lossy(&bytes)}}),
    );
    Ok((status, answer))
}

//! The server API: what the application's backend calls — Django, Rails, Node, Go, a cron
//! job with `curl` — to publish to rooms, emit to a user, disconnect, make connections join
//! or leave rooms, read presence and history, and see the node.
//!
//! Every call is `POST /api/<method>` with a JSON object, answered with a JSON object
//! (Centrifugo's shape, so one `batch` can carry any of them): `publish`, `broadcast`,
//! `emit`, `disconnect`, `connections`, `join`, `leave`, `presence`, `presence_stats`, `rooms`,
//! `history`, `history_remove`, `info`, `stats`, `revoke`, `batch`. A request carries one of the configured
//! `api_keys` ([`keys`]); with none configured, the API is off. Errors are HTTP statuses
//! with the native protocol's stable codes ([`error`]). The OpenAPI 3.1 document, made
//! from the request and response types here, is at `/api/openapi.json` ([`openapi`]).
//!
//! Messages take the hub's one route, from the server, so they reach every protocol's
//! clients, are stored and recoverable in rooms that keep history, and cross the cluster.

mod conns;
mod error;
mod idempotency;
mod keys;
mod node;
mod openapi;
mod publish;
mod rooms;
pub(crate) mod stats;
mod tokens;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chorus_core::{EventData, Hub, Namespace};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;

use self::error::ApiError;
use self::idempotency::Idempotency;
use self::keys::Keys;
use crate::config::Config;

/// What the API's calls work with.
#[derive(Debug)]
pub(crate) struct Api {
    hub: Arc<Hub>,
    keys: Keys,
    idempotency: Idempotency,
    started: Instant,
    limits: chorus_proto::native::Limits,
    max_message_size: usize,
    /// Whether the server checks tokens (there is something to revoke).
    tokens: bool,
    /// Where calls are counted.
    metrics: Arc<crate::metrics::Metrics>,
}

/// The API's methods, for counting calls by name (any other is `unknown`).
const METHODS: [&str; 16] = [
    "publish",
    "broadcast",
    "emit",
    "disconnect",
    "connections",
    "join",
    "leave",
    "presence",
    "presence_stats",
    "rooms",
    "history",
    "history_remove",
    "info",
    "stats",
    "revoke",
    "batch",
];

impl Api {
    pub(crate) fn new(
        hub: Arc<Hub>,
        config: &Config,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            hub,
            keys: Keys::new(config.api_keys.clone()),
            idempotency: Idempotency::new(Duration::from_secs(config.api_idempotency_secs)),
            started: Instant::now(),
            limits: chorus_proto::native::Limits::default(),
            max_message_size: config.max_message_size,
            tokens: config.jwt_secret.is_some() || config.jwt_public_key.is_some(),
            metrics,
        }
    }

    /// The event-layer namespace `name` (`/` when none is given): the API reaches the
    /// namespaces clients use, not chorus's own (raw rooms, raw endpoints).
    fn namespace(&self, name: Option<&str>) -> Result<Arc<Namespace>, ApiError> {
        let name = name.unwrap_or("/");
        name.starts_with('/')
            .then(|| self.hub.get_namespace(name))
            .flatten()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no_such_namespace",
                    format!("no namespace {name:?} on this node"),
                )
            })
    }

    fn check_room(&self, room: &str) -> Result<(), ApiError> {
        chorus_proto::native::command::check_room(room, &self.limits)
            .map_err(|err| ApiError::bad_room(err.to_string()))
    }

    /// An event's data, checked as a client's would be: its name's length, its nesting,
    /// its size.
    fn event_data(&self, event: &str, data: Option<Box<RawValue>>) -> Result<EventData, ApiError> {
        let chars = event.chars().count();
        if chars == 0 || chars > self.limits.max_event_len {
            return Err(ApiError::bad_request(format!(
                "`event` must be 1 to {} characters",
                self.limits.max_event_len
            )));
        }
        let data = match data {
            Some(data) => data,
            None => RawValue::from_string("null".into()).expect("null is JSON"),
        };
        if chorus_proto::json_depth(data.get()) > self.limits.max_depth {
            return Err(ApiError::bad_request(format!(
                "`data` nests deeper than {} levels",
                self.limits.max_depth
            )));
        }
        if data.get().len() + event.len() > self.max_message_size {
            return Err(ApiError::too_large(format!(
                "the event is larger than the server's maximum message size, {} bytes",
                self.max_message_size
            )));
        }
        Ok(EventData::Json(data))
    }

    /// Runs one call by its method's name.
    async fn call(&self, method: &str, params: &RawValue) -> Result<Value, ApiError> {
        match method {
            // With a key, the request is checked before the key is looked up: a bad one is
            // refused whatever key it carries.
            "publish" => {
                let mut req: publish::PublishRequest = parse(params)?;
                let Some(key) = req.idempotency_key.take() else {
                    return answer(publish::publish(self, req).await);
                };
                let checked = publish::check_publish(self, req)?;
                let call = async move { answer(checked.send().await) };
                self.idempotency
                    .once("publish", &key, params.get(), call)
                    .await
            }
            "broadcast" => {
                let mut req: publish::BroadcastRequest = parse(params)?;
                let Some(key) = req.idempotency_key.take() else {
                    return answer(publish::broadcast(self, req).await);
                };
                let checked = publish::check_broadcast(self, req)?;
                let call = async move { answer(Ok(checked.send_each().await)) };
                self.idempotency
                    .once_unless(
                        "broadcast",
                        &key,
                        params.get(),
                        call,
                        publish::partly_failed,
                    )
                    .await
            }
            "emit" => answer(publish::emit(self, parse(params)?).await),
            "disconnect" => answer(conns::disconnect(self, parse(params)?).await),
            "connections" => answer(conns::connections(self, parse(params)?).await),
            "join" => answer(conns::join(self, parse(params)?).await),
            "leave" => answer(conns::leave(self, parse(params)?).await),
            "presence" => answer(rooms::presence(self, parse(params)?).await),
            "presence_stats" => answer(rooms::presence_stats(self, parse(params)?).await),
            "rooms" => answer(rooms::rooms(self, parse(params)?).await),
            "history" => answer(rooms::history(self, parse(params)?).await),
            "history_remove" => answer(rooms::history_remove(self, parse(params)?).await),
            "info" => answer(node::info(self, parse(params)?).await),
            "stats" => answer(stats::stats(self, parse(params)?).await),
            "revoke" => answer(tokens::revoke(self, parse(params)?).await),
            "batch" => answer(batch(self, parse(params)?).await),
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_method",
                format!("no API method {method:?}: see /api/openapi.json"),
            )),
        }
    }
}

/// A whole number, written as JSON writes it: `100`, or `100.0` (which JSON Schema, and so
/// the OpenAPI document, counts as an integer too).
pub(crate) fn whole<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            // Below 2^64, which `u64::MAX as f64` rounds up to.
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number in range, got {number}")))
}

/// A call's parameters as its request type: `bad_request` with serde's words otherwise.
fn parse<T: DeserializeOwned>(params: &RawValue) -> Result<T, ApiError> {
    serde_json::from_str(params.get()).map_err(|err| ApiError::bad_request(err.to_string()))
}

/// A call's result as JSON.
fn answer<T: serde::Serialize>(result: Result<T, ApiError>) -> Result<Value, ApiError> {
    result.and_then(|value| {
        serde_json::to_value(value).map_err(|err| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                err.to_string(),
            )
        })
    })
}

/// `batch`: several calls in one request, run in order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    /// The calls (1 to 1,000), each a method and its parameters.
    #[schema(min_items = 1, max_items = 1000)]
    pub(crate) commands: Vec<Command>,
}

/// One call of a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Command {
    /// The method: any but `batch`.
    pub(crate) method: String,
    /// Its parameters, as the method's own request takes them.
    #[schema(value_type = Object)]
    #[serde(default = "no_params")]
    pub(crate) params: Box<RawValue>,
}

fn no_params() -> Box<RawValue> {
    RawValue::from_string("{}".into()).expect("an object")
}

/// A batch's results, one per command, in order.
#[derive(Debug, serde::Serialize, ToSchema)]
pub(crate) struct BatchResult {
    /// Each command's `result`, or its `error`.
    pub(crate) replies: Vec<Reply>,
}

/// One command's outcome.
#[derive(Debug, serde::Serialize, ToSchema)]
pub(crate) struct Reply {
    /// What the method answers, if it succeeded.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<Value>,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<error::ErrorDetail>,
}

/// Most commands in one batch.
const MAX_BATCH: usize = 1000;

/// Runs several calls in order, each answered on its own.
#[utoipa::path(post, path = "/api/batch", tag = "batch",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One reply per command", body = BatchResult),
        (status = 400, description = "No commands, or too many", body = error::ErrorBody),
    ))]
async fn batch(api: &Api, req: BatchRequest) -> Result<BatchResult, ApiError> {
    if req.commands.is_empty() || req.commands.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "`commands` must hold 1 to {MAX_BATCH} calls"
        )));
    }
    if let Some(bad) = req
        .commands
        .iter()
        .find(|c| !c.params.get().trim_start().starts_with('{'))
    {
        return Err(ApiError::bad_request(format!(
            "the `params` of {:?} must be a JSON object",
            bad.method
        )));
    }
    let mut replies = Vec::with_capacity(req.commands.len());
    for command in &req.commands {
        let outcome = if command.method == "batch" {
            Err(ApiError::bad_request("a batch cannot hold a batch"))
        } else {
            Box::pin(api.call(&command.method, &command.params)).await
        };
        replies.push(match outcome {
            Ok(result) => Reply {
                result: Some(result),
                error: None,
            },
            Err(err) => Reply {
                result: None,
                error: Some(err.detail()),
            },
        });
    }
    Ok(BatchResult { replies })
}

/// The API's routes, to be nested at `/api`: every method, and the OpenAPI document.
pub(crate) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/{method}", post(handle).fallback(not_post))
        .with_state(api)
}

/// Where `/api` goes when no key is configured: every call says how to turn it on.
pub(crate) fn off() -> Router {
    let refuse = || async {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "api_off",
            "the server API is off: give the server a key (api_keys, or CHORUS_API_KEYS)",
        )
    };
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/{method}", post(refuse).get(refuse))
}

/// Every call is a POST.
async fn not_post() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "every API call is a POST of a JSON object",
    )
}

/// One request: the key, the body (a JSON object, at most a few messages' worth), the call.
async fn handle(
    State(api): State<Arc<Api>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let name = METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("unknown");
    let outcome = respond(&api, &method, headers, body).await;
    let code = match &outcome {
        Ok(_) => "ok",
        Err(err) => err.code,
    };
    api.metrics.count_api(name, code);
    match outcome {
        Ok(result) => (StatusCode::OK, axum::Json(result)).into_response(),
        Err(err) => {
            if err.status.is_server_error() {
                tracing::warn!(method, code = err.code, message = %err.message, "API call failed");
            }
            err.into_response()
        }
    }
}

/// A request's answer: its key checked, its body read, the call made.
async fn respond(
    api: &Api,
    method: &str,
    headers: HeaderMap,
    body: Body,
) -> Result<Value, ApiError> {
    if !api.keys.allow(&headers) {
        return Err(ApiError::unauthorized());
    }
    // Room for a batch of large messages, and no more.
    let limit = api.max_message_size.saturating_mul(4).max(1 << 20);
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(ApiError::too_large(format!(
                "the request body is larger than {limit} bytes"
            )))
        }
    };
    // An empty body is an empty object.
    let text = if bytes.is_empty() {
        "{}"
    } else {
        std::str::from_utf8(&bytes).map_err(|_| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_json", "the body is not UTF-8")
        })?
    };
    let params: Box<RawValue> = serde_json::from_str(text)
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, "bad_json", err.to_string()))?;
    if !params.get().trim_start().starts_with('{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            "the body must be a JSON object",
        ));
    }
    api.call(method, &params).await
}

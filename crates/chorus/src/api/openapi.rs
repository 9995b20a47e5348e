//! The OpenAPI 3.1 document of the server API, made from the calls' request and response
//! types (`utoipa`), served at `/api/openapi.json` — to read, to generate clients from,
//! and to check the server against (CI runs `schemathesis` on it).

use std::sync::LazyLock;

use axum::response::IntoResponse;
use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chorus server API",
        description = "What the application's backend calls: publish to rooms, emit to a \
                       connection or a user, disconnect, make connections join or leave rooms, \
                       read presence and history. Every call is a POST of a JSON object. \
                       See docs/api.md.",
    ),
    paths(
        super::publish::publish,
        super::publish::broadcast,
        super::publish::emit,
        super::conns::disconnect,
        super::conns::connections,
        super::conns::join,
        super::conns::leave,
        super::rooms::presence,
        super::rooms::presence_stats,
        super::rooms::rooms,
        super::rooms::history,
        super::rooms::history_remove,
        super::node::info,
        super::stats::stats,
        super::tokens::revoke,
        super::batch,
    ),
    modifiers(&Keys),
    security(("api_key" = []), ("bearer" = [])),
)]
struct Document;

/// The ways a request carries its key.
struct Keys;

impl Modify for Keys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.info.version = env!("CARGO_PKG_VERSION").to_owned();
    }
}

/// The document, as JSON text (made once).
pub(crate) fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        let mut document =
            serde_json::to_value(Document::openapi()).expect("the OpenAPI document serialises");
        refine(&mut document);
        serde_json::to_string_pretty(&document).expect("JSON serialises")
    });
    &JSON
}

/// What the types' derives cannot say, added to the document: fields that take any JSON
/// value, "exactly one of `conn` and `user`", a broadcast's room names, and the answers
/// every call may get (a body that is no JSON object, no key, a body too large, a
/// namespace this node does not have).
fn refine(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    for (schema, field) in [
        ("PublishRequest", "data"),
        ("BroadcastRequest", "data"),
        ("EmitRequest", "data"),
        ("Member", "data"),
        ("Reply", "result"),
        ("History", "position"),
    ] {
        let property = &mut schemas[schema]["properties"][field];
        let description = property["description"].clone();
        *property = json!({ "description": description });
    }
    for schema in ["EmitRequest", "DisconnectRequest", "RoomChangeRequest"] {
        schemas[schema]["oneOf"] = json!([
            {"required": ["conn"], "properties": {"conn": {"type": "string"}}},
            {"required": ["user"], "properties": {"user": {"type": "string"}}},
        ]);
    }
    schemas["ConnectionsRequest"]["oneOf"] = json!([
        {"required": ["user"], "properties": {"user": {"type": "string"}}},
        {"required": ["room"], "properties": {"room": {"type": "string"}}},
    ]);
    schemas["RevokeRequest"]["oneOf"] = json!([
        {
            "required": ["jti"], "properties": {"jti": {"type": "string"}},
            "not": {"required": ["issued_before"], "properties": {"issued_before": {"type": "integer"}}},
        },
        {"required": ["user"], "properties": {"user": {"type": "string"}}},
    ]);
    // Offsets are unsigned 64-bit numbers, wider than JSON Schema's `int64`.
    schemas["Position"]["properties"]["offset"] = json!({
        "type": "integer", "minimum": 0, "maximum": u64::MAX, "description": "An offset in it.",
    });
    schemas["BroadcastRequest"]["properties"]["rooms"]["items"] = json!({
        "type": "string", "minLength": 1, "maxLength": 128, "pattern": ROOM_PATTERN,
    });
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        })
    };
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        // An empty body is an empty object: a call whose fields are all optional needs none.
        if matches!(path.as_str(), "/api/info" | "/api/rooms" | "/api/stats") {
            item["post"]["requestBody"]["required"] = json!(false);
        }
        let Some(responses) = item["post"]["responses"].as_object_mut() else {
            continue;
        };
        let mut add = |status: &str, description: &str| {
            responses
                .entry(status)
                .or_insert_with(|| error(description));
        };
        add(
            "400",
            "The body is not a JSON object of the call's fields (`bad_json`, `bad_request`)",
        );
        add("401", "No valid API key (`unauthorized`)");
        add("413", "The body is larger than the API takes (`too_large`)");
        if !matches!(
            path.as_str(),
            "/api/info" | "/api/batch" | "/api/revoke" | "/api/stats"
        ) {
            add(
                "404",
                "No such namespace on this node (`no_such_namespace`)",
            );
        }
    }
}

/// A room name: no control characters (its length is 1 to 128 characters).
const ROOM_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

pub(super) async fn document() -> impl IntoResponse {
    ([(http::header::CONTENT_TYPE, "application/json")], json())
}

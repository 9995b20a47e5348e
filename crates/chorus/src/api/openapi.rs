//! The OpenAPI 3.1 document of the server API, made from the calls' request and response
//! types (`utoipa`), served at `/api/openapi.json` — to read, to generate clients from,
//! and to check the server against (CI runs `schemathesis` on it).

use std::sync::LazyLock;

use axum::response::IntoResponse;
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
        super::conns::join,
        super::conns::leave,
        super::rooms::presence,
        super::rooms::presence_stats,
        super::rooms::rooms,
        super::rooms::history,
        super::rooms::history_remove,
        super::node::info,
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
        Document::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises")
    });
    &JSON
}

pub(super) async fn document() -> impl IntoResponse {
    ([(http::header::CONTENT_TYPE, "application/json")], json())
}

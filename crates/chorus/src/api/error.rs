//! [`ApiError`]: every way a server API call fails, as an HTTP status and the native
//! protocol's stable error codes (plus the few only HTTP has: `unauthorized`,
//! `unknown_method`, `no_such_namespace`, `timeout`, `unavailable`).

use axum::response::{IntoResponse, Response};
use chorus_core::{Code, HubError};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// A failed call: its status, its stable code, and a message for people.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// The body of every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// A stable identifier: `bad_json`, `bad_request`, `bad_room`, `too_large`,
    /// `unauthorized`, `forbidden`, `unknown_method`, `no_such_namespace`,
    /// `no_such_conn`, `not_in_room`, `too_many_rooms`, `no_tokens`, `api_off`,
    /// `idempotency_conflict`, `method_not_allowed`, `timeout`, `unavailable`, `internal`.
    pub(crate) code: String,
    /// For people; its wording may change.
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn bad_room(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_room", message)
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is needed: Authorization: apikey <key>",
        )
    }

    /// Whether a retry with the same idempotency key should run the call again (the
    /// server failed) rather than get this answer back.
    pub(crate) fn is_server_side(&self) -> bool {
        self.status.is_server_error()
    }

    pub(crate) fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.to_owned(),
            message: self.message.clone(),
        }
    }
}

impl From<HubError> for ApiError {
    fn from(err: HubError) -> Self {
        let message = err.to_string();
        match (&err, err.code()) {
            (HubError::Store(_), _) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            (HubError::Backlog(_), _) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            (_, Code::Forbidden) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            (_, Code::NotInRoom) => Self::new(StatusCode::CONFLICT, "not_in_room", message),
            (_, Code::NoSuchConn) => Self::new(StatusCode::NOT_FOUND, "no_such_conn", message),
            (_, Code::TooManyRooms) => Self::new(StatusCode::CONFLICT, "too_many_rooms", message),
            (_, Code::Internal) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}

impl From<crate::events::ClusterError> for ApiError {
    fn from(err: crate::events::ClusterError) -> Self {
        match err {
            crate::events::ClusterError::Timeout { .. } => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", err.to_string())
            }
            crate::events::ClusterError::Json(_) => Self::bad_request(err.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (
            status,
            axum::Json(ErrorBody {
                error: self.detail(),
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("apikey realm=\"chorus\""),
            );
        }
        response
    }
}

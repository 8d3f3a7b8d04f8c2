//! The API's one error shape: `{"error": {"code", "message", "details"}}`.
//!
//! Policy: every failure a caller can cause or fix is a 4xx with a message that says what
//! to change; runtime trouble (database down, actor timeout) is a 503 that says what is
//! unavailable; a 500 means a bug and never carries internals. No message ever includes a
//! token or a database URL.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use byte_actors::router::RouterError;
use serde_json::{Value, json};

/// The error shape, for the OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code (`invalid_login`, `unauthorized`, `not_found`, ...).
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Structured context, or null.
    pub details: serde_json::Value,
}

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code.
        code: &'static str,
        /// What is wrong and how to fix it.
        message: String,
        /// Structured context.
        details: Value,
    },
    /// Missing or wrong credentials.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The caller's token is valid but does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests of this kind from this caller; retry after the given seconds.
    #[error("too many requests; retry in {0} s")]
    TooManyRequests(u64),
    /// The resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// Something the request needs is down right now.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    /// A 400 with a code and a message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, Value) {
        match self {
            ApiError::BadRequest { code, details, .. } => {
                (StatusCode::BAD_REQUEST, code, details.clone())
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", Value::Null),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", Value::Null),
            ApiError::TooManyRequests(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                json!({ "retry_after_secs": secs }),
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", Value::Null),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", Value::Null),
            ApiError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Value::Null)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, details) = self.parts();
        let body =
            json!({ "error": { "code": code, "message": self.to_string(), "details": details } });
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"bytebot\""),
            );
        }
        if let ApiError::TooManyRequests(secs) = &self
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<RouterError> for ApiError {
    fn from(e: RouterError) -> Self {
        match e {
            RouterError::UnknownChannel(_) => ApiError::NotFound(e.to_string()),
            RouterError::NotQuarantined(..) => ApiError::Conflict(e.to_string()),
            RouterError::ChannelDown(..) | RouterError::Timeout(_) | RouterError::Unavailable => {
                ApiError::Unavailable(e.to_string())
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let code = match &r {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            JsonRejection::JsonDataError(_) => "invalid_body",
            _ => "invalid_body",
        };
        ApiError::bad_request(code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}

//! Bearer-token authentication for the API. Tokens are compared in constant time and never
//! logged; a failed check answers 401 without saying which part was wrong.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// Rejects requests without `Authorization: Bearer <admin token>`.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let expected = state.admin_token.expose().as_bytes();
    if presented.is_empty() || !bool::from(presented.as_bytes().ct_eq(expected)) {
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(request).await)
}

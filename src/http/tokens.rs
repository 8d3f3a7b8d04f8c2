//! `/api/v1/channels/{login}/tokens`: per-channel tokens. The admin creates streamer tokens;
//! a streamer creates and revokes moderator and overlay tokens for its own channel. The
//! token string is returned once, at creation; only its hash is stored.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::{ChannelAccess, ManageTokens, Role, mint};
use super::channels::{ApiJson, ApiPath};
use super::error::{ApiError, ErrorBody};
use crate::store::tokens::{self, NewToken, TokenRow};

/// Body of `POST …/tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// `streamer` (admin only), `moderator` or `overlay`.
    pub role: Role,
    /// What it is for, shown in the list ("OBS on the stream PC").
    #[serde(default)]
    pub label: String,
}

/// Answer to a creation: the only time the token itself is shown.
#[derive(Debug, Serialize)]
pub struct CreatedToken {
    /// The bearer token. Store it now: it cannot be shown again.
    pub token: String,
    /// The stored record.
    #[serde(flatten)]
    pub record: TokenRow,
}

/// Most characters in a label.
const MAX_LABEL: usize = 100;

fn unavailable(e: crate::store::DbError) -> ApiError {
    tracing::warn!(error = %e, "token store unavailable");
    ApiError::Unavailable(
        "the database is unavailable, so tokens cannot be changed; try again shortly".into(),
    )
}

/// `POST /api/v1/channels/{login}/tokens`
#[utoipa::path(post, path = "/api/v1/channels/{login}/tokens", tag = "access", summary = "Mint a channel token (shown once)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body = CreateToken, responses((status = 201, description = "The token and its record", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 400, description = "Invalid role or label", body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    access: ChannelAccess<ManageTokens>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    if body.role == Role::Streamer && !access.caller.is_admin() {
        return Err(ApiError::Forbidden(
            "only the admin creates streamer tokens".into(),
        ));
    }
    let label = body.label.trim();
    if label.chars().count() > MAX_LABEL || label.chars().any(char::is_control) {
        return Err(ApiError::BadRequest {
            code: "invalid_label",
            message: format!("label must be at most {MAX_LABEL} printable characters"),
            details: serde_json::json!({ "field": "label" }),
        });
    }
    state.access.allow_mint(&access.caller)?;
    let minted = mint();
    let record = tokens::create(
        &state.pool,
        &NewToken {
            token_id: &minted.id,
            channel: access.login.as_str(),
            role: body.role.as_str(),
            secret_sha256: &minted.secret_sha256,
            label,
            created_by: &access.caller.audit_name(),
        },
    )
    .await
    .map_err(unavailable)?;
    tracing::info!(channel = %access.login, token_id = %record.token_id, role = %record.role,
        created_by = %record.created_by, "token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: minted.token,
            record,
        }),
    ))
}

/// `GET /api/v1/channels/{login}/tokens`: every token of the channel, revoked ones too,
/// never their secrets.
#[utoipa::path(get, path = "/api/v1/channels/{login}/tokens", tag = "access", summary = "The channel's tokens, never their secrets", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Tokens", body = [TokenRow]), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: ChannelAccess<ManageTokens>,
) -> Result<Json<Vec<TokenRow>>, ApiError> {
    Ok(Json(
        tokens::list(&state.pool, access.login.as_str())
            .await
            .map_err(unavailable)?,
    ))
}

/// `DELETE /api/v1/channels/{login}/tokens/{token_id}`
#[utoipa::path(delete, path = "/api/v1/channels/{login}/tokens/{token_id}", tag = "access", summary = "Revoke a token", params(("login" = String, Path, description = "Twitch login of the channel"), ("token_id" = String, Path, description = "Public id of the token")), responses((status = 200, description = "The revoked record", body = TokenRow), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    access: ChannelAccess<ManageTokens>,
    ApiPath((_, token_id)): ApiPath<(String, String)>,
) -> Result<Json<TokenRow>, ApiError> {
    let not_found =
        || ApiError::NotFound(format!("channel {} has no token {token_id}", access.login));
    let existing = tokens::list(&state.pool, access.login.as_str())
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|t| t.token_id == token_id)
        .ok_or_else(not_found)?;
    if existing.role == Role::Streamer.as_str() && !access.caller.is_admin() {
        return Err(ApiError::Forbidden(
            "only the admin revokes streamer tokens".into(),
        ));
    }
    let row = tokens::revoke(&state.pool, access.login.as_str(), &token_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    state.access.revoked(&token_id);
    tracing::info!(channel = %access.login, token_id = %token_id, by = %access.caller.audit_name(), "token revoked");
    Ok(Json(row))
}

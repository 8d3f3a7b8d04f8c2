//! The `api_tokens` table: per-channel tokens, stored as the SHA-256 of their secret.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::DbError;

/// A stored token, without anything secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TokenRow {
    /// Public id (the part of the token before the secret).
    pub token_id: String,
    /// The channel it reaches.
    pub channel: String,
    /// `streamer`, `moderator` or `overlay`.
    pub role: String,
    /// What the creator called it ("OBS on the stream PC").
    pub label: String,
    /// Who created it: `admin` or the creating token's id.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token as authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSecret {
    /// The row.
    pub row: TokenRow,
    /// SHA-256 of the secret.
    pub secret_sha256: Vec<u8>,
}

/// What a new token is.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// Public id.
    pub token_id: &'a str,
    /// Channel.
    pub channel: &'a str,
    /// Role.
    pub role: &'a str,
    /// SHA-256 of the secret.
    pub secret_sha256: &'a [u8],
    /// Label.
    pub label: &'a str,
    /// Creator.
    pub created_by: &'a str,
}

/// Stores a new token.
pub async fn create(pool: &PgPool, t: &NewToken<'_>) -> Result<TokenRow, DbError> {
    sqlx::query_as(
        "INSERT INTO api_tokens (token_id, channel, role, secret_sha256, label, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING token_id, channel, role, label, created_by, created_at, revoked_at",
    )
    .bind(t.token_id)
    .bind(t.channel)
    .bind(t.role)
    .bind(t.secret_sha256)
    .bind(t.label)
    .bind(t.created_by)
    .fetch_one(pool)
    .await
    .map_err(DbError::query("create a token"))
}

/// The token with this id, revoked or not.
pub async fn get(pool: &PgPool, token_id: &str) -> Result<Option<TokenSecret>, DbError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        row: TokenRow,
        secret_sha256: Vec<u8>,
    }
    let found: Option<Row> = sqlx::query_as(
        "SELECT token_id, channel, role, label, created_by, created_at, revoked_at, secret_sha256 \
         FROM api_tokens WHERE token_id = $1",
    )
    .bind(token_id)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("read a token"))?;
    Ok(found.map(|r| TokenSecret {
        row: r.row,
        secret_sha256: r.secret_sha256,
    }))
}

/// A channel's tokens, newest first, revoked ones included (the audit trail).
pub async fn list(pool: &PgPool, channel: &str) -> Result<Vec<TokenRow>, DbError> {
    sqlx::query_as(
        "SELECT token_id, channel, role, label, created_by, created_at, revoked_at \
         FROM api_tokens WHERE channel = $1 ORDER BY created_at DESC, token_id",
    )
    .bind(channel)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("list tokens"))
}

/// Revokes a channel's token; returns the row, or `None` if the channel has no such token.
/// Revoking twice keeps the first revocation time.
pub async fn revoke(
    pool: &PgPool,
    channel: &str,
    token_id: &str,
) -> Result<Option<TokenRow>, DbError> {
    sqlx::query_as(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) \
         WHERE channel = $1 AND token_id = $2 \
         RETURNING token_id, channel, role, label, created_by, created_at, revoked_at",
    )
    .bind(channel)
    .bind(token_id)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("revoke a token"))
}

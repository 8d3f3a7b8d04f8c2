//! The `prompt_profiles` table: append-only versions of each channel's prompt profile. The
//! active profile is the channel's highest version; a rollback appends a copy of an older
//! one (see the migration). Versions are numbered under a per-channel advisory lock, so two
//! saves at once get consecutive numbers instead of a conflict.

use byte_actors::copilot::prompt::PromptProfile;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::DbError;

/// One stored version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileVersion {
    /// The channel.
    pub channel: String,
    /// Version number, from 1.
    pub version: i32,
    /// The profile.
    pub profile: PromptProfile,
    /// Who saved it (audit name).
    pub author: String,
    /// Why, if they said.
    pub comment: Option<String>,
    /// The version it restores, for a rollback.
    pub restored_from: Option<i32>,
    /// When.
    pub created_at: DateTime<Utc>,
}

type Row = (
    String,
    i32,
    serde_json::Value,
    String,
    Option<String>,
    Option<i32>,
    DateTime<Utc>,
);

fn from_row(r: Row) -> Result<ProfileVersion, DbError> {
    let profile = serde_json::from_value(r.2)
        .map_err(|e| DbError::InvalidData(format!("prompt profile {} v{}: {e}", r.0, r.1)))?;
    Ok(ProfileVersion {
        channel: r.0,
        version: r.1,
        profile,
        author: r.3,
        comment: r.4,
        restored_from: r.5,
        created_at: r.6,
    })
}

const COLUMNS: &str = "channel, version, profile, author, comment, restored_from, created_at";

/// Appends a version of `channel`'s profile and returns it.
pub async fn append(
    pool: &PgPool,
    channel: &str,
    profile: &PromptProfile,
    author: &str,
    comment: Option<&str>,
    restored_from: Option<i32>,
) -> Result<ProfileVersion, DbError> {
    let what = "save prompt profile";
    let json = serde_json::to_value(profile).map_err(|e| DbError::InvalidData(e.to_string()))?;
    let mut tx = pool.begin().await.map_err(DbError::query(what))?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('prompt_profiles:' || $1))")
        .bind(channel)
        .execute(&mut *tx)
        .await
        .map_err(DbError::query(what))?;
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO prompt_profiles (channel, version, profile, author, comment, restored_from) \
         SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5 FROM prompt_profiles \
         WHERE channel = $1 RETURNING {COLUMNS}"
    ))
    .bind(channel)
    .bind(json)
    .bind(author)
    .bind(comment)
    .bind(restored_from)
    .fetch_one(&mut *tx)
    .await
    .map_err(DbError::query(what))?;
    tx.commit().await.map_err(DbError::query(what))?;
    from_row(row)
}

/// One version of `channel`.
pub async fn version(
    pool: &PgPool,
    channel: &str,
    version: i32,
) -> Result<Option<ProfileVersion>, DbError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM prompt_profiles WHERE channel = $1 AND version = $2"
    ))
    .bind(channel)
    .bind(version)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("read prompt profile version"))?;
    row.map(from_row).transpose()
}

/// Versions of `channel`, newest first, below `before` (a version number) when given.
pub async fn history(
    pool: &PgPool,
    channel: &str,
    before: Option<i32>,
    limit: i64,
) -> Result<Vec<ProfileVersion>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM prompt_profiles WHERE channel = $1 \
         AND ($2::integer IS NULL OR version < $2) ORDER BY version DESC LIMIT $3"
    ))
    .bind(channel)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read prompt profile history"))?;
    rows.into_iter().map(from_row).collect()
}

/// The active (highest) version of every channel that has one.
pub async fn all_active(pool: &PgPool) -> Result<Vec<ProfileVersion>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT DISTINCT ON (channel) {COLUMNS} FROM prompt_profiles \
         ORDER BY channel, version DESC"
    ))
    .fetch_all(pool)
    .await
    .map_err(DbError::query("load prompt profiles"))?;
    rows.into_iter().map(from_row).collect()
}

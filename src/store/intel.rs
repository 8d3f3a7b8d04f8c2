//! Reads of the channel-intelligence history: per-minute rollups binned to any step,
//! sessions, hints and clip candidates, newest first with a limit.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::DbError;

/// One point of a channel's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HistoryPoint {
    /// Start of the bin.
    pub at: DateTime<Utc>,
    /// Messages in the bin.
    pub messages: i64,
    /// Messages per minute, averaged over the minutes that had rollups.
    pub chat_rate_per_min: f64,
    /// Highest per-minute chatter count in the bin.
    pub chatters: i32,
    /// First-time chatters in the bin.
    pub new_chatters: i64,
    /// Mean sentiment.
    pub sentiment: f64,
    /// Mean health score.
    pub health: Option<f64>,
    /// Mean churn risk.
    pub churn_risk: Option<f64>,
    /// Subs, gifts, bits and raids in the bin.
    pub subs: i64,
    /// Gifted subs.
    pub gifts: i64,
    /// Bits.
    pub bits: i64,
    /// Raids.
    pub raids: i64,
    /// Hints emitted.
    pub hints: i64,
}

/// Rollups of `channel` between `from` and `to`, binned to `step_secs`.
pub async fn history(
    pool: &PgPool,
    channel: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step_secs: i64,
) -> Result<Vec<HistoryPoint>, DbError> {
    sqlx::query_as(
        "SELECT date_bin(make_interval(secs => $4), minute, $2) AS at, \
                sum(messages)::bigint AS messages, avg(messages)::float8 AS chat_rate_per_min, \
                max(chatters) AS chatters, sum(new_chatters)::bigint AS new_chatters, \
                avg(sentiment)::float8 AS sentiment, avg(health)::float8 AS health, \
                avg(churn_risk)::float8 AS churn_risk, sum(subs)::bigint AS subs, \
                sum(gifts)::bigint AS gifts, sum(bits)::bigint AS bits, \
                sum(raids)::bigint AS raids, sum(hints)::bigint AS hints \
         FROM channel_rollups WHERE channel = $1 AND minute >= $2 AND minute < $3 \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(channel)
    .bind(from)
    .bind(to)
    .bind(step_secs as f64)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read history"))
}

/// The JSON documents of one intelligence table, newest first.
async fn latest(
    pool: &PgPool,
    sql: &'static str,
    channel: &str,
    limit: i64,
    what: &'static str,
) -> Result<Vec<serde_json::Value>, DbError> {
    sqlx::query_scalar(sql)
        .bind(channel)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(DbError::query(what))
}

/// Sessions of `channel`, newest first.
pub async fn sessions(
    pool: &PgPool,
    channel: &str,
    limit: i64,
) -> Result<Vec<serde_json::Value>, DbError> {
    latest(
        pool,
        "SELECT jsonb_build_object('session_id', session_id, 'started_at', started_at, \
         'ended_at', ended_at, 'end_reason', end_reason, 'kpis', kpis) \
         FROM stream_sessions WHERE channel = $1 ORDER BY started_at DESC LIMIT $2",
        channel,
        limit,
        "read sessions",
    )
    .await
}

/// Hints of `channel`, newest first.
pub async fn hints(
    pool: &PgPool,
    channel: &str,
    limit: i64,
) -> Result<Vec<serde_json::Value>, DbError> {
    latest(
        pool,
        "SELECT hint FROM channel_hints WHERE channel = $1 ORDER BY created_at DESC LIMIT $2",
        channel,
        limit,
        "read hints",
    )
    .await
}

/// Clip candidates of `channel`, newest first.
pub async fn clips(
    pool: &PgPool,
    channel: &str,
    limit: i64,
) -> Result<Vec<serde_json::Value>, DbError> {
    latest(
        pool,
        "SELECT clip FROM clip_candidates WHERE channel = $1 ORDER BY at DESC LIMIT $2",
        channel,
        limit,
        "read clips",
    )
    .await
}

/// Per-minute messages and health of several channels since `since`, ordered by channel
/// and minute: the fleet view's sparklines and trends, in one query for a whole page.
pub async fn recent_minutes(
    pool: &PgPool,
    channels: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>, i32, Option<f64>)>, DbError> {
    sqlx::query_as(
        "SELECT channel, minute, messages, health FROM channel_rollups \
         WHERE channel = ANY($1) AND minute >= $2 ORDER BY channel, minute",
    )
    .bind(channels)
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read recent rollups"))
}

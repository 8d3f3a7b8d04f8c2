//! Post-stream reports: what a report is built from (a session and its rollups, hints and
//! clips, read from the intelligence tables) and the `post_stream_reports` table itself.

use byte_actors::copilot::report::MinuteRollup;
use byte_actors::intel::clips::ClipCandidate;
use byte_actors::intel::coach::Hint;
use byte_actors::intel::session::Session;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::DbError;

/// A stored session, as the report needs it.
pub async fn session(
    pool: &PgPool,
    channel: &str,
    session_id: Option<&str>,
) -> Result<Option<Session>, DbError> {
    let doc: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object('id', session_id, 'started_at', started_at, \
         'ended_at', ended_at, 'end_reason', end_reason, 'kpis', kpis) \
         FROM stream_sessions WHERE channel = $1 AND ($2::text IS NULL OR session_id = $2) \
         ORDER BY started_at DESC LIMIT 1",
    )
    .bind(channel)
    .bind(session_id)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("read session"))?;
    doc.map(|d| {
        serde_json::from_value(d).map_err(|e| DbError::InvalidData(format!("session: {e}")))
    })
    .transpose()
}

/// A `channel_rollups` row as read here.
type RollupRow = (
    DateTime<Utc>,
    i32,
    i32,
    i32,
    f64,
    Option<f64>,
    i32,
    i32,
    i64,
    i32,
);

/// Rollups of `channel` in `[from, to]`, by minute.
pub async fn rollups(
    pool: &PgPool,
    channel: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MinuteRollup>, DbError> {
    let rows: Vec<RollupRow> = sqlx::query_as(
        "SELECT minute, messages, chatters, new_chatters, sentiment, health, subs, gifts, bits, \
         raids FROM channel_rollups WHERE channel = $1 \
         AND minute >= date_trunc('minute', $2) AND minute <= $3 ORDER BY minute",
    )
    .bind(channel)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read session rollups"))?;
    Ok(rows
        .into_iter()
        .map(|r| MinuteRollup {
            minute: r.0,
            messages: r.1.into(),
            chatters: r.2.into(),
            new_chatters: r.3.into(),
            sentiment: r.4,
            health: r.5,
            subs: r.6.into(),
            gifts: r.7.into(),
            bits: r.8,
            raids: r.9.into(),
        })
        .collect())
}

/// Hints of `channel` created in `[from, to]`; rows that no longer parse are skipped.
pub async fn hints(
    pool: &PgPool,
    channel: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Hint>, DbError> {
    let docs: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT hint FROM channel_hints WHERE channel = $1 AND created_at >= $2 \
         AND created_at <= $3 ORDER BY created_at LIMIT 5000",
    )
    .bind(channel)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read session hints"))?;
    Ok(docs
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect())
}

/// Clip candidates of `channel` in `[from, to]`; rows that no longer parse are skipped.
pub async fn clips(
    pool: &PgPool,
    channel: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ClipCandidate>, DbError> {
    let docs: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT clip FROM clip_candidates WHERE channel = $1 AND at >= $2 AND at <= $3 \
         ORDER BY at LIMIT 5000",
    )
    .bind(channel)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read session clips"))?;
    Ok(docs
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect())
}

/// A report to store.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    /// The channel.
    pub channel: &'a str,
    /// The session.
    pub session_id: &'a str,
    /// `session_end` or `on_demand`.
    pub trigger: &'static str,
    /// `model` or `fallback`.
    pub narrative_source: &'static str,
    /// The model that wrote the narrative (`rule-based` for the fallback).
    pub model: &'a str,
    /// The figures (JSON).
    pub figures: serde_json::Value,
    /// The narrative.
    pub narrative: &'a str,
    /// The Markdown.
    pub markdown: &'a str,
}

/// A report's summary, for lists.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ReportSummary {
    /// Report id.
    pub id: i64,
    /// The session.
    pub session_id: String,
    /// `session_end` or `on_demand`.
    pub trigger: String,
    /// `model` or `fallback`.
    pub narrative_source: String,
    /// The model that wrote the narrative.
    pub model: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredReport {
    /// Report id.
    pub id: i64,
    /// The channel.
    pub channel: String,
    /// The session.
    pub session_id: String,
    /// `session_end` or `on_demand`.
    pub trigger: String,
    /// `model` (written by a language model) or `fallback` (rule-based, no model).
    pub narrative_source: String,
    /// The model that wrote the narrative (`rule-based` for the fallback).
    pub model: String,
    /// The deterministic figures.
    pub figures: serde_json::Value,
    /// The narrative.
    pub narrative: String,
    /// The whole report as Markdown.
    pub markdown: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Stores a report; `None` when it is a second automatic report of the same session.
pub async fn insert(pool: &PgPool, r: &NewReport<'_>) -> Result<Option<i64>, DbError> {
    sqlx::query_scalar(
        "INSERT INTO post_stream_reports (channel, session_id, trigger, narrative_source, model, \
         figures, narrative, markdown) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(r.channel)
    .bind(r.session_id)
    .bind(r.trigger)
    .bind(r.narrative_source)
    .bind(r.model)
    .bind(&r.figures)
    .bind(r.narrative)
    .bind(r.markdown)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("store report"))
}

/// Reports of `channel`, newest first, older than report `before` when given.
pub async fn list(
    pool: &PgPool,
    channel: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ReportSummary>, DbError> {
    sqlx::query_as(
        "SELECT id, session_id, trigger, narrative_source, model, created_at \
         FROM post_stream_reports WHERE channel = $1 AND ($2::bigint IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(channel)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("list reports"))
}

/// One report of `channel`.
pub async fn get(pool: &PgPool, channel: &str, id: i64) -> Result<Option<StoredReport>, DbError> {
    sqlx::query_as(
        "SELECT id, channel, session_id, trigger, narrative_source, model, figures, narrative, \
         markdown, created_at FROM post_stream_reports WHERE channel = $1 AND id = $2",
    )
    .bind(channel)
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("read report"))
}

/// Goal outcomes autonomy recorded for `session_id` (the `goal_outcomes` table), by kind.
pub async fn goals(
    pool: &PgPool,
    channel: &str,
    session_id: &str,
) -> Result<Vec<byte_actors::copilot::report::GoalOutcome>, DbError> {
    let rows: Vec<(String, f64, f64, bool)> = sqlx::query_as(
        "SELECT name, target, actual, met FROM goal_outcomes \
         WHERE channel = $1 AND session_id = $2 ORDER BY kind",
    )
    .bind(channel)
    .bind(session_id)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read session goal outcomes"))?;
    Ok(rows
        .into_iter()
        .map(
            |(name, target, actual, met)| byte_actors::copilot::report::GoalOutcome {
                name,
                target,
                actual,
                met,
            },
        )
        .collect())
}

//! `/api/v1/channels/{login}/memory`: the channel's semantic memory.
//!
//! - `GET  .../memory?kind=&limit=&offset=`: list, newest change first, paginated.
//! - `PUT  .../memory`: add (no `id`) or edit (with `id`) one entry; the text is embedded.
//! - `DELETE .../memory/{id}`: remove one entry (the id in the path: one resource, one URL).
//! - `GET  .../memory/search?q=&k=&min_similarity=&exact=&ef_search=`: top-k by meaning,
//!   with diagnostics (engine, threshold, candidates, ef_search, latency).
//!
//! Access: reading and searching need `Read` (streamer, moderator); writing needs `Control`
//! (streamer and moderators: moderators curate a channel's facts and rules, as they do its
//! chat). Overlay tokens reach none of it. Inputs are checked with a 400 that says what to fix.

use axum::Json;
use axum::extract::State;
use byte_actors::memory::{EmbedError, MAX_TEXT_CHARS, MemoryCandidate, MemoryKind, MemorySource};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::{ChannelAccess, Control, Read};
use super::channels::{ApiJson, ApiPath};
use super::error::{ApiError, ErrorBody};
use super::intel::ApiQuery;
use crate::memory::{MemoryEntry, MemoryError, SearchAnswer, SearchParams, Written};

/// Most entries one list page holds.
pub const MAX_LIMIT: i64 = 200;
/// Most hits one search returns.
pub const MAX_K: u32 = 100;
/// Largest `ef_search` accepted.
pub const MAX_EF_SEARCH: u32 = 1000;
/// Default similarity threshold of a search.
pub const DEFAULT_MIN_SIMILARITY: f64 = 0.2;

/// `?kind=&limit=&offset=` of the list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this kind (`fact`, `viewer`, `highlight`, `rule`, `note`).
    pub kind: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// Entries to skip (default 0).
    pub offset: Option<i64>,
}

/// A page of entries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemoryPage {
    /// Channel.
    pub channel: String,
    /// Entries, most recently changed first.
    pub items: Vec<MemoryEntry>,
    /// Entries matching the filter in all.
    pub total: i64,
    /// Page size used.
    pub limit: i64,
    /// Entries skipped.
    pub offset: i64,
}

/// Body of `PUT .../memory`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMemory {
    /// The entry to edit; absent to add a new one.
    pub id: Option<i64>,
    /// `fact`, `viewer`, `highlight`, `rule` or `note`.
    pub kind: String,
    /// What to remember, 1 to 2000 characters.
    pub text: String,
    /// `operator` (default), `chat`, `report` or `enrichment`.
    pub source: Option<String>,
    /// Importance, 0 to 1000 (default 1).
    pub weight: Option<f32>,
}

/// What a `PUT` did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PutResult {
    /// `added`, `merged` (a near-duplicate existed and was bumped; non-operator sources
    /// only) or `updated` (an edit).
    pub outcome: &'static str,
    /// The stored entry.
    pub entry: MemoryEntry,
    /// Similarity to the entry merged into (only for `merged`).
    pub similarity: Option<f64>,
}

/// Answer to a delete.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// The removed entry's id.
    pub deleted: i64,
}

/// `?q=&k=&min_similarity=&exact=&ef_search=` of a search.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for, in words (1 to 2000 characters).
    pub q: Option<String>,
    /// Most hits, 1 to 100 (default 10).
    pub k: Option<u32>,
    /// Drop hits below this cosine similarity, -1 to 1 (default 0.2).
    pub min_similarity: Option<f64>,
    /// Force the exact (sequential scan) search (default false: HNSW).
    pub exact: Option<bool>,
    /// HNSW candidate list size, 1 to 1000 (default 100); higher = better recall, slower.
    pub ef_search: Option<u32>,
}

/// A search answer for a channel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    /// Channel.
    pub channel: String,
    /// The query text.
    pub query: String,
    /// Hits and diagnostics.
    #[serde(flatten)]
    pub answer: SearchAnswer,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_memory", message)
}

fn parse_kind(raw: &str) -> Result<MemoryKind, ApiError> {
    MemoryKind::parse(raw).ok_or_else(|| {
        invalid(format!(
            "unknown kind {raw:?}; use one of fact, viewer, highlight, rule, note"
        ))
    })
}

fn check_text(raw: &str, what: &str) -> Result<String, ApiError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(invalid(format!("`{what}` must not be empty")));
    }
    let n = text.chars().count();
    if n > MAX_TEXT_CHARS {
        return Err(invalid(format!(
            "`{what}` is {n} characters long; at most {MAX_TEXT_CHARS}"
        )));
    }
    Ok(text.to_owned())
}

/// Maps a memory failure: nothing here is the caller's fault but an overloaded pool.
fn failed(e: MemoryError) -> ApiError {
    match e {
        MemoryError::Embed(EmbedError::Overloaded(_)) => ApiError::TooManyRequests(1),
        MemoryError::Db(e) => {
            tracing::warn!(error = %e, "memory query failed");
            ApiError::Unavailable(
                "the database is unavailable; memory cannot be used right now".into(),
            )
        }
        other => ApiError::Unavailable(other.to_string()),
    }
}

/// `GET /api/v1/channels/{login}/memory`
#[utoipa::path(get, path = "/api/v1/channels/{login}/memory", tag = "memory", summary = "List the channel's memories, newest change first", params(("login" = String, Path, description = "Twitch login of the channel"), ListQuery), responses((status = 200, description = "A page of entries", body = MemoryPage), (status = 400, description = "Bad filter or page", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<MemoryPage>, ApiError> {
    let kind = q.kind.as_deref().map(parse_kind).transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    if !(0..=1_000_000).contains(&offset) {
        return Err(invalid(format!(
            "`offset` must be between 0 and 1000000, got {offset}"
        )));
    }
    let channel = access.login.to_string();
    let (items, total) =
        crate::memory::store::list(state.memory.pool(), &channel, kind, limit, offset)
            .await
            .map_err(|e| failed(MemoryError::Db(e)))?;
    Ok(Json(MemoryPage {
        channel,
        items,
        total,
        limit,
        offset,
    }))
}

/// `PUT /api/v1/channels/{login}/memory`
#[utoipa::path(put, path = "/api/v1/channels/{login}/memory", tag = "memory", summary = "Add a memory (no id) or edit one (with id)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body = PutMemory, responses((status = 200, description = "What was stored", body = PutResult), (status = 400, description = "Invalid entry", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "No such entry in this channel, or not the caller's channel", body = ErrorBody), (status = 429, description = "The embeddings queue is full, or too many failed attempts", body = ErrorBody), (status = 503, description = "Embeddings engine or database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
    ApiJson(body): ApiJson<PutMemory>,
) -> Result<Json<PutResult>, ApiError> {
    let kind = parse_kind(&body.kind)?;
    let text = check_text(&body.text, "text")?;
    let source = match body.source.as_deref() {
        None => MemorySource::Operator,
        Some(raw) => MemorySource::parse(raw).ok_or_else(|| {
            invalid(format!(
                "unknown source {raw:?}; use one of operator, chat, report, enrichment"
            ))
        })?,
    };
    let weight = body.weight.unwrap_or(1.0);
    if !(weight.is_finite() && (0.0..=1000.0).contains(&weight)) {
        return Err(invalid(format!(
            "`weight` must be between 0 and 1000, got {weight}"
        )));
    }
    if body.id.is_some_and(|id| id <= 0) {
        return Err(invalid("`id` must be a positive entry id"));
    }
    let candidate = MemoryCandidate {
        kind,
        text,
        source,
        weight,
    };
    let channel = access.login.as_str();
    match body.id {
        Some(id) => {
            let entry = state
                .memory
                .edit(channel, id, &candidate)
                .await
                .map_err(failed)?
                .ok_or_else(|| {
                    ApiError::NotFound(format!("channel {channel} has no memory {id}"))
                })?;
            Ok(Json(PutResult {
                outcome: "updated",
                entry,
                similarity: None,
            }))
        }
        None => Ok(Json(
            match state
                .memory
                .add(channel, &candidate)
                .await
                .map_err(failed)?
            {
                Written::Added(entry) => PutResult {
                    outcome: "added",
                    entry,
                    similarity: None,
                },
                Written::Merged(entry, similarity) => PutResult {
                    outcome: "merged",
                    entry,
                    similarity: Some(similarity),
                },
            },
        )),
    }
}

/// `DELETE /api/v1/channels/{login}/memory/{id}`
#[utoipa::path(delete, path = "/api/v1/channels/{login}/memory/{id}", tag = "memory", summary = "Remove a memory", params(("login" = String, Path, description = "Twitch login of the channel"), ("id" = i64, Path, description = "The entry's id")), responses((status = 200, description = "Removed", body = Deleted), (status = 400, description = "The id is not a number", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "No such entry in this channel, or not the caller's channel", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Json<Deleted>, ApiError> {
    let channel = access.login.as_str();
    let found = crate::memory::store::delete(state.memory.pool(), channel, id)
        .await
        .map_err(|e| failed(MemoryError::Db(e)))?;
    if !found {
        return Err(ApiError::NotFound(format!(
            "channel {channel} has no memory {id}"
        )));
    }
    Ok(Json(Deleted { deleted: id }))
}

/// `GET /api/v1/channels/{login}/memory/search`
#[utoipa::path(get, path = "/api/v1/channels/{login}/memory/search", tag = "memory", summary = "Top-k memories by meaning, with diagnostics", params(("login" = String, Path, description = "Twitch login of the channel"), SearchQuery), responses((status = 200, description = "Hits and diagnostics", body = SearchResult), (status = 400, description = "Bad query or tuning", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody), (status = 429, description = "The embeddings queue is full, or too many failed attempts", body = ErrorBody), (status = 503, description = "Embeddings engine or database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn search(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<SearchResult>, ApiError> {
    let query = check_text(
        q.q.as_deref()
            .ok_or_else(|| invalid("`q` (the text to search for) is required"))?,
        "q",
    )?;
    let k = q.k.unwrap_or(10);
    if !(1..=MAX_K).contains(&k) {
        return Err(invalid(format!(
            "`k` must be between 1 and {MAX_K}, got {k}"
        )));
    }
    let min_similarity = q.min_similarity.unwrap_or(DEFAULT_MIN_SIMILARITY);
    if !(min_similarity.is_finite() && (-1.0..=1.0).contains(&min_similarity)) {
        return Err(invalid(format!(
            "`min_similarity` must be between -1 and 1, got {min_similarity}"
        )));
    }
    let ef_search = q
        .ef_search
        .unwrap_or(state.memory.config().default_ef_search);
    if !(1..=MAX_EF_SEARCH).contains(&ef_search) {
        return Err(invalid(format!(
            "`ef_search` must be between 1 and {MAX_EF_SEARCH}, got {ef_search}"
        )));
    }
    let params = SearchParams {
        k,
        min_similarity,
        exact: q.exact.unwrap_or(false),
        ef_search,
    };
    let answer = state
        .memory
        .search(access.login.as_str(), &query, params)
        .await
        .map_err(failed)?;
    Ok(Json(SearchResult {
        channel: access.login.to_string(),
        query,
        answer,
    }))
}

//! Memory entries in Postgres + pgvector (`memory_entries`, migration
//! `20251123000000_semantic_memory.sql`): list, add-or-merge, edit, delete, and top-k cosine
//! search with its diagnostics.
//!
//! Every statement filters on `channel`: that WHERE clause *is* the isolation between
//! channels, and the tests check it. Near-duplicate merging also stays within the
//! candidate's [`MergeScope`] (the `subject` and `occurred_at` columns, migration
//! `20251124000100_memory_merge_scope.sql`): a viewer's memory only merges into the same
//! viewer's, a highlight only into one of the same moment. Search runs in a transaction so its planner settings
//! stay local to it (`set_config(..., true)` = `SET LOCAL`):
//! - **hnsw**: `hnsw.ef_search` as asked, and pgvector 0.8's `hnsw.iterative_scan =
//!   relaxed_order`. The HNSW index covers every channel, so a plain index scan would stop
//!   after `ef_search` candidates of which few may be this channel's; the iterative scan keeps
//!   walking the graph until `k` rows pass the channel filter (bounded by
//!   `hnsw.max_scan_tuples`). Results come back re-sorted by distance.
//! - **exact**: `enable_indexscan = off` forbids the HNSW index, so Postgres computes the
//!   distance of every row of the channel (bitmap scan of the channel index, or a sequential
//!   scan) and sorts: the brute-force answer.
//!
//! The engine reported in the diagnostics is the one the planner really used: in hnsw mode
//! the plan is read (`EXPLAIN`, no execution) in the same transaction, because for a small
//! channel Postgres may rightly prefer the exact path, and the answer must not pretend.

use std::time::Instant;

use byte_actors::memory::{MemoryKind, MemorySource, MergeScope};
use chrono::{DateTime, Utc};
use pgvector::Vector;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Row, Transaction};

/// One stored memory (without its vector).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemoryEntry {
    /// Id, unique across channels.
    pub id: i64,
    /// Channel login.
    pub channel: String,
    /// `fact`, `viewer`, `highlight`, `rule` or `note`.
    pub kind: String,
    /// The remembered text.
    pub text: String,
    /// `operator`, `chat`, `report` or `enrichment`.
    pub source: String,
    /// Importance (bumped when a near-duplicate is merged in).
    pub weight: f32,
    /// How many times it was stated (1 + merged near-duplicates).
    pub hits: i32,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When it was last changed or merged into.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, channel, kind, text, source, weight, hits, created_at, updated_at";

fn entry(row: &sqlx::postgres::PgRow) -> Result<MemoryEntry, sqlx::Error> {
    Ok(MemoryEntry {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        kind: row.try_get("kind")?,
        text: row.try_get("text")?,
        source: row.try_get("source")?,
        weight: row.try_get("weight")?,
        hits: row.try_get("hits")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A search answer's entry and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    /// The entry.
    #[serde(flatten)]
    pub entry: MemoryEntry,
    /// Cosine similarity to the query, -1 to 1 (1 = same direction).
    pub similarity: f64,
}

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchParams {
    /// Most hits returned.
    pub k: u32,
    /// Hits below this cosine similarity are dropped.
    pub min_similarity: f64,
    /// Force the exact (sequential) path.
    pub exact: bool,
    /// HNSW candidate list size (ignored when exact).
    pub ef_search: u32,
}

/// What the database did for one search.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoreDiagnostics {
    /// `hnsw` (approximate, index) or `exact` (every row of the channel compared).
    pub engine: &'static str,
    /// Whether the caller forced the exact path.
    pub exact_requested: bool,
    /// The similarity threshold applied.
    pub min_similarity: f64,
    /// Rows the engine ranked before the threshold was applied: for hnsw the index's top k
    /// of this channel, for exact every entry of the channel.
    pub candidates: u64,
    /// `hnsw.ef_search` in force (null on the exact path).
    pub ef_search: Option<u32>,
    /// Time in the database, milliseconds.
    pub db_ms: f64,
}

/// Lists a channel's entries, newest change first; returns (page, total).
///
/// The page and the total are read in one repeatable-read snapshot: as two autocommit
/// statements, an entry stored between them was counted in the total but missing from the
/// page (enrichment stores entries at any moment), and a client paging by the total saw an
/// entry it could not find.
pub async fn list(
    pool: &PgPool,
    channel: &str,
    kind: Option<MemoryKind>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<MemoryEntry>, i64), sqlx::Error> {
    let kind = kind.map(MemoryKind::as_str);
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM memory_entries WHERE channel = $1 AND ($2::text IS NULL OR kind = $2) \
         ORDER BY updated_at DESC, id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(channel)
    .bind(kind)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM memory_entries WHERE channel = $1 AND ($2::text IS NULL OR kind = $2)",
    )
    .bind(channel)
    .bind(kind)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((rows.iter().map(entry).collect::<Result<_, _>>()?, total))
}

/// One entry of the channel.
pub async fn get(
    pool: &PgPool,
    channel: &str,
    id: i64,
) -> Result<Option<MemoryEntry>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM memory_entries WHERE channel = $1 AND id = $2"
    ))
    .bind(channel)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(entry)
    .transpose()
}

/// What [`add_or_merge`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// A new entry.
    Added(MemoryEntry),
    /// A near-duplicate of the same kind existed (similarity given) and was bumped instead.
    Merged(MemoryEntry, f64),
}

/// A new memory to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory<'a> {
    /// Kind.
    pub kind: MemoryKind,
    /// Text.
    pub text: &'a str,
    /// Source.
    pub source: MemorySource,
    /// Weight (added to a near-duplicate's).
    pub weight: f32,
    /// Unit-length embedding of `text`.
    pub embedding: &'a [f32],
    /// Which entries it may merge into; its subject and moment are stored with it.
    pub scope: &'a MergeScope,
}

/// When a near-duplicate is merged instead of added.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dedup {
    /// Cosine similarity at or above which an entry in scope is merged into; above 1
    /// disables merging.
    pub threshold: f64,
    /// Highlights merge only when their moments are at most this far apart, seconds.
    pub same_moment_secs: f64,
}

/// Adds `memory`, unless an entry of the same channel, kind and [`MergeScope`] is at least
/// `dedup.threshold` similar (cosine): then that entry's weight and hit count are bumped
/// instead. Serialised per channel (advisory lock), so two near-identical candidates
/// arriving together cannot both be added.
pub async fn add_or_merge(
    pool: &PgPool,
    channel: &str,
    memory: &NewMemory<'_>,
    dedup: Dedup,
) -> Result<Written, sqlx::Error> {
    let vector = Vector::from(memory.embedding.to_vec());
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('byte.memory:' || $1))")
        .bind(channel)
        .execute(&mut *tx)
        .await?;
    let (subject, occurred_at) = (memory.scope.subject(), memory.scope.occurred_at());
    if dedup.threshold <= 1.0 && *memory.scope != MergeScope::Never {
        iterative(&mut tx, 100).await?;
        // The scope is part of the filter, not checked after: the nearest entry overall may
        // be another viewer's while this viewer's own is the one to merge into.
        let nearest = sqlx::query(
            "SELECT id, 1 - (embedding <=> $1) AS similarity FROM memory_entries \
             WHERE channel = $2 AND kind = $3 AND subject IS NOT DISTINCT FROM $4 \
               AND ($5::timestamptz IS NULL OR abs(extract(epoch FROM occurred_at - $5)) <= $6) \
             ORDER BY embedding <=> $1 LIMIT 1",
        )
        .bind(&vector)
        .bind(channel)
        .bind(memory.kind.as_str())
        .bind(subject)
        .bind(occurred_at)
        .bind(dedup.same_moment_secs)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = nearest {
            let similarity: f64 = row.try_get("similarity")?;
            if similarity >= dedup.threshold {
                let id: i64 = row.try_get("id")?;
                let merged = sqlx::query(&format!(
                    "UPDATE memory_entries SET weight = LEAST(weight + $3, 1000), hits = hits + 1, \
                     updated_at = now() WHERE channel = $1 AND id = $2 RETURNING {COLUMNS}"
                ))
                .bind(channel)
                .bind(id)
                .bind(memory.weight)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(Written::Merged(entry(&merged)?, similarity));
            }
        }
    }
    let added = sqlx::query(&format!(
        "INSERT INTO memory_entries (channel, kind, text, source, weight, embedding, subject, \
         occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(channel)
    .bind(memory.kind.as_str())
    .bind(memory.text)
    .bind(memory.source.as_str())
    .bind(memory.weight)
    .bind(&vector)
    .bind(subject)
    .bind(occurred_at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Written::Added(entry(&added)?))
}

/// An operator's edit of entry `id`: every field replaced (subject and moment with the
/// text's [`MergeScope`]); the embedding only when given (the text changed). `None` when the
/// channel has no such entry.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    pool: &PgPool,
    channel: &str,
    id: i64,
    kind: MemoryKind,
    text: &str,
    source: MemorySource,
    weight: f32,
    embedding: Option<&[f32]>,
    scope: &MergeScope,
) -> Result<Option<MemoryEntry>, sqlx::Error> {
    let vector = embedding.map(|e| Vector::from(e.to_vec()));
    sqlx::query(&format!(
        "UPDATE memory_entries SET kind = $3, text = $4, source = $5, weight = $6, \
         embedding = COALESCE($7, embedding), subject = $8, occurred_at = $9, updated_at = now() \
         WHERE channel = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(channel)
    .bind(id)
    .bind(kind.as_str())
    .bind(text)
    .bind(source.as_str())
    .bind(weight)
    .bind(vector)
    .bind(scope.subject())
    .bind(scope.occurred_at())
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(entry)
    .transpose()
}

/// Deletes entry `id` of the channel; whether it existed.
pub async fn delete(pool: &PgPool, channel: &str, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM memory_entries WHERE channel = $1 AND id = $2")
        .bind(channel)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The stored embedding of entry `id` (tests and benchmarks compare against brute force).
pub async fn embedding(
    pool: &PgPool,
    channel: &str,
    id: i64,
) -> Result<Option<Vec<f32>>, sqlx::Error> {
    let v: Option<Vector> =
        sqlx::query_scalar("SELECT embedding FROM memory_entries WHERE channel = $1 AND id = $2")
            .bind(channel)
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(v.map(|v| v.to_vec()))
}

async fn iterative(tx: &mut Transaction<'_, Postgres>, ef_search: u32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT set_config('hnsw.ef_search', $1, true), \
                set_config('hnsw.iterative_scan', 'relaxed_order', true)",
    )
    .bind(ef_search.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Name of the HNSW index, as it appears in plans.
pub const HNSW_INDEX: &str = "memory_entries_embedding_hnsw";

/// Top-`k` entries of `channel` by cosine similarity to `query` (unit length), at least
/// `min_similarity` similar, most similar first.
pub async fn search(
    pool: &PgPool,
    channel: &str,
    query: &[f32],
    params: SearchParams,
) -> Result<(Vec<SearchHit>, StoreDiagnostics), sqlx::Error> {
    let started = Instant::now();
    let vector = Vector::from(query.to_vec());
    let mut tx = pool.begin().await?;
    let sql = format!(
        "SELECT {COLUMNS}, embedding <=> $1 AS distance, count(*) OVER () AS scanned \
         FROM memory_entries WHERE channel = $2 ORDER BY embedding <=> $1 LIMIT $3"
    );
    let hnsw_sql = format!(
        "SELECT {COLUMNS}, embedding <=> $1 AS distance \
         FROM memory_entries WHERE channel = $2 ORDER BY embedding <=> $1 LIMIT $3"
    );
    let (engine, rows) = if params.exact {
        sqlx::query("SELECT set_config('enable_indexscan', 'off', true)")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(&sql)
            .bind(&vector)
            .bind(channel)
            .bind(i64::from(params.k))
            .fetch_all(&mut *tx)
            .await?;
        ("exact", rows)
    } else {
        iterative(&mut tx, params.ef_search).await?;
        let plan: serde_json::Value =
            sqlx::query_scalar(&format!("EXPLAIN (FORMAT JSON) {hnsw_sql}"))
                .bind(&vector)
                .bind(channel)
                .bind(i64::from(params.k))
                .fetch_one(&mut *tx)
                .await?;
        let engine = if plan.to_string().contains(HNSW_INDEX) {
            "hnsw"
        } else {
            "exact"
        };
        let rows = sqlx::query(&hnsw_sql)
            .bind(&vector)
            .bind(channel)
            .bind(i64::from(params.k))
            .fetch_all(&mut *tx)
            .await?;
        (engine, rows)
    };
    tx.commit().await?;
    let candidates = if params.exact {
        rows.first()
            .map(|r| r.try_get::<i64, _>("scanned"))
            .transpose()?
            .unwrap_or(0) as u64
    } else {
        rows.len() as u64
    };
    let mut hits = Vec::with_capacity(rows.len());
    for row in &rows {
        let distance: f64 = row.try_get("distance")?;
        let similarity = 1.0 - distance;
        if similarity >= params.min_similarity {
            hits.push(SearchHit {
                entry: entry(row)?,
                similarity,
            });
        }
    }
    // relaxed_order may return neighbours slightly out of order.
    hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    let db_ms = started.elapsed().as_secs_f64() * 1000.0;
    metrics::histogram!(byte_actors::metrics::MEMORY_SEARCH_SECONDS, "engine" => engine)
        .record(db_ms / 1000.0);
    Ok((
        hits,
        StoreDiagnostics {
            engine,
            exact_requested: params.exact,
            min_similarity: params.min_similarity,
            candidates,
            ef_search: (!params.exact).then_some(params.ef_search),
            db_ms,
        },
    ))
}

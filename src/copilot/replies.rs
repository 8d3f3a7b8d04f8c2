//! The reply workers: where a viewer's question, handed over by its channel actor, becomes
//! an answer in chat. A bounded queue (full: the question is dropped and counted — an
//! answer minutes late is worse than none) feeds a fixed number of workers, so model calls
//! never pile up without bound and never run on an actor.
//!
//! Per job: the channel's active prompt profile (prompt studio) and the process's canary
//! build the messages (`byte_actors::copilot::prompt`: instructions only from the operator,
//! everything else delimited data); the model answers through the budgeted, resilient port
//! (a labelled rule-based answer when it cannot); an answer holding one of the persona's
//! banned patterns is dropped; the sender sanitises and sends it within Twitch's limits. Each
//! outcome is stored (`copilot_replies`), counted and pushed to the HUD.

use std::sync::Arc;
use std::time::Duration;

use byte_actors::agent::{HudBus, HudEvent};
use byte_actors::channel::replies::{ReplyJob, ReplyPort, ReplyRejected};
use byte_actors::copilot::prompt::{ReplyRequest, build_reply_prompt};
use byte_actors::copilot::sanitize::TWITCH_MAX_CHARS;
use byte_actors::llm::{Activity, ChatRequest, Completion, FALLBACK_PREFIX, LlmPort, Source};
use byte_actors::metrics as m;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc};
use tracing::Instrument;

use super::profiles::ProfileBook;
use super::sender::{ChatSender, SayOrigin};

/// Every `outcome` label of `byte_copilot_replies_total`.
pub const OUTCOMES: [&str; 16] = [
    "model",
    "fallback",
    "banned",
    "unavailable",
    "paused",
    "suspended",
    "user_cooldown",
    "debouncing",
    "nothing_pending",
    "empty_question",
    "busy",
    "stopped",
    "rate_limited",
    "duplicate",
    "empty",
    "irc_error",
];

/// The channel actors' side of the queue.
#[derive(Debug)]
pub struct ReplyQueue {
    tx: mpsc::Sender<ReplyJob>,
}

impl ReplyPort for ReplyQueue {
    fn submit(&self, job: ReplyJob) -> Result<(), ReplyRejected> {
        match self.tx.try_send(job) {
            Ok(()) => {
                metrics::gauge!(m::COPILOT_REPLY_QUEUE).increment(1.0);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(ReplyRejected::Busy),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(ReplyRejected::Stopped),
        }
    }

    fn skipped(&self, reason: &'static str) {
        metrics::counter!(m::COPILOT_REPLIES, "outcome" => reason).increment(1);
    }
}

/// A queue of `capacity` jobs: the port for channel actors and the receiver for
/// [`spawn_workers`].
pub fn queue(capacity: usize) -> (Arc<ReplyQueue>, mpsc::Receiver<ReplyJob>) {
    for outcome in OUTCOMES {
        metrics::counter!(m::COPILOT_REPLIES, "outcome" => outcome).absolute(0);
    }
    metrics::gauge!(m::COPILOT_REPLY_QUEUE).set(0.0);
    // Registered before the first answer, so its panel and quantiles have a series to read.
    drop(metrics::histogram!(m::COPILOT_REPLY_SECONDS));
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (Arc::new(ReplyQueue { tx }), rx)
}

/// What the workers use.
#[derive(Clone)]
pub struct ReplyDeps {
    /// The budgeted, resilient model port.
    pub llm: Arc<dyn LlmPort>,
    /// Prompt profiles.
    pub profiles: Arc<ProfileBook>,
    /// The way into chat (holds the canary).
    pub sender: Arc<ChatSender>,
    /// Where outcomes are stored.
    pub pool: PgPool,
    /// Where they are shown live.
    pub hud: HudBus,
    /// The channel's semantic memory, recalled into the prompt as data.
    pub memory: Option<crate::memory::Memory>,
}

/// Most memories recalled into one reply prompt.
const RECALL_K: u32 = 3;
/// Below this similarity a memory is not about the question.
const RECALL_MIN_SIMILARITY: f64 = 0.35;
/// Longest a reply waits for recall; without it the answer goes on without memories.
const RECALL_TIMEOUT: Duration = Duration::from_millis(800);

/// What the channel remembers about `question` (its text only), or nothing when memory is
/// unavailable or slow: recall enriches an answer, it never holds one up.
async fn recall(deps: &ReplyDeps, channel: &str, question: &str) -> Vec<String> {
    let Some(memory) = &deps.memory else {
        return Vec::new();
    };
    let params = crate::memory::store::SearchParams {
        k: RECALL_K,
        min_similarity: RECALL_MIN_SIMILARITY,
        exact: false,
        ef_search: 40,
    };
    match tokio::time::timeout(RECALL_TIMEOUT, memory.search(channel, question, params)).await {
        Ok(Ok(answer)) => answer.hits.into_iter().map(|h| h.entry.text).collect(),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "no memories for the reply");
            Vec::new()
        }
        Err(_) => {
            tracing::debug!("memory recall timed out; answering without it");
            Vec::new()
        }
    }
}

/// One stored reply, as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredReply {
    /// Row id.
    pub id: i64,
    /// Who asked.
    pub viewer: String,
    /// What they asked.
    pub question: String,
    /// The chat messages sent (empty when nothing went out).
    #[schema(value_type = Vec<String>)]
    pub parts: sqlx::types::Json<Vec<String>>,
    /// `sent`, `dry_run` (no bot login: what it would have said), or why nothing went out.
    pub outcome: String,
    /// `model` or `fallback` (the labelled rule-based engine).
    pub source: String,
    /// The model that answered.
    pub model: String,
    /// Prompt tokens.
    pub tokens_in: i32,
    /// Answer tokens.
    pub tokens_out: i32,
    /// From the question to the answer in chat.
    pub latency_ms: i32,
    /// When the viewer asked.
    pub asked_at: DateTime<Utc>,
    /// When the reply was handled.
    pub created_at: DateTime<Utc>,
}

/// The latest replies in `channel`, newest first.
pub async fn list(
    pool: &PgPool,
    channel: &str,
    limit: i64,
) -> Result<Vec<StoredReply>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, viewer, question, parts, outcome, source, model, tokens_in, tokens_out,
                latency_ms, asked_at, created_at
         FROM copilot_replies WHERE channel = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(channel)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Starts `workers` workers on `rx`; they stop when every sender of the queue is gone.
pub fn spawn_workers(
    rx: mpsc::Receiver<ReplyJob>,
    deps: ReplyDeps,
    workers: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let rx = Arc::new(Mutex::new(rx));
    (0..workers.max(1))
        .map(|_| {
            let (rx, deps) = (rx.clone(), deps.clone());
            tokio::spawn(async move {
                loop {
                    let job = rx.lock().await.recv().await;
                    let Some(job) = job else { return };
                    metrics::gauge!(m::COPILOT_REPLY_QUEUE).decrement(1.0);
                    let span = tracing::info_span!("reply", channel = %job.channel, collapsed = job.collapsed);
                    answer(&deps, job).instrument(span).await;
                }
            })
        })
        .collect()
}

/// Addresses the rule-based answer to the viewer, after its label: in a busy chat the answer
/// says whom it is for, and two viewers' identical canned answers are not refused as
/// duplicates.
fn address(viewer: &str, fallback: &str) -> String {
    match fallback.strip_prefix(FALLBACK_PREFIX) {
        Some(rest) => format!("{FALLBACK_PREFIX} @{viewer}{rest}"),
        None => format!("@{viewer} {fallback}"),
    }
}

fn banned_pattern<'a>(text: &str, banned: &'a [String]) -> Option<&'a str> {
    let lower = text.to_lowercase();
    banned
        .iter()
        .map(|b| b.trim())
        .find(|b| !b.is_empty() && lower.contains(&b.to_lowercase()))
}

async fn answer(deps: &ReplyDeps, job: ReplyJob) {
    let profile = deps.profiles.active(&job.channel);
    let memories = recall(deps, job.channel.as_str(), &job.question).await;
    let request = ReplyRequest {
        channel: job.channel.as_str(),
        viewer: &job.viewer,
        question: &job.question,
        notes: &job.notes,
        live_context: &job.live_context,
        memories: &memories,
    };
    let messages = build_reply_prompt(&profile, deps.sender.canary(), TWITCH_MAX_CHARS, &request);
    let mut chat = ChatRequest::new(Activity::ChatReply, messages).for_channel(job.channel.clone());
    chat.temperature = job.temperature;
    chat.top_p = job.top_p;
    // The port never fails (it falls back); an error here would be a bug, answered the same.
    let completion = match deps.llm.complete(chat).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "LLM port failed; no reply");
            return;
        }
    };
    let source = match completion.source {
        Source::Model => "model",
        Source::Fallback => "fallback",
    };
    let text = match completion.source {
        Source::Model => completion.text.clone(),
        Source::Fallback => address(&job.viewer, &completion.text),
    };
    let (outcome, parts) = match banned_pattern(&text, &profile.persona.banned_patterns) {
        Some(pattern) => {
            tracing::info!(pattern, "answer dropped: it holds a banned pattern");
            ("banned", Vec::new())
        }
        None => {
            match deps
                .sender
                .say(
                    &job.channel,
                    &text,
                    SayOrigin::Reply,
                    job.reply_to.as_deref(),
                )
                .await
            {
                Ok(said) if said.delivered => ("sent", said.parts),
                Ok(said) => ("dry_run", said.parts),
                Err(e) => (e.as_str(), Vec::new()),
            }
        }
    };
    // An answer that went out counts by who wrote it; one that did not, by why not.
    let delivered = matches!(outcome, "sent" | "dry_run");
    let counted = if delivered { source } else { outcome };
    metrics::counter!(m::COPILOT_REPLIES, "outcome" => counted).increment(1);
    let latency = (Utc::now() - job.asked_at).to_std().unwrap_or_default();
    if delivered {
        metrics::histogram!(m::COPILOT_REPLY_SECONDS).record(latency.as_secs_f64());
    }
    store(deps, &job, &completion, source, outcome, &parts, latency).await;
    deps.hud.publish(HudEvent::Reply {
        channel: job.channel.clone(),
        viewer: job.viewer.clone(),
        parts,
        outcome: outcome.to_owned(),
        source: source.to_owned(),
    });
}

async fn store(
    deps: &ReplyDeps,
    job: &ReplyJob,
    completion: &Completion,
    source: &str,
    outcome: &str,
    parts: &[String],
    latency: Duration,
) {
    let out = sqlx::query(
        "INSERT INTO copilot_replies
           (channel, viewer, question, parts, outcome, source, model, tokens_in, tokens_out,
            latency_ms, asked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(job.channel.as_str())
    .bind(&job.viewer)
    .bind(&job.question)
    .bind(sqlx::types::Json(parts))
    .bind(outcome)
    .bind(source)
    .bind(&completion.model)
    .bind(i32::try_from(completion.tokens_in).unwrap_or(i32::MAX))
    .bind(i32::try_from(completion.tokens_out).unwrap_or(i32::MAX))
    .bind(i32::try_from(latency.as_millis()).unwrap_or(i32::MAX))
    .bind(job.asked_at)
    .execute(&deps.pool)
    .await;
    if let Err(e) = out {
        // The reply itself went out (or not) already; only its record is missing.
        tracing::warn!(error = %e, "reply record not stored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_is_addressed_after_its_label() {
        assert_eq!(
            address("ann", "[rule-based] Back soon."),
            "[rule-based] @ann Back soon."
        );
        assert_eq!(address("ann", "Back soon."), "@ann Back soon.");
    }

    #[test]
    fn banned_patterns_match_case_insensitively_and_ignore_blanks() {
        let banned = vec!["  ".to_owned(), "Crypto".to_owned()];
        assert_eq!(banned_pattern("buy CRYPTO now", &banned), Some("Crypto"));
        assert_eq!(banned_pattern("hello", &banned), None);
        assert_eq!(banned_pattern("hello", &[]), None);
    }
}

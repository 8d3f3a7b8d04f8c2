//! Post-stream reports at the edge: gathering a session's stored history, asking the model
//! for a narrative, storing the result, and the background task that does it whenever a
//! session ends.
//!
//! Flow: `HudEvent::SessionEnded` → flush Persistence (the channel queued the session's last
//! rows before publishing, so after the flush they are in the database) → read rollups, hints
//! and clips of the session's time range → build the figures (pure,
//! `byte_actors::copilot::report`) → one `post_stream_report` model call (the LLM port never
//! fails: without a model the answer is the labelled fallback, stored as such) → render and
//! store. On-demand generation (`POST .../reports`) runs the same steps for a stored session.
//!
//! At most [`MAX_CONCURRENT`] reports are generated at once, so a fleet-wide stop does not
//! fire hundreds of model calls together; failures are retried a few times (the database may
//! be briefly away) and then counted as `failed`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use byte_actors::agent::{HudBus, HudEvent};
use byte_actors::copilot::report::{self, Narrative, ReportFigures, ReportInput};
use byte_actors::intel::session::Session;
use byte_actors::llm::{Activity, ChatRequest, FallbackEngine, LlmPort};
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use byte_actors::persistence::PersistenceMessage;
use byte_actors::rpc::ask;
use chrono::Utc;
use ractor::ActorRef;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::store::DbError;
use crate::store::reports::{self, NewReport};

/// Reports generated at the same time, at most.
pub const MAX_CONCURRENT: usize = 4;
/// How long the Persistence flush before a report may take.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of an automatic report before it counts as failed.
const ATTEMPTS: u32 = 3;
/// Most tokens the narrative may take.
const NARRATIVE_MAX_TOKENS: u32 = 600;

/// What generating a report needs.
#[derive(Clone)]
pub struct ReportDeps {
    /// The database.
    pub pool: PgPool,
    /// The model port (never fails; falls back, labelled).
    pub llm: Arc<dyn LlmPort>,
    /// Persistence, flushed before reading.
    pub persistence: ActorRef<PersistenceMessage>,
}

impl std::fmt::Debug for ReportDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportDeps").finish_non_exhaustive()
    }
}

/// What started a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The session ended.
    SessionEnd,
    /// Someone asked (`POST .../reports`).
    OnDemand,
}

impl Trigger {
    /// The stored name and metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::SessionEnd => "session_end",
            Trigger::OnDemand => "on_demand",
        }
    }
}

/// Why a report could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No such session (or no session at all) in the channel.
    #[error("no session {0} in this channel")]
    NoSession(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A generated report.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The stored id (`None`: an automatic report of this session already existed).
    pub id: Option<i64>,
    /// The figures.
    pub figures: ReportFigures,
    /// The narrative.
    pub narrative: Narrative,
    /// The Markdown.
    pub markdown: String,
}

/// Generates and stores a report of `session` (given by the event) or of the stored session
/// `session_id` (the latest when `None`).
pub async fn generate(
    deps: &ReportDeps,
    channel: &ChannelLogin,
    session: Option<Session>,
    session_id: Option<&str>,
    trigger: Trigger,
) -> Result<Generated, ReportError> {
    let started = Instant::now();
    let out = generate_inner(deps, channel, session, session_id, trigger).await;
    let outcome = match &out {
        Ok(g) => g.narrative.source.as_str(),
        Err(_) => "failed",
    };
    metrics::counter!(m::REPORTS_GENERATED, "trigger" => trigger.as_str(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(m::REPORT_SECONDS).record(started.elapsed().as_secs_f64());
    out
}

async fn generate_inner(
    deps: &ReportDeps,
    channel: &ChannelLogin,
    session: Option<Session>,
    session_id: Option<&str>,
    trigger: Trigger,
) -> Result<Generated, ReportError> {
    // Best effort: if Persistence is slow the report is built from what is stored.
    if let Err(e) = ask(&deps.persistence, PersistenceMessage::Flush, FLUSH_TIMEOUT).await {
        tracing::warn!(channel = %channel, error = %e, "flush before the report failed");
    }
    let login = channel.as_str();
    let session = match session {
        Some(s) => s,
        None => reports::session(&deps.pool, login, session_id)
            .await?
            .ok_or_else(|| ReportError::NoSession(session_id.unwrap_or("at all").to_owned()))?,
    };
    let from = session.started_at;
    let to = session.ended_at.unwrap_or_else(Utc::now);
    let input = ReportInput {
        channel: login.to_owned(),
        rollups: reports::rollups(&deps.pool, login, from, to).await?,
        hints: reports::hints(&deps.pool, login, from, to).await?,
        clips: reports::clips(&deps.pool, login, from, to).await?,
        // Recorded by autonomy when the session closed; empty when it had no goals.
        goals: reports::goals(&deps.pool, login, &session.id).await?,
        session,
    };
    let figures = report::build(&input);
    let mut request = ChatRequest::new(
        Activity::PostStreamReport,
        report::narrative_prompt(&figures),
    )
    .for_channel(channel.clone());
    request.max_tokens = Some(NARRATIVE_MAX_TOKENS);
    request.temperature = Some(0.4);
    let completion = match deps.llm.complete(request.clone()).await {
        Ok(c) => c,
        // The production port never fails; any other port's failure still gets a label.
        Err(_) => FallbackEngine::new().complete(&request),
    };
    let narrative = Narrative::from_completion(&completion);
    let markdown = report::render_markdown(&figures, Some(&narrative));
    let figures_json =
        serde_json::to_value(&figures).map_err(|e| DbError::InvalidData(e.to_string()))?;
    let id = reports::insert(
        &deps.pool,
        &NewReport {
            channel: login,
            session_id: &figures.session_id,
            trigger: trigger.as_str(),
            narrative_source: narrative.source.as_str(),
            model: &narrative.model,
            figures: figures_json,
            narrative: &narrative.text,
            markdown: &markdown,
        },
    )
    .await?;
    tracing::info!(channel = %channel, session = %figures.session_id, trigger = trigger.as_str(),
        narrative = narrative.source.as_str(), report_id = ?id, "post-stream report generated");
    Ok(Generated {
        id,
        figures,
        narrative,
        markdown,
    })
}

/// Generates a report whenever a session ends, until the bus closes or the task is aborted.
pub fn spawn_on_session_end(hud: &HudBus, deps: ReportDeps) -> JoinHandle<()> {
    let mut events = hud.subscribe();
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT));
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "report task fell behind the HUD bus");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let HudEvent::SessionEnded { channel, session } = event else {
                continue;
            };
            let (deps, permits) = (deps.clone(), permits.clone());
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire().await else {
                    return;
                };
                for attempt in 1..=ATTEMPTS {
                    match generate(
                        &deps,
                        &channel,
                        Some((*session).clone()),
                        None,
                        Trigger::SessionEnd,
                    )
                    .await
                    {
                        Ok(_) => return,
                        Err(e) => {
                            tracing::warn!(channel = %channel, error = %e, attempt,
                                "post-stream report failed");
                            tokio::time::sleep(Duration::from_secs(2 * u64::from(attempt))).await;
                        }
                    }
                }
            });
        }
    })
}

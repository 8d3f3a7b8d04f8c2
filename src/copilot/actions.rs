//! The action queue's edge: the [`ActionSink`] adapter channel actors hand their decisions to,
//! and the executor behind approvals.
//!
//! - Decisions are stored in `autonomy_actions`, once per idempotency key; only a row this
//!   call inserted may be executed, so a retried or repeated submission never runs twice.
//! - Automatic actions are stored `approved` (decided by `policy`) and executed at once;
//!   the others wait as `proposed` until a person approves or rejects them, or they expire.
//! - Execution claims the row (`approved` → `executing`) in one conditional update, runs it,
//!   and records the result: `executed`, `failed`, or `acknowledged` for slow mode, which the
//!   streamer sets by hand (Byte holds no Helix token allowed to change chat settings).
//!   A crash between claim and result leaves the row `executing`: at most once, never twice.
//! - `chat_message` goes through the chat sender (sanitising, Twitch's limits, dedup,
//!   pause/suspend); `coaching_hint` is published on the HUD bus.
//!
//! Time comes from the runtime's clock, the same one the channel engines decide with, so
//! expiry is consistent with `created_at` (tests run on a manual clock).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use byte_actors::agent::{HudBus, HudEvent};
use byte_actors::autonomy::{
    ActionKind, ActionSink, AutonomyBoot, AutonomyRequest, Intent, ProposedAction, Submission,
};
use byte_actors::clock::Clock;
use byte_actors::intel::coach::{Hint, HintKind, Priority};
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use byte_actors::ports::StoreError;
use byte_actors::router::RouterMessage;
use byte_actors::rpc::ask;
use ractor::ActorRef;
use serde_json::json;
use sqlx::PgPool;

use crate::store::DbError;
use crate::store::autonomy::{self as store, ActionRow};

/// Why an approval or rejection could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// No such action in this channel.
    #[error("action {0} not found in this channel")]
    NotFound(i64),
    /// It is not waiting for a decision any more.
    #[error(
        "action {id} is {status}, not proposed; only proposed actions can be approved or rejected"
    )]
    NotProposed {
        /// Id.
        id: i64,
        /// Its status.
        status: String,
    },
    /// The store failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The chat line sender, as the executor sees it (the co-pilot's `ChatSender` at run time).
#[async_trait]
pub trait ChatOut: Send + Sync + 'static {
    /// Says `text` in `channel`; the JSON result is recorded with the action.
    async fn say(&self, channel: &ChannelLogin, text: &str) -> Result<serde_json::Value, String>;
}

#[async_trait]
impl ChatOut for crate::copilot::sender::ChatSender {
    async fn say(&self, channel: &ChannelLogin, text: &str) -> Result<serde_json::Value, String> {
        crate::copilot::sender::ChatSender::say(
            self,
            channel,
            text,
            crate::copilot::sender::SayOrigin::Action,
            None,
        )
        .await
        .map(|said| json!(said))
        .map_err(|e| format!("{}: {e}", e.as_str()))
    }
}

/// Stores many channels' decisions: their actions in one statement, then their playbook runs
/// and goal outcomes (rare: a playbook firing, a session closing). Each submission gets back
/// the actions it stored, in its own order.
async fn store_many(
    pool: &PgPool,
    subs: &[(ChannelLogin, Arc<Submission>)],
) -> Result<Vec<Vec<ActionRow>>, DbError> {
    let actions: Vec<(&str, &ProposedAction)> = subs
        .iter()
        .flat_map(|(c, s)| s.actions.iter().map(move |a| (c.as_str(), a)))
        .collect();
    let mut stored: HashMap<(String, String), ActionRow> =
        store::insert_actions_many(pool, &actions)
            .await?
            .into_iter()
            .map(|r| ((r.channel.clone(), r.idempotency_key.clone()), r))
            .collect();
    for (channel, sub) in subs {
        store::insert_runs(pool, channel.as_str(), &sub.runs, None).await?;
        if let Some((session, outcomes)) = &sub.outcomes {
            store::record_outcomes(pool, channel.as_str(), session, outcomes).await?;
        }
    }
    Ok(subs
        .iter()
        .map(|(channel, sub)| {
            sub.actions
                .iter()
                .filter_map(|a| stored.remove(&(channel.as_str().to_owned(), a.key.clone())))
                .collect()
        })
        .collect())
}

struct Wiring {
    router: ActorRef<RouterMessage>,
    chat: Option<Arc<dyn ChatOut>>,
}

/// Batched autonomy boot loads reading at once, and batched decision writes in flight (see
/// [`ActionService`]'s `boots` and `writes`).
const BOOT_LOADS: usize = 2;
/// Batched decision writes in flight.
const DECISION_WRITES: usize = 2;
/// Most channels one batched boot load answers.
const BOOT_BATCH: usize = 256;
/// Most channels' decisions one batched write stores.
const DECISION_BATCH: usize = 256;

/// Boot loads, batched across the channels starting at once.
type BootLoads = crate::store::Coalescer<String, Result<AutonomyBoot, String>>;
/// Decision writes, batched across the channels deciding at once; each gets back the
/// actions it stored.
type DecisionWrites = crate::store::Coalescer<(ChannelLogin, Arc<Submission>), Vec<ActionRow>>;
/// The queue depth gauge is counted at most this often.
const DEPTH_EVERY: Duration = Duration::from_secs(1);

/// The queue's edge service.
pub struct ActionService {
    pool: PgPool,
    /// The channels loading their autonomy state, batched: at start every channel does,
    /// and one load each would be thousands of queries queueing on the pool (and timing
    /// out there), starving everything else that reads. Started by the first load.
    boots: OnceLock<BootLoads>,
    /// The channel actors' decisions, batched for the same reason: every step that decides
    /// anything (a greeting for each first-timer, in every channel) was an insert and a
    /// commit per action. Started by the first write.
    writes: OnceLock<DecisionWrites>,
    clock: Arc<dyn Clock>,
    hud: HudBus,
    wiring: OnceLock<Wiring>,
    /// Asks the sweeper's companion task for a new queue depth count. Writes only ask: the
    /// count ran after every decision, thousands of times a second at 10,000 channels, each
    /// one a scan of the whole queue on the cores and the database that store the chat.
    depth_wanted: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for ActionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionService").finish_non_exhaustive()
    }
}

impl ActionService {
    /// A service over `pool`, on the runtime's clock.
    pub fn new(pool: PgPool, clock: Arc<dyn Clock>, hud: HudBus) -> Arc<Self> {
        Arc::new(Self {
            pool,
            boots: OnceLock::new(),
            writes: OnceLock::new(),
            clock,
            hud,
            wiring: OnceLock::new(),
            depth_wanted: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Connects the parts that exist only once the runtime runs: the Router (execution
    /// feedback to the channel) and the chat sender. Until then chat actions fail with a
    /// recorded reason.
    pub fn wire(&self, router: ActorRef<RouterMessage>, chat: Arc<dyn ChatOut>) {
        let _ = self.wiring.set(Wiring {
            router,
            chat: Some(chat),
        });
    }

    /// Expires stale proposals fleet-wide every `every` (queue reads and decisions also
    /// sweep their channel), keeping the expiry counter and the queue depth gauge current.
    /// Stops by itself once the service is gone or its pool is closed (shutdown).
    pub fn start_sweeper(self: &Arc<Self>, every: Duration) {
        // The queue depth gauge: counted when asked, at most once per DEPTH_EVERY (a burst of
        // decisions leaves one stored request, so the last of them is still counted).
        let weak = Arc::downgrade(self);
        let wanted = Arc::clone(&self.depth_wanted);
        tokio::spawn(async move {
            loop {
                wanted.notified().await;
                let Some(me) = weak.upgrade() else { return };
                if me.pool.is_closed() {
                    return;
                }
                me.count_depth().await;
                drop(me);
                tokio::time::sleep(DEPTH_EVERY).await;
            }
        });
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = weak.upgrade() else { return };
                if me.pool.is_closed() {
                    return;
                }
                if let Err(e) = me.sweep(None).await {
                    tracing::debug!(error = %e, "action expiry sweep failed; next round retries");
                }
                me.refresh_depth();
            }
        });
    }

    /// The runtime clock's now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Stores a step's results and executes the automatic actions it newly inserted;
    /// returns the new rows (after execution).
    pub async fn store(
        &self,
        channel: &ChannelLogin,
        sub: &Submission,
        by: Option<&str>,
    ) -> Result<Vec<ActionRow>, DbError> {
        let c = channel.as_str();
        let inserted = store::insert_actions(&self.pool, c, &sub.actions, None).await?;
        store::insert_runs(&self.pool, c, &sub.runs, by).await?;
        if let Some((session, outcomes)) = &sub.outcomes {
            store::record_outcomes(&self.pool, c, session, outcomes).await?;
        }
        let mut out = Vec::with_capacity(inserted.len());
        for row in inserted {
            if row.status == "approved" {
                out.push(self.execute(row).await);
            } else {
                out.push(row);
            }
        }
        self.refresh_depth();
        Ok(out)
    }

    /// [`ActionService::store`] for a channel actor's decisions: written together with the
    /// other channels' decisions waiting at the same time (see `writes`), then the automatic
    /// ones stored now are executed, as `store` does.
    async fn store_batched(
        &self,
        channel: &ChannelLogin,
        sub: Arc<Submission>,
    ) -> Result<(), StoreError> {
        let writes = self.writes.get_or_init(|| {
            let pool = self.pool.clone();
            crate::store::Coalescer::spawn(DECISION_WRITES, DECISION_BATCH, move |subs| {
                let pool = pool.clone();
                async move {
                    store_many(&pool, &subs)
                        .await
                        .map_err(|e| StoreError::Unavailable(e.to_string()))
                }
            })
        });
        let inserted = writes.call((channel.clone(), sub)).await?;
        for row in inserted {
            if row.status == "approved" {
                self.execute(row).await;
            }
        }
        self.refresh_depth();
        Ok(())
    }

    /// Expires stale proposals of `channel` (or all), counting them.
    pub async fn sweep(&self, channel: Option<&ChannelLogin>) -> Result<(), DbError> {
        let kinds = store::expire(&self.pool, channel.map(|c| c.as_str()), self.now()).await?;
        for k in &kinds {
            metrics::counter!(m::AUTONOMY_ACTIONS_DECIDED, "kind" => kind_label(k), "decision" => "expired")
                .increment(1);
        }
        if !kinds.is_empty() {
            self.refresh_depth();
        }
        Ok(())
    }

    /// Approves (and executes) or rejects a proposal.
    pub async fn decide(
        &self,
        channel: &ChannelLogin,
        id: i64,
        approve: bool,
        by: &str,
    ) -> Result<ActionRow, DecideError> {
        self.sweep(Some(channel)).await?;
        let Some(row) =
            store::decide(&self.pool, channel.as_str(), id, approve, by, self.now()).await?
        else {
            return Err(
                match store::action(&self.pool, channel.as_str(), id).await? {
                    None => DecideError::NotFound(id),
                    Some(r) => DecideError::NotProposed {
                        id,
                        status: r.status,
                    },
                },
            );
        };
        let decision = if approve { "approved" } else { "rejected" };
        metrics::counter!(m::AUTONOMY_ACTIONS_DECIDED, "kind" => kind_label(&row.kind), "decision" => decision)
            .increment(1);
        tracing::info!(channel = %channel, id, decision, by, "queued action decided");
        let row = if approve {
            self.execute(row).await
        } else {
            row
        };
        self.refresh_depth();
        Ok(row)
    }

    /// Claims an approved action, runs it and records the result; returns the final row.
    #[tracing::instrument(skip(self, row), fields(channel = %row.channel, id = row.id, kind = %row.kind))]
    pub async fn execute(&self, row: ActionRow) -> ActionRow {
        let claimed = match store::claim(&self.pool, row.id).await {
            Ok(Some(r)) => r,
            Ok(None) => return row,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim action; it stays approved");
                return row;
            }
        };
        let channel = ChannelLogin::from_twitch(&claimed.channel);
        let (status, result) = match ActionKind::parse(&claimed.kind) {
            Some(ActionKind::ChatMessage) => self.say(&channel, &claimed).await,
            Some(ActionKind::CoachingHint) => {
                self.hint(&channel, &claimed);
                ("executed", json!({ "published": "hud" }))
            }
            Some(ActionKind::SlowMode) => (
                "acknowledged",
                json!({
                    "by_hand": true,
                    "instruction": format!(
                        "Turn on slow mode ({} s) in the Twitch chat settings; Byte cannot change chat settings itself.",
                        claimed.payload["seconds"].as_u64().unwrap_or(30)
                    ),
                }),
            ),
            None => (
                "failed",
                json!({ "error": format!("unknown action kind {}", claimed.kind) }),
            ),
        };
        metrics::counter!(m::AUTONOMY_ACTIONS_EXECUTED, "kind" => kind_label(&claimed.kind), "outcome" => status)
            .increment(1);
        if status == "executed"
            && let (Some(intent), Some(w)) = (Intent::parse(&claimed.intent), self.wiring.get())
        {
            // Greetings count towards the greeting goal; best effort (a restarted actor
            // reads executed greetings back from the store).
            let request = AutonomyRequest::Executed {
                intent,
                target: claimed.target.clone(),
            };
            let _ = ask(
                &w.router,
                |r| RouterMessage::Autonomy(channel.clone(), request, r),
                Duration::from_secs(2),
            )
            .await;
        }
        match store::finish(&self.pool, claimed.id, status, &result, self.now()).await {
            Ok(Some(done)) => done,
            Ok(None) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "action result not recorded");
                claimed
            }
        }
    }

    async fn say(
        &self,
        channel: &ChannelLogin,
        row: &ActionRow,
    ) -> (&'static str, serde_json::Value) {
        let Some(text) = row.payload["text"].as_str() else {
            return ("failed", json!({ "error": "the action has no text" }));
        };
        let Some(chat) = self.wiring.get().and_then(|w| w.chat.clone()) else {
            return ("failed", json!({ "error": "no chat sender is configured" }));
        };
        match chat.say(channel, text).await {
            Ok(said) => ("executed", json!({ "said": said })),
            Err(e) => ("failed", json!({ "error": e })),
        }
    }

    fn hint(&self, channel: &ChannelLogin, row: &ActionRow) {
        let now = self.now();
        let kind = match Intent::parse(&row.intent) {
            Some(Intent::ToxicityHint) => HintKind::ToxicitySpike,
            _ => HintKind::ChatSlowing,
        };
        let text = |k: &str| row.payload[k].as_str().unwrap_or_default().to_owned();
        self.hud.publish(HudEvent::Hint {
            channel: channel.clone(),
            hint: Box::new(Hint {
                id: format!("action-{}", row.id),
                kind,
                priority: Priority::High,
                subject: row.idempotency_key.clone(),
                title: text("title"),
                message: text("message"),
                evidence: Default::default(),
                suggested_action: row.reason.clone(),
                created_at: now,
                expires_at: now + chrono::Duration::minutes(5),
            }),
        });
    }

    /// Asks for the queue depth gauge to be counted again (see `depth_wanted`).
    fn refresh_depth(&self) {
        self.depth_wanted.notify_one();
    }

    async fn count_depth(&self) {
        if let Ok(n) = store::queue_depth(&self.pool).await {
            metrics::gauge!(m::AUTONOMY_QUEUE_DEPTH).set(n as f64);
        }
    }
}

/// Kinds come from the table's CHECK constraint; anything else is labelled `other`.
fn kind_label(kind: &str) -> &'static str {
    ActionKind::parse(kind).map_or("other", |k| k.as_str())
}

/// The [`ActionSink`] channel actors hand their decisions to: stores them off the actor.
#[derive(Debug, Clone)]
pub struct QueueSink(pub Arc<ActionService>);

#[async_trait]
impl ActionSink for QueueSink {
    async fn boot(&self, channel: &ChannelLogin) -> Result<AutonomyBoot, StoreError> {
        let service = &self.0;
        let loads = service.boots.get_or_init(|| {
            let (pool, clock) = (service.pool.clone(), service.clock.clone());
            crate::store::Coalescer::spawn(BOOT_LOADS, BOOT_BATCH, move |channels: Vec<String>| {
                let (pool, now) = (pool.clone(), clock.now());
                async move {
                    let boots = store::boot_many(&pool, &channels, now)
                        .await
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                    Ok(boots
                        .into_iter()
                        .map(|b| b.map_err(|e| e.to_string()))
                        .collect())
                }
            })
        });
        loads
            .call(channel.as_str().to_owned())
            .await?
            .map_err(StoreError::Unavailable)
    }

    fn submit(&self, channel: &ChannelLogin, submission: Submission) {
        let (me, channel) = (self.0.clone(), channel.clone());
        let submission = Arc::new(submission);
        // Retried a few times: the rows are keyed, so a retry after a partial write is safe.
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            for attempt in 1..=4 {
                match me.store_batched(&channel, submission.clone()).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(channel = %channel, attempt, error = %e, "autonomy results not stored yet");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
            tracing::error!(channel = %channel, actions = submission.actions.len(),
                "autonomy results dropped: the database stayed unavailable");
        });
    }
}

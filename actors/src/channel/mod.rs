//! The channel actor: one per joined channel, owning that channel's live state (the
//! `StreamContext` totals and the [`intel::ChannelIntel`] engines). Raw rows are persisted on
//! the ingest path, so a crash here loses no data; the rows it derives (rollups, hints, clips,
//! sessions, snapshots) go to Persistence through a [`RecordSink`].
//!
//! Every incarnation restores its state before it serves (see [`restore`]): the supervisor
//! sends `Restore` once the actor is reachable, and until it is handled chat and events are
//! dropped, because the replay will fold them. Afterwards rows at or below the state's
//! watermark are skipped, so a row in both the replay and the mailbox counts once.

pub mod autonomy;
pub mod context;
pub mod intel;
pub mod replies;
pub mod restore;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::agent::{AgentSettings, HudBus, HudEvent};
use crate::clock::Clock;
use crate::faults::FaultPlan;
use crate::intel::session::EndReason;
use crate::metrics as m;
use crate::model::{ChannelLogin, ChatRecord, EventRecord, Record, login_hash};
use crate::root::RecordSink;
use crate::vitals::{VitalsBoard, VitalsSlot};

pub use context::StreamContext;
pub use intel::{ChannelIntel, IntelEnv, LiveContext};
pub use restore::{FoldDigest, Folded, RestoreEnv, RestoreOutcome, RestoreStatus};

/// Messages a channel actor handles.
#[derive(Debug)]
pub enum ChannelMessage {
    /// A chat line for this channel.
    Chat(Arc<ChatRecord>),
    /// A channel event.
    Event(Arc<EventRecord>),
    /// Run the engines (sent by tests and `Runtime::tick_all`).
    Tick,
    /// The fleet ticker's tick (see [`crate::ticker`]): run the engines, and record how long
    /// this tick waited in the mailbox (stamped when sent), the channel's mailbox lag. The
    /// number is how many tick periods it stands for (a quiet channel is ticked every few).
    ScheduledTick(std::time::Instant, u32),
    /// The channel is being parted: close the session before the actor drains.
    Parting,
    /// Start (true) or stop (false) a session explicitly; replies with the session, or
    /// `None` when stopping with no session open.
    Session(bool, RpcReplyPort<Option<crate::intel::session::Session>>),
    /// Reply with a copy of the live state.
    Snapshot(RpcReplyPort<ChannelSnapshot>),
    /// Fault injection: panic inside the handler with this text (tests, chaos benchmark).
    Crash(String),
    /// Load the last snapshot and replay what came after it (sent by the supervisor once
    /// the actor is reachable, and by the actor itself to retry a failed restore).
    Restore,
    /// New agent settings (applied live; already persisted by the edge).
    Agent(AgentSettings),
    /// Reply with the small summary the fleet view shows.
    Summary(RpcReplyPort<ChannelSummary>),
    /// A viewer's question may be due for an answer (a timer the reply gate asked for).
    ReplyDue,
    /// What the memory service did with an enrichment candidate this actor handed it
    /// (embedded and stored off the actor; see [`crate::memory`]).
    Memory(crate::memory::MemoryOutcome),
    /// A request to the channel's autonomy (decision step, playbook run, configuration,
    /// execution feedback, progress); replies when a port is given.
    Autonomy(
        crate::autonomy::AutonomyRequest,
        Option<RpcReplyPort<crate::autonomy::AutonomyReply>>,
    ),
}

/// What the fleet view shows of a channel: cheap to build, no history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelSummary {
    /// Health 0-100 at the last tick.
    pub health: Option<f64>,
    /// Churn risk 0-1 at the last tick.
    pub churn_risk: Option<f64>,
    /// `low`, `medium` or `high`.
    pub churn_level: Option<crate::intel::churn::ChurnLevel>,
    /// Messages in the last minute.
    pub chat_rate_per_min: f64,
    /// Mean sentiment over the last 5 minutes.
    pub sentiment: Option<f64>,
    /// Whether the agent is paused here (the fleet switch not included).
    pub agent_paused: bool,
}

/// The channel's live state as the API sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSnapshot {
    /// Channel login.
    pub login: ChannelLogin,
    /// When this incarnation of the actor started.
    pub actor_started_at: DateTime<Utc>,
    /// Running totals.
    pub context: StreamContext,
    /// Windows, health, churn, hints, clips, session.
    pub live: LiveContext,
    /// Whether the state was restored, and how.
    pub restore: RestoreStatus,
    /// What the state folded from its rows, as of the last one.
    pub fold: FoldDigest,
    /// The agent's settings in this channel.
    pub agent: AgentSettings,
}

/// What a channel actor starts from.
#[derive(Debug, Clone)]
pub struct ChannelArgs {
    /// Channel login.
    pub login: ChannelLogin,
    /// Shared resources and clock.
    pub env: ChannelEnv,
    /// The agent's settings (kept by the supervisor across restarts).
    pub agent: AgentSettings,
    /// The channel's counters in the directory (they outlive restarts); the actor frees
    /// their scheduled-tick slot as it takes each tick.
    pub counters: Arc<crate::directory::ChannelCounters>,
}

/// Resources shared by every channel actor.
#[derive(Debug, Clone)]
pub struct ChannelEnv {
    /// Fault injection plan.
    pub faults: Arc<FaultPlan>,
    /// Time source for every window and engine.
    pub clock: Arc<dyn Clock>,
    /// Sentiment lexicon and bot identity.
    pub intel: IntelEnv,
    /// Where derived rows go; `None` keeps them in memory only (unit tests).
    pub sink: Option<RecordSink>,
    /// When the state is snapshotted (besides a graceful stop).
    pub snapshots: SnapshotPolicy,
    /// Where state is restored from; `None` starts every incarnation fresh (unit tests,
    /// benchmarks of the bare actor).
    pub restore: Option<RestoreEnv>,
    /// Where the actor publishes its vitals at each tick, for per-channel metrics; `None`
    /// publishes nothing.
    pub vitals: Option<Arc<VitalsBoard>>,
    /// Where live HUD events go.
    pub hud: HudBus,
    /// Where enrichment candidates go (semantic memory); `None` enriches nothing.
    pub memory: Option<Arc<dyn crate::memory::MemorySink>>,
    /// Autonomy's port and the fleet switch; `None` never decides by itself.
    pub autonomy: Option<autonomy::AutonomyEnv>,
    /// Chat replies (triggers, debounce, the edge's workers); `None` never answers.
    pub replies: Option<replies::RepliesEnv>,
}

impl ChannelEnv {
    /// An environment for a channel actor outside a runtime (tests, benchmarks): wall-clock
    /// time, a fresh lexicon, no ticker, derived rows kept in memory.
    pub fn detached(faults: Arc<FaultPlan>) -> Self {
        Self {
            faults,
            clock: Arc::new(crate::clock::SystemClock),
            intel: IntelEnv {
                sentiment: Arc::new(crate::intel::sentiment::SentimentEngine::new()),
                bot_login: None,
            },
            sink: None,
            snapshots: SnapshotPolicy::NEVER,
            restore: None,
            vitals: None,
            hud: HudBus::default(),
            memory: None,
            autonomy: None,
            replies: None,
        }
    }
}

/// When a channel snapshots its state. A snapshot bounds what a restore replays, so it is
/// due after a number of new rows, not merely after time: a quiet channel's replay is
/// short anyway, and snapshots on a clock alone made the write volume grow with the
/// channel count (100,000 channels, each a whole state every few minutes) instead of with
/// the chat. A channel with any new row still snapshots at least every `every_ticks`, and a
/// busy one at most every `min_ticks`: by rows alone, 100 channels at 360 msg/s each wrote
/// a whole (large) state 36 times a second, which cost the ingest benchmark a seventh of
/// its throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Snapshot once this many rows were folded since the last one (0: never by rows).
    pub every_rows: u32,
    /// ... but not sooner than this many ticks after the last snapshot.
    pub min_ticks: u32,
    /// Snapshot a state with new rows at least this often, in ticks, each channel at its
    /// own phase of the period (0: never by time).
    pub every_ticks: u32,
}

impl SnapshotPolicy {
    /// Only on a graceful stop.
    pub const NEVER: Self = Self {
        every_rows: 0,
        min_ticks: 0,
        every_ticks: 0,
    };

    /// Whether a snapshot is due at this tick, `ticks_since` ticks after the last one; the
    /// tick brought the count through the numbers `ticks` (one, or a quiet channel's few).
    fn due(
        &self,
        rows_since: u64,
        ticks_since: u64,
        ticks: std::ops::Range<u64>,
        phase: u64,
    ) -> bool {
        if rows_since == 0 {
            return false;
        }
        let by_rows = self.every_rows > 0
            && rows_since >= u64::from(self.every_rows)
            && ticks_since >= u64::from(self.min_ticks);
        // Each channel at its own phase: channels joined together would otherwise all
        // snapshot in the same second, thousands of large rows at once.
        let by_time = self.every_ticks > 0
            && ticks
                .into_iter()
                .any(|t| (t.wrapping_add(phase)).is_multiple_of(u64::from(self.every_ticks)));
        by_rows || by_time
    }
}

/// Metric handles a channel actor records on every tick, resolved once per incarnation:
/// looking a metric up by name costs a hash of its key, 100,000 times a second at 100,000
/// channels.
#[derive(Debug)]
struct TickMetrics {
    mailbox_lag: metrics::Histogram,
    engines: metrics::Counter,
    idle: metrics::Counter,
}

impl TickMetrics {
    fn new() -> Self {
        Self {
            mailbox_lag: metrics::histogram!(m::CHANNEL_MAILBOX_LAG_SECONDS),
            engines: metrics::counter!(m::CHANNEL_TICKS, "work" => "engines"),
            idle: metrics::counter!(m::CHANNEL_TICKS, "work" => "idle"),
        }
    }
}

/// Per-channel state.
#[derive(Debug)]
pub struct ChannelState {
    login: ChannelLogin,
    started_at: DateTime<Utc>,
    folded: Folded,
    env: ChannelEnv,
    ticks: u32,
    /// Rows folded since the last snapshot (or, after a restore, replayed on top of it).
    rows_since_snapshot: u64,
    /// Ticks since the last snapshot (or since this incarnation started).
    ticks_since_snapshot: u64,
    /// The login's hash: this channel's phase of the snapshot period and its offset among
    /// quiet engine runs.
    phase: u64,
    /// Whether a row (or a session change) arrived since the engines last ran.
    inputs_changed: bool,
    /// The quiet period (see `quiet_slot`) the engines last ran in.
    engines_slot: Option<i64>,
    tick_metrics: TickMetrics,
    counters: Arc<crate::directory::ChannelCounters>,
    status: RestoreStatus,
    restore_attempts: u32,
    agent: AgentSettings,
    vitals: Option<Arc<VitalsSlot>>,
    enricher: crate::memory::enrich::Enricher,
    autonomy: autonomy::AutonomyHook,
    replies: Option<replies::Replies>,
}

impl ChannelState {
    /// Puts the fleet view's summary on the vitals board; called wherever its inputs change
    /// (tick, restore, agent settings), so the board never lags the actor.
    fn publish_summary(&self) {
        if let Some(slot) = &self.vitals {
            slot.publish_summary(self.folded.intel.summary(self.agent.paused));
        }
    }

    fn serving(&self) -> bool {
        !matches!(self.status, RestoreStatus::Pending)
    }

    /// Only a complete state may replace the stored snapshot: a degraded one (restore
    /// failed, serving live rows only) would overwrite history with a partial picture.
    fn may_snapshot(&self) -> bool {
        matches!(
            self.status,
            RestoreStatus::Restored { .. } | RestoreStatus::NotConfigured
        )
    }

    fn snapshot_row(&self, now: DateTime<Utc>) -> crate::model::IntelRecord {
        self.folded.snapshot_row(&self.login, now)
    }

    /// Whether a scheduled tick has anything new to compute: a row arrived since the last
    /// engine run, or a bucket's length of time passed. The windows count in 5-second
    /// buckets, so a quiet channel's signals change only as buckets age out, and the health
    /// EMA is stepped by elapsed time, not by tick count: a quiet channel's engines run once
    /// per bucket length instead of every second (most of 100,000 channels at 0.1 msg/s are
    /// quiet in any given second). Each channel at its own offset within the 5 seconds: on
    /// the bucket boundaries themselves, every quiet channel of the fleet would run in the
    /// same second.
    fn engines_due(&self, now: DateTime<Utc>) -> bool {
        self.inputs_changed || self.engines_slot != Some(self.quiet_slot(now))
    }

    /// The 5-second period `now` falls in, shifted by this channel's offset.
    fn quiet_slot(&self, now: DateTime<Utc>) -> i64 {
        let bucket = crate::intel::windows::BUCKET_SECS;
        let offset = (self.phase % bucket.unsigned_abs()) as i64;
        (now.timestamp() + offset).div_euclid(bucket)
    }

    /// Runs the engines (windows, churn, health, coaching, clips, session) and publishes
    /// what they found; returns the rows to store.
    fn run_engines(
        &mut self,
        now: DateTime<Utc>,
        myself: &ActorRef<ChannelMessage>,
    ) -> Vec<crate::model::IntelRecord> {
        self.inputs_changed = false;
        self.engines_slot = Some(self.quiet_slot(now));
        let out = self.folded.intel.tick(now);
        if let (Some(slot), Some(v)) = (&self.vitals, self.folded.intel.vitals()) {
            slot.publish(v);
        }
        self.publish_summary();
        for h in &out.hints {
            metrics::counter!(m::COACHING_HINTS, "kind" => h.kind.as_str()).increment(1);
            self.env.hud.publish(HudEvent::Hint {
                channel: self.login.clone(),
                hint: Box::new(h.clone()),
            });
        }
        if out.clip.is_some() {
            metrics::counter!(m::CLIP_CANDIDATES).increment(1);
        }
        if let (Some(clip), true) = (&out.clip, self.env.memory.is_some()) {
            let candidate = self.enricher.on_clip(clip);
            self.remember(candidate, myself);
        }
        if let Some(ended) = out.ended {
            self.session_ended(ended);
        }
        out.rows
    }

    /// Restores from the store; on failure keeps serving from what it has and retries later.
    async fn restore(&mut self, myself: &ActorRef<ChannelMessage>) {
        let Some(env) = self.env.restore.clone() else {
            self.status = RestoreStatus::NotConfigured;
            return;
        };
        let started = std::time::Instant::now();
        let now = self.env.clock.now();
        match restore::load(&self.login, &env, &self.env.intel, now).await {
            Ok(restored) => {
                let took = started.elapsed();
                metrics::histogram!(m::CHANNEL_RESTORE_SECONDS).record(took.as_secs_f64());
                metrics::counter!(m::CHANNEL_RESTORES, "outcome" => restored.outcome.as_str())
                    .increment(1);
                metrics::counter!(m::CHANNEL_REPLAYED_ROWS).increment(restored.replayed);
                tracing::debug!(channel = %self.login, outcome = restored.outcome.as_str(),
                    replayed = restored.replayed, took_ms = took.as_millis() as u64, "channel state restored");
                self.status = RestoreStatus::Restored {
                    outcome: restored.outcome,
                    replayed_rows: restored.replayed,
                    truncated: restored.truncated,
                    took_ms: took.as_millis() as u64,
                };
                self.folded = restored.folded;
                self.rows_since_snapshot = restored.replayed;
                self.inputs_changed = true;
                self.counters.nudge();
                self.restore_attempts = 0;
                self.publish_summary();
            }
            Err(err) => {
                metrics::counter!(m::CHANNEL_RESTORES, "outcome" => "failed").increment(1);
                self.restore_attempts += 1;
                let delay = env.retry_delay(self.restore_attempts, rand::random::<f64>());
                tracing::warn!(channel = %self.login, error = %err, attempt = self.restore_attempts,
                    retry_in_ms = delay.as_millis() as u64, "channel state restore failed; serving live data meanwhile");
                self.status = RestoreStatus::Degraded {
                    attempts: self.restore_attempts,
                    error: err.to_string(),
                };
                myself.send_after(delay, || ChannelMessage::Restore);
            }
        }
    }

    /// A live chat line may ask the bot something: the reply gate decides when to answer,
    /// and a timer message (never a sleep) brings the actor back then.
    fn offer_reply(&mut self, chat: &ChatRecord, myself: &ActorRef<ChannelMessage>) {
        let now = self.env.clock.now();
        let Some(replies) = self.replies.as_mut() else {
            return;
        };
        if let Some(at) = replies.on_chat(chat, now, &self.agent) {
            let wait = (at - now).to_std().unwrap_or_default();
            myself.send_after(wait, || ChannelMessage::ReplyDue);
        }
    }

    /// A pending question may be due: hand it to the edge's workers.
    fn reply_due(&mut self, myself: &ActorRef<ChannelMessage>) {
        let now = self.env.clock.now();
        let Some(replies) = self.replies.as_mut() else {
            return;
        };
        if replies.ready_at().is_none() {
            return;
        }
        let intel = &self.folded.intel;
        let again = replies.due(now, &self.agent, &self.login, || {
            replies::live_summary(
                intel.last_signals(),
                intel.last_health(),
                &intel.top_terms(5),
            )
        });
        if let Some(at) = again {
            let wait = (at - now).to_std().unwrap_or_default();
            myself.send_after(wait, || ChannelMessage::ReplyDue);
        }
    }

    /// Announces a closed session (after its final row went to Persistence, so whoever
    /// reacts finds it stored once Persistence has flushed).
    fn session_ended(&self, session: crate::intel::session::Session) {
        self.autonomy.on_session_ended(&self.login, &session);
        self.env.hud.publish(HudEvent::SessionEnded {
            channel: self.login.clone(),
            session: Box::new(session),
        });
    }

    /// Hands an enrichment candidate to the memory service; the outcome comes back as
    /// [`ChannelMessage::Memory`]. A full queue drops it (counted): memories are best effort.
    fn remember(
        &self,
        candidate: Option<crate::memory::MemoryCandidate>,
        myself: &ActorRef<ChannelMessage>,
    ) {
        let (Some(sink), Some(c)) = (&self.env.memory, candidate) else {
            return;
        };
        metrics::counter!(m::MEMORY_ENRICH_CANDIDATES, "kind" => c.kind.as_str()).increment(1);
        if sink.submit(&self.login, c, Some(myself.clone())).is_err() {
            metrics::counter!(m::MEMORY_ENRICH_DROPPED).increment(1);
        }
    }

    fn emit(&self, rows: Vec<crate::model::IntelRecord>) {
        if let (Some(sink), false) = (&self.env.sink, rows.is_empty()) {
            sink.send(
                rows.into_iter()
                    .map(|r| Record::Intel(Arc::new(r)))
                    .collect(),
            );
        }
    }
}

/// The channel actor behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelActor;

impl Actor for ChannelActor {
    type Msg = ChannelMessage;
    type State = ChannelState;
    type Arguments = ChannelArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ChannelArgs,
    ) -> Result<ChannelState, ActorProcessingErr> {
        if args.env.faults.fails_on_start(args.login.as_str()) {
            return Err(format!("injected start failure for {}", args.login).into());
        }
        let status = if args.env.restore.is_some() {
            RestoreStatus::Pending
        } else {
            RestoreStatus::NotConfigured
        };
        let vitals = args.env.vitals.as_ref().map(|b| b.register(&args.login));
        // A tick the last incarnation left pending died with its mailbox.
        args.counters.tick_taken();
        let phase = login_hash(args.login.as_str());
        let state = ChannelState {
            vitals,
            folded: Folded::new(args.login.clone()),
            login: args.login,
            started_at: args.env.clock.now(),
            autonomy: autonomy::AutonomyHook::new(args.env.autonomy.clone()),
            replies: args.env.replies.clone().map(replies::Replies::new),
            env: args.env,
            ticks: 0,
            rows_since_snapshot: 0,
            ticks_since_snapshot: 0,
            phase,
            inputs_changed: true,
            engines_slot: None,
            tick_metrics: TickMetrics::new(),
            counters: args.counters,
            status,
            restore_attempts: 0,
            agent: args.agent,
            enricher: crate::memory::enrich::Enricher::default(),
        };
        state.publish_summary();
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: ChannelMessage,
        state: &mut ChannelState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ChannelMessage::Chat(chat) => {
                if !state.serving() {
                    // Already with Persistence; the pending replay folds it.
                    return Ok(());
                }
                let fresh = state.folded.apply_chat(&state.env.intel, &chat);
                if fresh {
                    state.rows_since_snapshot += 1;
                    state.inputs_changed = true;
                    state.offer_reply(&chat, &myself);
                }
                if !fresh {
                    metrics::counter!(m::CHANNEL_SKIPPED_ROWS).increment(1);
                } else if state.env.memory.is_some() {
                    let line = crate::memory::enrich::ChatLine {
                        channel: state.login.as_str(),
                        user_login: &chat.user_login,
                        display_name: &chat.display_name,
                        text: &chat.text,
                        badges: &chat.badges,
                    };
                    let now = state.env.clock.now();
                    let bot = state.env.intel.bot_login.as_deref();
                    let candidate = state.enricher.on_chat_tagged(line, &chat.emotes, bot, now);
                    state.remember(candidate, &myself);
                }
            }
            ChannelMessage::Event(event) => {
                if !state.serving() {
                    return Ok(());
                }
                if state.folded.apply_event(&event) {
                    state.rows_since_snapshot += 1;
                    state.inputs_changed = true;
                } else {
                    metrics::counter!(m::CHANNEL_SKIPPED_ROWS).increment(1);
                }
            }
            ChannelMessage::Restore => state.restore(&myself).await,
            ChannelMessage::ReplyDue => state.reply_due(&myself),
            tick @ (ChannelMessage::Tick | ChannelMessage::ScheduledTick(..)) => {
                let mut periods = 1;
                if let ChannelMessage::ScheduledTick(sent, p) = tick {
                    periods = p.max(1);
                    state.counters.tick_taken();
                    state
                        .tick_metrics
                        .mailbox_lag
                        .record(sent.elapsed().as_secs_f64());
                }
                if !state.serving() {
                    return Ok(());
                }
                let now = state.env.clock.now();
                let scheduled = matches!(tick, ChannelMessage::ScheduledTick(..));
                let mut rows = if !scheduled || state.engines_due(now) {
                    state.tick_metrics.engines.increment(1);
                    state.run_engines(now, &myself)
                } else {
                    state.tick_metrics.idle.increment(1);
                    Vec::new()
                };
                if state
                    .replies
                    .as_ref()
                    .and_then(|r| r.ready_at())
                    .is_some_and(|at| at <= now)
                {
                    state.reply_due(&myself);
                }
                let reached =
                    u64::from(state.ticks) + 1..u64::from(state.ticks) + 1 + u64::from(periods);
                state.ticks = state.ticks.wrapping_add(periods);
                state.ticks_since_snapshot += u64::from(periods);
                if state.may_snapshot()
                    && state.env.snapshots.due(
                        state.rows_since_snapshot,
                        state.ticks_since_snapshot,
                        reached,
                        state.phase,
                    )
                {
                    rows.push(state.snapshot_row(now));
                    state.rows_since_snapshot = 0;
                    state.ticks_since_snapshot = 0;
                }
                state.emit(rows);
                let paused = state.agent.paused;
                state
                    .autonomy
                    .on_tick(&state.login, now, &state.folded.intel, paused, &myself);
            }
            ChannelMessage::Parting => {
                let now = state.env.clock.now();
                if let Some((session, row)) = state.folded.intel.end_session(now, EndReason::Parted)
                {
                    state.emit(vec![row]);
                    state.session_ended(session);
                }
            }
            ChannelMessage::Session(start, reply) => {
                state.inputs_changed = true;
                state.counters.nudge();
                let now = state.env.clock.now();
                let session = if start {
                    Some(state.folded.intel.start_session(now))
                } else {
                    state.folded.intel.stop_session(now).map(|(session, row)| {
                        state.emit(vec![row]);
                        state.session_ended(session.clone());
                        session
                    })
                };
                let _ = reply.send(session);
            }
            ChannelMessage::Snapshot(reply) => {
                // The caller may have timed out already; that is its business, not a fault.
                let _ = reply.send(ChannelSnapshot {
                    login: state.login.clone(),
                    actor_started_at: state.started_at,
                    context: state.folded.context.clone(),
                    live: state.folded.intel.live(),
                    restore: state.status.clone(),
                    fold: state.folded.digest(),
                    agent: state.agent.clone(),
                });
            }
            ChannelMessage::Summary(reply) => {
                let _ = reply.send(state.folded.intel.summary(state.agent.paused));
            }
            ChannelMessage::Agent(settings) => {
                state.agent = settings.clone();
                state.publish_summary();
                state.env.hud.publish(HudEvent::Agent {
                    channel: state.login.clone(),
                    settings,
                });
            }
            ChannelMessage::Memory(outcome) => {
                if let crate::memory::MemoryOutcome::Failed { reason } = &outcome {
                    tracing::debug!(channel = %state.login, %reason, "enrichment memory not stored");
                }
            }
            ChannelMessage::Autonomy(request, reply) => {
                let now = state.env.clock.now();
                let paused = state.agent.paused;
                state.autonomy.handle(
                    &state.login,
                    now,
                    &state.folded.intel,
                    paused,
                    request,
                    reply,
                    &myself,
                );
            }
            ChannelMessage::Crash(reason) => panic!("injected crash: {reason}"),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut ChannelState,
    ) -> Result<(), ActorProcessingErr> {
        // A graceful stop leaves a snapshot, so the next start replays little. Not before
        // the state was restored: a fresh state's snapshot would overwrite the real one.
        if state.may_snapshot() {
            let now = state.env.clock.now();
            state.emit(vec![state.snapshot_row(now)]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SnapshotPolicy;

    const POLICY: SnapshotPolicy = SnapshotPolicy {
        every_rows: 1_000,
        min_ticks: 300,
        every_ticks: 1_800,
    };

    /// The tick that brings the count to `t`.
    fn at(t: u64) -> std::ops::Range<u64> {
        t..t + 1
    }

    #[test]
    fn a_snapshot_follows_the_rows_not_the_clock() {
        // Nothing new: never, whatever the tick.
        assert!((0..5_000).all(|t| !POLICY.due(0, t, at(t), 7)));
        // A busy channel: as soon as the rows are there, at any tick...
        assert!(POLICY.due(1_000, 300, at(3), 7));
        assert!(!POLICY.due(999, 300, at(3), 7));
        // ... but not sooner than five minutes after its last snapshot.
        assert!(!POLICY.due(100_000, 299, at(3), 7));
        // A quiet one: once per period, at its own phase.
        let due: Vec<u64> = (0..3_600).filter(|&t| POLICY.due(5, t, at(t), 7)).collect();
        assert_eq!(due, vec![1_793, 3_593]);
        let other: Vec<u64> = (0..3_600).filter(|&t| POLICY.due(5, t, at(t), 8)).collect();
        assert_eq!(other, vec![1_792, 3_592]);
        assert!((0..5_000).all(|t| !SnapshotPolicy::NEVER.due(10_000, t, at(t), 0)));
    }

    #[test]
    fn a_channel_ticked_every_few_periods_still_snapshots_once_per_period() {
        // Ticks standing for five periods each: the phase's tick falls inside one of them.
        let due: Vec<u64> = (1..3_600)
            .step_by(5)
            .filter(|&t| POLICY.due(5, t, t..t + 5, 7))
            .collect();
        assert_eq!(due, vec![1_791, 3_591]);
    }
}

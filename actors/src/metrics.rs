//! The metric catalogue: every metric Byte exports, declared once with its kind, unit, help
//! text and labels ([`CATALOGUE`]). Names follow Prometheus conventions (`_total` counters,
//! base units in the name, snake case); `promtool check metrics` on a live scrape is part of
//! the tests.
//!
//! Labels are bounded. Fleet metrics ([`Scope::Fleet`]) never carry a channel label, because a
//! label per channel across thousands of channels would break Prometheus. Per-channel gauges
//! ([`Scope::Channel`]) carry `channel`, and are exported only for a configured handful of
//! channels (top-K by activity plus an allow-list) by the edge's exporter, which renders
//! them from its own registry so that channels dropping out of the set disappear.
//!
//! Label values recorded anywhere come from the closed lists here (or from closed enums
//! such as the coach's hint kinds and the ingest's command kinds), and [`prime`] registers
//! every fleet series with its known label values at zero, so that queries and alerts see
//! a zero rather than no data before the first event.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use crate::intel::coach::HintKind;

/// Channel actors by status (`status` = running | restarting | quarantined).
pub const CHANNELS: &str = "byte_channels";
/// Channel actor restarts (`reason` = panic | start_failed).
pub const CHANNEL_RESTARTS: &str = "byte_channel_restarts_total";
/// Channels quarantined after exhausting their restart budget (`reason` = the kind of the
/// last failure: panic | start_failed).
pub const CHANNEL_QUARANTINES: &str = "byte_channel_quarantines_total";
/// Time from a channel actor's failure to its replacement running.
pub const CHANNEL_RESTART_SECONDS: &str = "byte_channel_restart_duration_seconds";
/// Time a channel actor's scheduled tick waited in its mailbox behind other messages.
pub const CHANNEL_MAILBOX_LAG_SECONDS: &str = "byte_channel_mailbox_lag_seconds";
/// IRC messages received, by command (`kind`).
pub const INGEST_MESSAGES: &str = "byte_ingest_messages_total";
/// Messages for a channel with no live actor (joined but restarting, or just parted).
pub const INGEST_UNROUTED: &str = "byte_ingest_unrouted_total";
/// Time from Twitch's server timestamp of a message to the ingest pump handing it on.
pub const INGEST_LAG_SECONDS: &str = "byte_ingest_lag_seconds";
/// Messages parsed by twitch-irc and waiting for the ingest pump.
pub const INGEST_PENDING: &str = "byte_ingest_pending_messages";
/// Times the IRC sockets stopped being read because the backlog above was past its bound.
pub const INGEST_READ_HELD: &str = "byte_ingest_read_holds_total";
/// IRC connections the server welcomed (`001`) that are still open.
pub const IRC_CONNECTED: &str = "byte_irc_connected";
/// Channels waiting for a JOIN slot under Twitch's join rate limit.
pub const IRC_JOIN_QUEUE: &str = "byte_irc_join_queue";
/// JOINs sent.
pub const IRC_JOINS: &str = "byte_irc_joins_total";
/// IRC reconnects observed (`cause` = reconnect_command | closed | silent).
pub const IRC_RECONNECTS: &str = "byte_irc_reconnects_total";
/// Time from losing the IRC connection to every wanted channel being joined again.
pub const IRC_RECOVERY_SECONDS: &str = "byte_irc_recovery_duration_seconds";
/// Rows waiting in Persistence's memory (buffered plus in flight).
pub const PERSIST_QUEUE_ROWS: &str = "byte_persistence_queue_rows";
/// Rows per batch written.
pub const PERSIST_BATCH_ROWS: &str = "byte_persistence_batch_rows";
/// Time to write one batch.
pub const PERSIST_FLUSH_SECONDS: &str = "byte_persistence_flush_duration_seconds";
/// Rows newly stored (`table` = chat | events).
pub const PERSIST_ROWS_WRITTEN: &str = "byte_persistence_rows_written_total";
/// Rows skipped as duplicates, in a batch or already stored.
pub const PERSIST_ROWS_DUPLICATE: &str = "byte_persistence_rows_duplicate_total";
/// Failed batch writes (`kind` = unavailable | rejected).
pub const PERSIST_ERRORS: &str = "byte_persistence_errors_total";
/// Rows the database refused even alone; written to the dead-letter log.
pub const PERSIST_DEAD_LETTER: &str = "byte_persistence_dead_letter_rows_total";
/// Rows in the local spill log waiting for the database.
pub const PERSIST_SPILL_ROWS: &str = "byte_persistence_spill_rows";
/// Bytes the spill log occupies on disk.
pub const PERSIST_SPILL_BYTES: &str = "byte_persistence_spill_bytes";
/// Rows appended to the spill log.
pub const PERSIST_SPILLED_ROWS: &str = "byte_persistence_spilled_rows_total";
/// Spill log failures (`op` = append | sync | read | release).
pub const PERSIST_SPILL_ERRORS: &str = "byte_persistence_spill_errors_total";
/// Rows acknowledged: durable in the database or in the synced spill log.
pub const PERSIST_ACKED_ROWS: &str = "byte_persistence_acked_rows_total";
/// Whether the database answered the last probe (1) or not (0).
pub const DATABASE_UP: &str = "byte_database_up";
/// Channel state restores (`outcome` = snapshot | replay_only | fresh | failed).
pub const CHANNEL_RESTORES: &str = "byte_channel_restores_total";
/// Time to restore a channel's state (flush, snapshot load, replay).
pub const CHANNEL_RESTORE_SECONDS: &str = "byte_channel_restore_duration_seconds";
/// Chat and event rows replayed into channel state on restore.
pub const CHANNEL_REPLAYED_ROWS: &str = "byte_channel_replayed_rows_total";
/// Rows a channel actor skipped because its restored state already held them.
pub const CHANNEL_SKIPPED_ROWS: &str = "byte_channel_skipped_rows_total";
/// Scheduled channel ticks, by whether the engines ran (`work` = engines) or had nothing new
/// to compute (idle: no row since their last run, same window bucket).
pub const CHANNEL_TICKS: &str = "byte_channel_ticks_total";
/// Router commands that timed out waiting for a channel actor.
pub const ROUTER_TIMEOUTS: &str = "byte_router_command_timeouts_total";
/// HTTP requests (`route` template, `method`, `status`).
pub const HTTP_REQUESTS: &str = "byte_http_requests_total";
/// HTTP request latency (`route` template, `method`, `status`).
pub const HTTP_SECONDS: &str = "byte_http_request_duration_seconds";
/// Channel summaries the fleet view read (`source` = board: published by the actor at its
/// last tick | actor: asked, because it had not published yet).
pub const FLEET_SUMMARY_READS: &str = "byte_fleet_channel_reads_total";
/// Channels' per-minute trends the fleet view read (`source` = cache | stale: served while
/// a background read refreshes it | database: read before answering).
pub const FLEET_TREND_READS: &str = "byte_fleet_trend_reads_total";
/// Fleet pages answered (`source` = cache: rendered within the last second | rendered).
pub const FLEET_PAGES: &str = "byte_fleet_pages_total";
/// Where fleet pages come from.
pub const FLEET_PAGE_SOURCES: &[&str] = &["cache", "rendered"];
/// Where fleet summaries come from.
pub const FLEET_SUMMARY_SOURCES: &[&str] = &["board", "actor"];
/// Where fleet trends come from.
pub const FLEET_TREND_SOURCES: &[&str] = &["cache", "stale", "database"];
/// Channel context answers (`source` = cache: rendered within the last tick | stale: served
/// while one background ask renders a new one | actor: asked before answering).
pub const CONTEXT_READS: &str = "byte_context_reads_total";
/// Where context answers come from.
pub const CONTEXT_SOURCES: &[&str] = &["cache", "stale", "actor"];
/// Coaching hints emitted (`kind` = one of the coach's fixed hint kinds).
pub const COACHING_HINTS: &str = "byte_coaching_hints_total";
/// Clip candidates detected.
pub const CLIP_CANDIDATES: &str = "byte_clip_candidates_total";
/// LLM call latency, retries included (`activity`, `model`).
pub const LLM_SECONDS: &str = "byte_llm_request_duration_seconds";
/// LLM tokens (`activity`, `model`, `direction` = in | out).
pub const LLM_TOKENS: &str = "byte_llm_tokens_total";
/// Estimated LLM cost in millionths of a US dollar (`activity`, `model`). Counters are
/// integers, so the base unit is the micro-dollar: divide by 1e6 for dollars.
pub const LLM_COST: &str = "byte_llm_cost_microdollars_total";
/// Failed LLM attempts (`activity`, `kind` = one of [`crate::llm::LlmError::KINDS`]).
pub const LLM_ERRORS: &str = "byte_llm_errors_total";
/// LLM requests answered by the rule-based fallback (`activity`, `reason`).
pub const LLM_FALLBACKS: &str = "byte_llm_fallbacks_total";
/// Chat lines the co-pilot tried to send (`origin` = reply | action, `outcome` = sent |
/// dry_run | suspended | paused | unavailable | empty | rate_limited | duplicate | irc_error).
pub const COPILOT_MESSAGES: &str = "byte_copilot_chat_messages_total";
/// Viewer questions the reply pipeline handled (`outcome`: answered by a model, by the
/// fallback, or why it was skipped).
pub const COPILOT_REPLIES: &str = "byte_copilot_replies_total";
/// Time from a viewer's question to the bot's answer in chat (debounce included).
pub const COPILOT_REPLY_SECONDS: &str = "byte_copilot_reply_duration_seconds";
/// Reply jobs waiting for a worker.
pub const COPILOT_REPLY_QUEUE: &str = "byte_copilot_reply_queue_jobs";
/// Share of the daily LLM budget spent (`scope` = global | channel_max: the highest share
/// among channels), 0-1.
pub const LLM_BUDGET_USED: &str = "byte_llm_budget_used_ratio";
/// LLM requests refused because a daily budget was spent (`scope` = global | channel).
pub const LLM_BUDGET_DENIED: &str = "byte_llm_budget_denied_total";
/// The daily budgets (`scope` = global | channel, `unit` = tokens | microdollars); 0 = none.
pub const LLM_BUDGET_LIMIT: &str = "byte_llm_budget_limit";
/// Semantic memory: time to embed one batch of texts (`engine` = local | endpoint).
pub const MEMORY_EMBED_SECONDS: &str = "byte_memory_embed_duration_seconds";
/// Semantic memory: texts embedded (`engine`).
pub const MEMORY_EMBED_TEXTS: &str = "byte_memory_embedded_texts_total";
/// Semantic memory: embedding jobs waiting for or holding a worker.
pub const MEMORY_EMBED_QUEUE: &str = "byte_memory_embed_queue_jobs";
/// Semantic memory: embedding jobs refused because the queue was full.
pub const MEMORY_EMBED_REJECTED: &str = "byte_memory_embed_rejected_total";
/// Semantic memory: texts per embedder call, after the pool coalesced waiting jobs
/// (`engine` = local | endpoint).
pub const MEMORY_EMBED_BATCH_TEXTS: &str = "byte_memory_embed_batch_texts";
/// Semantic memory: search latency, database part (`engine` = hnsw | exact).
pub const MEMORY_SEARCH_SECONDS: &str = "byte_memory_search_duration_seconds";
/// Semantic memory: entries written (`outcome` = added | merged | updated).
pub const MEMORY_WRITES: &str = "byte_memory_writes_total";
/// Semantic memory: enrichment candidates a channel handed to the memory service (`kind`).
pub const MEMORY_ENRICH_CANDIDATES: &str = "byte_memory_enrichment_candidates_total";
/// Semantic memory: enrichment candidates dropped because the service's queue was full.
pub const MEMORY_ENRICH_DROPPED: &str = "byte_memory_enrichment_dropped_total";
/// Autonomy decision steps (`trigger` = scheduled | manual, `outcome` = decided | nothing |
/// skipped).
pub const AUTONOMY_STEPS: &str = "byte_autonomy_steps_total";
/// Actions autonomy decided (`kind` = action kind, `mode` = suggest | auto).
pub const AUTONOMY_ACTIONS_PROPOSED: &str = "byte_autonomy_actions_proposed_total";
/// Queued actions decided by a person or by time (`kind`, `decision` = approved | rejected |
/// expired).
pub const AUTONOMY_ACTIONS_DECIDED: &str = "byte_autonomy_actions_decided_total";
/// Actions executed (`kind`, `outcome` = executed | failed | acknowledged).
pub const AUTONOMY_ACTIONS_EXECUTED: &str = "byte_autonomy_actions_executed_total";
/// Actions waiting in the queue for approval, fleet-wide.
pub const AUTONOMY_QUEUE_DEPTH: &str = "byte_autonomy_queue_depth";
/// Playbook runs (`playbook`, `trigger` = automatic | manual).
pub const PLAYBOOK_RUNS: &str = "byte_playbook_runs_total";
/// Session goals evaluated when a session ends (`kind`, `outcome` = met | missed).
pub const GOALS_EVALUATED: &str = "byte_goals_evaluated_total";
/// Post-stream reports generated (`trigger` = session_end | on_demand, `outcome` =
/// model | fallback | failed).
pub const REPORTS_GENERATED: &str = "byte_copilot_reports_total";
/// Time to generate one post-stream report (flush, reads, narrative, write).
pub const REPORT_SECONDS: &str = "byte_copilot_report_duration_seconds";
/// Prompt-profile versions saved (`kind` = edit | rollback).
pub const PROMPT_PROFILE_VERSIONS: &str = "byte_copilot_prompt_profile_versions_total";
/// Answers of the models catalog's endpoint probe (`outcome` = answered | failed | unconfigured).
pub const MODEL_CATALOG_PROBES: &str = "byte_llm_model_catalog_probes_total";
/// Channels whose per-channel gauges are exported right now.
pub const EXPORTED_CHANNELS: &str = "byte_metrics_exported_channels";

/// Per channel: smoothed health score, 0 to 100.
pub const CHANNEL_HEALTH: &str = "byte_channel_health_score";
/// Per channel: churn risk, 0 to 1.
pub const CHANNEL_CHURN: &str = "byte_channel_churn_risk_ratio";
/// Per channel: chat messages per second over the last minute.
pub const CHANNEL_CHAT_RATE: &str = "byte_channel_chat_messages_per_second";
/// Per channel: mean sentiment of the last minute's messages, -1 to 1.
pub const CHANNEL_SENTIMENT: &str = "byte_channel_sentiment";
/// Per channel: distinct chatters in the last minute.
pub const CHANNEL_CHATTERS: &str = "byte_channel_chatters";

/// `reason` values of [`CHANNEL_RESTARTS`] and [`CHANNEL_QUARANTINES`].
pub const FAILURE_REASONS: &[&str] = &["panic", "start_failed"];
/// `status` values of [`CHANNELS`].
pub const CHANNEL_STATUSES: &[&str] = &["running", "restarting", "quarantined"];
/// `outcome` values of [`CHANNEL_RESTORES`].
pub const RESTORE_OUTCOMES: &[&str] = &["snapshot", "replay_only", "fresh", "failed"];
/// `table` values of [`PERSIST_ROWS_WRITTEN`].
pub const WRITTEN_TABLES: &[&str] = &["chat", "events"];
/// `kind` values of [`PERSIST_ERRORS`].
pub const PERSIST_ERROR_KINDS: &[&str] = &["unavailable", "rejected"];
/// `op` values of [`PERSIST_SPILL_ERRORS`].
pub const SPILL_OPS: &[&str] = &["append", "sync", "read", "release"];
/// `trigger` values of [`REPORTS_GENERATED`].
pub const REPORT_TRIGGERS: &[&str] = &["session_end", "on_demand"];
/// `outcome` values of [`REPORTS_GENERATED`].
pub const REPORT_OUTCOMES: &[&str] = &["model", "fallback", "failed"];
/// `kind` values of [`PROMPT_PROFILE_VERSIONS`].
pub const PROMPT_PROFILE_KINDS: &[&str] = &["edit", "rollback"];
/// `outcome` values of [`MODEL_CATALOG_PROBES`].
pub const MODEL_CATALOG_OUTCOMES: &[&str] = &["answered", "failed", "unconfigured"];
/// `direction` values of [`LLM_TOKENS`].
pub const LLM_DIRECTIONS: &[&str] = &["in", "out"];
/// `reason` values of [`LLM_FALLBACKS`].
pub const LLM_FALLBACK_REASONS: &[&str] =
    &["unconfigured", "circuit_open", "timeout", "error", "budget"];
/// `engine` values of [`MEMORY_EMBED_SECONDS`], [`MEMORY_EMBED_TEXTS`] and
/// [`MEMORY_EMBED_BATCH_TEXTS`].
pub const MEMORY_EMBED_ENGINES: &[&str] = &["local", "endpoint"];
/// `engine` values of [`MEMORY_SEARCH_SECONDS`].
pub const MEMORY_SEARCH_ENGINES: &[&str] = &["hnsw", "exact"];
/// `outcome` values of [`MEMORY_WRITES`].
pub const MEMORY_WRITE_OUTCOMES: &[&str] = &["added", "merged", "updated"];
/// `trigger` values of [`AUTONOMY_STEPS`].
pub const AUTONOMY_STEP_TRIGGERS: &[&str] = &["scheduled", "manual"];
/// `outcome` values of [`AUTONOMY_STEPS`].
pub const AUTONOMY_STEP_OUTCOMES: &[&str] = &["decided", "nothing", "skipped"];
/// `mode` values of [`AUTONOMY_ACTIONS_PROPOSED`].
pub const AUTONOMY_MODES: &[&str] = &["suggest", "auto"];
/// `decision` values of [`AUTONOMY_ACTIONS_DECIDED`].
pub const AUTONOMY_DECISIONS: &[&str] = &["approved", "rejected", "expired"];
/// `outcome` values of [`AUTONOMY_ACTIONS_EXECUTED`].
pub const AUTONOMY_EXEC_OUTCOMES: &[&str] = &["executed", "failed", "acknowledged"];
/// `outcome` values of [`GOALS_EVALUATED`].
pub const GOAL_OUTCOMES: &[&str] = &["met", "missed"];
/// The label per-channel gauges carry.
pub const CHANNEL_LABEL: &str = "channel";

/// What kind of metric a catalogue entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic count (`_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution in buckets (configured by the exporter).
    Histogram,
}

/// Whom a metric describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole process: no channel label.
    Fleet,
    /// One channel (label `channel`); exported only for a bounded set of channels.
    Channel,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct Def {
    /// Metric name.
    pub name: &'static str,
    /// Kind.
    pub kind: Kind,
    /// Unit, when it has one.
    pub unit: Option<Unit>,
    /// Help text (what the SRE reads in `# HELP`).
    pub help: &'static str,
    /// Label keys, all with bounded values.
    pub labels: &'static [&'static str],
    /// Fleet or per-channel.
    pub scope: Scope,
}

const fn def(
    name: &'static str,
    kind: Kind,
    unit: Option<Unit>,
    labels: &'static [&'static str],
    help: &'static str,
) -> Def {
    Def {
        name,
        kind,
        unit,
        help,
        labels,
        scope: Scope::Fleet,
    }
}

const fn per_channel(name: &'static str, help: &'static str) -> Def {
    Def {
        name,
        kind: Kind::Gauge,
        unit: None,
        help,
        labels: &[CHANNEL_LABEL],
        scope: Scope::Channel,
    }
}

use Kind::{Counter, Gauge, Histogram};

const SECONDS: Option<Unit> = Some(Unit::Seconds);
const COUNT: Option<Unit> = Some(Unit::Count);

/// Every metric Byte exports.
#[rustfmt::skip]
pub const CATALOGUE: &[Def] = &[
    // Channel actors and their supervision.
    def(CHANNELS, Gauge, COUNT, &["status"], "Channel actors by status (running, restarting, quarantined)."),
    def(CHANNEL_RESTARTS, Counter, COUNT, &["reason"], "Channel actor restarts by reason (panic, start_failed)."),
    def(CHANNEL_QUARANTINES, Counter, COUNT, &["reason"], "Channels quarantined after too many restarts, by the reason of the last failure."),
    def(CHANNEL_RESTART_SECONDS, Histogram, SECONDS, &[], "Time from a channel actor failure to its replacement running."),
    def(CHANNEL_MAILBOX_LAG_SECONDS, Histogram, SECONDS, &[], "Time a channel actor's scheduled tick waited in its mailbox."),
    def(CHANNEL_RESTORES, Counter, COUNT, &["outcome"], "Channel state restores by outcome."),
    def(CHANNEL_RESTORE_SECONDS, Histogram, SECONDS, &[], "Time to restore a channel's state from snapshot and replay."),
    def(CHANNEL_REPLAYED_ROWS, Counter, COUNT, &[], "Rows replayed into channel state on restore."),
    def(CHANNEL_SKIPPED_ROWS, Counter, COUNT, &[], "Rows skipped because the restored state already held them."),
    def(CHANNEL_TICKS, Counter, COUNT, &["work"], "Scheduled channel ticks by whether the engines ran (engines) or nothing had changed since (idle)."),
    // Ingest and IRC.
    def(INGEST_MESSAGES, Counter, COUNT, &["kind"], "IRC messages received by command."),
    def(INGEST_UNROUTED, Counter, COUNT, &[], "Messages for channels with no live actor."),
    def(INGEST_LAG_SECONDS, Histogram, SECONDS, &[], "Time from Twitch's server timestamp to the ingest pump, per batch (its oldest message)."),
    def(INGEST_PENDING, Gauge, COUNT, &[], "IRC messages parsed and waiting for the ingest pump."),
    def(INGEST_READ_HELD, Counter, COUNT, &[], "Times IRC reading was held because the ingest backlog was past its bound (overload)."),
    def(IRC_CONNECTED, Gauge, COUNT, &[], "IRC connections the server welcomed that are still open."),
    def(IRC_JOIN_QUEUE, Gauge, COUNT, &[], "Channels waiting for a JOIN slot."),
    def(IRC_JOINS, Counter, COUNT, &[], "IRC JOIN commands sent."),
    def(IRC_RECONNECTS, Counter, COUNT, &["cause"], "IRC reconnects by cause."),
    def(IRC_RECOVERY_SECONDS, Histogram, SECONDS, &[], "Time from losing the IRC connection to all channels joined again."),
    // Persistence and the database.
    def(PERSIST_QUEUE_ROWS, Gauge, COUNT, &[], "Rows waiting in memory to be written, in flight included."),
    def(PERSIST_BATCH_ROWS, Histogram, COUNT, &[], "Rows per written batch."),
    def(PERSIST_FLUSH_SECONDS, Histogram, SECONDS, &[], "Batch write latency."),
    def(PERSIST_ROWS_WRITTEN, Counter, COUNT, &["table"], "Rows newly stored by table."),
    def(PERSIST_ROWS_DUPLICATE, Counter, COUNT, &[], "Rows skipped as duplicates."),
    def(PERSIST_ERRORS, Counter, COUNT, &["kind"], "Failed batch writes by kind (unavailable, rejected)."),
    def(PERSIST_DEAD_LETTER, Counter, COUNT, &[], "Rows refused by the database even alone."),
    def(PERSIST_SPILL_ROWS, Gauge, COUNT, &[], "Rows in the spill log waiting for the database."),
    def(PERSIST_SPILL_BYTES, Gauge, Some(Unit::Bytes), &[], "Bytes the spill log occupies on disk."),
    def(PERSIST_SPILLED_ROWS, Counter, COUNT, &[], "Rows appended to the spill log."),
    def(PERSIST_SPILL_ERRORS, Counter, COUNT, &["op"], "Spill log failures by operation."),
    def(PERSIST_ACKED_ROWS, Counter, COUNT, &[], "Rows durable in the database or the synced spill log."),
    def(DATABASE_UP, Gauge, None, &[], "Whether the database answered the last probe (1) or not (0)."),
    // API.
    def(ROUTER_TIMEOUTS, Counter, COUNT, &[], "Router commands that timed out."),
    def(HTTP_REQUESTS, Counter, COUNT, &["route", "method", "status"], "HTTP requests by route, method and status."),
    def(HTTP_SECONDS, Histogram, SECONDS, &["route", "method", "status"], "HTTP request latency by route, method and status."),
    def(FLEET_SUMMARY_READS, Counter, COUNT, &["source"], "Channel summaries read by the fleet view, by source (board, actor)."),
    def(FLEET_PAGES, Counter, COUNT, &["source"], "Fleet pages answered, by source (cache, rendered)."),
    def(FLEET_TREND_READS, Counter, COUNT, &["source"], "Channel trends read by the fleet view, by source (cache, stale, database)."),
    def(CONTEXT_READS, Counter, COUNT, &["source"], "Channel context answers by source (cache, stale, actor)."),
    // Channel intelligence, fleet-wide.
    def(COACHING_HINTS, Counter, COUNT, &["kind"], "Coaching hints emitted by kind."),
    def(CLIP_CANDIDATES, Counter, COUNT, &[], "Clip candidates detected."),
    // The LLM port. `model` values come from configuration (bounded); no channel label.
    def(LLM_SECONDS, Histogram, SECONDS, &["activity", "model"], "LLM request latency by activity and model, retries and backoff included."),
    def(LLM_TOKENS, Counter, COUNT, &["activity", "model", "direction"], "LLM tokens by activity, model and direction (in, out)."),
    def(LLM_COST, Counter, None, &["activity", "model"], "Estimated LLM cost in millionths of a US dollar by activity and model."),
    def(LLM_ERRORS, Counter, COUNT, &["activity", "kind"], "Failed LLM attempts by activity and kind."),
    def(LLM_FALLBACKS, Counter, COUNT, &["activity", "reason"], "LLM requests answered by the rule-based fallback, by activity and reason."),
    // The co-pilot's chat and budgets.
    def(COPILOT_MESSAGES, Counter, COUNT, &["origin", "outcome"], "Chat lines the co-pilot tried to send, by origin (reply, action) and outcome."),
    def(COPILOT_REPLIES, Counter, COUNT, &["outcome"], "Viewer questions handled by the reply pipeline, by outcome (model, fallback or the reason it was skipped)."),
    def(COPILOT_REPLY_SECONDS, Histogram, SECONDS, &[], "Time from a viewer's question to the bot's answer in chat, debounce included."),
    def(COPILOT_REPLY_QUEUE, Gauge, COUNT, &[], "Reply jobs waiting for a worker."),
    def(LLM_BUDGET_USED, Gauge, None, &["scope"], "Share of the daily LLM budget spent: global, and the highest share among channels (channel_max)."),
    def(LLM_BUDGET_DENIED, Counter, COUNT, &["scope"], "LLM requests refused because a daily budget was spent, by scope (global, channel)."),
    def(LLM_BUDGET_LIMIT, Gauge, None, &["scope", "unit"], "Daily LLM budgets by scope (global, channel) and unit (tokens, microdollars); 0 means no limit."),
    // Semantic memory.
    def(MEMORY_EMBED_SECONDS, Histogram, SECONDS, &["engine"], "Time to embed one batch of texts, by engine (local, endpoint)."),
    def(MEMORY_EMBED_TEXTS, Counter, COUNT, &["engine"], "Texts embedded, by engine."),
    def(MEMORY_EMBED_QUEUE, Gauge, COUNT, &[], "Embedding jobs waiting for or holding a worker."),
    def(MEMORY_EMBED_REJECTED, Counter, COUNT, &[], "Embedding jobs refused because the queue was full."),
    def(MEMORY_EMBED_BATCH_TEXTS, Histogram, COUNT, &["engine"], "Texts per embedder call (waiting jobs coalesced into one call), by engine."),
    def(MEMORY_SEARCH_SECONDS, Histogram, SECONDS, &["engine"], "Memory search latency in the database, by engine (hnsw, exact)."),
    def(MEMORY_WRITES, Counter, COUNT, &["outcome"], "Memory entries written, by outcome (added, merged into a near-duplicate, updated by an operator)."),
    def(MEMORY_ENRICH_CANDIDATES, Counter, COUNT, &["kind"], "Enrichment candidates handed to the memory service, by memory kind."),
    def(MEMORY_ENRICH_DROPPED, Counter, COUNT, &[], "Enrichment candidates dropped because the memory queue was full."),
    // Autonomy, the action queue and playbooks.
    def(AUTONOMY_STEPS, Counter, COUNT, &["trigger", "outcome"], "Autonomy decision steps by trigger (scheduled, manual) and outcome (decided, nothing, skipped)."),
    def(AUTONOMY_ACTIONS_PROPOSED, Counter, COUNT, &["kind", "mode"], "Actions autonomy decided, by action kind and mode (suggest: queued, auto: executed without approval)."),
    def(AUTONOMY_ACTIONS_DECIDED, Counter, COUNT, &["kind", "decision"], "Queued actions approved, rejected or expired, by action kind."),
    def(AUTONOMY_ACTIONS_EXECUTED, Counter, COUNT, &["kind", "outcome"], "Actions executed, by action kind and outcome (executed, failed, acknowledged by hand)."),
    def(AUTONOMY_QUEUE_DEPTH, Gauge, COUNT, &[], "Actions waiting in the queue for approval, fleet-wide."),
    def(PLAYBOOK_RUNS, Counter, COUNT, &["playbook", "trigger"], "Playbook runs by playbook and trigger (automatic, manual)."),
    def(GOALS_EVALUATED, Counter, COUNT, &["kind", "outcome"], "Session goals evaluated at session end, by goal kind and outcome (met, missed)."),
    // Post-stream reports, the prompt studio and the models catalog.
    def(REPORTS_GENERATED, Counter, COUNT, &["trigger", "outcome"], "Post-stream reports by trigger (session_end, on_demand) and outcome (model narrative, fallback narrative, failed)."),
    def(REPORT_SECONDS, Histogram, SECONDS, &[], "Time to generate one post-stream report: flush, reads, narrative and write."),
    def(PROMPT_PROFILE_VERSIONS, Counter, COUNT, &["kind"], "Prompt-profile versions saved, by kind (edit, rollback)."),
    def(MODEL_CATALOG_PROBES, Counter, COUNT, &["outcome"], "Probes of the LLM endpoint's model list by the catalog, by outcome (answered, failed, unconfigured)."),
    def(EXPORTED_CHANNELS, Gauge, COUNT, &[], "Channels whose per-channel gauges are exported (top-K by activity plus the allow-list)."),
    // Per channel, for the exported set only.
    per_channel(CHANNEL_HEALTH, "Channel health score from 0 (dying) to 100 (thriving), smoothed."),
    per_channel(CHANNEL_CHURN, "Channel churn risk from 0 to 1: how likely its regulars are drifting away."),
    per_channel(CHANNEL_CHAT_RATE, "Chat messages per second in the channel over the last minute."),
    per_channel(CHANNEL_SENTIMENT, "Mean sentiment of the channel's chat over the last minute, from -1 to 1."),
    per_channel(CHANNEL_CHATTERS, "Distinct chatters in the channel over the last minute."),
];

/// The catalogue entry of `name`.
pub fn lookup(name: &str) -> Option<&'static Def> {
    CATALOGUE.iter().find(|d| d.name == name)
}

fn describe_one(d: &Def) {
    match (d.kind, d.unit) {
        (Kind::Counter, Some(u)) => describe_counter!(d.name, u, d.help),
        (Kind::Counter, None) => describe_counter!(d.name, d.help),
        (Kind::Gauge, Some(u)) => describe_gauge!(d.name, u, d.help),
        (Kind::Gauge, None) => describe_gauge!(d.name, d.help),
        (Kind::Histogram, Some(u)) => describe_histogram!(d.name, u, d.help),
        (Kind::Histogram, None) => describe_histogram!(d.name, d.help),
    }
}

/// Registers help text and units of the fleet metrics with the installed recorder. Call
/// once at start-up.
pub fn describe() {
    CATALOGUE
        .iter()
        .filter(|d| d.scope == Scope::Fleet)
        .for_each(describe_one);
}

/// Registers help text of the per-channel gauges with the current recorder (the exporter's
/// own registry, not the global one).
pub fn describe_per_channel() {
    CATALOGUE
        .iter()
        .filter(|d| d.scope == Scope::Channel)
        .for_each(describe_one);
}

/// Registers every fleet series the core records whose label values are known in advance,
/// at zero: unlabelled counters, gauges and histograms, and counters over the closed label
/// lists above. Adding zero leaves an existing value alone, so this is safe to call at any
/// time. (Label sets decided at the edge — IRC reconnect causes, ingest command kinds, HTTP
/// routes — are primed or recorded there.)
pub fn prime() {
    for d in CATALOGUE.iter().filter(|d| d.scope == Scope::Fleet) {
        if !d.labels.is_empty() {
            continue;
        }
        match d.kind {
            Kind::Counter => metrics::counter!(d.name).increment(0),
            Kind::Gauge => metrics::gauge!(d.name).increment(0.0),
            // A registered histogram renders its (empty) buckets.
            Kind::Histogram => drop(metrics::histogram!(d.name)),
        }
    }
    for reason in FAILURE_REASONS {
        metrics::counter!(CHANNEL_RESTARTS, "reason" => *reason).increment(0);
        metrics::counter!(CHANNEL_QUARANTINES, "reason" => *reason).increment(0);
    }
    for status in CHANNEL_STATUSES {
        metrics::gauge!(CHANNELS, "status" => *status).increment(0.0);
    }
    for outcome in RESTORE_OUTCOMES {
        metrics::counter!(CHANNEL_RESTORES, "outcome" => *outcome).increment(0);
    }
    for table in WRITTEN_TABLES {
        metrics::counter!(PERSIST_ROWS_WRITTEN, "table" => *table).increment(0);
    }
    for kind in PERSIST_ERROR_KINDS {
        metrics::counter!(PERSIST_ERRORS, "kind" => *kind).increment(0);
    }
    for op in SPILL_OPS {
        metrics::counter!(PERSIST_SPILL_ERRORS, "op" => *op).increment(0);
    }
    for source in FLEET_SUMMARY_SOURCES {
        metrics::counter!(FLEET_SUMMARY_READS, "source" => *source).increment(0);
    }
    for source in FLEET_PAGE_SOURCES {
        metrics::counter!(FLEET_PAGES, "source" => *source).increment(0);
    }
    for source in FLEET_TREND_SOURCES {
        metrics::counter!(FLEET_TREND_READS, "source" => *source).increment(0);
    }
    for source in CONTEXT_SOURCES {
        metrics::counter!(CONTEXT_READS, "source" => *source).increment(0);
    }
    for kind in HintKind::ALL {
        metrics::counter!(COACHING_HINTS, "kind" => kind.as_str()).increment(0);
    }
    for engine in MEMORY_EMBED_ENGINES {
        drop(metrics::histogram!(MEMORY_EMBED_SECONDS, "engine" => *engine));
        drop(metrics::histogram!(MEMORY_EMBED_BATCH_TEXTS, "engine" => *engine));
        metrics::counter!(MEMORY_EMBED_TEXTS, "engine" => *engine).increment(0);
    }
    for engine in MEMORY_SEARCH_ENGINES {
        drop(metrics::histogram!(MEMORY_SEARCH_SECONDS, "engine" => *engine));
    }
    for outcome in MEMORY_WRITE_OUTCOMES {
        metrics::counter!(MEMORY_WRITES, "outcome" => *outcome).increment(0);
    }
    for kind in crate::memory::MemoryKind::ALL {
        metrics::counter!(MEMORY_ENRICH_CANDIDATES, "kind" => kind.as_str()).increment(0);
    }
    for trigger in AUTONOMY_STEP_TRIGGERS {
        for outcome in AUTONOMY_STEP_OUTCOMES {
            metrics::counter!(AUTONOMY_STEPS, "trigger" => *trigger, "outcome" => *outcome)
                .increment(0);
        }
    }
    for kind in crate::autonomy::ActionKind::ALL {
        let k = kind.as_str();
        for mode in AUTONOMY_MODES {
            metrics::counter!(AUTONOMY_ACTIONS_PROPOSED, "kind" => k, "mode" => *mode).increment(0);
        }
        for d in AUTONOMY_DECISIONS {
            metrics::counter!(AUTONOMY_ACTIONS_DECIDED, "kind" => k, "decision" => *d).increment(0);
        }
        for o in AUTONOMY_EXEC_OUTCOMES {
            metrics::counter!(AUTONOMY_ACTIONS_EXECUTED, "kind" => k, "outcome" => *o).increment(0);
        }
    }
    for p in crate::autonomy::Playbook::ALL {
        for trigger in ["automatic", "manual"] {
            metrics::counter!(PLAYBOOK_RUNS, "playbook" => p.as_str(), "trigger" => trigger)
                .increment(0);
        }
    }
    for kind in crate::autonomy::GoalKind::ALL {
        for o in GOAL_OUTCOMES {
            metrics::counter!(GOALS_EVALUATED, "kind" => kind.as_str(), "outcome" => *o)
                .increment(0);
        }
    }
    for trigger in REPORT_TRIGGERS {
        for outcome in REPORT_OUTCOMES {
            metrics::counter!(REPORTS_GENERATED, "trigger" => *trigger, "outcome" => *outcome)
                .increment(0);
        }
    }
    for kind in PROMPT_PROFILE_KINDS {
        metrics::counter!(PROMPT_PROFILE_VERSIONS, "kind" => *kind).increment(0);
    }
    for outcome in MODEL_CATALOG_OUTCOMES {
        metrics::counter!(MODEL_CATALOG_PROBES, "outcome" => *outcome).increment(0);
    }
    // LLM series: error kinds and fallback reasons are closed lists; model-labelled series
    // are primed for the fallback engine's model here and for configured models by the edge.
    for activity in crate::llm::Activity::ALL {
        let a = activity.as_str();
        for kind in crate::llm::LlmError::KINDS {
            metrics::counter!(LLM_ERRORS, "activity" => a, "kind" => kind).increment(0);
        }
        for reason in LLM_FALLBACK_REASONS {
            metrics::counter!(LLM_FALLBACKS, "activity" => a, "reason" => *reason).increment(0);
        }
        prime_llm_model(activity, crate::llm::FALLBACK_MODEL);
    }
    // Budgets: zero (no cap, nothing spent) until the edge sets the configured caps.
    for scope in ["global", "channel_max"] {
        metrics::gauge!(LLM_BUDGET_USED, "scope" => scope).set(0.0);
    }
    for scope in ["global", "channel"] {
        metrics::counter!(LLM_BUDGET_DENIED, "scope" => scope).increment(0);
        for unit in ["tokens", "microdollars"] {
            metrics::gauge!(LLM_BUDGET_LIMIT, "scope" => scope, "unit" => unit).set(0.0);
        }
    }
}

/// Registers the model-labelled LLM series of `activity` and `model` at zero.
pub fn prime_llm_model(activity: crate::llm::Activity, model: &str) {
    let a = activity.as_str();
    let model = model.to_owned();
    drop(metrics::histogram!(LLM_SECONDS, "activity" => a, "model" => model.clone()));
    for d in LLM_DIRECTIONS {
        metrics::counter!(LLM_TOKENS, "activity" => a, "model" => model.clone(), "direction" => *d)
            .increment(0);
    }
    metrics::counter!(LLM_COST, "activity" => a, "model" => model).increment(0);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = HashSet::new();
        for d in CATALOGUE {
            assert!(seen.insert(d.name), "{} declared twice", d.name);
            assert!(d.name.starts_with("byte_"), "{}", d.name);
            assert!(
                d.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{} is not snake case",
                d.name
            );
            assert_eq!(
                d.name.ends_with("_total"),
                d.kind == Kind::Counter,
                "{}: counters and only counters end in _total",
                d.name
            );
            if d.unit == Some(Unit::Seconds) {
                assert!(d.name.ends_with("_seconds"), "{}", d.name);
            }
            if d.unit == Some(Unit::Bytes) {
                assert!(d.name.ends_with("_bytes"), "{}", d.name);
            }
            assert!(d.help.ends_with('.'), "{} help is a sentence", d.name);
            assert_eq!(
                d.scope == Scope::Channel,
                d.labels.contains(&CHANNEL_LABEL),
                "{}: only per-channel metrics carry the channel label",
                d.name
            );
        }
    }

    #[test]
    fn closed_label_lists_match_the_code_that_records_them() {
        let hint_kinds: Vec<&str> = HintKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(hint_kinds.len(), 8);
        let outcomes = [
            crate::channel::RestoreOutcome::Snapshot,
            crate::channel::RestoreOutcome::ReplayOnly,
            crate::channel::RestoreOutcome::Fresh,
        ];
        for o in outcomes {
            assert!(RESTORE_OUTCOMES.contains(&o.as_str()), "{}", o.as_str());
        }
    }
}

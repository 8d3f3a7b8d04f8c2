//! Restore: how a channel actor gets back the state an uncrashed twin would hold.
//!
//! The state is a fold of the channel's rows in ingest order ([`Folded`]), stamped with each
//! row's own arrival time (its ingest position), never with the time the actor happened to
//! process it. So folding the same rows again — the last snapshot, then every stored row
//! after the snapshot's watermark — reproduces the live fold exactly. What a replay does not
//! redo is the ticks between the snapshot and the crash: tick-derived values (the smoothed
//! health score, coaching cooldowns) come from the snapshot and catch up on the next tick.
//!
//! Before reading, restore asks Persistence to flush: the ingest pump hands every row to
//! Persistence before it delivers it to a channel actor, so anything a dead incarnation
//! missed is in the database once the flush returns.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::ActorRef;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::channel::context::StreamContext;
use crate::channel::intel::{ChannelIntel, IntelEnv};
use crate::model::{
    ChannelLogin, ChatRecord, EventRecord, IntelKind, IntelRecord, Record, seq_time,
};
use crate::persistence::PersistenceMessage;
use crate::ports::{Store, StoreError};
use crate::rpc::{CallError, ask};

/// Everything a channel folds from its rows, and the highest position folded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Folded {
    /// Running totals.
    pub context: StreamContext,
    /// Windows and engines.
    pub intel: ChannelIntel,
    /// Highest ingest position folded in; rows at or below it are already counted.
    pub watermark: i64,
}

impl Folded {
    /// The state of a channel that has seen nothing.
    pub fn new(login: ChannelLogin) -> Self {
        Self {
            context: StreamContext::default(),
            intel: ChannelIntel::new(login),
            watermark: 0,
        }
    }

    /// Folds a chat row at its arrival time; false when the state already held it.
    pub fn apply_chat(&mut self, env: &IntelEnv, chat: &ChatRecord) -> bool {
        if chat.seq <= self.watermark {
            return false;
        }
        let first_time = self.intel.on_chat(
            &env.sentiment,
            chat,
            env.bot_login.as_deref(),
            seq_time(chat.seq),
        );
        self.context.on_chat(chat, first_time);
        self.watermark = chat.seq;
        true
    }

    /// Folds an event row at its arrival time; false when the state already held it.
    pub fn apply_event(&mut self, event: &EventRecord) -> bool {
        if event.seq <= self.watermark {
            return false;
        }
        self.context.on_event(event);
        self.intel.on_event(event, seq_time(event.seq));
        self.watermark = event.seq;
        true
    }

    /// Folds a stored row (replay); intelligence rows are not part of the fold.
    pub fn apply(&mut self, env: &IntelEnv, row: &Record) -> bool {
        match row {
            Record::Chat(c) => self.apply_chat(env, c),
            Record::Event(e) => self.apply_event(e),
            Record::Intel(_) => false,
        }
    }

    /// What the fold holds as of its last row: the same for any two states that folded the
    /// same rows, whatever their ticks, crashes and restores (what the restore tests compare).
    pub fn digest(&self) -> FoldDigest {
        let mut signals = self.intel.signals_at(seq_time(self.watermark));
        // The long-run baseline advances when the engines tick, not when rows arrive: it is
        // tick-derived state, like the smoothed health score, so not part of the fold.
        signals.baseline_rate_per_min = 0.0;
        signals.rate_stddev_per_min = 0.0;
        FoldDigest {
            watermark: self.watermark,
            context: self.context.clone(),
            signals,
        }
    }

    /// The snapshot row for `channel_snapshots`. A state that cannot be encoded (which a
    /// test guards against) yields no row rather than a snapshot that would lose history.
    pub fn snapshot_row(&self, login: &ChannelLogin, now: DateTime<Utc>) -> IntelRecord {
        IntelRecord {
            kind: IntelKind::Snapshot,
            key: login.to_string(),
            row: json!({
                "channel": login,
                "state": serde_json::to_value(self).unwrap_or_default(),
                "watermark_seq": self.watermark,
                "taken_at": now,
            }),
        }
    }
}

/// The fold-derived part of a channel's state, as of its last row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldDigest {
    /// Highest ingest position folded in.
    pub watermark: i64,
    /// Running totals.
    pub context: StreamContext,
    /// Windowed signals at the last row's arrival time.
    pub signals: crate::intel::signals::Signals,
}

/// Where and how a channel actor restores its state.
#[derive(Clone)]
pub struct RestoreEnv {
    /// Snapshots and stored rows.
    pub store: Arc<dyn Store>,
    /// Flushed before reading, so the store holds every row ingested so far.
    pub persistence: ActorRef<PersistenceMessage>,
    /// How long the flush may take before the restore counts as failed.
    pub flush_timeout: Duration,
    /// Rows read per replay query.
    pub page_rows: usize,
    /// Most rows one restore replays; older ones are left out (and the status says so).
    pub max_replay_rows: u64,
    /// Without a snapshot, replay only rows younger than this (a first start must not fold
    /// a channel's whole history).
    pub horizon: chrono::Duration,
    /// First delay before retrying a failed restore; doubles up to `retry_max`.
    pub retry_base: Duration,
    /// Longest delay between restore attempts.
    pub retry_max: Duration,
}

impl std::fmt::Debug for RestoreEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreEnv")
            .field("flush_timeout", &self.flush_timeout)
            .field("page_rows", &self.page_rows)
            .field("max_replay_rows", &self.max_replay_rows)
            .finish_non_exhaustive()
    }
}

impl RestoreEnv {
    /// Settings for production: generous flush time, a day's horizon, retries up to a minute.
    pub fn new(store: Arc<dyn Store>, persistence: ActorRef<PersistenceMessage>) -> Self {
        Self {
            store,
            persistence,
            flush_timeout: Duration::from_secs(5),
            page_rows: 5_000,
            max_replay_rows: 500_000,
            horizon: chrono::Duration::hours(1),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        }
    }

    /// Delay before restore attempt `attempt + 1`, with full jitter in [50%, 100%] so that a
    /// fleet whose database just came back does not retry in lockstep.
    pub fn retry_delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let full = self
            .retry_base
            .saturating_mul(1u32 << exp)
            .min(self.retry_max);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// How a restore found the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreOutcome {
    /// From a snapshot plus the rows after it.
    Snapshot,
    /// No snapshot, but stored rows within the horizon were replayed.
    ReplayOnly,
    /// Nothing stored: a new channel.
    Fresh,
}

impl RestoreOutcome {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreOutcome::Snapshot => "snapshot",
            RestoreOutcome::ReplayOnly => "replay_only",
            RestoreOutcome::Fresh => "fresh",
        }
    }
}

/// Where a channel actor's state came from, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RestoreStatus {
    /// The actor has no store to restore from (tests, benchmarks).
    NotConfigured,
    /// Waiting for the supervisor's `Restore`.
    Pending,
    /// Restored.
    Restored {
        /// From what.
        outcome: RestoreOutcome,
        /// Rows replayed after the snapshot.
        replayed_rows: u64,
        /// Whether the replay stopped at its row limit.
        truncated: bool,
        /// How long the restore took.
        took_ms: u64,
    },
    /// The store was unreachable: serving rows as they arrive, retrying the restore.
    Degraded {
        /// Failed attempts so far.
        attempts: u32,
        /// The last failure.
        error: String,
    },
}

/// Why a restore failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestoreError {
    /// Persistence could not confirm the stored rows are complete.
    #[error("persistence flush: {0}")]
    Flush(CallError),
    /// Reading the snapshot or the rows failed.
    #[error("reading stored state: {0}")]
    Store(StoreError),
}

/// A restored state and how it was obtained.
#[derive(Debug)]
pub struct Restored {
    /// The state.
    pub folded: Folded,
    /// From what.
    pub outcome: RestoreOutcome,
    /// Rows replayed.
    pub replayed: u64,
    /// Whether `max_replay_rows` cut the replay short.
    pub truncated: bool,
}

/// Flushes Persistence, loads the channel's snapshot and folds every stored row after it.
pub async fn load(
    login: &ChannelLogin,
    env: &RestoreEnv,
    intel: &IntelEnv,
    now: DateTime<Utc>,
) -> Result<Restored, RestoreError> {
    ask(
        &env.persistence,
        PersistenceMessage::Flush,
        env.flush_timeout,
    )
    .await
    .map_err(RestoreError::Flush)?;
    let stored = env
        .store
        .load_snapshot(login)
        .await
        .map_err(RestoreError::Store)?;
    let from_snapshot = stored.and_then(|s| {
        match serde_json::from_value::<Folded>(s.state) {
            Ok(mut folded) => {
                folded.watermark = folded.watermark.max(s.watermark);
                Some(folded)
            }
            Err(err) => {
                // An older build's layout: fall back to the replay horizon, never fail the
                // channel over it.
                tracing::warn!(channel = %login, error = %err, "stored snapshot unreadable; replaying from the horizon");
                None
            }
        }
    });
    let had_snapshot = from_snapshot.is_some();
    let mut folded = from_snapshot.unwrap_or_else(|| {
        let mut fresh = Folded::new(login.clone());
        fresh.watermark = (now - env.horizon).timestamp_micros();
        fresh
    });
    let start_watermark = folded.watermark;
    let mut replayed = 0u64;
    let mut truncated = false;
    loop {
        let page = env
            .store
            .replay(login, folded.watermark, env.page_rows)
            .await
            .map_err(RestoreError::Store)?;
        let full = page.len() >= env.page_rows;
        for row in &page {
            if replayed >= env.max_replay_rows {
                truncated = true;
                break;
            }
            replayed += u64::from(folded.apply(intel, row));
        }
        if truncated || !full {
            break;
        }
    }
    if truncated {
        tracing::warn!(channel = %login, replayed, "replay stopped at its row limit; older rows left out of the live state");
    }
    if !had_snapshot && replayed == 0 {
        // Nothing stored: keep the fresh state's own watermark, not the horizon, so rows
        // stamped by a clock behind ours are still folded.
        folded.watermark = 0;
    }
    let outcome = match (had_snapshot, replayed) {
        (true, _) => RestoreOutcome::Snapshot,
        (false, 0) => RestoreOutcome::Fresh,
        (false, _) => RestoreOutcome::ReplayOnly,
    };
    debug_assert!(folded.watermark >= start_watermark || outcome == RestoreOutcome::Fresh);
    Ok(Restored {
        folded,
        outcome,
        replayed,
        truncated,
    })
}

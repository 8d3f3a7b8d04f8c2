//! Autonomy's tables: the action queue (`autonomy_actions`), per-channel policy and goals
//! (`autonomy_settings`), goal outcomes per session (`goal_outcomes`) and playbook runs.
//!
//! Every state change of a queued action is one conditional `UPDATE ... WHERE status = ...`,
//! so two approvals racing, or an approval racing the expiry sweep, resolve in the database:
//! exactly one wins. Execution claims the row (`approved` → `executing`) the same way, so an
//! action runs at most once.

use byte_actors::autonomy::{
    AutonomyBoot, AutonomyConfig, AutonomyPolicy, GoalKind, GoalOutcome, GoalsConfig, Intent,
    PlaybookRun, ProposedAction, RecentAction,
};
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::DbError;

/// A queued action as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ActionRow {
    /// Id.
    pub id: i64,
    /// Channel.
    pub channel: String,
    /// Idempotency key.
    pub idempotency_key: String,
    /// `chat_message`, `coaching_hint` or `slow_mode`.
    pub kind: String,
    /// The rule behind it.
    pub intent: String,
    /// `autonomy`, `playbook` or `operator`.
    pub origin: String,
    /// The playbook, if any.
    pub playbook: Option<String>,
    /// What to do.
    pub payload: serde_json::Value,
    /// The explanation shown to the streamer.
    pub reason: String,
    /// The chatter or raider it is about.
    pub target: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Status.
    pub status: String,
    /// Ran without approval.
    pub auto: bool,
    /// When it was decided.
    pub created_at: DateTime<Utc>,
    /// When an unapproved proposal expires.
    pub expires_at: DateTime<Utc>,
    /// Who approved or rejected it (`policy` for automatic ones, `expiry` for expired).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// When it was executed.
    pub executed_at: Option<DateTime<Utc>>,
    /// What the execution did.
    pub result: Option<serde_json::Value>,
}

const COLUMNS: &str = "id, channel, idempotency_key, kind, intent, origin, playbook, payload, \
    reason, target, session_id, status, auto, created_at, expires_at, decided_by, decided_at, \
    executed_at, result";

/// The channel's policy and goals (defaults when none are stored).
pub async fn settings(pool: &PgPool, channel: &str) -> Result<AutonomyConfig, DbError> {
    let row: Option<(serde_json::Value, serde_json::Value)> =
        sqlx::query_as("SELECT policy, goals FROM autonomy_settings WHERE channel = $1")
            .bind(channel)
            .fetch_optional(pool)
            .await
            .map_err(DbError::query("read autonomy settings"))?;
    match row {
        Some((policy, goals)) => config_from(policy, goals),
        None => Ok(AutonomyConfig::default()),
    }
}

/// A stored settings row as the configuration.
fn config_from(
    policy: serde_json::Value,
    goals: serde_json::Value,
) -> Result<AutonomyConfig, DbError> {
    Ok(AutonomyConfig {
        policy: serde_json::from_value(policy)
            .map_err(|e| DbError::InvalidData(format!("autonomy policy: {e}")))?,
        goals: serde_json::from_value(goals)
            .map_err(|e| DbError::InvalidData(format!("goals: {e}")))?,
    })
}

/// Stores the channel's policy.
pub async fn set_policy(
    pool: &PgPool,
    channel: &str,
    policy: &AutonomyPolicy,
    by: &str,
) -> Result<(), DbError> {
    let v = serde_json::to_value(policy).map_err(|e| DbError::InvalidData(e.to_string()))?;
    sqlx::query(
        "INSERT INTO autonomy_settings (channel, policy, updated_by) VALUES ($1, $2, $3) \
         ON CONFLICT (channel) DO UPDATE SET policy = $2, updated_by = $3, updated_at = now()",
    )
    .bind(channel)
    .bind(v)
    .bind(by)
    .execute(pool)
    .await
    .map_err(DbError::query("store autonomy policy"))?;
    Ok(())
}

/// Stores the channel's goals.
pub async fn set_goals(
    pool: &PgPool,
    channel: &str,
    goals: &GoalsConfig,
    by: &str,
) -> Result<(), DbError> {
    let v = serde_json::to_value(goals).map_err(|e| DbError::InvalidData(e.to_string()))?;
    sqlx::query(
        "INSERT INTO autonomy_settings (channel, goals, updated_by) VALUES ($1, $2, $3) \
         ON CONFLICT (channel) DO UPDATE SET goals = $2, updated_by = $3, updated_at = now()",
    )
    .bind(channel)
    .bind(v)
    .bind(by)
    .execute(pool)
    .await
    .map_err(DbError::query("store goals"))?;
    Ok(())
}

/// A recent decision as `boot_many` reads it: channel, intent, target, decided at, status.
type RecentRow = (String, String, Option<String>, DateTime<Utc>, String);

/// What each channel actor's autonomy starts from: settings, the last hour's decisions (by
/// the runtime clock's `now`), each playbook's last run; in `channels`' order. Three
/// statements for any number of channels (at start-up every channel boots at once); a
/// channel whose stored settings cannot be read fails alone.
pub async fn boot_many(
    pool: &PgPool,
    channels: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<Result<AutonomyBoot, DbError>>, DbError> {
    // Every position a channel holds in the batch (a channel asked twice gets both).
    let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in channels.iter().enumerate() {
        positions.entry(c.as_str()).or_default().push(i);
    }
    let slots = |channel: &str| positions.get(channel).cloned().unwrap_or_default();
    let mut boots: Vec<Result<AutonomyBoot, DbError>> = channels
        .iter()
        .map(|_| {
            Ok(AutonomyBoot {
                config: AutonomyConfig::default(),
                recent: Vec::new(),
                playbook_last_runs: Vec::new(),
            })
        })
        .collect();
    let settings: Vec<(String, serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "SELECT channel, policy, goals FROM autonomy_settings WHERE channel = ANY($1)",
    )
    .bind(channels)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read autonomy settings"))?;
    for (channel, policy, goals) in settings {
        let config = config_from(policy, goals);
        for i in slots(&channel) {
            boots[i] = match &config {
                Ok(config) => Ok(AutonomyBoot {
                    config: config.clone(),
                    recent: Vec::new(),
                    playbook_last_runs: Vec::new(),
                }),
                Err(e) => Err(DbError::InvalidData(e.to_string())),
            };
        }
    }
    let rows: Vec<RecentRow> = sqlx::query_as(
        "SELECT channel, intent, target, created_at, status FROM autonomy_actions \
         WHERE channel = ANY($1) AND created_at > $2 ORDER BY channel, created_at",
    )
    .bind(channels)
    .bind(now - Duration::hours(1))
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read recent actions"))?;
    for (channel, intent, target, decided_at, status) in rows {
        let Some(intent) = Intent::parse(&intent) else {
            continue;
        };
        for i in slots(&channel) {
            if let Ok(boot) = &mut boots[i] {
                boot.recent.push(RecentAction {
                    intent,
                    target: target.clone(),
                    decided_at,
                    status: status.clone(),
                });
            }
        }
    }
    let runs: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT channel, playbook, max(at) FROM playbook_runs \
         WHERE channel = ANY($1) AND trigger = 'automatic' GROUP BY channel, playbook",
    )
    .bind(channels)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read playbook runs"))?;
    for (channel, playbook, at) in runs {
        for i in slots(&channel) {
            if let Ok(boot) = &mut boots[i] {
                boot.playbook_last_runs.push((playbook.clone(), at));
            }
        }
    }
    Ok(boots)
}

/// Stores decided actions, once per key. Returns the rows newly inserted (a key already
/// stored is skipped): only those may be executed by the caller.
pub async fn insert_actions(
    pool: &PgPool,
    channel: &str,
    actions: &[ProposedAction],
    origin_override: Option<&str>,
) -> Result<Vec<ActionRow>, DbError> {
    let mut out = Vec::new();
    for a in actions {
        let (status, decided_by, decided_at) = if a.auto {
            ("approved", Some("policy"), Some(a.decided_at))
        } else {
            ("proposed", None, None)
        };
        let row: Option<ActionRow> = sqlx::query_as(&format!(
            "INSERT INTO autonomy_actions (channel, idempotency_key, kind, intent, origin, \
               playbook, payload, reason, target, session_id, status, auto, created_at, \
               expires_at, decided_by, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (channel, idempotency_key) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(channel)
        .bind(&a.key)
        .bind(a.kind.as_str())
        .bind(a.intent.as_str())
        .bind(origin_override.unwrap_or(a.origin.as_str()))
        .bind(&a.playbook)
        .bind(&a.payload)
        .bind(&a.reason)
        .bind(&a.target)
        .bind(&a.session_id)
        .bind(status)
        .bind(a.auto)
        .bind(a.decided_at)
        .bind(a.expires_at)
        .bind(decided_by)
        .bind(decided_at)
        .fetch_optional(pool)
        .await
        .map_err(DbError::query("store action"))?;
        out.extend(row);
    }
    Ok(out)
}

/// [`insert_actions`] for many channels' actions in one statement (`(channel, action)`
/// pairs, no origin override): at thousands of channels every autonomy step used to be its
/// own insert and commit per action. Returns the rows stored, in no particular order; a key
/// already stored (or twice in `actions`) is stored once and returned at most once.
pub async fn insert_actions_many(
    pool: &PgPool,
    actions: &[(&str, &ProposedAction)],
) -> Result<Vec<ActionRow>, DbError> {
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    let n = actions.len();
    let mut cols = ActionColumns::with_capacity(n);
    for (channel, a) in actions {
        cols.push(channel, a);
    }
    sqlx::query_as(&format!(
        "INSERT INTO autonomy_actions (channel, idempotency_key, kind, intent, origin, \
           playbook, payload, reason, target, session_id, status, auto, created_at, \
           expires_at, decided_by, decided_at) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
           $6::text[], $7::jsonb[], $8::text[], $9::text[], $10::text[], $11::text[], \
           $12::bool[], $13::timestamptz[], $14::timestamptz[], $15::text[], \
           $16::timestamptz[]) \
         ON CONFLICT (channel, idempotency_key) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(cols.channel)
    .bind(cols.key)
    .bind(cols.kind)
    .bind(cols.intent)
    .bind(cols.origin)
    .bind(cols.playbook)
    .bind(cols.payload)
    .bind(cols.reason)
    .bind(cols.target)
    .bind(cols.session_id)
    .bind(cols.status)
    .bind(cols.auto)
    .bind(cols.created_at)
    .bind(cols.expires_at)
    .bind(cols.decided_by)
    .bind(cols.decided_at)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("store actions"))
}

/// The columns of [`insert_actions_many`], one array each.
#[derive(Default)]
struct ActionColumns<'a> {
    channel: Vec<&'a str>,
    key: Vec<&'a str>,
    kind: Vec<&'static str>,
    intent: Vec<&'static str>,
    origin: Vec<&'static str>,
    playbook: Vec<Option<&'a str>>,
    payload: Vec<&'a serde_json::Value>,
    reason: Vec<&'a str>,
    target: Vec<Option<&'a str>>,
    session_id: Vec<Option<&'a str>>,
    status: Vec<&'static str>,
    auto: Vec<bool>,
    created_at: Vec<DateTime<Utc>>,
    expires_at: Vec<DateTime<Utc>>,
    decided_by: Vec<Option<&'static str>>,
    decided_at: Vec<Option<DateTime<Utc>>>,
}

impl<'a> ActionColumns<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            channel: Vec::with_capacity(n),
            key: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Adds one action, with the same status rules as [`insert_actions`].
    fn push(&mut self, channel: &'a str, a: &'a ProposedAction) {
        let (status, decided_by, decided_at) = if a.auto {
            ("approved", Some("policy"), Some(a.decided_at))
        } else {
            ("proposed", None, None)
        };
        self.channel.push(channel);
        self.key.push(&a.key);
        self.kind.push(a.kind.as_str());
        self.intent.push(a.intent.as_str());
        self.origin.push(a.origin.as_str());
        self.playbook.push(a.playbook.as_deref());
        self.payload.push(&a.payload);
        self.reason.push(&a.reason);
        self.target.push(a.target.as_deref());
        self.session_id.push(a.session_id.as_deref());
        self.status.push(status);
        self.auto.push(a.auto);
        self.created_at.push(a.decided_at);
        self.expires_at.push(a.expires_at);
        self.decided_by.push(decided_by);
        self.decided_at.push(decided_at);
    }
}

/// Stores playbook runs, once per key.
pub async fn insert_runs(
    pool: &PgPool,
    channel: &str,
    runs: &[PlaybookRun],
    by: Option<&str>,
) -> Result<(), DbError> {
    for r in runs {
        sqlx::query(
            "INSERT INTO playbook_runs (channel, run_key, playbook, trigger, at, evidence, \
               action_keys, session_id, triggered_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (channel, run_key) \
             DO UPDATE SET triggered_by = COALESCE(EXCLUDED.triggered_by, playbook_runs.triggered_by)",
        )
        .bind(channel)
        .bind(&r.key)
        .bind(r.playbook.as_str())
        .bind(r.trigger.as_str())
        .bind(r.at)
        .bind(&r.evidence)
        .bind(serde_json::json!(r.actions))
        .bind(&r.session_id)
        .bind(by)
        .execute(pool)
        .await
        .map_err(DbError::query("store playbook run"))?;
    }
    Ok(())
}

/// Records a closed session's goal outcomes (idempotent per session and goal kind).
pub async fn record_outcomes(
    pool: &PgPool,
    channel: &str,
    session_id: &str,
    outcomes: &[GoalOutcome],
) -> Result<(), DbError> {
    for o in outcomes {
        sqlx::query(
            "INSERT INTO goal_outcomes (channel, session_id, kind, name, target, actual, met) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel, session_id, kind) \
             DO UPDATE SET name = $4, target = $5, actual = $6, met = $7, recorded_at = now()",
        )
        .bind(channel)
        .bind(session_id)
        .bind(o.kind.as_str())
        .bind(&o.name)
        .bind(o.target)
        .bind(o.actual)
        .bind(o.met)
        .execute(pool)
        .await
        .map_err(DbError::query("store goal outcome"))?;
    }
    Ok(())
}

/// The goal outcomes recorded for one session of `channel` (the post-stream report's input).
pub async fn goal_outcomes(
    pool: &PgPool,
    channel: &str,
    session_id: &str,
) -> Result<Vec<GoalOutcome>, DbError> {
    let rows: Vec<(String, String, f64, f64, bool)> = sqlx::query_as(
        "SELECT kind, name, target, actual, met FROM goal_outcomes \
         WHERE channel = $1 AND session_id = $2 ORDER BY kind",
    )
    .bind(channel)
    .bind(session_id)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read goal outcomes"))?;
    rows.into_iter()
        .map(|(kind, name, target, actual, met)| {
            Ok(GoalOutcome {
                kind: GoalKind::parse(&kind)
                    .ok_or_else(|| DbError::InvalidData(format!("goal kind {kind}")))?,
                name,
                target,
                actual,
                met,
            })
        })
        .collect()
}

/// Goal outcomes of a session, for the dashboard's history.
#[derive(Debug, Clone, Serialize)]
pub struct SessionOutcomes {
    /// Session.
    pub session_id: String,
    /// When they were recorded.
    pub recorded_at: DateTime<Utc>,
    /// Each goal.
    pub goals: Vec<GoalOutcome>,
}

/// The `limit` most recent sessions' goal outcomes of `channel`, newest first.
pub async fn recent_outcomes(
    pool: &PgPool,
    channel: &str,
    limit: i64,
) -> Result<Vec<SessionOutcomes>, DbError> {
    let ids: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT session_id, max(recorded_at) AS at FROM goal_outcomes WHERE channel = $1 \
         GROUP BY session_id ORDER BY at DESC LIMIT $2",
    )
    .bind(channel)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read goal outcome sessions"))?;
    let mut out = Vec::with_capacity(ids.len());
    for (session_id, recorded_at) in ids {
        let goals = goal_outcomes(pool, channel, &session_id).await?;
        out.push(SessionOutcomes {
            session_id,
            recorded_at,
            goals,
        });
    }
    Ok(out)
}

/// Proposals of `channel` (or every channel) whose time ran out become `expired`; returns
/// the expired rows' kinds.
pub async fn expire(
    pool: &PgPool,
    channel: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "UPDATE autonomy_actions SET status = 'expired', decided_by = 'expiry', decided_at = $2 \
         WHERE status = 'proposed' AND expires_at <= $2 AND ($1::text IS NULL OR channel = $1) \
         RETURNING kind",
    )
    .bind(channel)
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("expire actions"))?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// The queue of `channel`, newest first, optionally of one status.
pub async fn list_actions(
    pool: &PgPool,
    channel: &str,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<ActionRow>, DbError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM autonomy_actions WHERE channel = $1 \
         AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(channel)
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("list actions"))
}

/// One action of `channel`.
pub async fn action(pool: &PgPool, channel: &str, id: i64) -> Result<Option<ActionRow>, DbError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM autonomy_actions WHERE channel = $1 AND id = $2"
    ))
    .bind(channel)
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("read action"))
}

/// Approves or rejects a proposal that has not expired; `None` when it is not (or no longer)
/// a live proposal.
pub async fn decide(
    pool: &PgPool,
    channel: &str,
    id: i64,
    approve: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<ActionRow>, DbError> {
    sqlx::query_as(&format!(
        "UPDATE autonomy_actions SET status = $3, decided_by = $4, decided_at = $5 \
         WHERE channel = $1 AND id = $2 AND status = 'proposed' AND expires_at > $5 \
         RETURNING {COLUMNS}"
    ))
    .bind(channel)
    .bind(id)
    .bind(if approve { "approved" } else { "rejected" })
    .bind(by)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("decide action"))
}

/// Claims an approved action for execution; `None` when someone else has (or it is not
/// approved).
pub async fn claim(pool: &PgPool, id: i64) -> Result<Option<ActionRow>, DbError> {
    sqlx::query_as(&format!(
        "UPDATE autonomy_actions SET status = 'executing' WHERE id = $1 AND status = 'approved' \
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("claim action"))
}

/// Records how a claimed action's execution ended.
pub async fn finish(
    pool: &PgPool,
    id: i64,
    status: &str,
    result: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Option<ActionRow>, DbError> {
    sqlx::query_as(&format!(
        "UPDATE autonomy_actions SET status = $2, result = $3, executed_at = $4 \
         WHERE id = $1 AND status = 'executing' RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(status)
    .bind(result)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("record action result"))
}

/// Proposals waiting for approval, fleet-wide (the queue depth gauge).
pub async fn queue_depth(pool: &PgPool) -> Result<i64, DbError> {
    sqlx::query_scalar("SELECT count(*) FROM autonomy_actions WHERE status = 'proposed'")
        .fetch_one(pool)
        .await
        .map_err(DbError::query("count queued actions"))
}

/// A stored playbook run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunRow {
    /// Id.
    pub id: i64,
    /// Playbook.
    pub playbook: String,
    /// `automatic` or `manual`.
    pub trigger: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why it ran.
    pub evidence: String,
    /// Keys of the actions it proposed.
    pub action_keys: serde_json::Value,
    /// Session.
    pub session_id: Option<String>,
    /// Who ran it by hand.
    pub triggered_by: Option<String>,
}

/// The channel's playbook runs, newest first.
pub async fn list_runs(pool: &PgPool, channel: &str, limit: i64) -> Result<Vec<RunRow>, DbError> {
    sqlx::query_as(
        "SELECT id, playbook, trigger, at, evidence, action_keys, session_id, triggered_by \
         FROM playbook_runs WHERE channel = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(channel)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("list playbook runs"))
}

/// The actions of `channel` with these idempotency keys, in decision order.
pub async fn actions_by_keys(
    pool: &PgPool,
    channel: &str,
    keys: &[String],
) -> Result<Vec<ActionRow>, DbError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM autonomy_actions WHERE channel = $1 AND idempotency_key = ANY($2) \
         ORDER BY id"
    ))
    .bind(channel)
    .bind(keys)
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read actions by key"))
}

//! The `channels` table: which Twitch channels Byte sits in, and their per-channel settings.
//!
//! Parting a channel only marks it inactive, so its config and history survive a later
//! re-join. Logins are validated twice: by [`ChannelLogin`] in Rust and by a CHECK constraint
//! in the schema, so rows read back always parse.

use byte_actors::model::ChannelLogin;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::DbError;

/// One row of `channels`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRecord {
    /// The channel's login.
    pub login: ChannelLogin,
    /// Twitch's numeric room id, once known.
    pub room_id: Option<String>,
    /// Whether Byte should be in the channel.
    pub active: bool,
    /// Per-channel settings, a JSON object.
    pub config: serde_json::Value,
    /// When the channel was first joined.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

fn parse_login(raw: &str) -> Result<ChannelLogin, DbError> {
    ChannelLogin::parse(raw)
        .map_err(|e| DbError::InvalidData(format!("channels.login {raw:?}: {e}")))
}

/// Logins of all active channels, sorted, for joining them at start-up.
pub async fn list_active(pool: &PgPool) -> Result<Vec<ChannelLogin>, DbError> {
    let logins: Vec<String> =
        sqlx::query_scalar("SELECT login FROM channels WHERE active ORDER BY login")
            .fetch_all(pool)
            .await
            .map_err(DbError::query("list active channels"))?;
    logins.iter().map(|l| parse_login(l)).collect()
}

/// Marks `login` active, creating its row if needed. Returns `true` when this changed
/// something (new, or re-activated), `false` when it was already active, so the API can tell
/// "joined" from "already there". An already-active row is not touched at all.
pub async fn join(pool: &PgPool, login: &ChannelLogin) -> Result<bool, DbError> {
    let changed = sqlx::query(
        "INSERT INTO channels (login, active) VALUES ($1, true) \
         ON CONFLICT (login) DO UPDATE SET active = true, updated_at = now() \
             WHERE NOT channels.active \
         RETURNING login",
    )
    .bind(login.as_str())
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("join channel"))?;
    Ok(changed.is_some())
}

/// [`join`] for many channels in one statement (start-up with thousands of channels: one
/// round trip and one commit instead of one each, which took ~3 ms per channel). Returns how
/// many rows changed (new or re-activated).
pub async fn join_many(pool: &PgPool, logins: &[ChannelLogin]) -> Result<u64, DbError> {
    if logins.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = logins.iter().map(ChannelLogin::as_str).collect();
    let done = sqlx::query(
        "INSERT INTO channels (login, active) SELECT DISTINCT unnest($1::text[]), true \
         ON CONFLICT (login) DO UPDATE SET active = true, updated_at = now() \
             WHERE NOT channels.active",
    )
    .bind(names)
    .execute(pool)
    .await
    .map_err(DbError::query("join channels"))?;
    Ok(done.rows_affected())
}

/// Marks `login` inactive. Returns whether the channel was known at all (active or not); an
/// unknown channel is not created.
pub async fn part(pool: &PgPool, login: &ChannelLogin) -> Result<bool, DbError> {
    // `updated_at` moves only when `active` actually flips; RETURNING still reports the row.
    let existed = sqlx::query(
        "UPDATE channels \
         SET updated_at = CASE WHEN active THEN now() ELSE updated_at END, active = false \
         WHERE login = $1 \
         RETURNING login",
    )
    .bind(login.as_str())
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("part channel"))?;
    Ok(existed.is_some())
}

/// The full record for `login`, if the channel was ever joined.
pub async fn get(pool: &PgPool, login: &ChannelLogin) -> Result<Option<ChannelRecord>, DbError> {
    let row = sqlx::query(
        "SELECT login, room_id, active, config, created_at, updated_at \
         FROM channels WHERE login = $1",
    )
    .bind(login.as_str())
    .fetch_optional(pool)
    .await
    .map_err(DbError::query("get channel"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let decode = DbError::query("decode channel row");
    let login: String = row.try_get("login").map_err(decode)?;
    Ok(Some(ChannelRecord {
        login: parse_login(&login)?,
        room_id: row.try_get("room_id").map_err(decode)?,
        active: row.try_get("active").map_err(decode)?,
        config: row.try_get("config").map_err(decode)?,
        created_at: row.try_get("created_at").map_err(decode)?,
        updated_at: row.try_get("updated_at").map_err(decode)?,
    }))
}

/// Saves the agent's settings for a channel (under `config.agent`); false if the channel
/// has never been joined.
pub async fn set_agent(
    pool: &PgPool,
    login: &ChannelLogin,
    settings: &byte_actors::agent::AgentSettings,
) -> Result<bool, DbError> {
    let value = serde_json::to_value(settings).unwrap_or_default();
    let updated = sqlx::query(
        "UPDATE channels SET config = jsonb_set(config, '{agent}', $2), updated_at = now() \
         WHERE login = $1",
    )
    .bind(login.as_str())
    .bind(value)
    .execute(pool)
    .await
    .map_err(DbError::query("save agent settings"))?;
    Ok(updated.rows_affected() == 1)
}

/// The saved agent settings of every active channel that has any. A value this build cannot
/// read (an older layout) is skipped with a warning rather than failing the boot.
pub async fn agent_settings(
    pool: &PgPool,
) -> Result<Vec<(ChannelLogin, byte_actors::agent::AgentSettings)>, DbError> {
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT login, config->'agent' FROM channels \
         WHERE active AND config ? 'agent' ORDER BY login",
    )
    .fetch_all(pool)
    .await
    .map_err(DbError::query("read agent settings"))?;
    Ok(rows
        .into_iter()
        .filter_map(|(login, v)| match serde_json::from_value(v) {
            Ok(s) => Some((ChannelLogin::from_twitch(&login), s)),
            Err(e) => {
                tracing::warn!(channel = %login, error = %e, "unreadable agent settings ignored");
                None
            }
        })
        .collect())
}

/// Whether the agent is suspended fleet-wide (false when never set).
pub async fn fleet_suspended(pool: &PgPool) -> Result<bool, DbError> {
    let v: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT value FROM runtime_settings WHERE key = 'agent_suspended'")
            .fetch_optional(pool)
            .await
            .map_err(DbError::query("read the fleet switch"))?;
    Ok(v.and_then(|v| v.as_bool()).unwrap_or(false))
}

/// Saves the fleet-wide suspend switch.
pub async fn set_fleet_suspended(pool: &PgPool, suspended: bool) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO runtime_settings (key, value) VALUES ('agent_suspended', $1) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
    )
    .bind(serde_json::Value::Bool(suspended))
    .execute(pool)
    .await
    .map_err(DbError::query("save the fleet switch"))?;
    Ok(())
}

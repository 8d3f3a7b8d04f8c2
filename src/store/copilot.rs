//! Storage of the co-pilot's per-channel model routing (`channel_models`).

use byte_actors::llm::Activity;
use byte_actors::model::ChannelLogin;
use sqlx::PgPool;

/// Stores (or with `None` removes) `channel`'s model for `activity`.
pub async fn set_channel_model(
    pool: &PgPool,
    channel: &ChannelLogin,
    activity: Activity,
    model: Option<&str>,
    by: &str,
) -> Result<(), sqlx::Error> {
    match model {
        Some(m) => {
            sqlx::query(
                "INSERT INTO channel_models (channel, activity, model, updated_by)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (channel, activity) DO UPDATE SET model = EXCLUDED.model,
                   updated_at = now(), updated_by = EXCLUDED.updated_by",
            )
            .bind(channel.as_str())
            .bind(activity.as_str())
            .bind(m)
            .bind(by)
            .execute(pool)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM channel_models WHERE channel = $1 AND activity = $2")
                .bind(channel.as_str())
                .bind(activity.as_str())
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// Every stored channel model: (channel, activity, model). Unknown activity names (from a
/// newer version) are skipped.
pub async fn channel_models(
    pool: &PgPool,
) -> Result<Vec<(ChannelLogin, Activity, String)>, sqlx::Error> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT channel, activity, model FROM channel_models")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, a, m)| Some((ChannelLogin::from_twitch(&c), Activity::parse(&a)?, m)))
        .collect())
}

//! [`ProfileBook`]: every channel's active prompt profile in memory, so the reply worker
//! reads it without a database round trip. Loaded from `prompt_profiles` at start (retried in
//! the background while the database is down), and written through on every save or rollback:
//! the database first, then the book, so the book never holds a version that is not stored.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use byte_actors::copilot::prompt::PromptProfile;
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use sqlx::PgPool;

use crate::store::DbError;
use crate::store::profiles::{self, ProfileVersion};

/// The active profiles, by channel.
#[derive(Debug, Default)]
pub struct ProfileBook {
    active: RwLock<HashMap<ChannelLogin, (i32, Arc<PromptProfile>)>>,
    default: Arc<PromptProfile>,
}

/// Why a save or rollback failed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileBookError {
    /// The version to restore does not exist.
    #[error("version {0} does not exist")]
    NoSuchVersion(i32),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ProfileBook {
    /// The active profile of `channel` (the default profile when none is stored).
    pub fn active(&self, channel: &ChannelLogin) -> Arc<PromptProfile> {
        self.read()
            .get(channel)
            .map_or_else(|| self.default.clone(), |(_, p)| p.clone())
    }

    /// The active version number of `channel` (`None`: the built-in default).
    pub fn active_version(&self, channel: &ChannelLogin) -> Option<i32> {
        self.read().get(channel).map(|(v, _)| *v)
    }

    fn read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<ChannelLogin, (i32, Arc<PromptProfile>)>> {
        self.active.read().unwrap_or_else(|e| e.into_inner())
    }

    fn install(&self, v: &ProfileVersion) {
        let Ok(login) = ChannelLogin::parse(&v.channel) else {
            return;
        };
        let mut map = self.active.write().unwrap_or_else(|e| e.into_inner());
        // Never go back to an older version (a slow load racing a save).
        if map.get(&login).is_none_or(|(cur, _)| *cur < v.version) {
            map.insert(login, (v.version, Arc::new(v.profile.clone())));
        }
    }

    /// Loads every channel's active profile.
    pub async fn load(&self, pool: &PgPool) -> Result<usize, DbError> {
        let all = profiles::all_active(pool).await?;
        for v in &all {
            self.install(v);
        }
        Ok(all.len())
    }

    /// Loads in the background until the database answers (a degraded boot).
    pub fn spawn_loader(self: &Arc<Self>, pool: PgPool) -> tokio::task::JoinHandle<()> {
        let book = self.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(250);
            loop {
                match book.load(&pool).await {
                    Ok(n) => {
                        tracing::info!(profiles = n, "prompt profiles loaded");
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, "prompt profiles not loaded yet"),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        })
    }

    /// Saves a new version (already validated) and makes it active.
    pub async fn save(
        &self,
        pool: &PgPool,
        channel: &ChannelLogin,
        profile: &PromptProfile,
        author: &str,
        comment: Option<&str>,
    ) -> Result<ProfileVersion, ProfileBookError> {
        let v = profiles::append(pool, channel.as_str(), profile, author, comment, None).await?;
        self.install(&v);
        metrics::counter!(m::PROMPT_PROFILE_VERSIONS, "kind" => "edit").increment(1);
        Ok(v)
    }

    /// Makes `version` active again by appending a copy of it.
    pub async fn rollback(
        &self,
        pool: &PgPool,
        channel: &ChannelLogin,
        version: i32,
        author: &str,
    ) -> Result<ProfileVersion, ProfileBookError> {
        let old = profiles::version(pool, channel.as_str(), version)
            .await?
            .ok_or(ProfileBookError::NoSuchVersion(version))?;
        let comment = format!("rollback to version {version}");
        let v = profiles::append(
            pool,
            channel.as_str(),
            &old.profile,
            author,
            Some(&comment),
            Some(version),
        )
        .await?;
        self.install(&v);
        metrics::counter!(m::PROMPT_PROFILE_VERSIONS, "kind" => "rollback").increment(1);
        Ok(v)
    }
}

//! The fleet view's per-minute trends (chat sparkline, health trend), cached per channel for
//! a few seconds.
//!
//! Why a cache: the trends come from the per-minute rollups in Postgres, which change at most
//! once a minute per channel, while the fleet page is polled by every open dashboard. Without
//! it each request is a query over 30 minutes × a page of channels, on the same database and
//! cores that write the chat; with it, a page costs one query per [`TrendCache::ttl`] however
//! many dashboards poll it.
//!
//! Why single-flight: when entries expire together, every request in flight would otherwise
//! query the same rows at once; refreshes take one lock, and a request that waited for it
//! re-checks the map before querying, so the stampede collapses into one query.
//!
//! A database outage is not cached: the page shows empty trends and the next request tries
//! again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::store::intel;

/// One minute of a channel: when, messages, health.
pub type MinuteRow = (DateTime<Utc>, i32, Option<f64>);

/// Entries kept at most, so parted or never-again-viewed channels do not pile up.
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug)]
struct Entry {
    fetched: Instant,
    since: DateTime<Utc>,
    rows: Arc<[MinuteRow]>,
}

/// Channel login -> its recent minutes, each fetched within the last `ttl`.
#[derive(Debug)]
pub struct TrendCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    refresh: tokio::sync::Mutex<()>,
}

/// Where a page's trends came from, for the caller's metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    /// Channels answered from the cache.
    pub hits: usize,
    /// Channels read from the database.
    pub fetched: usize,
}

impl TrendCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// How long an entry is served before it is read again.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The minutes since `since` of each of `logins` (a channel without rollups maps to an
    /// empty list; a channel missing from the answer could not be read).
    pub async fn get(
        &self,
        pool: &PgPool,
        logins: &[String],
        since: DateTime<Utc>,
    ) -> (HashMap<String, Arc<[MinuteRow]>>, Lookup) {
        let mut out = HashMap::with_capacity(logins.len());
        let missing = self.fresh(logins, since, &mut out);
        let mut lookup = Lookup {
            hits: out.len(),
            fetched: 0,
        };
        if missing.is_empty() {
            return (out, lookup);
        }
        let _single = self.refresh.lock().await;
        // Another request may have fetched them while this one waited for the lock.
        let missing = self.fresh(&missing, since, &mut out);
        lookup.hits = out.len();
        if missing.is_empty() {
            return (out, lookup);
        }
        let rows = match intel::recent_minutes(pool, &missing, since).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "fleet trends unavailable");
                return (out, lookup);
            }
        };
        let mut grouped: HashMap<String, Vec<MinuteRow>> =
            missing.iter().map(|l| (l.clone(), Vec::new())).collect();
        for (channel, minute, messages, health) in rows {
            if let Some(list) = grouped.get_mut(&channel) {
                list.push((minute, messages, health));
            }
        }
        lookup.fetched = grouped.len();
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() + grouped.len() > MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, e| now.duration_since(e.fetched) < ttl);
        }
        for (login, list) in grouped {
            let rows: Arc<[MinuteRow]> = list.into();
            out.insert(login.clone(), rows.clone());
            entries.insert(
                login,
                Entry {
                    fetched: now,
                    since,
                    rows,
                },
            );
        }
        (out, lookup)
    }

    /// Moves the fresh entries of `logins` into `out` and returns the others.
    fn fresh(
        &self,
        logins: &[String],
        since: DateTime<Utc>,
        out: &mut HashMap<String, Arc<[MinuteRow]>>,
    ) -> Vec<String> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut missing = Vec::new();
        for login in logins {
            match entries.get(login) {
                Some(e) if e.since == since && now.duration_since(e.fetched) < self.ttl => {
                    out.insert(login.clone(), e.rows.clone());
                }
                _ => missing.push(login.clone()),
            }
        }
        missing
    }
}

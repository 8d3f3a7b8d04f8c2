//! The fleet view's per-minute trends (chat sparkline, health trend), cached per channel for
//! a few seconds.
//!
//! Why a cache: the trends come from the per-minute rollups in Postgres, which change at most
//! once a minute per channel, while the fleet page is polled by every open dashboard. Without
//! it each request is a query over 30 minutes × a page of channels, on the same database and
//! cores that write the chat; with it, a page costs one query per [`TrendCache::ttl`] however
//! many dashboards poll it.
//!
//! Why stale-while-revalidate: an expired entry (or one whose 30-minute window has moved on
//! by a minute) is still served at once, and one background task reads the fresh rows. So a
//! fleet request waits for the database only the first time a channel is shown, never behind
//! a pool busy with writes, and a database outage leaves the last trends on screen.
//!
//! Why single-flight: reads take one lock. A request that must wait (a channel never read)
//! re-checks the map after getting it, so concurrent first requests collapse into one query;
//! a background refresh is skipped when one is already running.
//!
//! An outage is never cached: a channel that could not be read shows empty trends, and the
//! next request tries again.

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
    refresh: Arc<tokio::sync::Mutex<()>>,
}

/// Where a page's trends came from, for the caller's metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    /// Channels answered from the cache.
    pub hits: usize,
    /// Channels read from the database before answering.
    pub fetched: usize,
    /// Channels answered from an expired entry, with a background refresh requested.
    pub stale: usize,
}

/// What the map holds for one login.
enum Held {
    Fresh(Arc<[MinuteRow]>),
    Stale(Arc<[MinuteRow]>),
    Missing,
}

impl TrendCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            refresh: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// How long an entry is served before it is read again.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The recent minutes of each of `logins`, covering at least `since` onwards (older
    /// minutes may be included: callers place rows by minute). A channel without rollups
    /// maps to an empty list; a channel missing from the answer could not be read.
    pub async fn get(
        self: &Arc<Self>,
        pool: &PgPool,
        logins: &[String],
        since: DateTime<Utc>,
    ) -> (HashMap<String, Arc<[MinuteRow]>>, Lookup) {
        let mut out = HashMap::with_capacity(logins.len());
        let mut lookup = Lookup::default();
        let mut stale = Vec::new();
        let mut missing = Vec::new();
        for (login, held) in self.held(logins, since) {
            match held {
                Held::Fresh(rows) => {
                    lookup.hits += 1;
                    out.insert(login, rows);
                }
                Held::Stale(rows) => {
                    lookup.stale += 1;
                    out.insert(login.clone(), rows);
                    stale.push(login);
                }
                Held::Missing => missing.push(login),
            }
        }
        if !stale.is_empty() {
            self.refresh_in_background(pool.clone(), stale, since);
        }
        if missing.is_empty() {
            return (out, lookup);
        }
        let _single = self.refresh.lock().await;
        // Another request may have read them while this one waited for the lock.
        let mut still = Vec::new();
        for (login, held) in self.held(&missing, since) {
            match held {
                Held::Fresh(rows) | Held::Stale(rows) => {
                    lookup.hits += 1;
                    out.insert(login, rows);
                }
                Held::Missing => still.push(login),
            }
        }
        if still.is_empty() {
            return (out, lookup);
        }
        if let Some(read) = self.read(pool, &still, since).await {
            lookup.fetched = read.len();
            out.extend(read);
        }
        (out, lookup)
    }

    /// Reads `logins` from the database and stores them; `None` when the database failed.
    async fn read(
        &self,
        pool: &PgPool,
        logins: &[String],
        since: DateTime<Utc>,
    ) -> Option<HashMap<String, Arc<[MinuteRow]>>> {
        let rows = match intel::recent_minutes(pool, logins, since).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "fleet trends unavailable");
                return None;
            }
        };
        let mut grouped: HashMap<String, Vec<MinuteRow>> =
            logins.iter().map(|l| (l.clone(), Vec::new())).collect();
        for (channel, minute, messages, health) in rows {
            if let Some(list) = grouped.get_mut(&channel) {
                list.push((minute, messages, health));
            }
        }
        let now = Instant::now();
        let mut out = HashMap::with_capacity(grouped.len());
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() + grouped.len() > MAX_ENTRIES {
            let keep = self.ttl.saturating_mul(10);
            entries.retain(|_, e| now.duration_since(e.fetched) < keep);
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
        Some(out)
    }

    /// One background read of `logins`, unless a read is already running (the next request
    /// asks again).
    fn refresh_in_background(
        self: &Arc<Self>,
        pool: PgPool,
        logins: Vec<String>,
        since: DateTime<Utc>,
    ) {
        let Ok(single) = self.refresh.clone().try_lock_owned() else {
            return;
        };
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            let _single = single;
            cache.read(&pool, &logins, since).await;
        });
    }

    /// What the map holds for each of `logins`: fresh (same window, younger than the
    /// period), stale (expired, or a window that has moved on since), or nothing usable.
    fn held(&self, logins: &[String], since: DateTime<Utc>) -> Vec<(String, Held)> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        logins
            .iter()
            .map(|login| {
                let held = match entries.get(login) {
                    Some(e) if e.since == since && now.duration_since(e.fetched) < self.ttl => {
                        Held::Fresh(e.rows.clone())
                    }
                    Some(e) if e.since <= since => Held::Stale(e.rows.clone()),
                    _ => Held::Missing,
                };
                (login.clone(), held)
            })
            .collect()
    }
}

//! The channel context answer (`GET …/context`), rendered and kept for about one tick per
//! channel, refreshed in the background, and dropped by the channel's own writes.
//!
//! Why: the context is the channel actor's live state, asked for through its mailbox, and the
//! mailbox is shared with the chat. Under heavy chat a context request waited behind every
//! queued message of its channel (p99 100 ms at 20,000 msg/s), while the state it reads only
//! moves on noticeably once a second (the tick recomputes health, churn, hints). So:
//! - **Fresh** (younger than [`ContextCache::ttl`]): served as rendered bytes, no actor hop.
//! - **Stale** (younger than `max_stale`): served at once, and one background ask per channel
//!   renders a new one, so a request never waits on a busy mailbox once a channel was read.
//! - **Missing** (never read, too old, or invalidated): the request asks the actor and waits.
//! - **Read your writes:** every successful write request on a channel's API invalidates its
//!   entry (a middleware in [`super::app`]), and a generation number stops a refresh that was
//!   already under way from putting back the answer from before the write.
//!
//! Bounded: entries are few in practice (the channels dashboards have focused), but the cap
//! keeps a sweep over many channels from holding one answer per channel.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Channels kept at most; past it, old entries go first, then everything.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Default)]
struct Slot {
    /// Bumped by every invalidation.
    generation: u64,
    body: Option<(Instant, Bytes)>,
    refreshing: bool,
}

/// What the cache holds for a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Young enough to serve as is.
    Fresh(Bytes),
    /// Serve it; when `refresh` is set, this caller must render a new one (in the
    /// background) and [`ContextCache::put`] it with `generation`.
    Stale {
        /// The last answer.
        body: Bytes,
        /// Whether this caller got the channel's one refresh.
        refresh: bool,
        /// Generation to put the refreshed answer under.
        generation: u64,
    },
    /// Ask the actor, then put the answer with `generation`.
    Missing {
        /// Generation to put the answer under.
        generation: u64,
    },
}

/// Login -> its last rendered context.
#[derive(Debug)]
pub struct ContextCache {
    ttl: Duration,
    max_stale: Duration,
    slots: Mutex<HashMap<String, Slot>>,
}

impl ContextCache {
    /// Answers are served as fresh for `ttl`, and as stale (with a refresh) up to `max_stale`.
    pub fn new(ttl: Duration, max_stale: Duration) -> Self {
        Self {
            ttl,
            max_stale: max_stale.max(ttl),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// How long an answer is served without asking the actor.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// What to do for `login`'s context.
    pub fn lookup(&self, login: &str) -> Held {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = slots.get_mut(login) else {
            return Held::Missing { generation: 0 };
        };
        let generation = slot.generation;
        match &slot.body {
            Some((at, body)) if at.elapsed() < self.ttl => Held::Fresh(body.clone()),
            Some((at, body)) if at.elapsed() < self.max_stale => {
                let refresh = !slot.refreshing;
                slot.refreshing = true;
                Held::Stale {
                    body: body.clone(),
                    refresh,
                    generation,
                }
            }
            _ => Held::Missing { generation },
        }
    }

    /// Keeps `body` as `login`'s answer, unless the channel was written to since
    /// `generation` was handed out (the answer may predate the write).
    pub fn put(&self, login: &str, generation: u64, body: Bytes) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let max_stale = self.max_stale;
        super::page_cache::make_room(&mut slots, MAX_ENTRIES, login, |s| {
            s.body
                .as_ref()
                .is_some_and(|(at, _)| at.elapsed() < max_stale)
        });
        let slot = slots.entry(login.to_owned()).or_default();
        if slot.generation == generation {
            slot.body = Some((Instant::now(), body));
            slot.refreshing = false;
        }
    }

    /// A refresh failed (actor restarting, timeout): let the next request try again.
    pub fn refresh_failed(&self, login: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(login) {
            slot.refreshing = false;
        }
    }

    /// A fleet-wide change (e.g. suspend-all): every channel's next read asks its actor.
    pub fn invalidate_all(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for slot in slots.values_mut() {
            slot.generation += 1;
            slot.body = None;
            slot.refreshing = false;
        }
    }

    /// `login` changed through the API: its next read asks the actor.
    pub fn invalidate(&self, login: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(login) {
            slot.generation += 1;
            slot.body = None;
            slot.refreshing = false;
        }
    }
}

/// The channel login of an API path (`/api/v1/channels/{login}/…`, or `/channels/{login}/…`
/// as the nested API router sees it), if it is one.
pub fn channel_of_path(path: &str) -> Option<&str> {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let rest = path.strip_prefix("/channels/")?;
    let login = rest.split('/').next()?;
    (!login.is_empty()).then_some(login)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn fresh_then_one_refresh_while_stale_then_missing() {
        let cache = ContextCache::new(Duration::ZERO, Duration::from_secs(60));
        assert_eq!(cache.lookup("a"), Held::Missing { generation: 0 });
        cache.put("a", 0, body("v1"));
        // ttl zero: immediately stale; only the first caller refreshes.
        let Held::Stale {
            body: b,
            refresh,
            generation,
        } = cache.lookup("a")
        else {
            panic!("stale expected")
        };
        assert_eq!((b, refresh, generation), (body("v1"), true, 0));
        assert!(matches!(
            cache.lookup("a"),
            Held::Stale { refresh: false, .. }
        ));
        cache.refresh_failed("a");
        assert!(matches!(
            cache.lookup("a"),
            Held::Stale { refresh: true, .. }
        ));
        cache.put("a", 0, body("v2"));
        assert!(
            matches!(cache.lookup("a"), Held::Stale { body, refresh: true, .. } if body == "v2")
        );

        let fresh = ContextCache::new(Duration::from_secs(60), Duration::from_secs(60));
        fresh.put("a", 0, body("v1"));
        assert_eq!(fresh.lookup("a"), Held::Fresh(body("v1")));
        let expired = ContextCache::new(Duration::ZERO, Duration::ZERO);
        expired.put("a", 0, body("v1"));
        assert_eq!(expired.lookup("a"), Held::Missing { generation: 0 });
    }

    #[test]
    fn a_write_drops_the_answer_and_a_refresh_from_before_it_is_discarded() {
        let cache = ContextCache::new(Duration::from_secs(60), Duration::from_secs(60));
        cache.put("a", 0, body("before"));
        cache.put("b", 0, body("other"));
        cache.invalidate("a");
        assert_eq!(cache.lookup("a"), Held::Missing { generation: 1 });
        // A refresh that started before the write comes back late: not kept.
        cache.put("a", 0, body("before, late"));
        assert_eq!(cache.lookup("a"), Held::Missing { generation: 1 });
        cache.put("a", 1, body("after"));
        assert_eq!(cache.lookup("a"), Held::Fresh(body("after")));
        assert_eq!(
            cache.lookup("b"),
            Held::Fresh(body("other")),
            "other channels keep theirs"
        );
        cache.invalidate_all();
        assert_eq!(cache.lookup("a"), Held::Missing { generation: 2 });
        assert_eq!(cache.lookup("b"), Held::Missing { generation: 1 });
    }

    #[test]
    fn bounded() {
        let cache = ContextCache::new(Duration::from_secs(60), Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(&format!("c{i}"), 0, body("x"));
        }
        let held = cache.slots.lock().unwrap().len();
        assert!(held <= MAX_ENTRIES, "{held}");
    }

    #[test]
    fn channel_paths() {
        assert_eq!(
            channel_of_path("/api/v1/channels/alice/session"),
            Some("alice")
        );
        assert_eq!(channel_of_path("/api/v1/channels/alice"), Some("alice"));
        assert_eq!(channel_of_path("/channels/alice/agent"), Some("alice"));
        assert_eq!(channel_of_path("/api/v1/channels/"), None);
        assert_eq!(channel_of_path("/api/v1/agent/suspend-all"), None);
    }
}

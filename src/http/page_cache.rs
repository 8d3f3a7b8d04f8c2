//! Rendered API answers kept for a moment, for read endpoints whose data changes at a known
//! pace.
//!
//! Why: the fleet page is computed from what every channel actor publishes once a second
//! (its tick), and a page of 100 channels with two 30-minute series each is tens of
//! kilobytes of JSON. Every open dashboard polls it, and all of them ask for the same few
//! pages, so rendering it more than once per tick is work whose result cannot differ by
//! more than one tick. Keyed by everything that shapes the answer (the caller's scope and the
//! validated query), held for [`PageCache::ttl`], bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Distinct answers kept at most; past it, expired ones are dropped, then everything.
const MAX_PAGES: usize = 1024;

/// Key -> rendered body, each younger than `ttl`.
#[derive(Debug)]
pub struct PageCache {
    ttl: Duration,
    pages: Mutex<HashMap<String, (Instant, Bytes)>>,
}

impl PageCache {
    /// A cache whose answers live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            pages: Mutex::new(HashMap::new()),
        }
    }

    /// The body rendered for `key` within the last `ttl`, if any.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, body)| body.clone())
    }

    /// Keeps `body` as the answer for `key`.
    pub fn put(&self, key: String, body: Bytes) {
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = self.ttl;
        make_room(&mut pages, MAX_PAGES, &key, |(at, _)| at.elapsed() < ttl);
        pages.insert(key, (Instant::now(), body));
    }
}

/// Before `key` goes into a map of at most `max` entries: when it is new and the map is
/// full, drops the entries that are no longer `useful`, then, if that freed nothing,
/// everything (a cache refills itself; an unbounded one would not stop growing).
pub(crate) fn make_room<V>(
    map: &mut HashMap<String, V>,
    max: usize,
    key: &str,
    useful: impl Fn(&V) -> bool,
) {
    if map.len() >= max && !map.contains_key(key) {
        map.retain(|_, v| useful(v));
        if map.len() >= max {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_within_its_period_only_and_the_cache_stays_bounded() {
        let cache = PageCache::new(Duration::from_secs(60));
        assert_eq!(cache.get("a"), None);
        cache.put("a".into(), Bytes::from_static(b"one"));
        assert_eq!(cache.get("a"), Some(Bytes::from_static(b"one")));
        assert_eq!(cache.get("b"), None, "another key is another answer");
        let expired = PageCache::new(Duration::ZERO);
        expired.put("a".into(), Bytes::from_static(b"one"));
        assert_eq!(expired.get("a"), None);
        for i in 0..(MAX_PAGES + 10) {
            cache.put(format!("k{i}"), Bytes::from_static(b"x"));
        }
        assert!(cache.pages.lock().unwrap().len() <= MAX_PAGES);
    }
}

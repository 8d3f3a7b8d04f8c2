//! The windows' memory of who has spoken in a channel: enough to tell a first-time chatter
//! and to count unique and new chatters per window, and nothing more.
//!
//! Why not a `login → (messages, first seen, last seen)` map: the windows never give a
//! chatter's name back, yet that map held a copy of every login (a heap block each) and two
//! 12-byte instants, in a table that doubles as it grows — the second-largest part of a busy
//! channel's state (~100 KiB at 5 msg/s). Here an entry is a 64-bit hash of the login and
//! two 4-byte numbers, its first and last 5-second bucket: the windows start on bucket
//! boundaries, so "seen at or after the window's start" reads the same either way. (The
//! per-chatter message count it also kept was never read; it is no longer counted.)
//!
//! The hash is [`crate::model::login_hash`], fixed across Rust and crate releases (hashes are
//! kept in snapshots). Two logins with the same 64-bit
//! hash would share an entry (the second would not count as a first-timer); by chance that
//! is ~10⁻¹² for a full table of 4,096.
//!
//! Snapshots keep the old shape, a map of `ChatterSeen` by key: a snapshot from before this
//! change (keys are logins) is read by hashing each login; new snapshots write `#` and the
//! hash in hex as the key (not a valid Twitch login, so the two cannot be confused), with
//! the instants at their bucket's start and 0 messages. The old code reads such a snapshot
//! without error, but finds none of its chatters in it (everyone looks new once).

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::windows::{BUCKET_SECS, ChatterSeen};
use crate::model::login_hash;

/// How a hashed login is written in snapshots: `#` and 16 hex digits.
fn key_text(key: u64) -> String {
    format!("#{key:016x}")
}

/// The key of a login as read from a snapshot: written by [`key_text`], or a plain login
/// from a snapshot taken before logins were hashed.
fn key_from_text(text: &str) -> u64 {
    text.strip_prefix('#')
        .filter(|h| h.len() == 16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_else(|| login_hash(text))
}

/// Serde for a list of hashed logins kept as a list of strings (see the module doc), for
/// `#[serde(with = ...)]`.
pub(crate) mod login_keys {
    use std::collections::VecDeque;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes each key as `#` and its hex digits.
    pub(crate) fn serialize<S: Serializer>(keys: &VecDeque<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(keys.iter().map(|k| super::key_text(*k)))
    }

    /// Reads keys, or logins from an older snapshot.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VecDeque<u64>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        Ok(texts.iter().map(|t| super::key_from_text(t)).collect())
    }
}

/// The 5-second bucket of `at` (saturating to ±340 years around 1970).
fn bucket_of(at: DateTime<Utc>) -> i32 {
    let b = at.timestamp().div_euclid(BUCKET_SECS);
    b.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn bucket_at(b: i32) -> DateTime<Utc> {
    Utc.timestamp_opt(i64::from(b) * BUCKET_SECS, 0)
        .single()
        .unwrap_or_default()
}

/// One chatter: first and last bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    first: i32,
    last: i32,
}

/// Chatters by login hash.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SeenTable {
    // FxHash over an already well-mixed u64: one multiply.
    map: rustc_hash::FxHashMap<u64, Seen>,
}

impl SeenTable {
    /// Whether `login` has spoken (within the table's memory).
    pub(crate) fn contains(&self, login: &str) -> bool {
        self.map.contains_key(&login_hash(login))
    }

    /// Counts a message from `login` at `at`; a new chatter arriving at a full table (`cap`)
    /// first evicts the least recently seen eighth.
    pub(crate) fn observe(&mut self, login: &str, at: DateTime<Utc>, cap: usize) {
        let (key, b) = (login_hash(login), bucket_of(at));
        if let Some(c) = self.map.get_mut(&key) {
            // As before the table was compacted: a late line moves neither instant back.
            c.last = c.last.max(b);
            return;
        }
        if self.map.len() >= cap {
            self.evict(cap);
        }
        self.map.insert(key, Seen { first: b, last: b });
    }

    fn evict(&mut self, cap: usize) {
        let mut by_age: Vec<(i32, u64)> = self.map.iter().map(|(k, c)| (c.last, *k)).collect();
        let evict = (cap / 8).clamp(1, by_age.len().max(1));
        if by_age.is_empty() {
            return;
        }
        by_age.select_nth_unstable(evict - 1);
        for (_, key) in by_age.into_iter().take(evict) {
            self.map.remove(&key);
        }
    }

    /// Chatters remembered.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// (chatters seen at or after `from`, of which first seen at or after it); `from` is a
    /// bucket start (a multiple of [`BUCKET_SECS`] seconds since the epoch).
    pub(crate) fn count_since(&self, from: i64) -> (u32, u32) {
        let from = from.div_euclid(BUCKET_SECS);
        let (mut unique, mut new) = (0, 0);
        for c in self.map.values() {
            if i64::from(c.last) >= from {
                unique += 1;
                if i64::from(c.first) >= from {
                    new += 1;
                }
            }
        }
        (unique, new)
    }
}

impl Serialize for SeenTable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.map.iter().map(|(k, c)| {
            (
                key_text(*k),
                ChatterSeen {
                    messages: 0,
                    first_seen: bucket_at(c.first),
                    last_seen: bucket_at(c.last),
                },
            )
        }))
    }
}

impl<'de> Deserialize<'de> for SeenTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = std::collections::HashMap::<String, ChatterSeen>::deserialize(d)?;
        let map = wire
            .into_iter()
            .map(|(k, c)| {
                let key = key_from_text(&k);
                let seen = Seen {
                    first: bucket_of(c.first_seen),
                    last: bucket_of(c.last_seen),
                };
                (key, seen)
            })
            .collect();
        Ok(Self { map })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn counts_since_a_bucket_boundary() {
        let mut s = SeenTable::default();
        s.observe("old", t(0), 10);
        s.observe("ana", t(62), 10);
        s.observe("old", t(64), 10);
        // Window from t(60): both seen in it, only ana first seen in it.
        assert_eq!(s.count_since(1_700_000_060), (2, 1));
        assert_eq!(s.count_since(1_700_000_065), (0, 0));
        assert!(s.contains("ana") && !s.contains("bob"));
    }

    #[test]
    fn snapshots_from_the_old_login_map_read_back_and_new_ones_round_trip() {
        let old = r#"{"ana":{"messages":3,"first_seen":"2023-11-14T22:13:20Z",
                              "last_seen":"2023-11-14T22:14:22.500Z"}}"#;
        let s: SeenTable = serde_json::from_str(old).unwrap();
        assert!(s.contains("ana"));
        assert_eq!(s.count_since(1_700_000_060), (1, 0));
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.starts_with("{\"#"), "{json}");
        let back: SeenTable = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn login_lists_read_old_logins_and_round_trip() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Holder {
            #[serde(with = "login_keys")]
            keys: std::collections::VecDeque<u64>,
        }
        let old: Holder = serde_json::from_str(r#"{"keys":["ana","bob"]}"#).unwrap();
        assert_eq!(old.keys, [login_hash("ana"), login_hash("bob")]);
        let json = serde_json::to_string(&old).unwrap();
        let back: Holder = serde_json::from_str(&json).unwrap();
        assert_eq!(back.keys, old.keys);
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_seen() {
        let mut s = SeenTable::default();
        for i in 0..64 {
            s.observe(&format!("u{i}"), t(i * 5), 64);
        }
        s.observe("late", t(1_000), 64);
        assert_eq!(s.len(), 64 - 8 + 1);
        assert!(!s.contains("u0") && s.contains("u63") && s.contains("late"));
    }
}

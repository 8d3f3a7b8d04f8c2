//! The 5-second buckets behind the sliding windows, stored compactly: chat counts in one
//! deque (nearly every bucket of a chatty channel has some), event counts (subs, gifts,
//! bits, raids, moderation) in another that only holds the rare buckets that saw one.
//!
//! Why two: one bucket with every counter was 72 bytes, mostly zeros, in a deque that
//! doubled to 256 slots for the 180 buckets of 15 minutes (18 KiB per chatty channel). A
//! chat bucket is 32 bytes and both deques grow to at most the 180 a window needs.
//!
//! Snapshots keep the old shape: a list of buckets with every counter, merged by start, so a
//! snapshot written before this split restores unchanged and one written after reads the
//! same to the old code.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::signals::WindowStats;

/// Most buckets a window needs (15 minutes of 5-second buckets); deques grow to this, not to
/// the next power of two.
const MAX_BUCKETS: usize = 180;

/// Chat counts of one bucket, 32 bytes. Questions, answers, mentions and toxic lines are
/// `u16` (saturating): 65,535 of one kind in five seconds is past any real chat.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ChatBucket {
    pub(crate) start: i64,
    pub(crate) messages: u32,
    pub(crate) emotes: u32,
    pub(crate) questions: u16,
    pub(crate) answered: u16,
    pub(crate) mentions: u16,
    pub(crate) toxic: u16,
    pub(crate) sentiment_sum: f64,
}

/// Event counts of one bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EventBucket {
    pub(crate) start: i64,
    pub(crate) moderation: u32,
    pub(crate) subs: u32,
    pub(crate) gifts: u32,
    pub(crate) raids: u32,
    pub(crate) bits: i64,
    pub(crate) raid_viewers: u64,
}

trait Started: Default {
    fn start(&self) -> i64;
    fn at(start: i64) -> Self;
}

impl Started for ChatBucket {
    fn start(&self) -> i64 {
        self.start
    }
    fn at(start: i64) -> Self {
        Self {
            start,
            ..Self::default()
        }
    }
}

impl Started for EventBucket {
    fn start(&self) -> i64 {
        self.start
    }
    fn at(start: i64) -> Self {
        Self {
            start,
            ..Self::default()
        }
    }
}

/// The bucket starting at `start`, created in order if missing.
fn slot<T: Started>(q: &mut VecDeque<T>, start: i64) -> &mut T {
    // Chat arrives nearly in order; a late line lands in its own (older) bucket.
    let pos = q.iter().rposition(|b| b.start() <= start);
    if let Some(i) = pos
        && q[i].start() == start
    {
        return &mut q[i];
    }
    if q.len() == q.capacity() {
        // A quarter more, not double: a quiet channel holds a few dozen buckets, and a
        // doubled deque was mostly empty slots.
        let want = (q.len() + q.len() / 4)
            .clamp(4, MAX_BUCKETS)
            .max(q.len() + 1);
        q.reserve_exact(want - q.len());
    }
    let i = pos.map_or(0, |i| i + 1);
    q.insert(i, T::at(start));
    &mut q[i]
}

/// Gives back most of a deque's room once it is less than half full (a channel that got
/// quieter), keeping a quarter spare so a steady channel does not reallocate back and forth.
fn shrink_if_sparse<T>(q: &mut VecDeque<T>) {
    if q.capacity() > 8 && q.len() < q.capacity() / 2 {
        q.shrink_to(q.len() + q.len() / 4);
    }
}

/// Both deques, each ordered by start, one entry per start at most.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Buckets {
    chat: VecDeque<ChatBucket>,
    events: VecDeque<EventBucket>,
}

impl Buckets {
    /// The chat counts of the bucket starting at `start`.
    pub(crate) fn chat_at(&mut self, start: i64) -> &mut ChatBucket {
        slot(&mut self.chat, start)
    }

    /// The event counts of the bucket starting at `start`.
    pub(crate) fn events_at(&mut self, start: i64) -> &mut EventBucket {
        slot(&mut self.events, start)
    }

    /// Frees the buckets that start before `oldest_kept`.
    pub(crate) fn age_out(&mut self, oldest_kept: i64) {
        while self.chat.front().is_some_and(|b| b.start < oldest_kept) {
            self.chat.pop_front();
        }
        while self.events.front().is_some_and(|b| b.start < oldest_kept) {
            self.events.pop_front();
        }
        shrink_if_sparse(&mut self.chat);
        shrink_if_sparse(&mut self.events);
    }

    /// Distinct bucket starts held (a bucket with both chat and events counts once).
    pub(crate) fn len(&self) -> usize {
        let both = self
            .chat
            .iter()
            .filter(|c| {
                self.events
                    .binary_search_by_key(&c.start, |e| e.start)
                    .is_ok()
            })
            .count();
        self.chat.len() + self.events.len() - both
    }

    /// Chat messages in buckets starting in `[lo, hi)`.
    pub(crate) fn messages_between(&self, lo: i64, hi: i64) -> u32 {
        self.chat
            .iter()
            .filter(|b| b.start >= lo && b.start < hi)
            .map(|b| b.messages)
            .sum()
    }

    /// Adds the buckets starting in `[from, current]` into `w`; returns their sentiment sum.
    pub(crate) fn sum_into(&self, w: &mut WindowStats, from: i64, current: i64) -> f64 {
        let mut sentiment = 0.0;
        for b in self.chat.iter().rev().take_while(|b| b.start >= from) {
            if b.start > current {
                continue;
            }
            w.messages += u64::from(b.messages);
            w.emotes += u64::from(b.emotes);
            w.questions += u32::from(b.questions);
            w.questions_answered += u32::from(b.answered);
            w.mentions += u32::from(b.mentions);
            w.toxic_messages += u32::from(b.toxic);
            sentiment += b.sentiment_sum;
        }
        for b in self.events.iter().rev().take_while(|b| b.start >= from) {
            if b.start > current {
                continue;
            }
            w.moderation_actions += b.moderation;
            w.subs += b.subs;
            w.gifts += b.gifts;
            w.bits += b.bits;
            w.raids += b.raids;
            w.raid_viewers += b.raid_viewers;
        }
        sentiment
    }
}

fn narrow(x: u32) -> u16 {
    u16::try_from(x).unwrap_or(u16::MAX)
}

/// One bucket with every counter: the snapshot shape (what the single bucket type was).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct WireBucket {
    start: i64,
    messages: u32,
    emotes: u32,
    questions: u32,
    answered: u32,
    mentions: u32,
    moderation: u32,
    toxic: u32,
    subs: u32,
    gifts: u32,
    bits: i64,
    raids: u32,
    raid_viewers: u64,
    sentiment_sum: f64,
}

impl WireBucket {
    fn chat(&self) -> Option<ChatBucket> {
        let c = ChatBucket {
            start: self.start,
            messages: self.messages,
            emotes: self.emotes,
            questions: narrow(self.questions),
            answered: narrow(self.answered),
            mentions: narrow(self.mentions),
            toxic: narrow(self.toxic),
            sentiment_sum: self.sentiment_sum,
        };
        (c != ChatBucket::at(self.start)).then_some(c)
    }

    fn events(&self) -> Option<EventBucket> {
        let e = EventBucket {
            start: self.start,
            moderation: self.moderation,
            subs: self.subs,
            gifts: self.gifts,
            raids: self.raids,
            bits: self.bits,
            raid_viewers: self.raid_viewers,
        };
        (e != EventBucket::at(self.start)).then_some(e)
    }

    fn add_chat(&mut self, c: &ChatBucket) {
        self.messages = c.messages;
        self.emotes = c.emotes;
        self.questions = u32::from(c.questions);
        self.answered = u32::from(c.answered);
        self.mentions = u32::from(c.mentions);
        self.toxic = u32::from(c.toxic);
        self.sentiment_sum = c.sentiment_sum;
    }

    fn add_events(&mut self, e: &EventBucket) {
        self.moderation = e.moderation;
        self.subs = e.subs;
        self.gifts = e.gifts;
        self.raids = e.raids;
        self.bits = e.bits;
        self.raid_viewers = e.raid_viewers;
    }
}

impl Serialize for Buckets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Merged by start, in order, as the single deque was.
        let (mut c, mut e) = (self.chat.iter().peekable(), self.events.iter().peekable());
        let merged = std::iter::from_fn(|| {
            let start = match (c.peek(), e.peek()) {
                (Some(x), Some(y)) => x.start.min(y.start),
                (Some(x), None) => x.start,
                (None, Some(y)) => y.start,
                (None, None) => return None,
            };
            let mut w = WireBucket {
                start,
                ..WireBucket::default()
            };
            if let Some(x) = c.next_if(|x| x.start == start) {
                w.add_chat(x);
            }
            if let Some(y) = e.next_if(|y| y.start == start) {
                w.add_events(y);
            }
            Some(w)
        });
        s.collect_seq(merged)
    }
}

impl<'de> Deserialize<'de> for Buckets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut wire = Vec::<WireBucket>::deserialize(d)?;
        wire.sort_by_key(|w| w.start);
        let mut out = Buckets::default();
        for w in &wire {
            // Merge rather than push: a hand-edited snapshot may repeat a start.
            if let Some(c) = w.chat() {
                let b = out.chat_at(w.start);
                b.messages += c.messages;
                b.emotes += c.emotes;
                b.questions = b.questions.saturating_add(c.questions);
                b.answered = b.answered.saturating_add(c.answered);
                b.mentions = b.mentions.saturating_add(c.mentions);
                b.toxic = b.toxic.saturating_add(c.toxic);
                b.sentiment_sum += c.sentiment_sum;
            }
            if let Some(e) = w.events() {
                let b = out.events_at(w.start);
                b.moderation += e.moderation;
                b.subs += e.subs;
                b.gifts += e.gifts;
                b.raids += e.raids;
                b.bits += e.bits;
                b.raid_viewers += e.raid_viewers;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_shape_is_the_old_single_bucket_list() {
        let mut b = Buckets::default();
        b.chat_at(10).messages = 3;
        b.chat_at(10).sentiment_sum = 1.5;
        b.events_at(10).subs = 1;
        b.events_at(5).bits = 100;
        b.chat_at(20).questions = 1;
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 3, "{json}");
        assert_eq!(json[0]["start"], 5);
        assert_eq!(json[0]["bits"], 100);
        assert_eq!(json[1]["messages"], 3);
        assert_eq!(json[1]["subs"], 1);
        assert_eq!(json[2]["questions"], 1);
        // Every counter is written, as before.
        assert_eq!(json[2].as_object().unwrap().len(), 14);
        let back: Buckets = serde_json::from_value(json).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn a_bucket_list_from_the_old_code_reads_back() {
        // Written by the single-bucket code (every field, all-zero buckets included).
        let old = r#"[
            {"start":0,"messages":2,"emotes":1,"questions":0,"answered":0,"mentions":0,
             "moderation":1,"toxic":0,"subs":0,"gifts":0,"bits":0,"raids":0,"raid_viewers":0,
             "sentiment_sum":0.5},
            {"start":5,"messages":0,"emotes":0,"questions":0,"answered":0,"mentions":0,
             "moderation":0,"toxic":0,"subs":0,"gifts":0,"bits":0,"raids":0,"raid_viewers":0,
             "sentiment_sum":0.0}
        ]"#;
        let b: Buckets = serde_json::from_str(old).unwrap();
        let mut w = WindowStats::default();
        let sentiment = b.sum_into(&mut w, 0, 5);
        assert_eq!((w.messages, w.emotes, w.moderation_actions), (2, 1, 1));
        assert!((sentiment - 0.5).abs() < 1e-12);
        assert_eq!(
            b.len(),
            1,
            "the empty bucket holds nothing, so it is not kept"
        );
    }

    #[test]
    fn deques_grow_to_the_window_not_to_a_power_of_two() {
        let mut b = Buckets::default();
        for i in 0..180 {
            b.chat_at(i * 5).messages += 1;
        }
        assert_eq!(b.len(), 180);
        assert!(b.chat.capacity() <= MAX_BUCKETS, "{}", b.chat.capacity());
        assert_eq!(b.events.capacity(), 0, "no event, no event bucket");
        assert_eq!(std::mem::size_of::<ChatBucket>(), 32);
    }
}

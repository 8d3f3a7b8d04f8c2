//! Sliding windows (1, 5 and 15 minutes) over a channel's chat and events, producing the
//! [`Signals`] every engine reads.
//!
//! Memory is bounded whatever the chat rate: counts live in 5-second buckets kept only for
//! seconds that saw activity (at most 180 for 15 minutes; none for an idle channel), the
//! chatter table is capped with least-recently-seen eviction, and every list (open
//! questions, first-timers, timeline, recent terms) has a fixed cap.
//!
//! Boundaries: a window of span S at time `now` covers the buckets whose start is at or
//! after `floor(now / 5 s) * 5 s - S + 5 s`, i.e. exactly S seconds of buckets including the
//! current one. A message stays in the 1-minute window for 60 s counted in whole buckets.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::buckets::Buckets;
use super::lists::{FirstTimers, Questions, Texts, Timeline};
use super::seen::SeenTable;
use super::signals::{ChatFacts, RaidInfo, Signals, WindowStats};
use crate::model::{EventKind, EventRecord};

/// Bucket width in seconds.
pub const BUCKET_SECS: i64 = 5;
/// The three window spans, in seconds.
pub const SPANS: [u32; 3] = [60, 300, 900];
/// Most chatters remembered before the least recently seen is evicted.
pub const MAX_CHATTERS: usize = 4096;
const MAX_OPEN_QUESTIONS: usize = 20;
const MAX_FIRST_TIMERS: usize = 20;
const MAX_TIMELINE: usize = 100;
const RECENT_TERMS_MESSAGES: usize = 200;
/// A question older than this is dropped from the open list (it is stale, not answered).
const QUESTION_TTL_SECS: i64 = 15 * 60;
/// A first-timer not greeted within this time is no longer worth a greeting hint.
const FIRST_TIMER_TTL_SECS: i64 = 10 * 60;
/// Weight of the newest completed minute in the long-run rate baseline.
const BASELINE_ALPHA: f64 = 0.1;

/// What the channel remembers about one chatter, as snapshots write it (the live table is
/// more compact: see `intel::seen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatterSeen {
    /// Messages seen from them (written as 0 since the table was compacted: never read).
    pub messages: u64,
    /// Their first message (within the channel's memory; its 5-second bucket's start in
    /// snapshots written since the table was compacted).
    pub first_seen: DateTime<Utc>,
    /// Their latest message (ditto).
    pub last_seen: DateTime<Utc>,
}

/// A notable moment on the channel's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    /// When.
    pub at: DateTime<Utc>,
    /// What kind (`raid`, `sub`, `gift`, `bits`, `moderation`, `hint`, `clip`, ...): a
    /// static name, owned only when read back from a snapshot.
    pub kind: Cow<'static, str>,
    /// One line for the streamer.
    pub text: String,
}

/// A frequent term in recent chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermCount {
    /// The term, lowercased.
    pub term: String,
    /// Occurrences in the last messages.
    pub count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Baseline {
    rate: f64,
    var: f64,
    minutes: u32,
    last_closed_minute: Option<i64>,
}

/// The windows and bounded tables of one channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamWindows {
    buckets: Buckets,
    // Keyed by a hash of the login, capped with least-recently-seen eviction.
    chatters: SeenTable,
    // The capped lists are records in one buffer each (see `intel::lists`).
    open_questions: Questions,
    first_timers: FirstTimers,
    last_raid: Option<RaidInfo>,
    last_message_at: Option<DateTime<Utc>>,
    first_activity: Option<DateTime<Utc>>,
    baseline: Baseline,
    recent_texts: Texts,
    timeline: Timeline,
}

fn bucket_start(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(BUCKET_SECS) * BUCKET_SECS
}

impl StreamWindows {
    /// Whether `login` has never spoken here (within the capped memory).
    pub fn is_first_time(&self, login: &str) -> bool {
        !self.chatters.contains(login)
    }

    /// Folds one chat message. `text` feeds the recent-terms table; `facts` carries what was
    /// derived from it.
    pub fn on_chat(&mut self, facts: &ChatFacts, text: &str) {
        let at = facts.at;
        let b = self.buckets.chat_at(bucket_start(at));
        b.messages += 1;
        b.emotes += facts.emotes;
        b.questions = b.questions.saturating_add(u16::from(facts.is_question));
        b.mentions = b
            .mentions
            .saturating_add(u16::from(facts.mentions_streamer));
        b.toxic = b.toxic.saturating_add(u16::from(facts.toxic));
        b.sentiment_sum += f64::from(facts.sentiment);
        self.last_message_at = Some(self.last_message_at.map_or(at, |t| t.max(at)));
        self.first_activity = Some(self.first_activity.map_or(at, |t| t.min(at)));

        self.chatters.observe(&facts.login, at, MAX_CHATTERS);
        if facts.first_time && !facts.is_staff {
            self.first_timers.push(MAX_FIRST_TIMERS, &facts.login, at);
        }
        if facts.is_staff {
            self.answer_from_staff(text, at);
        } else if facts.is_question {
            // The first 140 characters, copied exactly (a `collect` from `chars` over-reserves).
            let end = text.char_indices().nth(140).map_or(text.len(), |(i, _)| i);
            self.open_questions
                .push(MAX_OPEN_QUESTIONS, at, &facts.login, &text[..end]);
        }
        self.remember_terms(text);
    }

    /// A staff message answers the questions of everyone it @-mentions and greets the
    /// first-timers it names; with no mention it answers the newest open question, which is
    /// what a streamer reading chat usually replies to.
    fn answer_from_staff(&mut self, text: &str, at: DateTime<Utc>) {
        let lower = text.to_lowercase();
        let mentioned = |login: &str| {
            lower.match_indices(login).any(|(i, _)| {
                let before = lower[..i].chars().next_back();
                let after = lower[i + login.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
        };
        let before = self.open_questions.0.len();
        self.open_questions.retain(|q| !mentioned(q.login));
        let mut answered = (before - self.open_questions.0.len()) as u32;
        if answered == 0 && self.open_questions.0.len() > 0 {
            self.open_questions.0.pop_back();
            answered = 1;
        }
        self.first_timers.retain(|login, _| !mentioned(login));
        if answered > 0 {
            let b = self.buckets.chat_at(bucket_start(at));
            b.answered = b
                .answered
                .saturating_add(u16::try_from(answered).unwrap_or(u16::MAX));
        }
    }

    // Keeps what top terms read of the text (the words of its first 280 bytes that can
    // count, in one shared buffer: see `intel::lists`) and counts only when top terms are
    // asked for: per message this is a copy, not a dozen allocations, and the 200 messages
    // cost their words' bytes, not a heap block each.
    fn remember_terms(&mut self, text: &str) {
        let mut end = text.len().min(280);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.recent_texts.push(RECENT_TERMS_MESSAGES, &text[..end]);
    }

    /// Folds one channel event that arrived at `at` (the clock's time, not Twitch's).
    pub fn on_event(&mut self, e: &EventRecord, at: DateTime<Utc>) {
        let amount = e.amount.unwrap_or(1).max(0);
        let who = e.user_login.clone().unwrap_or_else(|| "anonymous".into());
        let start = bucket_start(at);
        // Only kinds that count something get an event bucket.
        let buckets = &mut self.buckets;
        let moment = match e.kind {
            EventKind::Sub | EventKind::Resub => {
                buckets.events_at(start).subs += 1;
                Some(("sub", format!("{who} subscribed")))
            }
            EventKind::SubGift | EventKind::GiftPaidUpgrade => {
                buckets.events_at(start).gifts += 1;
                None
            }
            EventKind::SubMysteryGift => {
                buckets.events_at(start).gifts += amount as u32;
                Some(("gift", format!("{who} gifted {amount} subs")))
            }
            EventKind::Bits => {
                buckets.events_at(start).bits += amount;
                (amount >= 100).then(|| ("bits", format!("{who} cheered {amount} bits")))
            }
            EventKind::Raid => {
                let b = buckets.events_at(start);
                b.raids += 1;
                b.raid_viewers += amount as u64;
                Some(("raid", format!("{who} raided with {amount} viewers")))
            }
            EventKind::Timeout
            | EventKind::Ban
            | EventKind::MessageDeleted
            | EventKind::ChatCleared => {
                buckets.events_at(start).moderation += 1;
                None
            }
            EventKind::Announcement | EventKind::OtherNotice | EventKind::RoomState => None,
        };
        if e.kind == EventKind::Raid {
            self.last_raid = Some(RaidInfo {
                from: who,
                viewers: amount as u64,
                at,
            });
        }
        if let Some((kind, text)) = moment {
            self.push_moment(at, kind, &text);
        }
    }

    /// Adds a notable moment (also used for hints and clip candidates).
    pub fn push_moment(&mut self, at: DateTime<Utc>, kind: &'static str, text: &str) {
        self.timeline.push(MAX_TIMELINE, at, kind, text);
    }

    /// The timeline, oldest first (read out of its compact records).
    pub fn timeline(&self) -> impl DoubleEndedIterator<Item = Moment> + '_ {
        self.timeline.iter()
    }

    /// The most frequent terms in the last 200 messages.
    pub fn top_terms(&self, k: usize) -> Vec<TermCount> {
        let mut counts: HashMap<String, u32> = HashMap::new();
        self.recent_texts.for_each(|text| {
            for w in super::lists::terms(text) {
                *counts.entry(w.to_lowercase()).or_default() += 1;
            }
        });
        let mut all: Vec<TermCount> = counts
            .into_iter()
            .filter(|(_, n)| *n >= 2)
            .map(|(term, count)| TermCount { term, count })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.term.cmp(&b.term)));
        all.truncate(k);
        all
    }

    /// Chatters remembered (capped).
    pub fn tracked_chatters(&self) -> usize {
        self.chatters.len()
    }

    /// 5-second buckets with activity held (at most 180 plus late arrivals being aged out).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Drops the windows part by part, calling `after` with each part's name once it is gone,
    /// so a counting allocator can tell what each part held (the footprint benchmark).
    pub fn drop_part_by_part(self, mut after: impl FnMut(&'static str)) {
        // Destructured without `..`: a new field must be named here, so it is measured too.
        let Self {
            buckets,
            chatters,
            open_questions,
            first_timers,
            last_raid,
            last_message_at: _,
            first_activity: _,
            baseline: _,
            recent_texts,
            timeline,
        } = self;
        drop(buckets);
        after("windows.buckets");
        drop(chatters);
        after("windows.chatters");
        drop((open_questions, first_timers, last_raid));
        after("windows.questions+first_timers");
        drop(recent_texts);
        after("windows.recent_texts");
        drop(timeline);
        after("windows.timeline");
    }

    /// Ages out old data and computes the signals at `now`.
    pub fn signals(&mut self, now: DateTime<Utc>) -> Signals {
        let current = bucket_start(now);
        let oldest_kept = current - i64::from(SPANS[2]) + BUCKET_SECS;
        self.fold_baseline(now);
        self.buckets.age_out(oldest_kept);
        let now_ts = now.timestamp();
        self.open_questions.retain_since(now_ts - QUESTION_TTL_SECS);
        self.first_timers
            .retain_since(now_ts - FIRST_TIMER_TTL_SECS);
        let [w1, w5, w15] = SPANS.map(|span| self.window(current, span));
        let (baseline, stddev) = if self.baseline.minutes >= 3 {
            (self.baseline.rate, self.baseline.var.sqrt())
        } else {
            // Cold start: the rate over the time actually observed (not spread over 15
            // minutes, which would make any chat look like a spike), with a wide spread so
            // nothing reads as a surge until a real baseline exists.
            let observed_min = self.first_activity.map_or(1.0, |t| {
                ((now - t).num_seconds() as f64 / 60.0).clamp(1.0, f64::from(SPANS[2]) / 60.0)
            });
            let rate = w15.messages as f64 / observed_min;
            (rate, rate.max(3.0))
        };
        Signals {
            now,
            w1,
            w5,
            w15,
            baseline_rate_per_min: baseline,
            rate_stddev_per_min: stddev,
            // Exact-sized: these lists are kept until the next tick.
            open_questions: {
                let mut v = Vec::with_capacity(self.open_questions.0.len());
                self.open_questions.for_each(|q| v.push(q.to_owned()));
                v
            },
            ungreeted_first_timers: {
                let mut v = Vec::with_capacity(self.first_timers.0.len());
                self.first_timers.for_each(|l, _| v.push(l.to_owned()));
                v
            },
            last_raid: self.last_raid.clone(),
            secs_since_last_message: self
                .last_message_at
                .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
        }
    }

    fn window(&self, current: i64, span: u32) -> WindowStats {
        let from = current - i64::from(span) + BUCKET_SECS;
        let mut w = WindowStats {
            span_secs: span,
            ..WindowStats::default()
        };
        let sentiment = self.buckets.sum_into(&mut w, from, current);
        w.messages_per_min = w.messages as f64 * 60.0 / f64::from(span);
        w.sentiment_mean = if w.messages > 0 {
            sentiment / w.messages as f64
        } else {
            0.0
        };
        let from_at = Utc.timestamp_opt(from, 0).single().unwrap_or_default();
        // Every chatter's `last_seen` is at or before `last_message_at` (both are set from the
        // same message in `on_chat`), so once the newest message has left the window nobody
        // in the table can count: skip the scan (thousands of entries on a channel that had
        // a crowd and went quiet, three times a tick).
        let nobody_in_window = self.last_message_at.is_some_and(|t| t < from_at);
        if !nobody_in_window {
            (w.unique_chatters, w.new_chatters) = self.chatters.count_since(from);
        }
        w.returning_chatters = w.unique_chatters - w.new_chatters;
        w
    }

    /// Folds each completed minute's message count into the long-run baseline (EMA of the
    /// rate and of its squared deviation). Idle minutes count as zero, up to an hour of them.
    fn fold_baseline(&mut self, now: DateTime<Utc>) {
        let this_minute = now.timestamp().div_euclid(60);
        let Some(last) = self.baseline.last_closed_minute else {
            if self.last_message_at.is_some() {
                self.baseline.last_closed_minute = Some(this_minute - 1);
            }
            return;
        };
        let first = (last + 1).max(this_minute - 60);
        for minute in first..this_minute {
            let (lo, hi) = (minute * 60, minute * 60 + 60);
            let count = self.buckets.messages_between(lo, hi);
            let rate = f64::from(count);
            let b = &mut self.baseline;
            if b.minutes == 0 {
                b.rate = rate;
            } else {
                let dev = rate - b.rate;
                b.rate += BASELINE_ALPHA * dev;
                b.var = (1.0 - BASELINE_ALPHA) * (b.var + BASELINE_ALPHA * dev * dev);
            }
            b.minutes += 1;
        }
        self.baseline.last_closed_minute = Some(this_minute - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChannelLogin;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn facts(login: &str, at: i64) -> ChatFacts {
        ChatFacts {
            login: login.into(),
            at: t(at),
            sentiment: 0.5,
            toxic: false,
            is_question: false,
            mentions_streamer: false,
            emotes: 1,
            is_staff: false,
            first_time: false,
        }
    }

    #[test]
    fn a_message_leaves_the_one_minute_window_exactly_at_its_boundary() {
        let mut w = StreamWindows::default();
        w.on_chat(&facts("ana", 0), "hello there");
        // 1_700_000_000 is a multiple of 5, so the message opens a bucket at t(0).
        assert_eq!(w.signals(t(59)).w1.messages, 1);
        assert_eq!(
            w.signals(t(60)).w1.messages,
            0,
            "gone once 60 s of buckets have passed"
        );
        assert_eq!(w.signals(t(299)).w5.messages, 1);
        assert_eq!(w.signals(t(300)).w5.messages, 0);
        assert_eq!(w.signals(t(899)).w15.messages, 1);
        assert_eq!(w.signals(t(900)).w15.messages, 0);
        assert_eq!(w.bucket_count(), 0, "aged-out buckets are freed");
    }

    #[test]
    fn rates_chatters_new_and_returning() {
        let mut w = StreamWindows::default();
        w.on_chat(&facts("old_timer", 0), "first");
        for i in 0..30 {
            w.on_chat(
                &facts(if i % 2 == 0 { "ana" } else { "bob" }, 600 + i),
                "hi",
            );
        }
        w.on_chat(&facts("old_timer", 630), "back again");
        let s = w.signals(t(640));
        assert_eq!(s.w1.messages, 31);
        assert!((s.w1.messages_per_min - 31.0).abs() < 1e-9);
        assert_eq!(s.w1.unique_chatters, 3);
        assert_eq!(s.w1.new_chatters, 2);
        assert_eq!(s.w1.returning_chatters, 1);
        assert!((s.w1.sentiment_mean - 0.5).abs() < 1e-6);
        assert_eq!(s.w1.emotes, 31);
    }

    #[test]
    fn staff_answers_questions_and_greets_first_timers() {
        let mut w = StreamWindows::default();
        let mut q = facts("curious", 0);
        q.is_question = true;
        q.first_time = true;
        w.on_chat(&q, "what game is this?");
        let mut q2 = facts("other", 1);
        q2.is_question = true;
        w.on_chat(&q2, "when is the next stream?");
        assert_eq!(w.signals(t(2)).open_questions.len(), 2);
        assert_eq!(w.signals(t(2)).ungreeted_first_timers, ["curious"]);
        let mut staff = facts("streamer", 3);
        staff.is_staff = true;
        w.on_chat(&staff, "@curious it's Celeste, welcome!");
        let s = w.signals(t(4));
        assert_eq!(s.open_questions.len(), 1);
        assert_eq!(s.open_questions[0].login, "other");
        assert!(s.ungreeted_first_timers.is_empty());
        assert_eq!(s.w1.questions, 2);
        assert_eq!(s.w1.questions_answered, 1);
    }

    #[test]
    fn events_count_and_the_raid_is_remembered() {
        let mut w = StreamWindows::default();
        let e = |kind, amount| EventRecord {
            event_id: format!("{kind:?}"),
            channel: ChannelLogin::parse("tester").unwrap(),
            kind,
            user_login: Some("raider".into()),
            amount: Some(amount),
            details: serde_json::Value::Null,
            occurred_at: t(10),
            seq: t(10).timestamp_micros(),
        };
        w.on_event(&e(EventKind::Raid, 430), t(10));
        w.on_event(&e(EventKind::SubMysteryGift, 20), t(10));
        w.on_event(&e(EventKind::Bits, 500), t(10));
        w.on_event(&e(EventKind::Timeout, 60), t(10));
        let s = w.signals(t(20));
        assert_eq!(
            (s.w1.raids, s.w1.raid_viewers, s.w1.gifts, s.w1.bits),
            (1, 430, 20, 500)
        );
        assert_eq!(s.w1.moderation_actions, 1);
        assert_eq!(s.last_raid.unwrap().viewers, 430);
        assert_eq!(w.timeline().count(), 3);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_unique_chatters() {
        let mut w = StreamWindows::default();
        for i in 0..50_000i64 {
            let mut f = facts(&format!("user{i}"), i / 10);
            f.is_question = true;
            f.first_time = true;
            w.on_chat(&f, "is this a unique question about something?");
        }
        let s = w.signals(t(5_000));
        assert!(w.tracked_chatters() <= MAX_CHATTERS);
        assert!(w.bucket_count() <= 180);
        assert!(s.open_questions.len() <= MAX_OPEN_QUESTIONS);
        assert!(s.ungreeted_first_timers.len() <= MAX_FIRST_TIMERS);
        assert!(w.recent_texts.len() <= RECENT_TERMS_MESSAGES);
    }

    #[test]
    fn baseline_learns_the_usual_rate_and_top_terms_rank_by_count() {
        let mut w = StreamWindows::default();
        for minute in 0..20 {
            for i in 0..10 {
                w.on_chat(
                    &facts("ana", minute * 60 + i * 5),
                    "celeste speedrun celeste",
                );
            }
            w.signals(t(minute * 60 + 59));
        }
        let s = w.signals(t(20 * 60 + 1));
        assert!(
            (s.baseline_rate_per_min - 10.0).abs() < 0.5,
            "{}",
            s.baseline_rate_per_min
        );
        let top = w.top_terms(2);
        assert_eq!(top[0].term, "celeste");
        assert_eq!(top[0].count, 400);
        assert_eq!(top[1].term, "speedrun");
    }
}

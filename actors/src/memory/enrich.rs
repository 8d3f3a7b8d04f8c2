//! Automatic memories from the stream, as pure decisions: which chat lines and clip moments
//! are worth remembering, and how many a channel may add per minute.
//!
//! Three detectors, each cheap enough for the channel actor's hot path:
//! - **Streamer facts**: the broadcaster tags the bot (`@byte my cat is called Miso`); the
//!   line minus the mention becomes a `fact` from `chat`.
//! - **Regulars' recurring topics**: once a chatter has sent [`EnrichConfig::regular_min_messages`]
//!   lines, a content word they used in [`EnrichConfig::topic_min_mentions`] different lines
//!   becomes a `viewer` memory ("alice often talks about speedruns"), once per (chatter, word).
//! - **Highlights**: every clip moment becomes a `highlight` with its reason.
//!
//! All of them pass a per-channel token bucket ([`RateLimiter`]), so a raid or a spam wave
//! cannot flood the embeddings pool; deduplication by meaning (a near-duplicate updates the
//! existing entry) happens in the memory service, which can see the stored vectors. State is
//! bounded: at most [`EnrichConfig::max_tracked_users`] chatters and
//! [`EnrichConfig::max_terms_per_user`] words each.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{MAX_TEXT_CHARS, MemoryCandidate, MemoryKind, MemorySource};
use crate::intel::clips::ClipCandidate;
use crate::intel::facts::mentions;

/// Tunables of the enrichment rules.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichConfig {
    /// Candidates a channel may emit per minute, on average.
    pub per_minute: f64,
    /// Candidates a channel may emit at once after a quiet spell.
    pub burst: f64,
    /// Lines a chatter must have sent before their topics count.
    pub regular_min_messages: u32,
    /// Distinct lines a word must appear in to be a chatter's topic.
    pub topic_min_mentions: u32,
    /// Chatters tracked at once (new ones are ignored beyond this).
    pub max_tracked_users: usize,
    /// Words tracked per chatter.
    pub max_terms_per_user: usize,
    /// Shortest fact worth keeping, in characters (after removing the mention).
    pub min_fact_chars: usize,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        Self {
            per_minute: 6.0,
            burst: 5.0,
            regular_min_messages: 5,
            topic_min_mentions: 3,
            max_tracked_users: 2_000,
            max_terms_per_user: 64,
            min_fact_chars: 8,
        }
    }
}

/// A token bucket over injected time: `burst` tokens, refilled at `per_minute`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimiter {
    per_minute: f64,
    burst: f64,
    tokens: f64,
    last: Option<DateTime<Utc>>,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(per_minute: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        Self {
            per_minute: per_minute.max(0.0),
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Takes a token at `now` if one is left. Time going backwards refills nothing.
    pub fn allow(&mut self, now: DateTime<Utc>) -> bool {
        if let Some(last) = self.last {
            let secs = (now - last).num_milliseconds().max(0) as f64 / 1000.0;
            self.tokens = (self.tokens + secs * self.per_minute / 60.0).min(self.burst);
        }
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the enricher needs to know of a chat line.
#[derive(Debug, Clone, Copy)]
pub struct ChatLine<'a> {
    /// The channel's login (the broadcaster's login).
    pub channel: &'a str,
    /// Sender's login.
    pub user_login: &'a str,
    /// Sender's display name.
    pub display_name: &'a str,
    /// Message text.
    pub text: &'a str,
    /// Twitch badges (`broadcaster/1,...`).
    pub badges: &'a str,
}

impl ChatLine<'_> {
    fn is_broadcaster(&self) -> bool {
        self.user_login.eq_ignore_ascii_case(self.channel)
            || self
                .badges
                .split(',')
                .any(|b| b.starts_with("broadcaster/"))
    }
}

#[derive(Debug, Clone, Default)]
struct UserTopics {
    lines: u32,
    terms: HashMap<String, u32>,
}

/// Counters of what the enricher decided, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnrichStats {
    /// Candidates emitted.
    pub emitted: u64,
    /// Candidates dropped by the rate limit.
    pub rate_limited: u64,
}

/// Per-channel enrichment state.
#[derive(Debug, Clone)]
pub struct Enricher {
    config: EnrichConfig,
    limiter: RateLimiter,
    users: HashMap<String, UserTopics>,
    remembered: HashSet<(String, String)>,
    stats: EnrichStats,
}

impl Default for Enricher {
    fn default() -> Self {
        Self::new(EnrichConfig::default())
    }
}

impl Enricher {
    /// Fresh state.
    pub fn new(config: EnrichConfig) -> Self {
        Self {
            limiter: RateLimiter::new(config.per_minute, config.burst),
            config,
            users: HashMap::new(),
            remembered: HashSet::new(),
            stats: EnrichStats::default(),
        }
    }

    /// What was decided so far.
    pub fn stats(&self) -> EnrichStats {
        self.stats
    }

    /// Folds one chat line; returns a candidate worth remembering, if any (rate limit
    /// applied). `bot` is the bot's login, whose mention by the broadcaster marks a fact.
    pub fn on_chat(
        &mut self,
        line: ChatLine<'_>,
        bot: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<MemoryCandidate> {
        if let Some(bot) = bot
            && line.is_broadcaster()
            && mentions(line.text, bot)
        {
            let fact = strip_mention(line.text, bot);
            if fact.chars().count() >= self.config.min_fact_chars {
                return self.limit(
                    MemoryCandidate {
                        kind: MemoryKind::Fact,
                        text: clip_text(&fact),
                        source: MemorySource::Chat,
                        weight: 2.0,
                    },
                    now,
                );
            }
            return None;
        }
        let topic = self.observe_topics(line)?;
        self.limit(
            MemoryCandidate {
                kind: MemoryKind::Viewer,
                text: format!("{} often talks about {topic}", line.display_name),
                source: MemorySource::Enrichment,
                weight: 1.0,
            },
            now,
        )
    }

    /// A clip moment becomes a highlight (rate limit applied).
    pub fn on_clip(&mut self, clip: &ClipCandidate) -> Option<MemoryCandidate> {
        let text = format!(
            "Highlight on {}: {}",
            clip.at.format("%Y-%m-%d %H:%M UTC"),
            clip.reason
        );
        self.limit(
            MemoryCandidate {
                kind: MemoryKind::Highlight,
                text: clip_text(&text),
                source: MemorySource::Enrichment,
                weight: 1.0 + clip.peak_strength as f32,
            },
            clip.at,
        )
    }

    fn limit(&mut self, c: MemoryCandidate, now: DateTime<Utc>) -> Option<MemoryCandidate> {
        if self.limiter.allow(now) {
            self.stats.emitted += 1;
            Some(c)
        } else {
            self.stats.rate_limited += 1;
            None
        }
    }

    /// Counts the line's content words for its sender; returns a word that just became one
    /// of a regular's topics.
    fn observe_topics(&mut self, line: ChatLine<'_>) -> Option<String> {
        let user = line.user_login.to_ascii_lowercase();
        if !self.users.contains_key(&user) && self.users.len() >= self.config.max_tracked_users {
            return None;
        }
        let topics = self.users.entry(user.clone()).or_default();
        topics.lines = topics.lines.saturating_add(1);
        let mut found = None;
        for word in content_words(line.text) {
            let full = topics.terms.len() >= self.config.max_terms_per_user;
            let count = match topics.terms.get_mut(&word) {
                Some(c) => c,
                None if !full => topics.terms.entry(word.clone()).or_insert(0),
                None => continue,
            };
            *count = count.saturating_add(1);
            if found.is_none()
                && *count >= self.config.topic_min_mentions
                && topics.lines >= self.config.regular_min_messages
                && !self.remembered.contains(&(user.clone(), word.clone()))
            {
                found = Some(word);
            }
        }
        let word = found?;
        self.remembered.insert((user, word.clone()));
        Some(word)
    }
}

/// Words that say nothing about a topic.
const STOPWORDS: &[&str] = &[
    "about", "after", "again", "also", "been", "before", "being", "cant", "come", "could", "does",
    "doing", "dont", "even", "from", "going", "gonna", "good", "have", "here", "just", "know",
    "like", "look", "lmao", "lol", "make", "more", "much", "need", "nice", "only", "really",
    "right", "same", "should", "some", "still", "sure", "take", "than", "thank", "thanks", "that",
    "thats", "their", "them", "then", "there", "they", "thing", "think", "this", "time", "want",
    "well", "were", "what", "when", "where", "which", "will", "with", "would", "yeah", "your",
    "youre",
];

/// Distinct lowercase content words of a line: 4 to 24 ASCII letters, no mentions, links or
/// stopwords. Emote names are mostly CamelCase and repeat a lot; they are lowercased like
/// any word, and the `regular_min_messages` gate keeps spam from dominating.
pub fn content_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split_whitespace() {
        if raw.starts_with('@') || raw.contains("://") || raw.starts_with("www.") {
            continue;
        }
        let word: String = raw
            .trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_ascii_lowercase();
        if !(4..=24).contains(&word.len())
            || !word.bytes().all(|b| b.is_ascii_lowercase())
            || STOPWORDS.contains(&word.as_str())
            || out.contains(&word)
        {
            continue;
        }
        out.push(word);
    }
    out
}

/// The line without `@bot` / `bot` (and a following `,` or `:`), trimmed.
pub fn strip_mention(text: &str, bot: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| {
            let bare = w
                .trim_start_matches('@')
                .trim_end_matches([',', ':', '!', '.']);
            !bare.eq_ignore_ascii_case(bot)
        })
        .collect();
    words.join(" ")
}

fn clip_text(s: &str) -> String {
    s.chars().take(MAX_TEXT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn line<'a>(user: &'a str, text: &'a str) -> ChatLine<'a> {
        ChatLine {
            channel: "streamer",
            user_login: user,
            display_name: user,
            text,
            badges: "",
        }
    }

    #[test]
    fn broadcaster_tagging_the_bot_states_a_fact() {
        let mut e = Enricher::default();
        let c = e
            .on_chat(
                line("streamer", "@ByteBot my cat is called Miso"),
                Some("bytebot"),
                t(0),
            )
            .unwrap();
        assert_eq!(c.kind, MemoryKind::Fact);
        assert_eq!(c.source, MemorySource::Chat);
        assert_eq!(c.text, "my cat is called Miso");
        // A viewer tagging the bot states nothing about the channel.
        assert!(
            e.on_chat(
                line("viewer1", "@bytebot my cat is called Tom"),
                Some("bytebot"),
                t(1)
            )
            .is_none()
        );
        // Too short once the mention is gone.
        assert!(
            e.on_chat(line("streamer", "bytebot: hi"), Some("bytebot"), t(2))
                .is_none()
        );
        // Without a bot identity nothing is a fact.
        assert!(
            e.on_chat(line("streamer", "@bytebot my dog is Rex"), None, t(3))
                .map(|c| c.kind)
                != Some(MemoryKind::Fact)
        );
    }

    #[test]
    fn the_broadcaster_badge_counts_too() {
        let mut e = Enricher::default();
        let mut l = line("someoneelse", "bytebot, we stream every friday at 8pm");
        l.badges = "broadcaster/1,subscriber/12";
        let c = e.on_chat(l, Some("bytebot"), t(0)).unwrap();
        assert_eq!(c.text, "we stream every friday at 8pm");
    }

    #[test]
    fn a_regulars_recurring_word_becomes_a_topic_once() {
        let mut e = Enricher::default();
        let lines = [
            "speedruns are the best",
            "hello chat",
            "did you see that speedruns record",
            "gg",
            "speedruns again tonight?",
            "speedruns speedruns",
            "love speedruns",
        ];
        let got: Vec<_> = lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| e.on_chat(line("alice", l), None, t(i as i64)))
            .collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].kind, MemoryKind::Viewer);
        assert_eq!(got[0].text, "alice often talks about speedruns");
    }

    #[test]
    fn content_words_skip_noise() {
        assert_eq!(
            content_words("@bob check https://x.io THIS Speedrun speedrun!! ok 1234 about"),
            ["check", "speedrun"]
        );
    }

    #[test]
    fn strip_mention_keeps_the_rest() {
        assert_eq!(
            strip_mention("@Bot, my name is Ann", "bot"),
            "my name is Ann"
        );
        assert_eq!(
            strip_mention("hey bot: rules are simple", "bot"),
            "hey rules are simple"
        );
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_the_refill_rate() {
        let mut r = RateLimiter::new(6.0, 3.0);
        assert!(r.allow(t(0)) && r.allow(t(0)) && r.allow(t(0)));
        assert!(!r.allow(t(0)));
        // 6 per minute = one every 10 s.
        assert!(!r.allow(t(9)));
        assert!(r.allow(t(10)));
        assert!(!r.allow(t(11)));
    }

    #[test]
    fn tracked_users_are_bounded() {
        let mut e = Enricher::new(EnrichConfig {
            max_tracked_users: 3,
            ..EnrichConfig::default()
        });
        for i in 0..10 {
            e.on_chat(line(&format!("user{i}"), "hello there"), None, t(i));
        }
        assert_eq!(e.users.len(), 3);
    }

    proptest! {
        /// Over any stretch of time, the limiter never allows more than the burst plus
        /// what the refill rate earns, whatever the arrival pattern.
        #[test]
        fn the_limiter_never_exceeds_its_budget(
            gaps in proptest::collection::vec(0i64..20_000, 1..300),
            per_minute in 1.0f64..60.0,
            burst in 1.0f64..10.0,
        ) {
            let mut r = RateLimiter::new(per_minute, burst);
            let mut now_ms = 0i64;
            let mut allowed = 0u64;
            for g in &gaps {
                now_ms += g;
                if r.allow(t(0) + chrono::Duration::milliseconds(now_ms)) {
                    allowed += 1;
                }
            }
            let budget = burst.max(1.0) + (now_ms as f64 / 60_000.0) * per_minute;
            prop_assert!(allowed as f64 <= budget + 1e-9, "allowed {allowed} > budget {budget}");
        }

        /// Whatever chat says, the enricher's state stays within its bounds and every
        /// candidate's text fits the column.
        #[test]
        fn state_and_texts_stay_bounded(
            msgs in proptest::collection::vec(("[a-e]{4}", "[a-z @]{0,80}"), 0..200),
        ) {
            let cfg = EnrichConfig { max_tracked_users: 3, max_terms_per_user: 5, ..EnrichConfig::default() };
            let mut e = Enricher::new(cfg);
            for (i, (user, text)) in msgs.iter().enumerate() {
                if let Some(c) = e.on_chat(line(user, text), Some("bytebot"), t(i as i64 * 30)) {
                    prop_assert!(!c.text.is_empty() && c.text.chars().count() <= MAX_TEXT_CHARS);
                }
            }
            prop_assert!(e.users.len() <= 3);
            prop_assert!(e.users.values().all(|u| u.terms.len() <= 5));
        }
    }
}

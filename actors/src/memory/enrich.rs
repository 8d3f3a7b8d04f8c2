//! Automatic memories from the stream, as pure decisions: which chat lines and clip moments
//! are worth remembering, and how many a channel may add per minute.
//!
//! Three detectors, each cheap enough for the channel actor's hot path:
//! - **Streamer facts**: the broadcaster tags the bot (`@byte my cat is called Miso`); the
//!   line minus the mention becomes a `fact` from `chat`.
//! - **Regulars' recurring topics**: once a chatter has sent [`EnrichConfig::regular_min_messages`]
//!   lines, a content word they used in [`EnrichConfig::topic_min_mentions`] different lines
//!   becomes a `viewer` memory ("alice often talks about speedruns"), once per (chatter, word).
//! - **Highlights**: every clip moment becomes a `highlight` with its reason and time.
//!
//! # Emotes are not topics
//! A viewer who spams `PogChamp` does not "often talk about pogchamp". A token is an emote,
//! never a content word, when it is:
//! - inside a range of the line's `emotes` tag (Twitch's own, exact: see
//!   [`Enricher::on_chat_tagged`]), or the name of an emote this channel's chat was seen
//!   using through that tag (a viewer without the subscription types the same name untagged);
//! - a Twitch global or BTTV/FFZ/7TV emote the sentiment lexicon knows
//!   (`actors/data/sentiment_lexicon.tsv`, `emote` entries, exact case), or one of the
//!   emote names chat types as plain words (`kekw`, `poggers`, ...);
//! - emote-shaped: a capital right after a lower-case letter (`PogChamp`, `monkaS`,
//!   `catJAM`, channel emotes such as `xqcL`). Real words written that way (`iPhone`) are
//!   lost as topics; that is the price of not learning spam;
//! - a laugh or a stretched word (`hahaha`, `lolol`, `gooood`), or anything that is not
//!   4 to 24 ASCII letters (emoji, numbers, very short tokens).
//!
//! A line with no content word left (emote-only, emoji-only) does not count towards making
//! its sender a regular either.
//!
//! # Budgets
//! Chat-derived candidates (facts, topics) pass one per-channel token bucket
//! ([`RateLimiter`]) and highlights another, so a chatty channel's topics can never use up
//! the budget its clip moments need. Both keep a raid or a spam wave from flooding the
//! embeddings pool. Deduplication by meaning (a near-duplicate updates the existing entry)
//! happens in the memory service, which can see the stored vectors, within the
//! [`super::MergeScope`] the texts written here define ([`viewer_subject`],
//! [`highlight_moment`]). State is bounded: at most [`EnrichConfig::max_tracked_users`]
//! chatters, [`EnrichConfig::max_terms_per_user`] words each, and [`MAX_LEARNT_EMOTES`]
//! learnt emote names.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::{MAX_TEXT_CHARS, MemoryCandidate, MemoryKind, MemorySource};
use crate::intel::clips::ClipCandidate;
use crate::intel::facts::{mentions, tagged_emotes};

/// Emote names learnt from a channel's `emotes` tags, at most.
pub const MAX_LEARNT_EMOTES: usize = 512;

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
    /// Highlights a channel may emit per minute, on average (a budget of their own).
    pub highlights_per_minute: f64,
    /// Highlights a channel may emit at once.
    pub highlights_burst: f64,
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
            // Clip moments are at least a minute apart (the detector's gap): two a minute
            // never drops a real one.
            highlights_per_minute: 2.0,
            highlights_burst: 2.0,
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
    terms: HashMap<String, Term>,
}

/// One of a chatter's words: in how many lines, and whether it was already offered as a
/// memory (kept here, not in a set of (chatter, word) pairs, so checking it costs no copies).
#[derive(Debug, Clone, Copy, Default)]
struct Term {
    mentions: u32,
    remembered: bool,
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
    highlights: RateLimiter,
    users: HashMap<String, UserTopics>,
    /// Emote names seen in this channel's `emotes` tags.
    emotes: HashSet<String>,
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
            highlights: RateLimiter::new(config.highlights_per_minute, config.highlights_burst),
            config,
            users: HashMap::new(),
            emotes: HashSet::new(),
            stats: EnrichStats::default(),
        }
    }

    /// What was decided so far.
    pub fn stats(&self) -> EnrichStats {
        self.stats
    }

    /// Folds one chat line; returns a candidate worth remembering, if any (rate limit
    /// applied). `bot` is the bot's login, whose mention by the broadcaster marks a fact.
    /// Emotes are recognised by name and shape only; [`Enricher::on_chat_tagged`] also uses
    /// the line's `emotes` tag.
    pub fn on_chat(
        &mut self,
        line: ChatLine<'_>,
        bot: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<MemoryCandidate> {
        self.on_chat_tagged(line, "", bot, now)
    }

    /// [`Enricher::on_chat`] with the line's Twitch `emotes` tag (`id:start-end,...`, char
    /// ranges; `ChatRecord::emotes`): the tokens it covers are emotes, and their names are
    /// learnt for the channel so untagged uses of them are emotes too.
    pub fn on_chat_tagged(
        &mut self,
        line: ChatLine<'_>,
        emotes_tag: &str,
        bot: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<MemoryCandidate> {
        let tagged = tagged_emotes(line.text, emotes_tag);
        for name in &tagged {
            if self.emotes.len() < MAX_LEARNT_EMOTES && !self.emotes.contains(*name) {
                self.emotes.insert((*name).to_owned());
            }
        }
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
        let topic = self.observe_topics(line, &tagged)?;
        self.limit(
            MemoryCandidate {
                kind: MemoryKind::Viewer,
                text: clip_text(&viewer_text(line.display_name, &topic)),
                source: MemorySource::Enrichment,
                weight: 1.0,
            },
            now,
        )
    }

    /// A clip moment becomes a highlight (the highlights' own rate limit applied).
    pub fn on_clip(&mut self, clip: &ClipCandidate) -> Option<MemoryCandidate> {
        let candidate = MemoryCandidate {
            kind: MemoryKind::Highlight,
            text: clip_text(&highlight_text(clip.at, &clip.reason)),
            source: MemorySource::Enrichment,
            weight: 1.0 + clip.peak_strength as f32,
        };
        if self.highlights.allow(clip.at) {
            self.stats.emitted += 1;
            Some(candidate)
        } else {
            self.stats.rate_limited += 1;
            None
        }
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
    fn observe_topics(&mut self, line: ChatLine<'_>, tagged: &[&str]) -> Option<String> {
        // Twitch sends logins in lower case: copy only a login that is not.
        let user: Cow<'_, str> = if line.user_login.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(line.user_login.to_ascii_lowercase())
        } else {
            Cow::Borrowed(line.user_login)
        };
        let known = self.users.contains_key(user.as_ref());
        if !known && self.users.len() >= self.config.max_tracked_users {
            return None;
        }
        let learnt = &self.emotes;
        let words = words_of(line.text, |token| {
            tagged.contains(&token) || learnt.contains(token)
        });
        if words.is_empty() {
            // Emote-only or emoji-only: spam, not conversation.
            return None;
        }
        if !known {
            self.users.insert(user.to_string(), UserTopics::default());
        }
        let topics = self.users.get_mut(user.as_ref())?;
        topics.lines = topics.lines.saturating_add(1);
        let mut found = None;
        for word in words {
            let full = topics.terms.len() >= self.config.max_terms_per_user;
            let term = match topics.terms.get_mut(&word) {
                Some(t) => t,
                None if !full => topics.terms.entry(word.clone()).or_default(),
                None => continue,
            };
            term.mentions = term.mentions.saturating_add(1);
            if found.is_none()
                && term.mentions >= self.config.topic_min_mentions
                && topics.lines >= self.config.regular_min_messages
                && !term.remembered
            {
                term.remembered = true;
                found = Some(word);
            }
        }
        found
    }
}

/// Words that say nothing about a topic. Sorted: looked up by binary search (a test checks).
const STOPWORDS: &[&str] = &[
    "about", "after", "again", "also", "been", "before", "being", "cant", "come", "could", "does",
    "doing", "dont", "even", "from", "going", "gonna", "good", "have", "here", "just", "know",
    "like", "lmao", "lol", "look", "make", "more", "much", "need", "nice", "only", "really",
    "right", "same", "should", "some", "still", "sure", "take", "than", "thank", "thanks", "that",
    "thats", "their", "them", "then", "there", "they", "thing", "think", "this", "time", "want",
    "well", "were", "what", "when", "where", "which", "will", "with", "would", "yeah", "your",
    "youre",
];

/// Distinct lowercase content words of a line: 4 to 24 ASCII letters, no mentions, links,
/// stopwords, emotes (by name or shape, see the module doc), laughs or stretched words.
pub fn content_words(text: &str) -> Vec<String> {
    words_of(text, |_| false)
}

/// Shortest and longest content word, in ASCII letters.
const WORD_LEN: std::ops::RangeInclusive<usize> = 4..=24;

/// [`content_words`], with `is_channel_emote` naming further emotes (tagged or learnt).
///
/// Runs for every chat line of every channel, so the tests are ordered by cost: a token that
/// is not 4 to 24 ASCII letters can never be a word, whatever else holds, and is dropped
/// before any lookup; the lower-case copy is made on the stack; only a word that is kept is
/// allocated.
fn words_of(text: &str, is_channel_emote: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut buf = [0u8; 24];
    for raw in text.split_whitespace() {
        if raw.starts_with('@') || raw.contains("://") || raw.starts_with("www.") {
            continue;
        }
        let token = raw.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if !WORD_LEN.contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_alphabetic()) {
            continue;
        }
        let lower = &mut buf[..token.len()];
        lower.copy_from_slice(token.as_bytes());
        lower.make_ascii_lowercase();
        let Ok(word) = std::str::from_utf8(lower) else {
            continue;
        };
        if STOPWORDS.binary_search(&word).is_ok()
            || is_laugh_or_stretched(word)
            || out.iter().any(|w| w == word)
            || is_emote_lowered(token, word)
            || is_channel_emote(raw)
            || is_channel_emote(token)
        {
            continue;
        }
        out.push(word.to_owned());
    }
    out
}

/// Emote names the sentiment lexicon knows (`emote` entries, exact case): Twitch globals
/// and common BTTV/FFZ/7TV emotes. One list for both, so a new emote is added once.
static LEXICON_EMOTES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/sentiment_lexicon.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let (token, tags) = (cols.next()?, cols.nth(1)?);
            tags.split(',').any(|t| t == "emote").then_some(token)
        })
        .collect()
});

/// Emote names chat types in lower case as plain words (the lexicon scores them as words).
/// Sorted: looked up by binary search (a test checks).
const EMOTE_WORDS: &[&str] = &[
    "bedge",
    "biblethump",
    "catjam",
    "copium",
    "feelsbadman",
    "feelsgoodman",
    "hypers",
    "icant",
    "jebaited",
    "kappa",
    "kekw",
    "kreygasm",
    "lulw",
    "madge",
    "monkas",
    "monkaw",
    "notlikethis",
    "omegalul",
    "pagman",
    "peepohappy",
    "peeposad",
    "pepega",
    "pepehands",
    "pepelaugh",
    "pogchamp",
    "poggers",
    "pogu",
    "residentsleeper",
    "sadge",
    "weirdchamp",
    "widepeepohappy",
];

/// Whether a token (punctuation trimmed, original case) is an emote by name or shape.
pub fn is_emote(token: &str) -> bool {
    !token.is_empty() && is_emote_lowered(token, &token.to_ascii_lowercase())
}

/// [`is_emote`] with the token's lower-case form already made.
fn is_emote_lowered(token: &str, lower: &str) -> bool {
    // A capital right after a lower-case letter: PogChamp, monkaS, catJAM, xqcL.
    let shaped = token
        .as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
    shaped || EMOTE_WORDS.binary_search(&lower).is_ok() || LEXICON_EMOTES.contains(token)
}

/// `hahaha`, `lolol`, `hehe` (a one- or two-letter unit repeated), or a letter written
/// three times in a row (`gooood`, `noooo`): feelings, not topics.
fn is_laugh_or_stretched(word: &str) -> bool {
    let b = word.as_bytes();
    let stretched = b.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]);
    let periodic = |p: usize| b.len() >= 2 * p && (p..b.len()).all(|i| b[i] == b[i - p]);
    stretched || periodic(1) || periodic(2)
}

/// The text of a regular's topic memory. [`viewer_subject`] reads the viewer back.
pub fn viewer_text(display_name: &str, topic: &str) -> String {
    format!("{display_name}{VIEWER_SEP}{topic}")
}

const VIEWER_SEP: &str = " often talks about ";

/// Who a viewer memory written by [`viewer_text`] is about (lower case), if it is one.
pub fn viewer_subject(text: &str) -> Option<String> {
    let (name, topic) = text.split_once(VIEWER_SEP)?;
    // The same rule as the migration's backfill (`^(\S+) often talks about \S`).
    let topic_starts = topic.starts_with(|c: char| !c.is_whitespace());
    (!name.is_empty() && !name.contains(char::is_whitespace) && topic_starts)
        .then(|| name.to_lowercase())
}

/// The text of a highlight memory. [`highlight_moment`] reads the time back (to the minute).
pub fn highlight_text(at: DateTime<Utc>, reason: &str) -> String {
    format!("{HIGHLIGHT_PREFIX}{}: {reason}", at.format(HIGHLIGHT_TIME))
}

const HIGHLIGHT_PREFIX: &str = "Highlight on ";
const HIGHLIGHT_TIME: &str = "%Y-%m-%d %H:%M UTC";

/// When the moment of a highlight written by [`highlight_text`] happened (to the minute).
pub fn highlight_moment(text: &str) -> Option<DateTime<Utc>> {
    let rest = text.strip_prefix(HIGHLIGHT_PREFIX)?;
    // "YYYY-MM-DD HH:MM UTC" is 20 ASCII characters, then ": ".
    let (stamp, tail) = (rest.get(..20)?, rest.get(20..)?);
    if !tail.starts_with(": ") {
        return None;
    }
    NaiveDateTime::parse_from_str(stamp, HIGHLIGHT_TIME)
        .ok()
        .map(|t| t.and_utc())
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
    fn word_lists_are_sorted_for_binary_search() {
        for list in [STOPWORDS, EMOTE_WORDS] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
        assert!(STOPWORDS.binary_search(&"youre").is_ok());
        assert!(EMOTE_WORDS.binary_search(&"kekw").is_ok());
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

    #[test]
    fn emote_spam_never_becomes_a_topic() {
        let mut e = Enricher::default();
        let spam = [
            "PogChamp PogChamp",
            "KEKW KEKW KEKW",
            "catJAM catJAM",
            "monkaS",
            "xqcL xqcL",
            "LUL LUL",
            "Kappa",
            "pogchamp poggers",
            "hahahaha",
            "LOLOLOL",
            "\u{1F525}\u{1F525}\u{1F525}",
            "gg ez",
        ];
        for i in 0..60 {
            let c = e.on_chat(line("spammer", spam[i % spam.len()]), None, t(i as i64));
            assert_eq!(c, None, "line {i}");
        }
        // Emote-only lines are not conversation: the spammer is not even a regular.
        assert!(e.users.get("spammer").is_none_or(|u| u.lines == 0));
        assert_eq!(e.stats(), EnrichStats::default(), "no budget spent");
        // Emotes mixed into real talk are skipped; the real topic still counts.
        let mut e = Enricher::default();
        let got: Vec<_> = (0..6)
            .filter_map(|i| {
                let text = ["speedruns PogChamp PogChamp", "KEKW speedruns KEKW"][i % 2];
                e.on_chat(line("alice", text), None, t(i as i64))
            })
            .collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].text, "alice often talks about speedruns");
    }

    #[test]
    fn emotes_by_name_and_shape() {
        for emote in [
            "PogChamp", "KEKW", "LUL", "Kappa", "monkaS", "catJAM", "xqcL", "pokiHi", "kekw",
            "OMEGALUL", "Sadge", "EZ", "<3",
        ] {
            assert!(is_emote(emote), "{emote}");
        }
        for word in ["speedruns", "Zelda", "ZELDA", "pizza", "listening"] {
            assert!(!is_emote(word), "{word}");
        }
        assert_eq!(
            content_words("hahaha gooood lolol hehe speedrun \u{1F525}\u{1F525} ok"),
            ["speedrun"]
        );
    }

    #[test]
    fn tagged_emotes_are_skipped_by_position_and_learnt() {
        let mut e = Enricher::default();
        // "Speedy" is the channel's emote (chars 0-5 and 18-23): not a word, though it looks
        // like one; "tonight" is a word.
        let tagged = line("bob", "Speedy run tonight Speedy");
        let lines: Vec<_> = (0..6)
            .filter_map(|i| e.on_chat_tagged(tagged, "301:0-5,19-24", None, t(i)))
            .collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "bob often talks about tonight");
        assert!(e.users["bob"].terms.contains_key("tonight"));
        assert!(!e.users["bob"].terms.contains_key("speedy"));
        // Learnt: typed untagged by someone else, it is still the emote.
        for i in 0..6 {
            e.on_chat(line("carol", "Speedy Speedy pizza"), None, t(10 + i));
        }
        assert!(!e.users["carol"].terms.contains_key("speedy"));
        assert!(e.users["carol"].terms.contains_key("pizza"));
    }

    #[test]
    fn chatty_regulars_do_not_starve_highlights() {
        let mut e = Enricher::default();
        // 40 regulars each reaching a topic in the same minute: far past the chat budget.
        let mut topics = 0;
        for u in 0..40 {
            for i in 0..5 {
                let user = format!("regular{u}");
                let text = format!("{} speedruns", ["alpha", "bravo", "charlie"][i % 3]);
                if e.on_chat(line(&user, &text), None, t(i as i64)).is_some() {
                    topics += 1;
                }
            }
        }
        assert_eq!(topics, 5, "the chat budget's burst");
        assert!(e.stats().rate_limited > 0);
        let clip = ClipCandidate {
            id: "clip-1".into(),
            at: t(30),
            suggested_start: t(-30),
            strength: 0.8,
            peak_strength: 0.8,
            reason: "chat 5x faster than usual".into(),
            evidence: Default::default(),
        };
        let h = e.on_clip(&clip).expect("the highlight has its own budget");
        assert_eq!(h.kind, MemoryKind::Highlight);
    }

    #[test]
    fn texts_say_whom_and_when() {
        assert_eq!(
            viewer_subject(&viewer_text("Alice_99", "speedruns")),
            Some("alice_99".into())
        );
        assert_eq!(viewer_subject("alice is a moderator"), None);
        assert_eq!(viewer_subject("two words often talks about x"), None);
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 20, 6, 41).unwrap();
        let text = highlight_text(at, "chat 5x faster than usual: 80 msg/min");
        assert_eq!(
            text,
            "Highlight on 2026-03-01 20:06 UTC: chat 5x faster than usual: 80 msg/min"
        );
        assert_eq!(
            highlight_moment(&text),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 20, 6, 0).unwrap())
        );
        assert_eq!(highlight_moment("Highlight on the boss fight"), None);
        assert_eq!(highlight_moment("Highlight on 2026-03-01 20:06 UTC"), None);
    }

    proptest! {
        /// Whatever mix of words, emotes, laughs and emoji chat sends, a topic memory names
        /// a real word, never an emote.
        #[test]
        fn topics_are_never_emotes(
            picks in proptest::collection::vec((0usize..4, proptest::collection::vec(0usize..16, 1..6)), 1..300),
        ) {
            const WORDS: [&str; 4] = ["speedruns", "zelda", "pizza", "music"];
            const OTHER: [&str; 12] = [
                "PogChamp", "KEKW", "LUL", "catJAM", "monkaS", "Kappa", "hahaha", "\u{1F525}",
                "xqcL", "poggers", "gooood", "OMEGALUL",
            ];
            let mut e = Enricher::new(EnrichConfig { per_minute: 600.0, burst: 100.0, ..EnrichConfig::default() });
            for (i, (user, tokens)) in picks.iter().enumerate() {
                let text: Vec<&str> = tokens
                    .iter()
                    .map(|&k| if k < 4 { WORDS[k] } else { OTHER[k - 4] })
                    .collect();
                let user = format!("user{user}");
                if let Some(c) = e.on_chat(line(&user, &text.join(" ")), None, t(i as i64)) {
                    let topic = c.text.rsplit(' ').next().unwrap();
                    prop_assert!(WORDS.contains(&topic), "{}", c.text);
                }
            }
        }

        /// A viewer memory's subject and a highlight's moment read back from the text as
        /// written, whatever the name, topic, time or reason.
        #[test]
        fn whom_and_when_round_trip(
            name in "[A-Za-z0-9_]{1,25}",
            topic in "[a-z]{4,24}",
            secs in 0i64..4_000_000_000,
            reason in "[ -~]{0,80}",
        ) {
            prop_assert_eq!(viewer_subject(&viewer_text(&name, &topic)), Some(name.to_lowercase()));
            let at = Utc.timestamp_opt(secs, 0).unwrap();
            let minute = Utc.timestamp_opt(secs - secs.rem_euclid(60), 0).unwrap();
            prop_assert_eq!(highlight_moment(&highlight_text(at, &reason)), Some(minute));
        }
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

//! The inputs every intelligence engine reads: per-message facts derived once on arrival,
//! and per-window aggregates computed from them. Plain data, so each engine is a pure
//! function of what it is shown and can be tested without an actor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What one chat message tells us, derived once when it arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatFacts {
    /// Sender's login.
    pub login: String,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// Sentiment in [-1, 1] (0 when nothing scored).
    pub sentiment: f32,
    /// The lexicon flagged it as abusive or hostile.
    pub toxic: bool,
    /// Looks like a question to the streamer or chat.
    pub is_question: bool,
    /// Mentions the streamer or the bot.
    pub mentions_streamer: bool,
    /// Emote occurrences (tag ranges plus known third-party emote words).
    pub emotes: u32,
    /// The sender is the broadcaster or a moderator (their messages can answer questions).
    pub is_staff: bool,
    /// First message from this login the channel has seen (within its memory).
    pub first_time: bool,
}

/// Aggregates over one sliding window ending at [`Signals::now`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// Window length in seconds (60, 300 or 900).
    pub span_secs: u32,
    /// Chat messages in the window.
    pub messages: u64,
    /// Messages per minute over the window.
    pub messages_per_min: f64,
    /// Distinct chatters in the window.
    pub unique_chatters: u32,
    /// Chatters whose first-ever message is in the window.
    pub new_chatters: u32,
    /// Chatters in the window who had spoken before it.
    pub returning_chatters: u32,
    /// Emote occurrences.
    pub emotes: u64,
    /// Questions asked.
    pub questions: u32,
    /// Of those, answered (the streamer, a moderator or the bot spoke after them).
    pub questions_answered: u32,
    /// Messages mentioning the streamer or the bot.
    pub mentions: u32,
    /// Timeouts, bans and deleted messages.
    pub moderation_actions: u32,
    /// Messages the lexicon flagged as toxic.
    pub toxic_messages: u32,
    /// New subs and resubs.
    pub subs: u32,
    /// Gifted subs (a mystery gift counts its gift count).
    pub gifts: u32,
    /// Bits cheered.
    pub bits: i64,
    /// Raids received.
    pub raids: u32,
    /// Viewers brought by those raids.
    pub raid_viewers: u64,
    /// Mean sentiment of the window's messages, in [-1, 1].
    pub sentiment_mean: f64,
}

/// A question nobody has answered yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenQuestion {
    /// Who asked.
    pub login: String,
    /// What they asked (truncated).
    pub text: String,
    /// When.
    pub asked_at: DateTime<Utc>,
}

/// The most recent raid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaidInfo {
    /// The raiding channel.
    pub from: String,
    /// Viewers it brought.
    pub viewers: u64,
    /// When it arrived.
    pub at: DateTime<Utc>,
}

/// Everything the engines see at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// The instant (from the injected clock).
    pub now: DateTime<Utc>,
    /// Last minute.
    pub w1: WindowStats,
    /// Last 5 minutes.
    pub w5: WindowStats,
    /// Last 15 minutes.
    pub w15: WindowStats,
    /// Long-run typical messages/min for this channel (slow moving average).
    pub baseline_rate_per_min: f64,
    /// Spread of per-minute rates around that baseline (for z-scores).
    pub rate_stddev_per_min: f64,
    /// Unanswered questions, oldest first (capped).
    pub open_questions: Vec<OpenQuestion>,
    /// First-time chatters nobody has greeted yet, oldest first (capped).
    pub ungreeted_first_timers: Vec<String>,
    /// The latest raid, if any.
    pub last_raid: Option<RaidInfo>,
    /// Seconds since the last chat message (None when there has been none).
    pub secs_since_last_message: Option<f64>,
}

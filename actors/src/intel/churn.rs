//! Viewer churn risk: which chatters look like they are drifting away, and how much of the
//! channel's engaged audience that represents.
//!
//! The engine owns a per-chatter activity table fed per message ([`ChurnEngine::observe`],
//! O(1) amortised) and by PARTs ([`ChurnEngine::on_part`]); [`ChurnEngine::assess`] runs on
//! the periodic tick and scores every tracked chatter (O(table), no per-chatter allocation).
//! Staff (broadcaster, moderators) are not tracked: they are not the audience.
//!
//! # Per chatter
//!
//! Tracked: messages, first/last seen, an EMA of the gap between their messages
//! (`gap ← gap + 0.3·(new_gap − gap)`), an EMA of their sentiment (`mood ← mood +
//! 0.5·(s − mood)`, so it reflects their last few messages), whether their latest message
//! was a question, and a PART after their last message.
//!
//! A **regular** has ≥ 5 messages spread over ≥ 10 minutes (defaults).
//!
//! **Effective silence** is the time since their last message minus the time the whole chat
//! has been silent ([`Signals::secs_since_last_message`]): when nobody talks, nobody is
//! singled out. Their **typical gap** is `max(gap EMA, 30 s)` (the floor keeps rapid-fire
//! chatters from looking "quiet" after a few seconds).
//!
//! Reasons, each a risk in \[0, 1\]:
//! - **went quiet** (needs a typical gap, i.e. ≥ 2 messages):
//!   `0.8·clamp((silence/typical − 3) / (10 − 3), 0, 1)`: nothing until three typical gaps,
//!   full at ten.
//! - **parted**: a PART after their last message: 0.9.
//! - **sentiment dip**: mood ≤ −0.3 and silent for at least their drop-off time (3 typical
//!   gaps, or 120 s without a typical gap): `0.5·min(−mood, 1)`.
//! - **unanswered question**: their latest message is a question still listed in
//!   [`Signals::open_questions`], asked ≥ 120 s ago: 0.5.
//!
//! `risk = 1 − Π(1 − rᵢ)` (a noisy-or: independent reasons add up but never pass 1), halved
//! for non-regulars (one-off chatters leave all the time). Chatters silent for more than
//! 30 minutes count as **lost**: they are reported as a number, not as "at risk".
//!
//! # Channel level
//!
//! `risk = Σ wᵢ·riskᵢ / (Σ wᵢ + 2)` over chatters not lost, with `w = 1` for regulars and
//! `0.1` for others; the `+ 2` is a prior of two risk-free regulars, so one quiet chatter in
//! an empty channel does not read as a crisis. **Level**: low below 0.20, medium below 0.45,
//! high from 0.45. The report lists the top 10 chatters with risk ≥ 0.1.
//!
//! # Bounded memory
//!
//! At most 5,000 chatters (configurable). A new chatter arriving at a full table evicts the
//! least recently seen eighth of it in one O(n) pass, so a flood of unique accounts costs
//! O(1) amortised per message and never grows the table.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::compact::{At, MaybeAt, MaybeF32};
use super::health::{finite_or, secs_between};
use super::signals::{ChatFacts, Signals};

/// Tunables of the churn engine; see the module doc for how each is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnConfig {
    /// Most chatters tracked (default 5,000).
    pub max_tracked: usize,
    /// Messages needed to be a regular (default 5).
    pub regular_min_messages: u32,
    /// Seconds between first and last message needed to be a regular (default 600).
    pub regular_min_span_secs: f64,
    /// EMA weight of a new inter-message gap (default 0.3).
    pub gap_ema_alpha: f64,
    /// Floor of a chatter's typical gap, seconds (default 30).
    pub min_typical_gap_secs: f64,
    /// Silence, in typical gaps, where "went quiet" starts (default 3).
    pub quiet_start_gaps: f64,
    /// Silence, in typical gaps, where "went quiet" is full (default 10).
    pub quiet_full_gaps: f64,
    /// Drop-off time for chatters without a typical gap, seconds (default 120).
    pub default_dropoff_secs: f64,
    /// Silence after which a chatter counts as lost, seconds (default 1,800).
    pub lost_after_secs: f64,
    /// Mood at or below which a silent chatter counts as a sentiment drop-off (default −0.3).
    pub sentiment_dip: f64,
    /// Age at which an unanswered question counts, seconds (default 120).
    pub unanswered_question_secs: f64,
    /// Chatters listed in the report (default 10).
    pub top_n: usize,
    /// Lowest per-chatter risk listed (default 0.1).
    pub report_min_risk: f64,
    /// Channel risk from which the level is medium (default 0.20).
    pub medium_threshold: f64,
    /// Channel risk from which the level is high (default 0.45).
    pub high_threshold: f64,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        Self {
            max_tracked: 5_000,
            regular_min_messages: 5,
            regular_min_span_secs: 600.0,
            gap_ema_alpha: 0.3,
            min_typical_gap_secs: 30.0,
            quiet_start_gaps: 3.0,
            quiet_full_gaps: 10.0,
            default_dropoff_secs: 120.0,
            lost_after_secs: 1_800.0,
            sentiment_dip: -0.3,
            unanswered_question_secs: 120.0,
            top_n: 10,
            report_min_risk: 0.1,
            medium_threshold: 0.20,
            high_threshold: 0.45,
        }
    }
}

/// Weight of a "went quiet" at full strength.
const QUIET_WEIGHT: f64 = 0.8;
/// Risk of a PART after the chatter's last message.
const PART_RISK: f64 = 0.9;
/// Weight of a sentiment drop-off (times how negative their mood is).
const DIP_WEIGHT: f64 = 0.5;
/// Risk of an unanswered question followed by silence.
const QUESTION_RISK: f64 = 0.5;
/// Non-regulars' risk is multiplied by this.
const NON_REGULAR_FACTOR: f64 = 0.5;
/// Non-regulars' weight in the channel risk.
const NON_REGULAR_WEIGHT: f64 = 0.1;
/// Prior weight of risk-free regulars in the channel risk.
const PRIOR_WEIGHT: f64 = 2.0;
/// EMA weight of a new message's sentiment in a chatter's mood.
const MOOD_ALPHA: f32 = 0.5;

/// What the engine remembers about one chatter. Instants are [`At`]/[`MaybeAt`] (8 bytes,
/// serialised as chrono's): thousands of these per busy channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatterState {
    /// Messages seen.
    pub messages: u32,
    /// First message.
    pub first_seen: At,
    /// Latest message.
    pub last_seen: At,
    /// EMA of the gap between their messages, seconds (`None` after one message).
    pub gap_ema_secs: MaybeF32,
    /// Sentiment of their latest message.
    pub last_sentiment: f32,
    /// EMA of their sentiment (their recent mood).
    pub mood: f32,
    /// When their latest message was a question, when they asked it.
    pub pending_question_at: MaybeAt,
    /// A PART seen after their latest message.
    pub parted_at: MaybeAt,
}

impl ChatterState {
    fn new(f: &ChatFacts) -> Self {
        let sentiment = sane_sentiment(f.sentiment);
        Self {
            messages: 1,
            first_seen: At::new(f.at),
            last_seen: At::new(f.at),
            gap_ema_secs: MaybeF32::NONE,
            last_sentiment: sentiment,
            mood: sentiment,
            pending_question_at: MaybeAt::new(f.is_question.then_some(f.at)),
            parted_at: MaybeAt::NONE,
        }
    }

    fn observe(&mut self, f: &ChatFacts, gap_alpha: f32) {
        let gap = secs_between(f.at, self.last_seen.get());
        // Out-of-order messages carry no gap information.
        if gap >= 0.0 {
            let gap = gap as f32;
            self.gap_ema_secs = MaybeF32::new(Some(match self.gap_ema_secs.get() {
                Some(g) => g + gap_alpha * (gap - g),
                None => gap,
            }));
            self.last_seen = At::new(f.at);
        }
        self.first_seen = self.first_seen.min(At::new(f.at));
        self.messages = self.messages.saturating_add(1);
        let sentiment = sane_sentiment(f.sentiment);
        self.last_sentiment = sentiment;
        self.mood += MOOD_ALPHA * (sentiment - self.mood);
        // Speaking again means they are still here: only a trailing question is pending.
        self.pending_question_at = MaybeAt::new(f.is_question.then_some(f.at));
        self.parted_at = MaybeAt::NONE;
    }

    /// Whether this chatter is a regular under `cfg`.
    pub fn is_regular(&self, cfg: &ChurnConfig) -> bool {
        self.messages >= cfg.regular_min_messages
            && secs_between(self.last_seen.get(), self.first_seen.get())
                >= cfg.regular_min_span_secs
    }
}

fn sane_sentiment(s: f32) -> f32 {
    if s.is_finite() {
        s.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Channel-level churn risk band.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ChurnLevel {
    /// Below the medium threshold.
    #[default]
    Low,
    /// At or above the medium threshold.
    Medium,
    /// At or above the high threshold.
    High,
}

/// Why a chatter looks at risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChurnReason {
    /// Silent for much longer than their own typical gap.
    WentQuiet {
        /// Effective silence, seconds.
        silent_secs: f64,
        /// Their typical gap between messages, seconds.
        typical_gap_secs: f64,
    },
    /// Left the channel (PART) after their last message.
    Parted {
        /// Seconds since the PART.
        secs_ago: f64,
    },
    /// Their recent messages were negative and they went silent.
    SentimentDip {
        /// Their recent mood in \[-1, 1\].
        mood: f64,
    },
    /// Their question went unanswered and they went silent.
    UnansweredQuestion {
        /// How long the question has waited, seconds.
        waited_secs: f64,
    },
}

impl ChurnReason {
    fn describe(&self) -> String {
        match self {
            Self::WentQuiet {
                silent_secs,
                typical_gap_secs,
            } => format!(
                "silent {} (usually every {})",
                human_secs(*silent_secs),
                human_secs(*typical_gap_secs)
            ),
            Self::Parted { secs_ago } => format!("left {} ago", human_secs(*secs_ago)),
            Self::SentimentDip { mood } => {
                format!("went quiet after negative messages ({mood:+.2})")
            }
            Self::UnansweredQuestion { waited_secs } => {
                format!("question unanswered for {}", human_secs(*waited_secs))
            }
        }
    }
}

/// "45 s", "6 min", "2.0 h" (seconds under two minutes, minutes under 90).
pub(crate) fn human_secs(secs: f64) -> String {
    let secs = finite_or(secs, 0.0).max(0.0);
    if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 5_400.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3_600.0)
    }
}

/// One chatter the report flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtRiskChatter {
    /// Their login.
    pub login: String,
    /// Risk in \[0, 1\].
    pub risk: f64,
    /// Whether they are a regular.
    pub is_regular: bool,
    /// Messages seen from them.
    pub messages: u32,
    /// Seconds since their last message.
    pub silent_secs: f64,
    /// Why.
    pub reasons: Vec<ChurnReason>,
}

/// The churn picture at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChurnReport {
    /// The tick's instant.
    pub at: DateTime<Utc>,
    /// Channel risk in \[0, 1\].
    pub risk: f64,
    /// Band of `risk`.
    pub level: ChurnLevel,
    /// Highest-risk chatters, highest first.
    pub top_at_risk: Vec<AtRiskChatter>,
    /// Regulars not lost.
    pub active_regulars: u32,
    /// Of those, with risk ≥ 0.5.
    pub regulars_at_risk: u32,
    /// Regulars silent past the lost threshold (still in the table).
    pub lost_regulars: u32,
    /// Chatters in the table.
    pub tracked: usize,
    /// One line a streamer can read.
    pub explanation: String,
}

/// Per-chatter risk with its reasons, before anything is allocated.
#[derive(Debug, Clone, Copy, Default)]
struct Assessment {
    risk: f64,
    silent_secs: f64,
    quiet: Option<(f64, f64)>,
    parted: Option<f64>,
    dip: Option<f64>,
    question: Option<f64>,
}

impl Assessment {
    fn reasons(&self) -> Vec<ChurnReason> {
        let mut out = Vec::with_capacity(4);
        if let Some(secs_ago) = self.parted {
            out.push(ChurnReason::Parted { secs_ago });
        }
        if let Some((silent_secs, typical_gap_secs)) = self.quiet {
            out.push(ChurnReason::WentQuiet {
                silent_secs,
                typical_gap_secs,
            });
        }
        if let Some(mood) = self.dip {
            out.push(ChurnReason::SentimentDip { mood });
        }
        if let Some(waited_secs) = self.question {
            out.push(ChurnReason::UnansweredQuestion { waited_secs });
        }
        out
    }
}

/// Tracks chatters and assesses who is drifting away.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChurnEngine {
    /// Shared with every channel running the same (default) tunables.
    #[serde(deserialize_with = "super::shared::deserialize")]
    config: std::sync::Arc<ChurnConfig>,
    chatters: rustc_hash::FxHashMap<Box<str>, ChatterState>,
    /// Chatters dropped to keep the table bounded (a counter for metrics).
    evicted: u64,
    /// Scratch for eviction, reused so eviction does not allocate each time.
    #[serde(skip)]
    scratch: Vec<At>,
}

impl ChurnEngine {
    /// An engine with the given tunables.
    pub fn new(config: ChurnConfig) -> Self {
        Self {
            config: super::shared::share(config),
            ..Self::default()
        }
    }

    /// The tunables.
    pub fn config(&self) -> &ChurnConfig {
        &self.config
    }

    /// Chatters currently tracked.
    pub fn tracked(&self) -> usize {
        self.chatters.len()
    }

    /// Chatters evicted so far to keep the table bounded.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// What the engine remembers about `login`.
    pub fn chatter(&self, login: &str) -> Option<&ChatterState> {
        self.chatters.get(login)
    }

    /// Folds one message in. Per-message: one hash lookup, no allocation for a known chatter.
    pub fn observe(&mut self, f: &ChatFacts) {
        if f.is_staff || self.config.max_tracked == 0 {
            return;
        }
        let alpha = finite_or(self.config.gap_ema_alpha, 0.3).clamp(0.0, 1.0) as f32;
        if let Some(c) = self.chatters.get_mut(f.login.as_str()) {
            c.observe(f, alpha);
            return;
        }
        if self.chatters.len() >= self.config.max_tracked {
            self.evict_least_recent();
        }
        self.chatters
            .insert(f.login.as_str().into(), ChatterState::new(f));
    }

    /// Records a PART. Unknown logins are ignored, so a flood of PARTs cannot grow the table.
    pub fn on_part(&mut self, login: &str, at: DateTime<Utc>) {
        if let Some(c) = self.chatters.get_mut(login)
            && at >= c.last_seen.get()
        {
            c.parted_at = MaybeAt::new(Some(at));
        }
    }

    // Drops the least recently seen eighth of the table in one pass (select the cutoff, then
    // retain), so the O(n) scan amortises over n/8 arrivals.
    fn evict_least_recent(&mut self) {
        let n = (self.config.max_tracked / 8).clamp(1, self.chatters.len().max(1));
        self.scratch.clear();
        self.scratch
            .extend(self.chatters.values().map(|c| c.last_seen));
        if self.scratch.is_empty() {
            return;
        }
        let n = n.min(self.scratch.len());
        let (_, cutoff, _) = self.scratch.select_nth_unstable(n - 1);
        let cutoff = *cutoff;
        let older = self.scratch.iter().filter(|t| **t < cutoff).count();
        // Exactly n go: everyone older than the cutoff, then ties at the cutoff.
        let mut ties = n - older;
        self.chatters.retain(|_, c| {
            if c.last_seen < cutoff {
                false
            } else if c.last_seen == cutoff && ties > 0 {
                ties -= 1;
                false
            } else {
                true
            }
        });
        self.evicted += n as u64;
    }

    /// Scores every tracked chatter at `s.now` and the channel as a whole.
    pub fn assess(&self, s: &Signals) -> ChurnReport {
        let mut report = self.assess_numbers(s);
        report.explanation = self.explain(&report);
        report
    }

    /// The explanation line of `report` (one of this engine's, made by
    /// [`assess_numbers`](Self::assess_numbers)): a function of its figures, its named
    /// chatters and the lost threshold.
    pub fn explain(&self, report: &ChurnReport) -> String {
        explain(
            report.risk,
            report.level,
            report.active_regulars,
            report.regulars_at_risk,
            report.lost_regulars,
            self.config.lost_after_secs,
            &report.top_at_risk,
        )
    }

    /// [`assess`](Self::assess) with an empty explanation: what a tick needs (the line is
    /// rendered by [`explain`](Self::explain) when someone reads it, not formatted every
    /// second for every channel).
    pub fn assess_numbers(&self, s: &Signals) -> ChurnReport {
        let cfg = &self.config;
        let top_n = cfg.top_n;
        let mut top: Vec<(f64, &str, &ChatterState, bool, Assessment)> =
            Vec::with_capacity(top_n.saturating_add(1).min(64));
        let (mut weighted, mut weights) = (0.0_f64, 0.0_f64);
        let (mut active_regulars, mut regulars_at_risk, mut lost_regulars) = (0u32, 0u32, 0u32);
        let chat_silence = s
            .secs_since_last_message
            .map_or(0.0, |x| finite_or(x, 0.0).max(0.0));

        for (login, c) in &self.chatters {
            let regular = c.is_regular(cfg);
            let raw_silence = secs_between(s.now, c.last_seen.get()).max(0.0);
            if raw_silence > cfg.lost_after_secs {
                lost_regulars += u32::from(regular);
                continue;
            }
            let a = self.assess_one(login, c, regular, raw_silence, chat_silence, s);
            let w = if regular { 1.0 } else { NON_REGULAR_WEIGHT };
            weighted += w * a.risk;
            weights += w;
            if regular {
                active_regulars += 1;
                regulars_at_risk += u32::from(a.risk >= 0.5);
            }
            if top_n > 0 && a.risk >= cfg.report_min_risk {
                push_top(&mut top, top_n, (a.risk, &**login, c, regular, a));
            }
        }

        let risk = finite_or(weighted / (weights + PRIOR_WEIGHT), 0.0).clamp(0.0, 1.0);
        let level = if risk >= cfg.high_threshold {
            ChurnLevel::High
        } else if risk >= cfg.medium_threshold {
            ChurnLevel::Medium
        } else {
            ChurnLevel::Low
        };
        top.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let top_at_risk: Vec<AtRiskChatter> = top
            .iter()
            .map(|(risk, login, c, regular, a)| AtRiskChatter {
                login: (*login).to_owned(),
                risk: *risk,
                is_regular: *regular,
                messages: c.messages,
                silent_secs: a.silent_secs,
                reasons: a.reasons(),
            })
            .collect();
        ChurnReport {
            at: s.now,
            risk,
            level,
            top_at_risk,
            active_regulars,
            regulars_at_risk,
            lost_regulars,
            tracked: self.chatters.len(),
            explanation: String::new(),
        }
    }

    fn assess_one(
        &self,
        login: &str,
        c: &ChatterState,
        regular: bool,
        raw_silence: f64,
        chat_silence: f64,
        s: &Signals,
    ) -> Assessment {
        let cfg = &self.config;
        // Time others spoke while this chatter did not.
        let silence = (raw_silence - chat_silence).max(0.0);
        let typical = c
            .gap_ema_secs
            .get()
            .map(|g| finite_or(f64::from(g), 0.0).max(cfg.min_typical_gap_secs));
        let dropoff = typical.map_or(cfg.default_dropoff_secs, |t| cfg.quiet_start_gaps * t);
        let mut a = Assessment {
            silent_secs: raw_silence,
            ..Assessment::default()
        };
        let mut keep = 1.0_f64;

        if let Some(t) = typical {
            let span = (cfg.quiet_full_gaps - cfg.quiet_start_gaps).max(f64::EPSILON);
            let q = ((silence / t - cfg.quiet_start_gaps) / span).clamp(0.0, 1.0);
            if q > 0.0 {
                keep *= 1.0 - QUIET_WEIGHT * q;
                a.quiet = Some((silence, t));
            }
        }
        if let Some(p) = c.parted_at.get()
            && p >= c.last_seen.get()
        {
            keep *= 1.0 - PART_RISK;
            a.parted = Some(secs_between(s.now, p).max(0.0));
        }
        let mood = f64::from(c.mood);
        if mood <= cfg.sentiment_dip && silence >= dropoff {
            keep *= 1.0 - DIP_WEIGHT * (-mood).clamp(0.0, 1.0);
            a.dip = Some(mood);
        }
        if let Some(asked) = c.pending_question_at.get() {
            let waited = secs_between(s.now, asked);
            // The age test is cheap; the scan of open questions only runs when it passes.
            if waited >= cfg.unanswered_question_secs
                && s.open_questions
                    .iter()
                    .any(|q| q.login == login && q.asked_at >= asked)
            {
                keep *= 1.0 - QUESTION_RISK;
                a.question = Some(waited);
            }
        }
        let mut risk = 1.0 - keep;
        if !regular {
            risk *= NON_REGULAR_FACTOR;
        }
        a.risk = finite_or(risk, 0.0).clamp(0.0, 1.0);
        a
    }
}

type TopEntry<'a> = (f64, &'a str, &'a ChatterState, bool, Assessment);

/// Keeps the `n` highest-risk entries (ties broken by login, so output is deterministic).
fn push_top<'a>(top: &mut Vec<TopEntry<'a>>, n: usize, e: TopEntry<'a>) {
    if top.len() < n {
        top.push(e);
        return;
    }
    // n is small (10 by default): a linear scan for the weakest entry beats a heap here.
    let weakest = top
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(i, _)| i);
    if let Some(i) = weakest {
        let w = &top[i];
        if e.0 > w.0 || (e.0 == w.0 && e.1 < w.1) {
            top[i] = e;
        }
    }
}

fn explain(
    risk: f64,
    level: ChurnLevel,
    active: u32,
    at_risk: u32,
    lost: u32,
    lost_after_secs: f64,
    top: &[AtRiskChatter],
) -> String {
    let level = match level {
        ChurnLevel::Low => "low",
        ChurnLevel::Medium => "medium",
        ChurnLevel::High => "high",
    };
    let mut line = format!(
        "Churn risk {:.0}% ({level}): {at_risk} of {active} active regulars slipping",
        100.0 * risk
    );
    if lost > 0 {
        line.push_str(&format!(
            ", {lost} gone for over {}",
            human_secs(lost_after_secs)
        ));
    }
    let named: Vec<String> = top
        .iter()
        .take(3)
        .map(|c| {
            let why = c.reasons.first().map_or_else(String::new, |r| r.describe());
            format!("{} {why}", c.login)
        })
        .collect();
    if !named.is_empty() {
        line.push_str(" — ");
        line.push_str(&named.join("; "));
    }
    line
}

super::shared::shared_default!(ChurnConfig);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::intel::health::testkit::{arb_signals, msg, prop_config, steady, t};
    use crate::intel::signals::OpenQuestion;

    /// `login` chats every `every` seconds over `[from, to]`.
    fn chat_every(e: &mut ChurnEngine, login: &str, from: i64, to: i64, every: i64) {
        let mut at = from;
        while at <= to {
            e.observe(&msg(login, t(at)));
            at += every;
        }
    }

    fn find<'a>(r: &'a ChurnReport, login: &str) -> Option<&'a AtRiskChatter> {
        r.top_at_risk.iter().find(|c| c.login == login)
    }

    /// A channel where alice (a regular, every 30 s) stops at 900 s and ten others keep
    /// chatting every 20 s until 1,500 s.
    fn alice_goes_quiet() -> ChurnEngine {
        let mut e = ChurnEngine::default();
        for i in 0..10 {
            chat_every(&mut e, &format!("viewer{i}"), i, 1_500, 20);
        }
        chat_every(&mut e, "alice", 0, 900, 30);
        e
    }

    #[test]
    fn a_regular_going_silent_is_flagged_and_ranked_first() {
        let e = alice_goes_quiet();
        let alice = e.chatter("alice").expect("tracked");
        assert!(alice.is_regular(e.config()));

        // One typical gap later: nothing unusual.
        let early = e.assess(&steady(t(930), 30.0));
        assert!(find(&early, "alice").is_none(), "{:?}", early.top_at_risk);

        // Ten typical gaps of silence while chat carries on: full "went quiet".
        let late = e.assess(&steady(t(1_200), 30.0));
        let top = late.top_at_risk.first().expect("someone at risk");
        assert_eq!(top.login, "alice");
        assert!(top.is_regular);
        assert!(top.risk >= 0.75, "risk {}", top.risk);
        assert!(matches!(top.reasons[0], ChurnReason::WentQuiet { .. }));
        assert!(late.risk > early.risk);
        assert_eq!(late.regulars_at_risk, 1);
        assert!(
            late.explanation.contains("alice silent"),
            "{}",
            late.explanation
        );
    }

    #[test]
    fn nobody_is_singled_out_when_the_whole_chat_is_silent() {
        let mut e = ChurnEngine::default();
        chat_every(&mut e, "alice", 0, 900, 30);
        chat_every(&mut e, "bob", 5, 900, 30);
        // Everyone stopped at 900 s; five minutes later the chat itself has been silent.
        let mut s = steady(t(1_200), 0.0);
        s.secs_since_last_message = Some(300.0);
        let r = e.assess(&s);
        assert!(r.top_at_risk.is_empty(), "{:?}", r.top_at_risk);
        assert_eq!(r.level, ChurnLevel::Low);
    }

    #[test]
    fn a_part_raises_risk_and_unknown_parts_do_not_grow_the_table() {
        let mut e = alice_goes_quiet();
        e.on_part("alice", t(910));
        let r = e.assess(&steady(t(920), 30.0));
        let alice = find(&r, "alice").expect("listed");
        assert!(alice.risk >= 0.9, "risk {}", alice.risk);
        assert!(matches!(alice.reasons[0], ChurnReason::Parted { .. }));

        let before = e.tracked();
        for i in 0..1_000 {
            e.on_part(&format!("stranger{i}"), t(920));
        }
        assert_eq!(e.tracked(), before);

        // Speaking again clears the PART.
        e.observe(&msg("alice", t(925)));
        let r = e.assess(&steady(t(926), 30.0));
        assert!(find(&r, "alice").is_none());
    }

    #[test]
    fn negative_mood_then_silence_is_a_reason() {
        let mut e = ChurnEngine::default();
        chat_every(&mut e, "other", 0, 400, 10);
        let mut sour = msg("carl", t(0));
        sour.sentiment = -0.8;
        e.observe(&sour);
        sour.at = t(10);
        e.observe(&sour);
        chat_every(&mut e, "dora", 0, 10, 10);

        let r = e.assess(&steady(t(210), 30.0));
        let carl = find(&r, "carl").expect("carl listed");
        assert!(
            carl.reasons
                .iter()
                .any(|x| matches!(x, ChurnReason::SentimentDip { mood } if *mood < -0.7)),
            "{:?}",
            carl.reasons
        );
        // Same silence, happy messages: lower risk.
        let dora = find(&r, "dora").map_or(0.0, |d| d.risk);
        assert!(carl.risk > dora, "{} vs {dora}", carl.risk);
        // Non-regulars are halved.
        assert!(!carl.is_regular && carl.risk <= 0.5);
    }

    #[test]
    fn an_unanswered_question_followed_by_silence_is_a_reason() {
        let mut e = ChurnEngine::default();
        chat_every(&mut e, "other", 0, 300, 10);
        let mut q = msg("dave", t(0));
        q.is_question = true;
        e.observe(&q);

        let mut s = steady(t(150), 30.0);
        s.open_questions = vec![OpenQuestion {
            login: "dave".into(),
            text: "what's the build?".into(),
            asked_at: t(0),
        }];
        let r = e.assess(&s);
        let dave = find(&r, "dave").expect("listed");
        assert!(
            dave.reasons
                .iter()
                .any(|x| matches!(x, ChurnReason::UnansweredQuestion { waited_secs } if *waited_secs >= 150.0)),
            "{:?}",
            dave.reasons
        );
        // Answered (no longer open): no such reason.
        s.open_questions.clear();
        let r = e.assess(&s);
        assert!(find(&r, "dave").is_none());
    }

    #[test]
    fn staff_are_not_tracked() {
        let mut e = ChurnEngine::default();
        let mut m = msg("streamer", t(0));
        m.is_staff = true;
        e.observe(&m);
        assert_eq!(e.tracked(), 0);
    }

    #[test]
    fn many_regulars_leaving_is_high_and_lost_ones_are_not_at_risk() {
        let mut e = ChurnEngine::default();
        for i in 0..8 {
            chat_every(&mut e, &format!("reg{i}"), i, 900, 30);
        }
        chat_every(&mut e, "chatty", 0, 1_300, 10);
        let r = e.assess(&steady(t(1_300), 10.0));
        assert_eq!(r.level, ChurnLevel::High, "risk {}", r.risk);
        assert_eq!(r.regulars_at_risk, 8);
        assert_eq!(r.top_at_risk.len(), 8);

        // An hour later they (and chatty) count as lost, not at risk.
        let r = e.assess(&steady(t(900 + 3_600), 10.0));
        assert_eq!(r.lost_regulars, 9);
        assert!(r.top_at_risk.is_empty(), "{:?}", r.top_at_risk);
        assert_eq!(r.level, ChurnLevel::Low);
        assert!(
            r.explanation.contains("9 gone for over 30 min"),
            "{}",
            r.explanation
        );
    }

    #[test]
    fn table_stays_bounded_under_100k_unique_chatters() {
        let mut e = ChurnEngine::default();
        let cap = e.config().max_tracked;
        for i in 0..100_000i64 {
            e.observe(&msg(&format!("bot{i}"), t(i / 100)));
            assert!(e.tracked() <= cap);
        }
        assert!(e.tracked() > cap / 2);
        assert_eq!(e.evicted() + e.tracked() as u64, 100_000);
        // The least recently seen went first.
        assert!(e.chatter("bot99999").is_some());
        assert!(e.chatter("bot0").is_none());
        let r = e.assess(&steady(t(1_000), 30.0));
        assert!(r.top_at_risk.len() <= e.config().top_n);
    }

    #[test]
    fn eviction_with_identical_timestamps_removes_exactly_an_eighth() {
        let mut e = ChurnEngine::new(ChurnConfig {
            max_tracked: 64,
            ..ChurnConfig::default()
        });
        for i in 0..64 {
            e.observe(&msg(&format!("u{i}"), t(0)));
        }
        e.observe(&msg("late", t(0)));
        assert_eq!(e.tracked(), 64 - 8 + 1);
        assert!(e.chatter("late").is_some());
    }

    #[test]
    fn engine_round_trips_through_json() {
        let e = alice_goes_quiet();
        let json = serde_json::to_string(&e).expect("serialise");
        let back: ChurnEngine = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back.tracked(), e.tracked());
        let s = steady(t(1_200), 30.0);
        assert_eq!(back.assess(&s).top_at_risk[0].login, "alice");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Msg(u8, i64, f32, bool),
        Part(u8, i64),
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..40, 0i64..5_000, proptest::num::f32::ANY, any::<bool>())
                .prop_map(|(u, at, s, q)| Op::Msg(u, at, s, q)),
            1 => (0u8..50, 0i64..5_000).prop_map(|(u, at)| Op::Part(u, at)),
        ]
    }

    proptest! {
        #![proptest_config(prop_config())]
        #[test]
        fn risks_stay_in_range(
            ops in proptest::collection::vec(arb_op(), 0..300),
            s in arb_signals(),
        ) {
            let mut e = ChurnEngine::new(ChurnConfig { max_tracked: 16, top_n: 5, ..ChurnConfig::default() });
            for op in ops {
                match op {
                    Op::Msg(u, at, sentiment, q) => {
                        let mut m = msg(&format!("u{u}"), t(at));
                        m.sentiment = sentiment;
                        m.is_question = q;
                        e.observe(&m);
                    }
                    Op::Part(u, at) => e.on_part(&format!("u{u}"), t(at)),
                }
                prop_assert!(e.tracked() <= 16);
            }
            let r = e.assess(&s);
            prop_assert!((0.0..=1.0).contains(&r.risk), "risk {}", r.risk);
            prop_assert!(r.top_at_risk.len() <= 5);
            for pair in r.top_at_risk.windows(2) {
                prop_assert!(pair[0].risk >= pair[1].risk);
            }
            for c in &r.top_at_risk {
                prop_assert!((0.0..=1.0).contains(&c.risk));
                prop_assert!(!c.reasons.is_empty());
            }
            let json = serde_json::to_string(&r).expect("serialise");
            let back: ChurnReport = serde_json::from_str(&json).expect("round-trips");
            prop_assert_eq!(back.top_at_risk.len(), r.top_at_risk.len());
        }
    }
}

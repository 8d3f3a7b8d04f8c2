//! Stream health: one 0-100 number for "how is the stream doing right now", built from six
//! explained factors so the dashboard can always answer "why".
//!
//! Runs on the channel's periodic tick ([`HealthEngine::update`]), never per message. Time is
//! only ever [`Signals::now`], so smoothing is driven by the injected clock.
//!
//! # How it is computed
//!
//! Every factor is a score in \[0, 100\] with a weight, a one-line explanation and the
//! evidence numbers behind it. Where a factor has no data it reports a neutral 50 (or 100
//! where "nothing happened" is genuinely good, e.g. no toxic messages) and says so: it never
//! reports 0 for lack of data.
//!
//! Rates are compared with a damped log ratio so a one-message channel does not swing wildly:
//! `ratio = (current + 0.5) / (reference + 0.5)` (msg/min), and
//! `log_score(parity, step) = clamp(parity + step · log2(ratio), 0, 100)`.
//!
//! | factor | default weight | formula |
//! |---|---|---|
//! | engagement | 0.25 | `0.60·rate + 0.25·uniques + 0.15·emotes`, where `rate = log_score(60, 20)` of the 5-min chat rate vs the channel baseline (60 at the channel's usual rate, ±20 per doubling), `uniques = log_score(60, 20)` of unique chatters/min (5-min window) vs a baseline this engine learns (EMA, time constant 15 min; left out until learned), `emotes = 50 + 50·e/(e+0.5)` with `e` = emotes per message (emotes only add). Cold start (no channel baseline yet): 50. |
//! | momentum | 0.15 | `log_score(50, 25)` of the 1-min rate vs the 15-min rate: 50 when steady, 75 at twice the pace, 25 at half. No chat in 15 min: 50. |
//! | sentiment | 0.20 | `50 + 50·clamp(m, -1, 1)` with `m` the 5-min mean sentiment. No messages: 50. |
//! | retention | 0.15 | mean of `100·min(returning / (returning + new) / 0.6, 1)` over 15 min (60 % returning chatters or more is full marks) and, when the churn engine's risk `r` is passed in, `100·(1 − r)`. No data: 50. |
//! | safety | 0.15 | `100·(1 − min(bad / messages / 0.15, 1))` over 5 min, with `bad = max(toxic, moderation actions)` (moderators mostly act on the messages the lexicon flags, so the two are not added); the last minute is also scored when it has ≥ 10 messages, and the lower score wins. No chat: 100. |
//! | responsiveness | 0.10 | mean of `100·answered/asked` over 15 min and `100·(1 − clamp((age − 60 s) / 240 s, 0, 1))` for the oldest open question (full marks under a minute, 0 at five). No questions: 100. |
//!
//! **Composite.** `raw = Σ wᵢ·scoreᵢ / Σ wᵢ`.
//!
//! **Smoothing.** So the number does not flicker, the displayed `score` is an exponential
//! moving average of `raw` with time constant τ = 20 s (configurable), applied per tick with
//! the elapsed time `Δt` since the previous tick: `α = 1 − e^(−Δt/τ)`,
//! `score ← score + α·(raw − score)`. A second call at the same instant (or an earlier one)
//! has `Δt = 0` and does not move it; after a long gap `α → 1` and the score catches up. One
//! outlier tick one second after the last moves the score by at most `100·(1 − e^(−1/20))`
//! ≈ 4.9 points. The first update starts the average at `raw`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::signals::{Signals, WindowStats};

/// Named numbers behind a score, ordered by name so the JSON is stable (it reads and writes
/// as a JSON object, exactly like the `BTreeMap<String, f64>` it replaces).
///
/// Why not that map: every factor (six per channel, always held) and every kept hint (50)
/// and clip carries one, with two to six entries. A map's node and a `String` per name cost
/// ~400 bytes and up to seven heap blocks each; here the names are the static literals the
/// engines write (owned only when read back from a snapshot) in one exact-sized slice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence(Box<[(Cow<'static, str>, f64)]>);

impl Evidence {
    /// Sorted by name; for a repeated name the last value wins (as a map insert would).
    fn from_entries(mut entries: Vec<(Cow<'static, str>, f64)>) -> Self {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        Self(entries.into_boxed_slice())
    }

    /// Evidence as a compact store keeps it: `entries` already sorted and unique by name.
    pub(crate) fn from_kept(entries: Vec<(Cow<'static, str>, f64)>) -> Self {
        Self(entries.into_boxed_slice())
    }

    /// The number named `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.position(name).map(|i| self.0[i].1)
    }

    /// Whether a number is named `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// (name, number) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// How many numbers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(name)).ok()
    }
}

impl std::ops::Index<&str> for Evidence {
    type Output = f64;

    fn index(&self, name: &str) -> &f64 {
        match self.position(name) {
            Some(i) => &self.0[i].1,
            None => panic!("no evidence named {name:?}"),
        }
    }
}

impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Evidence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, f64>::deserialize(d)?;
        Ok(Self(
            map.into_iter()
                .map(|(k, v)| (Cow::Owned(k), v))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        ))
    }
}

/// Builds [`Evidence`], replacing non-finite numbers with 0 so the JSON round-trips
/// (serde_json writes NaN as `null`, which does not read back as a number).
pub(crate) fn evidence<const N: usize>(pairs: [(&'static str, f64); N]) -> Evidence {
    Evidence::from_entries(
        pairs
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), finite_or(v, 0.0)))
            .collect(),
    )
}

/// `x` when it is a finite number, else `fallback`.
pub(crate) fn finite_or(x: f64, fallback: f64) -> f64 {
    if x.is_finite() { x } else { fallback }
}

/// Seconds from `earlier` to `later` (negative when `later` is before `earlier`).
pub(crate) fn secs_between(later: DateTime<Utc>, earlier: DateTime<Utc>) -> f64 {
    later.signed_duration_since(earlier).num_milliseconds() as f64 / 1000.0
}

/// `t + secs`, saturating to `t` if the result would leave chrono's range.
pub(crate) fn add_secs(t: DateTime<Utc>, secs: f64) -> DateTime<Utc> {
    let ms = finite_or(secs * 1000.0, 0.0).clamp(-1e15, 1e15) as i64;
    TimeDelta::try_milliseconds(ms)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(t)
}

/// Window length in minutes, trusting `span_secs` when set and `default_secs` otherwise.
pub(crate) fn window_minutes(w: &WindowStats, default_secs: u32) -> f64 {
    let secs = if w.span_secs > 0 {
        w.span_secs
    } else {
        default_secs
    };
    f64::from(secs) / 60.0
}

/// Messages per minute of a window, 0 when not a finite non-negative number.
pub(crate) fn rate(w: &WindowStats) -> f64 {
    finite_or(w.messages_per_min, 0.0).max(0.0)
}

/// The channel's baseline rate, `None` during cold start (no usable baseline yet).
pub(crate) fn baseline(s: &Signals) -> Option<f64> {
    let b = s.baseline_rate_per_min;
    (b.is_finite() && b > 0.0).then_some(b)
}

fn clamp100(x: f64) -> f64 {
    finite_or(x, NEUTRAL).clamp(0.0, 100.0)
}

fn clamp01(x: f64) -> f64 {
    finite_or(x, 0.0).clamp(0.0, 1.0)
}

/// Score reported when a factor has no data: neither good nor bad.
const NEUTRAL: f64 = 50.0;
/// Added to both sides of a rate ratio (msg/min) so tiny channels do not swing wildly.
const RATE_DAMPING: f64 = 0.5;
/// Returning-chatter share that earns full retention marks.
const RETURNING_SHARE_FULL: f64 = 0.6;
/// Share of bad (toxic or moderated) messages at which safety reaches 0.
const BAD_SHARE_ZERO: f64 = 0.15;
/// The last minute only counts for safety with at least this many messages (noise).
const SAFETY_W1_MIN_MESSAGES: u64 = 10;
/// An open question younger than this costs nothing.
const QUESTION_GRACE_SECS: f64 = 60.0;
/// Beyond the grace period, the oldest open question's score falls to 0 over this long.
const QUESTION_DECAY_SECS: f64 = 240.0;

/// `clamp(parity + step·log2((current + d) / (reference + d)), 0, 100)`.
fn log_ratio_score(current: f64, reference: f64, parity: f64, step: f64) -> f64 {
    let ratio = (finite_or(current, 0.0).max(0.0) + RATE_DAMPING)
        / (finite_or(reference, 0.0).max(0.0) + RATE_DAMPING);
    clamp100(parity + step * ratio.log2())
}

/// The six health factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorName {
    /// Chat rate and unique chatters vs the channel's own baseline, plus emote use.
    Engagement,
    /// Whether chat is speeding up or slowing down (1-min vs 15-min rate).
    Momentum,
    /// The mood of chat (5-min mean sentiment).
    Sentiment,
    /// Returning vs new chatters, and the churn engine's risk.
    Retention,
    /// Toxic messages and moderation actions, inverted.
    Safety,
    /// Questions answered, and how long the oldest open one has waited.
    Responsiveness,
}

impl FactorName {
    /// The six, in the order scores list them.
    pub const ALL: [FactorName; 6] = FACTOR_ORDER;

    /// Lower-case name as used in explanations and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Engagement => "engagement",
            Self::Momentum => "momentum",
            Self::Sentiment => "sentiment",
            Self::Retention => "retention",
            Self::Safety => "safety",
            Self::Responsiveness => "responsiveness",
        }
    }
}

/// One factor of the health score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// Which factor.
    pub name: FactorName,
    /// Score in \[0, 100\].
    pub score: f64,
    /// Weight in the composite.
    pub weight: f64,
    /// One line a streamer can read.
    pub explanation: String,
    /// The numbers behind the score.
    pub evidence: Evidence,
}

/// The health of the stream at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthScore {
    /// Smoothed composite in \[0, 100\]: what the dashboard shows.
    pub score: f64,
    /// Unsmoothed weighted mean of the factors at this instant, in \[0, 100\].
    pub raw: f64,
    /// The factors, in [`FactorName`] order.
    pub factors: Vec<Factor>,
    /// No channel baseline yet: engagement is neutral until one is learned.
    pub cold_start: bool,
    /// One line summarising the score (strongest and weakest factor).
    pub explanation: String,
    /// The tick's instant ([`Signals::now`]).
    pub computed_at: DateTime<Utc>,
}

impl HealthScore {
    /// The factor with this name.
    pub fn factor(&self, name: FactorName) -> Option<&Factor> {
        self.factors.iter().find(|f| f.name == name)
    }
}

/// Weights of the factors in the composite (need not sum to 1; the composite divides by
/// their sum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorWeights {
    /// Engagement weight (default 0.25).
    pub engagement: f64,
    /// Momentum weight (default 0.15).
    pub momentum: f64,
    /// Sentiment weight (default 0.20).
    pub sentiment: f64,
    /// Retention weight (default 0.15).
    pub retention: f64,
    /// Safety weight (default 0.15).
    pub safety: f64,
    /// Responsiveness weight (default 0.10).
    pub responsiveness: f64,
}

impl Default for FactorWeights {
    fn default() -> Self {
        Self {
            engagement: 0.25,
            momentum: 0.15,
            sentiment: 0.20,
            retention: 0.15,
            safety: 0.15,
            responsiveness: 0.10,
        }
    }
}

impl FactorWeights {
    fn get(&self, name: FactorName) -> f64 {
        let w = match name {
            FactorName::Engagement => self.engagement,
            FactorName::Momentum => self.momentum,
            FactorName::Sentiment => self.sentiment,
            FactorName::Retention => self.retention,
            FactorName::Safety => self.safety,
            FactorName::Responsiveness => self.responsiveness,
        };
        // A broken weight must not poison the composite.
        finite_or(w, 0.0).max(0.0)
    }
}

/// Tunables of the health engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// Factor weights.
    pub weights: FactorWeights,
    /// Time constant τ of the displayed score's EMA, seconds (default 20).
    pub smoothing_tau_secs: f64,
    /// Time constant of the learned unique-chatters-per-minute baseline, seconds
    /// (default 900).
    pub uniques_baseline_tau_secs: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            weights: FactorWeights::default(),
            smoothing_tau_secs: 20.0,
            uniques_baseline_tau_secs: 900.0,
        }
    }
}

/// `α = 1 − e^(−Δt/τ)` for an EMA step of `dt` seconds (0 when `dt ≤ 0`).
fn ema_alpha(dt_secs: f64, tau_secs: f64) -> f64 {
    // Written so NaN falls into the "no step" / "no smoothing" branches.
    if dt_secs.is_nan() || dt_secs <= 0.0 {
        return 0.0;
    }
    if tau_secs.is_nan() || tau_secs <= 0.0 {
        return 1.0;
    }
    clamp01(1.0 - (-dt_secs / tau_secs).exp())
}

/// Computes [`HealthScore`]s tick by tick and keeps the smoothing state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthEngine {
    /// Shared with every channel running the same (default) tunables.
    #[serde(deserialize_with = "super::shared::deserialize")]
    config: std::sync::Arc<HealthConfig>,
    /// The smoothed score after the last tick.
    smoothed: Option<f64>,
    /// The last tick's instant (the EMA's clock).
    last_at: Option<DateTime<Utc>>,
    /// Learned unique chatters per minute (EMA), `None` until chat has been seen.
    uniques_baseline: Option<f64>,
}

/// Whether a factor's words (explanation and evidence) are wanted, or only its score: a tick
/// needs the scores, and the words are rendered when someone reads them (the API, a
/// snapshot), from the same inputs by the same functions.
///
/// Why: formatting six explanations and building six evidence lists every second for every
/// channel, to be replaced a second later unread, was most of what a quiet channel's tick
/// cost and ~2 KiB of its live state.
#[derive(Debug, Clone, Copy)]
struct Words(bool);

impl Words {
    fn text(self, f: impl FnOnce() -> String) -> String {
        if self.0 { f() } else { String::new() }
    }

    fn evidence<const N: usize>(self, pairs: [(&'static str, f64); N]) -> Evidence {
        if self.0 {
            evidence(pairs)
        } else {
            Evidence::default()
        }
    }
}

/// One health update in numbers: what a tick needs (scores), and what
/// [`HealthEngine::render`] needs, with the same tick's [`Signals`], to give the full
/// [`HealthScore`] with its words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthNumbers {
    /// Smoothed composite (as [`HealthScore::score`]).
    pub score: f64,
    /// Unsmoothed composite (as [`HealthScore::raw`]).
    pub raw: f64,
    /// Each factor's score, in [`FactorName`] order.
    pub factor_scores: [f64; 6],
    /// No channel baseline yet.
    pub cold_start: bool,
    /// The tick's instant.
    pub computed_at: DateTime<Utc>,
    /// The churn risk the update was given.
    churn_risk: Option<f64>,
    /// The learned uniques baseline the update read (before it learned from this tick).
    uniques_baseline: Option<f64>,
}

impl HealthNumbers {
    /// The score of factor `name`.
    pub fn factor_score(&self, name: FactorName) -> f64 {
        let i = FACTOR_ORDER.iter().position(|n| *n == name).unwrap_or(0);
        self.factor_scores[i]
    }
}

const FACTOR_ORDER: [FactorName; 6] = [
    FactorName::Engagement,
    FactorName::Momentum,
    FactorName::Sentiment,
    FactorName::Retention,
    FactorName::Safety,
    FactorName::Responsiveness,
];

impl HealthEngine {
    /// An engine with the given tunables.
    pub fn new(config: HealthConfig) -> Self {
        Self {
            config: super::shared::share(config),
            ..Self::default()
        }
    }

    /// The tunables.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// The smoothed score after the last tick, if any.
    pub fn smoothed(&self) -> Option<f64> {
        self.smoothed
    }

    /// The learned unique-chatters-per-minute baseline, if any.
    pub fn uniques_baseline(&self) -> Option<f64> {
        self.uniques_baseline
    }

    /// Scores the stream at `s.now`. `churn_risk` (0-1) is the churn engine's channel risk,
    /// folded into retention when given.
    pub fn update(&mut self, s: &Signals, churn_risk: Option<f64>) -> HealthScore {
        let numbers = self.update_numbers(s, churn_risk);
        self.render(s, &numbers)
    }

    /// [`update`](Self::update) without the words: the same scores and the same state change,
    /// nothing formatted or allocated. [`render`](Self::render) gives the full score later.
    pub fn update_numbers(&mut self, s: &Signals, churn_risk: Option<f64>) -> HealthNumbers {
        let dt = match self.last_at {
            Some(last) => secs_between(s.now, last),
            None => 0.0,
        };
        let cold_start = baseline(s).is_none();
        let uniques_baseline = self.uniques_baseline;
        let factors = self.factors(s, churn_risk, uniques_baseline, Words(false));
        let raw = clamp100(self.composite(&factors));

        let score = match self.smoothed {
            Some(prev) => {
                let alpha = ema_alpha(dt, self.config.smoothing_tau_secs);
                clamp100(prev + alpha * (raw - prev))
            }
            None => raw,
        };
        self.smoothed = Some(score);
        // Never move the clock backwards: an out-of-order tick must not buy extra smoothing.
        self.last_at = Some(self.last_at.map_or(s.now, |t| t.max(s.now)));
        self.learn_uniques(s, dt);
        HealthNumbers {
            score,
            raw,
            factor_scores: factors.map(|f| f.score),
            cold_start,
            computed_at: s.now,
            churn_risk,
            uniques_baseline,
        }
    }

    /// The full score of an update: `numbers` from [`update_numbers`](Self::update_numbers)
    /// with the same `s`, its factors' explanations and evidence built now.
    pub fn render(&self, s: &Signals, numbers: &HealthNumbers) -> HealthScore {
        let factors = self.factors(s, numbers.churn_risk, numbers.uniques_baseline, Words(true));
        let explanation = summarise(numbers.score, numbers.raw, &factors, numbers.cold_start);
        HealthScore {
            score: numbers.score,
            raw: numbers.raw,
            factors: Vec::from(factors),
            cold_start: numbers.cold_start,
            explanation,
            computed_at: numbers.computed_at,
        }
    }

    /// The six factors, in [`FactorName`] order, with their configured weights.
    fn factors(
        &self,
        s: &Signals,
        churn_risk: Option<f64>,
        uniques_baseline: Option<f64>,
        w: Words,
    ) -> [Factor; 6] {
        FACTOR_ORDER.map(|name| {
            let mut f = match name {
                FactorName::Engagement => Self::engagement(s, uniques_baseline, w),
                FactorName::Momentum => momentum(s, w),
                FactorName::Sentiment => sentiment(s, w),
                FactorName::Retention => retention(s, churn_risk, w),
                FactorName::Safety => safety(s, w),
                FactorName::Responsiveness => responsiveness(s, w),
            };
            f.weight = self.config.weights.get(f.name);
            f
        })
    }

    fn composite(&self, factors: &[Factor]) -> f64 {
        let total: f64 = factors.iter().map(|f| f.weight).sum();
        if total > 0.0 {
            factors.iter().map(|f| f.weight * f.score).sum::<f64>() / total
        } else {
            // All weights zero: an unweighted mean is the only honest answer.
            factors.iter().map(|f| f.score).sum::<f64>() / factors.len().max(1) as f64
        }
    }

    fn learn_uniques(&mut self, s: &Signals, dt: f64) {
        let current = uniques_per_min(&s.w5);
        match self.uniques_baseline {
            // Seed only from real chat, so an idle start does not anchor the baseline at 0.
            None if current > 0.0 => self.uniques_baseline = Some(current),
            None => {}
            Some(b) => {
                let alpha = ema_alpha(dt, self.config.uniques_baseline_tau_secs);
                self.uniques_baseline = Some(finite_or(b + alpha * (current - b), b));
            }
        }
    }

    fn engagement(s: &Signals, uniques_baseline: Option<f64>, w: Words) -> Factor {
        let name = FactorName::Engagement;
        let weight = 0.0;
        let r5 = rate(&s.w5);
        let upm = uniques_per_min(&s.w5);
        let epm = per_message(s.w5.emotes, s.w5.messages);
        let emote_score = 50.0 + 50.0 * epm / (epm + 0.5);

        let Some(base) = baseline(s) else {
            return Factor {
                name,
                score: NEUTRAL,
                weight,
                explanation: w.text(|| format!(
                    "No baseline yet for this channel, so engagement is neutral until its usual \
                     pace is learned ({r5:.1} msg/min, {upm:.1} chatters/min now)"
                )),
                evidence: w.evidence([
                    ("rate_per_min", r5),
                    ("unique_chatters_per_min", upm),
                    ("emotes_per_message", epm),
                ]),
            };
        };

        let rate_score = log_ratio_score(r5, base, 60.0, 20.0);
        let (score, uniq_text) = match uniques_baseline {
            Some(ub) => {
                let uniq_score = log_ratio_score(upm, ub, 60.0, 20.0);
                (
                    0.60 * rate_score + 0.25 * uniq_score + 0.15 * emote_score,
                    w.text(|| format!("{upm:.1} chatters/min vs usual {ub:.1}")),
                )
            }
            None => (
                (0.60 * rate_score + 0.15 * emote_score) / 0.75,
                w.text(|| format!("{upm:.1} chatters/min (no usual yet)")),
            ),
        };
        Factor {
            name,
            score: clamp100(score),
            weight,
            explanation: w.text(|| {
                format!(
                    "Chat at {r5:.1} msg/min is {:.1}× your usual {base:.1}; {uniq_text}; \
                 {epm:.2} emotes per message",
                    r5 / base
                )
            }),
            evidence: w.evidence([
                ("rate_per_min", r5),
                ("baseline_rate_per_min", base),
                ("unique_chatters_per_min", upm),
                (
                    "baseline_unique_chatters_per_min",
                    uniques_baseline.unwrap_or(0.0),
                ),
                ("emotes_per_message", epm),
                ("rate_score", rate_score),
                ("emote_score", emote_score),
            ]),
        }
    }
}

/// Unique chatters per minute of a (5-minute) window.
fn uniques_per_min(w: &WindowStats) -> f64 {
    f64::from(w.unique_chatters) / window_minutes(w, 300)
}

/// `count / messages`, 0 without messages.
fn per_message(count: u64, messages: u64) -> f64 {
    if messages == 0 {
        0.0
    } else {
        count as f64 / messages as f64
    }
}

fn momentum(s: &Signals, w: Words) -> Factor {
    let name = FactorName::Momentum;
    // The engine sets the configured weight; factor functions only score.
    let weight = 0.0;
    let (r1, r15) = (rate(&s.w1), rate(&s.w15));
    if s.w15.messages == 0 && s.w1.messages == 0 {
        return Factor {
            name,
            score: NEUTRAL,
            weight,
            explanation: w
                .text(|| "No chat in the last 15 minutes, so no trend to read".to_owned()),
            evidence: w.evidence([("rate_1m", r1), ("rate_15m", r15)]),
        };
    }
    let score = log_ratio_score(r1, r15, 50.0, 25.0);
    let ratio = (r1 + RATE_DAMPING) / (r15 + RATE_DAMPING);
    let trend = if ratio < 0.8 {
        "chat is slowing"
    } else if ratio > 1.25 {
        "chat is picking up"
    } else {
        "steady"
    };
    Factor {
        name,
        score,
        weight,
        explanation: w.text(|| {
            format!("Last minute {r1:.1} msg/min vs {r15:.1} over 15 min ({ratio:.2}×): {trend}")
        }),
        evidence: w.evidence([("rate_1m", r1), ("rate_15m", r15), ("ratio", ratio)]),
    }
}

fn sentiment(s: &Signals, w: Words) -> Factor {
    let name = FactorName::Sentiment;
    // The engine sets the configured weight; factor functions only score.
    let weight = 0.0;
    if s.w5.messages == 0 {
        return Factor {
            name,
            score: NEUTRAL,
            weight,
            explanation: w.text(|| "No messages in 5 minutes, so mood is neutral".to_owned()),
            evidence: w.evidence([("sentiment_mean_5m", 0.0), ("messages_5m", 0.0)]),
        };
    }
    let mean = finite_or(s.w5.sentiment_mean, 0.0).clamp(-1.0, 1.0);
    let mood = if mean > 0.15 {
        "positive"
    } else if mean < -0.15 {
        "negative"
    } else {
        "neutral"
    };
    Factor {
        name,
        score: clamp100(50.0 + 50.0 * mean),
        weight,
        explanation: w.text(|| {
            format!(
                "Mood over 5 minutes is {mood} ({mean:+.2} across {} messages)",
                s.w5.messages
            )
        }),
        evidence: w.evidence([
            ("sentiment_mean_5m", mean),
            ("messages_5m", s.w5.messages as f64),
        ]),
    }
}

fn retention(s: &Signals, churn_risk: Option<f64>, w: Words) -> Factor {
    let name = FactorName::Retention;
    // The engine sets the configured weight; factor functions only score.
    let weight = 0.0;
    let returning = f64::from(s.w15.returning_chatters);
    let new = f64::from(s.w15.new_chatters);
    let share = (returning + new > 0.0).then(|| returning / (returning + new));
    let share_score = share.map(|x| clamp100(100.0 * x / RETURNING_SHARE_FULL));
    let risk = churn_risk.map(clamp01);
    let churn_score = risk.map(|r| 100.0 * (1.0 - r));

    let (score, explanation) = match (share_score, churn_score) {
        (Some(a), Some(b)) => (
            (a + b) / 2.0,
            w.text(|| format!(
                "{:.0}% of chatters in 15 min are returning ({returning:.0} returning, {new:.0} \
                 new); churn risk {:.0}%",
                100.0 * share.unwrap_or(0.0),
                100.0 * risk.unwrap_or(0.0)
            )),
        ),
        (Some(a), None) => (
            a,
            w.text(|| format!(
                "{:.0}% of chatters in 15 min are returning ({returning:.0} returning, {new:.0} \
                 new)",
                100.0 * share.unwrap_or(0.0)
            )),
        ),
        (None, Some(b)) => (
            b,
            w.text(|| format!(
                "No chatters in 15 min; churn risk {:.0}%",
                100.0 * risk.unwrap_or(0.0)
            )),
        ),
        (None, None) => (
            NEUTRAL,
            w.text(|| "No chatters in 15 minutes and no churn estimate, so retention is neutral".to_owned()),
        ),
    };
    Factor {
        name,
        score: clamp100(score),
        weight,
        explanation,
        evidence: w.evidence([
            ("returning_chatters_15m", returning),
            ("new_chatters_15m", new),
            ("returning_share", share.unwrap_or(0.0)),
            ("churn_risk", risk.unwrap_or(0.0)),
        ]),
    }
}

/// Share of bad messages in a window: `max(toxic, moderation) / messages`, capped at 1.
fn bad_share(w: &WindowStats) -> f64 {
    let bad = f64::from(w.toxic_messages.max(w.moderation_actions));
    clamp01(bad / (w.messages.max(1) as f64))
}

fn safety(s: &Signals, w: Words) -> Factor {
    let name = FactorName::Safety;
    // The engine sets the configured weight; factor functions only score.
    let weight = 0.0;
    let bad5 = s.w5.toxic_messages.max(s.w5.moderation_actions);
    if s.w5.messages == 0 && bad5 == 0 && s.w1.messages == 0 {
        return Factor {
            name,
            score: 100.0,
            weight,
            explanation: w.text(|| "No chat in 5 minutes, nothing to moderate".to_owned()),
            evidence: w.evidence([("bad_share_5m", 0.0), ("bad_share_1m", 0.0)]),
        };
    }
    let share5 = bad_share(&s.w5);
    let share1 = bad_share(&s.w1);
    let score_of = |share: f64| clamp100(100.0 * (1.0 - share / BAD_SHARE_ZERO));
    let mut score = score_of(share5);
    let w1_counts = s.w1.messages >= SAFETY_W1_MIN_MESSAGES;
    if w1_counts {
        score = score.min(score_of(share1));
    }
    let explanation =
        if bad5 == 0 && (!w1_counts || share1 == 0.0) {
            w.text(|| {
                format!(
                    "No toxic messages or moderation actions in {} messages over 5 minutes",
                    s.w5.messages
                )
            })
        } else {
            w.text(|| format!(
            "{:.1}% of messages were toxic or moderated over 5 min ({} toxic, {} mod actions \
             of {}); {:.1}% in the last minute",
            100.0 * share5,
            s.w5.toxic_messages,
            s.w5.moderation_actions,
            s.w5.messages,
            100.0 * share1
        ))
        };
    Factor {
        name,
        score,
        weight,
        explanation,
        evidence: w.evidence([
            ("bad_share_5m", share5),
            ("bad_share_1m", share1),
            ("toxic_5m", f64::from(s.w5.toxic_messages)),
            ("moderation_actions_5m", f64::from(s.w5.moderation_actions)),
            ("messages_5m", s.w5.messages as f64),
        ]),
    }
}

/// Age in seconds of the oldest open question (0 when none or all are in the future).
pub(crate) fn oldest_open_question_secs(s: &Signals) -> f64 {
    s.open_questions
        .iter()
        .map(|q| secs_between(s.now, q.asked_at))
        .fold(0.0, f64::max)
}

fn responsiveness(s: &Signals, w: Words) -> Factor {
    let name = FactorName::Responsiveness;
    // The engine sets the configured weight; factor functions only score.
    let weight = 0.0;
    let asked = s.w15.questions;
    let answered = s.w15.questions_answered.min(asked);
    let open = s.open_questions.len();
    let age = oldest_open_question_secs(s);
    let answered_score = (asked > 0).then(|| 100.0 * f64::from(answered) / f64::from(asked));
    let age_score = (open > 0)
        .then(|| 100.0 * (1.0 - clamp01((age - QUESTION_GRACE_SECS) / QUESTION_DECAY_SECS)));
    let score = match (answered_score, age_score) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => 100.0,
    };
    let explanation = if asked == 0 && open == 0 {
        w.text(|| "No questions waiting".to_owned())
    } else if open == 0 {
        w.text(|| format!("{answered} of {asked} questions in 15 min answered; none waiting"))
    } else {
        w.text(|| format!(
            "{answered} of {asked} questions in 15 min answered; {open} waiting, the oldest for \
             {age:.0} s"
        ))
    };
    Factor {
        name,
        score: clamp100(score),
        weight,
        explanation,
        evidence: w.evidence([
            ("questions_15m", f64::from(asked)),
            ("answered_15m", f64::from(answered)),
            ("open_questions", open as f64),
            ("oldest_open_secs", age),
        ]),
    }
}

fn summarise(score: f64, raw: f64, factors: &[Factor], cold_start: bool) -> String {
    let best = factors.iter().max_by(|a, b| a.score.total_cmp(&b.score));
    let worst = factors.iter().min_by(|a, b| a.score.total_cmp(&b.score));
    let mut line = format!("Health {score:.0}/100 (this instant {raw:.0})");
    if let (Some(best), Some(worst)) = (best, worst) {
        line.push_str(&format!(
            ": strongest {} {:.0}, weakest {} {:.0}",
            best.name.as_str(),
            best.score,
            worst.name.as_str(),
            worst.score
        ));
    }
    if cold_start {
        line.push_str("; no channel baseline yet, engagement shown as neutral");
    }
    line
}

/// Builders shared by the intel engines' tests.
#[cfg(test)]
pub(crate) mod testkit {
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;

    use crate::intel::signals::{ChatFacts, OpenQuestion, RaidInfo, Signals, WindowStats};

    /// A fixed instant plus `secs`.
    pub(crate) fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("valid test instant")
    }

    /// A calm window: `rate` msg/min, mildly positive, some emotes, mostly returning chatters.
    pub(crate) fn window(span_secs: u32, rate: f64) -> WindowStats {
        let messages = (rate * f64::from(span_secs) / 60.0).round() as u64;
        let unique = ((messages as f64) * 0.3).ceil() as u32;
        let new = unique / 10;
        WindowStats {
            span_secs,
            messages,
            messages_per_min: rate,
            unique_chatters: unique,
            new_chatters: new,
            returning_chatters: unique - new,
            emotes: messages / 3,
            sentiment_mean: 0.2,
            ..WindowStats::default()
        }
    }

    /// Steady chat at `rate` msg/min, at the channel's baseline, nothing happening.
    pub(crate) fn steady(now: DateTime<Utc>, rate: f64) -> Signals {
        Signals {
            now,
            w1: window(60, rate),
            w5: window(300, rate),
            w15: window(900, rate),
            baseline_rate_per_min: rate,
            rate_stddev_per_min: (rate * 0.2).max(1.0),
            open_questions: Vec::new(),
            ungreeted_first_timers: Vec::new(),
            last_raid: None,
            secs_since_last_message: Some(60.0 / rate.max(1.0)),
        }
    }

    /// A plain chat message.
    pub(crate) fn msg(login: &str, at: DateTime<Utc>) -> ChatFacts {
        ChatFacts {
            login: login.to_owned(),
            at,
            sentiment: 0.1,
            toxic: false,
            is_question: false,
            mentions_streamer: false,
            emotes: 0,
            is_staff: false,
            first_time: false,
        }
    }

    /// Property-test settings: no regression files written into the source tree.
    pub(crate) fn prop_config() -> ProptestConfig {
        ProptestConfig {
            cases: 128,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        // Mostly sensible numbers, sometimes the worst (NaN, infinities, huge).
        prop_oneof![
            4 => -1.0e3..1.0e4f64,
            1 => proptest::num::f64::ANY,
        ]
    }

    prop_compose! {
        fn arb_window()(
            (span_secs, messages, messages_per_min, unique_chatters, new_chatters,
             returning_chatters, emotes) in
                (0u32..2_000, 0u64..1_000_000, any_f64(), any::<u32>(), any::<u32>(),
                 any::<u32>(), 0u64..10_000_000),
            (questions, questions_answered, mentions, moderation_actions, toxic_messages,
             subs, gifts, bits, raids, raid_viewers, sentiment_mean) in
                (0u32..1_000, 0u32..1_000, any::<u32>(), 0u32..100_000, 0u32..100_000,
                 any::<u32>(), any::<u32>(), any::<i64>(), any::<u32>(), any::<u64>(),
                 any_f64()),
        ) -> WindowStats {
            WindowStats {
                span_secs, messages, messages_per_min, unique_chatters, new_chatters,
                returning_chatters, emotes, questions, questions_answered, mentions,
                moderation_actions, toxic_messages, subs, gifts, bits, raids, raid_viewers,
                sentiment_mean,
            }
        }
    }

    prop_compose! {
        /// Arbitrary signals, `now` within a day of [`t`]`(0)`.
        pub(crate) fn arb_signals()(
            now in 0i64..86_400,
            w1 in arb_window(), w5 in arb_window(), w15 in arb_window(),
            baseline in any_f64(), stddev in any_f64(),
            questions in proptest::collection::vec(("[a-z]{1,6}", -5_000i64..5_000), 0..6),
            first_timers in proptest::collection::vec("[a-z]{1,8}", 0..12),
            raid in proptest::option::of(("[a-z]{1,8}", any::<u64>(), -600i64..600)),
            since in proptest::option::of(any_f64()),
        ) -> Signals {
            Signals {
                now: t(now),
                w1, w5, w15,
                baseline_rate_per_min: baseline,
                rate_stddev_per_min: stddev,
                open_questions: questions
                    .into_iter()
                    .map(|(login, ago)| OpenQuestion {
                        login,
                        text: "what?".to_owned(),
                        asked_at: t(now - ago),
                    })
                    .collect(),
                ungreeted_first_timers: first_timers,
                last_raid: raid.map(|(from, viewers, ago)| RaidInfo { from, viewers, at: t(now - ago) }),
                secs_since_last_message: since,
            }
        }
    }
}

super::shared::shared_default!(HealthConfig);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::testkit::{arb_signals, steady, t};
    use super::*;
    use crate::intel::signals::OpenQuestion;

    fn factor(h: &HealthScore, name: FactorName) -> &Factor {
        h.factor(name).expect("every factor is always present")
    }

    /// Ticks `engine` once a second over steady chat for `secs` seconds from `from`.
    fn warm(engine: &mut HealthEngine, from: i64, secs: i64, rate: f64) -> HealthScore {
        let mut last = engine.update(&steady(t(from), rate), None);
        for i in 1..secs {
            last = engine.update(&steady(t(from + i), rate), None);
        }
        last
    }

    #[test]
    fn steady_chat_at_baseline_is_healthy_and_explained() {
        let mut e = HealthEngine::default();
        let h = warm(&mut e, 0, 120, 30.0);
        assert!(!h.cold_start);
        assert_eq!(h.factors.len(), 6);
        // Engagement at parity with some emotes: a little above 60.
        let eng = factor(&h, FactorName::Engagement);
        assert!(
            (60.0..75.0).contains(&eng.score),
            "engagement {}",
            eng.score
        );
        assert!(
            eng.explanation.contains("1.0× your usual 30.0"),
            "{}",
            eng.explanation
        );
        let mom = factor(&h, FactorName::Momentum);
        assert!((mom.score - 50.0).abs() < 1e-9);
        assert!(mom.explanation.contains("steady"));
        assert_eq!(factor(&h, FactorName::Safety).score, 100.0);
        assert_eq!(factor(&h, FactorName::Responsiveness).score, 100.0);
        assert!(h.score > 55.0 && h.score < 80.0, "score {}", h.score);
        assert!(h.explanation.starts_with("Health "));
        assert!(eng.evidence.contains_key("baseline_rate_per_min"));
    }

    #[test]
    fn raw_is_the_documented_weighted_mean() {
        let mut e = HealthEngine::default();
        let mut s = steady(t(0), 12.0);
        s.w5.sentiment_mean = -0.4;
        s.w5.toxic_messages = 3;
        let h = e.update(&s, Some(0.3));
        let w = FactorWeights::default();
        let total =
            w.engagement + w.momentum + w.sentiment + w.retention + w.safety + w.responsiveness;
        assert!((total - 1.0).abs() < 1e-12);
        let expected: f64 = h.factors.iter().map(|f| f.weight * f.score).sum();
        assert!((h.raw - expected).abs() < 1e-9);
        // Sentiment: 50 + 50 * -0.4.
        assert!((factor(&h, FactorName::Sentiment).score - 30.0).abs() < 1e-9);
        // First tick: the average starts at raw.
        assert_eq!(h.score, h.raw);
    }

    #[test]
    fn cold_start_is_neutral_and_says_so() {
        let mut e = HealthEngine::default();
        let mut s = steady(t(0), 10.0);
        s.baseline_rate_per_min = 0.0;
        let h = e.update(&s, None);
        assert!(h.cold_start);
        let eng = factor(&h, FactorName::Engagement);
        assert_eq!(eng.score, 50.0);
        assert!(
            eng.explanation.contains("No baseline yet"),
            "{}",
            eng.explanation
        );
        assert!(h.explanation.contains("no channel baseline yet"));
        assert!(
            h.score > 40.0,
            "cold start must not read as a dead stream: {}",
            h.score
        );

        // A brand-new channel with no chat at all is neutral, not 0.
        let mut empty = steady(t(0), 0.0);
        empty.baseline_rate_per_min = 0.0;
        empty.secs_since_last_message = None;
        let h = HealthEngine::default().update(&empty, None);
        for f in &h.factors {
            assert!(
                f.score >= 50.0,
                "{:?} scored {} with no data",
                f.name,
                f.score
            );
        }
    }

    #[test]
    fn toxicity_lowers_safety() {
        let mut e = HealthEngine::default();
        warm(&mut e, 0, 60, 30.0);
        let mut s = steady(t(60), 30.0);
        s.w1.toxic_messages = 9; // 30% of the last minute
        s.w1.moderation_actions = 4;
        s.w5.toxic_messages = 20; // 13% of 150
        let h = e.update(&s, None);
        let safety = factor(&h, FactorName::Safety);
        assert!(safety.score < 20.0, "safety {}", safety.score);
        assert!(
            safety.explanation.contains("toxic"),
            "{}",
            safety.explanation
        );
        assert!((safety.evidence["bad_share_1m"] - 0.3).abs() < 1e-9);
    }

    #[test]
    fn chat_dying_drops_momentum() {
        let mut e = HealthEngine::default();
        let before = warm(&mut e, 0, 900, 20.0);
        let mut s = steady(t(900), 20.0);
        s.w1 = testkit::window(60, 1.0);
        s.w5 = testkit::window(300, 12.0);
        s.w15 = testkit::window(900, 18.0);
        let h = e.update(&s, None);
        let m = factor(&h, FactorName::Momentum);
        assert!(m.score < 20.0, "momentum {}", m.score);
        assert!(m.explanation.contains("slowing"), "{}", m.explanation);
        assert!(h.raw < before.raw);
    }

    #[test]
    fn one_outlier_tick_moves_the_smoothed_score_a_bounded_amount() {
        let mut e = HealthEngine::default();
        let calm = warm(&mut e, 0, 120, 30.0);
        let mut awful = steady(t(120), 30.0);
        awful.w1 = testkit::window(60, 0.0);
        awful.w5.sentiment_mean = -1.0;
        awful.w5.toxic_messages = 150;
        awful.open_questions = vec![OpenQuestion {
            login: "q".into(),
            text: "hello?".into(),
            asked_at: t(0),
        }];
        let h = e.update(&awful, Some(1.0));
        assert!(calm.raw - h.raw > 30.0, "the outlier must be an outlier");
        let bound = 100.0 * (1.0 - (-1.0f64 / 20.0).exp());
        let moved = (calm.score - h.score).abs();
        assert!(
            moved > 0.0 && moved <= bound + 1e-9,
            "moved {moved}, bound {bound}"
        );
        // Back to calm: the score heads back up.
        let back = e.update(&steady(t(121), 30.0), None);
        assert!(back.score > h.score);
    }

    #[test]
    fn smoothing_follows_elapsed_time_not_calls() {
        let (mut fast, mut slow) = (HealthEngine::default(), HealthEngine::default());
        fast.update(&steady(t(0), 30.0), None);
        slow.update(&steady(t(0), 30.0), None);
        let mut bad = steady(t(0), 30.0);
        bad.w5.sentiment_mean = -1.0;
        // Ten ticks a second apart vs one tick ten seconds later: the same decay.
        let mut f = None;
        for i in 1..=10 {
            bad.now = t(i);
            f = Some(fast.update(&bad, None));
        }
        bad.now = t(10);
        let s = slow.update(&bad, None);
        let f = f.expect("ticked");
        assert!(
            (f.score - s.score).abs() < 1e-6,
            "{} vs {}",
            f.score,
            s.score
        );
        // Repeating the same instant does not move it; neither does an earlier one.
        let again = slow.update(&bad, None);
        assert_eq!(again.score, s.score);
        bad.now = t(5);
        assert_eq!(slow.update(&bad, None).score, s.score);
    }

    #[test]
    fn old_open_question_lowers_responsiveness() {
        let mut e = HealthEngine::default();
        let mut s = steady(t(600), 20.0);
        s.w15.questions = 4;
        s.w15.questions_answered = 1;
        s.open_questions = vec![OpenQuestion {
            login: "viewer".into(),
            text: "what game is next?".into(),
            asked_at: t(600 - 300),
        }];
        let h = e.update(&s, None);
        let r = factor(&h, FactorName::Responsiveness);
        // (25 + 0) / 2.
        assert!((r.score - 12.5).abs() < 1e-9, "responsiveness {}", r.score);
        assert!(r.explanation.contains("300 s"), "{}", r.explanation);
    }

    #[test]
    fn churn_risk_feeds_retention() {
        let s = steady(t(0), 20.0);
        let low = HealthEngine::default().update(&s, Some(0.0));
        let high = HealthEngine::default().update(&s, Some(0.9));
        let (a, b) = (
            factor(&low, FactorName::Retention).score,
            factor(&high, FactorName::Retention).score,
        );
        assert!(a - b > 40.0, "{a} vs {b}");
        assert!(
            factor(&high, FactorName::Retention)
                .explanation
                .contains("churn risk 90%")
        );
    }

    #[test]
    fn uniques_baseline_is_learned_and_used() {
        let mut e = HealthEngine::default();
        warm(&mut e, 0, 60, 30.0);
        let ub = e.uniques_baseline().expect("learned from chat");
        assert!((ub - 9.0).abs() < 1e-9, "45 uniques over 5 min: {ub}");
        let mut s = steady(t(60), 30.0);
        s.w5.unique_chatters = 180; // 4× the usual chatters per minute
        let wide = e.clone().update(&s, None);
        let narrow = e.update(&steady(t(60), 30.0), None);
        assert!(
            factor(&wide, FactorName::Engagement).score
                > factor(&narrow, FactorName::Engagement).score + 5.0
        );
    }

    #[test]
    fn engine_state_round_trips_through_json() {
        let mut e = HealthEngine::default();
        warm(&mut e, 0, 30, 30.0);
        let json = serde_json::to_string(&e).expect("serialise");
        let back: HealthEngine = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back.config(), e.config());
        let (a, b) = (
            back.smoothed().unwrap_or(-1.0),
            e.smoothed().unwrap_or(-2.0),
        );
        assert!((a - b).abs() < 1e-9);
    }

    proptest! {
        #![proptest_config(testkit::prop_config())]
        #[test]
        fn scores_stay_in_range_for_arbitrary_signals(
            ticks in proptest::collection::vec(
                (arb_signals(), proptest::option::of(proptest::num::f64::ANY)), 1..8),
        ) {
            let mut e = HealthEngine::default();
            for (s, churn) in ticks {
                let h = e.update(&s, churn);
                prop_assert!((0.0..=100.0).contains(&h.score), "score {}", h.score);
                prop_assert!((0.0..=100.0).contains(&h.raw), "raw {}", h.raw);
                for f in &h.factors {
                    prop_assert!((0.0..=100.0).contains(&f.score), "{:?} {}", f.name, f.score);
                    prop_assert!(!f.explanation.is_empty());
                }
                let json = serde_json::to_string(&h).expect("serialise");
                // serde_json's default float parsing may differ in the last bit.
                let back: HealthScore = serde_json::from_str(&json).expect("round-trips");
                prop_assert!((back.score - h.score).abs() < 1e-9);
                prop_assert_eq!(back.factors.len(), h.factors.len());
            }
        }
    }
}

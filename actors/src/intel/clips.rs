//! Clip moments: spots in the stream worth clipping, found from hype in chat and events.
//!
//! [`ClipDetector::observe`] runs on the periodic tick. It reads the hype of the last minute
//! ([`read_hype`]), emits at most one [`ClipCandidate`] per hype burst, and keeps the last
//! few candidates (bounded).
//!
//! # Hype strength
//!
//! - **Chat rate.** `z = (rate₁ − reference) / spread`, with `reference` the channel baseline
//!   (the 15-min rate during cold start) and `spread = max(stddev, 0.3·reference, 1 msg/min)`
//!   (the floors keep a quiet channel's three extra messages from reading as hype).
//!   `rate_score = clamp((z − 2) / (5 − 2), 0, 1)`.
//! - **Emote burst.** `ratio = e₁ / max(e₁₅, 0.2)` with `e` = emotes per message;
//!   `emote_score = clamp((ratio − 1) / (3 − 1), 0, 1)` when `e₁ ≥ 0.3`, else 0.
//!   Both chat parts need ≥ 5 messages in the last minute.
//! - **Events.** `units = subs + gifts + bits/500 + 2·raids` in the last minute;
//!   `event_score = clamp(units / 5, 0, 1)`.
//!
//! `strength = 1 − (1 − 0.7·rate_score)(1 − 0.4·emote_score)(1 − 0.6·event_score)`: chat
//! rate alone reaches 0.7, emotes alone only 0.4 (emote spam is not a moment), a gift bomb
//! alone 0.6.
//!
//! # Debounce
//!
//! A burst starts when strength reaches 0.5 and ends when it falls below 0.3 (hysteresis,
//! so a burst hovering at the threshold is still one burst). A candidate is emitted when a
//! burst starts, unless the previous candidate is less than 60 s old; while the burst lasts,
//! its candidate's `peak_strength` keeps rising with it. The last 20 candidates are kept.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::health::{Evidence, add_secs, baseline, evidence, finite_or, rate, secs_between};
use super::signals::{Signals, WindowStats};

/// Tunables of the clip detector; see the module doc for how each is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    /// Rate z-score where the rate part starts counting (default 2).
    pub z_start: f64,
    /// Rate z-score where the rate part is full (default 5).
    pub z_full: f64,
    /// Spread floor as a fraction of the reference rate (default 0.3).
    pub spread_floor_fraction: f64,
    /// Spread floor in msg/min (default 1).
    pub spread_floor_per_min: f64,
    /// Messages needed in the last minute for the chat parts to count (default 5).
    pub min_messages: u64,
    /// Emote-density ratio (last minute vs 15 minutes) where the emote part is full
    /// (default 3).
    pub emote_ratio_full: f64,
    /// Emotes per message needed in the last minute for the emote part (default 0.3).
    pub min_emotes_per_message: f64,
    /// Bits counted as one event unit (default 500, about one sub).
    pub bits_per_unit: f64,
    /// Event units where the event part is full (default 5).
    pub event_units_full: f64,
    /// Strength at which a burst starts (default 0.5).
    pub enter_strength: f64,
    /// Strength below which a burst ends (default 0.3).
    pub exit_strength: f64,
    /// Least time between two candidates, seconds (default 60).
    pub min_gap_secs: f64,
    /// Candidates kept (default 20).
    pub keep_last: usize,
    /// How far back a suggested clip starts, seconds (default 60: the last minute is what
    /// made chat react).
    pub lookback_secs: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            z_start: 2.0,
            z_full: 5.0,
            spread_floor_fraction: 0.3,
            spread_floor_per_min: 1.0,
            min_messages: 5,
            emote_ratio_full: 3.0,
            min_emotes_per_message: 0.3,
            bits_per_unit: 500.0,
            event_units_full: 5.0,
            enter_strength: 0.5,
            exit_strength: 0.3,
            min_gap_secs: 60.0,
            keep_last: 20,
            lookback_secs: 60.0,
        }
    }
}

/// Weight of the chat-rate part in the strength.
const RATE_WEIGHT: f64 = 0.7;
/// Weight of the emote part.
const EMOTE_WEIGHT: f64 = 0.4;
/// Weight of the event part.
const EVENT_WEIGHT: f64 = 0.6;
/// Raids count as this many event units each.
const RAID_UNITS: f64 = 2.0;
/// Emote density floor for the 15-minute reference (emotes per message).
const EMOTE_REFERENCE_FLOOR: f64 = 0.2;

/// The hype of the last minute, part by part.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HypeReading {
    /// Messages per minute over the last minute.
    pub rate_per_min: f64,
    /// What that rate is compared with (baseline, or the 15-min rate during cold start).
    pub reference_rate: f64,
    /// Chat-rate z-score.
    pub z: f64,
    /// Emotes per message over the last minute.
    pub emotes_per_message: f64,
    /// That density over the 15-minute one.
    pub emote_ratio: f64,
    /// Subs, gifts, bits and raids of the last minute in event units.
    pub event_units: f64,
    /// Rate part in \[0, 1\].
    pub rate_score: f64,
    /// Emote part in \[0, 1\].
    pub emote_score: f64,
    /// Event part in \[0, 1\].
    pub event_score: f64,
    /// Combined strength in \[0, 1\].
    pub strength: f64,
}

fn clamp01(x: f64) -> f64 {
    finite_or(x, 0.0).clamp(0.0, 1.0)
}

fn emotes_per_message(w: &WindowStats) -> f64 {
    if w.messages == 0 {
        0.0
    } else {
        w.emotes as f64 / w.messages as f64
    }
}

/// Reads the hype of the last minute (the formulas are in the module doc).
pub fn read_hype(s: &Signals, cfg: &ClipConfig) -> HypeReading {
    let r1 = rate(&s.w1);
    let reference = baseline(s).unwrap_or_else(|| rate(&s.w15));
    let stddev = finite_or(s.rate_stddev_per_min, 0.0).max(0.0);
    let spread = stddev
        .max(cfg.spread_floor_fraction * reference)
        .max(cfg.spread_floor_per_min)
        .max(f64::EPSILON);
    let z = finite_or((r1 - reference) / spread, 0.0);
    let enough_chat = s.w1.messages >= cfg.min_messages;
    let z_span = (cfg.z_full - cfg.z_start).max(f64::EPSILON);
    let rate_score = if enough_chat {
        clamp01((z - cfg.z_start) / z_span)
    } else {
        0.0
    };

    let e1 = emotes_per_message(&s.w1);
    let e15 = emotes_per_message(&s.w15);
    let emote_ratio = e1 / e15.max(EMOTE_REFERENCE_FLOOR);
    let emote_span = (cfg.emote_ratio_full - 1.0).max(f64::EPSILON);
    let emote_score = if enough_chat && e1 >= cfg.min_emotes_per_message {
        clamp01((emote_ratio - 1.0) / emote_span)
    } else {
        0.0
    };

    let bits = (s.w1.bits.max(0) as f64) / cfg.bits_per_unit.max(1.0);
    let event_units =
        f64::from(s.w1.subs) + f64::from(s.w1.gifts) + bits + RAID_UNITS * f64::from(s.w1.raids);
    let event_score = clamp01(event_units / cfg.event_units_full.max(f64::EPSILON));

    let strength = clamp01(
        1.0 - (1.0 - RATE_WEIGHT * rate_score)
            * (1.0 - EMOTE_WEIGHT * emote_score)
            * (1.0 - EVENT_WEIGHT * event_score),
    );
    HypeReading {
        rate_per_min: r1,
        reference_rate: reference,
        z,
        emotes_per_message: e1,
        emote_ratio: finite_or(emote_ratio, 0.0),
        event_units,
        rate_score,
        emote_score,
        event_score,
        strength,
    }
}

/// A moment worth clipping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipCandidate {
    /// Deterministic id: `clip-<unix ms of at>`.
    pub id: String,
    /// When the burst was detected.
    pub at: DateTime<Utc>,
    /// Where a clip should start (`at` minus the lookback).
    pub suggested_start: DateTime<Utc>,
    /// Strength when detected, in \[0, 1\].
    pub strength: f64,
    /// Highest strength while the burst lasted, in \[0, 1\].
    pub peak_strength: f64,
    /// What made it a moment, in words.
    pub reason: String,
    /// The numbers behind it.
    pub evidence: Evidence,
}

/// Finds clip moments, one per hype burst.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClipDetector {
    /// Shared with every channel running the same (default) tunables.
    #[serde(deserialize_with = "super::shared::deserialize")]
    config: std::sync::Arc<ClipConfig>,
    recent: VecDeque<ClipCandidate>,
    in_burst: bool,
    /// Whether the current burst produced the newest candidate (so its peak is updated).
    burst_has_candidate: bool,
    last_candidate_at: Option<DateTime<Utc>>,
    /// Candidates emitted so far.
    emitted: u64,
}

impl ClipDetector {
    /// A detector with the given tunables.
    pub fn new(config: ClipConfig) -> Self {
        Self {
            config: super::shared::share(config),
            ..Self::default()
        }
    }

    /// The tunables.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// The last candidates, oldest first (at most `keep_last`).
    pub fn recent(&self) -> impl Iterator<Item = &ClipCandidate> {
        self.recent.iter()
    }

    /// Candidates emitted since the detector started.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Whether a hype burst is under way.
    pub fn in_burst(&self) -> bool {
        self.in_burst
    }

    /// Reads the tick; returns a candidate when a new hype burst starts.
    pub fn observe(&mut self, s: &Signals) -> Option<ClipCandidate> {
        let h = read_hype(s, &self.config);
        if self.in_burst {
            if h.strength < self.config.exit_strength {
                self.in_burst = false;
                self.burst_has_candidate = false;
            } else if self.burst_has_candidate
                && let Some(c) = self.recent.back_mut()
            {
                c.peak_strength = c.peak_strength.max(h.strength);
            }
            return None;
        }
        if h.strength < self.config.enter_strength {
            return None;
        }
        self.in_burst = true;
        let too_soon = self
            .last_candidate_at
            .is_some_and(|t| secs_between(s.now, t) < self.config.min_gap_secs);
        if too_soon {
            self.burst_has_candidate = false;
            return None;
        }
        let candidate = ClipCandidate {
            id: format!("clip-{}", s.now.timestamp_millis()),
            at: s.now,
            suggested_start: add_secs(s.now, -self.config.lookback_secs),
            strength: h.strength,
            peak_strength: h.strength,
            reason: describe(s, &h),
            evidence: evidence([
                ("rate_per_min", h.rate_per_min),
                ("reference_rate_per_min", h.reference_rate),
                ("z", h.z),
                ("emotes_per_message", h.emotes_per_message),
                ("emote_ratio", h.emote_ratio),
                ("event_units", h.event_units),
                ("subs", f64::from(s.w1.subs)),
                ("gifts", f64::from(s.w1.gifts)),
                ("bits", s.w1.bits as f64),
                ("raids", f64::from(s.w1.raids)),
                ("strength", h.strength),
            ]),
        };
        if self.config.keep_last > 0 {
            super::bounded::push_capped(&mut self.recent, self.config.keep_last, candidate.clone());
        }
        self.burst_has_candidate = self.config.keep_last > 0;
        self.last_candidate_at = Some(s.now);
        self.emitted += 1;
        Some(candidate)
    }
}

fn describe(s: &Signals, h: &HypeReading) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(3);
    if h.rate_score > 0.0 {
        parts.push(format!(
            "chat at {:.0} msg/min, {:.1}σ over the usual {:.0}",
            h.rate_per_min, h.z, h.reference_rate
        ));
    }
    if h.emote_score > 0.0 {
        parts.push(format!(
            "{:.1} emotes per message ({:.1}× usual)",
            h.emotes_per_message, h.emote_ratio
        ));
    }
    if h.event_score > 0.0 {
        let w = &s.w1;
        let mut ev: Vec<String> = Vec::with_capacity(4);
        if w.subs > 0 {
            ev.push(format!("{} subs", w.subs));
        }
        if w.gifts > 0 {
            ev.push(format!("{} gifted subs", w.gifts));
        }
        if w.bits > 0 {
            ev.push(format!("{} bits", w.bits));
        }
        if w.raids > 0 {
            ev.push(format!("{} raid(s)", w.raids));
        }
        parts.push(ev.join(", "));
    }
    format!(
        "Hype moment (strength {:.2}): {}",
        h.strength,
        parts.join("; ")
    )
}

super::shared::shared_default!(ClipConfig);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::intel::health::testkit::{arb_signals, prop_config, steady, t, window};

    /// Chat at 4× the baseline with an emote flood.
    fn hype(at: i64) -> Signals {
        let mut s = steady(t(at), 20.0);
        s.w1 = window(60, 80.0);
        s.w1.emotes = 160;
        s
    }

    #[test]
    fn hype_reading_follows_the_documented_formula() {
        let h = read_hype(&hype(0), &ClipConfig::default());
        // spread = max(stddev 4, 0.3 × 20, 1) = 6; z = (80 − 20) / 6.
        assert!((h.z - 10.0).abs() < 1e-9, "z {}", h.z);
        assert_eq!(h.rate_score, 1.0);
        assert_eq!(h.emote_score, 1.0);
        assert!((h.strength - (1.0 - 0.3 * 0.6)).abs() < 1e-9);
        let calm = read_hype(&steady(t(0), 20.0), &ClipConfig::default());
        assert_eq!(calm.strength, 0.0);
    }

    #[test]
    fn one_candidate_per_burst_with_a_min_gap() {
        let mut d = ClipDetector::default();
        for i in 0..60 {
            assert!(d.observe(&steady(t(i), 20.0)).is_none());
        }
        let first = d.observe(&hype(60)).expect("a burst starts");
        assert!(first.strength >= 0.5 && first.strength <= 1.0);
        assert_eq!(first.id, format!("clip-{}", t(60).timestamp_millis()));
        assert_eq!(first.suggested_start, t(0));
        assert!(first.reason.contains("80 msg/min"), "{}", first.reason);
        assert!(first.evidence["z"] > 9.0);

        // The burst goes on, and peaks with a gift bomb: no new candidate, peak recorded.
        for i in 61..90 {
            let mut s = hype(i);
            if i == 75 {
                s.w1.gifts = 10;
            }
            assert!(d.observe(&s).is_none(), "second candidate at {i}");
        }
        let peak = d.recent().last().map_or(0.0, |c| c.peak_strength);
        assert!(peak > first.strength, "peak {peak}");

        // Calm ends the burst; a new burst within the minimum gap is not a new candidate.
        assert!(d.observe(&steady(t(90), 20.0)).is_none());
        assert!(!d.in_burst());
        assert!(d.observe(&hype(100)).is_none());
        assert!(d.observe(&steady(t(110), 20.0)).is_none());
        // Well after the gap, a new burst is.
        assert!(d.observe(&hype(200)).is_some());
        assert_eq!(d.emitted(), 2);
        assert_eq!(d.recent().count(), 2);
    }

    #[test]
    fn hysteresis_keeps_a_hovering_burst_as_one() {
        let mut d = ClipDetector::new(ClipConfig {
            min_gap_secs: 0.0,
            ..ClipConfig::default()
        });
        assert!(d.observe(&hype(0)).is_some());
        // Strength dips to ~0.4 (between exit 0.3 and enter 0.5) and comes back.
        let mut dip = steady(t(1), 20.0);
        dip.w1 = window(60, 20.0);
        dip.w1.emotes = 60; // emote part alone: 0.4
        assert!(read_hype(&dip, d.config()).strength < 0.5);
        assert!(d.observe(&dip).is_none());
        assert!(d.in_burst());
        assert!(d.observe(&hype(2)).is_none());
    }

    #[test]
    fn emote_spam_alone_is_not_a_moment_but_a_gift_bomb_is() {
        let mut d = ClipDetector::default();
        let mut spam = steady(t(0), 20.0);
        spam.w1.emotes = spam.w1.messages * 3;
        assert!(d.observe(&spam).is_none());

        let mut gifts = steady(t(1), 20.0);
        gifts.w1.gifts = 10;
        let c = d.observe(&gifts).expect("a gift bomb is a moment");
        assert!(c.reason.contains("10 gifted subs"), "{}", c.reason);
        assert!((c.strength - 0.6).abs() < 1e-9);
    }

    #[test]
    fn keeps_only_the_last_k() {
        let mut d = ClipDetector::new(ClipConfig {
            keep_last: 3,
            min_gap_secs: 0.0,
            ..ClipConfig::default()
        });
        for i in 0..10 {
            assert!(d.observe(&hype(2 * i)).is_some());
            assert!(d.observe(&steady(t(2 * i + 1), 20.0)).is_none());
        }
        assert_eq!(d.emitted(), 10);
        let kept: Vec<_> = d.recent().map(|c| c.at).collect();
        assert_eq!(kept, vec![t(14), t(16), t(18)]);
    }

    proptest! {
        #![proptest_config(prop_config())]
        #[test]
        fn strength_in_range_and_candidates_spaced(
            ticks in proptest::collection::vec((arb_signals(), 0i64..40), 1..40),
        ) {
            let mut d = ClipDetector::new(ClipConfig { keep_last: 4, ..ClipConfig::default() });
            let mut now = 0;
            let mut last: Option<i64> = None;
            for (mut s, step) in ticks {
                now += step;
                s.now = t(now);
                let h = read_hype(&s, d.config());
                prop_assert!((0.0..=1.0).contains(&h.strength));
                if let Some(c) = d.observe(&s) {
                    prop_assert!((0.5..=1.0).contains(&c.strength));
                    if let Some(prev) = last {
                        prop_assert!(now - prev >= 60, "candidates {prev} and {now}");
                    }
                    last = Some(now);
                    serde_json::to_string(&c).expect("serialise");
                }
                prop_assert!(d.recent().count() <= 4);
            }
        }
    }
}

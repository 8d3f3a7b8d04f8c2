//! Session goals: what a channel wants each session to reach, measured from the live
//! context, and each goal's KPI recorded as met or missed when the session ends.
//!
//! Definitions (measurable, so the report can state them):
//! - **Chat rate**: the 1-minute chat rate stays at or above `per_min` for `minutes` minutes
//!   in a row at some point in the session (observed at every autonomy step, so a streak is
//!   measured at step resolution). Actual = the longest such streak, in minutes.
//! - **Greet first-time chatters**: of the first-time chatters the step observed waiting for
//!   a greeting, the share that got one: the bot's greeting action for them was *executed*,
//!   or the streamer or a moderator addressed them by name in chat (the windows drop a
//!   first-timer from the waiting list when staff mention them; a drop before the 10-minute
//!   waiting time runs out, while the list is not at its cap, counts as a staff greeting).
//!   Actual = that share, target = `share` (default 1.0: every one). A session without
//!   first-time chatters meets it.
//! - **Sub target**: subs + gifted subs in the session ≥ `target`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::intel::session::Session;
use crate::intel::signals::Signals;

/// How long a first-timer waits in the windows' list before it is dropped ungreeted.
const FIRST_TIMER_WAIT_SECS: i64 = 600;
/// The windows' cap on waiting first-timers (a drop at the cap is eviction, not a greeting).
const FIRST_TIMER_LIST_CAP: usize = 20;
/// Most first-timers tracked per session (bounded memory).
const MAX_TRACKED: usize = 2_000;

/// What kind of goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalKind {
    /// Reach a sustained chat rate.
    ChatRate,
    /// Greet every first-time chatter.
    GreetFirstTimers,
    /// Reach a number of subs (gifts included).
    Subs,
}

impl GoalKind {
    /// Every kind.
    pub const ALL: [GoalKind; 3] = [
        GoalKind::ChatRate,
        GoalKind::GreetFirstTimers,
        GoalKind::Subs,
    ];

    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            GoalKind::ChatRate => "chat_rate",
            GoalKind::GreetFirstTimers => "greet_first_timers",
            GoalKind::Subs => "subs",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<GoalKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Sustained chat rate goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRateGoal {
    /// Messages per minute (0.1-10000).
    pub per_min: f64,
    /// For this many minutes in a row (1-600).
    pub minutes: u32,
}

/// Greeting goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreetGoal {
    /// Share of first-time chatters to greet, 0-1 (default 1: every one).
    #[serde(default = "one")]
    pub share: f64,
}

fn one() -> f64 {
    1.0
}

/// Sub goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubGoal {
    /// Subs + gifted subs in the session (1-100000).
    pub target: u32,
}

/// A channel's goals for each session; absent goals are not tracked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalsConfig {
    /// Reach a chat rate.
    #[serde(default)]
    pub chat_rate: Option<ChatRateGoal>,
    /// Greet first-time chatters.
    #[serde(default)]
    pub greet_first_timers: Option<GreetGoal>,
    /// Reach a sub target.
    #[serde(default)]
    pub subs: Option<SubGoal>,
}

impl GoalsConfig {
    /// Checks the ranges, saying what to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(g) = &self.chat_rate {
            if !(g.per_min.is_finite() && (0.1..=10_000.0).contains(&g.per_min)) {
                return Err(ConfigError::Goal(format!(
                    "chat_rate.per_min must be between 0.1 and 10000 messages per minute, got {}",
                    g.per_min
                )));
            }
            if !(1..=600).contains(&g.minutes) {
                return Err(ConfigError::Goal(format!(
                    "chat_rate.minutes must be between 1 and 600, got {}",
                    g.minutes
                )));
            }
        }
        if let Some(g) = &self.greet_first_timers
            && !(g.share.is_finite() && g.share > 0.0 && g.share <= 1.0)
        {
            return Err(ConfigError::Goal(format!(
                "greet_first_timers.share must be above 0 and at most 1, got {}",
                g.share
            )));
        }
        if let Some(g) = &self.subs
            && !(1..=100_000).contains(&g.target)
        {
            return Err(ConfigError::Goal(format!(
                "subs.target must be between 1 and 100000, got {}",
                g.target
            )));
        }
        Ok(())
    }

    /// Whether no goal is set.
    pub fn is_empty(&self) -> bool {
        self.chat_rate.is_none() && self.greet_first_timers.is_none() && self.subs.is_none()
    }
}

/// A goal's KPI at the end of a session: what the post-stream report reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalOutcome {
    /// Human name, e.g. "Chat at 20 msg/min for 10 min".
    pub name: String,
    /// What kind of goal.
    pub kind: GoalKind,
    /// The target (minutes of streak, share greeted, subs).
    pub target: f64,
    /// What the session reached, in the same unit.
    pub actual: f64,
    /// Whether it was met.
    pub met: bool,
}

/// A goal's live progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalProgress {
    /// Human name.
    pub name: String,
    /// Kind.
    pub kind: GoalKind,
    /// Target.
    pub target: f64,
    /// So far.
    pub actual: f64,
    /// Met already.
    pub met: bool,
    /// 0-1, for a progress bar.
    pub ratio: f64,
    /// One line on where it stands.
    pub detail: String,
}

/// Per-session goal measurements (reset when a new session starts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GoalTracker {
    session_id: Option<String>,
    streak_start: Option<DateTime<Utc>>,
    best_streak_secs: i64,
    /// First-timers observed waiting: login -> first seen.
    first_timers: BTreeMap<String, DateTime<Utc>>,
    greeted: BTreeSet<String>,
    last_waiting: Vec<String>,
}

impl GoalTracker {
    /// The session the measurements belong to.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Starts over for `session` when it is not the one being tracked.
    pub fn follow(&mut self, session: Option<&Session>) {
        let id = session.map(|s| s.id.clone());
        if id.is_none() || id == self.session_id {
            return;
        }
        if self.session_id.is_none() {
            // A tracker restored at start-up (greetings the store remembers) adopts the
            // session it wakes up in.
            self.session_id = id;
        } else {
            *self = GoalTracker {
                session_id: id,
                ..GoalTracker::default()
            };
        }
    }

    /// Records what the step sees at `s.now`.
    pub fn observe(&mut self, goals: &GoalsConfig, s: &Signals) {
        if let Some(g) = &goals.chat_rate {
            if s.w1.messages_per_min >= g.per_min {
                let start = *self.streak_start.get_or_insert(s.now);
                self.best_streak_secs = self.best_streak_secs.max((s.now - start).num_seconds());
            } else {
                self.streak_start = None;
            }
        }
        // Who left the waiting list since the last look, early and not by eviction, was
        // greeted by the streamer or a moderator.
        let was_full = self.last_waiting.len() >= FIRST_TIMER_LIST_CAP;
        for login in &self.last_waiting {
            if s.ungreeted_first_timers.contains(login) || was_full {
                continue;
            }
            let early = self
                .first_timers
                .get(login)
                .is_some_and(|seen| (s.now - *seen).num_seconds() < FIRST_TIMER_WAIT_SECS - 60);
            if early {
                self.greeted.insert(login.clone());
            }
        }
        for login in &s.ungreeted_first_timers {
            if self.first_timers.len() < MAX_TRACKED {
                self.first_timers.entry(login.clone()).or_insert(s.now);
            }
        }
        self.last_waiting = s.ungreeted_first_timers.clone();
    }

    /// The bot's greeting for `login` was executed.
    pub fn greeted_by_bot(&mut self, login: &str) {
        if self.greeted.len() < MAX_TRACKED {
            self.greeted.insert(login.to_owned());
        }
        if self.first_timers.len() < MAX_TRACKED {
            // A greeting executed before the step saw the chatter still counts them.
            self.first_timers
                .entry(login.to_owned())
                .or_insert(DateTime::<Utc>::UNIX_EPOCH);
        }
    }

    /// Whether `login` has been greeted this session.
    pub fn is_greeted(&self, login: &str) -> bool {
        self.greeted.contains(login)
    }

    /// Progress of every configured goal.
    pub fn progress(&self, goals: &GoalsConfig, session: Option<&Session>) -> Vec<GoalProgress> {
        let mut out = Vec::new();
        if let Some(g) = &goals.chat_rate {
            let actual = self.best_streak_secs as f64 / 60.0;
            let target = f64::from(g.minutes);
            out.push(GoalProgress {
                name: format!("Chat at {} msg/min for {} min", g.per_min, g.minutes),
                kind: GoalKind::ChatRate,
                target,
                actual: round2(actual),
                met: actual >= target,
                ratio: (actual / target).clamp(0.0, 1.0),
                detail: format!(
                    "longest streak {:.1} of {} min{}",
                    actual,
                    g.minutes,
                    if self.streak_start.is_some() {
                        " (running)"
                    } else {
                        ""
                    }
                ),
            });
        }
        if let Some(g) = &goals.greet_first_timers {
            let seen = self.first_timers.len();
            let greeted = self
                .first_timers
                .keys()
                .filter(|l| self.greeted.contains(*l))
                .count();
            let actual = if seen == 0 {
                1.0
            } else {
                greeted as f64 / seen as f64
            };
            out.push(GoalProgress {
                name: if g.share >= 1.0 {
                    "Greet every first-time chatter".to_owned()
                } else {
                    format!("Greet {:.0}% of first-time chatters", g.share * 100.0)
                },
                kind: GoalKind::GreetFirstTimers,
                target: g.share,
                actual: round2(actual),
                met: actual + 1e-9 >= g.share,
                ratio: (actual / g.share).clamp(0.0, 1.0),
                detail: format!("{greeted} of {seen} first-time chatters greeted"),
            });
        }
        if let Some(g) = &goals.subs {
            let k = session
                .map(|s| (s.kpis.subs, s.kpis.gifts))
                .unwrap_or_default();
            let actual = (k.0 + k.1) as f64;
            let target = f64::from(g.target);
            out.push(GoalProgress {
                name: format!("{} subs this session", g.target),
                kind: GoalKind::Subs,
                target,
                actual,
                met: actual >= target,
                ratio: (actual / target).clamp(0.0, 1.0),
                detail: format!("{} subs + {} gifted of {}", k.0, k.1, g.target),
            });
        }
        out
    }

    /// The KPIs of the closed `session`.
    pub fn outcomes(&self, goals: &GoalsConfig, session: &Session) -> Vec<GoalOutcome> {
        self.progress(goals, Some(session))
            .into_iter()
            .map(|p| GoalOutcome {
                name: p.name,
                kind: p.kind,
                target: p.target,
                actual: p.actual,
                met: p.met,
            })
            .collect()
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::signals::WindowStats;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    pub(crate) fn signals(now: DateTime<Utc>, rate: f64, waiting: &[&str]) -> Signals {
        Signals {
            now,
            w1: WindowStats {
                messages_per_min: rate,
                messages: rate as u64,
                ..WindowStats::default()
            },
            w5: WindowStats::default(),
            w15: WindowStats::default(),
            baseline_rate_per_min: 0.0,
            rate_stddev_per_min: 0.0,
            open_questions: vec![],
            ungreeted_first_timers: waiting.iter().map(|s| s.to_string()).collect(),
            last_raid: None,
            secs_since_last_message: Some(1.0),
        }
    }

    fn goals() -> GoalsConfig {
        GoalsConfig {
            chat_rate: Some(ChatRateGoal {
                per_min: 10.0,
                minutes: 2,
            }),
            greet_first_timers: Some(GreetGoal { share: 1.0 }),
            subs: Some(SubGoal { target: 3 }),
        }
    }

    #[test]
    fn chat_rate_needs_a_sustained_streak() {
        let g = goals();
        let mut tr = GoalTracker::default();
        for i in 0..=3 {
            tr.observe(&g, &signals(t(i * 30), 12.0, &[]));
        }
        // 90 s of streak, then a dip breaks it.
        tr.observe(&g, &signals(t(120), 3.0, &[]));
        let p = &tr.progress(&g, None)[0];
        assert!(!p.met, "{p:?}");
        assert_eq!(p.actual, 1.5);
        for i in 5..=9 {
            tr.observe(&g, &signals(t(i * 30), 15.0, &[]));
        }
        assert!(tr.progress(&g, None)[0].met);
    }

    #[test]
    fn greetings_count_staff_mentions_and_bot_greetings_not_expiry() {
        let g = goals();
        let mut tr = GoalTracker::default();
        tr.observe(&g, &signals(t(0), 1.0, &["ana", "bob", "cy"]));
        // ana greeted by staff (left early); bob greeted by the bot.
        tr.observe(&g, &signals(t(30), 1.0, &["bob", "cy"]));
        tr.greeted_by_bot("bob");
        // cy simply expires after the waiting time: not a greeting.
        tr.observe(&g, &signals(t(700), 1.0, &[]));
        let p = &tr.progress(&g, None)[1];
        assert_eq!(p.detail, "2 of 3 first-time chatters greeted");
        assert!(!p.met);
        assert!((p.actual - 0.67).abs() < 1e-9);
    }

    #[test]
    fn validation_says_what_to_fix() {
        let mut g = goals();
        assert!(g.validate().is_ok());
        g.subs = Some(SubGoal { target: 0 });
        assert!(
            g.validate()
                .unwrap_err()
                .to_string()
                .contains("subs.target")
        );
        g.subs = None;
        g.chat_rate = Some(ChatRateGoal {
            per_min: f64::NAN,
            minutes: 5,
        });
        assert!(g.validate().unwrap_err().to_string().contains("per_min"));
        assert!(serde_json::from_str::<GoalsConfig>(r#"{"sub": {"target": 3}}"#).is_err());
    }
}

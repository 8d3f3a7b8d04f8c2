//! Whether, and when, the bot answers a trigger in one channel.
//!
//! Chat comes in bursts: ten viewers type `!ask` within a second after the streamer says
//! "ask the bot". Answering each would flood the channel and burn model calls, so triggers
//! are **debounced**: a trigger opens (or extends) a quiet window, later triggers replace the
//! pending question (the latest one wins, it is the most current), and the reply goes out once
//! the channel has been quiet for `debounce`, or at the latest `max_delay` after the first
//! trigger so a constant stream cannot starve it. A viewer who just got an answer is on a
//! **cooldown** and cannot trigger again for a while, so one person cannot monopolise the bot.
//!
//! The channel's pause ([`AgentSettings::paused`]) and the fleet's [`SuspendSwitch`] are
//! checked both when a trigger arrives and when the reply would go out, so pausing in between
//! drops the pending reply. Every "no" carries a typed [`SkipReason`] for logs and metrics.
//!
//! One [`ReplyGate`] per channel, owned by the channel actor; the actor calls [`ReplyGate::offer`]
//! on each trigger and schedules a [`ReplyGate::decide`] at the returned instant (a message to
//! self, never a sleep). Memory is bounded: cooldowns are pruned as they expire, and at most
//! one reply per debounce window creates one.

use chrono::{DateTime, Duration, Utc};
use rustc_hash::FxHashMap;

use crate::agent::{AgentSettings, SuspendSwitch};

/// Tuning of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// Quiet time after the latest trigger before answering.
    pub debounce: Duration,
    /// Longest wait after the first trigger of a burst, however busy chat is.
    pub max_delay: Duration,
    /// How long a viewer who got an answer must wait before triggering again.
    pub user_cooldown: Duration,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            debounce: Duration::seconds(2),
            max_delay: Duration::seconds(6),
            user_cooldown: Duration::seconds(60),
        }
    }
}

/// Why no reply goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The channel's agent is paused.
    Paused,
    /// The whole fleet is suspended.
    Suspended,
    /// This viewer got an answer recently.
    UserCooldown {
        /// When the viewer may trigger again.
        until: DateTime<Utc>,
    },
    /// A burst is still going on; ask again at `ready_at`.
    Debouncing {
        /// When the pending reply becomes due (if nothing else arrives).
        ready_at: DateTime<Utc>,
    },
    /// There is nothing to answer.
    NothingPending,
}

impl SkipReason {
    /// A stable label for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Paused => "paused",
            Self::Suspended => "suspended",
            Self::UserCooldown { .. } => "user_cooldown",
            Self::Debouncing { .. } => "debouncing",
            Self::NothingPending => "nothing_pending",
        }
    }
}

/// The question to answer, once the burst it belongs to is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReply {
    /// Who asked (the latest asker of the burst).
    pub user: String,
    /// What they asked.
    pub question: String,
    /// When the latest trigger arrived.
    pub asked_at: DateTime<Utc>,
    /// How many triggers the burst collapsed (1 = no burst).
    pub collapsed: u32,
}

/// The gate's answer when a reply would go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer this now.
    Reply(PendingReply),
    /// Do not answer (now).
    Skip(SkipReason),
}

#[derive(Debug, Clone)]
struct Burst {
    first_at: DateTime<Utc>,
    latest: PendingReply,
}

/// The reply gate of one channel.
#[derive(Debug, Clone, Default)]
pub struct ReplyGate {
    config: GateConfig,
    pending: Option<Burst>,
    /// Viewer (lowercase) -> end of their cooldown.
    cooldowns: FxHashMap<String, DateTime<Utc>>,
}

fn blocked(settings: &AgentSettings, suspend: &SuspendSwitch) -> Option<SkipReason> {
    if suspend.is_suspended() {
        Some(SkipReason::Suspended)
    } else if settings.paused {
        Some(SkipReason::Paused)
    } else {
        None
    }
}

impl ReplyGate {
    /// An empty gate.
    pub fn new(config: GateConfig) -> Self {
        Self {
            config,
            pending: None,
            cooldowns: FxHashMap::default(),
        }
    }

    /// A trigger from `user` arrived at `now`. Returns when the pending reply becomes due
    /// (schedule a [`decide`](Self::decide) then), or why the trigger is ignored.
    pub fn offer(
        &mut self,
        user: &str,
        question: &str,
        now: DateTime<Utc>,
        settings: &AgentSettings,
        suspend: &SuspendSwitch,
    ) -> Result<DateTime<Utc>, SkipReason> {
        if let Some(reason) = blocked(settings, suspend) {
            self.pending = None;
            return Err(reason);
        }
        self.prune(now);
        let user = user.to_ascii_lowercase();
        if let Some(&until) = self.cooldowns.get(&user) {
            return Err(SkipReason::UserCooldown { until });
        }
        let collapsed = self.pending.as_ref().map_or(0, |b| b.latest.collapsed);
        let first_at = self.pending.as_ref().map_or(now, |b| b.first_at);
        self.pending = Some(Burst {
            first_at,
            latest: PendingReply {
                user,
                question: question.to_owned(),
                asked_at: now,
                collapsed: collapsed.saturating_add(1),
            },
        });
        Ok(self.ready_at().unwrap_or(now))
    }

    /// When the pending reply is due, if there is one.
    pub fn ready_at(&self) -> Option<DateTime<Utc>> {
        self.pending.as_ref().map(|b| {
            (b.latest.asked_at + self.config.debounce).min(b.first_at + self.config.max_delay)
        })
    }

    /// Whether to answer now. A [`Decision::Reply`] consumes the pending question and starts
    /// the asker's cooldown; pause or suspend drop it.
    pub fn decide(
        &mut self,
        now: DateTime<Utc>,
        settings: &AgentSettings,
        suspend: &SuspendSwitch,
    ) -> Decision {
        if let Some(reason) = blocked(settings, suspend) {
            self.pending = None;
            return Decision::Skip(reason);
        }
        self.prune(now);
        let Some(ready_at) = self.ready_at() else {
            return Decision::Skip(SkipReason::NothingPending);
        };
        if now < ready_at {
            return Decision::Skip(SkipReason::Debouncing { ready_at });
        }
        let Some(burst) = self.pending.take() else {
            return Decision::Skip(SkipReason::NothingPending);
        };
        self.cooldowns
            .insert(burst.latest.user.clone(), now + self.config.user_cooldown);
        Decision::Reply(burst.latest)
    }

    /// Drops expired cooldowns.
    fn prune(&mut self, now: DateTime<Utc>) {
        self.cooldowns.retain(|_, until| *until > now);
    }

    /// How many viewers are on cooldown (for tests and gauges).
    pub fn cooldowns_len(&self) -> usize {
        self.cooldowns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap_or_default()
    }

    fn gate() -> ReplyGate {
        ReplyGate::new(GateConfig {
            debounce: Duration::seconds(2),
            max_delay: Duration::seconds(5),
            user_cooldown: Duration::seconds(30),
        })
    }

    fn on() -> (AgentSettings, SuspendSwitch) {
        (AgentSettings::default(), SuspendSwitch::default())
    }

    #[test]
    fn a_burst_collapses_into_one_reply_with_the_latest_question() {
        let (s, x) = on();
        let mut g = gate();
        assert_eq!(g.offer("a", "q1", t(0), &s, &x), Ok(t(2_000)));
        assert_eq!(g.offer("b", "q2", t(500), &s, &x), Ok(t(2_500)));
        assert_eq!(g.offer("c", "q3", t(1_000), &s, &x), Ok(t(3_000)));
        assert_eq!(
            g.decide(t(2_500), &s, &x),
            Decision::Skip(SkipReason::Debouncing { ready_at: t(3_000) })
        );
        let Decision::Reply(reply) = g.decide(t(3_000), &s, &x) else {
            panic!("expected a reply");
        };
        assert_eq!((reply.user.as_str(), reply.question.as_str()), ("c", "q3"));
        assert_eq!(reply.collapsed, 3);
        assert_eq!(
            g.decide(t(3_001), &s, &x),
            Decision::Skip(SkipReason::NothingPending)
        );
    }

    #[test]
    fn a_constant_stream_is_answered_within_max_delay() {
        let (s, x) = on();
        let mut g = gate();
        let mut due = t(0);
        for i in 0..20 {
            due = g
                .offer(&format!("u{i}"), "q", t(i * 1_000), &s, &x)
                .unwrap_or(due);
            if i >= 5 {
                assert_eq!(due, t(5_000), "capped by max_delay");
            }
        }
        assert!(matches!(g.decide(t(5_000), &s, &x), Decision::Reply(_)));
    }

    #[test]
    fn a_viewer_who_got_an_answer_cools_down() {
        let (s, x) = on();
        let mut g = gate();
        g.offer("Ann", "q", t(0), &s, &x).ok();
        assert!(matches!(g.decide(t(2_000), &s, &x), Decision::Reply(_)));
        assert_eq!(
            g.offer("ann", "again", t(10_000), &s, &x),
            Err(SkipReason::UserCooldown { until: t(32_000) })
        );
        assert!(
            g.offer("bob", "q", t(10_000), &s, &x).is_ok(),
            "others may ask"
        );
        assert!(
            g.offer("ann", "later", t(32_000), &s, &x).is_ok(),
            "expired"
        );
    }

    #[test]
    fn pause_and_suspend_block_triggers_and_drop_pending_replies() {
        let (mut s, x) = on();
        let mut g = gate();
        g.offer("a", "q", t(0), &s, &x).ok();
        s.paused = true;
        assert_eq!(
            g.decide(t(2_000), &s, &x),
            Decision::Skip(SkipReason::Paused)
        );
        assert_eq!(g.offer("b", "q", t(2_000), &s, &x), Err(SkipReason::Paused));
        s.paused = false;
        assert_eq!(
            g.decide(t(4_000), &s, &x),
            Decision::Skip(SkipReason::NothingPending),
            "the paused-over question is gone"
        );
        g.offer("a", "q", t(5_000), &s, &x).ok();
        x.set(true);
        assert_eq!(
            g.decide(t(7_000), &s, &x),
            Decision::Skip(SkipReason::Suspended)
        );
        assert_eq!(
            g.offer("a", "q", t(7_000), &s, &x),
            Err(SkipReason::Suspended)
        );
        x.set(false);
        assert_eq!(
            g.decide(t(9_000), &s, &x),
            Decision::Skip(SkipReason::NothingPending)
        );
    }

    proptest::proptest! {
        #[test]
        fn replies_are_spaced_and_cooldowns_stay_bounded(
            events in proptest::collection::vec((0u8..6, 0i64..3_000, proptest::bool::ANY), 1..200)
        ) {
            let (s, x) = on();
            let mut g = gate();
            let mut now = t(0);
            let mut replied: Vec<(DateTime<Utc>, String)> = Vec::new();
            for (user, step, decide) in events {
                now += Duration::milliseconds(step);
                if decide {
                    if let Decision::Reply(r) = g.decide(now, &s, &x) {
                        replied.push((now, r.user));
                    }
                } else {
                    let _ = g.offer(&format!("u{user}"), "q", now, &s, &x);
                }
                // Cooldowns only exist for repliers still cooling down (6 viewers here).
                proptest::prop_assert!(g.cooldowns_len() <= 6);
            }
            // No viewer is answered twice within their cooldown.
            for (i, (at, user)) in replied.iter().enumerate() {
                for (later, other) in &replied[i + 1..] {
                    if user == other {
                        proptest::prop_assert!(*later - *at >= Duration::seconds(30));
                    }
                }
            }
        }
    }
}

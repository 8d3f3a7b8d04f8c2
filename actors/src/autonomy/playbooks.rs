//! Ops playbooks: deterministic responses to situations every stream runs into. Each has a
//! trigger condition over the live signals (checked on every autonomy step, each playbook
//! with its own cooldown), and a fixed list of actions it proposes. An operator can also run
//! one by hand; every run is recorded.
//!
//! - `toxicity_spike`: at least 3 toxic or moderated messages in the last minute making up
//!   at least 15% of it → slow mode (30 s, for 5 minutes) + a coaching hint.
//! - `dead_chat`: an open session and no chat for 3 minutes → an engagement question.
//! - `raid_welcome`: a raid in the last 2 minutes → a welcome naming the raider.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ActionKind, ActionOrigin, Intent, ProposedAction};
use crate::intel::session::Session;
use crate::intel::signals::Signals;

/// Toxic or moderated messages in a minute that start a spike.
pub const TOXIC_MIN_COUNT: u32 = 3;
/// Share of the minute's messages that must be toxic or moderated.
pub const TOXIC_MIN_SHARE: f64 = 0.15;
/// Seconds without chat, in an open session, that make chat dead.
pub const DEAD_CHAT_SECS: f64 = 180.0;
/// A raid this recent (seconds) is still worth welcoming.
pub const RAID_FRESH_SECS: i64 = 120;
/// Slow mode the toxicity playbook proposes: seconds between a chatter's messages.
pub const SLOW_MODE_SECS: u32 = 30;
/// ... and for how long.
pub const SLOW_MODE_FOR_SECS: u32 = 300;

/// A playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Playbook {
    /// Toxicity spike → slow mode + coaching hint.
    ToxicitySpike,
    /// Dead chat → engagement question.
    DeadChat,
    /// Raid → welcome naming the raider.
    RaidWelcome,
}

/// How a playbook run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaybookTrigger {
    /// Its condition held on an autonomy step.
    Automatic,
    /// Someone ran it.
    Manual,
}

impl PlaybookTrigger {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlaybookTrigger::Automatic => "automatic",
            PlaybookTrigger::Manual => "manual",
        }
    }
}

/// One run of a playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybookRun {
    /// Idempotency key of the run.
    pub key: String,
    /// Which playbook.
    pub playbook: Playbook,
    /// How it started.
    pub trigger: PlaybookTrigger,
    /// When.
    pub at: DateTime<Utc>,
    /// What made it run (the numbers), or who ran it.
    pub evidence: String,
    /// Keys of the actions it proposed.
    pub actions: Vec<String>,
    /// The session it ran in.
    pub session_id: Option<String>,
}

/// A playbook as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PlaybookInfo {
    /// Name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// When it runs by itself.
    pub trigger: &'static str,
    /// What it proposes: (kind, what).
    pub actions: Vec<PlaybookActionInfo>,
    /// Seconds before it runs by itself again.
    pub cooldown_secs: i64,
}

/// One action of a playbook, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct PlaybookActionInfo {
    /// Action kind.
    pub kind: ActionKind,
    /// Intent.
    pub intent: Intent,
    /// In words.
    pub description: &'static str,
}

/// Engagement questions, taken in turn (deterministic).
const QUESTIONS: [&str; 6] = [
    "Quick poll, chat: what should we do next? Drop your ideas!",
    "How is everyone's day going? Tell us in chat!",
    "What brought you to the stream today?",
    "If you could change one thing about this run, what would it be?",
    "Hot take time: what's the most overrated game right now?",
    "Where is everyone watching from tonight?",
];

/// The engagement question for `now` (rotates every ten minutes).
pub fn engagement_question(now: DateTime<Utc>) -> &'static str {
    QUESTIONS[(now.timestamp().div_euclid(600) as usize) % QUESTIONS.len()]
}

impl Playbook {
    /// Every playbook.
    pub const ALL: [Playbook; 3] = [
        Playbook::ToxicitySpike,
        Playbook::DeadChat,
        Playbook::RaidWelcome,
    ];

    /// Name, as in URLs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Playbook::ToxicitySpike => "toxicity_spike",
            Playbook::DeadChat => "dead_chat",
            Playbook::RaidWelcome => "raid_welcome",
        }
    }

    /// Parses a name.
    pub fn parse(raw: &str) -> Option<Playbook> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// Seconds before its condition may run it again.
    pub fn cooldown_secs(self) -> i64 {
        match self {
            Playbook::ToxicitySpike => 600,
            Playbook::DeadChat => 600,
            Playbook::RaidWelcome => RAID_FRESH_SECS,
        }
    }

    /// The listing.
    pub fn info(self) -> PlaybookInfo {
        let (description, trigger, actions) = match self {
            Playbook::ToxicitySpike => (
                "Calm a chat that turned hostile.",
                "at least 3 toxic or moderated messages in the last minute, at least 15% of it",
                vec![
                    PlaybookActionInfo {
                        kind: ActionKind::SlowMode,
                        intent: Intent::SlowModeToxicity,
                        description: "slow mode, 30 s between messages, for 5 minutes (set by hand in Twitch, then acknowledged)",
                    },
                    PlaybookActionInfo {
                        kind: ActionKind::CoachingHint,
                        intent: Intent::ToxicityHint,
                        description: "a coaching hint: address it calmly, let mods act",
                    },
                ],
            ),
            Playbook::DeadChat => (
                "Get a silent chat talking again.",
                "an open session and no chat for 3 minutes",
                vec![PlaybookActionInfo {
                    kind: ActionKind::ChatMessage,
                    intent: Intent::EngagementQuestion,
                    description: "an engagement question in chat",
                }],
            ),
            Playbook::RaidWelcome => (
                "Welcome raiders so they stay.",
                "a raid in the last 2 minutes",
                vec![PlaybookActionInfo {
                    kind: ActionKind::ChatMessage,
                    intent: Intent::WelcomeRaid,
                    description: "a welcome in chat naming the raider",
                }],
            ),
        };
        PlaybookInfo {
            name: self.as_str(),
            description,
            trigger,
            actions,
            cooldown_secs: self.cooldown_secs(),
        }
    }

    /// Whether the condition holds, with the evidence in words.
    pub fn condition(self, s: &Signals, session: Option<&Session>) -> Option<String> {
        match self {
            Playbook::ToxicitySpike => {
                let w = &s.w1;
                let bad = w.toxic_messages.max(w.moderation_actions);
                let share = f64::from(bad) / w.messages.max(1) as f64;
                (bad >= TOXIC_MIN_COUNT && share >= TOXIC_MIN_SHARE).then(|| {
                    format!(
                        "{bad} of {} messages in the last minute were toxic or moderated ({:.0}%)",
                        w.messages,
                        share * 100.0
                    )
                })
            }
            Playbook::DeadChat => {
                let quiet = s.secs_since_last_message?;
                (session.is_some_and(|x| x.ended_at.is_none()) && quiet >= DEAD_CHAT_SECS)
                    .then(|| format!("no chat for {:.0} s in an open session", quiet))
            }
            Playbook::RaidWelcome => {
                let raid = s.last_raid.as_ref()?;
                let age = (s.now - raid.at).num_seconds();
                (-5..=RAID_FRESH_SECS).contains(&age).then(|| {
                    format!(
                        "raid from {} with {} viewers {age} s ago",
                        raid.from, raid.viewers
                    )
                })
            }
        }
    }

    /// The actions of a run at `now`, with the `why` shown to the streamer. `None` when the
    /// playbook has nothing to act on (a raid welcome with no raid).
    pub fn actions(
        self,
        s: &Signals,
        now: DateTime<Utc>,
        session_id: Option<&str>,
        why: &str,
    ) -> Option<Vec<ProposedAction>> {
        let sess = session_id.unwrap_or("none");
        let action =
            |intent: Intent, key: String, payload, reason: String, target| ProposedAction {
                key,
                kind: intent.kind(),
                intent,
                origin: ActionOrigin::Playbook,
                playbook: Some(self.as_str().to_owned()),
                payload,
                reason,
                target,
                auto: false,
                decided_at: now,
                expires_at: now + Duration::seconds(intent.ttl_secs()),
                session_id: session_id.map(str::to_owned),
            };
        let bucket = |intent: Intent| now.timestamp().div_euclid(intent.cooldown_secs().max(1));
        Some(match self {
            Playbook::ToxicitySpike => vec![
                action(
                    Intent::SlowModeToxicity,
                    format!("slow_mode:{sess}:{}", bucket(Intent::SlowModeToxicity)),
                    json!({ "seconds": SLOW_MODE_SECS, "duration_secs": SLOW_MODE_FOR_SECS }),
                    format!(
                        "Toxicity spike: {why}. Slow mode ({SLOW_MODE_SECS} s) for 5 minutes gives mods room."
                    ),
                    None,
                ),
                action(
                    Intent::ToxicityHint,
                    format!("toxicity_hint:{sess}:{}", bucket(Intent::ToxicityHint)),
                    json!({
                        "title": "Chat is turning hostile",
                        "message": "Address it calmly once, do not feed it, and let your mods time out repeat offenders.",
                    }),
                    format!("Toxicity spike: {why}."),
                    None,
                ),
            ],
            Playbook::DeadChat => {
                let q = engagement_question(now);
                vec![action(
                    Intent::EngagementQuestion,
                    format!("engage:{sess}:{}", bucket(Intent::EngagementQuestion)),
                    json!({ "text": q }),
                    format!("Chat is dead: {why}. A question gives people something to answer."),
                    None,
                )]
            }
            Playbook::RaidWelcome => {
                let raid = s.last_raid.as_ref()?;
                let text = if raid.viewers > 0 {
                    format!(
                        "Welcome, raiders! Huge thanks to @{} for the raid with {} viewers <3",
                        raid.from, raid.viewers
                    )
                } else {
                    format!(
                        "Welcome, raiders! Huge thanks to @{} for the raid <3",
                        raid.from
                    )
                };
                vec![action(
                    Intent::WelcomeRaid,
                    format!("raid:{sess}:{}:{}", raid.from, raid.at.timestamp()),
                    json!({ "text": text }),
                    format!("Raid: {why}. Welcoming raiders by name keeps them around."),
                    Some(raid.from.clone()),
                )]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::signals::{RaidInfo, WindowStats};
    use chrono::TimeZone;

    fn base(now: DateTime<Utc>) -> Signals {
        Signals {
            now,
            w1: WindowStats::default(),
            w5: WindowStats::default(),
            w15: WindowStats::default(),
            baseline_rate_per_min: 0.0,
            rate_stddev_per_min: 0.0,
            open_questions: vec![],
            ungreeted_first_timers: vec![],
            last_raid: None,
            secs_since_last_message: Some(5.0),
        }
    }

    #[test]
    fn conditions_and_actions_are_deterministic() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let mut s = base(now);
        assert!(Playbook::ToxicitySpike.condition(&s, None).is_none());
        s.w1.messages = 10;
        s.w1.toxic_messages = 4;
        let why = Playbook::ToxicitySpike.condition(&s, None).unwrap();
        assert!(why.contains("4 of 10"), "{why}");
        let acts = Playbook::ToxicitySpike
            .actions(&s, now, Some("c-1"), &why)
            .unwrap();
        assert_eq!(
            acts.iter().map(|a| a.kind).collect::<Vec<_>>(),
            [ActionKind::SlowMode, ActionKind::CoachingHint]
        );
        assert_eq!(
            acts,
            Playbook::ToxicitySpike
                .actions(&s, now, Some("c-1"), &why)
                .unwrap()
        );
        assert!(Playbook::RaidWelcome.actions(&s, now, None, "x").is_none());
        s.last_raid = Some(RaidInfo {
            from: "bigfriend".into(),
            viewers: 42,
            at: now - Duration::seconds(10),
        });
        assert!(Playbook::RaidWelcome.condition(&s, None).is_some());
        let w = Playbook::RaidWelcome.actions(&s, now, None, "x").unwrap();
        assert!(
            w[0].payload["text"]
                .as_str()
                .unwrap()
                .contains("@bigfriend")
        );
        assert_eq!(w[0].target.as_deref(), Some("bigfriend"));
        for p in Playbook::ALL {
            assert_eq!(Playbook::parse(p.as_str()), Some(p));
        }
    }
}

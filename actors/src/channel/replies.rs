//! The channel actor's part of chat replies: spotting a question for the bot, holding it
//! through the debounce window, and handing a ready job to the edge. Nothing here waits on
//! the network: the model call, sanitising, send limits and the IRC write happen in the
//! edge's reply workers ([`ReplyPort`]), off the actor, so a slow model never delays chat.
//!
//! What reaches the model from here is data only: the viewer's text, the operator's notes
//! and a short summary of the live stream, each delimited later by the prompt builder
//! (`crate::copilot::prompt`). Nothing a viewer types is ever added to the instructions.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::agent::{AgentSettings, SuspendSwitch};
use crate::copilot::gate::{Decision, GateConfig, ReplyGate, SkipReason};
use crate::copilot::trigger::{TriggerConfig, TriggerKind, detect};
use crate::intel::health::HealthScore;
use crate::intel::signals::Signals;
use crate::intel::windows::TermCount;
use crate::model::{ChannelLogin, ChatRecord};

/// A question ready to be answered, with everything the prompt needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyJob {
    /// The channel.
    pub channel: ChannelLogin,
    /// Who asked (login).
    pub viewer: String,
    /// What they asked (untrusted).
    pub question: String,
    /// The message to thread the answer under, when known.
    pub reply_to: Option<String>,
    /// When they asked.
    pub asked_at: DateTime<Utc>,
    /// How many triggers the burst collapsed into this one.
    pub collapsed: u32,
    /// The operator's notes (trusted data, not instructions).
    pub notes: String,
    /// A summary of what is happening on stream.
    pub live_context: String,
    /// Sampling overrides of the channel.
    pub temperature: Option<f64>,
    /// Nucleus sampling override of the channel.
    pub top_p: Option<f64>,
}

/// Why the edge did not take a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRejected {
    /// Every worker is busy and the queue is full: the question is dropped, not queued for
    /// minutes (an answer that late is worse than none).
    #[error("reply queue full")]
    Busy,
    /// The edge has stopped.
    #[error("reply workers stopped")]
    Stopped,
}

/// Where ready jobs go: the edge's reply workers. Must not block.
pub trait ReplyPort: Send + Sync + std::fmt::Debug + 'static {
    /// Queues a job.
    fn submit(&self, job: ReplyJob) -> Result<(), ReplyRejected>;
    /// Counts a question that was not answered and why (a metric label).
    fn skipped(&self, reason: &'static str);
}

/// What a channel's reply pipeline needs, shared by every channel actor.
#[derive(Debug, Clone)]
pub struct RepliesEnv {
    /// The bot's login and the commands that ask it.
    pub trigger: TriggerConfig,
    /// Debounce and cooldowns.
    pub gate: GateConfig,
    /// The fleet switch.
    pub suspend: Arc<SuspendSwitch>,
    /// The edge.
    pub port: Arc<dyn ReplyPort>,
}

/// One channel's reply state.
#[derive(Debug)]
pub struct Replies {
    env: RepliesEnv,
    gate: ReplyGate,
    /// The latest trigger's message id, to thread the answer under it.
    reply_to: Option<String>,
    /// When a `ReplyDue` is already scheduled for.
    armed_for: Option<DateTime<Utc>>,
}

/// Metric label of a skip reason.
pub fn skip_label(reason: &SkipReason) -> &'static str {
    match reason {
        SkipReason::Paused => "paused",
        SkipReason::Suspended => "suspended",
        SkipReason::UserCooldown { .. } => "user_cooldown",
        SkipReason::Debouncing { .. } => "debouncing",
        SkipReason::NothingPending => "nothing_pending",
    }
}

impl Replies {
    /// An idle pipeline.
    pub fn new(env: RepliesEnv) -> Self {
        Self {
            gate: ReplyGate::new(env.gate),
            env,
            reply_to: None,
            armed_for: None,
        }
    }

    /// A chat line arrived (live, not replayed). Returns when to run [`Replies::due`], if a
    /// new timer is needed (none is when one is already set for that instant or earlier).
    pub fn on_chat(
        &mut self,
        chat: &ChatRecord,
        now: DateTime<Utc>,
        agent: &AgentSettings,
    ) -> Option<DateTime<Utc>> {
        let trigger = detect(&self.env.trigger, &chat.user_login, &chat.text)?;
        if trigger.question.trim().is_empty() && trigger.kind != TriggerKind::Mention {
            self.env.port.skipped("empty_question");
            return None;
        }
        match self.gate.offer(
            &chat.user_login,
            &trigger.question,
            now,
            agent,
            &self.env.suspend,
        ) {
            Ok(ready_at) => {
                self.reply_to = Some(chat.message_id.clone());
                if self.armed_for.is_some_and(|at| at <= ready_at) {
                    return None;
                }
                self.armed_for = Some(ready_at);
                Some(ready_at)
            }
            Err(reason) => {
                self.env.port.skipped(skip_label(&reason));
                None
            }
        }
    }

    /// When a pending question becomes due (the tick checks this too, so a lost timer or
    /// a manual clock cannot strand one).
    pub fn ready_at(&self) -> Option<DateTime<Utc>> {
        self.gate.ready_at()
    }

    /// The scheduled moment came: hand the question to the edge if it is due. Returns a new
    /// instant to check again when the burst is still going on.
    pub fn due(
        &mut self,
        now: DateTime<Utc>,
        agent: &AgentSettings,
        channel: &ChannelLogin,
        live_context: impl FnOnce() -> String,
    ) -> Option<DateTime<Utc>> {
        self.armed_for = None;
        match self.gate.decide(now, agent, &self.env.suspend) {
            Decision::Reply(pending) => {
                let job = ReplyJob {
                    channel: channel.clone(),
                    viewer: pending.user,
                    question: pending.question,
                    reply_to: self.reply_to.take(),
                    asked_at: pending.asked_at,
                    collapsed: pending.collapsed,
                    notes: agent.notes.clone(),
                    live_context: live_context(),
                    temperature: agent.temperature,
                    top_p: agent.top_p,
                };
                if let Err(e) = self.env.port.submit(job) {
                    self.env.port.skipped(match e {
                        ReplyRejected::Busy => "busy",
                        ReplyRejected::Stopped => "stopped",
                    });
                }
                None
            }
            Decision::Skip(SkipReason::Debouncing { ready_at }) => {
                self.armed_for = Some(ready_at);
                Some(ready_at)
            }
            Decision::Skip(SkipReason::NothingPending) => None,
            Decision::Skip(reason) => {
                self.env.port.skipped(skip_label(&reason));
                None
            }
        }
    }
}

/// A few plain lines on what is happening on stream, for the model (data, not
/// instructions; the prompt builder escapes it).
pub fn live_summary(
    signals: Option<&Signals>,
    health: Option<&HealthScore>,
    top_terms: &[TermCount],
) -> String {
    let Some(s) = signals else {
        return "The stream just started; no chat figures yet.".to_owned();
    };
    let mood = match s.w5.sentiment_mean {
        m if m >= 0.25 => "positive",
        m if m <= -0.25 => "negative",
        _ => "neutral",
    };
    let mut out = format!(
        "Chat: {:.0} messages/min over the last minute, {} chatters in the last 5 minutes ({} new). Mood: {mood}.",
        s.w1.messages_per_min, s.w5.unique_chatters, s.w5.new_chatters,
    );
    if let Some(h) = health {
        out.push_str(&format!(" Stream health: {:.0}/100.", h.score));
    }
    if let Some(raid) = &s.last_raid {
        out.push_str(&format!(
            " Latest raid: {} with {} viewers.",
            raid.from, raid.viewers
        ));
    }
    let terms: Vec<&str> = top_terms.iter().take(5).map(|t| t.term.as_str()).collect();
    if !terms.is_empty() {
        out.push_str(&format!(" Chat is talking about: {}.", terms.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::Duration;

    use super::*;

    #[derive(Debug, Default)]
    struct Recorder {
        jobs: Mutex<Vec<ReplyJob>>,
        skips: Mutex<Vec<&'static str>>,
    }

    impl ReplyPort for Recorder {
        fn submit(&self, job: ReplyJob) -> Result<(), ReplyRejected> {
            self.jobs.lock().unwrap().push(job);
            Ok(())
        }
        fn skipped(&self, reason: &'static str) {
            self.skips.lock().unwrap().push(reason);
        }
    }

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    fn chat(id: &str, user: &str, text: &str) -> ChatRecord {
        ChatRecord {
            seq: 0,
            ..ChatRecord::test_line("chan", id, user, text, t(0))
        }
    }

    fn replies() -> (Replies, Arc<Recorder>) {
        let port = Arc::new(Recorder::default());
        let env = RepliesEnv {
            trigger: TriggerConfig::new("bytebot", ["ask"]),
            gate: GateConfig::default(),
            suspend: Arc::new(SuspendSwitch::default()),
            port: port.clone(),
        };
        (Replies::new(env), port)
    }

    #[test]
    fn a_burst_becomes_one_job_threaded_under_the_latest_question() {
        let (mut r, port) = replies();
        let agent = AgentSettings {
            notes: "Speedrun of Celeste today".into(),
            ..AgentSettings::default()
        };
        let first = r.on_chat(&chat("m1", "ann", "!ask what game is this"), t(0), &agent);
        assert!(first.is_some());
        assert_eq!(
            r.on_chat(&chat("m2", "bob", "just chatting"), t(100), &agent),
            None
        );
        // A later trigger pushes the debounce out but needs no earlier timer.
        assert_eq!(
            r.on_chat(
                &chat("m3", "cat", "@bytebot what is the pb"),
                t(200),
                &agent
            ),
            None
        );
        let at = r.ready_at().unwrap();
        assert!(at > first.unwrap());
        // Too early: told to come back.
        assert_eq!(
            r.due(
                first.unwrap(),
                &agent,
                &ChannelLogin::from_twitch("chan"),
                String::new
            ),
            Some(at)
        );
        assert_eq!(
            r.due(at, &agent, &ChannelLogin::from_twitch("chan"), || "ctx"
                .into()),
            None
        );
        let jobs = port.jobs.lock().unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].viewer, "cat");
        assert_eq!(jobs[0].question, "what is the pb");
        assert_eq!(jobs[0].reply_to.as_deref(), Some("m3"));
        assert_eq!(jobs[0].collapsed, 2);
        assert_eq!(jobs[0].notes, "Speedrun of Celeste today");
        assert_eq!(jobs[0].live_context, "ctx");
    }

    #[test]
    fn paused_channels_and_cooldowns_skip_with_a_reason() {
        let (mut r, port) = replies();
        let paused = AgentSettings {
            paused: true,
            ..AgentSettings::default()
        };
        assert_eq!(
            r.on_chat(&chat("m1", "ann", "!ask hi"), t(0), &paused),
            None
        );
        let agent = AgentSettings::default();
        let at = r
            .on_chat(&chat("m2", "ann", "!ask hi"), t(0), &agent)
            .unwrap();
        r.due(at, &agent, &ChannelLogin::from_twitch("chan"), String::new);
        assert_eq!(
            r.on_chat(
                &chat("m3", "ann", "!ask again"),
                at + Duration::seconds(1),
                &agent
            ),
            None
        );
        assert_eq!(*port.skips.lock().unwrap(), vec!["paused", "user_cooldown"]);
        assert_eq!(port.jobs.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_bot_itself_and_plain_chat_never_trigger() {
        let (mut r, port) = replies();
        let agent = AgentSettings::default();
        assert_eq!(
            r.on_chat(&chat("m1", "bytebot", "!ask loop"), t(0), &agent),
            None
        );
        assert_eq!(
            r.on_chat(&chat("m2", "ann", "hello chat"), t(0), &agent),
            None
        );
        assert!(port.skips.lock().unwrap().is_empty());
        assert_eq!(r.ready_at(), None);
    }
}

//! The decision step: from the live signals, the session and the goals to a bounded list of
//! actions. Pure: the channel actor calls it with the clock's `now` and hands the result to
//! the [`super::ActionSink`].
//!
//! Order of consideration (first wins when the bounds run out): playbooks whose condition
//! holds, greeting first-time chatters, thanking new subs, an engagement question when chat
//! is below the chat-rate goal, a sub goal reminder. Every candidate passes three bounds:
//! the channel's mode for its kind (`off` drops it), its intent's cooldown, and the channel's
//! cap on actions per rolling hour (plus at most [`MAX_PER_STEP`] per step). Nothing is
//! decided while the agent is paused in the channel or suspended fleet-wide.
//!
//! # When the scheduled step runs
//! Every `step_every_secs` after the previous step. The *first* one waits for the channel's
//! phase ([`step_phase`]: a stable hash of its login, spread over one period) after the
//! decider is placed with [`Decider::place_first_step`]. Without it, every channel of a
//! freshly started runtime would step on the same tick, and so on every period after: with
//! 100 channels, ~200 inserts into `autonomy_actions` at once, which starved the database
//! pool for the API. The phase changes *when* a channel steps, never what a step decides; a
//! step asked for by hand (`POST .../autonomy/tick`) runs at once regardless.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::goals::{GoalProgress, GoalTracker};
use super::playbooks::{DEAD_CHAT_SECS, Playbook, PlaybookRun, PlaybookTrigger};
use super::{ActionOrigin, AutonomyBoot, AutonomyConfig, Intent, Mode, ProposedAction, Submission};
use crate::intel::session::Session;
use crate::intel::signals::Signals;
use crate::model::login_hash;

/// Most actions one step decides.
pub const MAX_PER_STEP: usize = 5;
/// Most greetings one step decides.
const MAX_GREETINGS_PER_STEP: usize = 3;
/// A session must run this long before the sub goal is brought up.
const SUB_REMINDER_AFTER_SECS: i64 = 600;

/// Why a step ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepTrigger {
    /// The periodic step.
    Scheduled,
    /// `POST .../autonomy/tick` or a playbook run by hand.
    Manual,
}

impl StepTrigger {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepTrigger::Scheduled => "scheduled",
            StepTrigger::Manual => "manual",
        }
    }
}

/// What a step looks at.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// The clock's instant.
    pub now: DateTime<Utc>,
    /// Windowed signals as of the last tick.
    pub signals: &'a Signals,
    /// The open session.
    pub session: Option<&'a Session>,
    /// The agent is paused in this channel.
    pub paused: bool,
    /// The agent is suspended fleet-wide.
    pub suspended: bool,
    /// Why the step runs.
    pub trigger: StepTrigger,
}

/// A candidate the bounds stopped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppressed {
    /// What it would have been for.
    pub intent: Intent,
    /// Why it was not decided.
    pub why: String,
}

/// What a step decided, for the API and the edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// When.
    pub at: DateTime<Utc>,
    /// Why it ran.
    pub trigger: StepTrigger,
    /// Why nothing was considered (paused, suspended, not configured yet, ...).
    pub skipped: Option<String>,
    /// Decided actions.
    pub actions: Vec<ProposedAction>,
    /// Playbooks that ran.
    pub playbook_runs: Vec<PlaybookRun>,
    /// Candidates the bounds stopped.
    pub suppressed: Vec<Suppressed>,
    /// Goal progress after the step.
    pub goals: Vec<GoalProgress>,
    /// The open session.
    pub session_id: Option<String>,
}

impl StepReport {
    fn skipped(input: &StepInput<'_>, why: &str, goals: Vec<GoalProgress>) -> Self {
        StepReport {
            at: input.now,
            trigger: input.trigger,
            skipped: Some(why.to_owned()),
            actions: vec![],
            playbook_runs: vec![],
            suppressed: vec![],
            goals,
            session_id: input.session.map(|s| s.id.clone()),
        }
    }

    /// What the edge stores.
    pub fn submission(&self) -> Submission {
        Submission {
            actions: self.actions.clone(),
            runs: self.playbook_runs.clone(),
            outcomes: None,
        }
    }
}

/// A channel's decision state: configuration, cooldowns, the hourly log, goal tracking.
#[derive(Debug, Clone, Default)]
pub struct Decider {
    config: AutonomyConfig,
    last_by_intent: BTreeMap<Intent, DateTime<Utc>>,
    decided: VecDeque<DateTime<Utc>>,
    playbook_last: BTreeMap<Playbook, DateTime<Utc>>,
    greet_proposed: BTreeSet<String>,
    last_subs_total: Option<u64>,
    last_step: Option<DateTime<Utc>>,
    /// Where the first scheduled step falls; `None`: at once (a decider never placed).
    first_step: Option<FirstStep>,
    goals: GoalTracker,
}

/// The first scheduled step: [`step_phase`] of the channel after `anchor`. The hash is kept
/// rather than the instant, so a period changed before the first step still places it
/// within the new period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FirstStep {
    anchor: DateTime<Utc>,
    hash: u64,
}

fn phase_of(hash: u64, every_secs: u32) -> Duration {
    let period_ms = u64::from(every_secs.max(1)) * 1000;
    // Modulo bias is below 1e-12 for periods of at most an hour.
    Duration::milliseconds((hash % period_ms) as i64)
}

/// A channel's phase within the step period: how long after its decider is placed its first
/// scheduled step comes, in `[0, every_secs)` seconds (millisecond resolution). Deterministic
/// in the login, and spread evenly over the period across logins.
pub fn step_phase(login: &str, every_secs: u32) -> Duration {
    phase_of(login_hash(login), every_secs)
}

impl Decider {
    /// A decider with this configuration and no history.
    pub fn new(config: AutonomyConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// A decider restored from what the store remembers: cooldowns, the hourly log, the
    /// chatters already greeted or proposed for a greeting, each playbook's last run.
    pub fn from_boot(boot: AutonomyBoot) -> Self {
        let mut d = Self::new(boot.config);
        for r in &boot.recent {
            let last = d.last_by_intent.entry(r.intent).or_insert(r.decided_at);
            *last = (*last).max(r.decided_at);
            d.decided.push_back(r.decided_at);
            if r.intent == Intent::GreetFirstTimer
                && let Some(login) = &r.target
            {
                d.greet_proposed.insert(login.clone());
                if r.status == "executed" {
                    d.goals.greeted_by_bot(login);
                }
            }
        }
        d.decided.make_contiguous().sort();
        for (name, at) in boot.playbook_last_runs {
            if let Some(p) = Playbook::parse(&name) {
                d.playbook_last.insert(p, at);
            }
        }
        d
    }

    /// The configuration.
    pub fn config(&self) -> &AutonomyConfig {
        &self.config
    }

    /// Replaces the configuration, keeping the history.
    pub fn configure(&mut self, config: AutonomyConfig) {
        self.config = config;
    }

    /// Places the first scheduled step at the channel's [`step_phase`] after `anchor` (the
    /// moment the channel's configuration loaded), instead of at once.
    pub fn place_first_step(&mut self, login: &str, anchor: DateTime<Utc>) {
        self.first_step = Some(FirstStep {
            anchor,
            hash: login_hash(login),
        });
    }

    /// When the first scheduled step is due (`None`: at once, or one already ran).
    pub fn first_step_at(&self) -> Option<DateTime<Utc>> {
        let every = self.config.policy.step_every_secs;
        self.first_step
            .filter(|_| self.last_step.is_none())
            .map(|f| f.anchor + phase_of(f.hash, every))
    }

    /// Whether a scheduled step is due at `now`: `step_every_secs` after the last step, or,
    /// before any step, once the channel's phase has passed.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        let every = Duration::seconds(i64::from(self.config.policy.step_every_secs));
        self.config.policy.enabled
            && match self.last_step {
                Some(t) => now - t >= every,
                None => self.first_step_at().is_none_or(|at| now >= at),
            }
    }

    /// An action was executed at the edge.
    pub fn executed(&mut self, intent: Intent, target: Option<&str>) {
        if let (Intent::GreetFirstTimer, Some(login)) = (intent, target) {
            self.goals.greeted_by_bot(login);
        }
    }

    /// Live goal progress.
    pub fn progress(&self, session: Option<&Session>) -> Vec<GoalProgress> {
        self.goals.progress(&self.config.goals, session)
    }

    /// The KPIs of a closed session, when it is the one being tracked (or none was yet).
    pub fn outcomes(&self, session: &Session) -> Vec<super::GoalOutcome> {
        let mut tracker = self.goals.clone();
        tracker.follow(Some(session));
        tracker.outcomes(&self.config.goals, session)
    }

    /// One decision step.
    pub fn step(&mut self, input: StepInput<'_>) -> StepReport {
        self.goals.follow(input.session);
        self.goals.observe(&self.config.goals, input.signals);
        self.last_step = Some(input.now);
        let goals_now = || self.goals.progress(&self.config.goals, input.session);
        if let Some(why) = blocked(&input) {
            return StepReport::skipped(&input, why, goals_now());
        }
        let now = input.now;
        let s = input.signals;
        let session_id = input.session.map(|x| x.id.clone());
        let sess = session_id.as_deref().unwrap_or("none");
        let mut report = StepReport::skipped(&input, "", vec![]);
        report.skipped = None;

        // Playbooks whose condition holds.
        for p in Playbook::ALL {
            let cooled = self
                .playbook_last
                .get(&p)
                .is_none_or(|t| (now - *t).num_seconds() >= p.cooldown_secs());
            let Some(why) = p.condition(s, input.session).filter(|_| cooled) else {
                continue;
            };
            let Some(actions) = p.actions(s, now, session_id.as_deref(), &why) else {
                continue;
            };
            let accepted = self.admit_all(actions, false, &mut report);
            if !accepted.is_empty() {
                self.playbook_last.insert(p, now);
                report.playbook_runs.push(PlaybookRun {
                    key: format!("{}:{sess}:{}", p.as_str(), now.timestamp()),
                    playbook: p,
                    trigger: PlaybookTrigger::Automatic,
                    at: now,
                    evidence: why,
                    actions: accepted,
                    session_id: session_id.clone(),
                });
            }
        }

        // Greet first-time chatters, oldest first.
        let waiting: Vec<String> = s
            .ungreeted_first_timers
            .iter()
            .filter(|l| !self.greet_proposed.contains(*l) && !self.goals.is_greeted(l))
            .take(MAX_GREETINGS_PER_STEP)
            .cloned()
            .collect();
        for login in waiting {
            let a = self.own(
                Intent::GreetFirstTimer,
                format!("greet:{sess}:{login}"),
                json!({ "text": format!("Welcome to the stream, @{login}! Glad you're here :)") }),
                format!("{login} chatted for the first time and nobody has greeted them yet."),
                Some(login),
                now,
                &session_id,
            );
            self.admit(a, false, &mut report);
        }

        // Thank new subs (the first look after a start only records the count).
        if let Some(k) = input.session.map(|x| &x.kpis) {
            let total = k.subs + k.gifts;
            if let Some(before) = self.last_subs_total.filter(|b| total > *b) {
                let n = total - before;
                let text = if n == 1 {
                    "Thank you for the sub! <3".to_owned()
                } else {
                    format!("Thank you for the {n} new subs! <3")
                };
                let a = self.own(
                    Intent::ThankSubs,
                    format!("thank_subs:{sess}:{total}"),
                    json!({ "text": text }),
                    format!("{n} new sub(s) since the last look ({total} this session)."),
                    None,
                    now,
                    &session_id,
                );
                if self.admit(a, false, &mut report) {
                    self.last_subs_total = Some(total);
                }
            } else {
                self.last_subs_total = Some(total);
            }
        }

        // Below the chat-rate goal while chat is alive (a dead chat is the playbook's).
        if let (Some(g), Some(_)) = (&self.config.goals.chat_rate, input.session)
            && s.secs_since_last_message
                .is_some_and(|q| q < DEAD_CHAT_SECS)
            && s.w5.messages_per_min < g.per_min
        {
            let bucket = now
                .timestamp()
                .div_euclid(Intent::EngagementQuestion.cooldown_secs());
            let reason = format!(
                "Chat runs at {:.1} msg/min over 5 minutes, below the goal of {} msg/min.",
                s.w5.messages_per_min, g.per_min
            );
            let a = self.own(
                Intent::EngagementQuestion,
                format!("engage:{sess}:{bucket}"),
                json!({ "text": super::playbooks::engagement_question(now) }),
                reason,
                None,
                now,
                &session_id,
            );
            self.admit(a, false, &mut report);
        }

        // Remind chat of the sub goal.
        if let (Some(g), Some(x)) = (&self.config.goals.subs, input.session) {
            let have = x.kpis.subs + x.kpis.gifts;
            if have < u64::from(g.target)
                && (now - x.started_at).num_seconds() >= SUB_REMINDER_AFTER_SECS
                && s.w5.messages > 0
            {
                let bucket = now
                    .timestamp()
                    .div_euclid(Intent::SubGoalReminder.cooldown_secs());
                let a = self.own(
                    Intent::SubGoalReminder,
                    format!("sub_reminder:{sess}:{bucket}"),
                    json!({ "text": format!("We're at {have}/{} subs for today's goal. Thank you all for the support!", g.target) }),
                    format!("The session has {have} of its {} sub goal.", g.target),
                    None,
                    now,
                    &session_id,
                );
                self.admit(a, false, &mut report);
            }
        }
        report.goals = goals_now_after(self, input.session);
        report
    }

    /// Runs `playbook` by hand: its condition need not hold and its cooldown does not apply,
    /// but the policy's `off` modes and the hourly cap do, and nothing runs while paused or
    /// suspended. Actions run by hand never execute automatically: they wait for approval.
    pub fn run_playbook(
        &mut self,
        playbook: Playbook,
        input: StepInput<'_>,
        by: &str,
    ) -> StepReport {
        self.goals.follow(input.session);
        let goals = self.goals.progress(&self.config.goals, input.session);
        if let Some(why) = blocked(&input) {
            return StepReport::skipped(&input, why, goals);
        }
        let now = input.now;
        let session_id = input.session.map(|x| x.id.clone());
        let evidence = match playbook.condition(input.signals, input.session) {
            Some(why) => format!("run by {by}; {why}"),
            None => format!("run by {by}"),
        };
        let Some(mut actions) =
            playbook.actions(input.signals, now, session_id.as_deref(), &evidence)
        else {
            return StepReport::skipped(
                &input,
                "nothing to act on: there was no raid in the last 2 minutes",
                goals,
            );
        };
        // A run by hand is its own decision, whatever the automatic runs did in this bucket.
        for a in &mut actions {
            a.key = format!("{}:manual:{}", a.key, now.timestamp_millis());
        }
        let mut report = StepReport::skipped(&input, "", goals);
        report.skipped = None;
        let accepted = self.admit_all(actions, true, &mut report);
        report.playbook_runs.push(PlaybookRun {
            key: format!("{}:manual:{}", playbook.as_str(), now.timestamp_millis()),
            playbook,
            trigger: PlaybookTrigger::Manual,
            at: now,
            evidence,
            actions: accepted,
            session_id,
        });
        report
    }

    #[allow(clippy::too_many_arguments)]
    fn own(
        &self,
        intent: Intent,
        key: String,
        payload: serde_json::Value,
        reason: String,
        target: Option<String>,
        now: DateTime<Utc>,
        session_id: &Option<String>,
    ) -> ProposedAction {
        ProposedAction {
            key,
            kind: intent.kind(),
            intent,
            origin: ActionOrigin::Autonomy,
            playbook: None,
            payload,
            reason,
            target,
            auto: false,
            decided_at: now,
            expires_at: now + Duration::seconds(intent.ttl_secs()),
            session_id: session_id.clone(),
        }
    }

    fn admit_all(
        &mut self,
        actions: Vec<ProposedAction>,
        manual: bool,
        report: &mut StepReport,
    ) -> Vec<String> {
        let mut keys = Vec::new();
        for a in actions {
            let key = a.key.clone();
            if self.admit(a, manual, report) {
                keys.push(key);
            }
        }
        keys
    }

    /// Applies the bounds; on success records the decision and adds it to the report.
    fn admit(&mut self, mut a: ProposedAction, manual: bool, report: &mut StepReport) -> bool {
        let now = a.decided_at;
        let mode = self.config.policy.mode(a.kind);
        let refuse = |why: String, report: &mut StepReport| {
            report.suppressed.push(Suppressed {
                intent: a.intent,
                why,
            });
            false
        };
        if mode == Mode::Off {
            return refuse(
                format!("{} is off in this channel", a.kind.as_str()),
                report,
            );
        }
        if !manual
            && let Some(last) = self.last_by_intent.get(&a.intent)
            && (now - *last).num_seconds() < a.intent.cooldown_secs()
        {
            return refuse(
                format!(
                    "cooling down: last {} {} s ago (cooldown {} s)",
                    a.intent.as_str(),
                    (now - *last).num_seconds(),
                    a.intent.cooldown_secs()
                ),
                report,
            );
        }
        let hour_ago = now - Duration::hours(1);
        while self.decided.front().is_some_and(|t| *t <= hour_ago) {
            self.decided.pop_front();
        }
        let cap = self.config.policy.max_actions_per_hour as usize;
        if self.decided.len() >= cap {
            return refuse(format!("hourly cap of {cap} actions reached"), report);
        }
        if report.actions.len() >= MAX_PER_STEP {
            return refuse(format!("at most {MAX_PER_STEP} actions per step"), report);
        }
        a.auto = mode == Mode::Auto && !manual;
        self.last_by_intent.insert(a.intent, now);
        self.decided.push_back(now);
        if let (Intent::GreetFirstTimer, Some(login)) = (a.intent, &a.target) {
            self.greet_proposed.insert(login.clone());
        }
        report.actions.push(a);
        true
    }
}

fn goals_now_after(d: &Decider, session: Option<&Session>) -> Vec<GoalProgress> {
    d.goals.progress(&d.config.goals, session)
}

fn blocked(input: &StepInput<'_>) -> Option<&'static str> {
    if input.suspended {
        Some("the agent is suspended fleet-wide")
    } else if input.paused {
        Some("the agent is paused in this channel")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autonomy::goals::{ChatRateGoal, GoalsConfig};
    use crate::autonomy::{ActionKind, AutonomyPolicy};
    use crate::intel::session::SessionTracker;
    use crate::intel::signals::WindowStats;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn signals(now: DateTime<Utc>, quiet: f64, waiting: &[String]) -> Signals {
        Signals {
            now,
            w1: WindowStats::default(),
            w5: WindowStats {
                messages: 3,
                messages_per_min: 0.6,
                ..WindowStats::default()
            },
            w15: WindowStats::default(),
            baseline_rate_per_min: 0.0,
            rate_stddev_per_min: 0.0,
            open_questions: vec![],
            ungreeted_first_timers: waiting.to_vec(),
            last_raid: None,
            secs_since_last_message: Some(quiet),
        }
    }

    fn session(at: DateTime<Utc>) -> Session {
        let mut tr = SessionTracker::default();
        tr.start("chan", at).clone()
    }

    fn input<'a>(s: &'a Signals, sess: &'a Session, paused: bool) -> StepInput<'a> {
        StepInput {
            now: s.now,
            signals: s,
            session: Some(sess),
            paused,
            suspended: false,
            trigger: StepTrigger::Scheduled,
        }
    }

    #[test]
    fn dead_chat_proposes_one_question_then_cools_down() {
        let sess = session(t(0));
        let mut d = Decider::new(AutonomyConfig::default());
        let s = signals(t(400), 240.0, &[]);
        let r = d.step(input(&s, &sess, false));
        assert_eq!(r.actions.len(), 1, "{r:?}");
        let a = &r.actions[0];
        assert_eq!(
            (a.kind, a.intent),
            (ActionKind::ChatMessage, Intent::EngagementQuestion)
        );
        assert!(!a.auto, "suggest is the default mode");
        assert_eq!(r.playbook_runs[0].playbook, Playbook::DeadChat);
        assert!(a.reason.contains("no chat for 240 s"), "{}", a.reason);
        let s2 = signals(t(430), 270.0, &[]);
        let r2 = d.step(input(&s2, &sess, false));
        assert!(r2.actions.is_empty(), "{r2:?}");
    }

    #[test]
    fn paused_or_suspended_decides_nothing() {
        let sess = session(t(0));
        let mut d = Decider::new(AutonomyConfig::default());
        let s = signals(t(400), 240.0, &["newbie".into()]);
        let r = d.step(input(&s, &sess, true));
        assert!(r.actions.is_empty());
        assert_eq!(
            r.skipped.as_deref(),
            Some("the agent is paused in this channel")
        );
        let mut i = input(&s, &sess, false);
        i.suspended = true;
        assert!(d.step(i).actions.is_empty());
        assert!(
            d.run_playbook(Playbook::DeadChat, i, "admin")
                .actions
                .is_empty()
        );
    }

    #[test]
    fn auto_and_off_modes() {
        let sess = session(t(0));
        let mut policy = AutonomyPolicy::default();
        policy.modes.insert(ActionKind::ChatMessage, Mode::Auto);
        let mut d = Decider::new(AutonomyConfig {
            policy: policy.clone(),
            goals: GoalsConfig::default(),
        });
        let s = signals(t(400), 240.0, &["newbie".into()]);
        let r = d.step(input(&s, &sess, false));
        assert!(
            r.actions.iter().all(|a| a.auto) && r.actions.len() == 2,
            "{r:?}"
        );
        policy.modes.insert(ActionKind::ChatMessage, Mode::Off);
        let mut d = Decider::new(AutonomyConfig {
            policy,
            goals: GoalsConfig::default(),
        });
        let r = d.step(input(&s, &sess, false));
        assert!(r.actions.is_empty());
        assert_eq!(r.suppressed.len(), 2);
    }

    #[test]
    fn restored_decider_does_not_repeat_what_the_store_remembers() {
        let sess = session(t(0));
        let mut d = Decider::new(AutonomyConfig::default());
        let s = signals(t(400), 240.0, &["newbie".into()]);
        let first = d.step(input(&s, &sess, false));
        assert_eq!(first.actions.len(), 2);
        let boot = AutonomyBoot {
            config: AutonomyConfig::default(),
            recent: first
                .actions
                .iter()
                .map(|a| super::super::RecentAction {
                    intent: a.intent,
                    target: a.target.clone(),
                    decided_at: a.decided_at,
                    status: "proposed".into(),
                })
                .collect(),
            playbook_last_runs: vec![("dead_chat".into(), t(400))],
        };
        let mut restarted = Decider::from_boot(boot);
        let s = signals(t(460), 300.0, &["newbie".into()]);
        assert!(restarted.step(input(&s, &sess, false)).actions.is_empty());
    }

    #[test]
    fn chat_rate_goal_below_target_asks_a_question() {
        let sess = session(t(0));
        let mut d = Decider::new(AutonomyConfig {
            policy: AutonomyPolicy::default(),
            goals: GoalsConfig {
                chat_rate: Some(ChatRateGoal {
                    per_min: 20.0,
                    minutes: 5,
                }),
                ..GoalsConfig::default()
            },
        });
        let s = signals(t(100), 10.0, &[]);
        let r = d.step(input(&s, &sess, false));
        assert_eq!(r.actions.len(), 1);
        assert_eq!(r.actions[0].origin, ActionOrigin::Autonomy);
        assert!(r.actions[0].reason.contains("below the goal"));
    }

    /// 100 channels whose configuration loads on the same tick: stepping each second as the
    /// actors' ticks do, every channel takes its first scheduled step exactly once within
    /// the period, spread evenly instead of all on the first tick, and keeps its own slot
    /// every period after.
    #[test]
    fn first_steps_of_many_channels_spread_over_the_period() {
        const N: usize = 100;
        let every = AutonomyConfig::default().policy.step_every_secs;
        let period = i64::from(every);
        let sess = session(t(0));
        let mut deciders: Vec<Decider> = (0..N)
            .map(|i| {
                let mut d = Decider::new(AutonomyConfig::default());
                d.place_first_step(&format!("channel_{i:03}"), t(0));
                d
            })
            .collect();
        // Tick every second for three periods, as the actors do; record who steps when.
        let mut per_second = vec![0usize; 3 * period as usize];
        let mut stepped_at: Vec<Vec<i64>> = vec![vec![]; N];
        for (sec, count) in per_second.iter_mut().enumerate() {
            let now = t(sec as i64);
            let s = signals(now, 0.0, &[]);
            for (d, at) in deciders.iter_mut().zip(&mut stepped_at) {
                if d.due(now) {
                    d.step(input(&s, &sess, false));
                    *count += 1;
                    at.push(sec as i64);
                }
            }
        }
        // Each channel's first step falls within the first period (on the first tick at or
        // after its phase), and the next ones exactly a period apart: its slot is kept.
        for at in &stepped_at {
            let first = at[0];
            assert!((0..=period).contains(&first), "{at:?}");
            let expected: Vec<i64> = (0..)
                .map(|k| first + k * period)
                .take_while(|s| *s < 3 * period)
                .collect();
            assert_eq!(at, &expected);
        }
        // Before: all 100 on tick 0, and again every period. Now no second holds more than a
        // few (the mean is 100 / 30 = 3.3) and every third of the period about a third.
        let busiest = *per_second.iter().max().unwrap();
        assert!(busiest <= 9, "busiest second has {busiest}: {per_second:?}");
        let size = period / 3;
        for third in 0..3 {
            let n = stepped_at
                .iter()
                .filter(|at| (third * size..(third + 1) * size).contains(&(at[0] % period)))
                .count();
            assert!(
                (20..=47).contains(&n),
                "third {third} has {n}: {stepped_at:?}"
            );
        }
    }

    #[test]
    fn the_phase_is_stable_and_an_unplaced_decider_steps_at_once() {
        assert_eq!(
            step_phase("some_channel", 30),
            step_phase("some_channel", 30)
        );
        assert_ne!(
            step_phase("some_channel", 30),
            step_phase("other_channel", 30)
        );
        // Never placed (unit tests, bare actors): due at once, as before.
        let d = Decider::new(AutonomyConfig::default());
        assert!(d.due(t(0)));
        assert_eq!(d.first_step_at(), None);
        // Placed: due at its phase, not before; a disabled policy is never due.
        let mut d = Decider::new(AutonomyConfig::default());
        d.place_first_step("some_channel", t(100));
        let at = d.first_step_at().unwrap();
        assert_eq!(at, t(100) + step_phase("some_channel", 30));
        assert!(d.due(at) && !d.due(at - Duration::milliseconds(1)));
        let mut off = d.config().clone();
        off.policy.enabled = false;
        d.configure(off);
        assert!(!d.due(at));
        // A step by hand counts as the last step: the next is a period later.
        let sess = session(t(0));
        let mut d = Decider::new(AutonomyConfig::default());
        d.place_first_step("some_channel", t(100));
        let s = signals(t(101), 0.0, &[]);
        d.step(StepInput {
            trigger: StepTrigger::Manual,
            ..input(&s, &sess, false)
        });
        assert_eq!(d.first_step_at(), None);
        assert!(!d.due(t(130)) && d.due(t(131)));
    }

    proptest! {
        /// Any login's phase lies within the period, whatever the period.
        #[test]
        fn the_phase_lies_within_the_period(login in "[a-z0-9_]{1,25}", every in 10u32..=3600) {
            let p = step_phase(&login, every);
            prop_assert!(p >= Duration::zero() && p < Duration::seconds(i64::from(every)));
        }

        /// Whatever chat does, no rolling hour holds more decisions than the cap, and no
        /// intent but greetings repeats within its cooldown.
        #[test]
        fn bounded_per_hour_and_cooled_down(
            cap in 0u32..12,
            steps in proptest::collection::vec((1i64..400, 0f64..600.0, 0usize..6), 1..120),
        ) {
            let sess = session(t(0));
            let policy = AutonomyPolicy { max_actions_per_hour: cap, ..AutonomyPolicy::default() };
            let mut d = Decider::new(AutonomyConfig { policy, goals: GoalsConfig::default() });
            let mut now = 0i64;
            let mut log: Vec<(i64, Intent)> = vec![];
            let mut n = 0usize;
            for (gap, quiet, newcomers) in steps {
                now += gap;
                let waiting: Vec<String> = (0..newcomers).map(|i| { n += 1; format!("u{}", n + i) }).collect();
                let s = signals(t(now), quiet, &waiting);
                let r = d.step(input(&s, &sess, false));
                prop_assert!(r.actions.len() <= MAX_PER_STEP);
                for a in r.actions { log.push((now, a.intent)); }
            }
            for (i, (at, intent)) in log.iter().enumerate() {
                let in_hour = log.iter().filter(|(b, _)| *b > at - 3600 && *b <= *at).count();
                prop_assert!(in_hour <= cap as usize, "{in_hour} > {cap}");
                if *intent != Intent::GreetFirstTimer {
                    for (b, other) in &log[..i] {
                        prop_assert!(!(other == intent && at - b < intent.cooldown_secs()));
                    }
                }
            }
        }
    }
}

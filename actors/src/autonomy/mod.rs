//! Autonomy: what the agent decides to do on its own in a channel, and how far it may go.
//!
//! Pure domain, time always an argument:
//! - [`goals`]: a channel's session goals (chat rate, greeting first-time chatters, a sub
//!   target), their live progress, and the met/missed [`GoalOutcome`] recorded per session.
//! - [`playbooks`]: deterministic ops playbooks (toxicity spike, dead chat, raid): a trigger
//!   condition over the live signals and the actions it proposes.
//! - [`decide`]: the decision step. It reads the signals, the session and the goals, runs the
//!   playbooks whose condition holds, adds its own goal-driven actions, and bounds everything
//!   with per-intent cooldowns and a per-hour cap. Each action goes to the action queue as a
//!   proposal, or runs automatically where the channel's [`AutonomyPolicy`] allows its kind.
//!
//! The channel actor owns the state (`channel::autonomy`); decided actions leave it through
//! the [`ActionSink`] port, whose edge adapter stores them (the queue lives in Postgres, keyed
//! by each action's idempotency key) and executes the automatic ones.

pub mod decide;
pub mod goals;
pub mod playbooks;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::ChannelLogin;
use crate::ports::StoreError;

pub use decide::{Decider, StepInput, StepReport, StepTrigger};
pub use goals::{GoalKind, GoalOutcome, GoalProgress, GoalsConfig};
pub use playbooks::{Playbook, PlaybookRun, PlaybookTrigger};

/// What an action does, which decides how the edge executes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A line the bot says in chat (through the chat sender's limits and sanitising).
    ChatMessage,
    /// A hint shown to the streamer on the HUD.
    CoachingHint,
    /// Slow mode in chat. Twitch moved chat settings to the Helix API, which needs a
    /// broadcaster/moderator user token Byte does not hold: executing it means the streamer
    /// turns it on by hand and acknowledges it (status `acknowledged`).
    SlowMode,
}

impl ActionKind {
    /// Every kind.
    pub const ALL: [ActionKind; 3] = [
        ActionKind::ChatMessage,
        ActionKind::CoachingHint,
        ActionKind::SlowMode,
    ];

    /// Snake-case name, as stored and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::ChatMessage => "chat_message",
            ActionKind::CoachingHint => "coaching_hint",
            ActionKind::SlowMode => "slow_mode",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<ActionKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Why an action was decided: the rule behind it. Cooldowns are per intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// A question to get a quiet chat talking.
    EngagementQuestion,
    /// Welcome a first-time chatter by name.
    GreetFirstTimer,
    /// Welcome a raid and thank the raider.
    WelcomeRaid,
    /// Thank new subscribers.
    ThankSubs,
    /// Remind chat of the session's sub goal.
    SubGoalReminder,
    /// Slow chat down during a toxicity spike.
    SlowModeToxicity,
    /// Tell the streamer about a toxicity spike.
    ToxicityHint,
}

impl Intent {
    /// Every intent.
    pub const ALL: [Intent; 7] = [
        Intent::EngagementQuestion,
        Intent::GreetFirstTimer,
        Intent::WelcomeRaid,
        Intent::ThankSubs,
        Intent::SubGoalReminder,
        Intent::SlowModeToxicity,
        Intent::ToxicityHint,
    ];

    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::EngagementQuestion => "engagement_question",
            Intent::GreetFirstTimer => "greet_first_timer",
            Intent::WelcomeRaid => "welcome_raid",
            Intent::ThankSubs => "thank_subs",
            Intent::SubGoalReminder => "sub_goal_reminder",
            Intent::SlowModeToxicity => "slow_mode_toxicity",
            Intent::ToxicityHint => "toxicity_hint",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Intent> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The kind of action this intent produces.
    pub fn kind(self) -> ActionKind {
        match self {
            Intent::SlowModeToxicity => ActionKind::SlowMode,
            Intent::ToxicityHint => ActionKind::CoachingHint,
            _ => ActionKind::ChatMessage,
        }
    }

    /// Seconds before the same intent may be decided again. Greetings are per chatter
    /// (the key stops repeats), so their cooldown only spaces them out.
    pub fn cooldown_secs(self) -> i64 {
        match self {
            Intent::EngagementQuestion => 600,
            Intent::GreetFirstTimer => 0,
            Intent::WelcomeRaid => 120,
            Intent::ThankSubs => 300,
            Intent::SubGoalReminder => 1800,
            Intent::SlowModeToxicity => 600,
            Intent::ToxicityHint => 300,
        }
    }

    /// How long a proposal stays worth approving (a greeting ten minutes late is awkward).
    pub fn ttl_secs(self) -> i64 {
        match self {
            Intent::GreetFirstTimer => 600,
            Intent::WelcomeRaid => 300,
            Intent::ThankSubs => 600,
            Intent::EngagementQuestion => 600,
            Intent::SubGoalReminder => 900,
            Intent::SlowModeToxicity | Intent::ToxicityHint => 600,
        }
    }
}

/// Who or what put an action in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOrigin {
    /// The autonomy step's own goal-driven rules.
    Autonomy,
    /// A playbook (automatically or run by hand).
    Playbook,
    /// A person through the API.
    Operator,
}

impl ActionOrigin {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOrigin::Autonomy => "autonomy",
            ActionOrigin::Playbook => "playbook",
            ActionOrigin::Operator => "operator",
        }
    }
}

/// How an action kind is handled in a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Never decided.
    Off,
    /// Decided into the queue; a person approves or rejects it.
    #[default]
    Suggest,
    /// Decided and executed without approval.
    Auto,
}

impl Mode {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Suggest => "suggest",
            Mode::Auto => "auto",
        }
    }
}

/// Default seconds between scheduled autonomy steps.
pub const DEFAULT_STEP_EVERY_SECS: u32 = 30;
/// Default most actions decided per rolling hour.
pub const DEFAULT_MAX_ACTIONS_PER_HOUR: u32 = 20;

/// A channel's autonomy policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutonomyPolicy {
    /// Whether the scheduled step runs at all (the manual tick and playbook runs still work).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds between scheduled steps (10-3600).
    #[serde(default = "default_step")]
    pub step_every_secs: u32,
    /// Most actions decided per rolling hour, all kinds together (0-120).
    #[serde(default = "default_cap")]
    pub max_actions_per_hour: u32,
    /// Mode per action kind; kinds not named are `suggest`.
    #[serde(default)]
    pub modes: BTreeMap<ActionKind, Mode>,
}

fn yes() -> bool {
    true
}
fn default_step() -> u32 {
    DEFAULT_STEP_EVERY_SECS
}
fn default_cap() -> u32 {
    DEFAULT_MAX_ACTIONS_PER_HOUR
}

impl Default for AutonomyPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            step_every_secs: DEFAULT_STEP_EVERY_SECS,
            max_actions_per_hour: DEFAULT_MAX_ACTIONS_PER_HOUR,
            modes: BTreeMap::new(),
        }
    }
}

/// Why a policy or goals change cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Step interval out of range.
    #[error("step_every_secs must be between 10 and 3600, got {0}")]
    StepEvery(u32),
    /// Hourly cap out of range.
    #[error("max_actions_per_hour must be between 0 and 120, got {0}")]
    Cap(u32),
    /// Slow mode cannot run by itself.
    #[error(
        "slow_mode cannot be auto: Byte holds no Twitch token allowed to change chat settings, \
         so the streamer sets slow mode by hand and acknowledges it; use suggest or off"
    )]
    SlowModeAuto,
    /// A goal's value is out of range.
    #[error("{0}")]
    Goal(String),
}

impl AutonomyPolicy {
    /// The mode of `kind` (default `suggest`).
    pub fn mode(&self, kind: ActionKind) -> Mode {
        self.modes.get(&kind).copied().unwrap_or_default()
    }

    /// Every kind with its mode, for display.
    pub fn all_modes(&self) -> BTreeMap<ActionKind, Mode> {
        ActionKind::ALL
            .iter()
            .map(|k| (*k, self.mode(*k)))
            .collect()
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=3600).contains(&self.step_every_secs) {
            return Err(ConfigError::StepEvery(self.step_every_secs));
        }
        if self.max_actions_per_hour > 120 {
            return Err(ConfigError::Cap(self.max_actions_per_hour));
        }
        if self.mode(ActionKind::SlowMode) == Mode::Auto {
            return Err(ConfigError::SlowModeAuto);
        }
        Ok(())
    }
}

/// Everything the decision step is configured with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutonomyConfig {
    /// What may run and how often.
    pub policy: AutonomyPolicy,
    /// The session goals.
    pub goals: GoalsConfig,
}

/// An action the step decided: a proposal for the queue, or one to run at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedAction {
    /// Idempotency key: the same decision made twice (a retried submit, a restarted actor
    /// deciding again) has the same key and is stored once.
    pub key: String,
    /// What it does.
    pub kind: ActionKind,
    /// Why.
    pub intent: Intent,
    /// Who decided it.
    pub origin: ActionOrigin,
    /// The playbook behind it, if any.
    pub playbook: Option<String>,
    /// What to do: `{"text"}` for chat, `{"title","message"}` for hints, `{"seconds",
    /// "duration_secs"}` for slow mode.
    pub payload: serde_json::Value,
    /// The explanation shown to the streamer.
    pub reason: String,
    /// The chatter or raider it is about, if any.
    pub target: Option<String>,
    /// The policy lets it run without approval.
    pub auto: bool,
    /// When it was decided (the engine's clock).
    pub decided_at: DateTime<Utc>,
    /// After this a proposal expires unapproved.
    pub expires_at: DateTime<Utc>,
    /// The session it belongs to.
    pub session_id: Option<String>,
}

/// An action decided recently, as the store remembers it: restores cooldowns, the hourly
/// cap and the greetings done after a channel actor restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentAction {
    /// Why it was decided.
    pub intent: Intent,
    /// Who or what it was about.
    pub target: Option<String>,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// Its status now (`executed` greetings count towards the greeting goal).
    pub status: String,
}

/// What a channel's autonomy starts from after its actor (re)starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutonomyBoot {
    /// Policy and goals.
    pub config: AutonomyConfig,
    /// Actions decided in the last hour.
    pub recent: Vec<RecentAction>,
    /// Last run of each playbook (for its cooldown).
    pub playbook_last_runs: Vec<(String, DateTime<Utc>)>,
}

/// What one step hands to the edge.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Submission {
    /// Decided actions (stored by key, executed when `auto`).
    pub actions: Vec<ProposedAction>,
    /// Playbook runs.
    pub runs: Vec<PlaybookRun>,
    /// A closed session's goal outcomes.
    pub outcomes: Option<(String, Vec<GoalOutcome>)>,
}

impl Submission {
    /// Nothing to hand over.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.runs.is_empty() && self.outcomes.is_none()
    }
}

/// Where decided actions, playbook runs and goal outcomes leave the core; implemented at the
/// edge, which stores them (the action queue) and executes the automatic actions.
#[async_trait]
pub trait ActionSink: Send + Sync + 'static {
    /// The channel's configuration and recent decisions, read when its actor starts.
    async fn boot(&self, channel: &ChannelLogin) -> Result<AutonomyBoot, StoreError>;

    /// Hands a step's results over without waiting (the edge stores them idempotently by
    /// key, so a second submission of the same action is harmless).
    fn submit(&self, channel: &ChannelLogin, submission: Submission);
}

impl std::fmt::Debug for dyn ActionSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActionSink")
    }
}

/// A request to a channel's autonomy, through the Router.
#[derive(Debug, Clone)]
pub enum AutonomyRequest {
    /// Run a decision step now (`POST .../autonomy/tick`).
    Step,
    /// Run a playbook by hand.
    RunPlaybook {
        /// Which.
        playbook: Playbook,
        /// Who (an audit name), for the run's evidence.
        by: String,
    },
    /// New policy and goals (already stored by the edge).
    Configure(Box<AutonomyConfig>),
    /// An action was executed at the edge (greetings count towards the greeting goal).
    Executed {
        /// Its intent.
        intent: Intent,
        /// Its target.
        target: Option<String>,
    },
    /// The live goal progress.
    Progress,
    /// The boot load finished (sent by the actor's own loader task).
    Booted(Result<Box<AutonomyBoot>, String>),
}

/// The answer to an [`AutonomyRequest`].
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AutonomyReply {
    /// What a step or playbook run decided.
    Step(Box<StepReport>),
    /// Live goal progress.
    Progress {
        /// The open session.
        session_id: Option<String>,
        /// Each goal.
        goals: Vec<GoalProgress>,
        /// Whether the channel's configuration has been loaded.
        ready: bool,
    },
    /// Done.
    Ok,
}

//! The co-pilot's settings: chat replies and LLM budgets. One flattened group of
//! [`crate::config::RuntimeArgs`], so tests and benchmarks take the defaults with
//! `CopilotArgs::default()`.

use byte_actors::copilot::gate::GateConfig;
use byte_actors::copilot::sanitize::SanitizeConfig;
use byte_actors::copilot::trigger::TriggerConfig;
use clap::Args;

use super::budget::BudgetLimits;

const REPLY_COMMANDS: &str = "ask";
const REPLY_WORKERS: usize = 4;
const REPLY_QUEUE: usize = 64;
const REPLY_DEBOUNCE_MS: u64 = 1_500;
const REPLY_MAX_DELAY_MS: u64 = 5_000;
const REPLY_USER_COOLDOWN_MS: u64 = 30_000;
const CHAT_ALLOWED_HOSTS: &str = "twitch.tv";
const CHAT_MAX_PARTS: usize = 2;

/// Chat replies and budgets.
#[derive(Debug, Clone, Args)]
pub struct CopilotArgs {
    /// Chat commands that ask the bot, comma-separated, without `!` (mentioning the bot's
    /// login asks it too).
    #[arg(long, env = "BYTEBOT_REPLY_COMMANDS", default_value = REPLY_COMMANDS)]
    pub reply_commands: String,
    /// Reply workers (concurrent model calls for chat replies).
    #[arg(long, env = "BYTEBOT_REPLY_WORKERS", default_value_t = REPLY_WORKERS)]
    pub reply_workers: usize,
    /// Reply jobs waiting for a worker before new questions are dropped.
    #[arg(long, env = "BYTEBOT_REPLY_QUEUE", default_value_t = REPLY_QUEUE)]
    pub reply_queue: usize,
    /// Quiet time after the latest question of a burst before answering.
    #[arg(long, env = "BYTEBOT_REPLY_DEBOUNCE_MS", default_value_t = REPLY_DEBOUNCE_MS)]
    pub reply_debounce_ms: u64,
    /// Longest wait after the first question of a burst, however busy chat is.
    #[arg(long, env = "BYTEBOT_REPLY_MAX_DELAY_MS", default_value_t = REPLY_MAX_DELAY_MS)]
    pub reply_max_delay_ms: u64,
    /// After an answer, how long the same viewer cannot ask again.
    #[arg(long, env = "BYTEBOT_REPLY_USER_COOLDOWN_MS", default_value_t = REPLY_USER_COOLDOWN_MS)]
    pub reply_user_cooldown_ms: u64,
    /// Hosts the bot may link to in chat (subdomains included), comma-separated.
    #[arg(long, env = "BYTEBOT_CHAT_ALLOWED_HOSTS", default_value = CHAT_ALLOWED_HOSTS)]
    pub chat_allowed_hosts: String,
    /// Most chat messages one answer may be split into.
    #[arg(long, env = "BYTEBOT_CHAT_MAX_PARTS", default_value_t = CHAT_MAX_PARTS)]
    pub chat_max_parts: usize,
    /// Daily LLM token cap for the whole fleet (0: none). Days are UTC.
    #[arg(long, env = "BYTEBOT_LLM_DAILY_TOKENS", default_value_t = 0)]
    pub llm_daily_tokens: u64,
    /// Daily LLM cost cap for the whole fleet, in US dollars (0: none).
    #[arg(long, env = "BYTEBOT_LLM_DAILY_USD", default_value_t = 0.0)]
    pub llm_daily_usd: f64,
    /// Daily LLM token cap per channel (0: none); the API can set one per channel.
    #[arg(long, env = "BYTEBOT_LLM_CHANNEL_DAILY_TOKENS", default_value_t = 0)]
    pub llm_channel_daily_tokens: u64,
    /// Daily LLM cost cap per channel, in US dollars (0: none).
    #[arg(long, env = "BYTEBOT_LLM_CHANNEL_DAILY_USD", default_value_t = 0.0)]
    pub llm_channel_daily_usd: f64,
}

impl Default for CopilotArgs {
    fn default() -> Self {
        Self {
            reply_commands: REPLY_COMMANDS.into(),
            reply_workers: REPLY_WORKERS,
            reply_queue: REPLY_QUEUE,
            reply_debounce_ms: REPLY_DEBOUNCE_MS,
            reply_max_delay_ms: REPLY_MAX_DELAY_MS,
            reply_user_cooldown_ms: REPLY_USER_COOLDOWN_MS,
            chat_allowed_hosts: CHAT_ALLOWED_HOSTS.into(),
            chat_max_parts: CHAT_MAX_PARTS,
            llm_daily_tokens: 0,
            llm_daily_usd: 0.0,
            llm_channel_daily_tokens: 0,
            llm_channel_daily_usd: 0.0,
        }
    }
}

/// Why the co-pilot settings are unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CopilotConfigError {
    /// A count that must be positive is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// A dollar cap is negative or not a number.
    #[error("{0} must be a non-negative number of dollars")]
    Dollars(&'static str),
    /// More parts than chat allows sensibly.
    #[error("BYTEBOT_CHAT_MAX_PARTS must be between 1 and 5")]
    Parts,
}

impl CopilotArgs {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), CopilotConfigError> {
        if self.reply_workers == 0 {
            return Err(CopilotConfigError::Zero("BYTEBOT_REPLY_WORKERS"));
        }
        if self.reply_queue == 0 {
            return Err(CopilotConfigError::Zero("BYTEBOT_REPLY_QUEUE"));
        }
        if !(1..=5).contains(&self.chat_max_parts) {
            return Err(CopilotConfigError::Parts);
        }
        for (name, v) in [
            ("BYTEBOT_LLM_DAILY_USD", self.llm_daily_usd),
            ("BYTEBOT_LLM_CHANNEL_DAILY_USD", self.llm_channel_daily_usd),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(CopilotConfigError::Dollars(name));
            }
        }
        Ok(())
    }

    /// Triggers for a bot called `bot_login`.
    pub fn trigger(&self, bot_login: &str) -> TriggerConfig {
        TriggerConfig::new(bot_login, self.reply_commands.split(','))
    }

    /// Debounce and cooldowns.
    pub fn gate(&self) -> GateConfig {
        let ms = |v: u64| chrono::Duration::milliseconds(i64::try_from(v).unwrap_or(i64::MAX));
        GateConfig {
            debounce: ms(self.reply_debounce_ms),
            max_delay: ms(self.reply_max_delay_ms.max(self.reply_debounce_ms)),
            user_cooldown: ms(self.reply_user_cooldown_ms),
        }
    }

    /// What may go out, with this process's canary.
    pub fn sanitize(&self, canary: String) -> SanitizeConfig {
        SanitizeConfig {
            allowed_hosts: self
                .chat_allowed_hosts
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            max_parts: self.chat_max_parts,
            canary,
            ..SanitizeConfig::default()
        }
    }

    /// The default budgets.
    pub fn budgets(&self) -> BudgetLimits {
        let micro = |usd: f64| (usd * 1e6).round() as u64;
        BudgetLimits {
            global_tokens: self.llm_daily_tokens,
            global_microdollars: micro(self.llm_daily_usd),
            channel_tokens: self.llm_channel_daily_tokens,
            channel_microdollars: micro(self.llm_channel_daily_usd),
        }
    }
}

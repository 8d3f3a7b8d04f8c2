//! The co-pilot's only way into chat. Every line the bot writes — a reply, an approved or
//! automatic action — passes here, and here the last checks happen, right before the wire:
//!
//! 1. the fleet switch and the channel's pause (asked of the Router, which holds the live
//!    settings, so a pause applies to lines already in flight);
//! 2. sanitising (`byte_actors::copilot::sanitize`): one line, no command prefix, no foreign
//!    links, no canary, at most 500 characters, long text split;
//! 3. Twitch's send limits for the account (`byte_actors::copilot::ratelimit`), with the
//!    bot's moderator status per channel as Twitch last reported it. A part refused for the
//!    rate waits when the wait is short, so a split answer stays together; otherwise the
//!    rest is dropped and the caller told;
//! 4. the IRC write. Without a bot login nothing can be written: the line is reported as a
//!    dry run (`delivered: false`) so the dashboard still shows what the bot would have said.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use byte_actors::agent::SuspendSwitch;
use byte_actors::copilot::ratelimit::{DenyReason, SendLimiter, SendLimits};
use byte_actors::copilot::sanitize::{SanitizeConfig, sanitize};
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use byte_actors::router::RouterMessage;
use byte_actors::rpc::ask;
use chrono::{DateTime, Utc};
use ractor::ActorRef;
use serde::Serialize;

use crate::ingest::IngestHealth;
use crate::ingest::outbox::IrcSendError;

/// Longest wait for a send slot before the rest of an answer is dropped.
const MAX_SLOT_WAIT: Duration = Duration::from_secs(3);

/// Who wants to say something (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SayOrigin {
    /// An answer to a viewer.
    Reply,
    /// An approved or automatic action.
    Action,
}

impl SayOrigin {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            SayOrigin::Reply => "reply",
            SayOrigin::Action => "action",
        }
    }
}

/// What went out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Said {
    /// The chat messages, as sanitised.
    pub parts: Vec<String>,
    /// Whether they were written to IRC (`false`: dry run, the bot reads anonymously).
    pub delivered: bool,
    /// Parts left out because the send limits would not allow them soon enough.
    pub dropped_parts: usize,
}

/// Why nothing went out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SayError {
    /// The fleet-wide switch is on.
    #[error("the agent is suspended everywhere")]
    Suspended,
    /// The channel's agent is paused.
    #[error("the agent is paused in this channel")]
    Paused,
    /// The channel is not joined (or its state could not be asked).
    #[error("channel unavailable: {0}")]
    Unavailable(String),
    /// Nothing safe was left after sanitising.
    #[error("nothing safe to send")]
    Empty,
    /// Twitch's limits refuse it (rate or duplicate) until `retry_at`.
    #[error("{} until {retry_at}", reason.as_str())]
    Limited {
        /// Why.
        reason: DenyReason,
        /// When it would be allowed.
        retry_at: DateTime<Utc>,
    },
    /// The IRC write failed.
    #[error("{0}")]
    Irc(String),
}

impl SayError {
    /// Metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            SayError::Suspended => "suspended",
            SayError::Paused => "paused",
            SayError::Unavailable(_) => "unavailable",
            SayError::Empty => "empty",
            SayError::Limited { reason, .. } => reason.as_str(),
            SayError::Irc(_) => "irc_error",
        }
    }

    /// Every label [`SayError::as_str`] can return, plus the success ones.
    pub const OUTCOMES: [&'static str; 9] = [
        "sent",
        "dry_run",
        "suspended",
        "paused",
        "unavailable",
        "empty",
        "rate_limited",
        "duplicate",
        "irc_error",
    ];
}

/// The sender.
pub struct ChatSender {
    ingest: Arc<IngestHealth>,
    /// Set once the runtime runs (the sender exists before it, for the services that take
    /// it at construction).
    router: std::sync::OnceLock<ActorRef<RouterMessage>>,
    suspend: Arc<SuspendSwitch>,
    limiter: Mutex<SendLimiter>,
    sanitize: SanitizeConfig,
    call_timeout: Duration,
}

impl std::fmt::Debug for ChatSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSender").finish_non_exhaustive()
    }
}

/// What a sender is built from.
pub struct SenderArgs {
    /// IRC (the outbox and the bot's moderator status).
    pub ingest: Arc<IngestHealth>,
    /// The fleet switch.
    pub suspend: Arc<SuspendSwitch>,
    /// Links allowed, parts, and the canary that must never get out.
    pub sanitize: SanitizeConfig,
    /// Twitch's limits.
    pub limits: SendLimits,
    /// Timeout of the Router question.
    pub call_timeout: Duration,
}

impl ChatSender {
    /// A sender.
    pub fn new(args: SenderArgs) -> Self {
        for origin in [SayOrigin::Reply, SayOrigin::Action] {
            for outcome in SayError::OUTCOMES {
                metrics::counter!(m::COPILOT_MESSAGES, "origin" => origin.as_str(), "outcome" => outcome)
                    .absolute(0);
            }
        }
        Self {
            ingest: args.ingest,
            router: std::sync::OnceLock::new(),
            suspend: args.suspend,
            limiter: Mutex::new(SendLimiter::new(args.limits)),
            sanitize: args.sanitize,
            call_timeout: args.call_timeout,
        }
    }

    /// Connects the sender to the running Router (for the channels' live pause state).
    pub fn attach_router(&self, router: ActorRef<RouterMessage>) {
        let _ = self.router.set(router);
    }

    /// The canary every system prompt carries (never shown, never sent).
    pub fn canary(&self) -> &str {
        &self.sanitize.canary
    }

    /// Whether lines would really be written (a bot login is configured).
    pub fn can_deliver(&self) -> bool {
        self.ingest.outbox().logged_in()
    }

    /// Says `text` in `channel` (as a threaded reply to message `reply_to` when given).
    #[tracing::instrument(skip(self, text), fields(channel = %channel, origin = origin.as_str()))]
    pub async fn say(
        &self,
        channel: &ChannelLogin,
        text: &str,
        origin: SayOrigin,
        reply_to: Option<&str>,
    ) -> Result<Said, SayError> {
        let out = self.say_inner(channel, text, reply_to).await;
        let outcome = match &out {
            Ok(said) if said.delivered => "sent",
            Ok(_) => "dry_run",
            Err(e) => e.as_str(),
        };
        metrics::counter!(m::COPILOT_MESSAGES, "origin" => origin.as_str(), "outcome" => outcome)
            .increment(1);
        if let Err(e) = &out {
            tracing::debug!(error = %e, "chat line not sent");
        }
        out
    }

    async fn say_inner(
        &self,
        channel: &ChannelLogin,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<Said, SayError> {
        self.allowed(channel).await?;
        let parts = sanitize(text, &self.sanitize);
        if parts.is_empty() {
            return Err(SayError::Empty);
        }
        let outbox = self.ingest.outbox();
        let delivered = outbox.logged_in();
        let mut sent = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            if let Err(limited) = self.take_slot(channel, part).await {
                if sent.is_empty() {
                    return Err(limited);
                }
                return Ok(Said {
                    dropped_parts: parts.len() - i,
                    parts: sent,
                    delivered,
                });
            }
            if delivered {
                // Only the first part threads under the viewer's message.
                let reply = if i == 0 { reply_to } else { None };
                match outbox.say(channel, part, reply).await {
                    Ok(()) => {}
                    Err(IrcSendError::Anonymous) => {}
                    Err(e) => return Err(SayError::Irc(e.to_string())),
                }
            }
            sent.push(part.clone());
        }
        Ok(Said {
            parts: sent,
            delivered,
            dropped_parts: 0,
        })
    }

    async fn allowed(&self, channel: &ChannelLogin) -> Result<(), SayError> {
        if self.suspend.is_suspended() {
            return Err(SayError::Suspended);
        }
        let Some(router) = self.router.get() else {
            return Err(SayError::Unavailable("the runtime is starting".into()));
        };
        let login = channel.clone();
        match ask(
            router,
            |r| RouterMessage::Status(login, r),
            self.call_timeout,
        )
        .await
        {
            Ok(Ok(status)) if status.agent.paused => Err(SayError::Paused),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SayError::Unavailable(e.to_string())),
            Err(e) => Err(SayError::Unavailable(e.to_string())),
        }
    }

    /// Takes a send slot for `part`, waiting for one when the wait is short.
    async fn take_slot(&self, channel: &ChannelLogin, part: &str) -> Result<(), SayError> {
        let is_mod = self.ingest.outbox().is_moderator(channel);
        // Wall time, whatever clock the engines run on: Twitch counts in real seconds.
        loop {
            let now = Utc::now();
            let denied = {
                let mut limiter = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
                limiter.prune(now);
                match limiter.try_send(channel, part, now, is_mod) {
                    Ok(()) => return Ok(()),
                    Err(d) => d,
                }
            };
            let wait = (denied.retry_at - now).to_std().unwrap_or_default();
            if denied.reason == DenyReason::Duplicate || wait > MAX_SLOT_WAIT {
                return Err(SayError::Limited {
                    reason: denied.reason,
                    retry_at: denied.retry_at,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }
}

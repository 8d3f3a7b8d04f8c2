//! The LLM port: what the co-pilot asks a language model ([`ChatRequest`]), what it gets
//! back ([`Completion`]), how it fails ([`LlmError`]), which model serves which activity
//! ([`ModelRouting`]), and the deterministic [`FallbackEngine`] that answers when no model
//! can. The edge implements [`LlmPort`] over an OpenAI-compatible HTTP API; nothing here
//! does I/O.
//!
//! # Fallback labelling
//! Every fallback text starts with [`FALLBACK_PREFIX`] (`"[rule-based]"`) and its
//! [`Completion::source`] is [`Source::Fallback`] with model [`FALLBACK_MODEL`], so neither a
//! viewer nor a streamer can mistake rule output for a model's. The fallback is a pure
//! function of the activity and the request's text: the same request gets the same answer.

use std::collections::HashMap;

use crate::intel::sentiment::SentimentEngine;
use crate::model::ChannelLogin;

/// Prefix of every fallback text.
pub const FALLBACK_PREFIX: &str = "[rule-based]";
/// The `model` a fallback completion reports (and its metrics label).
pub const FALLBACK_MODEL: &str = "rule-based";

/// What the co-pilot uses a model for; routing, metrics and fallbacks are per activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Activity {
    /// Answering in chat.
    ChatReply,
    /// Turning the coach's signals into advice for the streamer.
    CoachingGeneration,
    /// The summary after a stream.
    PostStreamReport,
    /// Titling and explaining clip candidates.
    ClipIntelligence,
    /// Enriching stored chat for semantic memory.
    SemanticMemoryEnrichment,
    /// Classifying the tone of messages.
    SentimentAnalysis,
}

impl Activity {
    /// Every activity, in a fixed order.
    pub const ALL: [Activity; 6] = [
        Activity::ChatReply,
        Activity::CoachingGeneration,
        Activity::PostStreamReport,
        Activity::ClipIntelligence,
        Activity::SemanticMemoryEnrichment,
        Activity::SentimentAnalysis,
    ];

    /// The snake_case name (config keys and the `activity` metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::ChatReply => "chat_reply",
            Activity::CoachingGeneration => "coaching_generation",
            Activity::PostStreamReport => "post_stream_report",
            Activity::ClipIntelligence => "clip_intelligence",
            Activity::SemanticMemoryEnrichment => "semantic_memory_enrichment",
            Activity::SentimentAnalysis => "sentiment_analysis",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Activity> {
        Activity::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions.
    System,
    /// The input.
    User,
    /// A previous model answer.
    Assistant,
}

/// One message of a chat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// A request for one completion.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// What it is for: decides the model (unless `model` is set), metrics and fallback.
    pub activity: Activity,
    /// The channel it is for, if any: per-channel routing overrides apply.
    pub channel: Option<ChannelLogin>,
    /// An explicit model; `None` lets [`ModelRouting`] decide.
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
}

impl ChatRequest {
    /// A request with default sampling and routing.
    pub fn new(activity: Activity, messages: Vec<ChatMessage>) -> Self {
        Self {
            activity,
            channel: None,
            model: None,
            messages,
            temperature: None,
            top_p: None,
            max_tokens: None,
        }
    }

    /// The same request for `channel`.
    pub fn for_channel(mut self, channel: ChannelLogin) -> Self {
        self.channel = Some(channel);
        self
    }

    /// The last user message (what the fallback answers to).
    pub fn last_user_text(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str())
    }
}

/// Who produced a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A language model.
    Model,
    /// The [`FallbackEngine`].
    Fallback,
}

/// A completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The text.
    pub text: String,
    /// The model that answered ([`FALLBACK_MODEL`] for the fallback).
    pub model: String,
    /// Prompt tokens, as the server counted them (0 for the fallback).
    pub tokens_in: u32,
    /// Completion tokens (0 for the fallback).
    pub tokens_out: u32,
    /// Model or fallback.
    pub source: Source,
}

/// Why a model call failed. Messages never carry credentials or prompts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// No answer within the per-call timeout.
    #[error("the model did not answer in time")]
    Timeout,
    /// The server said 429; `retry_after` is its `Retry-After`, when given.
    #[error("rate limited by the model server (retry after {retry_after:?})")]
    RateLimited {
        /// How long the server asked us to wait.
        retry_after: Option<std::time::Duration>,
    },
    /// The server failed (5xx).
    #[error("model server error: HTTP {0}")]
    Server(u16),
    /// The circuit breaker is open, or no endpoint is configured: not tried.
    #[error("model unavailable: {0}")]
    Unavailable(String),
    /// Connection refused, reset, or similar: the server could not be reached.
    #[error("model server unreachable: {0}")]
    Transport(String),
    /// The request or the answer was unusable (4xx other than 429, bad JSON, no choices,
    /// oversized body). Retrying would not help.
    #[error("invalid model exchange: {0}")]
    Invalid(String),
}

impl LlmError {
    /// Whether another attempt may succeed (429, 5xx, timeouts, transport errors).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmError::Timeout
                | LlmError::RateLimited { .. }
                | LlmError::Server(_)
                | LlmError::Transport(_)
        )
    }

    /// The `kind` metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Timeout => "timeout",
            LlmError::RateLimited { .. } => "rate_limited",
            LlmError::Server(_) => "server",
            LlmError::Unavailable(_) => "unavailable",
            LlmError::Transport(_) => "transport",
            LlmError::Invalid(_) => "invalid",
        }
    }

    /// Every `kind` label value.
    pub const KINDS: [&'static str; 6] = [
        "timeout",
        "rate_limited",
        "server",
        "unavailable",
        "transport",
        "invalid",
    ];
}

/// Something that answers chat requests.
#[async_trait::async_trait]
pub trait LlmPort: Send + Sync {
    /// One completion.
    async fn complete(&self, request: ChatRequest) -> Result<Completion, LlmError>;
}

/// Which model serves which activity: a global default, per-activity defaults, and
/// per-channel overrides, most specific first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelRouting {
    default_model: Option<String>,
    per_activity: HashMap<Activity, String>,
    per_channel: HashMap<(ChannelLogin, Activity), String>,
}

impl ModelRouting {
    /// Routing with a global default model (`None`: only explicit routes have a model).
    pub fn new(default_model: Option<String>) -> Self {
        Self {
            default_model,
            ..Self::default()
        }
    }

    /// Sets the model of `activity` for every channel without an override.
    pub fn set_activity(&mut self, activity: Activity, model: impl Into<String>) {
        self.per_activity.insert(activity, model.into());
    }

    /// Sets the model of `activity` in `channel`.
    pub fn set_channel(
        &mut self,
        channel: ChannelLogin,
        activity: Activity,
        model: impl Into<String>,
    ) {
        self.per_channel.insert((channel, activity), model.into());
    }

    /// Removes a channel's override.
    pub fn clear_channel(&mut self, channel: &ChannelLogin, activity: Activity) {
        self.per_channel.remove(&(channel.clone(), activity));
    }

    /// The model for `activity` in `channel`: channel override, then the activity's
    /// default, then the global default.
    pub fn resolve(&self, channel: Option<&ChannelLogin>, activity: Activity) -> Option<&str> {
        channel
            .and_then(|c| self.per_channel.get(&(c.clone(), activity)))
            .or_else(|| self.per_activity.get(&activity))
            .or(self.default_model.as_ref())
            .map(String::as_str)
    }

    /// Every model any route names (bounded by configuration), sorted and deduplicated.
    pub fn models(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .default_model
            .iter()
            .chain(self.per_activity.values())
            .chain(self.per_channel.values())
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Longest excerpt of the input a fallback text quotes.
const QUOTE_CHARS: usize = 80;

/// Deterministic rule-based answers, one rule per activity, each labelled with
/// [`FALLBACK_PREFIX`].
#[derive(Debug)]
pub struct FallbackEngine {
    sentiment: SentimentEngine,
}

impl Default for FallbackEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl FallbackEngine {
    /// The engine with the shipped sentiment lexicon.
    pub fn new() -> Self {
        Self {
            sentiment: SentimentEngine::new(),
        }
    }

    /// The labelled fallback completion of `request`.
    pub fn complete(&self, request: &ChatRequest) -> Completion {
        Completion {
            text: format!("{FALLBACK_PREFIX} {}", self.body(request)),
            model: FALLBACK_MODEL.to_owned(),
            tokens_in: 0,
            tokens_out: 0,
            source: Source::Fallback,
        }
    }

    fn body(&self, request: &ChatRequest) -> String {
        let input = request.last_user_text();
        let quote = excerpt(input);
        match request.activity {
            Activity::ChatReply => {
                if input.trim_end().ends_with('?') {
                    "Good question! My AI brain is offline for a moment; the streamer or a mod \
                     may know."
                        .to_owned()
                } else {
                    "My AI brain is offline for a moment; I'll be back shortly.".to_owned()
                }
            }
            Activity::CoachingGeneration => format!(
                "Coaching model unavailable; the rules engine's signal stands as is: {quote}"
            ),
            Activity::PostStreamReport => format!(
                "Report generated without a model: {} words of input; key figures are in the \
                 session KPIs.",
                input.split_whitespace().count()
            ),
            Activity::ClipIntelligence => format!("Clip candidate: \"{quote}\""),
            Activity::SemanticMemoryEnrichment => {
                let mut words: Vec<String> = input
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.chars().count() >= 4)
                    .map(str::to_lowercase)
                    .collect();
                words.sort();
                words.dedup();
                words.truncate(8);
                format!("keywords: {}", words.join(", "))
            }
            Activity::SentimentAnalysis => {
                let s = self.sentiment.analyze(input, &[]);
                let label = if s.toxic {
                    "toxic"
                } else if s.score > 0.05 {
                    "positive"
                } else if s.score < -0.05 {
                    "negative"
                } else {
                    "neutral"
                };
                format!("sentiment: {label} (lexicon score {:.2})", s.score)
            }
        }
    }
}

/// At most [`QUOTE_CHARS`] characters of `s`, on one line.
fn excerpt(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(QUOTE_CHARS).collect();
    if one_line.chars().count() > QUOTE_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(s: &str) -> ChannelLogin {
        ChannelLogin::parse(s).unwrap()
    }

    #[test]
    fn activity_names_round_trip() {
        for a in Activity::ALL {
            assert_eq!(Activity::parse(a.as_str()), Some(a));
        }
        assert_eq!(Activity::parse("ChatReply"), None);
        assert_eq!(Activity::ChatReply.as_str(), "chat_reply");
    }

    #[test]
    fn routing_prefers_channel_then_activity_then_default() {
        let mut r = ModelRouting::new(Some("small".into()));
        r.set_activity(Activity::PostStreamReport, "big");
        r.set_channel(login("alice"), Activity::ChatReply, "alice-model");
        let alice = login("alice");
        let bob = login("bobby");
        assert_eq!(
            r.resolve(Some(&alice), Activity::ChatReply),
            Some("alice-model")
        );
        assert_eq!(r.resolve(Some(&bob), Activity::ChatReply), Some("small"));
        assert_eq!(r.resolve(None, Activity::PostStreamReport), Some("big"));
        assert_eq!(
            r.resolve(Some(&alice), Activity::PostStreamReport),
            Some("big")
        );
        r.clear_channel(&alice, Activity::ChatReply);
        assert_eq!(r.resolve(Some(&alice), Activity::ChatReply), Some("small"));
        assert_eq!(r.models(), vec!["big".to_owned(), "small".to_owned()]);
        assert_eq!(
            ModelRouting::new(None).resolve(None, Activity::ChatReply),
            None
        );
    }

    #[test]
    fn fallback_is_labelled_and_deterministic_for_every_activity() {
        let engine = FallbackEngine::new();
        for a in Activity::ALL {
            let req = ChatRequest::new(
                a,
                vec![
                    ChatMessage::system("be nice"),
                    ChatMessage::user("what a great clutch play tonight?"),
                ],
            );
            let one = engine.complete(&req);
            let two = engine.complete(&req);
            assert_eq!(one, two, "{a}");
            assert!(one.text.starts_with(FALLBACK_PREFIX), "{a}: {}", one.text);
            assert_eq!(one.source, Source::Fallback);
            assert_eq!(one.model, FALLBACK_MODEL);
            assert_eq!((one.tokens_in, one.tokens_out), (0, 0));
        }
    }

    #[test]
    fn fallback_rules_use_the_input() {
        let engine = FallbackEngine::new();
        let sentiment = |t: &str| {
            engine
                .complete(&ChatRequest::new(
                    Activity::SentimentAnalysis,
                    vec![ChatMessage::user(t)],
                ))
                .text
        };
        assert!(sentiment("I love this, amazing stream").contains("positive"));
        assert!(sentiment("").contains("neutral"));
        let long = "x".repeat(500);
        let clip = engine.complete(&ChatRequest::new(
            Activity::ClipIntelligence,
            vec![ChatMessage::user(long)],
        ));
        assert!(clip.text.chars().count() < 120, "{}", clip.text);
        let mem = engine.complete(&ChatRequest::new(
            Activity::SemanticMemoryEnrichment,
            vec![ChatMessage::user(
                "Speedrun speedrun record, the boss fight",
            )],
        ));
        assert!(
            mem.text
                .ends_with("keywords: boss, fight, record, speedrun"),
            "{}",
            mem.text
        );
    }

    #[test]
    fn errors_classify_retries_and_kinds() {
        assert!(LlmError::Server(503).is_retryable());
        assert!(LlmError::RateLimited { retry_after: None }.is_retryable());
        assert!(!LlmError::Invalid("x".into()).is_retryable());
        assert!(!LlmError::Unavailable("open".into()).is_retryable());
        for e in [
            LlmError::Timeout,
            LlmError::RateLimited { retry_after: None },
            LlmError::Server(500),
            LlmError::Unavailable(String::new()),
            LlmError::Transport(String::new()),
            LlmError::Invalid(String::new()),
        ] {
            assert!(LlmError::KINDS.contains(&e.kind()));
        }
    }
}

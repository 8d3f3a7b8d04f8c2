//! One attempt against an OpenAI-compatible `/chat/completions` (OpenAI, Ollama, vLLM,
//! llama.cpp's server) through async-openai, mapped to [`LlmError`].
//!
//! async-openai's default executor wraps every call in its own retry layer (3 retries,
//! sleeping for the whole `Retry-After`), and it turns error responses into `ApiError`s
//! without their headers. Both would take the policy away from us, so the client runs on
//! our own tower [`Transport`] (the crate's `middleware` feature): a plain reqwest call that
//! classifies non-2xx responses itself — keeping `Retry-After` — and refuses bodies larger
//! than the configured bound before they are read. Retries, backoff and the breaker live in
//! [`super::resilient`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, CreateChatCompletionRequest,
};
use byte_actors::llm::{ChatMessage, ChatRequest, Completion, LlmError, Role, Source};

use crate::config::Secret;

/// A non-2xx answer, classified by the transport.
#[derive(Debug, thiserror::Error)]
enum TransportError {
    #[error("HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("response body of {0} bytes exceeds the bound")]
    Oversized(u64),
}

/// The HTTP transport under async-openai: no retries, status classified here.
#[derive(Clone)]
struct Transport {
    http: reqwest::Client,
    max_body_bytes: u64,
}

impl tower::Service<HttpRequestFactory> for Transport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        let max = self.max_body_bytes;
        Box::pin(async move {
            let request = request.build().await?;
            let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
            let status = response.status();
            if !status.is_success() {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                return Err(boxed(TransportError::Status {
                    status: status.as_u16(),
                    retry_after,
                }));
            }
            match response.content_length() {
                Some(len) if len > max => Err(boxed(TransportError::Oversized(len))),
                _ => Ok(response),
            }
        })
    }
}

fn boxed(e: TransportError) -> OpenAIError {
    OpenAIError::Boxed(Box::new(e))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by model servers; ignored).
fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Settings of the HTTP client.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL including the API version path (e.g. `http://127.0.0.1:11434/v1`).
    pub base_url: String,
    /// API key (local servers accept any).
    pub api_key: Option<Secret>,
    /// Connect timeout of each attempt.
    pub connect_timeout: Duration,
    /// Largest response body accepted, by `Content-Length`.
    pub max_body_bytes: u64,
    /// Longest completion text kept, in characters; longer answers are cut.
    pub max_text_chars: usize,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_text_chars", &self.max_text_chars)
            .finish_non_exhaustive()
    }
}

/// The single-attempt OpenAI-compatible client.
#[derive(Clone)]
pub struct OpenAiClient {
    client: Client<OpenAIConfig>,
    max_text_chars: usize,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // async-openai's config holds the key (as a `secrecy` secret); print nothing of it.
        f.debug_struct("OpenAiClient").finish_non_exhaustive()
    }
}

impl OpenAiClient {
    /// A client for `config`. Fails only if the TLS backend cannot initialise.
    pub fn new(config: &ClientConfig) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| LlmError::Invalid(format!("HTTP client: {e}")))?;
        let mut openai = OpenAIConfig::new().with_api_base(config.base_url.trim_end_matches('/'));
        // Local servers need no key; async-openai would otherwise read OPENAI_API_KEY from
        // the environment, which we do not want to pick up by surprise.
        openai = openai.with_api_key(config.api_key.as_ref().map_or("", Secret::expose));
        let client = Client::with_config(openai).with_http_service(Transport {
            http,
            max_body_bytes: config.max_body_bytes,
        });
        Ok(Self {
            client,
            max_text_chars: config.max_text_chars.max(1),
        })
    }

    /// One attempt with `model`. The caller bounds its duration.
    pub async fn complete_once(
        &self,
        request: &ChatRequest,
        model: &str,
    ) -> Result<Completion, LlmError> {
        let wire = CreateChatCompletionRequest {
            model: model.to_owned(),
            messages: request.messages.iter().map(to_wire).collect(),
            temperature: request.temperature.map(|t| t as f32),
            top_p: request.top_p.map(|t| t as f32),
            // `max_tokens` is what every OpenAI-compatible server understands (OpenAI
            // deprecated it for `max_completion_tokens`, which local servers may ignore).
            #[allow(deprecated)]
            max_tokens: request.max_tokens,
            ..Default::default()
        };
        let response = self.client.chat().create(wire).await.map_err(classify)?;
        let text = response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| LlmError::Invalid("no choices in the answer".into()))?;
        let usage = response.usage.unwrap_or_default();
        Ok(Completion {
            text: truncate_chars(text, self.max_text_chars),
            model: model.to_owned(),
            tokens_in: usage.prompt_tokens,
            tokens_out: usage.completion_tokens,
            source: Source::Model,
        })
    }
}

impl OpenAiClient {
    /// The endpoint's `GET {base}/models` list: model ids, sorted, at most 500 (for the
    /// models catalog). One attempt; the caller bounds its duration.
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let list = self.client.models().list().await.map_err(classify)?;
        let mut ids: Vec<String> = list.data.into_iter().map(|m| m.id).collect();
        ids.sort();
        ids.dedup();
        ids.truncate(500);
        Ok(ids)
    }
}

fn to_wire(m: &ChatMessage) -> ChatCompletionRequestMessage {
    let text = m.content.clone();
    match m.role {
        Role::System => ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
            content: ChatCompletionRequestSystemMessageContent::Text(text),
            name: None,
        }),
        Role::User => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(text),
            name: None,
        }),
        Role::Assistant => {
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: Some(ChatCompletionRequestAssistantMessageContent::Text(text)),
                ..Default::default()
            })
        }
    }
}

/// Maps async-openai's error to ours. Messages are built from statuses and kinds only, so
/// neither the key nor the prompt can leak through them.
fn classify(e: OpenAIError) -> LlmError {
    match e {
        OpenAIError::Boxed(inner) => match inner.downcast::<TransportError>() {
            Ok(t) => match *t {
                TransportError::Status {
                    status: 429,
                    retry_after,
                } => LlmError::RateLimited { retry_after },
                TransportError::Status { status, .. } if status >= 500 => LlmError::Server(status),
                TransportError::Status { status, .. } => {
                    LlmError::Invalid(format!("HTTP {status}"))
                }
                TransportError::Oversized(n) => {
                    LlmError::Invalid(format!("response body of {n} bytes is too large"))
                }
            },
            Err(other) => LlmError::Invalid(format!("middleware: {other}")),
        },
        OpenAIError::Reqwest(e) if e.is_timeout() => LlmError::Timeout,
        OpenAIError::Reqwest(e) if e.is_connect() || e.is_request() || e.is_body() => {
            // reqwest's Display includes the URL (base URL only: the key is in a header).
            LlmError::Transport(e.without_url().to_string())
        }
        OpenAIError::Reqwest(e) => LlmError::Invalid(e.without_url().to_string()),
        OpenAIError::JSONDeserialize(_, _) => LlmError::Invalid("answer is not valid JSON".into()),
        OpenAIError::ApiError(api) => {
            LlmError::Invalid(format!("HTTP {}", api.status_code.as_u16()))
        }
        other => LlmError::Invalid(kind_of(&other).into()),
    }
}

fn kind_of(e: &OpenAIError) -> &'static str {
    match e {
        OpenAIError::InvalidArgument(_) => "invalid request arguments",
        OpenAIError::StreamError(_) => "stream error",
        _ => "client error",
    }
}

/// `s` cut to `max` characters on a character boundary.
pub(crate) fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((idx, _)) = s.char_indices().nth(max) {
        s.truncate(idx);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_only() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo".into(), 2), "hé");
        assert_eq!(truncate_chars("hi".into(), 5), "hi");
    }
}

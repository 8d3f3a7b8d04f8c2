//! The endpoint embeddings engine: any OpenAI-compatible `POST {base}/embeddings` (OpenAI,
//! Ollama, vLLM, llama.cpp's server, text-embeddings-inference) through async-openai.
//!
//! Like the chat adapter (`crate::llm::client`), async-openai runs on our own tower transport
//! (its `middleware` feature) so it adds no hidden retry loop: an embedding that fails is
//! reported at once and the caller (an API request, or a best-effort enrichment) decides.
//! Every answer is checked against the memory column: a model returning 768 or 1536
//! dimensions is refused with an error that names both numbers, rather than failing inside
//! Postgres. Vectors are re-normalised, since not every server returns unit vectors.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use async_trait::async_trait;
use byte_actors::memory::{EmbedError, Embedder, check_vectors, normalize};

use crate::config::Secret;

/// Settings of the endpoint engine.
#[derive(Clone)]
pub struct EndpointConfig {
    /// Base URL including the API version path (e.g. `http://127.0.0.1:11434/v1`).
    pub base_url: String,
    /// Model name sent with every request.
    pub model: String,
    /// API key (local servers accept none).
    pub api_key: Option<Secret>,
    /// Bound of one request, connect included.
    pub timeout: Duration,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// Non-2xx answers, classified by the transport (the status only: bodies may echo input).
#[derive(Debug, thiserror::Error)]
#[error("HTTP {0}")]
struct Status(u16);

/// Plain reqwest under async-openai: no retries.
#[derive(Clone)]
struct Transport {
    http: reqwest::Client,
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
        Box::pin(async move {
            let request = request.build().await?;
            let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
            let status = response.status();
            if status.is_success() {
                Ok(response)
            } else {
                Err(OpenAIError::Boxed(Box::new(Status(status.as_u16()))))
            }
        })
    }
}

/// The OpenAI-compatible embeddings engine.
#[derive(Clone)]
pub struct EndpointEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    timeout: Duration,
}

impl std::fmt::Debug for EndpointEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointEmbedder")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl EndpointEmbedder {
    /// A client for `config`. Fails only if the TLS backend cannot initialise.
    pub fn new(config: &EndpointConfig) -> Result<Self, EmbedError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| EmbedError::Unavailable(format!("HTTP client: {e}")))?;
        // An explicit key (possibly empty), so async-openai never reads OPENAI_API_KEY.
        let openai = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.as_ref().map_or("", Secret::expose));
        Ok(Self {
            client: Client::with_config(openai).with_http_service(Transport { http }),
            model: config.model.clone(),
            timeout: config.timeout,
        })
    }
}

#[async_trait]
impl Embedder for EndpointEmbedder {
    fn engine(&self) -> &'static str {
        "endpoint"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let request = CreateEmbeddingRequest {
            model: self.model.clone(),
            input: EmbeddingInput::StringArray(texts.to_vec()),
            ..Default::default()
        };
        let response = tokio::time::timeout(self.timeout, self.client.embeddings().create(request))
            .await
            .map_err(|_| EmbedError::Unavailable("the embeddings endpoint timed out".into()))?
            .map_err(classify)?;
        let mut data = response.data;
        // Servers may answer out of order; `index` says which input each vector is for.
        data.sort_by_key(|d| d.index);
        let mut vectors: Vec<Vec<f32>> = data.into_iter().map(|d| d.embedding).collect();
        check_vectors(texts.len(), &vectors)?;
        vectors.iter_mut().for_each(|v| normalize(v));
        Ok(vectors)
    }
}

fn classify(e: OpenAIError) -> EmbedError {
    match e {
        OpenAIError::Boxed(inner) => match inner.downcast::<Status>() {
            Ok(s) if s.0 == 429 || s.0 >= 500 => {
                EmbedError::Unavailable(format!("the embeddings endpoint answered HTTP {}", s.0))
            }
            Ok(s) => EmbedError::Invalid(format!("the embeddings endpoint answered HTTP {}", s.0)),
            Err(other) => EmbedError::Unavailable(format!("transport: {other}")),
        },
        OpenAIError::Reqwest(e) => EmbedError::Unavailable(e.without_url().to_string()),
        OpenAIError::JSONDeserialize(_, _) => {
            EmbedError::Invalid("the embeddings endpoint's answer is not valid JSON".into())
        }
        _ => EmbedError::Invalid("embeddings client error".into()),
    }
}

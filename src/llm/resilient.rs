//! [`Resilient`]: the [`LlmPort`] the co-pilot uses. It routes the request to a model,
//! asks the circuit breaker, makes bounded attempts (per-attempt timeout, retries per
//! [`RetryPolicy`]), records metrics, and answers with the [`FallbackEngine`] — labelled,
//! `source = Fallback` — whenever no model answer is available: no endpoint or model
//! configured (`unconfigured`), breaker open (`circuit_open`), the last attempt timed out
//! (`timeout`), or any other final failure (`error`). It therefore never returns `Err`.
//!
//! Only retryable failures (429, 5xx, timeouts, transport) count toward the breaker: a 4xx
//! means our request was wrong, not that the server is down. A half-open probe is a single
//! attempt, so a still-failing server costs one request per cooldown.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use byte_actors::llm::{
    Activity, ChatRequest, Completion, FALLBACK_MODEL, FallbackEngine, LlmError, LlmPort,
    ModelRouting,
};
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use tracing::Instrument;

use super::breaker::{Admission, BreakerState, CircuitBreaker};
use super::client::OpenAiClient;
use super::{LlmSettings, PriceTable};

/// The resilient LLM service.
#[derive(Debug)]
pub struct Resilient {
    client: Option<OpenAiClient>,
    routing: RwLock<ModelRouting>,
    prices: PriceTable,
    settings_timeout: Duration,
    retry: super::RetryPolicy,
    breaker: CircuitBreaker,
    fallback: FallbackEngine,
}

impl Resilient {
    /// The service for `settings`; registers the metric series of every configured model.
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        let client = settings
            .client
            .as_ref()
            .map(OpenAiClient::new)
            .transpose()?;
        let this = Self {
            client,
            routing: RwLock::new(settings.routing),
            prices: settings.prices,
            settings_timeout: settings.timeout,
            retry: settings.retry,
            breaker: CircuitBreaker::new(settings.breaker),
            fallback: FallbackEngine::new(),
        };
        for model in this.routing().models() {
            for activity in Activity::ALL {
                m::prime_llm_model(activity, &model);
            }
        }
        Ok(this)
    }

    fn routing(&self) -> std::sync::RwLockReadGuard<'_, ModelRouting> {
        self.routing.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes `activity` in `channel` to `model` (a model the configuration names, so the
    /// `model` label stays bounded).
    pub fn set_channel_model(&self, channel: ChannelLogin, activity: Activity, model: String) {
        for a in Activity::ALL {
            m::prime_llm_model(a, &model);
        }
        self.routing
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .set_channel(channel, activity, model);
    }

    /// Removes `channel`'s own model for `activity` (the configured route applies again).
    pub fn clear_channel_model(&self, channel: &ChannelLogin, activity: Activity) {
        self.routing
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear_channel(channel, activity);
    }

    /// The model the routing names for `activity` in `channel` (whether or not an endpoint
    /// is configured). For the models catalog.
    pub fn routed_model(
        &self,
        channel: Option<&ChannelLogin>,
        activity: Activity,
    ) -> Option<String> {
        self.routing().resolve(channel, activity).map(str::to_owned)
    }

    /// Every model the routing names (sorted, deduplicated).
    pub fn configured_models(&self) -> Vec<String> {
        self.routing().models()
    }

    /// Whether an endpoint is configured.
    pub fn has_endpoint(&self) -> bool {
        self.client.is_some()
    }

    /// The endpoint's model list, within `timeout` (one attempt, outside the breaker: it is
    /// a status probe, not a model call).
    pub async fn endpoint_models(&self, timeout: Duration) -> Result<Vec<String>, LlmError> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| LlmError::Unavailable("no endpoint is configured".into()))?;
        tokio::time::timeout(timeout, client.list_models())
            .await
            .unwrap_or(Err(LlmError::Timeout))
    }

    /// The breaker's state (for status pages and tests).
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// The model `request` would go to, if any.
    pub fn resolve_model(&self, request: &ChatRequest) -> Option<String> {
        self.client.as_ref()?;
        request.model.clone().or_else(|| {
            self.routing()
                .resolve(request.channel.as_ref(), request.activity)
                .map(str::to_owned)
        })
    }

    /// Estimated cost of `tokens_in` + `tokens_out` on `model`, in micro-dollars.
    pub fn cost_microdollars(&self, model: &str, tokens_in: u32, tokens_out: u32) -> u64 {
        self.prices.cost_microdollars(model, tokens_in, tokens_out)
    }

    /// The labelled rule-based answer, counted as a fallback for `reason` (one of
    /// [`m::LLM_FALLBACK_REASONS`]).
    pub fn fall_back(&self, request: &ChatRequest, reason: &'static str) -> Completion {
        let started = Instant::now();
        let activity = request.activity.as_str();
        let answer = self.fallback.complete(request);
        metrics::counter!(m::LLM_FALLBACKS, "activity" => activity, "reason" => reason)
            .increment(1);
        metrics::histogram!(m::LLM_SECONDS, "activity" => activity, "model" => FALLBACK_MODEL)
            .record(started.elapsed().as_secs_f64());
        tracing::info!(reason, "answered by the rule-based fallback");
        answer
    }

    fn record_success(&self, activity: Activity, model: &str, c: &Completion, took: Duration) {
        let a = activity.as_str();
        let model = model.to_owned();
        metrics::histogram!(m::LLM_SECONDS, "activity" => a, "model" => model.clone())
            .record(took.as_secs_f64());
        metrics::counter!(m::LLM_TOKENS, "activity" => a, "model" => model.clone(), "direction" => "in")
            .increment(u64::from(c.tokens_in));
        metrics::counter!(m::LLM_TOKENS, "activity" => a, "model" => model.clone(), "direction" => "out")
            .increment(u64::from(c.tokens_out));
        let cost = self
            .prices
            .cost_microdollars(&model, c.tokens_in, c.tokens_out);
        metrics::counter!(m::LLM_COST, "activity" => a, "model" => model).increment(cost);
    }

    async fn call(&self, request: ChatRequest) -> Completion {
        let activity = request.activity;
        let model = request.model.clone().or_else(|| {
            self.routing()
                .resolve(request.channel.as_ref(), activity)
                .map(str::to_owned)
        });
        let (Some(client), Some(model)) = (&self.client, model) else {
            return self.fall_back(&request, "unconfigured");
        };
        tracing::Span::current().record("model", model.as_str());
        let probe = match self.breaker.admit(Instant::now()) {
            Admission::Refused => return self.fall_back(&request, "circuit_open"),
            Admission::Probe => true,
            Admission::Allowed => false,
        };
        let started = Instant::now();
        let mut retry = 0;
        let error = loop {
            let attempt = tokio::time::timeout(
                self.settings_timeout,
                client.complete_once(&request, &model),
            )
            .await
            .unwrap_or(Err(LlmError::Timeout));
            match attempt {
                Ok(c) => {
                    self.breaker.on_success();
                    self.record_success(activity, &model, &c, started.elapsed());
                    tracing::debug!(
                        tokens_in = c.tokens_in,
                        tokens_out = c.tokens_out,
                        "model answered"
                    );
                    return c;
                }
                Err(e) => {
                    metrics::counter!(m::LLM_ERRORS, "activity" => activity.as_str(), "kind" => e.kind())
                        .increment(1);
                    tracing::warn!(error = %e, retry, "model attempt failed");
                    let delay = if probe {
                        None
                    } else {
                        self.retry.delay(retry, &e, rand::random::<f64>())
                    };
                    match delay {
                        Some(d) => {
                            tokio::time::sleep(d).await;
                            retry += 1;
                        }
                        None => break e,
                    }
                }
            }
        };
        metrics::histogram!(m::LLM_SECONDS, "activity" => activity.as_str(), "model" => model)
            .record(started.elapsed().as_secs_f64());
        if error.is_retryable() {
            if self.breaker.on_failure(Instant::now()) {
                tracing::warn!("circuit breaker opened");
            }
        } else {
            // The server answered (badly): it is up, whatever our request did.
            self.breaker.on_success();
        }
        let reason = if error == LlmError::Timeout {
            "timeout"
        } else {
            "error"
        };
        self.fall_back(&request, reason)
    }
}

#[async_trait::async_trait]
impl LlmPort for Resilient {
    async fn complete(&self, request: ChatRequest) -> Result<Completion, LlmError> {
        let span = tracing::info_span!(
            "llm",
            activity = request.activity.as_str(),
            model = tracing::field::Empty
        );
        Ok(self.call(request).instrument(span).await)
    }
}

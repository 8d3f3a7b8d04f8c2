//! The models catalog: which models the routing uses (global default per activity, and the
//! per-channel overrides), and what the endpoint itself offers (`GET {base}/models`), with
//! why not when it does not answer. The endpoint's list is cached for [`CACHE_TTL`] and
//! probed within [`PROBE_TIMEOUT`], so a dashboard polling the catalog costs the model server
//! at most one small request per TTL and never waits long.

use std::time::{Duration, Instant};

use byte_actors::llm::Activity;
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::llm::Resilient;

/// How long an endpoint answer (or failure) is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// How long the probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint said about its models.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EndpointModels {
    /// Whether an endpoint is configured at all.
    pub configured: bool,
    /// Whether it answered with a model list.
    pub answered: bool,
    /// Why not, when it did not (timeout, HTTP status, unreadable answer, not configured).
    pub error: Option<String>,
    /// The model ids it offers (empty unless it answered).
    pub models: Vec<String>,
    /// When it was asked (the answer may come from the cache).
    pub checked_at: DateTime<Utc>,
}

/// One route of the routing table.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActivityRoute {
    /// The activity (`chat_reply`, ...).
    pub activity: String,
    /// Its model (`None`: no model; the rule-based fallback answers).
    pub model: Option<String>,
}

/// A channel's override of the global route.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelOverride {
    /// The channel.
    pub channel: String,
    /// The activity.
    pub activity: String,
    /// The model it uses there.
    pub model: String,
}

/// The catalog.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Catalog {
    /// Every model the configuration names.
    pub configured: Vec<String>,
    /// The model of each activity for channels without an override.
    pub activities: Vec<ActivityRoute>,
    /// Per-channel overrides among the channels the caller may see.
    pub channel_overrides: Vec<ChannelOverride>,
    /// The endpoint's own list.
    pub endpoint: EndpointModels,
}

/// The catalog service: the endpoint probe and its cache.
#[derive(Debug, Default)]
pub struct ModelCatalog {
    cache: tokio::sync::Mutex<Option<(Instant, EndpointModels)>>,
}

impl ModelCatalog {
    /// The endpoint's list, from the cache when fresh. Concurrent callers share one probe.
    pub async fn endpoint(&self, llm: &Resilient) -> EndpointModels {
        let mut cache = self.cache.lock().await;
        if let Some((at, v)) = cache.as_ref()
            && at.elapsed() < CACHE_TTL
        {
            return v.clone();
        }
        let checked_at = Utc::now();
        let answer = if !llm.has_endpoint() {
            metrics::counter!(m::MODEL_CATALOG_PROBES, "outcome" => "unconfigured").increment(1);
            EndpointModels {
                configured: false,
                answered: false,
                error: Some("no LLM endpoint is configured (BYTEBOT_LLM_BASE_URL)".into()),
                models: Vec::new(),
                checked_at,
            }
        } else {
            match llm.endpoint_models(PROBE_TIMEOUT).await {
                Ok(models) => {
                    metrics::counter!(m::MODEL_CATALOG_PROBES, "outcome" => "answered")
                        .increment(1);
                    EndpointModels {
                        configured: true,
                        answered: true,
                        error: None,
                        models,
                        checked_at,
                    }
                }
                Err(e) => {
                    metrics::counter!(m::MODEL_CATALOG_PROBES, "outcome" => "failed").increment(1);
                    tracing::info!(error = %e, "the LLM endpoint did not list its models");
                    EndpointModels {
                        configured: true,
                        answered: false,
                        error: Some(e.to_string()),
                        models: Vec::new(),
                        checked_at,
                    }
                }
            }
        };
        *cache = Some((Instant::now(), answer.clone()));
        answer
    }

    /// The whole catalog; `channels` are those whose overrides the caller may see.
    pub async fn catalog(&self, llm: &Resilient, channels: &[ChannelLogin]) -> Catalog {
        let activities = Activity::ALL
            .iter()
            .map(|a| ActivityRoute {
                activity: a.as_str().to_owned(),
                model: llm.routed_model(None, *a),
            })
            .collect();
        let mut channel_overrides = Vec::new();
        for c in channels {
            for a in Activity::ALL {
                // An override is a channel whose route differs from the global one.
                if let Some(model) = llm.routed_model(Some(c), a)
                    && llm.routed_model(None, a).as_deref() != Some(model.as_str())
                {
                    channel_overrides.push(ChannelOverride {
                        channel: c.to_string(),
                        activity: a.as_str().to_owned(),
                        model,
                    });
                }
            }
        }
        Catalog {
            configured: llm.configured_models(),
            activities,
            channel_overrides,
            endpoint: self.endpoint(llm).await,
        }
    }
}

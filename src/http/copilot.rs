//! The co-pilot's control plane beyond prompts and actions: what the bot said in chat
//! (replies), the daily LLM budgets, and each channel's own model per activity.
//!
//! Budgets spend the operator's money, so only the admin sets them; a streamer sees their
//! channel's. A channel's model choice is the streamer's (Manage), restricted to the models
//! catalog — the configured routes and the endpoint's own list — so no typo reaches the
//! endpoint and the `model` metric label stays bounded.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use byte_actors::copilot::budget::Caps;
use byte_actors::llm::Activity;
use byte_actors::model::ChannelLogin;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::{AdminOnly, Caller, ChannelAccess, Manage, Read};
use super::channels::ApiJson;
use super::error::{ApiError, ErrorBody};
use super::intel::{ApiQuery, LimitQuery, page_limit};
use crate::copilot::budget::{BudgetsView, ChannelBudgetView};
use crate::copilot::replies::{self, StoredReply};

fn db_down(e: sqlx::Error) -> ApiError {
    tracing::warn!(error = %e, "co-pilot store unavailable");
    ApiError::Unavailable("the database is unavailable; try again shortly".into())
}

/// `GET /api/v1/channels/{login}/replies`
#[utoipa::path(get, path = "/api/v1/channels/{login}/replies", tag = "copilot", summary = "What the bot answered viewers (newest first)", params(("login" = String, Path, description = "Twitch login of the channel"), LimitQuery), responses((status = 200, description = "Replies", body = Vec<StoredReply>), (status = 400, description = "Bad limit", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_replies(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<StoredReply>>, ApiError> {
    let limit = page_limit(q.limit.unwrap_or(50))?;
    let rows = replies::list(&state.pool, access.login.as_str(), limit)
        .await
        .map_err(db_down)?;
    Ok(Json(rows))
}

/// `GET /api/v1/budgets`
#[utoipa::path(get, path = "/api/v1/budgets", tag = "copilot", summary = "Today's LLM spend and caps, fleet and channels (admin)", responses((status = 200, description = "Budgets", body = BudgetsView), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "Admin only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn budgets(State(state): State<AppState>, _admin: AdminOnly) -> Json<BudgetsView> {
    Json(state.copilot.budget.view())
}

/// `GET /api/v1/channels/{login}/budget`
#[utoipa::path(get, path = "/api/v1/channels/{login}/budget", tag = "copilot", summary = "The channel's LLM spend and caps today", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Budget", body = ChannelBudgetView), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn channel_budget(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
) -> Json<ChannelBudgetView> {
    Json(state.copilot.budget.channel_view(&access.login))
}

/// New daily caps for a channel; both absent or null: back to the configured default.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetPatch {
    /// Tokens per UTC day (0: no token cap).
    #[serde(default)]
    pub daily_tokens: Option<u64>,
    /// US dollars per UTC day (0: no cost cap).
    #[serde(default)]
    pub daily_usd: Option<f64>,
}

/// `PUT /api/v1/channels/{login}/budget`
#[utoipa::path(put, path = "/api/v1/channels/{login}/budget", tag = "copilot", summary = "Set the channel's daily LLM caps (admin)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body = BudgetPatch, responses((status = 200, description = "Budget", body = ChannelBudgetView), (status = 400, description = "Invalid caps", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined", body = ErrorBody), (status = 403, description = "Admin only", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn set_channel_budget(
    State(state): State<AppState>,
    access: ChannelAccess<Manage>,
    ApiJson(patch): ApiJson<BudgetPatch>,
) -> Result<Json<ChannelBudgetView>, ApiError> {
    if !matches!(access.caller, Caller::Admin) {
        return Err(ApiError::Forbidden(
            "LLM budgets spend the operator's money: only the admin sets them".into(),
        ));
    }
    let caps = match (patch.daily_tokens, patch.daily_usd) {
        (None, None) => None,
        (tokens, usd) => {
            let usd = usd.unwrap_or(0.0);
            if !usd.is_finite() || !(0.0..=1_000_000.0).contains(&usd) {
                return Err(ApiError::bad_request(
                    "invalid_budget",
                    format!("`daily_usd` must be between 0 and 1000000, got {usd}"),
                ));
            }
            Some(Caps {
                tokens: tokens.unwrap_or(0),
                microdollars: (usd * 1e6).round() as u64,
            })
        }
    };
    state
        .copilot
        .budget
        .set_channel_caps(&access.login, caps, &access.caller.audit_name())
        .await
        .map_err(db_down)?;
    tracing::info!(channel = %access.login, ?caps, "channel LLM budget changed");
    Ok(Json(state.copilot.budget.channel_view(&access.login)))
}

/// A channel's model per activity.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelModels {
    /// Per activity: the model used here (`None`: the rule-based fallback answers) and
    /// whether it is this channel's own choice.
    pub activities: Vec<ChannelModel>,
    /// Models a channel may pick (configured routes and the endpoint's list).
    pub available: Vec<String>,
}

/// One activity's model in a channel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelModel {
    /// The activity.
    pub activity: String,
    /// The model used.
    pub model: Option<String>,
    /// Whether the channel chose it (otherwise the configured route applies).
    pub overridden: bool,
}

async fn available(state: &AppState) -> Vec<String> {
    let llm = &state.copilot.resilient;
    let mut models: Vec<String> = Activity::ALL
        .iter()
        .filter_map(|a| llm.routed_model(None, *a))
        .chain(state.copilot.catalog.endpoint(llm).await.models)
        .collect();
    models.sort();
    models.dedup();
    models
}

async fn channel_models(state: &AppState, login: &ChannelLogin) -> ChannelModels {
    let llm = &state.copilot.resilient;
    ChannelModels {
        activities: Activity::ALL
            .iter()
            .map(|a| {
                let model = llm.routed_model(Some(login), *a);
                ChannelModel {
                    activity: a.as_str().to_owned(),
                    overridden: model != llm.routed_model(None, *a),
                    model,
                }
            })
            .collect(),
        available: available(state).await,
    }
}

/// `GET /api/v1/channels/{login}/models`
#[utoipa::path(get, path = "/api/v1/channels/{login}/models", tag = "copilot", summary = "The channel's model per activity", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Models", body = ChannelModels), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_models(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
) -> Json<ChannelModels> {
    Json(channel_models(&state, &access.login).await)
}

/// `PUT /api/v1/channels/{login}/models`: `{"chat_reply": "model" | null, ...}`; null returns
/// the activity to the configured route; absent activities keep their setting.
#[utoipa::path(put, path = "/api/v1/channels/{login}/models", tag = "copilot", summary = "Choose the channel's model per activity (streamer)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body(content = serde_json::Value, description = "activity name -> model from `available`, or null"), responses((status = 200, description = "Models", body = ChannelModels), (status = 400, description = "Unknown activity or model", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_models(
    State(state): State<AppState>,
    access: ChannelAccess<Manage>,
    ApiJson(body): ApiJson<BTreeMap<String, Option<String>>>,
) -> Result<Json<ChannelModels>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_models",
            "give at least one activity, e.g. {\"chat_reply\": \"gpt-4o-mini\"}",
        ));
    }
    let allowed = available(&state).await;
    let mut changes = Vec::with_capacity(body.len());
    for (activity, model) in body {
        let a = Activity::parse(&activity).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_models",
                format!(
                    "unknown activity {activity:?}; one of: {}",
                    Activity::ALL.map(|a| a.as_str()).join(", ")
                ),
            )
        })?;
        if let Some(m) = &model
            && !allowed.contains(m)
        {
            return Err(ApiError::bad_request(
                "invalid_models",
                format!(
                    "model {m:?} is not in the catalog; available: {}",
                    if allowed.is_empty() {
                        "none (configure BYTEBOT_LLM_MODEL / BYTEBOT_LLM_MODELS)".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                ),
            ));
        }
        changes.push((a, model));
    }
    let by = access.caller.audit_name();
    for (a, model) in &changes {
        crate::store::copilot::set_channel_model(
            &state.pool,
            &access.login,
            *a,
            model.as_deref(),
            &by,
        )
        .await
        .map_err(db_down)?;
    }
    for (a, model) in changes {
        match model {
            Some(m) => state
                .copilot
                .resilient
                .set_channel_model(access.login.clone(), a, m),
            None => state
                .copilot
                .resilient
                .clear_channel_model(&access.login, a),
        }
    }
    tracing::info!(channel = %access.login, by = %by, "channel models changed");
    Ok(Json(channel_models(&state, &access.login).await))
}

//! `/api/v1/channels/{login}/{actions,goals,autonomy}`: the action queue (list, approve,
//! reject), the session goals with live progress and past outcomes, the autonomy policy, and
//! a decision step on demand.
//!
//! Access: streamers and moderators read everything and may approve or reject queued actions
//! and run a step (moderators already act in chat for the streamer, and every action stays
//! bounded by the policy and Twitch's limits); only the streamer (or the admin) changes the
//! goals and the policy, i.e. what may run without approval. Overlay tokens get nothing here.

use axum::Json;
use axum::extract::State;
use byte_actors::autonomy::{
    AutonomyConfig, AutonomyPolicy, AutonomyReply, AutonomyRequest, GoalProgress, GoalsConfig,
    Mode, StepReport,
};
use byte_actors::router::{RouterError, RouterMessage};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::{ChannelAccess, Control, Manage, Read};
use super::channels::{ApiJson, ApiPath, route};
use super::error::{ApiError, ErrorBody};
use super::intel::{ApiQuery, page_limit};
use crate::copilot::actions::DecideError;
use crate::store::autonomy::{self as store, ActionRow, SessionOutcomes};

/// `{login}` and `{id}`.
#[derive(Debug, Deserialize)]
pub struct ActionPathParams {
    /// Channel (checked by the access extractor).
    pub login: String,
    /// Action id.
    pub id: i64,
}

pub(crate) fn db_down(e: crate::store::DbError) -> ApiError {
    tracing::warn!(error = %e, "autonomy store unavailable");
    ApiError::Unavailable(
        "the database is unavailable; the action queue cannot be reached right now".into(),
    )
}

/// Statuses an action can have.
pub const STATUSES: [&str; 8] = [
    "proposed",
    "approved",
    "rejected",
    "executing",
    "executed",
    "failed",
    "expired",
    "acknowledged",
];

/// `?status=&limit=` of the queue.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionsQuery {
    /// Only this status (proposed, approved, rejected, executing, executed, failed, expired,
    /// acknowledged).
    pub status: Option<String>,
    /// Most items (1-500, default 50).
    pub limit: Option<i64>,
}

/// The queue.
#[derive(Debug, Serialize)]
pub struct ActionList {
    /// Newest first.
    pub items: Vec<ActionRow>,
    /// Proposals waiting for a decision in this channel (whatever the filter).
    pub pending: usize,
}

/// `GET /api/v1/channels/{login}/actions`
#[utoipa::path(get, path = "/api/v1/channels/{login}/actions", tag = "autonomy", summary = "The action queue: proposals with their explanation, and history", params(("login" = String, Path, description = "Twitch login of the channel"), ActionsQuery), responses((status = 200, description = "Actions, newest first", body = serde_json::Value), (status = 400, description = "Bad status or limit", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiQuery(q): ApiQuery<ActionsQuery>,
) -> Result<Json<ActionList>, ApiError> {
    let login = access.login;
    let limit = page_limit(q.limit.unwrap_or(50))?;
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_status",
            format!("`status` must be one of {}, got {s:?}", STATUSES.join(", ")),
        ));
    }
    state.actions.sweep(Some(&login)).await.map_err(db_down)?;
    let items = store::list_actions(&state.pool, login.as_str(), q.status.as_deref(), limit)
        .await
        .map_err(db_down)?;
    let pending = store::list_actions(&state.pool, login.as_str(), Some("proposed"), 500)
        .await
        .map_err(db_down)?
        .len();
    Ok(Json(ActionList { items, pending }))
}

async fn decide(
    state: &AppState,
    access: ChannelAccess<Control>,
    id: i64,
    approve: bool,
) -> Result<Json<ActionRow>, ApiError> {
    let by = access.caller.audit_name();
    match state.actions.decide(&access.login, id, approve, &by).await {
        Ok(row) => Ok(Json(row)),
        Err(DecideError::NotFound(_)) => Err(ApiError::NotFound(format!(
            "action {id} not found in channel {}",
            access.login
        ))),
        Err(e @ DecideError::NotProposed { .. }) => Err(ApiError::Conflict(e.to_string())),
        Err(DecideError::Db(e)) => Err(db_down(e)),
    }
}

/// `POST /api/v1/channels/{login}/actions/{id}/approve`: approves and executes a proposal.
#[utoipa::path(post, path = "/api/v1/channels/{login}/actions/{id}/approve", tag = "autonomy", summary = "Approve a proposed action (it runs at once; the answer has its result)", params(("login" = String, Path, description = "Twitch login of the channel"), ("id" = i64, Path, description = "Action id")), responses((status = 200, description = "The action after execution", body = serde_json::Value), (status = 400, description = "Bad id", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "No such action in the caller's channel", body = ErrorBody), (status = 409, description = "Not a live proposal (decided or expired)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
    ApiPath(p): ApiPath<ActionPathParams>,
) -> Result<Json<ActionRow>, ApiError> {
    decide(&state, access, p.id, true).await
}

/// `POST /api/v1/channels/{login}/actions/{id}/reject`
#[utoipa::path(post, path = "/api/v1/channels/{login}/actions/{id}/reject", tag = "autonomy", summary = "Reject a proposed action (it never runs)", params(("login" = String, Path, description = "Twitch login of the channel"), ("id" = i64, Path, description = "Action id")), responses((status = 200, description = "The rejected action", body = serde_json::Value), (status = 400, description = "Bad id", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "No such action in the caller's channel", body = ErrorBody), (status = 409, description = "Not a live proposal (decided or expired)", body = ErrorBody)), security(("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
    ApiPath(p): ApiPath<ActionPathParams>,
) -> Result<Json<ActionRow>, ApiError> {
    decide(&state, access, p.id, false).await
}

/// Goals with live progress and past outcomes.
#[derive(Debug, Serialize)]
pub struct GoalsView {
    /// The configured goals.
    pub goals: GoalsConfig,
    /// The open session.
    pub session_id: Option<String>,
    /// Live progress (empty when the channel's actor is down).
    pub progress: Vec<GoalProgress>,
    /// The last sessions' outcomes, newest first.
    pub outcomes: Vec<SessionOutcomes>,
    /// Whether the channel's autonomy has loaded its configuration (it decides nothing
    /// before).
    pub autonomy_ready: bool,
}

async fn live_progress(
    state: &AppState,
    login: &byte_actors::model::ChannelLogin,
) -> Result<(Option<String>, Vec<GoalProgress>, bool), ApiError> {
    match route(state, |r| {
        RouterMessage::Autonomy(login.clone(), AutonomyRequest::Progress, r)
    })
    .await
    {
        Ok(AutonomyReply::Progress {
            session_id,
            goals,
            ready,
        }) => Ok((session_id, goals, ready)),
        Ok(_) => Ok((None, vec![], false)),
        Err(ApiError::Unavailable(_)) => Ok((None, vec![], false)),
        Err(e) => Err(e),
    }
}

/// `GET /api/v1/channels/{login}/goals`
#[utoipa::path(get, path = "/api/v1/channels/{login}/goals", tag = "autonomy", summary = "Session goals, live progress and past outcomes", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Goals", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_goals(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
) -> Result<Json<GoalsView>, ApiError> {
    let login = access.login;
    let (session_id, progress, autonomy_ready) = live_progress(&state, &login).await?;
    let config = store::settings(&state.pool, login.as_str())
        .await
        .map_err(db_down)?;
    let outcomes = store::recent_outcomes(&state.pool, login.as_str(), 10)
        .await
        .map_err(db_down)?;
    Ok(Json(GoalsView {
        goals: config.goals,
        session_id,
        progress,
        outcomes,
        autonomy_ready,
    }))
}

/// Stores the configuration, then hands it to the live actor (a restarting one reads it at
/// start, so its absence is not an error).
async fn apply(state: &AppState, login: &byte_actors::model::ChannelLogin) -> Result<(), ApiError> {
    let config = store::settings(&state.pool, login.as_str())
        .await
        .map_err(db_down)?;
    let request = AutonomyRequest::Configure(Box::new(config));
    match byte_actors::rpc::ask(
        &state.router,
        |r| RouterMessage::Autonomy(login.clone(), request, r),
        state.call_timeout + std::time::Duration::from_millis(500),
    )
    .await
    {
        Ok(Ok(_)) | Ok(Err(RouterError::ChannelDown(..))) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(ApiError::Unavailable(format!(
            "the runtime did not answer: {e}"
        ))),
    }
}

async fn joined(
    state: &AppState,
    login: &byte_actors::model::ChannelLogin,
) -> Result<(), ApiError> {
    route(state, |r| RouterMessage::Status(login.clone(), r))
        .await
        .map(|_| ())
}

/// `PUT /api/v1/channels/{login}/goals`: replaces the goals (absent goals are not tracked).
#[utoipa::path(put, path = "/api/v1/channels/{login}/goals", tag = "autonomy", summary = "Set the session goals (streamer)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body(content = serde_json::Value, description = "{chat_rate: {per_min, minutes}?, greet_first_timers: {share}?, subs: {target}?}"), responses((status = 200, description = "Goals", body = serde_json::Value), (status = 400, description = "Invalid goal", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_goals(
    State(state): State<AppState>,
    access: ChannelAccess<Manage>,
    ApiJson(goals): ApiJson<GoalsConfig>,
) -> Result<Json<GoalsView>, ApiError> {
    let login = access.login;
    goals
        .validate()
        .map_err(|e| ApiError::bad_request("invalid_goals", e.to_string()))?;
    joined(&state, &login).await?;
    store::set_goals(
        &state.pool,
        login.as_str(),
        &goals,
        &access.caller.audit_name(),
    )
    .await
    .map_err(db_down)?;
    apply(&state, &login).await?;
    tracing::info!(channel = %login, by = %access.caller.audit_name(), "goals changed");
    let (session_id, progress, autonomy_ready) = live_progress(&state, &login).await?;
    let outcomes = store::recent_outcomes(&state.pool, login.as_str(), 10)
        .await
        .map_err(db_down)?;
    Ok(Json(GoalsView {
        goals,
        session_id,
        progress,
        outcomes,
        autonomy_ready,
    }))
}

/// The policy with every kind's mode spelled out.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    /// The stored policy.
    pub policy: AutonomyPolicy,
    /// Every action kind with its effective mode.
    pub modes: std::collections::BTreeMap<byte_actors::autonomy::ActionKind, Mode>,
    /// The channel's agent is paused or the fleet is suspended: nothing is decided.
    pub blocked: bool,
}

async fn policy_view(
    state: &AppState,
    login: &byte_actors::model::ChannelLogin,
    policy: AutonomyPolicy,
) -> Result<PolicyView, ApiError> {
    let status = route(state, |r| RouterMessage::Status(login.clone(), r)).await?;
    Ok(PolicyView {
        modes: policy.all_modes(),
        policy,
        blocked: status.agent.paused || state.suspend.is_suspended(),
    })
}

/// `GET /api/v1/channels/{login}/autonomy`
#[utoipa::path(get, path = "/api/v1/channels/{login}/autonomy", tag = "autonomy", summary = "The autonomy policy: mode per action kind (off, suggest, auto), step interval, hourly cap", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Policy", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
) -> Result<Json<PolicyView>, ApiError> {
    let login = access.login;
    let config: AutonomyConfig = store::settings(&state.pool, login.as_str())
        .await
        .map_err(db_down)?;
    Ok(Json(policy_view(&state, &login, config.policy).await?))
}

/// `PUT /api/v1/channels/{login}/autonomy`: replaces the policy.
#[utoipa::path(put, path = "/api/v1/channels/{login}/autonomy", tag = "autonomy", summary = "Set the autonomy policy (streamer)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body(content = serde_json::Value, description = "{enabled?, step_every_secs? (10-3600), max_actions_per_hour? (0-120), modes?: {chat_message|coaching_hint|slow_mode: off|suggest|auto}} (slow_mode cannot be auto)"), responses((status = 200, description = "Policy", body = serde_json::Value), (status = 400, description = "Invalid policy", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody)), security(("bearer" = [])))]
pub async fn put_policy(
    State(state): State<AppState>,
    access: ChannelAccess<Manage>,
    ApiJson(policy): ApiJson<AutonomyPolicy>,
) -> Result<Json<PolicyView>, ApiError> {
    let login = access.login;
    policy
        .validate()
        .map_err(|e| ApiError::bad_request("invalid_policy", e.to_string()))?;
    joined(&state, &login).await?;
    store::set_policy(
        &state.pool,
        login.as_str(),
        &policy,
        &access.caller.audit_name(),
    )
    .await
    .map_err(db_down)?;
    apply(&state, &login).await?;
    tracing::info!(channel = %login, by = %access.caller.audit_name(), "autonomy policy changed");
    Ok(Json(policy_view(&state, &login, policy).await?))
}

/// A step's answer: what was decided, and the queue rows it produced.
#[derive(Debug, Serialize)]
pub struct StepAnswer {
    /// The decision step.
    pub report: StepReport,
    /// The stored actions (with ids, and results for automatic ones).
    pub actions: Vec<ActionRow>,
}

/// Runs a routed autonomy request that answers with a step report, and stores its results
/// before answering (idempotent with the actor's own submission), so the queue shows them.
pub(crate) async fn step_and_store(
    state: &AppState,
    login: &byte_actors::model::ChannelLogin,
    request: AutonomyRequest,
    by: Option<&str>,
) -> Result<StepAnswer, ApiError> {
    let reply = route(state, |r| {
        RouterMessage::Autonomy(login.clone(), request, r)
    })
    .await?;
    let AutonomyReply::Step(report) = reply else {
        return Err(ApiError::Unavailable(
            "the channel answered something else".into(),
        ));
    };
    let sub = report.submission();
    state
        .actions
        .store(login, &sub, by)
        .await
        .map_err(db_down)?;
    let keys: Vec<String> = report.actions.iter().map(|a| a.key.clone()).collect();
    let actions = store::actions_by_keys(&state.pool, login.as_str(), &keys)
        .await
        .map_err(db_down)?;
    Ok(StepAnswer {
        report: *report,
        actions,
    })
}

/// `POST /api/v1/channels/{login}/autonomy/tick`: one decision step now.
#[utoipa::path(post, path = "/api/v1/channels/{login}/autonomy/tick", tag = "autonomy", summary = "Run an autonomy decision step now; answers with what it decided", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "The step's report and the queued actions", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 503, description = "The channel's actor is down", body = ErrorBody)), security(("bearer" = [])))]
pub async fn tick(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
) -> Result<Json<StepAnswer>, ApiError> {
    let login = access.login;
    Ok(Json(
        step_and_store(&state, &login, AutonomyRequest::Step, None).await?,
    ))
}

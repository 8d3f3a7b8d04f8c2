//! The control plane: the agent's per-channel settings (pause, sampling overrides, operator
//! notes) and the fleet-wide suspend switch. Changes are validated by the core's rules,
//! persisted first (so a restart keeps them), then applied live through the Router.

use axum::Json;
use axum::extract::State;
use byte_actors::agent::{AgentPatch, AgentSettings};
use byte_actors::router::RouterMessage;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AppState;
use super::access::{AdminOnly, Caller, ChannelAccess, Control, Read, Role};
use super::channels::{ApiJson, route};
use super::error::{ApiError, ErrorBody};
use crate::store::channels;

/// The agent's settings in a channel, with the fleet switch that overrides them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    /// Paused in this channel.
    pub paused: bool,
    /// Suspended fleet-wide (acts like a pause everywhere).
    pub suspended_globally: bool,
    /// Temperature override.
    pub temperature: Option<f64>,
    /// top_p override.
    pub top_p: Option<f64>,
    /// Operator notes.
    pub notes: String,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
    /// Who made it.
    pub updated_by: Option<String>,
}

fn view(state: &AppState, s: AgentSettings) -> AgentView {
    AgentView {
        paused: s.paused,
        suspended_globally: state.suspend.is_suspended(),
        temperature: s.temperature,
        top_p: s.top_p,
        notes: s.notes,
        updated_at: s.updated_at,
        updated_by: s.updated_by,
    }
}

fn db_down(e: crate::store::DbError) -> ApiError {
    tracing::warn!(error = %e, "control plane store unavailable");
    ApiError::Unavailable(
        "the database is unavailable, so the change could not be saved; try again shortly".into(),
    )
}

/// `GET /api/v1/channels/{login}/agent`
#[utoipa::path(get, path = "/api/v1/channels/{login}/agent", tag = "control", summary = "The agent's settings in a channel", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Settings", body = AgentView), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
) -> Result<Json<AgentView>, ApiError> {
    let login = access.login;
    let status = route(&state, |r| RouterMessage::Status(login, r)).await?;
    Ok(Json(view(&state, status.agent)))
}

/// `PUT /api/v1/channels/{login}/agent`: a partial update. Moderators may pause and resume;
/// overrides and notes are the streamer's.
#[utoipa::path(put, path = "/api/v1/channels/{login}/agent", tag = "control", summary = "Change the agent's settings (partial; moderators: pause only)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body(content = serde_json::Value, description = "Any of paused (bool), temperature (0-2 or null), top_p (0-1 or null), notes (at most 2000 characters)"), responses((status = 200, description = "New settings", body = AgentView), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 400, description = "Invalid value", body = ErrorBody)), security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
    ApiJson(patch): ApiJson<AgentPatch>,
) -> Result<Json<AgentView>, ApiError> {
    if let Caller::Channel {
        role: Role::Moderator,
        ..
    } = access.caller
        && patch.changes_more_than_pause()
    {
        return Err(ApiError::Forbidden(
            "moderators may pause and resume the agent; overrides and notes are the streamer's"
                .into(),
        ));
    }
    let login = access.login;
    let current = route(&state, |r| RouterMessage::Status(login.clone(), r))
        .await?
        .agent;
    let next = patch
        .apply(&current, &access.caller.audit_name(), Utc::now())
        .map_err(|e| ApiError::bad_request("invalid_agent_settings", e.to_string()))?;
    channels::set_agent(&state.pool, &login, &next)
        .await
        .map_err(db_down)?;
    let status = route(&state, |r| RouterMessage::SetAgent(login.clone(), next, r)).await?;
    tracing::info!(channel = %login, paused = status.agent.paused, by = %access.caller.audit_name(), "agent settings changed");
    Ok(Json(view(&state, status.agent)))
}

/// The fleet switch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FleetSwitch {
    /// Whether the agent is suspended everywhere.
    pub suspended: bool,
    /// Channels it applies to.
    pub channels: usize,
}

/// `GET /api/v1/agent`
#[utoipa::path(get, path = "/api/v1/agent", tag = "control", summary = "The fleet-wide suspend switch (admin)", responses((status = 200, description = "Switch", body = FleetSwitch), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "Admin only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn fleet(State(state): State<AppState>, _admin: AdminOnly) -> Json<FleetSwitch> {
    Json(FleetSwitch {
        suspended: state.suspend.is_suspended(),
        channels: state.directory.len(),
    })
}

async fn set_fleet(state: &AppState, suspend: bool) -> Result<Json<FleetSwitch>, ApiError> {
    channels::set_fleet_suspended(&state.pool, suspend)
        .await
        .map_err(db_down)?;
    let channels = route(state, |r| RouterMessage::SuspendAll(suspend, r)).await?;
    Ok(Json(FleetSwitch {
        suspended: suspend,
        channels,
    }))
}

/// `POST /api/v1/agent/suspend-all`: the panic button.
#[utoipa::path(post, path = "/api/v1/agent/suspend-all", tag = "control", summary = "Panic button: suspend the agent everywhere (admin)", responses((status = 200, description = "Switch", body = FleetSwitch), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "Admin only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn suspend_all(
    State(state): State<AppState>,
    _admin: AdminOnly,
) -> Result<Json<FleetSwitch>, ApiError> {
    set_fleet(&state, true).await
}

/// `POST /api/v1/agent/resume-all`
#[utoipa::path(post, path = "/api/v1/agent/resume-all", tag = "control", summary = "Resume the agent everywhere (admin)", responses((status = 200, description = "Switch", body = FleetSwitch), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "Admin only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn resume_all(
    State(state): State<AppState>,
    _admin: AdminOnly,
) -> Result<Json<FleetSwitch>, ApiError> {
    set_fleet(&state, false).await
}

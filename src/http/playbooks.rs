//! `/api/v1/playbooks` and `/api/v1/channels/{login}/playbooks/...`: the deterministic ops
//! playbooks with their triggers and actions, running one by hand, and each channel's run
//! history. Running a playbook needs `Control` (streamer or moderator); what it proposes
//! waits in the action queue for approval.

use axum::Json;
use axum::extract::State;
use byte_actors::autonomy::playbooks::PlaybookInfo;
use byte_actors::autonomy::{AutonomyRequest, Playbook};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::{AnyCaller, Caller, ChannelAccess, Control, Read, Role};
use super::autonomy::{StepAnswer, db_down, step_and_store};
use super::channels::ApiPath;
use super::error::{ApiError, ErrorBody};
use super::intel::{ApiQuery, LimitQuery, page_limit};
use crate::store::autonomy::{self as store, RunRow};

/// The catalogue.
#[derive(Debug, Serialize)]
pub struct PlaybookList {
    /// Every playbook.
    pub items: Vec<PlaybookInfo>,
}

/// `GET /api/v1/playbooks`
#[utoipa::path(get, path = "/api/v1/playbooks", tag = "autonomy", summary = "The ops playbooks: triggers and the actions they propose", responses((status = 200, description = "Playbooks", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "Overlay tokens read the HUD only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(AnyCaller(caller): AnyCaller) -> Result<Json<PlaybookList>, ApiError> {
    if let Caller::Channel {
        role: Role::Overlay,
        ..
    } = caller
    {
        return Err(ApiError::Forbidden(
            "an overlay token only reads its channel's HUD".into(),
        ));
    }
    Ok(Json(PlaybookList {
        items: Playbook::ALL.iter().map(|p| p.info()).collect(),
    }))
}

/// `{login}` and `{name}`.
#[derive(Debug, Deserialize)]
pub struct RunPathParams {
    /// Channel (checked by the access extractor).
    pub login: String,
    /// Playbook name.
    pub name: String,
}

/// `POST /api/v1/channels/{login}/playbooks/{name}/run`
#[utoipa::path(post, path = "/api/v1/channels/{login}/playbooks/{name}/run", tag = "autonomy", summary = "Run a playbook by hand; its actions wait in the queue for approval", params(("login" = String, Path, description = "Twitch login of the channel"), ("name" = String, Path, description = "toxicity_spike, dead_chat or raid_welcome")), responses((status = 200, description = "The run's report and queued actions", body = serde_json::Value), (status = 400, description = "Unknown playbook", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 409, description = "Paused, suspended, or nothing to act on", body = ErrorBody)), security(("bearer" = [])))]
pub async fn run(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
    ApiPath(p): ApiPath<RunPathParams>,
) -> Result<Json<StepAnswer>, ApiError> {
    let playbook = Playbook::parse(&p.name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_playbook",
            format!(
                "no playbook {:?}; the playbooks are {}",
                p.name,
                Playbook::ALL.map(|p| p.as_str()).join(", ")
            ),
        )
    })?;
    let by = access.caller.audit_name();
    let answer = step_and_store(
        &state,
        &access.login,
        AutonomyRequest::RunPlaybook {
            playbook,
            by: by.clone(),
        },
        Some(&by),
    )
    .await?;
    if let Some(why) = &answer.report.skipped {
        return Err(ApiError::Conflict(format!(
            "playbook {} did not run: {why}",
            playbook.as_str()
        )));
    }
    tracing::info!(channel = %access.login, playbook = playbook.as_str(), %by, "playbook run by hand");
    Ok(Json(answer))
}

/// Run history.
#[derive(Debug, Serialize)]
pub struct RunList {
    /// Newest first.
    pub items: Vec<RunRow>,
}

/// `GET /api/v1/channels/{login}/playbooks/runs`
#[utoipa::path(get, path = "/api/v1/channels/{login}/playbooks/runs", tag = "autonomy", summary = "Playbook runs in the channel, automatic and manual", params(("login" = String, Path, description = "Twitch login of the channel"), LimitQuery), responses((status = 200, description = "Runs, newest first", body = serde_json::Value), (status = 400, description = "Bad limit", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody)), security(("bearer" = [])))]
pub async fn runs(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<RunList>, ApiError> {
    let limit = page_limit(q.limit.unwrap_or(50))?;
    let items = store::list_runs(&state.pool, access.login.as_str(), limit)
        .await
        .map_err(db_down)?;
    Ok(Json(RunList { items }))
}

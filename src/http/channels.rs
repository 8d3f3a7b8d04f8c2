//! `/api/v1/channels`: list, join, part, inspect and retry channels. The database holds the
//! channel list (so a restart rejoins it); the Router carries each command to the actors.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use byte_actors::channel::ChannelSnapshot;
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use byte_actors::router::RouterMessage;
use byte_actors::rpc::ask;
use byte_actors::supervisor::{ChannelStatus, JoinOutcome};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::{AdminOnly, AnyCaller, ChannelAccess, Control, Manage, Read};
use super::context_cache::Held;
use super::error::{ApiError, ErrorBody};
use crate::store::channels;

/// JSON body extractor whose rejections use the API's error shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Path extractor whose rejections use the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Body of `POST /api/v1/channels`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The channel's Twitch login.
    pub login: String,
}

/// Answer to a join.
#[derive(Debug, Serialize)]
pub struct JoinResponse {
    /// `joined` or `already_joined`.
    pub outcome: JoinOutcome,
    /// The channel's status after the join.
    pub channel: ChannelStatus,
}

/// Answer to the list.
#[derive(Debug, Serialize)]
pub struct ChannelList {
    /// Every joined channel.
    pub channels: Vec<ChannelStatus>,
    /// How many.
    pub total: usize,
}

pub(crate) fn parse_login(raw: &str) -> Result<ChannelLogin, ApiError> {
    ChannelLogin::parse(raw).map_err(|e| ApiError::BadRequest {
        code: "invalid_login",
        message: format!("{raw:?} is not a valid Twitch login: {e}"),
        details: serde_json::json!({ "field": "login" }),
    })
}

pub(crate) async fn route<T: Send + 'static>(
    state: &AppState,
    build: impl FnOnce(byte_actors::router::Reply<T>) -> RouterMessage,
) -> Result<T, ApiError> {
    // The router enforces its own timeout per call; this outer bound only guards against a
    // router that is gone, and is a little longer so the inner one reports first.
    let outer = state.call_timeout + std::time::Duration::from_millis(500);
    ask(&state.router, build, outer)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the runtime did not answer: {e}")))?
        .map_err(ApiError::from)
}

/// `GET /api/v1/channels`
/// The admin sees every channel; a streamer or moderator token sees its own channel only.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", summary = "Channels the caller may see, with their status", responses((status = 200, description = "Channel list", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "Overlay tokens read the HUD only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
) -> Result<Json<ChannelList>, ApiError> {
    let mut channels = route(&state, RouterMessage::List).await?;
    caller.scope_list(&mut channels)?;
    Ok(Json(ChannelList {
        total: channels.len(),
        channels,
    }))
}

/// `POST /api/v1/channels`
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", summary = "Join a channel (admin)", request_body = JoinRequest, responses((status = 201, description = "Joined", body = serde_json::Value), (status = 200, description = "Already joined", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 400, description = "Invalid login", body = ErrorBody), (status = 403, description = "Admin only", body = ErrorBody), (status = 503, description = "Database down", body = ErrorBody)), security(("bearer" = [])))]
pub async fn join(
    State(state): State<AppState>,
    _admin: AdminOnly,
    ApiJson(body): ApiJson<JoinRequest>,
) -> Result<Response, ApiError> {
    let login = parse_login(&body.login)?;
    channels::join(&state.pool, &login).await.map_err(|e| {
        tracing::warn!(channel = %login, error = %e, "join not persisted");
        ApiError::Unavailable(
            "the database is unavailable, so the join could not be saved; try again shortly".into(),
        )
    })?;
    let outcome = route(&state, |r| RouterMessage::Join(login.clone(), r)).await?;
    let channel = route(&state, |r| RouterMessage::Status(login.clone(), r)).await?;
    let status = match outcome {
        JoinOutcome::Joined => StatusCode::CREATED,
        JoinOutcome::AlreadyJoined => StatusCode::OK,
    };
    Ok((status, Json(JoinResponse { outcome, channel })).into_response())
}

/// `GET /api/v1/channels/{login}`
#[utoipa::path(get, path = "/api/v1/channels/{login}", tag = "channels", summary = "One channel's status", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Status", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
) -> Result<Json<ChannelStatus>, ApiError> {
    let login = access.login;
    Ok(Json(
        route(&state, |r| RouterMessage::Status(login, r)).await?,
    ))
}

/// `DELETE /api/v1/channels/{login}`
#[utoipa::path(delete, path = "/api/v1/channels/{login}", tag = "channels", summary = "Part a channel", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 204, description = "Parted"), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn part(
    State(state): State<AppState>,
    access: ChannelAccess<Manage>,
) -> Result<StatusCode, ApiError> {
    let login = access.login;
    let unavailable = |e: crate::store::DbError| {
        tracing::warn!(channel = %login, error = %e, "part not persisted");
        ApiError::Unavailable(
            "the database is unavailable, so the part could not be saved; try again shortly".into(),
        )
    };
    let was_stored = channels::get(&state.pool, &login)
        .await
        .map_err(unavailable)?
        .is_some_and(|c| c.active);
    channels::part(&state.pool, &login)
        .await
        .map_err(unavailable)?;
    let was_joined = route(&state, |r| RouterMessage::Part(login.clone(), r)).await?;
    if was_joined || was_stored {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("channel {login} is not joined")))
    }
}

/// `POST /api/v1/channels/{login}/retry`
#[utoipa::path(post, path = "/api/v1/channels/{login}/retry", tag = "channels", summary = "Restart a quarantined channel", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Restarted", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 409, description = "Not quarantined", body = ErrorBody)), security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    access: ChannelAccess<Manage>,
) -> Result<Json<ChannelStatus>, ApiError> {
    let login = access.login;
    route(&state, |r| RouterMessage::Retry(login.clone(), r)).await?;
    Ok(Json(
        route(&state, |r| RouterMessage::Status(login, r)).await?,
    ))
}

/// `GET /api/v1/channels/{login}/context`
#[utoipa::path(get, path = "/api/v1/channels/{login}/context", tag = "intelligence", summary = "The live picture: windows, health, churn, hints, clips, session", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Live context", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "The actor is restarting", body = ErrorBody)), security(("bearer" = [])))]
/// Served from [`super::context_cache`]: at most one tick old, refreshed in the background,
/// and asked from the actor right after a write to the channel.
pub async fn context(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
) -> Result<Response, ApiError> {
    let login = access.login;
    let (source, body) = match state.contexts.lookup(login.as_str()) {
        Held::Fresh(body) => ("cache", body),
        Held::Stale {
            body,
            refresh,
            generation,
        } => {
            if refresh {
                let state = state.clone();
                tokio::spawn(async move {
                    if render_context(&state, &login, generation).await.is_err() {
                        state.contexts.refresh_failed(login.as_str());
                    }
                });
            }
            ("stale", body)
        }
        Held::Missing { generation } => {
            ("actor", render_context(&state, &login, generation).await?)
        }
    };
    metrics::counter!(m::CONTEXT_READS, "source" => source).increment(1);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Asks the channel actor for its context, renders it and keeps it under `generation`.
async fn render_context(
    state: &AppState,
    login: &ChannelLogin,
    generation: u64,
) -> Result<Bytes, ApiError> {
    let l = login.clone();
    let snapshot: ChannelSnapshot = route(state, |r| RouterMessage::Snapshot(l, r)).await?;
    let body = Bytes::from(
        serde_json::to_vec(&snapshot)
            .map_err(|e| ApiError::Unavailable(format!("context not rendered: {e}")))?,
    );
    state.contexts.put(login.as_str(), generation, body.clone());
    Ok(body)
}

/// Fallback for unknown API paths, in the API's error shape.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no API route at {}", uri.path()))
}

/// Body of `POST /api/v1/channels/{login}/session`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// `start` or `stop`.
    pub action: SessionAction,
}

/// What to do with the session.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionAction {
    /// Start one now (returns the open one if a session is already running).
    Start,
    /// Stop the open one.
    Stop,
}

/// `POST /api/v1/channels/{login}/session`
#[utoipa::path(post, path = "/api/v1/channels/{login}/session", tag = "intelligence", summary = "Start or stop the stream session", params(("login" = String, Path, description = "Twitch login of the channel")), request_body = SessionRequest, responses((status = 200, description = "The session", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 409, description = "No open session to stop", body = ErrorBody)), security(("bearer" = [])))]
pub async fn session(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
    ApiJson(body): ApiJson<SessionRequest>,
) -> Result<Json<byte_actors::intel::session::Session>, ApiError> {
    let login = access.login;
    let start = matches!(body.action, SessionAction::Start);
    route(&state, |r| RouterMessage::Session(login.clone(), start, r))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::Conflict(format!("channel {login} has no open session to stop")))
}

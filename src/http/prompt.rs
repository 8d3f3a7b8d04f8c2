//! The prompt & persona studio: a channel's prompt profile (the operator's system prompt and
//! persona), saved as append-only versions with history and rollback, and a preview of the
//! exact messages a reply would send.
//!
//! Access: streamers and moderators read (`Read`); only the streamer (or the admin) changes
//! the profile (`Manage`): it is what the bot says in the streamer's name, like the operator
//! notes, which moderators cannot change either. The preview is a read (it changes nothing,
//! so moderators may try drafts). Overlay tokens reach none of it.
//!
//! The preview never contains the real canary: the secret marker the reply worker plants is
//! shown as [`CANARY_PLACEHOLDER`].

use axum::Json;
use axum::extract::State;
use byte_actors::copilot::prompt::{self, Persona, PromptProfile, ReplyRequest};
use byte_actors::copilot::sanitize::TWITCH_MAX_CHARS;
use byte_actors::llm::{Activity, ChatRequest, Role};
use byte_actors::router::RouterMessage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::access::{ChannelAccess, Manage, Read};
use super::channels::{ApiJson, route};
use super::error::{ApiError, ErrorBody};
use super::intel::{ApiQuery, page_limit};
use crate::copilot::profiles::ProfileBookError;
use crate::store::profiles::{self, ProfileVersion};

/// What the preview shows instead of the secret canary.
pub const CANARY_PLACEHOLDER: &str = "[canary]";
/// The answer length the preview assumes (Twitch's message limit, as the reply worker).
pub const PREVIEW_MAX_ANSWER_CHARS: usize = TWITCH_MAX_CHARS;
/// Longest save comment.
const MAX_COMMENT_CHARS: usize = 500;

fn db_down(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "prompt studio store unavailable");
    ApiError::Unavailable(
        "the database is unavailable, so prompt profiles cannot be read or saved; try again \
         shortly"
            .into(),
    )
}

/// A channel's active profile.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActiveProfile {
    /// The channel.
    pub channel: String,
    /// Active version (`null`: nothing saved yet, the built-in default applies).
    pub version: Option<i32>,
    /// The profile.
    #[schema(value_type = Object)]
    pub profile: PromptProfile,
    /// Who saved the active version.
    pub author: Option<String>,
    /// When.
    pub created_at: Option<DateTime<Utc>>,
    /// Its comment.
    pub comment: Option<String>,
    /// The version it restored, if it was a rollback.
    pub restored_from: Option<i32>,
}

fn active_view(channel: &str, v: Option<ProfileVersion>, fallback: PromptProfile) -> ActiveProfile {
    match v {
        Some(v) => ActiveProfile {
            channel: channel.to_owned(),
            version: Some(v.version),
            profile: v.profile,
            author: Some(v.author),
            created_at: Some(v.created_at),
            comment: v.comment,
            restored_from: v.restored_from,
        },
        None => ActiveProfile {
            channel: channel.to_owned(),
            version: None,
            profile: fallback,
            author: None,
            created_at: None,
            comment: None,
            restored_from: None,
        },
    }
}

/// `GET /api/v1/channels/{login}/prompt-profile`
#[utoipa::path(get, path = "/api/v1/channels/{login}/prompt-profile", tag = "copilot", summary = "The channel's active prompt profile (system prompt and persona)", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "Active profile", body = ActiveProfile), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
) -> Result<Json<ActiveProfile>, ApiError> {
    let login = access.login;
    let latest = profiles::history(&state.pool, login.as_str(), None, 1)
        .await
        .map_err(db_down)?
        .into_iter()
        .next();
    let fallback = (*state.copilot.profiles.active(&login)).clone();
    Ok(Json(active_view(login.as_str(), latest, fallback)))
}

/// Body of `PUT .../prompt-profile`: the whole profile (missing fields take their defaults)
/// and an optional comment for the history.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileUpdate {
    /// The operator's own instructions (at most 4000 characters).
    pub system_prompt: String,
    /// The persona.
    pub persona: Persona,
    /// Why this change (at most 500 characters).
    pub comment: Option<String>,
}

/// Checks a profile; a 400 naming every problem.
fn check(profile: &PromptProfile) -> Result<(), ApiError> {
    let problems = profile.problems();
    if problems.is_empty() {
        return Ok(());
    }
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Err(ApiError::BadRequest {
        code: "invalid_prompt_profile",
        message: format!("the prompt profile is invalid: {}", messages.join("; ")),
        details: json!({ "problems": messages }),
    })
}

/// `PUT /api/v1/channels/{login}/prompt-profile`
#[utoipa::path(put, path = "/api/v1/channels/{login}/prompt-profile", tag = "copilot", summary = "Save a new version of the prompt profile (streamer or admin)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body(content = serde_json::Value, description = "system_prompt (at most 4000 characters), persona {name, tone, style, constraints[], banned_patterns[]}, comment; missing fields take their defaults"), responses((status = 200, description = "The new active version", body = ActiveProfile), (status = 400, description = "Invalid profile: every problem is listed", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody), (status = 403, description = "Only the streamer changes the profile", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    access: ChannelAccess<Manage>,
    ApiJson(body): ApiJson<ProfileUpdate>,
) -> Result<Json<ActiveProfile>, ApiError> {
    let profile = PromptProfile {
        system_prompt: body.system_prompt,
        persona: body.persona,
    };
    check(&profile)?;
    let comment = body
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if let Some(c) = &comment
        && c.chars().count() > MAX_COMMENT_CHARS
    {
        return Err(ApiError::bad_request(
            "invalid_comment",
            format!("`comment` may have at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    let login = access.login;
    let saved = state
        .copilot
        .profiles
        .save(
            &state.pool,
            &login,
            &profile,
            &access.caller.audit_name(),
            comment.as_deref(),
        )
        .await
        .map_err(db_down)?;
    tracing::info!(channel = %login, version = saved.version, by = %access.caller.audit_name(), "prompt profile saved");
    Ok(Json(active_view(
        login.as_str(),
        Some(saved),
        PromptProfile::default(),
    )))
}

/// `?limit=&before=` of the history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionsQuery {
    /// Most versions (1-500, default 50).
    pub limit: Option<i64>,
    /// Only versions older than this one (the previous page's `next_before`).
    pub before: Option<i32>,
}

/// One page of the history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Versions {
    /// The active version.
    pub active: Option<i32>,
    /// Versions, newest first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<ProfileVersion>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<i32>,
}

/// `GET /api/v1/channels/{login}/prompt-profile/versions`
#[utoipa::path(get, path = "/api/v1/channels/{login}/prompt-profile/versions", tag = "copilot", summary = "Saved versions of the prompt profile, newest first", params(("login" = String, Path, description = "Twitch login of the channel"), VersionsQuery), responses((status = 200, description = "History page", body = Versions), (status = 400, description = "Bad limit or cursor", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> Result<Json<Versions>, ApiError> {
    let limit = page_limit(q.limit.unwrap_or(50))?;
    if let Some(b) = q.before
        && b < 1
    {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            format!("`before` must be a version number (1 or more), got {b}"),
        ));
    }
    let login = access.login;
    let items = profiles::history(&state.pool, login.as_str(), q.before, limit)
        .await
        .map_err(db_down)?;
    let next_before = (items.len() as i64 == limit)
        .then(|| items.last().map(|v| v.version))
        .flatten()
        .filter(|v| *v > 1);
    let active = match q.before {
        None => items.first().map(|v| v.version),
        Some(_) => state.copilot.profiles.active_version(&login),
    };
    Ok(Json(Versions {
        active,
        items,
        next_before,
    }))
}

/// Body of `POST .../prompt-profile/rollback`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to make active again.
    pub version: i32,
}

/// `POST /api/v1/channels/{login}/prompt-profile/rollback`
#[utoipa::path(post, path = "/api/v1/channels/{login}/prompt-profile/rollback", tag = "copilot", summary = "Make an older version active again (appends a copy of it; streamer or admin)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body = RollbackRequest, responses((status = 200, description = "The new active version", body = ActiveProfile), (status = 400, description = "Bad body", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "No such version, or not the caller's channel", body = ErrorBody), (status = 403, description = "Only the streamer changes the profile", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    access: ChannelAccess<Manage>,
    ApiJson(body): ApiJson<RollbackRequest>,
) -> Result<Json<ActiveProfile>, ApiError> {
    if body.version < 1 {
        return Err(ApiError::bad_request(
            "invalid_version",
            format!("`version` must be 1 or more, got {}", body.version),
        ));
    }
    let login = access.login;
    let saved = state
        .copilot
        .profiles
        .rollback(
            &state.pool,
            &login,
            body.version,
            &access.caller.audit_name(),
        )
        .await
        .map_err(|e| match e {
            ProfileBookError::NoSuchVersion(v) => ApiError::NotFound(format!(
                "version {v} of {login}'s prompt profile does not exist"
            )),
            ProfileBookError::Db(e) => db_down(e),
        })?;
    tracing::info!(channel = %login, version = saved.version, restored = body.version, by = %access.caller.audit_name(), "prompt profile rolled back");
    Ok(Json(active_view(
        login.as_str(),
        Some(saved),
        PromptProfile::default(),
    )))
}

/// Body of `POST .../prompt-profile/preview`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A draft to preview (`system_prompt`, `persona`); the active profile when absent.
    #[serde(default)]
    pub profile: Option<PromptProfile>,
    /// A sample viewer message (required, at most 500 characters).
    pub message: String,
    /// The sample viewer's login (default `viewer`).
    #[serde(default)]
    pub viewer: Option<String>,
    /// Operator notes; the channel's current notes when absent.
    #[serde(default)]
    pub notes: Option<String>,
    /// A live-context summary (default: none).
    #[serde(default)]
    pub live_context: Option<String>,
    /// Sample memories (at most 12 are used).
    #[serde(default)]
    pub memories: Vec<String>,
}

/// One message of the preview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewMessage {
    /// `system` or `user`.
    pub role: String,
    /// Exactly what would be sent (the canary shown as a placeholder).
    pub content: String,
}

/// The preview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The messages, in order.
    pub messages: Vec<PreviewMessage>,
    /// The model `chat_reply` would use in this channel (`null`: the rule-based fallback).
    pub model: Option<String>,
    /// What stands in for the secret canary.
    pub canary_placeholder: String,
    /// The profile version previewed (`null` for a draft or the built-in default).
    pub version: Option<i32>,
    /// The answer length the prompt asks for.
    pub max_answer_chars: usize,
}

/// `POST /api/v1/channels/{login}/prompt-profile/preview`
#[utoipa::path(post, path = "/api/v1/channels/{login}/prompt-profile/preview", tag = "copilot", summary = "The exact messages a reply would send (canary shown as a placeholder)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body(content = serde_json::Value, description = "message (required), viewer, notes (default: the channel's), live_context, memories[], profile (a draft; default: the active profile)"), responses((status = 200, description = "Preview", body = Preview), (status = 400, description = "Invalid draft or sample", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn preview(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<Json<Preview>, ApiError> {
    let login = access.login;
    if body.message.trim().is_empty() || body.message.chars().count() > prompt::MAX_VIEWER_CHARS {
        return Err(ApiError::bad_request(
            "invalid_message",
            format!(
                "`message` must be a sample viewer message of 1 to {} characters",
                prompt::MAX_VIEWER_CHARS
            ),
        ));
    }
    let (profile, version) = match body.profile {
        Some(draft) => {
            check(&draft)?;
            (draft, None)
        }
        None => (
            (*state.copilot.profiles.active(&login)).clone(),
            state.copilot.profiles.active_version(&login),
        ),
    };
    let notes = match body.notes {
        Some(n) => n,
        None => route(&state, |r| RouterMessage::Status(login.clone(), r))
            .await
            .map(|s| s.agent.notes)
            .unwrap_or_default(),
    };
    let live_context = body.live_context.unwrap_or_default();
    let viewer = body.viewer.unwrap_or_else(|| "viewer".to_owned());
    let request = ReplyRequest {
        channel: login.as_str(),
        viewer: &viewer,
        question: &body.message,
        notes: &notes,
        live_context: &live_context,
        memories: &body.memories,
    };
    let messages = prompt::build_reply_prompt(
        &profile,
        CANARY_PLACEHOLDER,
        PREVIEW_MAX_ANSWER_CHARS,
        &request,
    );
    Ok(Json(Preview {
        messages: messages
            .into_iter()
            .map(|m| PreviewMessage {
                role: match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                }
                .to_owned(),
                content: m.content,
            })
            .collect(),
        model: state.copilot.resilient.resolve_model(
            &ChatRequest::new(Activity::ChatReply, Vec::new()).for_channel(login.clone()),
        ),
        canary_placeholder: CANARY_PLACEHOLDER.to_owned(),
        version,
        max_answer_chars: PREVIEW_MAX_ANSWER_CHARS,
    }))
}

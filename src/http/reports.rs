//! Post-stream reports: list, read (figures, narrative, Markdown), download as Markdown, and
//! generate on demand. Reading needs `Read` (streamer, moderator); generating needs `Control`
//! (the same roles that start and stop sessions). Overlay tokens reach none of it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::{ChannelAccess, Control, Read};
use super::channels::{ApiJson, ApiPath};
use super::error::{ApiError, ErrorBody};
use super::intel::{ApiQuery, page_limit};
use crate::copilot::reports::{self, ReportDeps, ReportError, Trigger};
use crate::store::reports::{self as store, ReportSummary, StoredReport};

fn db_down(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "report store unavailable");
    ApiError::Unavailable("the database is unavailable; reports cannot be read right now".into())
}

/// `?limit=&before=` of the list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportsQuery {
    /// Most reports (1-500, default 50).
    pub limit: Option<i64>,
    /// Only reports older than this id (the previous page's `next_before`).
    pub before: Option<i64>,
}

/// A page of reports.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportList {
    /// Newest first.
    pub items: Vec<ReportSummary>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<i64>,
}

/// `GET /api/v1/channels/{login}/reports`
#[utoipa::path(get, path = "/api/v1/channels/{login}/reports", tag = "copilot", summary = "Post-stream reports, newest first", params(("login" = String, Path, description = "Twitch login of the channel"), ReportsQuery), responses((status = 200, description = "Reports", body = ReportList), (status = 400, description = "Bad limit or cursor", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiQuery(q): ApiQuery<ReportsQuery>,
) -> Result<Json<ReportList>, ApiError> {
    let limit = page_limit(q.limit.unwrap_or(50))?;
    if let Some(b) = q.before
        && b < 1
    {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            format!("`before` must be a report id, got {b}"),
        ));
    }
    let items = store::list(&state.pool, access.login.as_str(), q.before, limit)
        .await
        .map_err(db_down)?;
    let next_before = (items.len() as i64 == limit)
        .then(|| items.last().map(|r| r.id))
        .flatten();
    Ok(Json(ReportList { items, next_before }))
}

async fn find(state: &AppState, login: &str, id: i64) -> Result<StoredReport, ApiError> {
    store::get(&state.pool, login, id)
        .await
        .map_err(db_down)?
        .ok_or_else(|| ApiError::NotFound(format!("report {id} not found in {login}")))
}

/// `GET /api/v1/channels/{login}/reports/{id}`
#[utoipa::path(get, path = "/api/v1/channels/{login}/reports/{id}", tag = "copilot", summary = "One report: figures, narrative (labelled by source) and Markdown", params(("login" = String, Path, description = "Twitch login of the channel"), ("id" = i64, Path, description = "Report id")), responses((status = 200, description = "Report", body = StoredReport), (status = 400, description = "Bad id", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "No such report, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Json<StoredReport>, ApiError> {
    Ok(Json(find(&state, access.login.as_str(), id).await?))
}

/// `GET /api/v1/channels/{login}/reports/{id}/markdown`
#[utoipa::path(get, path = "/api/v1/channels/{login}/reports/{id}/markdown", tag = "copilot", summary = "Download a report as Markdown", params(("login" = String, Path, description = "Twitch login of the channel"), ("id" = i64, Path, description = "Report id")), responses((status = 200, description = "The report (text/markdown, as an attachment)", body = String, content_type = "text/markdown"), (status = 400, description = "Bad id", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "No such report, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn markdown(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiPath((_, id)): ApiPath<(String, i64)>,
) -> Result<Response, ApiError> {
    let login = access.login;
    let report = find(&state, login.as_str(), id).await?;
    // Login (a-z0-9_) and a number: nothing to escape in the file name.
    let disposition = format!("attachment; filename=\"byte-report-{login}-{id}.md\"");
    let mut response = (StatusCode::OK, report.markdown).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Body of `POST .../reports`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateRequest {
    /// The session to report on; the channel's latest when absent.
    pub session_id: Option<String>,
}

/// `POST /api/v1/channels/{login}/reports`
#[utoipa::path(post, path = "/api/v1/channels/{login}/reports", tag = "copilot", summary = "Generate a report now (latest session or a given session_id)", params(("login" = String, Path, description = "Twitch login of the channel")), request_body = GenerateRequest, responses((status = 201, description = "The new report", body = StoredReport), (status = 400, description = "Bad body", body = ErrorBody), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "No such session, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 503, description = "Database unavailable", body = ErrorBody)), security(("bearer" = [])))]
pub async fn generate(
    State(state): State<AppState>,
    access: ChannelAccess<Control>,
    ApiJson(body): ApiJson<GenerateRequest>,
) -> Result<(StatusCode, Json<StoredReport>), ApiError> {
    let login = access.login;
    if let Some(id) = &body.session_id
        && (id.is_empty() || id.len() > 100)
    {
        return Err(ApiError::bad_request(
            "invalid_session_id",
            "`session_id` must be a session id from GET .../sessions",
        ));
    }
    let deps = ReportDeps {
        pool: state.pool.clone(),
        llm: state.copilot.llm.clone(),
        persistence: state.persistence.clone(),
    };
    let generated = reports::generate(
        &deps,
        &login,
        None,
        body.session_id.as_deref(),
        Trigger::OnDemand,
    )
    .await
    .map_err(|e| match e {
        ReportError::NoSession(what) => ApiError::NotFound(format!(
            "{login} has no session {what} to report on; start one first"
        )),
        ReportError::Db(e) => db_down(e),
    })?;
    let id = generated
        .id
        .ok_or_else(|| ApiError::Conflict("the report could not be stored".into()))?;
    let report = find(&state, login.as_str(), id).await?;
    tracing::info!(channel = %login, report_id = id, by = %access.caller.audit_name(), "report generated on demand");
    Ok((StatusCode::CREATED, Json(report)))
}

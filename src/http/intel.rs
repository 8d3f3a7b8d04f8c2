//! `/api/v1/channels/{login}/{history,sessions,hints,clips}`: the channel's intelligence
//! history from Postgres. Ranges and limits are validated with a 400 that says why.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::{ChannelAccess, Read};
use super::error::{ApiError, ErrorBody};
use crate::store::intel::{self, HistoryPoint};

/// Query extractor whose rejections use the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `?from=&to=&step=` of the history endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Start (RFC 3339); default: `to` minus one hour.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default: now.
    pub to: Option<DateTime<Utc>>,
    /// Bin width in seconds, a multiple of 60 (default 60).
    pub step: Option<i64>,
}

/// The history answer.
#[derive(Debug, Serialize)]
pub struct History {
    /// Channel.
    pub channel: String,
    /// Range start.
    pub from: DateTime<Utc>,
    /// Range end.
    pub to: DateTime<Utc>,
    /// Bin width in seconds.
    pub step: i64,
    /// Points, oldest first; bins without data are absent.
    pub points: Vec<HistoryPoint>,
}

/// Longest range one request may cover.
const MAX_RANGE_DAYS: i64 = 31;
/// Most points one request may return.
const MAX_POINTS: i64 = 10_000;

fn bad(message: String) -> ApiError {
    ApiError::bad_request("invalid_range", message)
}

/// Checks a history request; returns (from, to, step).
pub fn validate_range(
    q: &HistoryQuery,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, i64), ApiError> {
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - Duration::hours(1));
    let step = q.step.unwrap_or(60);
    if from >= to {
        return Err(bad(format!("`from` ({from}) must be before `to` ({to})")));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(bad(format!(
            "the range may cover at most {MAX_RANGE_DAYS} days"
        )));
    }
    if step < 60 || step % 60 != 0 || step > 86_400 {
        return Err(bad(format!(
            "`step` must be a multiple of 60 seconds between 60 and 86400, got {step}"
        )));
    }
    let points = (to - from).num_seconds() / step;
    if points > MAX_POINTS {
        return Err(bad(format!(
            "{points} points requested; at most {MAX_POINTS} — use a larger `step`"
        )));
    }
    Ok((from, to, step))
}

fn db_down(e: crate::store::DbError) -> ApiError {
    tracing::warn!(error = %e, "history read failed");
    ApiError::Unavailable("the database is unavailable; history cannot be read right now".into())
}

/// `GET /api/v1/channels/{login}/history`
#[utoipa::path(get, path = "/api/v1/channels/{login}/history", tag = "intelligence", summary = "Per-minute rollups binned to `step`", params(("login" = String, Path, description = "Twitch login of the channel"), HistoryQuery), responses((status = 200, description = "History", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody), (status = 400, description = "Bad range", body = ErrorBody)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    access: ChannelAccess<Read>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let login = access.login;
    let (from, to, step) = validate_range(&q, Utc::now())?;
    let points = intel::history(&state.pool, login.as_str(), from, to, step)
        .await
        .map_err(db_down)?;
    Ok(Json(History {
        channel: login.to_string(),
        from,
        to,
        step,
        points,
    }))
}

/// `?limit=` of list endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// Most items (1-500, default 50).
    pub limit: Option<i64>,
}

fn limit(q: &LimitQuery) -> Result<i64, ApiError> {
    page_limit(q.limit.unwrap_or(50))
}

/// Checks a list's `limit` (1-500), the one bound every paginated list shares.
pub(crate) fn page_limit(n: i64) -> Result<i64, ApiError> {
    match n {
        1..=500 => Ok(n),
        n => Err(ApiError::bad_request(
            "invalid_limit",
            format!("`limit` must be between 1 and 500, got {n}"),
        )),
    }
}

/// A list answer.
#[derive(Debug, Serialize)]
pub struct Items {
    /// Newest first.
    pub items: Vec<serde_json::Value>,
}

macro_rules! list_handler {
    ($name:ident, $reader:path, $path:literal, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(get, path = $path, tag = "intelligence", summary = $summary,
            params(("login" = String, Path, description = "Twitch login of the channel"), LimitQuery),
            responses(
                (status = 200, description = "Items, newest first", body = serde_json::Value),
                (status = 400, description = "Bad limit", body = ErrorBody),
                (status = 401, description = "No valid token", body = ErrorBody),
                (status = 403, description = "The token's role does not allow this", body = ErrorBody),
                (status = 404, description = "Not the caller's channel", body = ErrorBody),
            ),
            security(("bearer" = [])))]
        pub async fn $name(
            State(state): State<AppState>,
            access: ChannelAccess<Read>,
            ApiQuery(q): ApiQuery<LimitQuery>,
        ) -> Result<Json<Items>, ApiError> {
            let login = access.login;
            let n = limit(&q)?;
            let items = $reader(&state.pool, login.as_str(), n)
                .await
                .map_err(db_down)?;
            Ok(Json(Items { items }))
        }
    };
}

list_handler!(
    sessions,
    intel::sessions,
    "/api/v1/channels/{login}/sessions",
    "Stream sessions with their KPIs"
);
list_handler!(
    hints,
    intel::hints,
    "/api/v1/channels/{login}/hints",
    "Coaching hints"
);
list_handler!(
    clips,
    intel::clips,
    "/api/v1/channels/{login}/clips",
    "Clip candidates"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: Option<&str>, to: Option<&str>, step: Option<i64>) -> HistoryQuery {
        HistoryQuery {
            from: from.map(|s| s.parse().unwrap()),
            to: to.map(|s| s.parse().unwrap()),
            step,
        }
    }

    #[test]
    fn ranges_are_validated_with_reasons() {
        let now: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
        let (from, to, step) = validate_range(&q(None, None, None), now).unwrap();
        assert_eq!((to - from, step), (Duration::hours(1), 60));
        let err = |r: Result<_, ApiError>| r.unwrap_err().to_string();
        assert!(
            err(validate_range(
                &q(Some("2026-01-01T13:00:00Z"), None, None),
                now
            ))
            .contains("before")
        );
        assert!(err(validate_range(&q(None, None, Some(90)), now)).contains("multiple of 60"));
        assert!(
            err(validate_range(
                &q(Some("2025-01-01T00:00:00Z"), None, Some(3600)),
                now
            ))
            .contains("31 days")
        );
        assert!(
            err(validate_range(
                &q(Some("2025-12-25T00:00:00Z"), None, Some(60)),
                now
            ))
            .contains("points")
        );
    }
}

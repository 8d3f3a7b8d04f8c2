//! `GET /api/v1/fleet`: every channel side by side for the comparison view — status, health
//! with its trend, churn, chat rate with a sparkline, sentiment, agent pause — sortable,
//! filterable and paginated on the server, so the page stays light at thousands of channels.
//!
//! Reads are kept off the actors and the database: each channel's numbers come from the
//! summary its actor publishes on the vitals board at every tick (asking the actor only when
//! it has not published yet), and the per-minute trends from [`super::trends::TrendCache`].
//! A rendered page is kept for a second ([`super::page_cache`]): the numbers behind it change
//! once a second, at the actors' ticks, and every open dashboard polls the same few pages.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use byte_actors::channel::ChannelSummary;
use byte_actors::intel::churn::ChurnLevel;
use byte_actors::metrics as m;
use byte_actors::router::RouterMessage;
use byte_actors::supervisor::{ChannelStatus, Lifecycle};
use bytes::Bytes;
use chrono::{Duration, DurationRound, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::access::AnyCaller;
use super::channels::route;
use super::error::{ApiError, ErrorBody};
use super::intel::ApiQuery;

/// Minutes of trend and sparkline.
const TREND_MINUTES: i64 = 30;
/// Summaries fetched at once.
const CONCURRENCY: usize = 64;

/// Query of the fleet view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FleetQuery {
    /// Page size (1-500, default 100).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<usize>,
    /// `login` (default), `health`, `churn`, `chat_rate`, `sentiment` or `status`.
    pub sort: Option<String>,
    /// `asc` (default for login/status) or `desc` (default for the numbers).
    pub order: Option<String>,
    /// Only logins containing this text.
    pub q: Option<String>,
}

/// One channel in the fleet view.
#[derive(Debug, Serialize)]
pub struct FleetItem {
    /// Login.
    pub login: String,
    /// `running`, `restarting`, `quarantined`.
    pub status: Lifecycle,
    /// Restarts since joined.
    pub restarts: u64,
    /// Why it is quarantined.
    pub quarantine_reason: Option<String>,
    /// Agent paused here.
    pub agent_paused: bool,
    /// Health 0-100 now.
    pub health: Option<f64>,
    /// Health per minute, oldest first (`null` for minutes without a rollup).
    pub health_trend: Vec<Option<f64>>,
    /// Churn risk 0-1.
    pub churn_risk: Option<f64>,
    /// Churn level.
    pub churn_level: Option<ChurnLevel>,
    /// Messages in the last minute.
    pub chat_rate_per_min: f64,
    /// Messages per minute, oldest first.
    pub chat_sparkline: Vec<i64>,
    /// Mean sentiment over 5 minutes.
    pub sentiment: Option<f64>,
    /// Messages since joined.
    pub messages_seen: u64,
}

/// A page of the fleet.
#[derive(Debug, Serialize)]
pub struct FleetPage {
    /// Channels matching the filter.
    pub total: usize,
    /// This page.
    pub items: Vec<FleetItem>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SortKey {
    Login,
    Status,
    Health,
    Churn,
    ChatRate,
    Sentiment,
}

fn parse_sort(q: &FleetQuery) -> Result<(SortKey, bool), ApiError> {
    let key = match q.sort.as_deref().unwrap_or("login") {
        "login" => SortKey::Login,
        "status" => SortKey::Status,
        "health" => SortKey::Health,
        "churn" => SortKey::Churn,
        "chat_rate" => SortKey::ChatRate,
        "sentiment" => SortKey::Sentiment,
        other => {
            return Err(ApiError::bad_request(
                "invalid_sort",
                format!(
                    "`sort` must be login, status, health, churn, chat_rate or sentiment, got {other:?}"
                ),
            ));
        }
    };
    let numeric = !matches!(key, SortKey::Login | SortKey::Status);
    let desc = match q.order.as_deref() {
        None => numeric,
        Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_order",
                format!("`order` must be asc or desc, got {other:?}"),
            ));
        }
    };
    Ok((key, desc))
}

async fn summary(state: &AppState, s: &ChannelStatus) -> Option<ChannelSummary> {
    if s.status != Lifecycle::Running {
        return None;
    }
    if let Some(published) = state.vitals.summary(&s.login) {
        metrics::counter!(m::FLEET_SUMMARY_READS, "source" => "board").increment(1);
        return Some(published);
    }
    metrics::counter!(m::FLEET_SUMMARY_READS, "source" => "actor").increment(1);
    let login = s.login.clone();
    route(state, |r| RouterMessage::Summary(login, r))
        .await
        .ok()
}

/// `GET /api/v1/fleet`
#[utoipa::path(get, path = "/api/v1/fleet", tag = "channels", summary = "Every channel side by side, sortable, filterable, paginated", params(FleetQuery), responses((status = 200, description = "A page of the fleet", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 400, description = "Bad query", body = ErrorBody), (status = 403, description = "Overlay tokens read the HUD only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn fleet(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiQuery(q): ApiQuery<FleetQuery>,
) -> Result<Response, ApiError> {
    let limit = super::intel::page_limit(q.limit.unwrap_or(100))? as usize;
    let offset = q.offset.unwrap_or(0);
    let (key, desc) = parse_sort(&q)?;
    // Refuses the roles that may not list (overlays) before anything is served.
    caller.scope_list(&mut Vec::new())?;
    let cache_key = format!(
        "{}|{limit}|{offset}|{key:?}|{desc}|{}",
        caller.channel().map_or("*", |c| c.as_str()),
        q.q.as_deref().map(str::trim).unwrap_or("")
    );
    if let Some(body) = state.fleet_pages.get(&cache_key) {
        metrics::counter!(m::FLEET_PAGES, "source" => "cache").increment(1);
        return Ok(json_body(body));
    }
    metrics::counter!(m::FLEET_PAGES, "source" => "rendered").increment(1);
    let page = render(&state, &caller, &q, limit, offset, key, desc).await?;
    let body = Bytes::from(
        serde_json::to_vec(&page)
            .map_err(|e| ApiError::Unavailable(format!("fleet page not rendered: {e}")))?,
    );
    state.fleet_pages.put(cache_key, body.clone());
    Ok(json_body(body))
}

fn json_body(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The page itself, from the vitals board and the trend cache.
async fn render(
    state: &AppState,
    caller: &super::access::Caller,
    q: &FleetQuery,
    limit: usize,
    offset: usize,
    key: SortKey,
    desc: bool,
) -> Result<FleetPage, ApiError> {
    let mut channels = route(state, RouterMessage::List).await?;
    caller.scope_list(&mut channels)?;
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let text = text.to_ascii_lowercase();
        channels.retain(|c| c.login.as_str().contains(&text));
    }
    let total = channels.len();

    // Numbers to sort by come from the live actors, so sorting by them needs every match;
    // sorting by login or status pages first and asks only for the page.
    let needs_all = !matches!(key, SortKey::Login | SortKey::Status);
    let mut rows: Vec<(ChannelStatus, Option<ChannelSummary>)> = if needs_all {
        stream::iter(channels)
            .map(|c| {
                let state = &state;
                async move {
                    let s = summary(state, &c).await;
                    (c, s)
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await
    } else {
        channels.into_iter().map(|c| (c, None)).collect()
    };
    let num = |s: &Option<ChannelSummary>| -> f64 {
        let v = s.as_ref().and_then(|s| match key {
            SortKey::Health => s.health,
            SortKey::Churn => s.churn_risk,
            SortKey::ChatRate => Some(s.chat_rate_per_min),
            SortKey::Sentiment => s.sentiment,
            SortKey::Login | SortKey::Status => None,
        });
        // Channels without a value sort last whatever the direction.
        v.unwrap_or(if desc {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        })
    };
    rows.sort_by(|(a, sa), (b, sb)| {
        let ord = match key {
            SortKey::Login => a.login.cmp(&b.login),
            SortKey::Status => a
                .status
                .label()
                .cmp(b.status.label())
                .then(a.login.cmp(&b.login)),
            _ => num(sa).total_cmp(&num(sb)).then(a.login.cmp(&b.login)),
        };
        if desc { ord.reverse() } else { ord }
    });
    let page: Vec<(ChannelStatus, Option<ChannelSummary>)> =
        rows.into_iter().skip(offset).take(limit).collect();
    let page: Vec<(ChannelStatus, Option<ChannelSummary>)> = if needs_all {
        page
    } else {
        stream::iter(page)
            .map(|(c, _)| {
                let state = &state;
                async move {
                    let s = summary(state, &c).await;
                    (c, s)
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await
    };

    // Trends: cached per channel; a database outage leaves them empty, not the page.
    let now = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .unwrap_or_else(|_| Utc::now());
    let since = now - Duration::minutes(TREND_MINUTES);
    let logins: Vec<String> = page.iter().map(|(c, _)| c.login.to_string()).collect();
    let (minutes, lookup) = state.trends.get(&state.pool, &logins, since).await;
    metrics::counter!(m::FLEET_TREND_READS, "source" => "cache").increment(lookup.hits as u64);
    metrics::counter!(m::FLEET_TREND_READS, "source" => "stale").increment(lookup.stale as u64);
    metrics::counter!(m::FLEET_TREND_READS, "source" => "database")
        .increment(lookup.fetched as u64);
    let items = page
        .into_iter()
        .map(|(c, s)| {
            let mut spark = vec![0i64; TREND_MINUTES as usize];
            let mut trend = vec![None; TREND_MINUTES as usize];
            for (minute, messages, health) in minutes
                .get(c.login.as_str())
                .into_iter()
                .flat_map(|r| r.iter())
            {
                let slot = (*minute - since).num_minutes();
                if let Ok(i) = usize::try_from(slot)
                    && i < spark.len()
                {
                    spark[i] = i64::from(*messages);
                    trend[i] = *health;
                }
            }
            FleetItem {
                login: c.login.to_string(),
                status: c.status,
                restarts: c.restarts,
                quarantine_reason: c.quarantine_reason,
                agent_paused: c.agent.paused,
                health: s.as_ref().and_then(|s| s.health),
                health_trend: trend,
                churn_risk: s.as_ref().and_then(|s| s.churn_risk),
                churn_level: s.as_ref().and_then(|s| s.churn_level),
                chat_rate_per_min: s.as_ref().map_or(0.0, |s| s.chat_rate_per_min),
                chat_sparkline: spark,
                sentiment: s.as_ref().and_then(|s| s.sentiment),
                messages_seen: c.messages_seen,
            }
        })
        .collect();
    Ok(FleetPage { total, items })
}

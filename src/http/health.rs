//! Probes and metrics: `/healthz` (the process answers), `/readyz` (database reachable and
//! IRC connected, with the details a human needs), `/metrics` (Prometheus text format), and
//! `/api/v1/runtime` (the same facts for the dashboard).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use byte_actors::metrics as m;
use byte_actors::persistence::PersistenceStats;
use byte_actors::ports::Store;
use serde::Serialize;

use super::AppState;
use super::error::ErrorBody;
use crate::ingest::IngestHealthView;

/// `GET /healthz`
pub async fn healthz() -> &'static str {
    "ok"
}

/// What readiness and the dashboard report.
#[derive(Debug, Serialize)]
pub struct RuntimeReport {
    /// Database reachable and IRC connected (or no channel to read).
    pub ready: bool,
    /// Whether the database answered just now.
    pub database_up: bool,
    /// True while the database is down: chat is still read and buffered.
    pub degraded: bool,
    /// IRC state.
    pub irc: IngestHealthView,
    /// Channels joined.
    pub channels: usize,
    /// Persistence counters (backlog = `queued_rows`).
    pub persistence: Option<PersistenceStats>,
}

async fn report(state: &AppState) -> RuntimeReport {
    let database_up = state.store.ping(Duration::from_secs(1)).await.is_ok();
    metrics::gauge!(m::DATABASE_UP).set(if database_up { 1.0 } else { 0.0 });
    let irc = state.ingest.view();
    let channels = state.directory.len();
    let persistence = byte_actors::rpc::ask(
        &state.persistence,
        byte_actors::persistence::PersistenceMessage::Stats,
        Duration::from_secs(1),
    )
    .await
    .ok();
    let irc_ok = irc.connected || channels == 0;
    RuntimeReport {
        ready: database_up && irc_ok,
        database_up,
        degraded: !database_up,
        irc,
        channels,
        persistence,
    }
}

/// `GET /readyz`: 200 when ready, 503 with the same body otherwise.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let r = report(&state).await;
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r))
}

/// `GET /api/v1/runtime`
#[utoipa::path(get, path = "/api/v1/runtime", tag = "operations", summary = "Database, IRC and persistence status (admin)", responses((status = 200, description = "Runtime report", body = serde_json::Value), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "Admin only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn runtime(
    State(state): State<AppState>,
    _admin: super::access::AdminOnly,
) -> Json<RuntimeReport> {
    Json(report(&state).await)
}

/// `GET /metrics`
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

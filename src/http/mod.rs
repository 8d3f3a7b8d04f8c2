//! The HTTP edge (axum): the `/api/v1` JSON API behind bearer auth, probes, `/metrics`, and
//! the dashboard's static files. `serve` takes a bound listener and a shutdown future, so
//! tests bind port 0 and stop the server when they are done.

pub mod access;
pub mod agent;
pub mod autonomy;
pub mod channels;
pub mod context_cache;
pub mod copilot;
pub mod dashboard;
pub mod error;
pub mod fleet;
pub mod health;
pub mod intel;
pub mod memory;
pub mod models;
pub mod openapi;
pub mod page_cache;
pub mod playbooks;
pub mod prompt;
pub mod reports;
pub mod stream;
pub mod tokens;
pub mod trends;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use byte_actors::directory::ChannelDirectory;
use byte_actors::metrics as m;
use byte_actors::persistence::PersistenceMessage;
use byte_actors::router::RouterMessage;
use ractor::ActorRef;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::ingest::IngestHealth;
use crate::store::PgStore;
use crate::telemetry::Exposition;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The Router actor.
    pub router: ActorRef<RouterMessage>,
    /// Persistence, for stats.
    pub persistence: ActorRef<PersistenceMessage>,
    /// Login -> actor map (channel count).
    pub directory: Arc<ChannelDirectory>,
    /// Database pool (lazy: the API answers 503 while the database is down).
    pub pool: PgPool,
    /// The store, for the readiness ping.
    pub store: Arc<PgStore>,
    /// IRC health.
    pub ingest: Arc<IngestHealth>,
    /// Token checks and their rate limits.
    pub access: Arc<access::Access>,
    /// Prometheus renderer (fleet metrics and the per-channel export).
    pub metrics: Exposition,
    /// Timeout of routed commands.
    pub call_timeout: Duration,
    /// Live HUD events.
    pub hud: byte_actors::agent::HudBus,
    /// The fleet-wide agent switch.
    pub suspend: Arc<byte_actors::agent::SuspendSwitch>,
    /// The co-pilot's services (models, prompts, reports, actions).
    pub copilot: crate::copilot::Copilot,
    /// The action queue (store, approvals, execution).
    pub actions: std::sync::Arc<crate::copilot::actions::ActionService>,
    /// Semantic memory (embeddings pool + pgvector store).
    pub memory: crate::memory::Memory,
    /// What each channel actor published at its last tick (the fleet view reads it).
    pub vitals: Arc<byte_actors::vitals::VitalsBoard>,
    /// The fleet view's per-minute trends, cached per channel.
    pub trends: Arc<trends::TrendCache>,
    /// Rendered fleet pages, kept for about one tick.
    pub fleet_pages: Arc<page_cache::PageCache>,
    /// Rendered channel contexts, kept for about one tick and dropped by writes.
    pub contexts: Arc<context_cache::ContextCache>,
}

/// Builds the application's routes.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/channels", get(channels::list).post(channels::join))
        .route(
            "/channels/{login}",
            get(channels::get).delete(channels::part),
        )
        .route("/channels/{login}/retry", post(channels::retry))
        .route("/channels/{login}/context", get(channels::context))
        .route("/channels/{login}/session", post(channels::session))
        .route("/channels/{login}/history", get(intel::history))
        .route("/channels/{login}/sessions", get(intel::sessions))
        .route("/channels/{login}/hints", get(intel::hints))
        .route("/channels/{login}/clips", get(intel::clips))
        .route(
            "/channels/{login}/tokens",
            get(tokens::list).post(tokens::create),
        )
        .route(
            "/channels/{login}/tokens/{token_id}",
            axum::routing::delete(tokens::revoke),
        )
        .route("/runtime", get(health::runtime))
        .route("/fleet", get(fleet::fleet))
        .route("/agent", get(agent::fleet))
        .route("/agent/suspend-all", post(agent::suspend_all))
        .route("/agent/resume-all", post(agent::resume_all))
        .route("/channels/{login}/agent", get(agent::get).put(agent::put))
        .route(
            "/channels/{login}/prompt-profile",
            get(prompt::get).put(prompt::put),
        )
        .route(
            "/channels/{login}/prompt-profile/versions",
            get(prompt::versions),
        )
        .route(
            "/channels/{login}/prompt-profile/rollback",
            post(prompt::rollback),
        )
        .route(
            "/channels/{login}/prompt-profile/preview",
            post(prompt::preview),
        )
        .route(
            "/channels/{login}/reports",
            get(reports::list).post(reports::generate),
        )
        .route("/channels/{login}/reports/{id}", get(reports::get))
        .route(
            "/channels/{login}/reports/{id}/markdown",
            get(reports::markdown),
        )
        .route("/models/catalog", get(models::catalog))
        .route("/channels/{login}/replies", get(copilot::list_replies))
        .route("/budgets", get(copilot::budgets))
        .route(
            "/channels/{login}/budget",
            get(copilot::channel_budget).put(copilot::set_channel_budget),
        )
        .route(
            "/channels/{login}/models",
            get(copilot::get_models).put(copilot::put_models),
        )
        .route("/channels/{login}/stream", get(stream::stream))
        .route("/channels/{login}/actions", get(autonomy::list))
        .route(
            "/channels/{login}/actions/{id}/approve",
            post(autonomy::approve),
        )
        .route(
            "/channels/{login}/actions/{id}/reject",
            post(autonomy::reject),
        )
        .route(
            "/channels/{login}/goals",
            get(autonomy::get_goals).put(autonomy::put_goals),
        )
        .route(
            "/channels/{login}/autonomy",
            get(autonomy::get_policy).put(autonomy::put_policy),
        )
        .route("/channels/{login}/autonomy/tick", post(autonomy::tick))
        .route("/playbooks", get(playbooks::list))
        .route(
            "/channels/{login}/playbooks/{name}/run",
            post(playbooks::run),
        )
        .route("/channels/{login}/playbooks/runs", get(playbooks::runs))
        .route(
            "/channels/{login}/memory",
            get(memory::list).put(memory::put),
        )
        .route("/channels/{login}/memory/search", get(memory::search))
        .route(
            "/channels/{login}/memory/{id}",
            axum::routing::delete(memory::delete),
        )
        .fallback(channels::not_found)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            invalidate_contexts,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            access::authenticate,
        ));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(dashboard::routes())
        .layer(middleware::from_fn(record_metrics))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .with_state(state)
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// After a successful write, drops the cached context of the channel it wrote to (or of
/// every channel, for fleet-wide writes such as suspend-all), so the writer's next read shows
/// its change. Runs after authentication, so refused requests invalidate nothing.
async fn invalidate_contexts(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let write = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let channel =
        write.then(|| context_cache::channel_of_path(request.uri().path()).map(str::to_owned));
    let response = next.run(request).await;
    if response.status().is_success() {
        match channel {
            Some(Some(login)) => state.contexts.invalidate(&login),
            Some(None) => state.contexts.invalidate_all(),
            None => {}
        }
    }
    response
}

/// Counts requests and their latency by route template (bounded), method and status.
async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(m::HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!(m::HTTP_SECONDS, "route" => route, "method" => method, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Client addresses feed the failed-authentication limiter.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

//! `GET /api/v1/models/catalog`: the configured models (per activity, and the per-channel
//! overrides the caller may see) and the endpoint's own model list.
//!
//! Any streamer, moderator or admin may read it: a streamer needs it to pick a model for
//! their channel, and it holds no secrets (model names and the endpoint's answer or error,
//! never the URL or key). A channel token sees only its own channel's overrides; overlay
//! tokens get 403, like every non-HUD route.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::access::{AnyCaller, Caller, Role};
use super::error::{ApiError, ErrorBody};
use crate::copilot::catalog::Catalog;

/// `GET /api/v1/models/catalog`
#[utoipa::path(get, path = "/api/v1/models/catalog", tag = "copilot", summary = "Configured models per activity and channel, plus the endpoint's model list", responses((status = 200, description = "Catalog", body = Catalog), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 403, description = "Overlay tokens read the HUD only", body = ErrorBody)), security(("bearer" = [])))]
pub async fn catalog(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
) -> Result<Json<Catalog>, ApiError> {
    let channels = match &caller {
        // Overrides of every joined channel (without the runtime: none are shown).
        Caller::Admin => super::channels::route(&state, byte_actors::router::RouterMessage::List)
            .await
            .map(|list| list.into_iter().map(|c| c.login).collect())
            .unwrap_or_default(),
        Caller::Channel {
            role: Role::Overlay,
            ..
        } => {
            return Err(ApiError::Forbidden(
                "an overlay token only reads its channel's HUD".into(),
            ));
        }
        Caller::Channel { channel, .. } => vec![channel.clone()],
    };
    Ok(Json(
        state
            .copilot
            .catalog
            .catalog(&state.copilot.resilient, &channels)
            .await,
    ))
}

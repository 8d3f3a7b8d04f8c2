//! `GET /api/v1/openapi.json`: the API described from the handlers themselves (utoipa), so
//! the document cannot drift from the routes. The dashboard parity test reads it too.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{agent, autonomy, channels, fleet, health, intel, memory, playbooks, stream, tokens};
use super::{copilot, models, prompt, reports};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Byte API",
        description = "Multi-channel Twitch co-pilot runtime. Bearer tokens: the admin token, or a per-channel streamer, moderator or overlay token (`byte_<id>_<secret>`)."
    ),
    paths(
        channels::list,
        channels::join,
        channels::get,
        channels::part,
        channels::retry,
        channels::context,
        channels::session,
        intel::history,
        intel::sessions,
        intel::hints,
        intel::clips,
        tokens::create,
        tokens::list,
        tokens::revoke,
        agent::get,
        agent::put,
        agent::fleet,
        agent::suspend_all,
        agent::resume_all,
        fleet::fleet,
        stream::stream,
        health::runtime,
        autonomy::list,
        autonomy::approve,
        autonomy::reject,
        autonomy::get_goals,
        autonomy::put_goals,
        autonomy::get_policy,
        autonomy::put_policy,
        autonomy::tick,
        playbooks::list,
        playbooks::run,
        playbooks::runs,
        memory::list,
        memory::put,
        memory::delete,
        memory::search,
        prompt::get,
        prompt::put,
        prompt::versions,
        prompt::rollback,
        prompt::preview,
        reports::list,
        reports::get,
        reports::markdown,
        reports::generate,
        models::catalog,
        copilot::list_replies,
        copilot::budgets,
        copilot::channel_budget,
        copilot::set_channel_budget,
        copilot::get_models,
        copilot::put_models,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "channels", description = "Joining, parting and watching channels"),
        (name = "intelligence", description = "Live context and history of a channel"),
        (name = "access", description = "Per-channel tokens"),
        (name = "control", description = "The agent's controls"),
        (name = "hud", description = "Live feed for the HUD and the OBS overlay"),
        (name = "operations", description = "Runtime status"),
        (name = "autonomy", description = "Goals, the autonomy policy, the action queue and ops playbooks"),
        (name = "memory", description = "The channel's semantic memory: entries and search by meaning"),
        (name = "copilot", description = "The prompt & persona studio, post-stream reports, the models catalog, chat replies, LLM budgets and per-channel models"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json` (no token needed: the API's shape is not a secret).
pub async fn document() -> impl IntoResponse {
    let body = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    ([(header::CONTENT_TYPE, "application/json")], body)
}

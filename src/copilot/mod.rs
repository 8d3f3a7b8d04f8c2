//! The co-pilot's edge: everything that turns the core's decisions into model calls and chat
//! lines, and the stores behind its control plane.
//!
//! The channel actor decides *whether* to act (triggers, debounce, cooldowns, autonomy: pure,
//! in `byte_actors::copilot`); the work that waits on the network happens here, off the actor.
//!
//! # Layout
//! - [`Copilot`]: the shared services every co-pilot handler and worker reaches.
//! - [`profiles`]: the prompt studio's [`profiles::ProfileBook`] (active profile per channel).
//! - [`catalog`]: the models catalog (routing plus the endpoint's own list, cached).
//! - [`reports`]: post-stream reports, generated when a session ends or on demand.
//! - [`replies`]: the reply workers (viewer question → model → chat).
//! - [`sender`]: the only way into chat.
//! - [`budget`]: daily LLM budgets around the model port.
//! - [`config`]: reply and budget settings.

pub mod actions;
pub mod budget;
pub mod catalog;
pub mod config;
pub mod profiles;
pub mod replies;
pub mod reports;
pub mod sender;

use std::sync::Arc;

use byte_actors::llm::LlmPort;

use crate::llm::Resilient;

/// The co-pilot's shared services.
#[derive(Clone)]
pub struct Copilot {
    /// The model port every activity goes through (routing, retries, breaker, fallback,
    /// budgets): it never fails, it falls back to the labelled rule-based engine.
    pub llm: Arc<dyn LlmPort>,
    /// The same service, for routing changes and its state.
    pub resilient: Arc<Resilient>,
    /// Every channel's active prompt profile (the reply worker reads `active(channel)`).
    pub profiles: Arc<profiles::ProfileBook>,
    /// The models catalog and its cached endpoint probe.
    pub catalog: Arc<catalog::ModelCatalog>,
    /// The only way into chat: pause/suspend, sanitising, Twitch's send limits, IRC.
    pub sender: Arc<sender::ChatSender>,
    /// Daily LLM budgets (the `llm` port reserves against them).
    pub budget: Arc<budget::Budget>,
}

impl std::fmt::Debug for Copilot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copilot").finish_non_exhaustive()
    }
}

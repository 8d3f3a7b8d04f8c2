//! The co-pilot's edge: everything that turns the core's decisions into model calls and chat
//! lines, and the stores behind its control plane.
//!
//! The channel actor decides *whether* to act (triggers, debounce, cooldowns, autonomy: pure,
//! in `byte_actors::copilot`); the work that waits on the network happens here, off the actor.
//!
//! # Layout
//! - [`Copilot`]: the shared services every co-pilot handler and worker reaches.

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
}

impl std::fmt::Debug for Copilot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copilot").finish_non_exhaustive()
    }
}

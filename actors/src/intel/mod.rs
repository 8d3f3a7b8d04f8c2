//! Channel intelligence: pure engines owned by the channel actor, each explained, not just
//! scored. They read [`signals::Signals`] and per-message [`signals::ChatFacts`] and run
//! over an injected clock (the `now` in their inputs), so every behaviour is testable
//! without sleeping.

pub(crate) mod bounded;
mod buckets;
pub mod churn;
pub mod clips;
pub mod coach;
pub mod compact;
pub mod facts;
pub mod health;
pub mod hint_log;
pub(crate) mod lists;
pub mod packed;
pub(crate) mod ring;
mod seen;
pub mod sentiment;
pub mod session;
pub(crate) mod shared;
pub mod signals;
pub mod windows;

//! Channel intelligence: pure engines owned by the channel actor, each explained, not just
//! scored. They read [`signals::Signals`] and per-message [`signals::ChatFacts`] and run
//! over an injected clock (the `now` in their inputs), so every behaviour is testable
//! without sleeping.

pub mod signals;
pub mod windows;
pub mod session;

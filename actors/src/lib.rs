//! Byte's core: the supervised actor tree and per-channel domain state, free of I/O.
//!
//! # Layout
//! - [`model`]: validated logins and the chat/event rows that flow through the system.
//! - [`ports`]: traits the edges implement (storage, chat source).
//! - [`channel`]: the per-channel actor and its `StreamContext`.
//! - [`supervisor`]: the channel supervisor and its per-channel restart policy.
//! - [`directory`]: the shared login -> actor map the ingest hot path reads.
//! - [`persistence`]: the batching writer in front of the store.
//! - [`ticker`]: the fleet ticker, one timer that runs every channel's engines each second.
//! - [`router`]: dispatches dashboard/API commands to the actors, always with a timeout.
//! - [`root`]: the root supervisor that starts the tree and the handle to drive it.
//! - [`memory`]: semantic memory's entries, embeddings port and pure enrichment rules.
//! - [`autonomy`]: session goals, ops playbooks and the bounded decision step behind the
//!   action queue.
//! - [`metrics`]: the metric catalogue.
//! - [`vitals`]: the board channel actors publish their health, churn, chat rate and
//!   sentiment to, for the edge's bounded per-channel export.

pub mod agent;
pub mod autonomy;
pub mod channel;
pub mod clock;
pub mod copilot;
pub mod directory;
pub mod faults;
pub mod intel;
pub mod llm;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod persistence;
pub mod ports;
pub mod root;
pub mod router;
pub mod rpc;
pub mod supervisor;
pub mod ticker;
pub mod vitals;

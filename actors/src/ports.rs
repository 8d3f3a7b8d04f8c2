//! Ports: what the core needs from the outside world, as traits the edges implement.
//! The core never names sqlx, axum or twitch-irc; the binary plugs real adapters in.

use std::time::Duration;

use async_trait::async_trait;

use crate::model::{ChatRecord, EventRecord};

/// How a write to the store failed, which decides whether Persistence retries it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, restarting, or the connection dropped: retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store rejected the data itself; retrying the same rows will fail the same way.
    #[error("store rejected the batch: {0}")]
    Rejected(String),
}

/// What a successful batch write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Chat rows newly inserted (duplicates of rows already stored are not counted).
    pub chat_inserted: u64,
    /// Event rows newly inserted.
    pub events_inserted: u64,
    /// Intelligence rows inserted or updated.
    pub intel_written: u64,
}

/// Durable storage for the raw chat and event stream.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes both slices in one transaction, idempotently: rows whose id is already stored
    /// are skipped. Slices are already free of duplicate ids.
    async fn write_batch(
        &self,
        chat: &[std::sync::Arc<ChatRecord>],
        events: &[std::sync::Arc<EventRecord>],
    ) -> Result<WriteOutcome, StoreError>;

    /// Upserts channel-intelligence rows (rollups, sessions, hints, clips, snapshots),
    /// idempotently; the slice holds at most one row per (kind, key).
    async fn write_intel(
        &self,
        rows: &[std::sync::Arc<crate::model::IntelRecord>],
    ) -> Result<u64, StoreError>;

    /// Cheap liveness probe used by readiness checks, bounded by `timeout`.
    async fn ping(&self, timeout: Duration) -> Result<(), StoreError>;
}

/// Where chat comes from: the edge that owns the IRC connections. Fire-and-forget, because
/// joins are rate-limited and queued on the other side.
pub trait ChatSource: Send + Sync + 'static {
    /// Start receiving this channel's chat.
    fn join(&self, login: &crate::model::ChannelLogin);
    /// Stop receiving this channel's chat.
    fn part(&self, login: &crate::model::ChannelLogin);
}

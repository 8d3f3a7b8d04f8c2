//! Ports: what the core needs from the outside world, as traits the edges implement.
//! The core never names sqlx, axum or twitch-irc; the binary plugs real adapters in.

use std::time::Duration;

use async_trait::async_trait;

use crate::model::{ChannelLogin, ChatRecord, EventRecord, Record};

/// Where autonomy's decisions leave the core (defined with the domain it serves).
pub use crate::autonomy::ActionSink;

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

    /// The channel's latest snapshot, if one was stored. A store that keeps no history (unit
    /// tests, benchmarks) has none.
    async fn load_snapshot(
        &self,
        _channel: &ChannelLogin,
    ) -> Result<Option<StoredSnapshot>, StoreError> {
        Ok(None)
    }

    /// The channel's chat and events with an ingest position above `after`, in position
    /// order, at most `limit` rows (call again from the last position for more).
    async fn replay(
        &self,
        _channel: &ChannelLogin,
        _after: i64,
        _limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        Ok(Vec::new())
    }
}

/// A channel snapshot as stored: the serialized state and the highest ingest position folded
/// into it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshot {
    /// The state, as the channel actor serialized it.
    pub state: serde_json::Value,
    /// Highest ingest position the state includes.
    pub watermark: i64,
}

/// Where chat comes from: the edge that owns the IRC connections. Fire-and-forget, because
/// joins are rate-limited and queued on the other side.
pub trait ChatSource: Send + Sync + 'static {
    /// Start receiving this channel's chat.
    fn join(&self, login: &crate::model::ChannelLogin);
    /// Stop receiving this channel's chat.
    fn part(&self, login: &crate::model::ChannelLogin);
}

/// How the local spill log failed.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// Reading, writing or syncing the log's files failed.
    #[error("spill log I/O on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Rows could not be encoded for the log.
    #[error("spill log encoding: {0}")]
    Encode(String),
}

/// Where in the spill log a read stopped. Persistence keeps it with the batch it read and
/// hands it back to [`SpillLog::release`] once that batch is committed, so the log deletes
/// only what the database already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SpillCursor {
    /// Segment number (segments are numbered in write order).
    pub segment: u64,
    /// Byte offset within the segment just past the last frame read.
    pub offset: u64,
}

/// What a spill log recovered from disk when it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpillRecovery {
    /// Rows found in intact frames, waiting to be written to the database.
    pub rows: u64,
    /// Frames dropped because their length or checksum did not match (a torn tail after a
    /// crash mid-write, or corruption). Never rows that a `sync` had made durable unless the
    /// disk itself lost them.
    pub corrupt_frames: u64,
    /// Bytes cut off the end of the last segment (a torn final write).
    pub truncated_bytes: u64,
}

/// Opens the spill log when Persistence starts (so a restarted runtime reopens, and
/// recovers, the same log).
pub trait SpillFactory: Send + Sync + 'static {
    /// Opens the log, recovering what an earlier process left in it.
    fn open(&self) -> Result<(Box<dyn SpillLog>, SpillRecovery), SpillError>;
}

/// A local, append-only, checksummed log Persistence spills rows to when the database is
/// unreachable or its memory buffer is full, so memory stays bounded whatever the outage
/// length and a process crash loses no row that was synced. Rows come back out of `read` in
/// the order they went into `append`, across segments and across process restarts.
///
/// Synchronous on purpose: only Persistence calls it, only while it is spilling or draining,
/// and then it has nothing else to do but wait for the disk.
pub trait SpillLog: Send + 'static {
    /// Appends rows at the end of the log (buffered: durable only after [`SpillLog::sync`]).
    fn append(&mut self, rows: &[crate::model::Record]) -> Result<(), SpillError>;
    /// Makes everything appended so far durable (flush + fsync of the data, and of the
    /// directory when a segment was created).
    fn sync(&mut self) -> Result<(), SpillError>;
    /// Reads up to `max` rows after the read cursor, oldest first, and advances it; returns
    /// the rows and the cursor just past them. Rows appended but not yet synced may be read.
    fn read(&mut self, max: usize) -> Result<(Vec<crate::model::Record>, SpillCursor), SpillError>;
    /// Everything up to `upto` is committed to the database: whole segments before it may be
    /// deleted, and once everything written has been read and released the log starts over
    /// empty, so disk use is bounded by the backlog, not by history.
    fn release(&mut self, upto: SpillCursor) -> Result<(), SpillError>;
    /// Rows appended (or recovered) and not yet read.
    fn unread_rows(&self) -> u64;
    /// Bytes the log occupies on disk.
    fn disk_bytes(&self) -> u64;
}

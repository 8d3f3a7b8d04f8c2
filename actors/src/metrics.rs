//! The metric catalogue: every metric Byte exports, declared once with its help text and
//! unit. Names follow Prometheus conventions (`_total` counters, base units in the name).
//! Labels are bounded: fleet metrics never carry a channel label, because a label per
//! channel across thousands of channels would break Prometheus.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Channel actors by status (`status` = running | restarting | quarantined).
pub const CHANNELS: &str = "byte_channels";
/// Channel actor restarts (`reason` = panic | start_failed).
pub const CHANNEL_RESTARTS: &str = "byte_channel_restarts_total";
/// Channels quarantined after exhausting their restart budget.
pub const CHANNEL_QUARANTINES: &str = "byte_channel_quarantines_total";
/// Time from a channel actor's failure to its replacement running.
pub const CHANNEL_RESTART_SECONDS: &str = "byte_channel_restart_duration_seconds";
/// IRC messages received, by command (`kind`).
pub const INGEST_MESSAGES: &str = "byte_ingest_messages_total";
/// Messages for a channel with no live actor (joined but restarting, or just parted).
pub const INGEST_UNROUTED: &str = "byte_ingest_unrouted_total";
/// Open IRC connections that are ready.
pub const IRC_CONNECTED: &str = "byte_irc_connected";
/// Channels waiting for a JOIN slot under Twitch's join rate limit.
pub const IRC_JOIN_QUEUE: &str = "byte_irc_join_queue";
/// JOINs sent.
pub const IRC_JOINS: &str = "byte_irc_joins_total";
/// Rows waiting in Persistence (buffered plus in flight).
pub const PERSIST_QUEUE_ROWS: &str = "byte_persistence_queue_rows";
/// Rows per batch written.
pub const PERSIST_BATCH_ROWS: &str = "byte_persistence_batch_rows";
/// Time to write one batch.
pub const PERSIST_FLUSH_SECONDS: &str = "byte_persistence_flush_duration_seconds";
/// Rows newly stored (`table` = chat | events).
pub const PERSIST_ROWS_WRITTEN: &str = "byte_persistence_rows_written_total";
/// Rows skipped as duplicates, in a batch or already stored.
pub const PERSIST_ROWS_DUPLICATE: &str = "byte_persistence_rows_duplicate_total";
/// Failed batch writes (`kind` = unavailable | rejected).
pub const PERSIST_ERRORS: &str = "byte_persistence_errors_total";
/// Rows the database refused even alone; written to the dead-letter log.
pub const PERSIST_DEAD_LETTER: &str = "byte_persistence_dead_letter_rows_total";
/// Router commands that timed out waiting for a channel actor.
pub const ROUTER_TIMEOUTS: &str = "byte_router_command_timeouts_total";
/// HTTP requests (`route`, `method`, `status`).
pub const HTTP_REQUESTS: &str = "byte_http_requests_total";
/// HTTP request latency (`route`, `method`).
pub const HTTP_SECONDS: &str = "byte_http_request_duration_seconds";
/// Coaching hints emitted (`kind` = one of the coach's fixed hint kinds).
pub const COACHING_HINTS: &str = "byte_coaching_hints_total";
/// Clip candidates detected.
pub const CLIP_CANDIDATES: &str = "byte_clip_candidates_total";
/// Whether the database answered the last readiness probe (1) or not (0).
pub const DATABASE_UP: &str = "byte_database_up";
/// Channel state restores (`outcome` = snapshot | replay_only | fresh | failed).
pub const CHANNEL_RESTORES: &str = "byte_channel_restores_total";
/// Time to restore a channel's state (flush, snapshot load, replay).
pub const CHANNEL_RESTORE_SECONDS: &str = "byte_channel_restore_duration_seconds";
/// Chat and event rows replayed into channel state on restore.
pub const CHANNEL_REPLAYED_ROWS: &str = "byte_channel_replayed_rows_total";
/// Rows a channel actor skipped because its restored state already held them.
pub const CHANNEL_SKIPPED_ROWS: &str = "byte_channel_skipped_rows_total";
/// Rows in the local spill log waiting for the database.
pub const PERSIST_SPILL_ROWS: &str = "byte_persistence_spill_rows";
/// Bytes the spill log occupies on disk.
pub const PERSIST_SPILL_BYTES: &str = "byte_persistence_spill_bytes";
/// Rows appended to the spill log.
pub const PERSIST_SPILLED_ROWS: &str = "byte_persistence_spilled_rows_total";
/// Spill log failures (`op` = append | sync | read | release).
pub const PERSIST_SPILL_ERRORS: &str = "byte_persistence_spill_errors_total";
/// Rows acknowledged: durable in the database or in the synced spill log.
pub const PERSIST_ACKED_ROWS: &str = "byte_persistence_acked_rows_total";
/// IRC reconnects observed (`cause` = reconnect_command | closed | silent).
pub const IRC_RECONNECTS: &str = "byte_irc_reconnects_total";
/// Time from losing the IRC connection to every wanted channel being joined again.
pub const IRC_RECOVERY_SECONDS: &str = "byte_irc_recovery_duration_seconds";

/// Registers help text and units with the installed recorder. Call once at start-up.
pub fn describe() {
    describe_gauge!(CHANNELS, "Channel actors by status.");
    describe_counter!(CHANNEL_RESTARTS, "Channel actor restarts by reason.");
    describe_counter!(
        CHANNEL_QUARANTINES,
        "Channels quarantined after too many restarts."
    );
    describe_histogram!(
        CHANNEL_RESTART_SECONDS,
        Unit::Seconds,
        "Time from a channel actor failure to its replacement running."
    );
    describe_counter!(INGEST_MESSAGES, "IRC messages received by command.");
    describe_counter!(INGEST_UNROUTED, "Messages for channels with no live actor.");
    describe_gauge!(
        IRC_CONNECTED,
        "Whether the IRC client has a ready connection."
    );
    describe_gauge!(IRC_JOIN_QUEUE, "Channels waiting for a JOIN slot.");
    describe_counter!(IRC_JOINS, "IRC JOIN commands sent.");
    describe_gauge!(PERSIST_QUEUE_ROWS, "Rows waiting to be written.");
    describe_histogram!(PERSIST_BATCH_ROWS, Unit::Count, "Rows per written batch.");
    describe_histogram!(PERSIST_FLUSH_SECONDS, Unit::Seconds, "Batch write latency.");
    describe_counter!(PERSIST_ROWS_WRITTEN, "Rows newly stored by table.");
    describe_counter!(PERSIST_ROWS_DUPLICATE, "Rows skipped as duplicates.");
    describe_counter!(PERSIST_ERRORS, "Failed batch writes by kind.");
    describe_counter!(
        PERSIST_DEAD_LETTER,
        "Rows refused by the database even alone."
    );
    describe_counter!(ROUTER_TIMEOUTS, "Router commands that timed out.");
    describe_counter!(HTTP_REQUESTS, "HTTP requests by route, method and status.");
    describe_histogram!(HTTP_SECONDS, Unit::Seconds, "HTTP request latency.");
    describe_gauge!(DATABASE_UP, "Whether the database answered the last probe.");
    describe_counter!(COACHING_HINTS, "Coaching hints emitted by kind.");
    describe_counter!(CLIP_CANDIDATES, "Clip candidates detected.");
    describe_counter!(CHANNEL_RESTORES, "Channel state restores by outcome.");
    describe_histogram!(
        CHANNEL_RESTORE_SECONDS,
        Unit::Seconds,
        "Time to restore a channel's state from snapshot and replay."
    );
    describe_counter!(
        CHANNEL_REPLAYED_ROWS,
        "Rows replayed into channel state on restore."
    );
    describe_counter!(
        CHANNEL_SKIPPED_ROWS,
        "Rows skipped because the restored state already held them."
    );
    describe_gauge!(
        PERSIST_SPILL_ROWS,
        "Rows in the spill log waiting for the database."
    );
    describe_gauge!(
        PERSIST_SPILL_BYTES,
        Unit::Bytes,
        "Bytes the spill log occupies on disk."
    );
    describe_counter!(PERSIST_SPILLED_ROWS, "Rows appended to the spill log.");
    describe_counter!(PERSIST_SPILL_ERRORS, "Spill log failures by operation.");
    describe_counter!(
        PERSIST_ACKED_ROWS,
        "Rows durable in the database or the synced spill log."
    );
    describe_counter!(IRC_RECONNECTS, "IRC reconnects by cause.");
    describe_histogram!(
        IRC_RECOVERY_SECONDS,
        Unit::Seconds,
        "Time from losing the IRC connection to all channels joined again."
    );
}

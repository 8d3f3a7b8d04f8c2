//! The Postgres adapter behind [`byte_actors::ports::Store`]: pool set-up, migrations, the
//! batched idempotent write path, and error classification.
//!
//! Write path: one transaction per batch. Chat rows, the bulk of it, go in with binary
//! `COPY` (`super::chat_copy`): one buffer, no bind parameters, no array expansion on the
//! server. Events, a few per batch, go in with one statement binding whole columns as arrays
//! and expanding them with `unnest`, so a batch is a handful of round trips whatever its size
//! (and never a statement with more than Postgres's 65,535 bind parameters).
//!
//! Why `SELECT unnest($1), unnest($2), ...` and not `SELECT * FROM UNNEST($1, $2, ...)`: the
//! multi-argument form is a function scan that first copies every row into a tuplestore and
//! reads it back; one `unnest` per column in the select list is a `ProjectSet` that streams
//! the arrays in lockstep (they have the same length). About 15 % less server time per batch
//! (measured with 5,000-row batches, see docs/benchmarks.md).
//!
//! Idempotency: every row has a primary key (Twitch's message id, the event id). The fast
//! path (COPY, plain INSERT) assumes the batch is new: it is free of duplicates (Persistence
//! removes them), so a conflict can only come from a row already stored (a retry after an
//! ambiguous commit, a replayed spill log, Twitch sending a line twice). Then the transaction
//! fails with a unique violation and the same batch is written again with
//! `INSERT ... ON CONFLICT (id) DO NOTHING`, which skips the stored rows; the next batches
//! keep that guard for a while, since duplicates come in runs (a spill log read back).
//! Speculative insertion (what `ON CONFLICT` costs on every row) is paid only then, and
//! `rows_affected` counts only new rows either way.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use byte_actors::model::{ChannelLogin, ChatRecord, EventRecord, IntelKind, IntelRecord, Record};
use byte_actors::ports::{Store, StoreError, StoredSnapshot, WriteOutcome};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::DbError;
use super::coalesce::Coalescer;

/// Most connections the shared pool opens (reads: API, restores, boot loads, readiness);
/// Postgres pays per connection.
const MAX_CONNECTIONS: u32 = 8;
/// Connections of the write path's own pool: Persistence has one batch in flight, plus its
/// intel rows. Apart from the shared pool so no burst of reads (thousands of channels
/// restoring at start, a dashboard storm) can take the connections chat is written with.
const WRITE_CONNECTIONS: u32 = 2;
/// Batched restore reads in flight at once (each answers up to `RESTORE_BATCH` channels).
/// At start every channel restores; one query each, thousands of them would queue on the
/// pool and time out there, so they are batched, and the pool keeps room for the API.
const RESTORE_READS: usize = 2;
/// Most channels one batched restore read answers.
const RESTORE_BATCH: usize = 256;
/// How long a caller waits for a pooled connection. Short, so an outage surfaces as
/// `Unavailable` within seconds and Persistence can back off, instead of writes queueing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections are closed after this, so a quiet process holds few server slots.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Server-side bound on any statement: a wedged query fails (57014, retryable) instead of
/// holding a connection forever.
const STATEMENT_TIMEOUT: &str = "30s";

/// Returns `url` with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host... — only the part between the first ':' after the scheme
    // and the last '@' before the path can be a password.
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// Removes the URL's password from driver messages, in case a driver error ever echoes it.
fn scrub(message: String, url: &str) -> String {
    match password_of(url) {
        Some(password) if !password.is_empty() => message.replace(&password, "***"),
        _ => message,
    }
}

fn password_of(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(userinfo[userinfo.find(':')? + 1..].to_owned())
}

fn parse_options(url: &str) -> Result<PgConnectOptions, DbError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| DbError::InvalidUrl(scrub(e.to_string(), url)))?;
    Ok(options
        .application_name("bytebot")
        .options([("statement_timeout", STATEMENT_TIMEOUT)]))
}

fn pool_options() -> PgPoolOptions {
    pool_options_of(MAX_CONNECTIONS)
}

fn pool_options_of(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(IDLE_TIMEOUT)
}

/// `url` with its database (path) replaced by `database`, keeping any query string.
pub fn with_database(url: &str, database: &str) -> String {
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_start = head.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = head[authority_start..]
        .find('/')
        .map(|i| authority_start + i)
        .unwrap_or(head.len());
    format!("{}/{database}{query}", &head[..path_start])
}

/// Opens a pool and checks that the database answers, failing within a few seconds when it
/// does not. The error shows the URL with its password redacted.
pub async fn connect(url: &str) -> Result<PgPool, DbError> {
    let options = parse_options(url)?;
    pool_options()
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect {
            target: redact_url(url),
            source,
        })
}

/// Builds a pool without connecting; the first query connects. For callers that must start
/// while the database is down and rely on [`PgStore::ping`] and retries instead.
pub fn connect_lazy(url: &str) -> Result<PgPool, DbError> {
    Ok(pool_options().connect_lazy_with(parse_options(url)?))
}

/// Like [`connect_lazy`], sized for the write path alone (see [`PgStore::with_writer`]).
pub fn connect_lazy_writer(url: &str) -> Result<PgPool, DbError> {
    Ok(pool_options_of(WRITE_CONNECTIONS).connect_lazy_with(parse_options(url)?))
}

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies pending migrations. Safe to run from several processes at once: sqlx serialises
/// them with an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Decides whether a failed write should be retried (`Unavailable`) or dropped as bad data
/// (`Rejected`).
///
/// Only errors that are a property of the rows themselves are `Rejected`: retrying them can
/// never succeed. Everything else, including errors we do not recognise, is `Unavailable`,
/// because wrongly dropping a batch loses chat for good while wrongly retrying only costs
/// time (and writes are idempotent).
pub fn classify_error(err: &sqlx::Error) -> StoreError {
    let message = err.to_string();
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code();
            let class = code.as_deref().map(|c| c.get(..2).unwrap_or(c));
            match class {
                // 22: data exception (bad encoding, out of range, invalid JSON text...).
                // 23: integrity constraint violation (NOT NULL, CHECK; not our ON CONFLICT).
                // 54: program limit exceeded (e.g. an index row too large for one value).
                Some("22" | "23" | "54") => StoreError::Rejected(message),
                // 08 connection exception, 40 serialization failure/deadlock, 53 insufficient
                // resources (too many connections, disk full, out of memory), 57 operator
                // intervention (admin/crash shutdown, cannot connect now, statement timeout),
                // 58 system I/O error, and anything else: retry.
                _ => StoreError::Unavailable(message),
            }
        }
        // Values the driver could not encode: the same rows fail the same way every time.
        sqlx::Error::Encode(_) => StoreError::Rejected(message),
        // Io, Tls, Protocol, PoolTimedOut, PoolClosed, WorkerCrashed, Configuration, ...
        _ => StoreError::Unavailable(message),
    }
}

/// After a batch met an already stored row, this many following batches are written with
/// `ON CONFLICT DO NOTHING` straight away (see the module doc).
const GUARDED_BATCHES: u32 = 64;

/// [`Store`] over a Postgres pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// Reads: restores.
    pool: PgPool,
    /// Batch and intel writes, and the health probe.
    write: PgPool,
    /// Restore reads, batched across channels; started on first use (needs a runtime).
    restores: Arc<std::sync::OnceLock<RestoreReads>>,
    /// Batches still to be written with `ON CONFLICT` before trying plain inserts again.
    guarded: Arc<std::sync::atomic::AtomicU32>,
}

/// Whether the error is a unique violation (SQLSTATE 23505): a row already stored.
fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

impl PgStore {
    /// Wraps a pool (see [`connect`]) for reads and writes alike; migrations must already
    /// be applied.
    pub fn new(pool: PgPool) -> Self {
        Self::with_writer(pool.clone(), pool)
    }

    /// Reads on `pool`, batch writes on `write` (see [`connect_lazy_writer`]), so writes
    /// never wait behind reads for a connection.
    pub fn with_writer(pool: PgPool, write: PgPool) -> Self {
        Self {
            pool,
            write,
            restores: Arc::default(),
            guarded: Arc::default(),
        }
    }

    /// The batched restore readers, started by the first restore.
    fn restore_reads(&self) -> &RestoreReads {
        self.restores
            .get_or_init(|| RestoreReads::spawn(self.pool.clone()))
    }

    /// One transaction: chat, then events; `on_conflict` skips rows already stored.
    async fn write_tx(
        &self,
        chat: &[Arc<ChatRecord>],
        events: &[Arc<EventRecord>],
        on_conflict: bool,
    ) -> Result<(u64, u64), sqlx::Error> {
        let mut tx = self.write.begin().await?;
        let chat_inserted = insert_chat(&mut tx, chat, on_conflict).await?;
        let events_inserted = insert_events(&mut tx, events, on_conflict).await?;
        // A failed commit is ambiguous (it may have landed); retrying is still correct because
        // a retry meets the stored rows as conflicts and skips them.
        tx.commit().await?;
        Ok((chat_inserted, events_inserted))
    }

    /// The underlying pool, for reads outside the write path.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PgStore {
    async fn write_batch(
        &self,
        chat: &[Arc<ChatRecord>],
        events: &[Arc<EventRecord>],
    ) -> Result<WriteOutcome, StoreError> {
        if chat.is_empty() && events.is_empty() {
            return Ok(WriteOutcome::default());
        }
        use std::sync::atomic::Ordering;
        let started = std::time::Instant::now();
        let err = |e: sqlx::Error| classify_error(&e);
        let guarded = self
            .guarded
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| g.checked_sub(1))
            .is_ok();
        let (chat_inserted, events_inserted) = match self.write_tx(chat, events, guarded).await {
            Err(e) if !guarded && is_unique_violation(&e) => {
                tracing::debug!("batch met stored rows; writing it again with ON CONFLICT");
                self.guarded.store(GUARDED_BATCHES, Ordering::Relaxed);
                self.write_tx(chat, events, true).await.map_err(err)?
            }
            other => other.map_err(err)?,
        };
        tracing::debug!(
            chat = chat.len(),
            chat_inserted,
            events = events.len(),
            events_inserted,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch written"
        );
        Ok(WriteOutcome {
            chat_inserted,
            events_inserted,
            intel_written: 0,
        })
    }

    async fn write_intel(&self, rows: &[Arc<IntelRecord>]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        write_intel_rows(&self.write, rows).await
    }

    // On the write pool: the probe answers whether writes can go through, and a read storm
    // on the shared pool must not make a healthy database look down (and send rows to spill).
    async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&self.write)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify_error(&e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "database did not answer within {timeout:?}"
            ))),
        }
    }

    async fn load_snapshot(
        &self,
        channel: &ChannelLogin,
    ) -> Result<Option<StoredSnapshot>, StoreError> {
        self.restore_reads().snapshots.call(channel.clone()).await
    }

    async fn replay(
        &self,
        channel: &ChannelLogin,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        self.restore_reads()
            .replays
            .call((channel.clone(), after, limit))
            .await
    }
}

/// The two reads a restore makes, each batched across the channels restoring at once.
struct RestoreReads {
    snapshots: Coalescer<ChannelLogin, Option<StoredSnapshot>>,
    replays: Coalescer<(ChannelLogin, i64, usize), Vec<Record>>,
}

impl std::fmt::Debug for RestoreReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreReads").finish_non_exhaustive()
    }
}

impl RestoreReads {
    fn spawn(pool: PgPool) -> Self {
        let snapshots = {
            let pool = pool.clone();
            Coalescer::spawn(
                RESTORE_READS,
                RESTORE_BATCH,
                move |channels: Vec<ChannelLogin>| {
                    let pool = pool.clone();
                    async move { load_snapshots(&pool, &channels).await }
                },
            )
        };
        let replays = Coalescer::spawn(RESTORE_READS, RESTORE_BATCH, move |requests| {
            let pool = pool.clone();
            async move {
                super::replay::read_many(&pool, &requests)
                    .await
                    .map_err(|e| classify_error(&e))
            }
        });
        Self { snapshots, replays }
    }
}

/// The stored snapshots of `channels`, in their order (`None`: the channel has none).
async fn load_snapshots(
    pool: &PgPool,
    channels: &[ChannelLogin],
) -> Result<Vec<Option<StoredSnapshot>>, StoreError> {
    let names: Vec<&str> = channels.iter().map(ChannelLogin::as_str).collect();
    let rows: Vec<(String, serde_json::Value, i64)> = sqlx::query_as(
        "SELECT channel, state, watermark_seq FROM channel_snapshots WHERE channel = ANY($1)",
    )
    .bind(&names)
    .fetch_all(pool)
    .await
    .map_err(|e| classify_error(&e))?;
    let mut by_channel: std::collections::HashMap<String, StoredSnapshot> = rows
        .into_iter()
        .map(|(channel, state, watermark)| (channel, StoredSnapshot { state, watermark }))
        .collect();
    // Each snapshot is handed over, not copied (it is a channel's whole state); only a
    // channel asked twice in one batch gets a copy, for all but its last request.
    let mut asked: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for n in &names {
        *asked.entry(n).or_default() += 1;
    }
    Ok(names
        .iter()
        .map(|n| {
            let left = asked.get_mut(n)?;
            *left -= 1;
            if *left == 0 {
                by_channel.remove(*n)
            } else {
                by_channel.get(*n).cloned()
            }
        })
        .collect())
}

/// The highest ingest position any stored snapshot covers (0 with none): the floor for new
/// positions, so rows ingested after a backwards clock step still sort after every snapshot.
pub async fn max_snapshot_watermark(pool: &PgPool) -> Result<i64, DbError> {
    let max: Option<i64> = sqlx::query_scalar("SELECT max(watermark_seq) FROM channel_snapshots")
        .fetch_one(pool)
        .await
        .map_err(DbError::query("read the highest snapshot watermark"))?;
    Ok(max.unwrap_or(0))
}

/// Postgres `text` cannot hold NUL. Ingest strips it from message text already; this guards
/// every other string so one odd tag cannot get a whole batch rejected. Borrows unless a NUL
/// is actually present.
pub(crate) fn no_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', ""))
    } else {
        Cow::Borrowed(s)
    }
}

/// Same as [`no_nul`] for JSON: jsonb rejects `\u0000` in strings and keys.
fn json_no_nul(value: &serde_json::Value) -> Cow<'_, serde_json::Value> {
    fn has_nul(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(has_nul),
            serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    fn strip(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => serde_json::Value::String(s.replace('\0', "")),
            serde_json::Value::Array(a) => a.iter().map(strip).collect(),
            serde_json::Value::Object(o) => o
                .iter()
                .map(|(k, v)| (k.replace('\0', ""), strip(v)))
                .collect(),
            other => other.clone(),
        }
    }
    if has_nul(value) {
        Cow::Owned(strip(value))
    } else {
        Cow::Borrowed(value)
    }
}

/// Chat insert for batches that may meet stored rows, columns and `unnest` order matching.
const INSERT_CHAT_ON_CONFLICT: &str = "INSERT INTO chat_messages (message_id, channel, room_id, \
     user_id, user_login, display_name, text, bits, badges, emotes, is_moderator, is_subscriber, \
     sent_at, received_at, seq) \
     SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), \
     unnest($5::text[]), unnest($6::text[]), unnest($7::text[]), unnest($8::int8[]), \
     unnest($9::text[]), unnest($10::text[]), unnest($11::bool[]), unnest($12::bool[]), \
     unnest($13::timestamptz[]), unnest($14::timestamptz[]), unnest($15::int8[]) \
     ON CONFLICT (message_id) DO NOTHING";

async fn insert_chat(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[Arc<ChatRecord>],
    on_conflict: bool,
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    if !on_conflict {
        return super::chat_copy::copy_chat(tx, "chat_messages", rows).await;
    }
    let n = rows.len();
    let mut message_id = Vec::with_capacity(n);
    let mut channel = Vec::with_capacity(n);
    let mut room_id = Vec::with_capacity(n);
    let mut user_id = Vec::with_capacity(n);
    let mut user_login = Vec::with_capacity(n);
    let mut display_name = Vec::with_capacity(n);
    let mut text = Vec::with_capacity(n);
    let mut bits: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut badges = Vec::with_capacity(n);
    let mut emotes = Vec::with_capacity(n);
    let mut is_moderator = Vec::with_capacity(n);
    let mut is_subscriber = Vec::with_capacity(n);
    let mut sent_at: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut received_at: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut seq: Vec<i64> = Vec::with_capacity(n);
    for r in rows {
        message_id.push(no_nul(&r.message_id));
        channel.push(no_nul(r.channel.as_str()));
        room_id.push(r.room_id.as_deref().map(no_nul));
        user_id.push(no_nul(&r.user_id));
        user_login.push(no_nul(&r.user_login));
        display_name.push(no_nul(&r.display_name));
        text.push(no_nul(&r.text));
        bits.push(r.bits);
        badges.push(no_nul(&r.badges));
        emotes.push(no_nul(&r.emotes));
        is_moderator.push(r.is_moderator);
        is_subscriber.push(r.is_subscriber);
        sent_at.push(r.sent_at);
        received_at.push(r.received_at);
        seq.push(r.seq);
    }
    let result = sqlx::query(INSERT_CHAT_ON_CONFLICT)
        .bind(message_id)
        .bind(channel)
        .bind(room_id)
        .bind(user_id)
        .bind(user_login)
        .bind(display_name)
        .bind(text)
        .bind(bits)
        .bind(badges)
        .bind(emotes)
        .bind(is_moderator)
        .bind(is_subscriber)
        .bind(sent_at)
        .bind(received_at)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    Ok(result.rows_affected())
}

/// Event insert, in the same shape as [`INSERT_CHAT_ON_CONFLICT`].
const INSERT_EVENTS: &str = "INSERT INTO channel_events (event_id, channel, kind, user_login, \
     amount, details, occurred_at, seq) \
     SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), \
     unnest($5::int8[]), unnest($6::jsonb[]), unnest($7::timestamptz[]), unnest($8::int8[])";
/// The same, skipping rows already stored.
const INSERT_EVENTS_ON_CONFLICT: &str = "INSERT INTO channel_events (event_id, channel, kind, \
     user_login, amount, details, occurred_at, seq) \
     SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]), \
     unnest($5::int8[]), unnest($6::jsonb[]), unnest($7::timestamptz[]), unnest($8::int8[]) \
     ON CONFLICT (event_id) DO NOTHING";

async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[Arc<EventRecord>],
    on_conflict: bool,
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let n = rows.len();
    let mut event_id = Vec::with_capacity(n);
    let mut channel = Vec::with_capacity(n);
    let mut kind = Vec::with_capacity(n);
    let mut user_login = Vec::with_capacity(n);
    let mut amount: Vec<Option<i64>> = Vec::with_capacity(n);
    // Cleaned copies only for the rare details holding NUL; the rest are bound by reference.
    let cleaned: Vec<Option<serde_json::Value>> = rows
        .iter()
        .map(|r| match json_no_nul(&r.details) {
            Cow::Owned(v) => Some(v),
            Cow::Borrowed(_) => None,
        })
        .collect();
    let mut details: Vec<&serde_json::Value> = Vec::with_capacity(n);
    let mut occurred_at: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut seq: Vec<i64> = Vec::with_capacity(n);
    for (r, cleaned) in rows.iter().zip(&cleaned) {
        event_id.push(no_nul(&r.event_id));
        channel.push(no_nul(r.channel.as_str()));
        kind.push(r.kind.as_str());
        user_login.push(r.user_login.as_deref().map(no_nul));
        amount.push(r.amount);
        details.push(cleaned.as_ref().unwrap_or(&r.details));
        occurred_at.push(r.occurred_at);
        seq.push(r.seq);
    }
    let result = sqlx::query(if on_conflict {
        INSERT_EVENTS_ON_CONFLICT
    } else {
        INSERT_EVENTS
    })
    .bind(event_id)
    .bind(channel)
    .bind(kind)
    .bind(user_login)
    .bind(amount)
    .bind(details)
    .bind(occurred_at)
    .bind(seq)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected())
}

/// Number of stored chat messages, in one channel or in all.
pub async fn count_chat(pool: &PgPool, channel: Option<&ChannelLogin>) -> Result<u64, DbError> {
    count(pool, "chat_messages", channel).await
}

/// Number of stored channel events, in one channel or in all.
pub async fn count_events(pool: &PgPool, channel: Option<&ChannelLogin>) -> Result<u64, DbError> {
    count(pool, "channel_events", channel).await
}

async fn count(
    pool: &PgPool,
    table: &'static str,
    channel: Option<&ChannelLogin>,
) -> Result<u64, DbError> {
    // `table` is one of two constants above, never user input.
    let n: i64 = match channel {
        Some(channel) => {
            sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE channel = $1"))
                .bind(channel.as_str())
                .fetch_one(pool)
                .await
        }
        None => {
            sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(pool)
                .await
        }
    }
    .map_err(DbError::query("count rows"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The upsert for each intelligence table. Rows arrive as JSON objects whose keys are the
/// table's columns; `jsonb_populate_recordset` turns them into typed rows in one statement.
fn intel_sql(kind: IntelKind) -> &'static str {
    match kind {
        IntelKind::Rollup => {
            "INSERT INTO channel_rollups SELECT * FROM jsonb_populate_recordset(NULL::channel_rollups, $1) \
             ON CONFLICT (channel, minute) DO UPDATE SET messages = EXCLUDED.messages, \
             chatters = EXCLUDED.chatters, new_chatters = EXCLUDED.new_chatters, \
             sentiment = EXCLUDED.sentiment, health = EXCLUDED.health, \
             health_factors = EXCLUDED.health_factors, churn_risk = EXCLUDED.churn_risk, \
             subs = EXCLUDED.subs, gifts = EXCLUDED.gifts, bits = EXCLUDED.bits, \
             raids = EXCLUDED.raids, hints = EXCLUDED.hints"
        }
        IntelKind::Session => {
            "INSERT INTO stream_sessions SELECT * FROM jsonb_populate_recordset(NULL::stream_sessions, $1) \
             ON CONFLICT (session_id) DO UPDATE SET ended_at = EXCLUDED.ended_at, \
             end_reason = EXCLUDED.end_reason, kpis = EXCLUDED.kpis, updated_at = EXCLUDED.updated_at \
             WHERE EXCLUDED.updated_at >= stream_sessions.updated_at"
        }
        IntelKind::Hint => {
            "INSERT INTO channel_hints SELECT * FROM jsonb_populate_recordset(NULL::channel_hints, $1) \
             ON CONFLICT (hint_id) DO NOTHING"
        }
        IntelKind::Clip => {
            "INSERT INTO clip_candidates SELECT * FROM jsonb_populate_recordset(NULL::clip_candidates, $1) \
             ON CONFLICT (clip_id) DO NOTHING"
        }
        IntelKind::Snapshot => {
            "INSERT INTO channel_snapshots SELECT * FROM jsonb_populate_recordset(NULL::channel_snapshots, $1) \
             ON CONFLICT (channel) DO UPDATE SET state = EXCLUDED.state, \
             watermark_seq = EXCLUDED.watermark_seq, taken_at = EXCLUDED.taken_at \
             WHERE EXCLUDED.watermark_seq >= channel_snapshots.watermark_seq"
        }
    }
}

/// Writes intelligence rows, one statement per table, in one transaction.
pub(crate) async fn write_intel_rows(
    pool: &PgPool,
    rows: &[Arc<IntelRecord>],
) -> Result<u64, StoreError> {
    let err = |e: sqlx::Error| classify_error(&e);
    let mut tx = pool.begin().await.map_err(err)?;
    let mut written = 0;
    for kind in [
        IntelKind::Rollup,
        IntelKind::Session,
        IntelKind::Hint,
        IntelKind::Clip,
        IntelKind::Snapshot,
    ] {
        // Borrowed, serialized straight into the parameter: a copy of each row's tree
        // (snapshots are whole channel states) cost more than the write itself.
        let group: Vec<Cow<'_, serde_json::Value>> = rows
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| json_no_nul(&r.row))
            .collect();
        if group.is_empty() {
            continue;
        }
        written += sqlx::query(intel_sql(kind))
            .bind(sqlx::types::Json(&group))
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
    }
    tx.commit().await.map_err(err)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/old?sslmode=disable", "new"),
            "postgres://u:p@h:5432/new?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "new"),
            "postgres://h:5432/new"
        );
    }

    #[test]
    fn redaction_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db.example:5432/bytebot?sslmode=require"),
            "postgres://app:***@db.example:5432/bytebot?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://bytebot@127.0.0.1:5432/bytebot"),
            "postgres://bytebot@127.0.0.1:5432/bytebot"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(password_of("postgres://u:p@w@h/db").as_deref(), Some("p@w"));
    }

    #[test]
    fn nul_is_stripped_without_copying_clean_values() {
        assert!(matches!(no_nul("clean"), Cow::Borrowed(_)));
        assert_eq!(no_nul("a\0b"), "ab");
        let clean = serde_json::json!({"a": ["x", 1]});
        assert!(matches!(json_no_nul(&clean), Cow::Borrowed(_)));
        let dirty = serde_json::json!({"k\u{0}": ["x\u{0}y", {"z": "\u{0}"}]});
        assert_eq!(
            json_no_nul(&dirty).into_owned(),
            serde_json::json!({"k": ["xy", {"z": ""}]})
        );
    }
}

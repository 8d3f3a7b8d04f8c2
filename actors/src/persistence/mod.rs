//! The Persistence actor: batches raw chat and event rows and writes them through the
//! [`Store`] port, one batch in flight at a time.
//!
//! Batching is by size and time: a full batch is written at once, a partial one on the next
//! tick; while a write is in flight new rows keep queueing, so batches grow with load (group
//! commit). Unavailable-store errors are retried with capped exponential backoff, the batch
//! kept at the head of the line so rows land in arrival order. A batch the database rejects
//! is split in halves until the offending row is isolated and dead-lettered, so one poison
//! row cannot block the stream.
//!
//! Memory is bounded by the spill log (a [`SpillLog`] port, a local append-only file): when
//! the database has been unavailable for `spill_after`, or the memory queue holds
//! `buffer_rows`, the queue moves to the log and every new row follows it there until the log
//! is drained again. Rows keep their arrival order through the log: while it holds unread
//! rows nothing is queued in memory, and it is read back only once memory is empty. A row
//! is *acknowledged* once it is committed to the database or synced in the log (the log is
//! fsynced on every tick), which is what a process crash can no longer lose; the log's
//! contents are written again when the process restarts, idempotently.
//!
//! On a graceful stop whatever could not be written before the deadline goes to the log.

pub mod batch;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::metrics as m;
use crate::model::Record;
use crate::ports::{SpillLog, Store, StoreError, WriteOutcome};
use batch::Batch;

/// Batching and retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PersistenceConfig {
    /// Most rows written in one batch.
    pub max_batch_rows: usize,
    /// How long a partial batch may wait before it is written.
    pub flush_interval: Duration,
    /// First retry delay after the store was unavailable.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long a graceful stop keeps trying to write what is left.
    pub shutdown_timeout: Duration,
    /// Most rows kept in memory; beyond that rows go to the spill log.
    pub buffer_rows: usize,
    /// How long the store may be unavailable before queued rows go to the spill log.
    pub spill_after: Duration,
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        Self {
            max_batch_rows: 5_000,
            flush_interval: Duration::from_millis(100),
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            buffer_rows: 100_000,
            spill_after: Duration::from_secs(2),
        }
    }
}

/// Counters describing the writer, for the API, readiness and tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistenceStats {
    /// Rows handed to Persistence.
    pub received_rows: u64,
    /// Every row received up to this sequence number is durable (or a known duplicate).
    pub durable_rows: u64,
    /// Rows waiting, in flight included.
    pub queued_rows: u64,
    /// Chat rows newly stored.
    pub chat_written: u64,
    /// Event rows newly stored.
    pub events_written: u64,
    /// Rows skipped as duplicates (in a batch, or already stored).
    pub duplicates: u64,
    /// Rows the database refused even alone.
    pub dead_lettered: u64,
    /// Failed writes in a row; zero when the last write succeeded.
    pub consecutive_failures: u32,
    /// Writes that failed because the store was unavailable (each retried), ever.
    pub failed_writes: u64,
    /// The last write error, if the last write failed.
    pub last_error: Option<String>,
    /// Rows acknowledged: committed to the database, or synced in the spill log.
    pub acked_rows: u64,
    /// Chat rows acknowledged (what a crash can no longer lose).
    pub acked_chat_rows: u64,
    /// Rows in the spill log not yet read back.
    pub spill_rows: u64,
    /// Bytes the spill log occupies.
    pub spill_bytes: u64,
    /// Rows ever appended to the spill log by this process.
    pub spilled_rows: u64,
    /// Most rows held in memory at once (queue, retries, in flight).
    pub peak_memory_rows: u64,
    /// Rows recovered from a spill log an earlier process left.
    pub recovered_rows: u64,
    /// The last spill log error, if the last spill operation failed.
    pub spill_error: Option<String>,
}

/// Messages Persistence handles.
#[derive(Debug)]
pub enum PersistenceMessage {
    /// Rows to store, in arrival order.
    Rows(Vec<Record>),
    /// Periodic flush of a partial batch.
    Tick,
    /// The in-flight write finished.
    FlushDone(Result<WriteOutcome, StoreError>),
    /// The backoff after a failed write is over.
    RetryDue,
    /// Reply once every row received before this request is durable.
    Flush(RpcReplyPort<PersistenceStats>),
    /// Reply with the current counters.
    Stats(RpcReplyPort<PersistenceStats>),
}

/// What Persistence starts from.
pub struct PersistenceArgs {
    /// The store to write to.
    pub store: Arc<dyn Store>,
    /// Batching settings.
    pub config: PersistenceConfig,
    /// The spill log, with the rows it recovered from an earlier process; without one the
    /// memory queue is unbounded during an outage.
    pub spill: Option<(Box<dyn SpillLog>, u64)>,
}

impl std::fmt::Debug for PersistenceArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistenceArgs")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct InFlight {
    batch: Batch,
    started: Instant,
    task: JoinHandle<Result<WriteOutcome, StoreError>>,
}

/// Persistence state.
pub struct PersistenceState {
    store: Arc<dyn Store>,
    config: PersistenceConfig,
    spill: Option<Box<dyn SpillLog>>,
    /// One entry per frame appended to the spill log, oldest first: (rows, arrival number
    /// of the last row it covers), so a read knows how far the watermark may move once the
    /// rows it returned are committed.
    spill_marks: VecDeque<(u64, u64)>,
    /// Rows of the front mark already read.
    spill_mark_used: u64,
    /// Rows appended to the log since its last sync: (all, chat).
    unsynced: (u64, u64),
    unavailable_since: Option<Instant>,
    queue: VecDeque<Record>,
    retry_queue: VecDeque<Batch>,
    in_flight: Option<InFlight>,
    retry_scheduled: bool,
    /// Flush requests by target, oldest first: targets only grow (rows are numbered in
    /// arrival order), so the ones due are always at the front. At start every channel's
    /// restore flushes, 100,000 waiters at 100,000 channels.
    waiters: VecDeque<(u64, RpcReplyPort<PersistenceStats>)>,
    ticker: Option<JoinHandle<()>>,
    stats: PersistenceStats,
}

impl PersistenceState {
    fn queued(&self) -> u64 {
        let waiting: usize = self.retry_queue.iter().map(Batch::len).sum();
        let flying = self.in_flight.as_ref().map_or(0, |f| f.batch.len());
        (self.queue.len() + waiting + flying) as u64
    }

    fn publish(&mut self) {
        self.stats.queued_rows = self.queued();
        self.stats.peak_memory_rows = self.stats.peak_memory_rows.max(self.stats.queued_rows);
        metrics::gauge!(m::PERSIST_QUEUE_ROWS).set(self.stats.queued_rows as f64);
        if let Some(spill) = &self.spill {
            self.stats.spill_rows = spill.unread_rows();
            self.stats.spill_bytes = spill.disk_bytes();
            metrics::gauge!(m::PERSIST_SPILL_ROWS).set(self.stats.spill_rows as f64);
            metrics::gauge!(m::PERSIST_SPILL_BYTES).set(self.stats.spill_bytes as f64);
        }
    }

    /// Whether memory holds rows the spill log has no copy of.
    fn holds_unspilled(&self) -> bool {
        !self.queue.is_empty()
            || self.retry_queue.iter().any(|b| !b.from_spill)
            || self.in_flight.as_ref().is_some_and(|f| !f.batch.from_spill)
    }

    fn spill_unread(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.unread_rows())
    }

    fn spill_failed(&mut self, op: &'static str, err: &crate::ports::SpillError) {
        metrics::counter!(m::PERSIST_SPILL_ERRORS, "op" => op).increment(1);
        tracing::error!(op, error = %err, "spill log failed; rows stay in memory");
        self.stats.spill_error = Some(format!("{op}: {err}"));
    }

    /// Whether new rows must go to the spill log: it still holds unread rows (order), memory
    /// is full, or the store has been down long enough that holding rows in memory only
    /// risks losing them.
    fn should_spill(&self) -> bool {
        self.spill.is_some()
            && (self.spill_unread() > 0
                || self.queue.len() >= self.config.buffer_rows
                || self
                    .unavailable_since
                    .is_some_and(|t| t.elapsed() >= self.config.spill_after))
    }

    /// Appends rows to the spill log as one frame covering arrival numbers up to `last`;
    /// gives them back if the log failed.
    fn append_to_spill(&mut self, rows: Vec<Record>, last: u64) -> Result<(), Vec<Record>> {
        let Some(spill) = self.spill.as_mut() else {
            return Err(rows);
        };
        if rows.is_empty() {
            return Ok(());
        }
        match spill.append(&rows) {
            Ok(()) => {
                let chat = rows.iter().filter(|r| matches!(r, Record::Chat(_))).count() as u64;
                self.unsynced.0 += rows.len() as u64;
                self.unsynced.1 += chat;
                self.stats.spilled_rows += rows.len() as u64;
                self.spill_marks.push_back((rows.len() as u64, last));
                metrics::counter!(m::PERSIST_SPILLED_ROWS).increment(rows.len() as u64);
                Ok(())
            }
            Err(err) => {
                self.spill_failed("append", &err);
                Err(rows)
            }
        }
    }

    /// Takes in newly arrived rows (already counted in `received_rows`).
    fn accept(&mut self, rows: Vec<Record>) {
        if !self.should_spill() {
            self.queue.extend(rows);
            return;
        }
        if self.spill_unread() == 0 {
            self.enter_spill(rows);
        } else if let Err(back) = self.append_to_spill(rows, self.stats.received_rows) {
            self.queue.extend(back);
        }
    }

    /// Moves everything held in memory into the empty spill log, oldest first, followed by
    /// `incoming`. Batches being written or retried stay in memory too (they may still
    /// land), but their copy in the log makes them durable now; they are marked as spilled
    /// so their commit acknowledges nothing twice, and the copy is skipped as a duplicate
    /// when it is read back.
    fn enter_spill(&mut self, incoming: Vec<Record>) {
        let mut held: Vec<(Vec<Record>, u64)> = Vec::new();
        if let Some(flight) = self.in_flight.as_mut()
            && !flight.batch.from_spill
        {
            held.push((flight.batch.records(), flight.batch.last_seq));
            flight.batch.from_spill = true;
        }
        for batch in self.retry_queue.iter_mut().filter(|b| !b.from_spill) {
            held.push((batch.records(), batch.last_seq));
            batch.from_spill = true;
        }
        let mut newest: Vec<Record> = self.queue.drain(..).collect();
        newest.extend(incoming);
        held.push((newest, self.stats.received_rows));
        let mut failed = Vec::new();
        for (rows, last) in held {
            if let Err(back) = self.append_to_spill(rows, last) {
                failed.push(back);
            }
        }
        // Only the newest rows can fall back to memory: copies of held batches are still
        // held. (Losing that order costs nothing: every write is idempotent.)
        if let Some(back) = failed.pop() {
            self.queue.extend(back);
        }
    }

    /// Makes spilled rows durable; they are acknowledged from here on.
    fn sync_spill(&mut self) {
        if self.unsynced.0 == 0 {
            return;
        }
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        match spill.sync() {
            Ok(()) => {
                let (all, chat) = std::mem::take(&mut self.unsynced);
                self.stats.acked_rows += all;
                self.stats.acked_chat_rows += chat;
                self.stats.spill_error = None;
                metrics::counter!(m::PERSIST_ACKED_ROWS).increment(all);
            }
            Err(err) => self.spill_failed("sync", &err),
        }
    }

    fn next_batch(&mut self) -> Option<Batch> {
        if let Some(b) = self.retry_queue.pop_front() {
            return Some(b);
        }
        // The log's unread rows are older than anything queued: the queue only fills while
        // the log holds unread rows if appending to the log failed.
        if self.spill_unread() > 0
            && let Some(b) = self.batch_from_spill()
        {
            return Some(b);
        }
        if self.queue.is_empty() {
            return None;
        }
        let take = self.queue.len().min(self.config.max_batch_rows);
        // Rows are numbered in arrival order and the queue holds the newest; the batch
        // covers the oldest `take` of them.
        let last_seq = self.stats.received_rows - (self.queue.len() - take) as u64;
        let batch = Batch::take(&mut self.queue, take, last_seq);
        self.stats.duplicates += batch.duplicates;
        metrics::counter!(m::PERSIST_ROWS_DUPLICATE).increment(batch.duplicates);
        Some(batch)
    }

    /// Accounts for `n` rows read back; returns the arrival number the watermark may move to
    /// once they are committed. Reads return whole frames, so only the rows recovered at
    /// start-up (one mark, numbered contiguously) are ever consumed part way.
    fn consume_marks(&mut self, mut n: u64) -> u64 {
        let mut last = 0;
        while n > 0 {
            let Some(&(rows, mark)) = self.spill_marks.front() else {
                break;
            };
            let left = rows - self.spill_mark_used;
            if n >= left {
                n -= left;
                last = mark;
                self.spill_marks.pop_front();
                self.spill_mark_used = 0;
            } else {
                self.spill_mark_used += n;
                last = mark - (rows - self.spill_mark_used);
                n = 0;
            }
        }
        last
    }

    /// The next batch read back from the spill log, once memory is empty.
    fn batch_from_spill(&mut self) -> Option<Batch> {
        let spill = self.spill.as_mut()?;
        if spill.unread_rows() == 0 {
            return None;
        }
        let (rows, cursor) = match spill.read(self.config.max_batch_rows) {
            Ok(read) => read,
            Err(err) => {
                self.spill_failed("read", &err);
                return None;
            }
        };
        if rows.is_empty() {
            return None;
        }
        let last_seq = self.consume_marks(rows.len() as u64);
        let mut rows: VecDeque<Record> = rows.into();
        let mut batch = Batch::take(&mut rows, usize::MAX, last_seq);
        batch.from_spill = true;
        batch.spill_cursor = Some(cursor);
        self.stats.duplicates += batch.duplicates;
        metrics::counter!(m::PERSIST_ROWS_DUPLICATE).increment(batch.duplicates);
        Some(batch)
    }

    fn start_write(&mut self, myself: &ActorRef<PersistenceMessage>) {
        if self.in_flight.is_some() || self.retry_scheduled {
            return;
        }
        let Some(batch) = self.next_batch() else {
            return;
        };
        if batch.is_empty() {
            // All duplicates: nothing to write, but the watermark still moves.
            self.advance(batch.last_seq);
            return self.start_write(myself);
        }
        let store = self.store.clone();
        let (chat, events, intel) = (
            batch.chat.clone(),
            batch.events.clone(),
            batch.intel.clone(),
        );
        let me = myself.clone();
        let task = tokio::spawn(async move {
            let result = write_all(store.as_ref(), &chat, &events, &intel).await;
            // If Persistence is gone, post_stop awaits this task and handles the result.
            let _ = me.cast(PersistenceMessage::FlushDone(result.clone()));
            result
        });
        self.in_flight = Some(InFlight {
            batch,
            started: Instant::now(),
            task,
        });
    }

    fn advance(&mut self, last_seq: u64) {
        self.stats.durable_rows = self.stats.durable_rows.max(last_seq);
        let durable = self.stats.durable_rows;
        if self.waiters.front().is_none_or(|(t, _)| *t > durable) {
            return;
        }
        let stats = self.stats.clone();
        while self.waiters.front().is_some_and(|(t, _)| *t <= durable) {
            if let Some((_, reply)) = self.waiters.pop_front() {
                let _ = reply.send(stats.clone());
            }
        }
    }

    fn release_spill(&mut self, cursor: Option<crate::ports::SpillCursor>) {
        if let (Some(spill), Some(cursor)) = (self.spill.as_mut(), cursor)
            && let Err(err) = spill.release(cursor)
        {
            self.spill_failed("release", &err);
        }
    }

    /// Applies a write result; returns the delay before the next attempt on failure.
    fn complete(
        &mut self,
        batch: Batch,
        elapsed: Duration,
        result: Result<WriteOutcome, StoreError>,
    ) -> Option<Duration> {
        metrics::histogram!(m::PERSIST_FLUSH_SECONDS).record(elapsed.as_secs_f64());
        match result {
            Ok(outcome) => {
                metrics::histogram!(m::PERSIST_BATCH_ROWS).record(batch.len() as f64);
                metrics::counter!(m::PERSIST_ROWS_WRITTEN, "table" => "chat")
                    .increment(outcome.chat_inserted);
                metrics::counter!(m::PERSIST_ROWS_WRITTEN, "table" => "events")
                    .increment(outcome.events_inserted);
                let skipped = (batch.len() as u64).saturating_sub(
                    outcome.chat_inserted + outcome.events_inserted + outcome.intel_written,
                );
                metrics::counter!(m::PERSIST_ROWS_DUPLICATE).increment(skipped);
                self.stats.chat_written += outcome.chat_inserted;
                self.stats.events_written += outcome.events_inserted;
                self.stats.duplicates += skipped;
                self.stats.consecutive_failures = 0;
                self.stats.last_error = None;
                self.unavailable_since = None;
                if !batch.from_spill {
                    // New rows only: a row already stored was acknowledged back then.
                    let acked = outcome.chat_inserted + outcome.events_inserted;
                    self.stats.acked_rows += acked;
                    self.stats.acked_chat_rows += outcome.chat_inserted;
                    metrics::counter!(m::PERSIST_ACKED_ROWS).increment(acked);
                }
                self.release_spill(batch.spill_cursor);
                self.advance(batch.last_seq);
                None
            }
            Err(StoreError::Rejected(reason)) if batch.len() > 1 => {
                metrics::counter!(m::PERSIST_ERRORS, "kind" => "rejected").increment(1);
                tracing::warn!(rows = batch.len(), %reason, "batch rejected; bisecting to isolate the bad row");
                let (first, second) = batch.split();
                self.retry_queue.push_front(second);
                self.retry_queue.push_front(first);
                None
            }
            Err(StoreError::Rejected(reason)) => {
                metrics::counter!(m::PERSIST_ERRORS, "kind" => "rejected").increment(1);
                metrics::counter!(m::PERSIST_DEAD_LETTER).increment(1);
                let id = batch
                    .chat
                    .first()
                    .map(|c| c.message_id.clone())
                    .or_else(|| batch.events.first().map(|e| e.event_id.clone()))
                    .or_else(|| {
                        batch
                            .intel
                            .first()
                            .map(|i| format!("{:?}:{}", i.kind, i.key))
                    })
                    .unwrap_or_default();
                tracing::error!(row_id = %id, %reason, "row refused by the database; dead-lettered");
                self.stats.dead_lettered += 1;
                self.release_spill(batch.spill_cursor);
                self.advance(batch.last_seq);
                None
            }
            Err(StoreError::Unavailable(reason)) => {
                metrics::counter!(m::PERSIST_ERRORS, "kind" => "unavailable").increment(1);
                self.stats.consecutive_failures += 1;
                self.stats.failed_writes += 1;
                self.stats.last_error = Some(reason.clone());
                self.unavailable_since.get_or_insert_with(Instant::now);
                let exp = self.stats.consecutive_failures.saturating_sub(1).min(16);
                let delay = self
                    .config
                    .retry_base
                    .saturating_mul(1u32 << exp)
                    .min(self.config.retry_max);
                tracing::warn!(rows = batch.len(), %reason, retry_in_ms = delay.as_millis() as u64, "store unavailable; will retry");
                self.retry_queue.push_front(batch);
                Some(delay)
            }
        }
    }
}

/// Writes the raw streams, then the intelligence rows; both idempotent, so a retry after a
/// partial success is harmless.
async fn write_all(
    store: &dyn Store,
    chat: &[Arc<crate::model::ChatRecord>],
    events: &[Arc<crate::model::EventRecord>],
    intel: &[Arc<crate::model::IntelRecord>],
) -> Result<WriteOutcome, StoreError> {
    let mut outcome = if chat.is_empty() && events.is_empty() {
        WriteOutcome::default()
    } else {
        store.write_batch(chat, events).await?
    };
    if !intel.is_empty() {
        outcome.intel_written = store.write_intel(intel).await?;
    }
    Ok(outcome)
}

/// The Persistence actor behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct Persistence;

impl Actor for Persistence {
    type Msg = PersistenceMessage;
    type State = PersistenceState;
    type Arguments = PersistenceArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: PersistenceArgs,
    ) -> Result<PersistenceState, ActorProcessingErr> {
        let ticker = myself.send_interval(args.config.flush_interval, || PersistenceMessage::Tick);
        let (spill, recovered) = match args.spill {
            Some((log, recovered)) => (Some(log), recovered),
            None => (None, 0),
        };
        if recovered > 0 {
            tracing::warn!(
                rows = recovered,
                "spill log holds rows from an earlier run; writing them first"
            );
        }
        Ok(PersistenceState {
            store: args.store,
            config: args.config,
            spill,
            // Recovered rows are numbered 1..=recovered, ahead of everything this run receives.
            spill_marks: (recovered > 0)
                .then_some((recovered, recovered))
                .into_iter()
                .collect(),
            spill_mark_used: 0,
            unsynced: (0, 0),
            unavailable_since: None,
            queue: VecDeque::new(),
            retry_queue: VecDeque::new(),
            in_flight: None,
            retry_scheduled: false,
            waiters: VecDeque::new(),
            ticker: Some(ticker),
            stats: PersistenceStats {
                received_rows: recovered,
                recovered_rows: recovered,
                ..PersistenceStats::default()
            },
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: PersistenceMessage,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PersistenceMessage::Rows(rows) => {
                state.stats.received_rows += rows.len() as u64;
                state.accept(rows);
                if state.queue.len() >= state.config.max_batch_rows {
                    state.start_write(&myself);
                }
            }
            PersistenceMessage::Tick => {
                state.sync_spill();
                // An outage that has lasted long enough moves memory to the log even when
                // no new rows arrive to trigger it.
                if state.should_spill() && state.spill_unread() == 0 && state.holds_unspilled() {
                    state.enter_spill(Vec::new());
                    state.sync_spill();
                }
                state.start_write(&myself);
            }
            PersistenceMessage::FlushDone(result) => {
                if let Some(flight) = state.in_flight.take() {
                    let elapsed = flight.started.elapsed();
                    match state.complete(flight.batch, elapsed, result) {
                        Some(delay) => {
                            state.retry_scheduled = true;
                            myself.send_after(delay, || PersistenceMessage::RetryDue);
                        }
                        None => {
                            // Keep draining while a full batch (or split halves) is waiting.
                            if !state.retry_queue.is_empty()
                                || state.queue.len() >= state.config.max_batch_rows
                            {
                                state.start_write(&myself);
                            }
                        }
                    }
                }
            }
            PersistenceMessage::RetryDue => {
                state.retry_scheduled = false;
                state.start_write(&myself);
            }
            PersistenceMessage::Flush(reply) => {
                let target = state.stats.received_rows;
                if state.stats.durable_rows >= target {
                    let _ = reply.send(state.stats.clone());
                } else {
                    state.waiters.push_back((target, reply));
                    state.start_write(&myself);
                }
            }
            PersistenceMessage::Stats(reply) => {
                state.publish();
                let _ = reply.send(state.stats.clone());
            }
        }
        state.publish();
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut PersistenceState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        // Best effort: write what is left, in order, until the deadline.
        let deadline = Instant::now() + state.config.shutdown_timeout;
        if let Some(flight) = state.in_flight.take() {
            let result = match flight.task.await {
                Ok(r) => r,
                Err(e) => Err(StoreError::Unavailable(format!("write task failed: {e}"))),
            };
            let elapsed = flight.started.elapsed();
            state.complete(flight.batch, elapsed, result);
        }
        while let Some(batch) = state.next_batch() {
            if Instant::now() >= deadline {
                state.retry_queue.push_front(batch);
                break;
            }
            let started = Instant::now();
            let result = write_all(
                state.store.as_ref(),
                &batch.chat,
                &batch.events,
                &batch.intel,
            )
            .await;
            if let Some(delay) = state.complete(batch, started.elapsed(), result) {
                tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now())))
                    .await;
            }
        }
        // What the database could not take goes to the log, to be written on the next start.
        if state.spill.is_some() {
            // Batches read back from the log are still in it (never released).
            let mut left: Vec<Record> = state
                .retry_queue
                .drain(..)
                .filter(|b| !b.from_spill)
                .flat_map(|b| b.records())
                .collect();
            left.extend(state.queue.drain(..));
            if !left.is_empty() {
                let n = left.len();
                let last = state.stats.received_rows;
                match state.append_to_spill(left, last) {
                    Ok(()) => tracing::warn!(
                        rows = n,
                        "database unavailable at shutdown; rows kept in the spill log"
                    ),
                    Err(back) => state.queue.extend(back),
                }
            }
            state.sync_spill();
        }
        state.publish();
        let left = state.queued();
        if left > 0 {
            tracing::error!(rows = left, "persistence stopped with rows not written");
        } else if state.stats.spill_rows > 0 {
            tracing::info!(
                spilled = state.stats.spill_rows,
                "persistence stopped; rows wait in the spill log"
            );
        } else {
            tracing::info!(durable = state.stats.durable_rows, "persistence drained");
        }
        Ok(())
    }
}

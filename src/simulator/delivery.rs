//! Getting rendered bytes to connections and knowing when they got there.
//!
//! A batch of lines is one `Bytes`; every subscriber's queue receives a clone of it (a refcount
//! bump, never a copy). The batch travels with an `Arc<Delivery>`: the first connection that
//! writes it commits counters and recorded messages, and when the last holder lets go the
//! optional completion signal fires, which is how `emit` and replay know their lines reached the
//! sockets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc::error::{SendTimeoutError, TrySendError};
use tokio::sync::oneshot;

use super::record::Record;
use super::registry::{ChannelState, ConnEntry, lock};
use super::state::Shared;
use super::stats::add;

/// A unit of data for one connection's writer.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) bytes: Bytes,
    pub(crate) delivery: Option<Arc<Delivery>>,
}

impl Outbound {
    /// Protocol replies and other bytes nobody waits for.
    pub(crate) fn plain(bytes: impl Into<Bytes>) -> Self {
        Outbound {
            bytes: bytes.into(),
            delivery: None,
        }
    }
}

/// Out-of-band instructions for a connection's writer; they overtake queued data.
#[derive(Debug)]
pub(crate) enum Control {
    /// Write these bytes now (fault injection).
    Raw(Bytes),
    /// Write `RECONNECT`, then close.
    Reconnect,
}

/// What a batch contains, for counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) privmsgs: u64,
    pub(crate) events: u64,
    pub(crate) raw: u64,
    pub(crate) bits: u64,
}

impl Tally {
    pub(crate) fn lines(&self) -> u64 {
        self.privmsgs + self.events + self.raw
    }
}

/// Tracks one batch until every connection has written or dropped it.
pub(crate) struct Delivery {
    shared: Arc<Shared>,
    channel: Option<Arc<ChannelState>>,
    tally: Tally,
    records: Option<Mutex<Vec<Record>>>,
    written: AtomicBool,
    done: Option<oneshot::Sender<bool>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("tally", &self.tally)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A delivery; the receiver (when asked for) resolves to whether any socket took the batch.
    pub(crate) fn new(
        shared: Arc<Shared>,
        channel: Option<Arc<ChannelState>>,
        tally: Tally,
        records: Option<Vec<Record>>,
        notify: bool,
    ) -> (Arc<Delivery>, Option<oneshot::Receiver<bool>>) {
        let (done, rx) = if notify {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let d = Delivery {
            shared,
            channel,
            tally,
            records: records.filter(|r| !r.is_empty()).map(Mutex::new),
            written: AtomicBool::new(false),
            done,
        };
        (Arc::new(d), rx)
    }

    /// Called by a writer after the batch reached its socket; only the first call counts.
    pub(crate) fn mark_written(&self) {
        if self.written.swap(true, Ordering::AcqRel) {
            return;
        }
        let c = &self.shared.counters;
        let t = self.tally;
        add(&c.lines_written, t.lines());
        add(&c.privmsgs_written, t.privmsgs);
        add(&c.events_written, t.events);
        add(&c.raw_lines_written, t.raw);
        if let Some(ch) = &self.channel {
            add(&ch.counters.privmsgs_written, t.privmsgs);
            add(&ch.counters.events_written, t.events);
            add(&ch.counters.raw_lines_written, t.raw);
            add(&ch.counters.bits_written, t.bits);
        }
        if let Some(records) = &self.records {
            let records = std::mem::take(&mut *lock(records));
            self.shared.recorder.commit(records);
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(*self.written.get_mut());
        }
    }
}

/// Queues `bytes` on every subscriber; returns how many queues took it.
///
/// Waits while a queue is full (this is the backpressure of unthrottled mode) but drops a
/// connection whose queue stays full for `slow_timeout`.
pub(crate) async fn fan_out(
    shared: &Shared,
    subs: &[Arc<ConnEntry>],
    bytes: &Bytes,
    delivery: Option<&Arc<Delivery>>,
) -> usize {
    let mut queued = 0;
    for conn in subs {
        let item = Outbound {
            bytes: bytes.clone(),
            delivery: delivery.cloned(),
        };
        // try_send first: the timed path arms a timer, which is wasted work when there is room.
        let item = match conn.data_tx.try_send(item) {
            Ok(()) => {
                queued += 1;
                continue;
            }
            Err(TrySendError::Closed(_)) => continue,
            Err(TrySendError::Full(item)) => item,
        };
        match send_or_give_up(conn, item, shared.config.slow_consumer_timeout).await {
            Sent::Queued => queued += 1,
            Sent::Closed => {}
            Sent::TimedOut => {
                tracing::warn!(conn = conn.id, peer = %conn.peer, "dropping slow consumer");
                add(&shared.counters.slow_consumers_dropped, 1);
                conn.kill(true);
            }
        }
    }
    queued
}

enum Sent {
    Queued,
    Closed,
    TimedOut,
}

async fn send_or_give_up(conn: &ConnEntry, item: Outbound, timeout: Duration) -> Sent {
    tokio::select! {
        res = conn.data_tx.send_timeout(item, timeout) => match res {
            Ok(()) => Sent::Queued,
            Err(SendTimeoutError::Closed(_)) => Sent::Closed,
            Err(SendTimeoutError::Timeout(_)) => Sent::TimedOut,
        },
        // A connection being torn down stops draining its queue; don't wait out the timeout.
        () = conn.cancel.cancelled() => Sent::Closed,
    }
}

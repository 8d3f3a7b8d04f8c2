//! Always-on counters (plain atomics, bumped once per batch rather than per line) and the
//! snapshot types the handle returns.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Server-wide counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) joins: AtomicU64,
    pub(crate) parts: AtomicU64,
    pub(crate) lines_written: AtomicU64,
    pub(crate) privmsgs_written: AtomicU64,
    pub(crate) events_written: AtomicU64,
    pub(crate) raw_lines_written: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) privmsgs_from_clients: AtomicU64,
    pub(crate) client_rate_violations: AtomicU64,
    pub(crate) client_duplicates: AtomicU64,
    pub(crate) pings_from_clients: AtomicU64,
    pub(crate) pongs_from_clients: AtomicU64,
    pub(crate) slow_consumers_dropped: AtomicU64,
}

/// Counters of one channel.
#[derive(Debug, Default)]
pub(crate) struct ChannelCounters {
    pub(crate) joins: AtomicU64,
    pub(crate) parts: AtomicU64,
    pub(crate) privmsgs_written: AtomicU64,
    pub(crate) events_written: AtomicU64,
    pub(crate) raw_lines_written: AtomicU64,
    pub(crate) bits_written: AtomicU64,
    pub(crate) privmsgs_from_clients: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub(crate) fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A snapshot of the simulator's counters.
///
/// "Written" counts lines that reached at least one socket, counted once per line however many
/// connections received it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimulatorStats {
    /// TCP connections accepted since start.
    pub connections_accepted: u64,
    /// Connections currently open.
    pub connections_open: u64,
    /// JOINs processed (per channel, so `JOIN #a,#b` counts 2).
    pub joins: u64,
    /// PARTs processed.
    pub parts: u64,
    /// Generated, replayed and injected lines written to at least one socket.
    pub lines_written: u64,
    /// Generated PRIVMSGs written.
    pub privmsgs_written: u64,
    /// Generated USERNOTICE/CLEARCHAT/CLEARMSG lines written.
    pub events_written: u64,
    /// Replayed lines written.
    pub raw_lines_written: u64,
    /// All bytes written to all sockets, protocol replies included.
    pub bytes_written: u64,
    /// PRIVMSGs received from clients.
    pub privmsgs_from_clients: u64,
    /// Client PRIVMSGs that broke Twitch's send limits (real Twitch would drop them and, if
    /// it went on, lock the account out): more than 20 (or 100 where the sender is a
    /// moderator) in 30 s, counted per login across channels.
    pub client_rate_violations: u64,
    /// Client PRIVMSGs identical to one the same login sent to the same channel within 30 s
    /// (Twitch drops them).
    pub client_duplicates: u64,
    /// PINGs received from clients.
    pub pings_from_clients: u64,
    /// PONGs received from clients.
    pub pongs_from_clients: u64,
    /// Connections closed because they stopped reading for longer than the slow-consumer timeout.
    pub slow_consumers_dropped: u64,
    /// Per channel, for every channel the simulator has seen.
    pub channels: BTreeMap<String, ChannelStats>,
}

/// Counters of one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChannelStats {
    /// The `room-id` the simulator reports for the channel.
    pub room_id: u64,
    /// Connections currently joined.
    pub subscribers: usize,
    /// JOINs processed for this channel.
    pub joins: u64,
    /// PARTs processed for this channel.
    pub parts: u64,
    /// Generated PRIVMSGs written.
    pub privmsgs_written: u64,
    /// Generated events written.
    pub events_written: u64,
    /// Replayed lines written.
    pub raw_lines_written: u64,
    /// Sum of the `bits` of written cheers.
    pub bits_written: u64,
    /// PRIVMSGs received from clients (what bots said).
    pub privmsgs_from_clients: u64,
}

impl SimulatorStats {
    /// Stats of one channel (`#` optional); defaults when the channel is unknown.
    pub fn channel(&self, channel: &str) -> ChannelStats {
        let key = channel.trim_start_matches('#').to_ascii_lowercase();
        self.channels.get(&key).cloned().unwrap_or_default()
    }
}

/// A PRIVMSG a client sent to the simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientMessage {
    /// Channel login, without `#`.
    pub channel: String,
    /// The sending connection's nick.
    pub login: String,
    /// The message text.
    pub text: String,
    /// The `reply-parent-msg-id` tag when the client replied to a message.
    pub reply_parent_msg_id: Option<String>,
    /// When the simulator read it.
    pub received_at: DateTime<Utc>,
}

//! IRC connection health: which connections are up, why one was lost, how long it took until
//! every channel it carried was joined again, and when a quiet connection is dead.
//!
//! # Why here and not in the pump
//!
//! twitch-irc hides its connections: the message stream the pump reads carries what the
//! server said (including `RECONNECT` and our own JOIN echoes) but not that a socket closed,
//! that its ping check failed, or that a new connection was opened. Its transport, however, is
//! ours to choose, so [`transport::Observed`](super::transport::Observed) wraps whichever one
//! is in use (TLS to Twitch, plain TCP to the simulator) and reports every connection's life
//! to one [`ConnectionMonitor`]: opened, registered (`001` received), each JOIN/PART echo,
//! and the end with its cause. Nothing on the pump's path changes; the only per-line cost is
//! a clock read, an atomic store and a match on the command.
//!
//! # What twitch-irc does on its own (6.1, `src/connection/event_loop.rs`, `src/client/event_loop.rs`)
//!
//! - **Socket closed or failing**: the incoming stream ends or errors, the connection goes to
//!   its closed state, and the pool rejoins every channel the connection wanted, on another
//!   connection or a new one. A line that does not parse as IRC closes the connection too.
//! - **`RECONNECT`**: forwarded to us, then the connection closes itself and rejoins the same way.
//! - **Silent server**: it sends `PING` every 30 s and closes the connection if no `PONG`
//!   arrived 5 s later, so a dead connection is noticed 5–35 s after it died. Both intervals are
//!   constants; nothing in `ClientConfig` changes them.
//! - **Backoff**: none. New connections are only paced by `new_connection_every` (one opening
//!   per 2 s by default, 50 ms for the simulator), so a server that refuses connections is
//!   retried at that fixed rate for ever.
//!
//! # What Byte adds
//!
//! - **Causes**: `reconnect_command` (a `RECONNECT` line), `closed` (end of stream, read or write
//!   error, unparseable line) and `silent` (our watchdog, or twitch-irc's ping check, which we
//!   recognise because its `PING` went out through our transport and no `PONG` came back).
//!   A connection twitch-irc drops with no such sign is the client shutting down: not a loss.
//! - **A faster liveness check**: once a connection has been quiet for
//!   [`Liveness::probe_after`], the watchdog sends a `PING` of its own (its `PONG` is swallowed
//!   before twitch-irc sees it); if still nothing at all arrived by [`Liveness::silent_after`],
//!   the connection is declared silent and its incoming stream is ended, which makes twitch-irc
//!   reconnect and rejoin. A busy connection is never probed, because every line counts as a
//!   sign of life. A connection that is not registered (no `001`) within `silent_after` of
//!   opening is silent too: a server that accepts the socket but never answers is as dead as one
//!   that stopped talking, and a connection opened while the server played dead would otherwise
//!   look alive later while the echoes of its JOINs were lost.
//! - **Backoff**: after a connection attempt fails, or a connection dies before it registered,
//!   the next attempt waits `250 ms × 2^(n-1)` (n consecutive failures, capped at 10 s, jitter
//!   ×0.5–1). The first reconnect after a healthy connection is immediate. The cap stays below
//!   twitch-irc's 20 s connect timeout, which also covers this wait.
//! - **Recovery time**: an outage starts at the first loss (for `silent`, at the last line the
//!   connection received: that is when we stopped hearing) and ends when every channel the lost
//!   connections had confirmed is confirmed again (its JOIN echo) and a connection is registered.
//!   Channels parted meanwhile, or refused on the way back (the channel was suspended or no
//!   longer exists), are not waited for. Overlapping losses are one outage.
//!
//! Exported as `byte_irc_reconnects_total{cause}` (per lost connection),
//! `byte_irc_recovery_duration_seconds` (per outage), `byte_irc_connected` (registered
//! connections), and through [`ConnectionView`] on `/api/v1/runtime` and `/readyz`.
//!
//! twitch-irc's `Transport::new()` takes no arguments, so the monitor a new connection reports
//! to is process-wide ([`install`]), like the custom endpoint: one Ingest per process.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use byte_actors::metrics as m;
use chrono::{DateTime, Utc};
use futures::task::AtomicWaker;
use rand::Rng;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use twitch_irc::message::{IRCMessage, IRCPrefix};

/// Parameter of the watchdog's own `PING`, so its `PONG` can be told from twitch-irc's.
const PROBE: &str = "byte-liveness";
/// twitch-irc gives up on a `PING` after 5 s; an unanswered `PING` at least this old when it
/// drops a connection means its ping check fired.
const PING_CHECK_HINT: Duration = Duration::from_secs(4);
/// First backoff step after a failed connection attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest backoff; below twitch-irc's 20 s connect timeout, which includes this wait.
const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// NOTICE `msg-id`s with which Twitch refuses a JOIN: waiting for that channel's echo is pointless.
const JOIN_REFUSALS: [&str; 3] = ["msg_channel_suspended", "msg_room_not_found", "tos_ban"];

/// Why a connection was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The server sent `RECONNECT`.
    ReconnectCommand,
    /// The socket closed or failed, or the server sent a line that is not IRC.
    Closed,
    /// Nothing arrived within the liveness window (or twitch-irc's `PING` went unanswered).
    Silent,
}

impl Cause {
    /// Every cause, in the order of [`ReconnectCounts`].
    pub const ALL: [Cause; 3] = [Cause::ReconnectCommand, Cause::Closed, Cause::Silent];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Cause::ReconnectCommand => "reconnect_command",
            Cause::Closed => "closed",
            Cause::Silent => "silent",
        }
    }

    fn index(self) -> usize {
        match self {
            Cause::ReconnectCommand => 0,
            Cause::Closed => 1,
            Cause::Silent => 2,
        }
    }
}

/// When a quiet connection is probed and when it is declared dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    probe_after: Duration,
    silent_after: Duration,
}

/// A [`Liveness`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("liveness needs 0 < probe_after ({probe_after:?}) < silent_after ({silent_after:?})")]
pub struct LivenessError {
    probe_after: Duration,
    silent_after: Duration,
}

impl Liveness {
    /// Probe after `probe_after` of quiet; declare the connection silent after `silent_after`.
    pub fn new(probe_after: Duration, silent_after: Duration) -> Result<Self, LivenessError> {
        if probe_after.is_zero() || silent_after <= probe_after {
            return Err(LivenessError {
                probe_after,
                silent_after,
            });
        }
        Ok(Self {
            probe_after,
            silent_after,
        })
    }

    /// Quiet time after which the watchdog sends its own `PING`.
    pub fn probe_after(&self) -> Duration {
        self.probe_after
    }

    /// Quiet time after which the connection is dead.
    pub fn silent_after(&self) -> Duration {
        self.silent_after
    }
}

impl Default for Liveness {
    /// 10 s / 15 s: a dead connection is noticed within 15 s instead of twitch-irc's 35 s, and a
    /// `PONG` has 5 s to come back, as twitch-irc allows its own.
    fn default() -> Self {
        Self {
            probe_after: Duration::from_secs(10),
            silent_after: Duration::from_secs(15),
        }
    }
}

/// Lost connections by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconnectCounts {
    /// The server sent `RECONNECT`.
    pub reconnect_command: u64,
    /// The socket closed or failed.
    pub closed: u64,
    /// The connection went silent.
    pub silent: u64,
}

impl ReconnectCounts {
    /// All causes together.
    pub fn total(&self) -> u64 {
        self.reconnect_command + self.closed + self.silent
    }

    fn from_array(a: [u64; 3]) -> Self {
        Self {
            reconnect_command: a[0],
            closed: a[1],
            silent: a[2],
        }
    }
}

/// One completed recovery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recovery {
    /// Cause of the first loss of the outage.
    pub cause: Cause,
    /// From the loss to every channel joined again.
    pub duration_ms: u64,
    /// Channels that had to be joined again.
    pub channels: usize,
    /// Connections lost during the outage (a silent server can cost several).
    pub connections_lost: u32,
    /// When the recovery completed.
    pub completed_at: DateTime<Utc>,
}

/// Connection health as readiness and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    /// Registered connections (`001` received, not lost since).
    pub connections: usize,
    /// An outage is open: some channel a lost connection carried is not joined again yet.
    pub recovering: bool,
    /// How long the open outage has lasted.
    pub recovering_for_ms: Option<u64>,
    /// Channels of the open outage still waiting for their JOIN echo.
    pub channels_awaiting_rejoin: usize,
    /// Lost connections by cause.
    pub reconnects_by_cause: ReconnectCounts,
    /// Connection attempts that failed before a socket was open.
    pub connect_failures: u64,
    /// Completed recoveries.
    pub recoveries: u64,
    /// The last completed recovery.
    pub last_recovery: Option<Recovery>,
    /// Quiet time before the watchdog probes, in ms.
    pub probe_after_ms: u64,
    /// Quiet time before a connection is declared silent, in ms.
    pub silent_after_ms: u64,
}

#[derive(Debug, Default)]
struct ConnEntry {
    registered: bool,
    joined: HashSet<String>,
}

#[derive(Debug)]
struct Outage {
    since: Instant,
    cause: Cause,
    missing: HashSet<String>,
    channels: HashSet<String>,
    losses: u32,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    conns: HashMap<u64, ConnEntry>,
    registered: usize,
    outage: Option<Outage>,
    /// Consecutive failed attempts (connect errors, connections lost before registering).
    failures: u32,
    connects: u64,
    connect_failures: u64,
    reconnects: [u64; 3],
    recoveries: u64,
    last_recovery: Option<Recovery>,
}

/// Tracks every IRC connection of one client: the process-wide sink of what
/// [`Observed`](super::transport::Observed) transports see. See the module docs.
pub struct ConnectionMonitor {
    state: Mutex<State>,
    liveness: watch::Sender<Liveness>,
    /// Off for the detached fallback, so a stray transport cannot move the runtime's gauges.
    export: bool,
}

impl std::fmt::Debug for ConnectionMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionMonitor")
            .field("liveness", &*self.liveness.borrow())
            .finish_non_exhaustive()
    }
}

impl Default for ConnectionMonitor {
    fn default() -> Self {
        Self::new(Liveness::default())
    }
}

static INSTALLED: RwLock<Weak<ConnectionMonitor>> = RwLock::new(Weak::new());
static DETACHED: LazyLock<Arc<ConnectionMonitor>> = LazyLock::new(|| {
    Arc::new(ConnectionMonitor {
        export: false,
        ..ConnectionMonitor::default()
    })
});

/// Makes `monitor` the one every new [`Observed`](super::transport::Observed) connection in
/// this process reports to (a later call replaces it; connections already open keep theirs).
pub fn install(monitor: &Arc<ConnectionMonitor>) {
    *INSTALLED.write().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(monitor);
}

/// The installed monitor, or a detached one whose figures nobody reads.
pub(crate) fn current() -> Arc<ConnectionMonitor> {
    INSTALLED
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .upgrade()
        .unwrap_or_else(|| DETACHED.clone())
}

impl ConnectionMonitor {
    /// A monitor with these liveness settings.
    pub fn new(liveness: Liveness) -> Self {
        Self {
            state: Mutex::new(State::default()),
            liveness: watch::Sender::new(liveness),
            export: true,
        }
    }

    /// Changes the liveness settings; open connections' watchdogs apply them at once.
    pub fn set_liveness(&self, liveness: Liveness) {
        self.liveness.send_replace(liveness);
    }

    /// The liveness settings.
    pub fn liveness(&self) -> Liveness {
        *self.liveness.borrow()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A point-in-time view.
    pub fn view(&self) -> ConnectionView {
        let liveness = self.liveness();
        let s = self.lock();
        let now = Instant::now();
        ConnectionView {
            connections: s.registered,
            recovering: s.outage.is_some(),
            recovering_for_ms: s
                .outage
                .as_ref()
                .map(|o| millis(now.saturating_duration_since(o.since))),
            channels_awaiting_rejoin: s.outage.as_ref().map_or(0, |o| o.missing.len()),
            reconnects_by_cause: ReconnectCounts::from_array(s.reconnects),
            connect_failures: s.connect_failures,
            recoveries: s.recoveries,
            last_recovery: s.last_recovery.clone(),
            probe_after_ms: millis(liveness.probe_after),
            silent_after_ms: millis(liveness.silent_after),
        }
    }

    /// How long the next connection attempt should wait: nothing after a healthy connection,
    /// exponential with jitter after consecutive failures.
    pub(crate) fn backoff(&self) -> Duration {
        let failures = self.lock().failures;
        backoff_delay(failures, rand::rng().random_range(0.5..=1.0))
    }

    /// A connection attempt failed before a socket was open.
    pub(crate) fn connect_failed(&self) {
        let mut s = self.lock();
        s.failures = s.failures.saturating_add(1);
        s.connect_failures += 1;
    }

    /// A socket is open; returns the connection's id.
    pub(crate) fn opened(&self) -> u64 {
        let mut s = self.lock();
        s.next_id += 1;
        s.connects += 1;
        let id = s.next_id;
        s.conns.insert(id, ConnEntry::default());
        id
    }

    /// The server welcomed the connection (`001`).
    pub(crate) fn registered(&self, id: u64, now: Instant) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(entry) = s.conns.get_mut(&id) else {
            return;
        };
        if !entry.registered {
            entry.registered = true;
            s.registered += 1;
            s.failures = 0;
            self.export_connected(s);
        }
        self.try_complete(s, now);
    }

    /// Our JOIN echo for `channel` arrived on connection `id`.
    pub(crate) fn joined(&self, id: u64, channel: &str, now: Instant) {
        let mut guard = self.lock();
        let s = &mut *guard;
        if let Some(entry) = s.conns.get_mut(&id) {
            entry.joined.insert(channel.to_owned());
        }
        if let Some(o) = &mut s.outage {
            o.missing.remove(channel);
        }
        self.try_complete(s, now);
    }

    /// Our PART echo for `channel` arrived on connection `id`.
    pub(crate) fn parted(&self, id: u64, channel: &str) {
        if let Some(entry) = self.lock().conns.get_mut(&id) {
            entry.joined.remove(channel);
        }
    }

    /// We no longer want `channel` (a PART went out), or the server refused to join it: an
    /// open outage stops waiting for it.
    pub(crate) fn unwanted(&self, channel: &str, now: Instant) {
        let mut s = self.lock();
        if let Some(o) = &mut s.outage
            && o.missing.remove(channel)
        {
            self.try_complete(&mut s, now);
        }
    }

    /// Connection `id` is lost; `since` is when it stopped delivering.
    pub(crate) fn lost(&self, id: u64, cause: Cause, since: Instant, now: Instant) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(entry) = s.conns.remove(&id) else {
            return;
        };
        if entry.registered {
            s.registered -= 1;
            self.export_connected(s);
        } else {
            s.failures = s.failures.saturating_add(1);
        }
        s.reconnects[cause.index()] += 1;
        if self.export {
            metrics::counter!(m::IRC_RECONNECTS, "cause" => cause.label()).increment(1);
        }
        let outage = s.outage.get_or_insert_with(|| Outage {
            since,
            cause,
            missing: HashSet::new(),
            channels: HashSet::new(),
            losses: 0,
        });
        outage.losses += 1;
        outage.missing.extend(entry.joined.iter().cloned());
        outage.channels.extend(entry.joined);
        tracing::warn!(
            conn = id,
            cause = cause.label(),
            registered = entry.registered,
            awaiting_rejoin = outage.missing.len(),
            "IRC connection lost; twitch-irc reconnects and rejoins"
        );
        self.try_complete(s, now);
    }

    /// Connection `id` ended without a sign of failure: the client is shutting down.
    pub(crate) fn ended(&self, id: u64) {
        let mut guard = self.lock();
        let s = &mut *guard;
        if let Some(entry) = s.conns.remove(&id)
            && entry.registered
        {
            s.registered -= 1;
            self.export_connected(s);
        }
    }

    fn export_connected(&self, s: &State) {
        if self.export {
            metrics::gauge!(m::IRC_CONNECTED).set(s.registered as f64);
        }
    }

    fn try_complete(&self, s: &mut State, now: Instant) {
        let done = s.registered > 0 && s.outage.as_ref().is_some_and(|o| o.missing.is_empty());
        if !done {
            return;
        }
        let Some(o) = s.outage.take() else { return };
        let took = now.saturating_duration_since(o.since);
        if self.export {
            metrics::histogram!(m::IRC_RECOVERY_SECONDS).record(took.as_secs_f64());
        }
        tracing::info!(
            cause = o.cause.label(),
            took_ms = millis(took),
            channels = o.channels.len(),
            connections_lost = o.losses,
            "IRC recovered: every channel joined again"
        );
        s.recoveries += 1;
        s.last_recovery = Some(Recovery {
            cause: o.cause,
            duration_ms: millis(took),
            channels: o.channels.len(),
            connections_lost: o.losses,
            completed_at: Utc::now(),
        });
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `BACKOFF_BASE × 2^(failures-1)`, capped, scaled by `jitter` (expected in 0.5..=1).
fn backoff_delay(failures: u32, jitter: f64) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let step = BACKOFF_BASE.saturating_mul(1u32 << (failures - 1).min(16));
    step.min(BACKOFF_CAP).mul_f64(jitter.clamp(0.0, 1.0))
}

/// One connection's live state, shared by its incoming stream, its writer and its watchdog.
pub(crate) struct Link {
    id: u64,
    monitor: Arc<ConnectionMonitor>,
    opened: Instant,
    /// Nanoseconds after `opened` of the last line received.
    last_inbound: AtomicU64,
    registered: AtomicBool,
    /// Nanoseconds after `opened` (+1, so 0 means none) of twitch-irc's unanswered `PING`.
    ping_sent: AtomicU64,
    nick: OnceLock<String>,
    /// The loss (or the end) has been reported; the first report wins.
    reported: AtomicBool,
    /// Asks the incoming stream to end, which is how twitch-irc is made to reconnect.
    end_stream: AtomicBool,
    stream_waker: AtomicWaker,
    /// Cancelled when the connection is over: stops its writer and watchdog.
    pub(crate) closed: CancellationToken,
}

impl Link {
    /// A new connection reporting to `monitor`.
    pub(crate) fn open(monitor: Arc<ConnectionMonitor>) -> Arc<Self> {
        let id = monitor.opened();
        Arc::new(Self {
            id,
            monitor,
            opened: Instant::now(),
            last_inbound: AtomicU64::new(0),
            registered: AtomicBool::new(false),
            ping_sent: AtomicU64::new(0),
            nick: OnceLock::new(),
            reported: AtomicBool::new(false),
            end_stream: AtomicBool::new(false),
            stream_waker: AtomicWaker::new(),
            closed: CancellationToken::new(),
        })
    }

    /// The connection's id in logs.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    fn since_open(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.opened).as_nanos()).unwrap_or(u64::MAX)
    }

    fn last_inbound_at(&self) -> Instant {
        self.opened + Duration::from_nanos(self.last_inbound.load(Ordering::Relaxed))
    }

    /// Reading is held for backpressure (see `transport::gate`): counts as a sign of life, so
    /// a pause is not taken for a silent connection.
    pub(crate) fn held(&self) {
        self.last_inbound
            .store(self.since_open(Instant::now()), Ordering::Relaxed);
    }

    /// Notes a received line; returns false for the `PONG` to our own probe, which twitch-irc
    /// must not see.
    pub(crate) fn on_inbound(&self, msg: &IRCMessage) -> bool {
        let now = Instant::now();
        self.last_inbound
            .store(self.since_open(now), Ordering::Relaxed);
        match msg.command.as_str() {
            "PONG" => {
                self.ping_sent.store(0, Ordering::Relaxed);
                return msg.params.last().map(String::as_str) != Some(PROBE);
            }
            "001" if !self.registered.swap(true, Ordering::Relaxed) => {
                self.monitor.registered(self.id, now);
            }
            "RECONNECT" => self.lose(Cause::ReconnectCommand, now),
            "JOIN" if self.is_own(msg) => {
                if let Some(channel) = channel_param(msg) {
                    self.monitor.joined(self.id, channel, now);
                }
            }
            "PART" if self.is_own(msg) => {
                if let Some(channel) = channel_param(msg) {
                    self.monitor.parted(self.id, channel);
                }
            }
            "NOTICE" => {
                let refused = msg
                    .tags
                    .0
                    .get("msg-id")
                    .is_some_and(|id| JOIN_REFUSALS.contains(&id.as_str()));
                if refused && let Some(channel) = channel_param(msg) {
                    tracing::warn!(
                        conn = self.id,
                        channel,
                        "Twitch refused to join the channel"
                    );
                    self.monitor.unwanted(channel, now);
                }
            }
            _ => {}
        }
        true
    }

    /// Notes a line on its way out.
    pub(crate) fn on_outbound(&self, msg: &IRCMessage) {
        match msg.command.as_str() {
            "NICK" => {
                if let Some(nick) = msg.params.first() {
                    let _ = self.nick.set(nick.to_ascii_lowercase());
                }
            }
            "PING" if msg.params.last().map(String::as_str) != Some(PROBE) => {
                // Keep the first unanswered one: twitch-irc's check counts from it.
                let at = self.since_open(Instant::now()).saturating_add(1);
                let _ =
                    self.ping_sent
                        .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
            }
            "PART" => {
                if let Some(channel) = channel_param(msg) {
                    self.monitor.unwanted(channel, Instant::now());
                }
            }
            _ => {}
        }
    }

    /// Our own JOIN/PART echoes (without the membership capability Twitch sends no others,
    /// but a relay might).
    fn is_own(&self, msg: &IRCMessage) -> bool {
        match (&msg.prefix, self.nick.get()) {
            (Some(IRCPrefix::Full { nick, .. }), Some(ours)) => nick.eq_ignore_ascii_case(ours),
            _ => true,
        }
    }

    /// Reports the loss (once) and stops the writer and the watchdog.
    pub(crate) fn lose(&self, cause: Cause, since: Instant) {
        if !self.reported.swap(true, Ordering::AcqRel) {
            self.monitor.lost(self.id, cause, since, Instant::now());
        }
        self.closed.cancel();
    }

    /// Reports the loss and ends the incoming stream, so twitch-irc reconnects.
    pub(crate) fn kill(&self, cause: Cause, since: Instant) {
        self.lose(cause, since);
        self.end_stream.store(true, Ordering::Release);
        self.stream_waker.wake();
    }

    /// Registers the stream's waker and tells whether it must end now.
    pub(crate) fn stream_must_end(&self, waker: &std::task::Waker) -> bool {
        self.stream_waker.register(waker);
        self.end_stream.load(Ordering::Acquire)
    }

    /// twitch-irc dropped the incoming stream. Without a reported cause that is either its
    /// ping check (a `PING` went unanswered long enough) or the client shutting down.
    pub(crate) fn dropped(&self) {
        self.dropped_at(Instant::now());
    }

    fn dropped_at(&self, now: Instant) {
        if !self.reported.load(Ordering::Acquire) {
            let sent = self.ping_sent.load(Ordering::Relaxed);
            let ping_check = sent > 0
                && now.saturating_duration_since(self.opened + Duration::from_nanos(sent - 1))
                    >= PING_CHECK_HINT;
            if ping_check {
                self.lose(Cause::Silent, self.last_inbound_at());
            } else if !self.reported.swap(true, Ordering::AcqRel) {
                self.monitor.ended(self.id);
            }
        }
        self.closed.cancel();
    }
}

/// The channel of a JOIN/PART/NOTICE, without `#`.
fn channel_param(msg: &IRCMessage) -> Option<&str> {
    msg.params
        .first()
        .and_then(|p| p.strip_prefix('#'))
        .filter(|c| !c.is_empty())
}

/// Watches one connection: probes it when quiet, kills it when silent. Ends with the connection.
pub(crate) async fn watchdog(link: Arc<Link>, probe: mpsc::WeakUnboundedSender<IRCMessage>) {
    let mut settings = link.monitor.liveness.subscribe();
    let mut settings_open = true;
    // The last-inbound mark we already probed for and when, so one quiet spell costs one
    // PING and the PONG always gets `silent_after - probe_after` to come back.
    let mut probed: Option<(u64, Instant)> = None;
    loop {
        let liveness = *settings.borrow_and_update();
        let grace = liveness.silent_after - liveness.probe_after;
        let now = Instant::now();
        let last_mark = link.last_inbound.load(Ordering::Relaxed);
        let last = link.last_inbound_at();
        let registered = link.registered.load(Ordering::Relaxed);
        let probe_sent = probed
            .filter(|(mark, _)| *mark == last_mark)
            .map(|(_, at)| at);
        // Unregistered: the clock runs from the opening, whatever else arrived (CAP ACK).
        let dead_at = match (registered, probe_sent) {
            (false, _) => link.opened + liveness.silent_after,
            (true, None) => last + liveness.silent_after,
            (true, Some(at)) => (last + liveness.silent_after).max(at + grace),
        };
        if now >= dead_at {
            tracing::warn!(
                conn = link.id,
                registered,
                quiet_ms = millis(now.saturating_duration_since(last)),
                "IRC connection silent; forcing a reconnect"
            );
            link.kill(Cause::Silent, last);
            return;
        }
        let probe_at = last + liveness.probe_after;
        let wake_at = if !registered || probe_sent.is_some() {
            dead_at
        } else if now >= probe_at {
            probed = Some((last_mark, now));
            if let Some(tx) = probe.upgrade() {
                let _ = tx.send(IRCMessage::new_simple(
                    "PING".to_owned(),
                    vec![PROBE.to_owned()],
                ));
            }
            dead_at.max(now + grace)
        } else {
            probe_at
        };
        tokio::select! {
            () = link.closed.cancelled() => return,
            () = tokio::time::sleep_until(wake_at) => {}
            changed = settings.changed(), if settings_open => settings_open = changed.is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor() -> ConnectionMonitor {
        ConnectionMonitor {
            export: false,
            ..ConnectionMonitor::default()
        }
    }

    fn join_all(mon: &ConnectionMonitor, id: u64, channels: &[&str], at: Instant) {
        for c in channels {
            mon.joined(id, c, at);
        }
    }

    #[test]
    fn a_loss_is_recovered_when_every_channel_is_joined_again() {
        let mon = monitor();
        let t0 = Instant::now();
        let a = mon.opened();
        mon.registered(a, t0);
        join_all(&mon, a, &["x", "y", "z"], t0);
        assert!(!mon.view().recovering);

        mon.lost(a, Cause::Closed, t0, t0);
        let v = mon.view();
        assert!(v.recovering);
        assert_eq!(v.connections, 0);
        assert_eq!(v.channels_awaiting_rejoin, 3);
        assert_eq!(v.reconnects_by_cause.closed, 1);

        let b = mon.opened();
        mon.registered(b, t0 + Duration::from_millis(40));
        join_all(&mon, b, &["x", "y"], t0 + Duration::from_millis(50));
        assert_eq!(mon.view().channels_awaiting_rejoin, 1);
        mon.joined(b, "z", t0 + Duration::from_millis(70));
        let v = mon.view();
        assert!(!v.recovering);
        assert_eq!(v.recoveries, 1);
        let r = v.last_recovery.unwrap();
        assert_eq!((r.cause, r.duration_ms, r.channels), (Cause::Closed, 70, 3));
    }

    #[test]
    fn overlapping_losses_are_one_outage_from_the_first() {
        let mon = monitor();
        let t0 = Instant::now();
        let (a, b) = (mon.opened(), mon.opened());
        mon.registered(a, t0);
        mon.registered(b, t0);
        mon.joined(a, "x", t0);
        mon.joined(b, "y", t0);
        mon.lost(a, Cause::ReconnectCommand, t0, t0);
        mon.lost(b, Cause::Silent, t0 + Duration::from_millis(5), t0);
        let c = mon.opened();
        mon.registered(c, t0 + Duration::from_millis(10));
        join_all(&mon, c, &["x", "y"], t0 + Duration::from_millis(20));
        let v = mon.view();
        assert_eq!(v.recoveries, 1);
        let r = v.last_recovery.unwrap();
        assert_eq!(
            (r.cause, r.connections_lost, r.duration_ms),
            (Cause::ReconnectCommand, 2, 20)
        );
        assert_eq!(v.reconnects_by_cause.total(), 2);
    }

    #[test]
    fn parted_or_refused_channels_are_not_waited_for() {
        let mon = monitor();
        let t0 = Instant::now();
        let a = mon.opened();
        mon.registered(a, t0);
        join_all(&mon, a, &["x", "gone", "left"], t0);
        mon.lost(a, Cause::Closed, t0, t0);
        let b = mon.opened();
        mon.registered(b, t0);
        mon.joined(b, "x", t0);
        mon.unwanted("left", t0);
        assert!(mon.view().recovering, "still waiting for `gone`");
        mon.unwanted("gone", t0 + Duration::from_millis(9));
        assert_eq!(mon.view().last_recovery.unwrap().duration_ms, 9);
    }

    #[test]
    fn recovery_needs_a_registered_connection() {
        let mon = monitor();
        let t0 = Instant::now();
        let a = mon.opened();
        mon.registered(a, t0);
        mon.lost(a, Cause::Silent, t0, t0);
        assert!(
            mon.view().recovering,
            "no channels, but no connection either"
        );
        let b = mon.opened();
        mon.registered(b, t0 + Duration::from_millis(3));
        assert_eq!(mon.view().last_recovery.unwrap().duration_ms, 3);
    }

    #[test]
    fn an_orderly_end_is_not_a_loss() {
        let mon = monitor();
        let a = mon.opened();
        mon.registered(a, Instant::now());
        mon.ended(a);
        let v = mon.view();
        assert!(!v.recovering);
        assert_eq!((v.connections, v.reconnects_by_cause.total()), (0, 0));
    }

    #[test]
    fn backoff_grows_on_failures_and_resets_on_registration() {
        assert_eq!(backoff_delay(0, 1.0), Duration::ZERO);
        assert_eq!(backoff_delay(1, 1.0), Duration::from_millis(250));
        assert_eq!(backoff_delay(3, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(30, 1.0), BACKOFF_CAP);
        assert_eq!(backoff_delay(1, 0.5), Duration::from_millis(125));

        let mon = monitor();
        let a = mon.opened();
        mon.registered(a, Instant::now());
        mon.lost(a, Cause::Closed, Instant::now(), Instant::now());
        assert_eq!(
            mon.backoff(),
            Duration::ZERO,
            "a healthy connection reconnects at once"
        );
        mon.connect_failed();
        let b = mon.opened();
        mon.lost(b, Cause::Silent, Instant::now(), Instant::now());
        assert!(
            mon.backoff() >= Duration::from_millis(250),
            "two failures in a row"
        );
        let c = mon.opened();
        mon.registered(c, Instant::now());
        assert_eq!(mon.backoff(), Duration::ZERO);
    }

    #[test]
    fn liveness_rejects_windows_that_cannot_work() {
        assert!(Liveness::new(Duration::ZERO, Duration::from_secs(1)).is_err());
        assert!(Liveness::new(Duration::from_secs(2), Duration::from_secs(2)).is_err());
        assert!(Liveness::new(Duration::from_secs(1), Duration::from_secs(2)).is_ok());
    }

    fn line(s: &str) -> IRCMessage {
        IRCMessage::parse(s).unwrap()
    }

    #[tokio::test]
    async fn a_link_classifies_what_it_sees() {
        let mon = Arc::new(monitor());
        let link = Link::open(mon.clone());
        link.on_outbound(&line("NICK justinfan12345"));
        link.on_inbound(&line(":tmi.twitch.tv 001 justinfan12345 :Welcome, GLHF!"));
        assert_eq!(mon.view().connections, 1);
        link.on_inbound(&line(
            ":justinfan12345!justinfan12345@justinfan12345.tmi.twitch.tv JOIN #alpha",
        ));
        link.on_inbound(&line(":someone!someone@someone.tmi.twitch.tv JOIN #beta"));
        assert!(
            !link.on_inbound(&line(":tmi.twitch.tv PONG tmi.twitch.tv :byte-liveness")),
            "our probe's PONG is swallowed"
        );
        assert!(link.on_inbound(&line(":tmi.twitch.tv PONG tmi.twitch.tv :tmi.twitch.tv")));
        link.on_inbound(&line(":tmi.twitch.tv RECONNECT"));
        link.dropped();
        let v = mon.view();
        assert_eq!(v.reconnects_by_cause.reconnect_command, 1);
        assert_eq!(
            v.reconnects_by_cause.total(),
            1,
            "the drop after RECONNECT is the same loss"
        );
        assert_eq!(v.channels_awaiting_rejoin, 1, "only our own echo counted");
        assert!(link.closed.is_cancelled());
    }

    #[tokio::test]
    async fn a_drop_without_a_sign_of_failure_is_a_shutdown() {
        let mon = Arc::new(monitor());
        let link = Link::open(mon.clone());
        link.on_inbound(&line(":tmi.twitch.tv 001 justinfan12345 :Welcome, GLHF!"));
        link.on_outbound(&line("PING tmi.twitch.tv"));
        link.dropped();
        let v = mon.view();
        assert_eq!((v.connections, v.reconnects_by_cause.total()), (0, 0));
        assert!(!v.recovering);
    }

    #[tokio::test]
    async fn twitch_irc_ping_check_counts_as_silent() {
        let mon = Arc::new(monitor());
        let link = Link::open(mon.clone());
        link.on_inbound(&line(":tmi.twitch.tv 001 justinfan12345 :Welcome, GLHF!"));
        link.on_outbound(&line("PING tmi.twitch.tv"));
        link.dropped_at(Instant::now() + Duration::from_secs(5));
        assert_eq!(mon.view().reconnects_by_cause.silent, 1);
    }

    fn fast(probe_ms: u64, silent_ms: u64) -> Arc<ConnectionMonitor> {
        let mon = Arc::new(monitor());
        mon.set_liveness(
            Liveness::new(
                Duration::from_millis(probe_ms),
                Duration::from_millis(silent_ms),
            )
            .unwrap(),
        );
        mon
    }

    const BOUND: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn the_watchdog_probes_then_kills_a_quiet_connection() {
        let mon = fast(100, 300);
        let link = Link::open(mon.clone());
        link.on_inbound(&line(":tmi.twitch.tv 001 justinfan12345 :Welcome, GLHF!"));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let dog = tokio::spawn(watchdog(link.clone(), tx.downgrade()));
        let probe = tokio::time::timeout(BOUND, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(probe.command, "PING");
        assert_eq!(probe.params, [PROBE]);
        tokio::time::timeout(BOUND, dog).await.unwrap().unwrap();
        assert!(link.closed.is_cancelled());
        assert!(link.end_stream.load(Ordering::Acquire));
        assert_eq!(mon.view().reconnects_by_cause.silent, 1);
        assert!(rx.try_recv().is_err(), "one probe per quiet spell");
    }

    #[tokio::test]
    async fn the_watchdog_leaves_a_talking_connection_alone() {
        let mon = fast(300, 600);
        let link = Link::open(mon.clone());
        link.on_inbound(&line(":tmi.twitch.tv 001 justinfan12345 :Welcome, GLHF!"));
        let (tx, _rx) = mpsc::unbounded_channel();
        let dog = tokio::spawn(watchdog(link.clone(), tx.downgrade()));
        // The traffic itself is paced: a line every 30 ms for two silence windows.
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            link.on_inbound(&line(":tmi.twitch.tv PING :tmi.twitch.tv"));
        }
        assert!(!link.closed.is_cancelled());
        assert_eq!(mon.view().reconnects_by_cause.total(), 0);
        link.dropped();
        tokio::time::timeout(BOUND, dog).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_unregistered_connection_is_silent_after_the_window() {
        let mon = fast(100, 300);
        let link = Link::open(mon.clone());
        let opened = Instant::now();
        let (tx, _rx) = mpsc::unbounded_channel();
        let dog = tokio::spawn(watchdog(link.clone(), tx.downgrade()));
        link.on_inbound(&line(":tmi.twitch.tv CAP * ACK :twitch.tv/tags"));
        tokio::time::timeout(BOUND, dog).await.unwrap().unwrap();
        assert!(opened.elapsed() >= Duration::from_millis(290));
        assert_eq!(mon.view().reconnects_by_cause.silent, 1);
        assert!(
            !mon.backoff().is_zero(),
            "dying unregistered is a failed attempt"
        );
    }
}

//! Who is connected and who joined what: connection entries, per-channel state and the
//! subscriber lists that fan-out reads.
//!
//! Subscriber lists are copy-on-write `Arc<[..]>` slices with a version counter. Joins and parts
//! (rare) swap the slice under a mutex; the traffic generator (hot) keeps its own copy and only
//! re-reads when the version moved, so steady-state fan-out costs one atomic load per batch.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::delivery::{Control, Outbound};
use super::generator::{ChannelGen, GenSettings};
use super::ids::room_id_for;
use super::stats::{ChannelCounters, ClientMessage};

/// Normalises a channel name (`#Foo` -> `foo`); `None` unless it is a valid Twitch login.
pub(crate) fn normalize_channel(raw: &str) -> Option<String> {
    let name = raw.trim().trim_start_matches('#').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 25
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    valid.then_some(name)
}

/// Locks ignoring poisoning: every critical section here leaves the data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One client connection as seen by everything but its own task.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) data_tx: mpsc::Sender<Outbound>,
    pub(crate) ctl_tx: mpsc::UnboundedSender<Control>,
    pub(crate) cancel: CancellationToken,
    abrupt: AtomicBool,
    pub(crate) joined: Mutex<Vec<Arc<str>>>,
}

impl ConnEntry {
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        data_tx: mpsc::Sender<Outbound>,
        ctl_tx: mpsc::UnboundedSender<Control>,
        cancel: CancellationToken,
    ) -> Self {
        ConnEntry {
            id,
            peer,
            data_tx,
            ctl_tx,
            cancel,
            abrupt: AtomicBool::new(false),
            joined: Mutex::new(Vec::new()),
        }
    }

    /// Ends the connection; `abrupt` resets it (RST) instead of closing it cleanly.
    pub(crate) fn kill(&self, abrupt: bool) {
        if abrupt {
            self.abrupt.store(true, Ordering::Release);
        }
        self.cancel.cancel();
    }

    pub(crate) fn is_abrupt(&self) -> bool {
        self.abrupt.load(Ordering::Acquire)
    }
}

/// Subscribers of a channel.
pub(crate) type Subscribers = Arc<[Arc<ConnEntry>]>;

/// Everything the simulator keeps per channel.
pub(crate) struct ChannelState {
    pub(crate) name: Arc<str>,
    pub(crate) room_id: u64,
    subs: Mutex<Subscribers>,
    version: AtomicU64,
    /// Created on first use: a pool of chatters per joined-but-silent channel would be waste.
    pub(crate) generator: Mutex<Option<ChannelGen>>,
    pub(crate) counters: ChannelCounters,
    pub(crate) client_log: Mutex<VecDeque<ClientMessage>>,
}

impl std::fmt::Debug for ChannelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelState")
            .field("name", &self.name)
            .field("room_id", &self.room_id)
            .finish_non_exhaustive()
    }
}

impl ChannelState {
    fn new(name: Arc<str>) -> Self {
        ChannelState {
            room_id: room_id_for(&name),
            name,
            subs: Mutex::new(Arc::from(Vec::new())),
            version: AtomicU64::new(0),
            generator: Mutex::new(None),
            counters: ChannelCounters::default(),
            client_log: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn subscribers(&self) -> Subscribers {
        Arc::clone(&lock(&self.subs))
    }

    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Subscribers and the version they belong to, read consistently.
    pub(crate) fn subscribers_versioned(&self) -> (Subscribers, u64) {
        let subs = lock(&self.subs);
        (Arc::clone(&subs), self.version.load(Ordering::Acquire))
    }

    fn add(&self, conn: &Arc<ConnEntry>) -> bool {
        let mut subs = lock(&self.subs);
        if subs.iter().any(|c| c.id == conn.id) {
            return false;
        }
        let mut next: Vec<Arc<ConnEntry>> = subs.iter().cloned().collect();
        next.push(Arc::clone(conn));
        *subs = Arc::from(next);
        self.version.fetch_add(1, Ordering::AcqRel);
        true
    }

    fn remove(&self, conn_id: u64) -> bool {
        let mut subs = lock(&self.subs);
        if !subs.iter().any(|c| c.id == conn_id) {
            return false;
        }
        let next: Vec<Arc<ConnEntry>> = subs.iter().filter(|c| c.id != conn_id).cloned().collect();
        *subs = Arc::from(next);
        self.version.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Runs `f` with this channel's generator, creating it on first use.
    pub(crate) fn with_generator<R>(
        &self,
        settings: &GenSettings,
        f: impl FnOnce(&mut ChannelGen) -> R,
    ) -> R {
        let mut slot = lock(&self.generator);
        let generator = slot.get_or_insert_with(|| ChannelGen::new(&self.name, settings));
        f(generator)
    }

    pub(crate) fn log_client_message(&self, msg: ClientMessage, capacity: usize) {
        let mut log = lock(&self.client_log);
        while log.len() >= capacity.max(1) {
            log.pop_front();
        }
        log.push_back(msg);
    }
}

/// All channels and connections.
#[derive(Debug)]
pub(crate) struct Registry {
    channels: RwLock<HashMap<Arc<str>, Arc<ChannelState>>>,
    conns: Mutex<HashMap<u64, Arc<ConnEntry>>>,
    membership: watch::Sender<u64>,
    next_conn_id: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            channels: RwLock::default(),
            conns: Mutex::default(),
            membership: watch::Sender::new(0),
            next_conn_id: AtomicU64::new(1),
        }
    }
}

impl Registry {
    /// The state of a normalised channel name, created on first use.
    pub(crate) fn channel(&self, name: &str) -> Arc<ChannelState> {
        if let Some(c) = self
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Arc::clone(c);
        }
        let mut map = self.channels.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            map.entry(Arc::from(name))
                .or_insert_with(|| Arc::new(ChannelState::new(Arc::from(name)))),
        )
    }

    pub(crate) fn existing_channel(&self, name: &str) -> Option<Arc<ChannelState>> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    pub(crate) fn all_channels(&self) -> Vec<Arc<ChannelState>> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn add_connection(&self, conn: Arc<ConnEntry>) {
        lock(&self.conns).insert(conn.id, conn);
        self.bump();
    }

    pub(crate) fn connections(&self) -> Vec<Arc<ConnEntry>> {
        lock(&self.conns).values().cloned().collect()
    }

    /// Subscribes `conn` to `channel`; false when it already was.
    pub(crate) fn join(&self, conn: &Arc<ConnEntry>, channel: &Arc<ChannelState>) -> bool {
        let added = channel.add(conn);
        if added {
            lock(&conn.joined).push(Arc::clone(&channel.name));
            self.bump();
        }
        added
    }

    /// Unsubscribes `conn` from `channel`; false when it was not joined.
    pub(crate) fn part(&self, conn: &ConnEntry, channel: &ChannelState) -> bool {
        let removed = channel.remove(conn.id);
        if removed {
            lock(&conn.joined).retain(|c| **c != *channel.name);
            self.bump();
        }
        removed
    }

    /// Forgets a closed connection and all its subscriptions.
    pub(crate) fn remove_connection(&self, conn: &ConnEntry) {
        let joined = std::mem::take(&mut *lock(&conn.joined));
        for name in joined {
            if let Some(ch) = self.existing_channel(&name) {
                ch.remove(conn.id);
            }
        }
        lock(&self.conns).remove(&conn.id);
        self.bump();
    }

    /// Notified on every connect, disconnect, join and part.
    pub(crate) fn membership(&self) -> watch::Receiver<u64> {
        self.membership.subscribe()
    }

    fn bump(&self) {
        self.membership.send_modify(|v| *v += 1);
    }
}

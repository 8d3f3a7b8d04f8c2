//! [`SimulatorHandle`]: the running simulator as tests, the demo and benchmarks drive it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::control;
use super::error::SimulatorError;
use super::record::Recorded;
use super::registry::{lock, normalize_channel};
use super::replay::{self, ReplayReport};
use super::script::{self, Emission, EmitOutcome};
use super::state::Shared;
use super::stats::{ChannelStats, ClientMessage, SimulatorStats, get};

/// A running simulator. Dropping it stops the simulator (without waiting); prefer
/// [`shutdown`](Self::shutdown) to also wait for every connection to close.
#[derive(Debug)]
pub struct SimulatorHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl SimulatorHandle {
    /// The address the listener is bound to (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A snapshot of all counters.
    pub fn stats(&self) -> SimulatorStats {
        let mut stats = self.totals();
        stats.channels = self
            .shared
            .registry
            .all_channels()
            .into_iter()
            .map(|ch| {
                let k = &ch.counters;
                let stats = ChannelStats {
                    room_id: ch.room_id,
                    subscribers: ch.subscribers().len(),
                    joins: get(&k.joins),
                    parts: get(&k.parts),
                    privmsgs_written: get(&k.privmsgs_written),
                    events_written: get(&k.events_written),
                    raw_lines_written: get(&k.raw_lines_written),
                    bits_written: get(&k.bits_written),
                    privmsgs_from_clients: get(&k.privmsgs_from_clients),
                };
                (ch.name.to_string(), stats)
            })
            .collect();
        stats
    }

    /// The fleet-wide counters of [`stats`](Self::stats) without its per-channel table: cheap
    /// enough to poll many times a second at 100,000 channels (the table is a map of them all).
    pub fn totals(&self) -> SimulatorStats {
        let c = &self.shared.counters;
        SimulatorStats {
            connections_accepted: get(&c.connections_accepted),
            connections_open: get(&c.connections_open),
            joins: get(&c.joins),
            parts: get(&c.parts),
            lines_written: get(&c.lines_written),
            privmsgs_written: get(&c.privmsgs_written),
            events_written: get(&c.events_written),
            raw_lines_written: get(&c.raw_lines_written),
            bytes_written: get(&c.bytes_written),
            privmsgs_from_clients: get(&c.privmsgs_from_clients),
            client_rate_violations: get(&c.client_rate_violations),
            client_duplicates: get(&c.client_duplicates),
            pings_from_clients: get(&c.pings_from_clients),
            pongs_from_clients: get(&c.pongs_from_clients),
            slow_consumers_dropped: get(&c.slow_consumers_dropped),
            channels: Default::default(),
        }
    }

    /// Everything delivered so far (empty unless `record` is configured).
    pub fn recorded(&self) -> Recorded {
        self.shared.recorder.snapshot()
    }

    /// Like [`recorded`](Self::recorded), and clears the log.
    pub fn take_recorded(&self) -> Recorded {
        self.shared.recorder.take()
    }

    /// The last PRIVMSGs clients sent to `channel` (oldest first), up to `client_log_capacity`.
    pub fn client_messages(&self, channel: &str) -> Vec<ClientMessage> {
        normalize_channel(channel)
            .and_then(|name| self.shared.registry.existing_channel(&name))
            .map(|ch| lock(&ch.client_log).iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Generates exactly `emission.count` lines for the channel and returns once every socket
    /// joined to it has taken them (or closed). Nothing is generated if nobody has joined.
    pub async fn emit(&self, emission: Emission) -> Result<EmitOutcome, SimulatorError> {
        script::emit(&self.shared, emission).await
    }

    /// Resolves once every listed channel has been joined by at least one connection (and the
    /// JOIN echo was written to it).
    pub async fn wait_for_joins<S: AsRef<str>>(
        &self,
        channels: &[S],
        timeout: Duration,
    ) -> Result<(), SimulatorError> {
        let names = channels
            .iter()
            .map(|c| {
                normalize_channel(c.as_ref())
                    .ok_or_else(|| SimulatorError::InvalidChannel(c.as_ref().to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let registry = &self.shared.registry;
        let mut membership = registry.membership();
        let deadline = Instant::now() + timeout;
        loop {
            membership.borrow_and_update();
            let missing: Vec<&String> = names
                .iter()
                .filter(|n| {
                    registry
                        .existing_channel(n)
                        .is_none_or(|c| c.subscribers().is_empty())
                })
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, membership.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(SimulatorError::ShutDown),
                Err(_) => {
                    return Err(SimulatorError::Timeout {
                        what: format!("joins of {missing:?}"),
                        timeout,
                    });
                }
            }
        }
    }

    /// Polls [`stats`](Self::stats) (on every connect/join/part and every 10 ms) until `until`
    /// holds, returning the snapshot that satisfied it.
    pub async fn wait_for_stats(
        &self,
        timeout: Duration,
        until: impl Fn(&SimulatorStats) -> bool,
    ) -> Result<SimulatorStats, SimulatorError> {
        let mut membership = self.shared.registry.membership();
        let deadline = Instant::now() + timeout;
        loop {
            membership.borrow_and_update();
            let stats = self.stats();
            if until(&stats) {
                return Ok(stats);
            }
            if Instant::now() >= deadline {
                return Err(SimulatorError::Timeout {
                    what: "a stats condition".into(),
                    timeout,
                });
            }
            tokio::select! {
                _ = membership.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    }

    /// Resets every connection abruptly (TCP RST, no RECONNECT). Returns how many there were.
    pub fn drop_connections(&self) -> usize {
        control::drop_connections(&self.shared)
    }

    /// Sends `:tmi.twitch.tv RECONNECT` to every connection, then closes them. Returns how
    /// many there were.
    pub fn send_reconnect(&self) -> usize {
        control::send_reconnect(&self.shared)
    }

    /// Silent mode: answer nothing (not even PING) and send nothing, but keep sockets open and
    /// keep processing JOIN/PART/PRIVMSG. Lines generated meanwhile are dropped unrecorded.
    pub fn set_silent(&self, silent: bool) {
        self.shared.set_silent(silent);
    }

    /// Writes a raw line to the connections joined to its channel (its first parameter), or to
    /// all connections if it has no channel or does not even parse. Bypasses queued traffic.
    /// Returns the number of connections it was queued to.
    pub fn inject_raw(&self, line: &str) -> usize {
        control::inject_raw(&self.shared, line)
    }

    /// Replays raw IRC lines in order, each to the connections joined to its channel (or all
    /// connections if it has none), and returns once they were written.
    pub async fn replay_lines<I, S>(&self, lines: I) -> ReplayReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        replay::replay(&self.shared, lines).await
    }

    /// [`replay_lines`](Self::replay_lines) over the lines of a file.
    pub async fn replay_file(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<ReplayReport, SimulatorError> {
        replay::replay_file(&self.shared, path.as_ref()).await
    }

    /// Stops accepting, closes every connection and stops traffic, then waits for all of it.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

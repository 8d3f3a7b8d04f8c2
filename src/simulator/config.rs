//! Simulator configuration and its validation.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::error::SimulatorError;

/// How the simulator listens, what background traffic it produces and how it behaves.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// Listen address; port 0 picks a free port (see [`SimulatorHandle::local_addr`](super::SimulatorHandle::local_addr)).
    pub bind: SocketAddr,
    /// Channels that receive background traffic (`#` optional). Empty: every channel some
    /// connection has joined.
    pub channels: Vec<String>,
    /// Total background messages per second across all channels; `None` with `unthrottled`
    /// false means no background traffic (only [`emit`](super::SimulatorHandle::emit) and replay).
    pub rate_per_sec: Option<f64>,
    /// `rate_per_sec` is per joined channel: the total grows as channels join, so each
    /// channel gets the same rate whether ten or 100,000 are joined (a scale benchmark's
    /// join phase must not pour the whole fleet's chat into the first channels joined).
    pub rate_is_per_channel: bool,
    /// Background traffic as fast as the sockets take it (overrides `rate_per_sec`).
    pub unthrottled: bool,
    /// Seed of every generator; the same seed gives the same lines per channel.
    pub seed: u64,
    /// Fraction of generated PRIVMSGs that are cheers with `bits`.
    pub bits_fraction: f64,
    /// Fraction of mixed traffic that is USERNOTICE/CLEARCHAT/CLEARMSG instead of PRIVMSG.
    pub event_fraction: f64,
    /// Chatters in each channel's pool (the broadcaster included).
    pub chatters_per_channel: usize,
    /// Keep a [`Recorded`](super::Recorded) log of every delivered message (for tests; it grows
    /// without bound, so leave it off for load runs).
    pub record: bool,
    /// How often the server PINGs each connection; zero disables server PINGs.
    pub ping_interval: Duration,
    /// Longest accepted client line in bytes, `\r\n` excluded; longer lines are discarded.
    pub max_line_len: usize,
    /// Client PRIVMSGs kept per channel for [`client_messages`](super::SimulatorHandle::client_messages).
    pub client_log_capacity: usize,
    /// Share of generated chat lines that ask the bot something (`!ask …`), for the demo.
    pub ask_fraction: f64,
    /// Channels where logged-in clients are moderators: their USERSTATE carries the
    /// moderator badge, and Twitch's higher send limit applies there.
    pub moderator_in: Vec<String>,
    /// When set, logged-in clients must send `PASS oauth:<this>`; otherwise any `oauth:` token is
    /// accepted. Anonymous `justinfan` logins never need one.
    pub auth_token: Option<String>,
    /// A connection whose outbound queue stays full this long is dropped, as Twitch drops slow
    /// readers, so one stuck client cannot stall traffic for everyone.
    pub slow_consumer_timeout: Duration,
    /// Lines per channel per round in unthrottled mode (one socket write unit).
    pub batch_size: usize,
    /// Outbound batches queued per connection before generation waits for the socket.
    pub queue_capacity: usize,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            channels: Vec::new(),
            rate_per_sec: None,
            rate_is_per_channel: false,
            unthrottled: false,
            seed: 0x5eed,
            bits_fraction: 0.02,
            event_fraction: 0.03,
            chatters_per_channel: 200,
            record: false,
            ping_interval: Duration::from_secs(60),
            max_line_len: 16 * 1024,
            client_log_capacity: 100,
            moderator_in: Vec::new(),
            ask_fraction: 0.0,
            auth_token: None,
            slow_consumer_timeout: Duration::from_secs(10),
            batch_size: 128,
            queue_capacity: 256,
        }
    }
}

// Hand-written so the auth token never reaches a log line.
impl std::fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("bind", &self.bind)
            .field("channels", &self.channels)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("rate_is_per_channel", &self.rate_is_per_channel)
            .field("unthrottled", &self.unthrottled)
            .field("seed", &self.seed)
            .field("bits_fraction", &self.bits_fraction)
            .field("event_fraction", &self.event_fraction)
            .field("chatters_per_channel", &self.chatters_per_channel)
            .field("record", &self.record)
            .field("ping_interval", &self.ping_interval)
            .field("max_line_len", &self.max_line_len)
            .field("client_log_capacity", &self.client_log_capacity)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("slow_consumer_timeout", &self.slow_consumer_timeout)
            .field("batch_size", &self.batch_size)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

impl SimulatorConfig {
    pub(crate) fn validate(&self) -> Result<(), SimulatorError> {
        let bad = |msg: &str| Err(SimulatorError::InvalidConfig(msg.to_owned()));
        if !(0.0..=1.0).contains(&self.bits_fraction) {
            return bad("bits_fraction must be within 0..=1");
        }
        if !(0.0..=1.0).contains(&self.event_fraction) {
            return bad("event_fraction must be within 0..=1");
        }
        if let Some(rate) = self.rate_per_sec
            && !(rate.is_finite() && rate > 0.0)
        {
            return bad("rate_per_sec must be finite and positive");
        }
        if self.batch_size == 0 || self.queue_capacity == 0 {
            return bad("batch_size and queue_capacity must be positive");
        }
        if self.max_line_len < 512 {
            return bad("max_line_len must be at least 512 (the IRC minimum)");
        }
        if self.chatters_per_channel < 3 {
            return bad("chatters_per_channel must be at least 3");
        }
        for c in &self.channels {
            if super::registry::normalize_channel(c).is_none() {
                return Err(SimulatorError::InvalidChannel(c.clone()));
            }
        }
        Ok(())
    }
}

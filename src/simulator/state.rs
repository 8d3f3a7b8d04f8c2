//! The state shared by the listener, the connection tasks, the traffic generator and the handle.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::config::SimulatorConfig;
use super::generator::GenSettings;
use super::record::Recorder;
use super::registry::Registry;
use super::stats::Counters;

/// One login's PRIVMSGs of the last 30 s: (received, channel, normalised text).
pub(crate) type SendLog = std::collections::VecDeque<(std::time::Instant, String, String)>;

/// Shared simulator state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SimulatorConfig,
    pub(crate) gen_settings: GenSettings,
    pub(crate) registry: Registry,
    pub(crate) counters: Counters,
    pub(crate) recorder: Recorder,
    /// Per logged-in login: its PRIVMSGs of the last 30 s, (received, channel, text), to
    /// check Twitch's send limits on the wire.
    pub(crate) sends: std::sync::Mutex<std::collections::HashMap<String, SendLog>>,
    /// Checked on every write, so a plain atomic; the watch is for tasks that wait on it.
    silent: AtomicBool,
    silent_watch: watch::Sender<bool>,
    pub(crate) cancel: CancellationToken,
}

impl Shared {
    pub(crate) fn new(config: SimulatorConfig) -> Self {
        let gen_settings = GenSettings {
            seed: config.seed,
            bits_fraction: config.bits_fraction,
            event_fraction: config.event_fraction,
            chatters: config.chatters_per_channel,
            ask_fraction: config.ask_fraction,
        };
        Shared {
            config,
            gen_settings,
            registry: Registry::default(),
            counters: Counters::default(),
            recorder: Recorder::default(),
            sends: Default::default(),
            silent: AtomicBool::new(false),
            silent_watch: watch::Sender::new(false),
            cancel: CancellationToken::new(),
        }
    }

    pub(crate) fn is_silent(&self) -> bool {
        self.silent.load(Ordering::Acquire)
    }

    pub(crate) fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Release);
        self.silent_watch.send_replace(silent);
    }

    pub(crate) fn silent_watch(&self) -> watch::Receiver<bool> {
        self.silent_watch.subscribe()
    }

    pub(crate) fn recording(&self) -> bool {
        self.config.record
    }
}

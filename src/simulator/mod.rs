//! TMI-compatible IRC simulator: speaks Twitch chat protocol on loopback for demo, tests and load.
//!
//! [`start`] binds a listener that answers like `irc.chat.twitch.tv` (capabilities, welcome
//! numerics, `GLOBALUSERSTATE`, JOIN/PART echoes with `ROOMSTATE`, PING/PONG, `RECONNECT`), so
//! the `twitch-irc` client and the real ingest path run against it unchanged. Only connections
//! that joined a channel receive its traffic, as on Twitch.
//!
//! Traffic comes from three sources:
//! - background generation, paced (`rate_per_sec`) or unthrottled for load benchmarks;
//! - [`SimulatorHandle::emit`], an exact number of lines, returning once written;
//! - replay of captured lines ([`SimulatorHandle::replay_lines`], [`SimulatorHandle::replay_file`]).
//!
//! Generated lines carry realistic tags (badges, colours, emote ranges, bits, reply threads,
//! sub/raid/announcement USERNOTICEs, CLEARCHAT, CLEARMSG) modelled on captured Twitch lines,
//! are deterministic per `(seed, channel)`, and can be recorded for assertions
//! ([`SimulatorHandle::recorded`]). Fault controls drop connections, send RECONNECT, go silent or
//! inject raw lines.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bytebot::simulator::SimulatorError> {
//! use std::time::Duration;
//! use bytebot::simulator::{self, Emission, SimulatorConfig};
//!
//! let sim = simulator::start(SimulatorConfig { record: true, ..SimulatorConfig::default() }).await?;
//! // ... point a client at sim.local_addr() and JOIN #demo ...
//! sim.wait_for_joins(&["demo"], Duration::from_secs(5)).await?;
//! let outcome = sim.emit(Emission::chat("demo", 10)).await?;
//! assert_eq!(outcome.written, 10);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod chatters;
mod config;
mod connection;
mod control;
mod delivery;
mod error;
mod generator;
mod handle;
mod ids;
mod protocol;
mod record;
mod registry;
mod replay;
mod script;
mod server;
mod state;
mod stats;
mod tags;
mod text;
mod traffic;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::SimulatorConfig;
pub use error::SimulatorError;
pub use generator::MessageKind;
pub use handle::SimulatorHandle;
pub use ids::{room_id_for, twitch_id_for};
pub use record::{EventKind, Recorded, RecordedEvent, RecordedPrivmsg};
pub use replay::ReplayReport;
pub use script::{Emission, EmitOutcome, Kinds};
pub use stats::{ChannelStats, ClientMessage, SimulatorStats};
pub use tags::{escape_tag_value, unescape_tag_value};

/// Binds the listener and starts the simulator (and its background traffic, if configured).
pub async fn start(config: SimulatorConfig) -> Result<SimulatorHandle, SimulatorError> {
    config.validate()?;
    let bind = config.bind;
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|source| SimulatorError::Bind { addr: bind, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| SimulatorError::Bind { addr: bind, source })?;
    let background = config.unthrottled || config.rate_per_sec.is_some();
    let shared = Arc::new(state::Shared::new(config));
    let mut tasks = vec![tokio::spawn(server::accept_loop(
        Arc::clone(&shared),
        listener,
    ))];
    if background {
        tasks.push(tokio::spawn(traffic::run(Arc::clone(&shared))));
    }
    tracing::info!(%local_addr, "TMI simulator listening");
    Ok(SimulatorHandle {
        shared,
        local_addr,
        tasks,
    })
}

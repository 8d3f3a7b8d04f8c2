//! Errors of the simulator API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the simulator API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// A configuration value is out of range.
    #[error("invalid simulator config: {0}")]
    InvalidConfig(String),
    /// The listener could not bind.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A channel name is empty or contains characters Twitch logins cannot have.
    #[error("invalid channel name {0:?}")]
    InvalidChannel(String),
    /// An emission asked for something impossible (e.g. an empty kind cycle).
    #[error("invalid emission: {0}")]
    InvalidEmission(String),
    /// A wait did not see its condition in time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// A replay file could not be read.
    #[error("failed to read replay file {path}: {source}")]
    ReplayFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The simulator was shut down.
    #[error("the simulator has shut down")]
    ShutDown,
}

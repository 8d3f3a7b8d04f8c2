//! Where IRC connections go. Real Twitch uses twitch-irc's TLS transport; any other address
//! (the bundled simulator, a local relay) uses a plain-TCP transport of ours.
//!
//! twitch-irc's `MakeConnection::new_socket()` takes no arguments, so the custom address has
//! to live in a process-wide setting. One process therefore talks to one custom endpoint at
//! a time; the integration tests run one test per process (cargo nextest) for that reason.

use std::net::SocketAddr;
use std::sync::RwLock;

use async_trait::async_trait;
use tokio::net::TcpStream;
use twitch_irc::transport::tcp::{MakeConnection, TCPTransport, TCPTransportConnectError};

static CUSTOM_ENDPOINT: RwLock<Option<SocketAddr>> = RwLock::new(None);

/// Which IRC server to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// irc.chat.twitch.tv over TLS.
    Twitch,
    /// A TMI-compatible server at this address, plain TCP (loopback simulator).
    Custom(SocketAddr),
}

/// Plain-TCP connections to the configured custom endpoint.
#[derive(Debug)]
pub struct CustomEndpoint;

impl CustomEndpoint {
    /// Points every future connection of [`CustomTransport`] at `addr`.
    pub fn set(addr: SocketAddr) {
        *CUSTOM_ENDPOINT.write().unwrap_or_else(|e| e.into_inner()) = Some(addr);
    }
}

#[async_trait]
impl MakeConnection for CustomEndpoint {
    type Socket = TcpStream;

    async fn new_socket() -> Result<Self::Socket, TCPTransportConnectError> {
        let addr = *CUSTOM_ENDPOINT.read().unwrap_or_else(|e| e.into_inner());
        let addr = addr.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no custom IRC endpoint configured",
            )
        })?;
        let stream = TcpStream::connect(addr).await?;
        // Chat lines are small and latency matters more than packet count.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Transport to the custom endpoint.
pub type CustomTransport = TCPTransport<CustomEndpoint>;

//! Where IRC connections go, and how Byte watches them. Real Twitch uses twitch-irc's TLS
//! transport; any other address (the bundled simulator, a local relay) uses a plain-TCP
//! transport of ours. Both are wrapped in [`Observed`], which reports each connection's life to
//! the [`ConnectionMonitor`] and runs its liveness watchdog
//! (why a transport wrapper, and what it decides, is in [`liveness`]).
//!
//! twitch-irc's `MakeConnection::new_socket()` and `Transport::new()` take no arguments, so
//! the custom address and the monitor live in process-wide settings. One process therefore
//! talks to one custom endpoint at a time; the integration tests run one test per process
//! (cargo nextest) for that reason.
//!
//! [`Observed`] sits between twitch-irc and the real transport:
//! - incoming lines pass through unchanged (one clock read and a match on the command), except
//!   the `PONG` to the watchdog's own probe; when the watchdog declares the connection silent,
//!   the stream ends, which twitch-irc handles like a closed socket: it reconnects and rejoins.
//!   (Ending the stream rather than yielding an error: the error type is twitch-irc's
//!   `Either`, which is not re-exported.)
//! - outgoing lines go through a queue to a writer task that owns the real sink, so the
//!   watchdog can send its probe on the same connection. The writer reports a failed write as
//!   a closed connection and ends the incoming stream; twitch-irc's `send` therefore succeeds
//!   once a line is queued (Byte only reads chat, so nothing waits on that result).
//! - opening waits out the backoff after consecutive failed attempts.
//! - reading is held while too many parsed messages wait for the pump ([`gate`]).

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::stream::FusedStream;
use futures::{Sink, SinkExt, Stream};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use twitch_irc::message::IRCMessage;
use twitch_irc::transport::Transport;
use twitch_irc::transport::tcp::{
    MakeConnection, SecureTCPTransport, TCPTransport, TCPTransportConnectError,
};

use super::liveness::{self, Cause, ConnectionMonitor, Link};

static CUSTOM_ENDPOINT: RwLock<Option<SocketAddr>> = RwLock::new(None);

/// Backpressure from the pump to the sockets: counts the messages our transports handed to
/// twitch-irc that the pump has not taken yet (twitch-irc's queues and ours), and holds every
/// connection's reading while that count is past [`IRC_BACKLOG_LIMIT`](super::IRC_BACKLOG_LIMIT),
/// until the pump has taken it down to half. Process-wide like the endpoint: one Ingest per
/// process.
pub mod gate {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::Waker;

    use super::super::IRC_BACKLOG_LIMIT;

    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
    static PARKED: AtomicBool = AtomicBool::new(false);
    static WAITERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

    /// Messages handed on by the transports and not yet taken by the pump.
    pub fn backlog() -> usize {
        IN_FLIGHT.load(Ordering::Relaxed)
    }

    /// A transport handed one message on.
    pub(crate) fn entered() {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a connection must stop reading now; if so `waker` is woken when it may read
    /// again. Checked again after parking, so a pump that drained in between is not missed.
    pub(crate) fn hold(waker: &Waker) -> bool {
        if backlog() <= IRC_BACKLOG_LIMIT {
            return false;
        }
        {
            let mut w = WAITERS.lock().unwrap_or_else(|e| e.into_inner());
            if !w.iter().any(|x| x.will_wake(waker)) {
                w.push(waker.clone());
            }
            PARKED.store(true, Ordering::Release);
        }
        backlog() > IRC_BACKLOG_LIMIT
    }

    /// The pump took `n` messages; at half the bound, held connections read again (`holds`
    /// counts each time they were held).
    pub(crate) fn left(n: usize, holds: &metrics::Counter) {
        let after = IN_FLIGHT
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            })
            .map_or(0, |v| v.saturating_sub(n));
        if after <= IRC_BACKLOG_LIMIT / 2 && PARKED.load(Ordering::Acquire) {
            wake_all(holds);
        }
    }

    /// Nothing reached the pump for a while, so nothing is in flight: forget the count and
    /// let every connection read (a message twitch-irc dropped is never taken, and must not
    /// hold the sockets for ever).
    pub(crate) fn reset() {
        IN_FLIGHT.store(0, Ordering::Relaxed);
        if PARKED.load(Ordering::Acquire) {
            wake_all(&metrics::Counter::noop());
        }
    }

    fn wake_all(holds: &metrics::Counter) {
        let waiters = {
            let mut w = WAITERS.lock().unwrap_or_else(|e| e.into_inner());
            PARKED.store(false, Ordering::Release);
            std::mem::take(&mut *w)
        };
        if !waiters.is_empty() {
            holds.increment(1);
            tracing::debug!(
                connections = waiters.len(),
                "ingest backlog under half its bound; IRC reading resumes"
            );
        }
        for w in waiters {
            w.wake();
        }
    }
}

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

/// Observed transport to the custom endpoint.
pub type CustomTransport = Observed<TCPTransport<CustomEndpoint>>;

/// Observed TLS transport to Twitch.
pub type TwitchTransport = Observed<SecureTCPTransport>;

/// A twitch-irc transport whose connections report to the installed
/// [`ConnectionMonitor`] and are watched for silence.
pub struct Observed<T: Transport> {
    incoming: ObservedIncoming<T::Incoming>,
    outgoing: ObservedOutgoing<T::OutgoingError>,
}

impl<T: Transport> std::fmt::Debug for Observed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed")
            .field("conn", &self.incoming.link.id())
            .finish_non_exhaustive()
    }
}

/// Counts an attempt as failed unless it finished: twitch-irc's connect timeout drops the
/// `new()` future instead of letting it return an error.
struct Attempt {
    monitor: Arc<ConnectionMonitor>,
    finished: bool,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.finished {
            self.monitor.connect_failed();
        }
    }
}

#[async_trait]
impl<T: Transport> Transport for Observed<T> {
    type ConnectError = T::ConnectError;
    type IncomingError = T::IncomingError;
    type OutgoingError = T::OutgoingError;
    type Incoming = ObservedIncoming<T::Incoming>;
    type Outgoing = ObservedOutgoing<T::OutgoingError>;

    async fn new() -> Result<Self, Self::ConnectError> {
        let monitor = liveness::current();
        let delay = monitor.backoff();
        if !delay.is_zero() {
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "IRC reconnect backing off"
            );
            tokio::time::sleep(delay).await;
        }
        let mut attempt = Attempt {
            monitor: monitor.clone(),
            finished: false,
        };
        let result = T::new().await;
        attempt.finished = true;
        let transport = match result {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "IRC connection attempt failed");
                monitor.connect_failed();
                return Err(e);
            }
        };
        let (incoming, outgoing) = transport.split();
        let link = Link::open(monitor);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(outgoing, rx, link.clone()));
        tokio::spawn(liveness::watchdog(link.clone(), tx.downgrade()));
        tracing::debug!(conn = link.id(), "IRC connection open");
        Ok(Self {
            incoming: ObservedIncoming {
                inner: incoming,
                link,
                done: false,
            },
            outgoing: ObservedOutgoing {
                tx,
                _error: PhantomData,
            },
        })
    }

    fn split(self) -> (Self::Incoming, Self::Outgoing) {
        (self.incoming, self.outgoing)
    }
}

/// Drains queued lines into the real sink until the connection is over.
async fn write_loop<O>(mut sink: O, mut rx: mpsc::UnboundedReceiver<IRCMessage>, link: Arc<Link>)
where
    O: Sink<IRCMessage> + Unpin,
    O::Error: std::fmt::Display,
{
    loop {
        let msg = tokio::select! {
            biased;
            () = link.closed.cancelled() => return,
            msg = rx.recv() => match msg {
                Some(msg) => msg,
                None => return,
            },
        };
        link.on_outbound(&msg);
        // A peer that stopped reading must not hold the writer (and the socket) past the end.
        let sent = tokio::select! {
            () = link.closed.cancelled() => return,
            sent = sink.send(msg) => sent,
        };
        if let Err(error) = sent {
            tracing::warn!(conn = link.id(), %error, "IRC write failed");
            link.kill(Cause::Closed, Instant::now());
            return;
        }
    }
}

/// Incoming half of [`Observed`]: the real stream, noted line by line.
pub struct ObservedIncoming<S> {
    inner: S,
    link: Arc<Link>,
    done: bool,
}

impl<S, E> Stream for ObservedIncoming<S>
where
    S: Stream<Item = Result<IRCMessage, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<IRCMessage, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.link.stream_must_end(cx.waker()) {
            this.done = true;
            return Poll::Ready(None);
        }
        if gate::hold(cx.waker()) {
            // Held, not silent: the watchdog must not count the pause as a dead connection.
            this.link.held();
            return Poll::Pending;
        }
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(msg))) => {
                    if this.link.on_inbound(&msg) {
                        gate::entered();
                        return Poll::Ready(Some(Ok(msg)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    // twitch-irc closes the connection on any error, a parse error included.
                    tracing::warn!(conn = this.link.id(), %error, "IRC read failed");
                    this.link.lose(Cause::Closed, Instant::now());
                    this.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => {
                    this.link.lose(Cause::Closed, Instant::now());
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, E> FusedStream for ObservedIncoming<S>
where
    S: FusedStream<Item = Result<IRCMessage, E>> + Unpin,
    E: std::fmt::Display,
{
    fn is_terminated(&self) -> bool {
        self.done || self.inner.is_terminated()
    }
}

impl<S> Drop for ObservedIncoming<S> {
    fn drop(&mut self) {
        self.link.dropped();
    }
}

/// Outgoing half of [`Observed`]: queues lines for the connection's writer task. Never fails:
/// a dead writer has already ended the incoming stream, so twitch-irc is closing the connection.
pub struct ObservedOutgoing<E> {
    tx: mpsc::UnboundedSender<IRCMessage>,
    _error: PhantomData<fn() -> E>,
}

impl<E> Sink<IRCMessage> for ObservedOutgoing<E> {
    type Error = E;

    fn poll_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: IRCMessage) -> Result<(), E> {
        let _ = self.tx.send(item);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }
}

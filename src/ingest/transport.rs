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
//! - lines that become rows (PRIVMSG, USERNOTICE, CLEARCHAT, CLEARMSG, ROOMSTATE) take the
//!   [`lane`] straight to the pump; everything else goes through twitch-irc's loops.

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
use twitch_irc::message::{IRCMessage, ServerMessage};
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

/// The fast lane from the sockets to the pump, for the lines that become rows.
///
/// twitch-irc hands every line through two event loops (connection, then client) before it
/// reaches its receiver, and its connection loop clones each parsed `ServerMessage` on the
/// way (one more tag map, every string copied, then dropped on another thread). Profiles of
/// the full-speed ingest put that clone and its drop at about 15 % of the runtime's CPU. The
/// loops need only connection-level lines (PING, PONG, RECONNECT, JOIN, PART, the welcome and
/// the user states); chat and moderation lines are nothing to them. So each connection turns
/// those lines into `ServerMessage`s itself, with twitch-irc's own conversion, and sends them
/// down this lane; the pump reads the lane, and a forwarder puts twitch-irc's remaining
/// messages on it too, so the pump still has one queue.
///
/// Order: a connection's row-bearing lines keep their order (one lane, one sender per
/// connection); only their order against the connection-level lines may change, and those
/// carry no rows. Process-wide like the endpoint: the lane is held weakly here, so it closes
/// when the pump's forwarder and every connection are gone.
pub mod lane {
    use std::sync::RwLock;

    use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender, WeakUnboundedSender};
    use twitch_irc::message::ServerMessage;

    static LANE: RwLock<Option<WeakUnboundedSender<ServerMessage>>> = RwLock::new(None);

    /// Opens a new lane for connections opened from now on, and returns both ends; the
    /// caller's sender (and each open connection's) keeps it open.
    pub fn open() -> (
        UnboundedSender<ServerMessage>,
        UnboundedReceiver<ServerMessage>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        *LANE.write().unwrap_or_else(|e| e.into_inner()) = Some(tx.downgrade());
        (tx, rx)
    }

    /// The lane a connection opening now sends to, if a pump is reading one.
    pub(crate) fn current() -> Option<UnboundedSender<ServerMessage>> {
        LANE.read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(WeakUnboundedSender::upgrade)
    }

    /// Whether a line with this command can become a row (the pump's `convert` reads only
    /// these), and so takes the lane.
    pub fn carries_rows(command: &str) -> bool {
        matches!(
            command,
            "PRIVMSG" | "USERNOTICE" | "CLEARCHAT" | "CLEARMSG" | "ROOMSTATE"
        )
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
                lane: lane::current(),
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
    /// Where row-bearing lines go instead of twitch-irc's loops; `None` when no pump reads.
    lane: Option<mpsc::UnboundedSender<ServerMessage>>,
    done: bool,
}

impl<S> ObservedIncoming<S> {
    /// Sends `msg` down the lane if it is a row-bearing line that converts; otherwise (or if
    /// the pump is gone) gives it back for twitch-irc, which then logs what does not convert,
    /// as it always did.
    fn take_for_lane(&mut self, msg: IRCMessage) -> Option<IRCMessage> {
        let lane = match &self.lane {
            Some(lane) if lane::carries_rows(&msg.command) => lane,
            _ => return Some(msg),
        };
        let parsed = match ServerMessage::try_from(msg) {
            Ok(parsed) => parsed,
            Err(error) => return Some(IRCMessage::from(error)),
        };
        match lane.send(parsed) {
            Ok(()) => None,
            Err(back) => {
                self.lane = None;
                Some(IRCMessage::from(back.0))
            }
        }
    }
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
                    if !this.link.on_inbound(&msg) {
                        continue;
                    }
                    gate::entered();
                    if let Some(msg) = this.take_for_lane(msg) {
                        return Poll::Ready(Some(Ok(msg)));
                    }
                    if gate::hold(cx.waker()) {
                        this.link.held();
                        return Poll::Pending;
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

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    const LINES: [&str; 7] = [
        ":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!",
        "@badge-info=;badges=;color=;display-name=Ann;emotes=;id=a;room-id=1;tmi-sent-ts=1;user-id=2 :ann!ann@ann.tmi.twitch.tv PRIVMSG #chan :first",
        "PING :tmi.twitch.tv",
        "@room-id=1;target-user-id=3;tmi-sent-ts=2 :tmi.twitch.tv CLEARCHAT #chan :bob",
        // No text: twitch-irc cannot make a PrivmsgMessage of it, so it goes its usual way.
        ":ann!ann@ann.tmi.twitch.tv PRIVMSG #chan",
        "@badge-info=;badges=;color=;display-name=Ann;emotes=;id=b;room-id=1;tmi-sent-ts=3;user-id=2 :ann!ann@ann.tmi.twitch.tv PRIVMSG #chan :second",
        ":justinfan1!justinfan1@justinfan1.tmi.twitch.tv JOIN #chan",
    ];

    fn incoming(
        lane: Option<mpsc::UnboundedSender<ServerMessage>>,
    ) -> ObservedIncoming<impl Stream<Item = Result<IRCMessage, String>> + Unpin> {
        let lines = LINES.map(|l| Ok(IRCMessage::parse(l).expect("a valid IRC line")));
        ObservedIncoming {
            inner: futures::stream::iter(lines),
            link: Link::open(liveness::current()),
            lane,
            done: false,
        }
    }

    fn commands(messages: &[IRCMessage]) -> Vec<&str> {
        messages.iter().map(|m| m.command.as_str()).collect()
    }

    #[tokio::test]
    async fn row_lines_take_the_lane_in_order_and_the_rest_go_to_twitch_irc() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let passed: Vec<IRCMessage> = incoming(Some(tx))
            .map(|m| m.expect("no read error"))
            .collect()
            .await;
        assert_eq!(commands(&passed), ["001", "PING", "PRIVMSG", "JOIN"]);
        assert!(
            passed[2].params.len() == 1,
            "the unconvertible PRIVMSG is handed on whole"
        );

        let mut laned = Vec::new();
        while let Some(msg) = rx.recv().await {
            laned.push(msg);
        }
        let what: Vec<String> = laned
            .iter()
            .map(|m| match m {
                ServerMessage::Privmsg(p) => format!("privmsg {}", p.message_text),
                ServerMessage::ClearChat(c) => format!("clearchat {}", c.channel_login),
                other => format!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(what, ["privmsg first", "clearchat chan", "privmsg second"]);
    }

    #[tokio::test]
    async fn without_a_pump_every_line_goes_to_twitch_irc() {
        let (tx, rx) = mpsc::unbounded_channel();
        drop(rx);
        let passed: Vec<IRCMessage> = incoming(Some(tx))
            .map(|m| m.expect("no read error"))
            .collect()
            .await;
        assert_eq!(
            commands(&passed),
            [
                "001",
                "PRIVMSG",
                "PING",
                "CLEARCHAT",
                "PRIVMSG",
                "PRIVMSG",
                "JOIN"
            ],
            "a closed lane loses nothing"
        );
        assert_eq!(passed[5].params.last().map(String::as_str), Some("second"));

        let none: Vec<IRCMessage> = incoming(None).map(|m| m.unwrap()).collect().await;
        assert_eq!(none.len(), LINES.len());
    }
}

//! The Ingest actor: owns the twitch-irc client, honours Twitch's JOIN rate limit, and pumps
//! every incoming message to Persistence (raw rows, so a channel crash loses nothing) and to
//! the channel's actor (live state), without passing through any other mailbox.
//!
//! Chat is read through twitch-irc's pool of connections (a new connection per
//! `max_channels_per_connection` channels), anonymously unless a bot login is configured.

pub mod convert;
pub mod liveness;
pub mod outbox;
pub mod transport;

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use byte_actors::channel::ChannelMessage;
use byte_actors::clock::Clock;
use byte_actors::directory::{ChannelDirectory, Delivery};
use byte_actors::metrics as m;
use byte_actors::model::{ChannelLogin, IngestSeq, Record};
use byte_actors::ports::ChatSource;
use byte_actors::root::{IngestFactory, RecordSink};
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use metrics::{Counter, Gauge, Histogram};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use twitch_irc::login::StaticLoginCredentials;
use twitch_irc::message::ServerMessage;
use twitch_irc::{ClientConfig, TwitchIRCClient};

use liveness::{ConnectionMonitor, ConnectionView, Liveness};
use transport::{CustomEndpoint, CustomTransport, Endpoint, TwitchTransport};

/// A bot account for IRC. The token is only ever handed to twitch-irc; `Debug` hides it.
#[derive(Clone)]
pub struct BotLogin {
    /// The bot's login.
    pub login: String,
    /// OAuth token, without the `oauth:` prefix.
    pub token: String,
}

impl std::fmt::Debug for BotLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotLogin")
            .field("login", &self.login)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Twitch's JOIN limit: `joins` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinLimit {
    /// JOINs allowed per window (20 for normal accounts, 2000 for verified bots).
    pub joins: u32,
    /// The window (10 s on Twitch).
    pub window: Duration,
}

/// How Ingest connects.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The IRC server.
    pub endpoint: Endpoint,
    /// Bot login; anonymous read-only when `None`.
    pub bot: Option<BotLogin>,
    /// JOIN rate limit; `None` joins immediately (simulator).
    pub join_limit: Option<JoinLimit>,
    /// Channels per IRC connection before the pool opens another.
    pub max_channels_per_connection: usize,
    /// Minimum spacing between new connections.
    pub new_connection_every: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::Twitch,
            bot: None,
            join_limit: Some(JoinLimit {
                joins: 20,
                window: Duration::from_secs(10),
            }),
            max_channels_per_connection: 90,
            new_connection_every: Duration::from_secs(2),
        }
    }
}

/// Ingest health, shared with readiness checks and the API without an actor call.
#[derive(Debug, Default)]
pub struct IngestHealth {
    last_message_ms: AtomicU64,
    messages: AtomicU64,
    reconnects: AtomicU64,
    joins_sent: AtomicU64,
    join_queue: AtomicU64,
    /// Connections, losses and recoveries, fed by the transport (see [`liveness`]).
    connection: Arc<ConnectionMonitor>,
    /// The sending half of the client, for the co-pilot.
    outbox: outbox::IrcOutbox,
}

/// A point-in-time view of [`IngestHealth`].
#[derive(Debug, Clone, Serialize)]
pub struct IngestHealthView {
    /// A connection is registered and no outage is open: every channel a lost connection
    /// carried has been joined again.
    pub connected: bool,
    /// Milliseconds since the last IRC message, if any arrived.
    pub last_message_age_ms: Option<u64>,
    /// IRC messages received.
    pub messages: u64,
    /// RECONNECTs received from the server.
    pub reconnects: u64,
    /// JOINs sent.
    pub joins_sent: u64,
    /// Channels waiting for a JOIN slot.
    pub join_queue: u64,
    /// Connections, reconnects by cause, the open outage and the last recovery time.
    #[serde(flatten)]
    pub link: ConnectionView,
}

impl IngestHealth {
    /// Where the co-pilot's chat lines go out.
    pub fn outbox(&self) -> &outbox::IrcOutbox {
        &self.outbox
    }

    /// The connection monitor the transport reports to.
    pub fn connection(&self) -> &Arc<ConnectionMonitor> {
        &self.connection
    }

    /// Changes when a quiet connection is probed and declared silent (applies at once).
    pub fn set_liveness(&self, liveness: Liveness) {
        self.connection.set_liveness(liveness);
    }

    /// Snapshot for readiness and the API.
    pub fn view(&self) -> IngestHealthView {
        let last = self.last_message_ms.load(Ordering::Relaxed);
        let now = Utc::now().timestamp_millis() as u64;
        let age = (last > 0).then(|| now.saturating_sub(last));
        let link = self.connection.view();
        IngestHealthView {
            connected: link.connections > 0 && !link.recovering,
            last_message_age_ms: age,
            messages: self.messages.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            joins_sent: self.joins_sent.load(Ordering::Relaxed),
            join_queue: self.join_queue.load(Ordering::Relaxed),
            link,
        }
    }
}

#[derive(Clone)]
enum Client {
    Twitch(TwitchIRCClient<TwitchTransport, StaticLoginCredentials>),
    Custom(TwitchIRCClient<CustomTransport, StaticLoginCredentials>),
}

impl Client {
    /// Writes one PRIVMSG as is. Not twitch-irc's `say`, which prefixes ". " to defuse
    /// commands: our sender has already made the text safe (no leading `/` or `.`), and the
    /// prefix would show in chat.
    async fn say(&self, channel: &str, text: &str, reply_to: Option<&str>) -> Result<(), String> {
        let mut tags = twitch_irc::message::IRCTags::new();
        if let Some(id) = reply_to {
            tags.0
                .insert("reply-parent-msg-id".to_owned(), id.to_owned());
        }
        let message = twitch_irc::message::IRCMessage::new(
            tags,
            None,
            "PRIVMSG".to_owned(),
            vec![format!("#{channel}"), text.to_owned()],
        );
        match self {
            Client::Twitch(c) => c.send_message(message).await.map_err(|e| e.to_string()),
            Client::Custom(c) => c.send_message(message).await.map_err(|e| e.to_string()),
        }
    }

    fn join(&self, login: &str) {
        // Logins were validated on the way in; twitch-irc's own check cannot fail here.
        let _ = match self {
            Client::Twitch(c) => c.join(login.to_owned()),
            Client::Custom(c) => c.join(login.to_owned()),
        };
    }

    fn part(&self, login: &str) {
        match self {
            Client::Twitch(c) => c.part(login.to_owned()),
            Client::Custom(c) => c.part(login.to_owned()),
        }
    }
}

fn client_config(cfg: &IngestConfig) -> ClientConfig<StaticLoginCredentials> {
    let creds = match &cfg.bot {
        Some(b) => StaticLoginCredentials::new(b.login.clone(), Some(b.token.clone())),
        None => StaticLoginCredentials::anonymous(),
    };
    let mut config = ClientConfig::new_simple(creds);
    config.max_channels_per_connection = cfg.max_channels_per_connection;
    config.new_connection_every = cfg.new_connection_every;
    config
}

/// Messages Ingest handles.
#[derive(Debug)]
pub enum IngestMessage {
    /// Start reading this channel (queued behind the JOIN limit).
    Join(ChannelLogin),
    /// Stop reading this channel.
    Part(ChannelLogin),
    /// Send queued JOINs the limit now allows.
    JoinTick,
    /// Channels currently wanted.
    Wanted(RpcReplyPort<Vec<ChannelLogin>>),
}

/// Ingest state.
pub struct IngestState {
    client: Option<Client>,
    pump: Option<JoinHandle<()>>,
    ticker: Option<ractor::concurrency::JoinHandle<()>>,
    limiter: Option<DefaultDirectRateLimiter>,
    queue: VecDeque<ChannelLogin>,
    wanted: HashSet<ChannelLogin>,
    health: Arc<IngestHealth>,
}

impl IngestState {
    fn drain_queue(&mut self) {
        let Some(client) = &self.client else { return };
        while let Some(login) = self.queue.front() {
            if let Some(limiter) = &self.limiter
                && limiter.check().is_err()
            {
                break;
            }
            client.join(login.as_str());
            self.health.joins_sent.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(m::IRC_JOINS).increment(1);
            self.queue.pop_front();
        }
        self.health
            .join_queue
            .store(self.queue.len() as u64, Ordering::Relaxed);
        metrics::gauge!(m::IRC_JOIN_QUEUE).set(self.queue.len() as f64);
    }
}

/// What Ingest starts from.
pub struct IngestArgs {
    config: IngestConfig,
    sink: RecordSink,
    directory: Arc<ChannelDirectory>,
    health: Arc<IngestHealth>,
    clock: Arc<dyn Clock>,
    seq: IngestSeq,
}

/// The Ingest actor behaviour.
pub struct IngestActor;

impl Actor for IngestActor {
    type Msg = IngestMessage;
    type State = IngestState;
    type Arguments = IngestArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: IngestArgs,
    ) -> Result<IngestState, ActorProcessingErr> {
        let config = client_config(&args.config);
        // Every connection the client opens reports to this process-wide monitor.
        liveness::install(&args.health.connection);
        // Opened before the client, so every connection it opens sends its chat down it.
        let (lane, lane_rx) = transport::lane::open();
        // Creating the client spawns its tasks and returns at once; connections are opened
        // lazily, so no network I/O happens inside pre_start.
        let (incoming, client) = match args.config.endpoint {
            Endpoint::Twitch => {
                let (rx, c) = TwitchIRCClient::<TwitchTransport, _>::new(config);
                (rx, Client::Twitch(c))
            }
            Endpoint::Custom(addr) => {
                CustomEndpoint::set(addr);
                let (rx, c) = TwitchIRCClient::<CustomTransport, _>::new(config);
                (rx, Client::Custom(c))
            }
        };
        args.health
            .outbox
            .attach(client.clone(), args.config.bot.is_some());
        tokio::spawn(forward(incoming, lane));
        let pump = tokio::spawn(pump(
            lane_rx,
            args.sink,
            args.directory,
            args.health.clone(),
            (args.clock, args.seq),
        ));
        let limiter = args.config.join_limit.map(|l| {
            let joins = NonZeroU32::new(l.joins.max(1)).unwrap_or(NonZeroU32::MIN);
            let period = l.window / joins.get();
            let quota = Quota::with_period(period.max(Duration::from_micros(1)))
                .unwrap_or_else(|| Quota::per_second(joins))
                .allow_burst(joins);
            RateLimiter::direct(quota)
        });
        let ticker = limiter
            .is_some()
            .then(|| myself.send_interval(Duration::from_millis(100), || IngestMessage::JoinTick));
        Ok(IngestState {
            client: Some(client),
            pump: Some(pump),
            ticker,
            limiter,
            queue: VecDeque::new(),
            wanted: HashSet::new(),
            health: args.health,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: IngestMessage,
        state: &mut IngestState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            IngestMessage::Join(login) => {
                if state.wanted.insert(login.clone()) {
                    state.queue.push_back(login);
                    state.drain_queue();
                }
            }
            IngestMessage::Part(login) => {
                state.health.outbox.forget(&login);
                if state.wanted.remove(&login) {
                    let before = state.queue.len();
                    state.queue.retain(|l| l != &login);
                    if state.queue.len() == before
                        && let Some(c) = &state.client
                    {
                        c.part(login.as_str());
                    }
                }
            }
            IngestMessage::JoinTick => state.drain_queue(),
            IngestMessage::Wanted(reply) => {
                let mut all: Vec<_> = state.wanted.iter().cloned().collect();
                all.sort();
                let _ = reply.send(all);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut IngestState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        // Dropping the client closes the connections; the pump then drains what was already
        // received and ends when the incoming channel closes.
        state.client = None;
        state.health.outbox.detach();
        if let Some(pump) = state.pump.take()
            && tokio::time::timeout(Duration::from_secs(5), pump)
                .await
                .is_err()
        {
            tracing::warn!("ingest pump did not drain within 5s");
        }
        Ok(())
    }
}

/// Per-kind counters resolved once, so the hot path does no registry lookups.
struct KindCounters {
    by_kind: Vec<(&'static str, Counter)>,
    unrouted: Counter,
    lag: Histogram,
    pending: Gauge,
    held: Counter,
}

impl KindCounters {
    fn new() -> Self {
        let kinds = [
            "privmsg",
            "usernotice",
            "clearchat",
            "clearmsg",
            "roomstate",
            "join",
            "part",
            "reconnect",
            "ping",
            "notice",
            "other",
        ];
        Self {
            by_kind: kinds
                .iter()
                .map(|k| (*k, metrics::counter!(m::INGEST_MESSAGES, "kind" => *k)))
                .collect(),
            unrouted: metrics::counter!(m::INGEST_UNROUTED),
            lag: metrics::histogram!(m::INGEST_LAG_SECONDS),
            pending: metrics::gauge!(m::INGEST_PENDING),
            held: metrics::counter!(m::INGEST_READ_HELD),
        }
    }

    /// Records the lag of a batch from Twitch's timestamp of its oldest chat line. Wall
    /// time, not the injected clock: the timestamp is Twitch's wall time. A line older than
    /// an hour is a replay of captured traffic, not lag; a negative lag is clock skew.
    fn record_lag(&self, oldest_sent: DateTime<Utc>) {
        let lag = (Utc::now() - oldest_sent).num_milliseconds();
        if lag <= MAX_LAG_MS {
            self.lag.record(lag.max(0) as f64 / 1000.0);
        }
    }

    fn count(&self, kind: &str) {
        if let Some((_, c)) = self.by_kind.iter().find(|(k, _)| *k == kind) {
            c.increment(1);
        }
    }
}

/// Most rows handed to Persistence in one message; bounds latency under a burst.
const PUMP_BATCH: usize = 1024;

/// Beyond this a Twitch timestamp says "replayed", not "late" (see `record_lag`).
const MAX_LAG_MS: i64 = 3_600_000;

/// The most parsed IRC messages allowed between the sockets and the pump (twitch-irc's
/// queues and ours). Past it the transports stop reading their sockets until the pump has
/// taken the backlog down to half of it (see [`transport::gate`]).
///
/// Why: twitch-irc keeps reading and parsing whatever the pump does, and hands messages on
/// through unbounded channels, so when the box is over capacity (more chat than it can
/// convert, persist and fold) those channels took the overload as memory, about 1 KiB a
/// message, until the process died (11 GB in under 3 minutes at 100,000 msg/s on 2 cores).
/// Holding the read instead turns overload into TCP backpressure: the kernel's socket buffers
/// fill and the sender slows down (the simulator) or, past its own limits, drops the
/// connection (Twitch), which shows as a reconnect and a rejoin. 100,000 messages is about
/// 100 MiB and 4 s of this box's full ingest rate: far above any burst a healthy runtime
/// sees (the gauge stays near 0), so only sustained overload holds the sockets.
pub const IRC_BACKLOG_LIMIT: usize = 100_000;

/// Puts what twitch-irc's loops hand on (connection-level lines, and any row-bearing line
/// that came through them) on the lane, so the pump reads one queue. Ends with the client.
async fn forward(
    mut incoming: UnboundedReceiver<ServerMessage>,
    lane: UnboundedSender<ServerMessage>,
) {
    while let Some(msg) = incoming.recv().await {
        if lane.send(msg).is_err() {
            return;
        }
    }
}

/// Reads the lane (see [`transport::lane`]): stamps each row with its ingest position, hands the batch to
/// Persistence, then to the channel actors.
///
/// Persistence first, on purpose: a restarting channel actor asks Persistence to flush and
/// then replays from the database, so every row its dead predecessor missed must already be
/// in Persistence's mailbox by the time the new actor is reachable. Rows it receives in its
/// mailbox as well as in the replay are skipped by position.
async fn pump(
    mut incoming: UnboundedReceiver<ServerMessage>,
    sink: RecordSink,
    directory: Arc<ChannelDirectory>,
    health: Arc<IngestHealth>,
    (clock, mut seq): (Arc<dyn Clock>, IngestSeq),
) {
    let counters = KindCounters::new();
    let mut rows: Vec<Record> = Vec::with_capacity(PUMP_BATCH);
    loop {
        // Nothing for a second: nothing is in flight either, whatever the gate counted (a
        // message twitch-irc dropped on a closing connection never reaches us); resetting
        // it here means a miscount can never hold the sockets for good.
        let first = match tokio::time::timeout(Duration::from_secs(1), incoming.recv()).await {
            Ok(Some(first)) => first,
            Ok(None) => break,
            Err(_) => {
                transport::gate::reset();
                counters.pending.set(0.0);
                continue;
            }
        };
        let now = clock.now();
        let mut next = Some(first);
        let mut seen = 0u64;
        let mut oldest_sent = None;
        // Take what is already waiting without yielding, so a busy stream becomes batches.
        while let Some(msg) = next {
            seen += 1;
            counters.count(convert::kind_label(&msg));
            match &msg {
                ServerMessage::Reconnect(_) => {
                    health.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                ServerMessage::UserState(state) => health.outbox.on_user_state(state),
                _ => {}
            }
            let converted = convert::convert(msg, now, &mut seq);
            if let Some(chat) = converted.chat {
                oldest_sent.get_or_insert(chat.sent_at);
                rows.push(Record::Chat(chat));
            }
            rows.extend(converted.events.into_iter().map(Record::Event));
            next = if rows.len() < PUMP_BATCH {
                incoming.try_recv().ok()
            } else {
                None
            };
        }
        if let Some(sent) = oldest_sent {
            counters.record_lag(sent);
        }
        // Taken: the sockets may be read again once the backlog is down (see the gate).
        transport::gate::left(seen as usize, &counters.held);
        // What twitch-irc parsed while this batch was being taken, in its queues and ours:
        // grows when the pump cannot keep up, up to the bound.
        counters.pending.set(transport::gate::backlog() as f64);
        health.messages.fetch_add(seen, Ordering::Relaxed);
        health
            .last_message_ms
            .store(now.timestamp_millis() as u64, Ordering::Relaxed);
        if rows.is_empty() {
            continue;
        }
        let batch = std::mem::replace(&mut rows, Vec::with_capacity(PUMP_BATCH));
        let deliveries: Vec<(ChannelLogin, ChannelMessage)> = batch
            .iter()
            .filter_map(|r| match r {
                Record::Chat(c) => Some((c.channel.clone(), ChannelMessage::Chat(c.clone()))),
                Record::Event(e) => Some((e.channel.clone(), ChannelMessage::Event(e.clone()))),
                Record::Intel(_) => None,
            })
            .collect();
        if !sink.send(batch) {
            tracing::error!("persistence is gone; ingest pump stopping");
            return;
        }
        for (channel, message) in deliveries {
            if directory.deliver(channel.as_str(), message) != Delivery::Delivered {
                counters.unrouted.increment(1);
            }
        }
    }
}

/// JOIN/PART port handed to the Router.
#[derive(Debug)]
struct IngestPort(ActorRef<IngestMessage>);

impl ChatSource for IngestPort {
    fn join(&self, login: &ChannelLogin) {
        let _ = self.0.cast(IngestMessage::Join(login.clone()));
    }
    fn part(&self, login: &ChannelLogin) {
        let _ = self.0.cast(IngestMessage::Part(login.clone()));
    }
}

/// Spawns the twitch-irc ingest under the root.
#[derive(Debug, Clone)]
pub struct TwitchIngest {
    config: IngestConfig,
    health: Arc<IngestHealth>,
    clock: Arc<dyn Clock>,
    seq_floor: i64,
}

impl TwitchIngest {
    /// A factory for this config; `health` is shared with readiness checks; rows are stamped
    /// with `clock`'s time and positions above `seq_floor` (the highest position a stored
    /// snapshot covers, so a clock that stepped back cannot hide new rows from a replay).
    pub fn new(
        config: IngestConfig,
        health: Arc<IngestHealth>,
        clock: Arc<dyn Clock>,
        seq_floor: i64,
    ) -> Self {
        Self {
            config,
            health,
            clock,
            seq_floor,
        }
    }
}

#[async_trait]
impl IngestFactory for TwitchIngest {
    async fn spawn(
        &self,
        root: ActorCell,
        sink: RecordSink,
        directory: Arc<ChannelDirectory>,
    ) -> Result<(ActorCell, Arc<dyn ChatSource>), ActorProcessingErr> {
        let args = IngestArgs {
            config: self.config.clone(),
            sink,
            directory,
            health: self.health.clone(),
            clock: self.clock.clone(),
            seq: IngestSeq::starting_after(self.seq_floor),
        };
        let (actor, _) = Actor::spawn_linked(None, IngestActor, args, root).await?;
        Ok((actor.get_cell(), Arc::new(IngestPort(actor))))
    }
}

//! The channel actor: one per joined channel, owning that channel's live state (the
//! `StreamContext` totals and the [`intel::ChannelIntel`] engines). It does no I/O: raw rows
//! are persisted on the ingest path, so a crash here loses no data; the rows it derives
//! (rollups, hints, clips, sessions, snapshots) go to Persistence through a [`RecordSink`].

pub mod context;
pub mod intel;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::clock::Clock;
use crate::faults::FaultPlan;
use crate::intel::session::EndReason;
use crate::metrics as m;
use crate::model::{ChannelLogin, ChatRecord, EventRecord, Record};
use crate::root::RecordSink;

pub use context::StreamContext;
pub use intel::{ChannelIntel, IntelEnv, LiveContext};

/// Messages a channel actor handles.
#[derive(Debug)]
pub enum ChannelMessage {
    /// A chat line for this channel.
    Chat(Arc<ChatRecord>),
    /// A channel event.
    Event(Arc<EventRecord>),
    /// Run the engines (sent by the actor's own ticker, or by tests).
    Tick,
    /// The channel is being parted: close the session before the actor drains.
    Parting,
    /// Start (true) or stop (false) a session explicitly; replies with the session, or
    /// `None` when stopping with no session open.
    Session(bool, RpcReplyPort<Option<crate::intel::session::Session>>),
    /// Reply with a copy of the live state.
    Snapshot(RpcReplyPort<ChannelSnapshot>),
    /// Fault injection: panic inside the handler with this text (tests, chaos benchmark).
    Crash(String),
}

/// The channel's live state as the API sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSnapshot {
    /// Channel login.
    pub login: ChannelLogin,
    /// When this incarnation of the actor started.
    pub actor_started_at: DateTime<Utc>,
    /// Running totals.
    pub context: StreamContext,
    /// Windows, health, churn, hints, clips, session.
    pub live: LiveContext,
}

/// What a channel actor starts from.
#[derive(Debug, Clone)]
pub struct ChannelArgs {
    /// Channel login.
    pub login: ChannelLogin,
    /// Shared resources and clock.
    pub env: ChannelEnv,
}

/// Resources shared by every channel actor.
#[derive(Debug, Clone)]
pub struct ChannelEnv {
    /// Fault injection plan.
    pub faults: Arc<FaultPlan>,
    /// Time source for every window and engine.
    pub clock: Arc<dyn Clock>,
    /// Sentiment lexicon and bot identity.
    pub intel: IntelEnv,
    /// Where derived rows go; `None` keeps them in memory only (unit tests).
    pub sink: Option<RecordSink>,
    /// How often engines run; `None` disables the ticker (tests send `Tick` themselves).
    pub tick_every: Option<Duration>,
    /// Snapshot the state every this many ticks.
    pub snapshot_every_ticks: u32,
}

impl ChannelEnv {
    /// An environment for a channel actor outside a runtime (tests, benchmarks): wall-clock
    /// time, a fresh lexicon, no ticker, derived rows kept in memory.
    pub fn detached(faults: Arc<FaultPlan>) -> Self {
        Self {
            faults,
            clock: Arc::new(crate::clock::SystemClock),
            intel: IntelEnv {
                sentiment: Arc::new(crate::intel::sentiment::SentimentEngine::new()),
                bot_login: None,
            },
            sink: None,
            tick_every: None,
            snapshot_every_ticks: 0,
        }
    }
}

/// Per-channel state.
#[derive(Debug)]
pub struct ChannelState {
    login: ChannelLogin,
    started_at: DateTime<Utc>,
    context: StreamContext,
    intel: ChannelIntel,
    env: ChannelEnv,
    ticker: Option<JoinHandle<()>>,
    ticks: u32,
}

impl ChannelState {
    fn emit(&self, rows: Vec<crate::model::IntelRecord>) {
        if let (Some(sink), false) = (&self.env.sink, rows.is_empty()) {
            sink.send(
                rows.into_iter()
                    .map(|r| Record::Intel(Arc::new(r)))
                    .collect(),
            );
        }
    }
}

/// The channel actor behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelActor;

impl Actor for ChannelActor {
    type Msg = ChannelMessage;
    type State = ChannelState;
    type Arguments = ChannelArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ChannelArgs,
    ) -> Result<ChannelState, ActorProcessingErr> {
        if args.env.faults.fails_on_start(args.login.as_str()) {
            return Err(format!("injected start failure for {}", args.login).into());
        }
        let ticker = args
            .env
            .tick_every
            .map(|every| myself.send_interval(every, || ChannelMessage::Tick));
        Ok(ChannelState {
            intel: ChannelIntel::new(args.login.clone()),
            login: args.login,
            started_at: args.env.clock.now(),
            context: StreamContext::default(),
            env: args.env,
            ticker,
            ticks: 0,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: ChannelMessage,
        state: &mut ChannelState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ChannelMessage::Chat(chat) => {
                let now = state.env.clock.now();
                let bot = state.env.intel.bot_login.as_deref();
                let first_time = state
                    .intel
                    .on_chat(&state.env.intel.sentiment, &chat, bot, now);
                state.context.on_chat(&chat, first_time);
            }
            ChannelMessage::Event(event) => {
                state.context.on_event(&event);
                state.intel.on_event(&event, state.env.clock.now());
            }
            ChannelMessage::Tick => {
                let now = state.env.clock.now();
                let out = state.intel.tick(now);
                for h in &out.hints {
                    metrics::counter!(m::COACHING_HINTS, "kind" => h.kind.as_str()).increment(1);
                }
                if out.clip.is_some() {
                    metrics::counter!(m::CLIP_CANDIDATES).increment(1);
                }
                let mut rows = out.rows;
                state.ticks = state.ticks.wrapping_add(1);
                if state.env.snapshot_every_ticks > 0
                    && state.ticks.is_multiple_of(state.env.snapshot_every_ticks)
                {
                    rows.push(state.intel.snapshot_row(now));
                }
                state.emit(rows);
            }
            ChannelMessage::Parting => {
                let now = state.env.clock.now();
                let rows = state
                    .intel
                    .end_session(now, EndReason::Parted)
                    .into_iter()
                    .collect();
                state.emit(rows);
            }
            ChannelMessage::Session(start, reply) => {
                let now = state.env.clock.now();
                let session = if start {
                    Some(state.intel.start_session(now))
                } else {
                    state.intel.stop_session(now).map(|(session, row)| {
                        state.emit(vec![row]);
                        session
                    })
                };
                let _ = reply.send(session);
            }
            ChannelMessage::Snapshot(reply) => {
                // The caller may have timed out already; that is its business, not a fault.
                let _ = reply.send(ChannelSnapshot {
                    login: state.login.clone(),
                    actor_started_at: state.started_at,
                    context: state.context.clone(),
                    live: state.intel.live(),
                });
            }
            ChannelMessage::Crash(reason) => panic!("injected crash: {reason}"),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut ChannelState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        // A graceful stop leaves a snapshot; a crash skips post_stop's work only if it
        // panics here, and raw rows are persisted elsewhere anyway.
        let now = state.env.clock.now();
        state.emit(vec![state.intel.snapshot_row(now)]);
        Ok(())
    }
}

//! The root supervisor and the [`Runtime`] handle that starts and stops the whole tree.
//!
//! Tree: Root -> Persistence, ChannelSupervisor -> Channel x N, Ingest (spawned by an
//! [`IngestFactory`] from the edge, so the core never names twitch-irc), Router.
//! Channel actors restart under their own per-channel policy. The core actors hold the
//! process's shared machinery, so their failure is escalated: the root stops, the runtime
//! reports why, and the process exits non-zero for its service manager to restart it — a
//! half-working runtime that silently stopped persisting would be worse.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::channel::{ChannelEnv, ChannelMessage, IntelEnv, RestoreEnv};
use crate::clock::Clock;
use crate::directory::ChannelDirectory;
use crate::faults::FaultPlan;
use crate::model::{ChannelLogin, Record};
use crate::persistence::{
    Persistence, PersistenceArgs, PersistenceConfig, PersistenceMessage, PersistenceStats,
};
use crate::ports::{ChatSource, SpillFactory, Store};
use crate::router::{Router, RouterArgs, RouterMessage};
use crate::rpc::{CallError, ask};
use crate::supervisor::policy::RestartPolicy;
use crate::supervisor::{ChannelSupervisor, SupervisorArgs, SupervisorMessage};
use crate::vitals::VitalsBoard;

/// Where the ingest path hands rows for persistence.
#[derive(Debug, Clone)]
pub struct RecordSink(ActorRef<PersistenceMessage>);

impl RecordSink {
    /// Queues rows for writing; false when Persistence has stopped.
    pub fn send(&self, rows: Vec<Record>) -> bool {
        self.0.cast(PersistenceMessage::Rows(rows)).is_ok()
    }
}

/// Builds the ingest actor, linked under the root. Implemented at the edge (twitch-irc).
#[async_trait]
pub trait IngestFactory: Send + Sync + 'static {
    /// Spawns ingest as a child of `root`, routing rows to `sink` and chat to `directory`;
    /// returns the ingest's cell (for orderly shutdown) and its JOIN/PART port.
    async fn spawn(
        &self,
        root: ActorCell,
        sink: RecordSink,
        directory: Arc<ChannelDirectory>,
    ) -> Result<(ActorCell, Arc<dyn ChatSource>), ActorProcessingErr>;
}

/// An ingest that receives nothing: for tests of the core and for API-only nodes.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoIngest;

impl ChatSource for NoIngest {
    fn join(&self, _login: &ChannelLogin) {}
    fn part(&self, _login: &ChannelLogin) {}
}

/// Settings and ports the runtime starts from.
#[derive(Clone)]
pub struct RootArgs {
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// Persistence batching.
    pub persistence: PersistenceConfig,
    /// Per-channel restart policy.
    pub restart_policy: RestartPolicy,
    /// Timeout of every routed command.
    pub call_timeout: Duration,
    /// Builds the ingest child; `None` runs without ingest.
    pub ingest: Option<Arc<dyn IngestFactory>>,
    /// Fault injection plan.
    pub faults: Arc<FaultPlan>,
    /// Time source of the channel engines.
    pub clock: Arc<dyn Clock>,
    /// Sentiment lexicon and bot identity for the channel engines.
    pub intel: IntelEnv,
    /// How often channel engines run (`None`: only when sent `Tick`).
    pub tick_every: Option<Duration>,
    /// Whether channel actors restore their state from the store when they start.
    pub restore: bool,
    /// The spill log that bounds Persistence's memory during outages (`None`: unbounded).
    pub spill: Option<Arc<dyn SpillFactory>>,
    /// Live HUD events (hints, agent changes) for dashboards and overlays.
    pub hud: crate::agent::HudBus,
    /// The fleet-wide agent switch.
    pub suspend: Arc<crate::agent::SuspendSwitch>,
    /// Semantic memory's enrichment sink (`None`: channels enrich nothing).
    pub memory: Option<Arc<dyn crate::memory::MemorySink>>,
    /// Where autonomy's decisions go (`None`: channels never decide by themselves).
    pub autonomy: Option<Arc<dyn crate::autonomy::ActionSink>>,
    /// Chat replies: the edge's workers, triggers and gate (`None`: channels never answer).
    pub replies: Option<ChannelReplies>,
}

/// What the runtime needs to let channels answer viewers.
#[derive(Debug, Clone)]
pub struct ChannelReplies {
    /// The edge's reply workers.
    pub port: Arc<dyn crate::channel::replies::ReplyPort>,
    /// The bot's login and commands.
    pub trigger: crate::copilot::trigger::TriggerConfig,
    /// Debounce and cooldowns.
    pub gate: crate::copilot::gate::GateConfig,
}

/// Refs to the core actors.
#[derive(Debug, Clone)]
pub struct CoreRefs {
    /// Persistence.
    pub persistence: ActorRef<PersistenceMessage>,
    /// Channel supervisor.
    pub supervisor: ActorRef<SupervisorMessage>,
    /// Router.
    pub router: ActorRef<RouterMessage>,
    /// Ingest, when running.
    pub ingest: Option<ActorCell>,
}

/// Messages the root handles.
#[derive(Debug)]
pub enum RootMessage {
    /// Reply with the core refs.
    Refs(RpcReplyPort<CoreRefs>),
}

/// Root state.
#[derive(Debug)]
pub struct RootState {
    refs: CoreRefs,
    failure: Arc<Mutex<Option<String>>>,
}

struct RootActor;

/// Root start-up arguments plus where to report an escalated failure.
struct RootInit {
    args: RootArgs,
    directory: Arc<ChannelDirectory>,
    vitals: Arc<VitalsBoard>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Actor for RootActor {
    type Msg = RootMessage;
    type State = RootState;
    type Arguments = RootInit;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        init: RootInit,
    ) -> Result<RootState, ActorProcessingErr> {
        let RootInit {
            args,
            directory,
            vitals,
            failure,
        } = init;
        let cell = myself.get_cell();
        let (persistence, _) = Actor::spawn_linked(
            None,
            Persistence,
            PersistenceArgs {
                store: args.store.clone(),
                config: args.persistence,
                spill: match &args.spill {
                    Some(factory) => {
                        let (log, recovery) = factory.open()?;
                        if recovery.corrupt_frames > 0 {
                            tracing::error!(
                                frames = recovery.corrupt_frames,
                                truncated_bytes = recovery.truncated_bytes,
                                "spill log had corrupt frames; they were cut"
                            );
                        }
                        Some((log, recovery.rows))
                    }
                    None => None,
                },
            },
            cell.clone(),
        )
        .await?;
        let (supervisor, _) = Actor::spawn_linked(
            None,
            ChannelSupervisor,
            SupervisorArgs {
                policy: args.restart_policy,
                directory: directory.clone(),
                env: ChannelEnv {
                    faults: args.faults.clone(),
                    clock: args.clock.clone(),
                    intel: args.intel.clone(),
                    sink: Some(RecordSink(persistence.clone())),
                    // A restore replays what came after the snapshot: at most 1,000 rows
                    // or five minutes of a busy channel's chat, 30 minutes of a quiet one's.
                    // By time alone (every five minutes) 100,000 channels wrote 333 whole
                    // states a second whatever the chat; by rows the volume follows the
                    // chat, and the five-minute floor bounds it for very busy channels.
                    snapshots: crate::channel::SnapshotPolicy {
                        every_rows: 1_000,
                        min_ticks: 300,
                        every_ticks: 1_800,
                    },
                    restore: args
                        .restore
                        .then(|| RestoreEnv::new(args.store.clone(), persistence.clone())),
                    vitals: Some(vitals),
                    hud: args.hud.clone(),
                    memory: args.memory.clone(),
                    autonomy: args.autonomy.clone().map(|sink| {
                        crate::channel::autonomy::AutonomyEnv {
                            sink,
                            suspend: args.suspend.clone(),
                        }
                    }),
                    replies: args
                        .replies
                        .clone()
                        .map(|r| crate::channel::replies::RepliesEnv {
                            trigger: r.trigger,
                            gate: r.gate,
                            suspend: args.suspend.clone(),
                            port: r.port,
                        }),
                },
            },
            cell.clone(),
        )
        .await?;
        if let Some(every) = args.tick_every {
            Actor::spawn_linked(
                None,
                crate::ticker::FleetTicker,
                crate::ticker::TickerArgs {
                    directory: directory.clone(),
                    every,
                },
                cell.clone(),
            )
            .await?;
        }
        let (ingest, chat_source): (Option<ActorCell>, Arc<dyn ChatSource>) = match &args.ingest {
            Some(factory) => {
                let (c, s) = factory
                    .spawn(
                        cell.clone(),
                        RecordSink(persistence.clone()),
                        directory.clone(),
                    )
                    .await?;
                (Some(c), s)
            }
            None => (None, Arc::new(NoIngest)),
        };
        let (router, _) = Actor::spawn_linked(
            None,
            Router,
            RouterArgs {
                supervisor: supervisor.clone(),
                directory,
                chat_source,
                call_timeout: args.call_timeout,
                suspend: args.suspend.clone(),
            },
            cell,
        )
        .await?;
        Ok(RootState {
            refs: CoreRefs {
                persistence,
                supervisor,
                router,
                ingest,
            },
            failure,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: RootMessage,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RootMessage::Refs(reply) => {
                let _ = reply.send(state.refs.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let reason = match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                format!("core actor {} failed: {err}", cell.get_id())
            }
            SupervisionEvent::ActorTerminated(cell, _, why) => {
                format!(
                    "core actor {} stopped: {}",
                    cell.get_id(),
                    why.unwrap_or_default()
                )
            }
            SupervisionEvent::ActorStarted(_) | SupervisionEvent::ProcessGroupChanged(_) => {
                return Ok(());
            }
        };
        tracing::error!(%reason, "escalating: stopping the runtime");
        state
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason.clone());
        myself.stop(Some(reason));
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        // Intake first, persistence last, so every row that got in is written on the way out.
        let wait = Some(Duration::from_secs(15));
        if let Some(ingest) = &state.refs.ingest {
            ingest
                .stop_and_wait(Some("shutdown".into()), wait)
                .await
                .ok();
        }
        state
            .refs
            .router
            .stop_and_wait(Some("shutdown".into()), wait)
            .await
            .ok();
        state
            .refs
            .supervisor
            .stop_and_wait(Some("shutdown".into()), wait)
            .await
            .ok();
        state
            .refs
            .persistence
            .stop_and_wait(Some("shutdown".into()), wait)
            .await
            .ok();
        Ok(())
    }
}

/// Why the runtime failed to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An actor failed to start.
    #[error("actor tree failed to start: {0}")]
    Spawn(#[from] ractor::SpawnErr),
    /// The root did not answer after starting.
    #[error("root actor did not answer: {0}")]
    Call(#[from] CallError),
}

/// A running actor tree.
#[derive(Debug)]
pub struct Runtime {
    root: ActorRef<RootMessage>,
    root_task: JoinHandle<()>,
    refs: CoreRefs,
    directory: Arc<ChannelDirectory>,
    vitals: Arc<VitalsBoard>,
    faults: Arc<FaultPlan>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Runtime {
    /// Starts the tree.
    pub async fn start(args: RootArgs) -> Result<Self, StartError> {
        let directory = ChannelDirectory::new();
        let vitals = VitalsBoard::new();
        let failure = Arc::new(Mutex::new(None));
        let faults = args.faults.clone();
        let init = RootInit {
            args,
            directory: directory.clone(),
            vitals: vitals.clone(),
            failure: failure.clone(),
        };
        let (root, root_task) = Actor::spawn(None, RootActor, init).await?;
        let refs = ask(&root, RootMessage::Refs, Duration::from_secs(5)).await?;
        Ok(Self {
            root,
            root_task,
            refs,
            directory,
            vitals,
            faults,
            failure,
        })
    }

    /// The Router, for API commands.
    pub fn router(&self) -> &ActorRef<RouterMessage> {
        &self.refs.router
    }

    /// Persistence, for flushes and stats.
    pub fn persistence(&self) -> &ActorRef<PersistenceMessage> {
        &self.refs.persistence
    }

    /// The channel directory.
    pub fn directory(&self) -> &Arc<ChannelDirectory> {
        &self.directory
    }

    /// The board channel actors publish their vitals to (per-channel metrics).
    pub fn vitals(&self) -> &Arc<VitalsBoard> {
        &self.vitals
    }

    /// The fault injection plan (tests and chaos benchmarks).
    pub fn faults(&self) -> &Arc<FaultPlan> {
        &self.faults
    }

    /// Runs every channel's engines now (tests driving a manual clock).
    pub fn tick_all(&self) -> usize {
        self.directory.broadcast(|| ChannelMessage::Tick)
    }

    /// The live state of a channel's actor.
    pub async fn channel_snapshot(
        &self,
        login: &ChannelLogin,
        timeout: Duration,
    ) -> Result<crate::channel::ChannelSnapshot, crate::router::RouterError> {
        let login = login.clone();
        ask(
            &self.refs.router,
            |reply| RouterMessage::Snapshot(login, reply),
            timeout,
        )
        .await?
    }

    /// Fault injection: makes the channel's current actor panic. False if it has none.
    pub fn crash_channel(&self, login: &str, reason: &str) -> bool {
        self.directory
            .actor(login)
            .is_some_and(|a| a.cast(ChannelMessage::Crash(reason.to_owned())).is_ok())
    }

    /// Waits until every row handed to Persistence so far is durable.
    pub async fn flush(&self, timeout: Duration) -> Result<PersistenceStats, CallError> {
        ask(&self.refs.persistence, PersistenceMessage::Flush, timeout).await
    }

    /// Persistence counters.
    pub async fn persistence_stats(&self) -> Result<PersistenceStats, CallError> {
        ask(
            &self.refs.persistence,
            PersistenceMessage::Stats,
            Duration::from_secs(5),
        )
        .await
    }

    /// Why the runtime stopped by itself, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the root has stopped (after a shutdown or an escalated failure).
    pub fn is_finished(&self) -> bool {
        self.root_task.is_finished()
    }

    /// Resolves when the root stops by itself; returns the escalated failure.
    pub async fn stopped(&mut self) -> Option<String> {
        (&mut self.root_task).await.ok();
        self.failure()
    }

    /// Orderly stop: intake, router, channels, then Persistence drains what is left.
    pub async fn shutdown(self) -> Option<String> {
        self.root.stop(Some("shutdown".into()));
        self.root_task.await.ok();
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

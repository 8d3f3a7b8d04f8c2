//! Wiring: builds the whole runtime (database, actor tree, ingest, HTTP) from configuration,
//! and stops it in order. Tests start an [`App`] in-process on port 0 and stop it the same way
//! the binary does on SIGTERM.
//!
//! Boot with the database down: the pool is lazy, Persistence buffers and retries, channels
//! come from `TWITCH_CHANNEL_LOGINS`, and a background task migrates and joins the stored
//! channels once the database answers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use byte_actors::agent::{HudBus, SuspendSwitch};
use byte_actors::channel::IntelEnv;
use byte_actors::clock::{Clock, SystemClock};
use byte_actors::faults::FaultPlan;
use byte_actors::intel::sentiment::SentimentEngine;
use byte_actors::model::ChannelLogin;
use byte_actors::root::{RootArgs, Runtime, StartError};
use byte_actors::router::RouterMessage;
use byte_actors::rpc::ask;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, RuntimeArgs, Secret};
use crate::http::{self, AppState};
use crate::ingest::{IngestHealth, TwitchIngest};
use crate::store::{
    self, DbError, EmbeddedError, EmbeddedPostgres, FileSpillFactory, PgStore, RunningPostgres,
};
use crate::telemetry::channels::ChannelExporter;
use crate::telemetry::{Exposition, Sampler};

/// How long the fleet view serves a channel's per-minute trends before reading them again:
/// the rollups behind them change about once a minute, dashboards poll every few seconds.
const FLEET_TREND_TTL: Duration = Duration::from_secs(5);
/// How long a rendered fleet page is served again: the channels' numbers behind it change at
/// their ticks, once a second.
const FLEET_PAGE_TTL: Duration = Duration::from_secs(1);
/// A channel's context is recomputed at its tick (1 s): an answer is served that long.
const CONTEXT_TTL: Duration = Duration::from_secs(1);
/// Past this, a context is too old to show even while a refresh runs (the actor is stuck or
/// restarting): the request asks and waits, and reports the actor's state.
const CONTEXT_MAX_STALE: Duration = Duration::from_secs(10);

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No admin token configured.
    #[error("BYTEBOT_ADMIN_TOKEN is required (use `bytebot demo` to get a generated one)")]
    NoAdminToken,
    /// The embedded database could not start.
    #[error("embedded Postgres: {0}")]
    Embedded(#[from] EmbeddedError),
    /// The database could not be set up.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The actor tree failed to start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The co-pilot settings are unusable.
    #[error(transparent)]
    Copilot(crate::copilot::config::CopilotConfigError),
    /// The LLM endpoint settings are unusable.
    #[error("LLM: {0}")]
    Llm(byte_actors::llm::LlmError),
    /// The semantic memory settings are unusable.
    #[error("semantic memory: {0}")]
    Memory(String),
    /// The HTTP listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running Byte.
pub struct App {
    runtime: Runtime,
    http_addr: SocketAddr,
    http_task: JoinHandle<std::io::Result<()>>,
    http_stop: Option<oneshot::Sender<()>>,
    /// Stopped last in [`App::shutdown`], after the pool is closed: a database connection
    /// first opened by a request is driven by this runtime's reactor.
    http_runtime: HttpRuntime,
    catch_up: Option<JoinHandle<()>>,
    sampler: JoinHandle<()>,
    pool: PgPool,
    /// The write path's own pool (see [`PgStore::with_writer`]).
    write_pool: PgPool,
    embedded: Option<RunningPostgres>,
    ingest: Arc<IngestHealth>,
    /// The co-pilot's background tasks (profile loader, report generator).
    copilot_tasks: Vec<JoinHandle<()>>,
    copilot: crate::copilot::Copilot,
}

/// The HTTP server's own tokio runtime.
///
/// Why apart from the actors' runtime: tokio does not prioritise tasks, so on a busy
/// runtime a request that just arrived waits behind every ready chat task. On its own
/// threads, mostly asleep, the kernel's scheduler runs it as soon as it wakes: the API's
/// latency under ingest is then bounded by the OS, not by the ingest's queue depth.
/// Handlers still talk to actors through their mailboxes and to Postgres through the shared
/// pool, which work across runtimes.
struct HttpRuntime(Option<tokio::runtime::Runtime>);

impl HttpRuntime {
    fn start(threads: usize) -> std::io::Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("byte-http")
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
    }

    fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0
            .as_ref()
            .expect("the HTTP runtime lives as long as the App")
            .spawn(future)
    }

    /// Stops its threads without waiting for them: never blocks, so it is safe in async
    /// code (and on drop, when a failing test drops the App).
    fn stop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for HttpRuntime {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What tests and benchmarks can swap in; production uses the defaults.
#[derive(Debug, Clone)]
pub struct Hooks {
    /// Fault injection plan.
    pub faults: Arc<FaultPlan>,
    /// Time source of the channel engines.
    pub clock: Arc<dyn Clock>,
    /// How often channel engines run; `None` only on `Runtime::tick_all` (manual clocks).
    pub tick_every: Option<Duration>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            faults: Arc::new(FaultPlan::default()),
            clock: Arc::new(SystemClock),
            tick_every: Some(Duration::from_secs(1)),
        }
    }
}

/// Where the database comes from.
pub enum Database {
    /// A server the user runs.
    Url(Secret),
    /// The embedded server under this data dir, on this port (0 = any).
    Embedded {
        /// Data directory (the cluster lives in `<dir>/pg`).
        data_dir: PathBuf,
        /// Port.
        port: u16,
    },
}

impl App {
    /// Starts everything described by `args`, with `admin_token` guarding the API.
    pub async fn start(args: &RuntimeArgs, hooks: Hooks) -> Result<App, AppError> {
        // Before any actor resolves a metric handle, or its handles would be no-ops.
        let metrics = crate::telemetry::metrics_handle();
        let admin_token = args.checked_admin_token()?.ok_or(AppError::NoAdminToken)?;
        let database = match &args.database_url {
            Some(url) => Database::Url(url.clone()),
            None => Database::Embedded {
                data_dir: args.data_dir.clone(),
                port: args.pg_port,
            },
        };
        let seed = args.channel_logins()?;
        let ingest_config = args.ingest()?;
        let channel_metrics = Arc::new(ChannelExporter::new(args.channel_metrics()?));

        let resilient = Arc::new(crate::llm::Resilient::new(args.llm()?).map_err(AppError::Llm)?);
        args.copilot.validate().map_err(AppError::Copilot)?;
        let (url, embedded) = match database {
            Database::Url(url) => (url, None),
            Database::Embedded { data_dir, port } => {
                let pg = EmbeddedPostgres::locate()?
                    .ensure_running(&data_dir, port)
                    .await?;
                tracing::info!(port = pg.port(), data_dir = %data_dir.display(), "embedded Postgres ready");
                (Secret::new(pg.url()), Some(pg))
            }
        };
        let pool = store::connect_lazy(url.expose())?;
        let write_pool = store::connect_lazy_writer(url.expose())?;
        let store = Arc::new(PgStore::with_writer(pool.clone(), write_pool.clone()));
        let db_ready = tokio::time::timeout(Duration::from_secs(5), store::migrate(&pool))
            .await
            .map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let stored = match &db_ready {
            Ok(()) => {
                store::channels::join_many(&pool, &seed).await?;
                store::channels::list_active(&pool).await?
            }
            Err(reason) => {
                tracing::warn!(%reason, channels = seed.len(),
                    "database unreachable at boot; starting degraded with TWITCH_CHANNEL_LOGINS");
                seed.clone()
            }
        };

        // New rows must sort after every stored snapshot's watermark even if the wall clock
        // stepped back since they were taken.
        let seq_floor = match &db_ready {
            Ok(()) => store::max_snapshot_watermark(&pool).await.unwrap_or(0),
            Err(_) => 0,
        };
        let ingest = Arc::new(IngestHealth::default());
        ingest.set_liveness(args.liveness()?);
        let hud = HudBus::default();
        let suspend = Arc::new(SuspendSwitch::default());
        let saved_agents = match &db_ready {
            Ok(()) => {
                suspend.set(
                    store::channels::fleet_suspended(&pool)
                        .await
                        .unwrap_or(false),
                );
                store::channels::agent_settings(&pool)
                    .await
                    .unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        // The co-pilot: every model call goes through the budgets; every chat line through
        // the sender, which holds this process's canary (planted in every system prompt,
        // cut from every answer).
        let budget = Arc::new(crate::copilot::budget::Budget::new(
            pool.clone(),
            args.copilot.budgets(),
        ));
        let canary = format!("cnry-{:032x}", rand::random::<u128>());
        let sender = Arc::new(crate::copilot::sender::ChatSender::new(
            crate::copilot::sender::SenderArgs {
                ingest: ingest.clone(),
                suspend: suspend.clone(),
                sanitize: args.copilot.sanitize(canary),
                limits: Default::default(),
                call_timeout: Duration::from_millis(args.command_timeout_ms.max(1)),
            },
        ));
        let copilot = crate::copilot::Copilot {
            llm: Arc::new(crate::copilot::budget::Budgeted::new(
                resilient.clone(),
                budget.clone(),
            )),
            resilient,
            profiles: Arc::default(),
            catalog: Arc::default(),
            sender,
            budget,
        };
        if db_ready.is_ok() {
            match store::copilot::channel_models(&pool).await {
                Ok(models) => {
                    for (channel, activity, model) in models {
                        copilot
                            .resilient
                            .set_channel_model(channel, activity, model);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "channel models not loaded"),
            }
        }
        let (reply_port, reply_jobs) = crate::copilot::replies::queue(args.copilot.reply_queue);
        let replies = args
            .bot_login
            .as_ref()
            .map(|bot| byte_actors::root::ChannelReplies {
                port: reply_port,
                trigger: args.copilot.trigger(bot),
                gate: args.copilot.gate(),
            });
        // Semantic memory: a missing local model does not stop the runtime (memory answers
        // 503 with the reason); bad settings do.
        let (engine_config, memory_config) =
            crate::memory::settings(args).map_err(AppError::Memory)?;
        let engine = crate::memory::build_engine(
            &engine_config,
            args.memory_embed_workers,
            args.memory_embed_queue,
            args.memory_embed_nice,
        );
        if let Err(reason) = &engine {
            tracing::warn!(%reason, "semantic memory unavailable");
        }
        let memory = crate::memory::Memory::new(engine, pool.clone(), memory_config);
        let enrichment = memory.enrichment();
        // The action queue's edge: channel actors hand their decisions to it.
        let actions = crate::copilot::actions::ActionService::new(
            pool.clone(),
            hooks.clock.clone(),
            hud.clone(),
        );
        let runtime = Runtime::start(RootArgs {
            store: store.clone(),
            persistence: args.persistence(),
            restart_policy: args.restart_policy(),
            call_timeout: Duration::from_millis(args.command_timeout_ms.max(1)),
            ingest: Some(Arc::new(TwitchIngest::new(
                ingest_config,
                ingest.clone(),
                hooks.clock.clone(),
                seq_floor,
            ))),
            faults: hooks.faults,
            clock: hooks.clock,
            intel: IntelEnv {
                sentiment: Arc::new(SentimentEngine::new()),
                bot_login: args.bot_login.as_ref().map(|b| b.to_ascii_lowercase()),
            },
            tick_every: hooks.tick_every,
            restore: true,
            hud: hud.clone(),
            suspend: suspend.clone(),
            spill: Some(Arc::new(FileSpillFactory::new(args.spill_dir()))),
            autonomy: Some(Arc::new(crate::copilot::actions::QueueSink(
                actions.clone(),
            ))),
            memory: Some(enrichment),
            replies,
        })
        .await?;
        copilot.sender.attach_router(runtime.router().clone());
        actions.wire(runtime.router().clone(), copilot.sender.clone());
        actions.start_sweeper(Duration::from_secs(30));
        // Prompt profiles before the first reply (in the background while the database is
        // away), and post-stream reports whenever a session ends.
        let mut copilot_tasks = crate::copilot::replies::spawn_workers(
            reply_jobs,
            crate::copilot::replies::ReplyDeps {
                llm: copilot.llm.clone(),
                profiles: copilot.profiles.clone(),
                sender: copilot.sender.clone(),
                pool: pool.clone(),
                hud: hud.clone(),
                memory: Some(memory.clone()),
            },
            args.copilot.reply_workers,
        );
        copilot_tasks.push(copilot.budget.clone().spawn_flusher(Duration::from_secs(2)));
        let profiles_loaded = match &db_ready {
            Ok(()) => copilot.profiles.load(&pool).await.is_ok(),
            Err(_) => false,
        };
        if !profiles_loaded {
            copilot_tasks.push(copilot.profiles.spawn_loader(pool.clone()));
        }
        copilot_tasks.push(crate::copilot::reports::spawn_on_session_end(
            &hud,
            crate::copilot::reports::ReportDeps {
                pool: pool.clone(),
                llm: copilot.llm.clone(),
                persistence: runtime.persistence().clone(),
            },
        ));
        join_all(runtime.router(), &stored).await;
        for (login, settings) in saved_agents {
            let _ = ask(
                runtime.router(),
                |r| RouterMessage::SetAgent(login, settings, r),
                Duration::from_secs(10),
            )
            .await;
        }

        let catch_up = db_ready
            .is_err()
            .then(|| tokio::spawn(catch_up(pool.clone(), runtime.router().clone(), seed)));
        let sampler = Sampler {
            store: store.clone(),
            board: runtime.vitals().clone(),
            channels: channel_metrics.clone(),
            fleet: metrics.clone(),
            every: channel_metrics.config().refresh,
        }
        .spawn();

        let bind_err = |source| AppError::Bind {
            addr: args.http_addr,
            source,
        };
        // Bound here so a taken port fails the start; served from the API's own runtime.
        let listener = std::net::TcpListener::bind(args.http_addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let http_addr = listener.local_addr().map_err(bind_err)?;
        let http_threads = args.http_threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            usize::from,
        );
        let http_runtime = HttpRuntime::start(http_threads).map_err(bind_err)?;
        let copilot_handle = copilot.clone();
        let state = AppState {
            router: runtime.router().clone(),
            persistence: runtime.persistence().clone(),
            directory: runtime.directory().clone(),
            pool: pool.clone(),
            store,
            ingest: ingest.clone(),
            access: Arc::new(crate::http::access::Access::new(
                admin_token,
                args.auth_failures_per_minute,
            )),
            metrics: Exposition::new(metrics, channel_metrics),
            hud,
            suspend,
            copilot,
            actions,
            memory,
            vitals: runtime.vitals().clone(),
            trends: Arc::new(crate::http::trends::TrendCache::new(FLEET_TREND_TTL)),
            fleet_pages: Arc::new(crate::http::page_cache::PageCache::new(FLEET_PAGE_TTL)),
            contexts: Arc::new(crate::http::context_cache::ContextCache::new(
                CONTEXT_TTL,
                CONTEXT_MAX_STALE,
            )),
            call_timeout: Duration::from_millis(args.command_timeout_ms.max(1)),
        };
        let (http_stop, stopped) = oneshot::channel::<()>();
        let router = http::app(state);
        let http_task = http_runtime.spawn(async move {
            let listener = TcpListener::from_std(listener)?;
            http::serve(listener, router, async {
                let _ = stopped.await;
            })
            .await
        });
        tracing::info!(%http_addr, channels = stored.len(), "Byte is running");
        Ok(App {
            copilot_tasks,
            copilot: copilot_handle,
            runtime,
            http_addr,
            http_task,
            http_stop: Some(http_stop),
            http_runtime,
            catch_up,
            sampler,
            pool,
            write_pool,
            embedded,
            ingest,
        })
    }

    /// Where the HTTP server listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The actor tree.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The co-pilot's services (prompt profiles, models, reports).
    pub fn copilot(&self) -> &crate::copilot::Copilot {
        &self.copilot
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// IRC health.
    pub fn ingest_health(&self) -> &Arc<IngestHealth> {
        &self.ingest
    }

    /// The embedded database, when this app started one.
    pub fn embedded(&self) -> Option<&RunningPostgres> {
        self.embedded.as_ref()
    }

    /// Orderly stop: HTTP stops accepting, ingest stops, channels stop, Persistence writes
    /// everything it holds. Returns the escalated failure, if the runtime had one.
    pub async fn shutdown(mut self, stop_embedded: bool) -> Option<String> {
        if let Some(stop) = self.http_stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.http_task).await;
        if let Some(task) = &self.catch_up {
            task.abort();
        }
        self.sampler.abort();
        for task in &self.copilot_tasks {
            task.abort();
        }
        let failure = self.runtime.shutdown().await;
        self.pool.close().await;
        self.write_pool.close().await;
        self.http_runtime.stop();
        if let (true, Some(pg)) = (stop_embedded, &self.embedded)
            && let Err(e) = pg.stop().await
        {
            tracing::warn!(error = %e, "embedded Postgres did not stop cleanly");
        }
        failure
    }

    /// Resolves when the runtime stops by itself (an escalated core failure).
    pub async fn failed(&mut self) -> Option<String> {
        self.runtime.stopped().await
    }
}

async fn join_all(router: &ractor::ActorRef<RouterMessage>, logins: &[ChannelLogin]) {
    let started = std::time::Instant::now();
    for (i, login) in logins.iter().enumerate() {
        if i > 0 && i % 10_000 == 0 {
            tracing::info!(
                joined = i,
                of = logins.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "joining channels"
            );
        }
        let out = ask(
            router,
            |r| RouterMessage::Join(login.clone(), r),
            Duration::from_secs(10),
        )
        .await;
        if !matches!(out, Ok(Ok(_))) {
            tracing::error!(channel = %login, ?out, "could not join channel at start-up");
        }
    }
}

/// After a degraded boot: wait for the database, migrate, save the start-up channels and
/// join the ones only the database knew about.
async fn catch_up(pool: PgPool, router: ractor::ActorRef<RouterMessage>, seed: Vec<ChannelLogin>) {
    let mut delay = Duration::from_millis(250);
    loop {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
        if let Err(e) = store::migrate(&pool).await {
            tracing::debug!(error = %e, "database still unavailable");
            continue;
        }
        let mut ok = true;
        for login in &seed {
            ok &= store::channels::join(&pool, login).await.is_ok();
        }
        match store::channels::list_active(&pool).await {
            Ok(stored) if ok => {
                join_all(&router, &stored).await;
                tracing::info!(channels = stored.len(), "database is back; caught up");
                return;
            }
            _ => continue,
        }
    }
}

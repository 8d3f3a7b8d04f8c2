//! Ingest benchmark: the simulator writes chat lines over real loopback sockets for a fixed
//! time (or a fixed count); the whole runtime (twitch-irc parse, pump, channel actors,
//! Persistence, binary `COPY`) makes them durable. Baselines in the same run on the same
//! rows: binary `COPY` from one connection into an identical table, and twitch-irc's raw parse
//! rate of equivalent lines.
//!
//! The baselines start from a quiet server: the run's rows are vacuumed and a checkpoint is
//! taken first. Without it the baselines shared the two cores with the vacuum and the
//! checkpoint of the run's ~2 million rows, and the same build measured COPY anywhere from
//! 44,000 to 83,000 rows/s and the parse from 115,000 to 265,000 lines/s.
//!
//! Latency (send -> durable) is measured from two logs kept during the run: the emitter
//! stamps each chunk *before* it hands it to the simulator (with the running count of lines
//! sent), and a sampler records the count of committed chat rows every 2 ms. The k-th row
//! sent is counted durable when the committed count first reaches k: rows travel in order
//! (one socket per channel group, one pump, one write in flight), so this is the queueing
//! latency of the pipeline, rounded up to the sampling step, and never flattered: the stamp
//! is taken before the lines exist.
//!
//! Two ways to drive it: as fast as it goes (`--rate 0`), keeping at most `--max-backlog`
//! rows between sent and durable so memory stays bounded and nothing spills; or open loop at
//! a fixed `--rate` (chunks are sent on a fixed schedule, late chunks are not skipped and
//! their lateness counts in the latency).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use byte_actors::model::ChatRecord;
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use sqlx::PgPool;

use super::{Conditions, cpu_time, p50_p99_max, write_json};
use crate::app::App;
use crate::config::{LogFormat, RuntimeArgs, Secret};
use crate::simulator::{self, Emission, SimulatorConfig, SimulatorHandle};
use crate::store::{self, EmbeddedPostgres, RunningPostgres, copy_baseline};

/// Ingest benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct IngestBenchArgs {
    /// Seconds to keep sending (ignored when `--messages` is set).
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Send exactly this many chat messages instead of running for `--seconds`.
    #[arg(long)]
    pub messages: Option<usize>,
    /// Messages per second, open loop on a fixed schedule; 0 = as fast as it goes.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Most rows sent but not yet durable when running as fast as it goes (enough to keep
    /// a few batches queued behind the one being written; more only adds latency).
    #[arg(long, default_value_t = 25_000)]
    pub max_backlog: u64,
    /// Lines per simulator emission (one socket write unit; each is stamped once).
    #[arg(long, default_value_t = 100)]
    pub chunk: usize,
    /// Channels they are spread over.
    #[arg(long, default_value_t = 100)]
    pub channels: usize,
    /// Rows per database batch.
    #[arg(long, default_value_t = 5000)]
    pub batch_rows: usize,
    /// Skip the COPY and parse baselines (for profiling runs).
    #[arg(long)]
    pub no_baselines: bool,
    /// Postgres server URL; a fresh database is created on it. Default: embedded server.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Data dir for the embedded server.
    #[arg(long, default_value = "./data/bench")]
    pub data_dir: PathBuf,
}

/// The result, as written to JSON.
#[derive(Debug, Serialize)]
pub struct IngestResult {
    /// Messages pushed.
    pub messages: usize,
    /// Channels.
    pub channels: usize,
    /// Target rate (0 = as fast as it goes).
    pub target_rate: f64,
    /// Seconds from the first line sent to the last row durable.
    pub byte_seconds: f64,
    /// End-to-end messages/s made durable by Byte.
    pub byte_msgs_per_sec: f64,
    /// Send -> durable latency, median, ms.
    pub latency_p50_ms: f64,
    /// Send -> durable latency, 99th percentile, ms.
    pub latency_p99_ms: f64,
    /// Send -> durable latency, worst, ms.
    pub latency_max_ms: f64,
    /// CPU seconds this process (simulator + runtime) used per second of the run.
    pub process_cpu_cores: f64,
    /// Rows Persistence moved to the spill log (non-zero: the backlog outgrew
    /// `BYTEBOT_BUFFER_ROWS` and the run measured the spill path, not the database path).
    pub spilled_rows: u64,
    /// Memories the channels' enrichment stored during the run (each an embedding computed on
    /// the same cores): the background work the runtime did beside ingest.
    pub memories_stored: i64,
    /// Seconds for binary COPY of the same rows from one connection.
    pub copy_seconds: Option<f64>,
    /// Rows/s of that COPY.
    pub copy_rows_per_sec: Option<f64>,
    /// Byte's rate / COPY's rate.
    pub ratio_vs_copy: Option<f64>,
    /// Lines/s twitch-irc parses (IRCMessage + ServerMessage) on one core.
    pub parse_lines_per_sec: Option<f64>,
    /// Byte's rate / parse rate.
    pub ratio_vs_parse: Option<f64>,
    /// Machine load at the end of the Byte phase.
    pub conditions: Conditions,
    /// When the run happened.
    pub at: DateTime<Utc>,
}

/// A fresh database on the embedded (or given) server, dropped by [`BenchDb::drop_all`].
pub(crate) struct BenchDb {
    pub(crate) url: String,
    pub(crate) pool: PgPool,
    admin: PgPool,
    name: String,
    embedded: Option<RunningPostgres>,
}

impl BenchDb {
    /// Starts (or finds) the server and creates a migrated database on it.
    pub(crate) async fn create(database_url: Option<&Secret>, data_dir: &Path) -> Result<Self> {
        let (server_url, embedded) = match database_url {
            Some(u) => (u.expose().to_owned(), None),
            None => {
                let pg = EmbeddedPostgres::locate()?
                    .ensure_running(data_dir, 0)
                    .await?;
                (pg.url(), Some(pg))
            }
        };
        let name = format!(
            "bytebot_bench_{}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let admin = store::connect(&server_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await?;
        let url = store::with_database(&server_url, &name);
        let pool = store::connect(&url).await?;
        store::migrate(&pool).await?;
        Ok(Self {
            url,
            pool,
            admin,
            name,
            embedded,
        })
    }

    /// Drops the database and stops an embedded server this run started.
    pub(crate) async fn drop_all(self) -> Result<()> {
        self.pool.close().await;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await?;
        if let Some(pg) = self.embedded {
            pg.stop().await?;
        }
        Ok(())
    }
}

/// The runtime's settings for a benchmark: no JOIN limit, the given channels per IRC
/// connection, a 50 ms Persistence tick, nothing else unusual. The spill log starts empty:
/// every run writes to a fresh database, so rows an interrupted earlier run left there
/// belong nowhere, and replaying them (1.6M once) would be measured as this run's load.
pub(crate) fn runtime_args(
    url: &str,
    data_dir: &Path,
    logins: &[String],
    irc_addr: std::net::SocketAddr,
    batch_rows: usize,
    channels_per_connection: usize,
) -> Result<RuntimeArgs> {
    let spill_dir = data_dir.join("bench-spill");
    match std::fs::remove_dir_all(&spill_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("clearing {}", spill_dir.display()));
        }
        _ => {}
    }
    Ok(RuntimeArgs {
        database_url: Some(Secret::new(url.to_owned())),
        http_addr: "127.0.0.1:0".parse()?,
        http_threads: None,
        data_dir: data_dir.to_path_buf(),
        pg_port: 0,
        admin_token: Some(Secret::new(BENCH_ADMIN_TOKEN)),
        channels: logins.to_vec(),
        irc_addr: Some(irc_addr),
        bot_login: None,
        oauth_token: None,
        join_rate: 0,
        channels_per_connection,
        batch_rows,
        flush_interval_ms: 50,
        irc_probe_after_ms: 10_000,
        irc_silent_after_ms: 15_000,
        auth_failures_per_minute: 1_000,
        buffer_rows: 100_000,
        spill_after_ms: 2_000,
        spill_dir: Some(spill_dir),
        restart_max: 5,
        restart_window_secs: 60,
        restart_backoff_ms: 100,
        restart_backoff_max_ms: 10_000,
        command_timeout_ms: 5000,
        log_format: LogFormat::Human,
        metrics_top_channels: 20,
        metrics_channels: Vec::new(),
        metrics_refresh_ms: 5000,
        llm_base_url: None,
        llm_api_key: None,
        llm_model: None,
        llm_timeout_ms: 20_000,
        llm_models: String::new(),
        llm_prices: String::new(),
        embeddings_base_url: None,
        embeddings_model: "all-minilm".into(),
        embeddings_api_key: None,
        memory_model_dir: None,
        memory_embed_workers: 1,
        memory_embed_queue: 64,
        memory_embed_nice: 15,
        memory_dedup_threshold: 0.92,
        copilot: Default::default(),
    })
}

/// The admin token benchmarks start the runtime with (loopback only, never a real secret).
pub(crate) const BENCH_ADMIN_TOKEN: &str = "bench-admin-token-not-secret";

/// What the load driver saw: chunk stamps (sent count after the chunk, time before it) and
/// the committed-row samples.
#[derive(Default)]
pub(crate) struct LoadLog {
    pub(crate) sent: Vec<(u64, Instant)>,
    pub(crate) durable: Vec<(u64, Instant)>,
}

impl LoadLog {
    /// Send -> durable latency of every chunk, in ms (see the module doc).
    pub(crate) fn latencies_ms(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.sent.len());
        let mut j = 0;
        for &(count, stamp) in &self.sent {
            while j < self.durable.len() && self.durable[j].0 < count {
                j += 1;
            }
            if let Some(&(_, at)) = self.durable.get(j) {
                out.push(at.saturating_duration_since(stamp).as_secs_f64() * 1e3);
            }
        }
        out
    }
}

/// How a [`drive`] run sends.
pub(crate) struct Drive {
    pub(crate) logins: Vec<String>,
    /// Total to send, or `None` to send until `duration` has passed.
    pub(crate) total: Option<u64>,
    pub(crate) duration: Duration,
    /// Messages/s on a fixed schedule; 0 = as fast as the backlog allows.
    pub(crate) rate: f64,
    pub(crate) max_backlog: u64,
    pub(crate) chunk: usize,
}

/// Sends chat through the simulator as `plan` says while sampling the committed chat rows,
/// and returns once every row sent is durable. `stop` ends sending early.
pub(crate) async fn drive(
    sim: &SimulatorHandle,
    app: &App,
    plan: &Drive,
    stop: Option<&AtomicBool>,
) -> Result<LoadLog> {
    let base = app.runtime().persistence_stats().await?.chat_written;
    let durable = Arc::new(AtomicU64::new(0));
    let sending_done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let emitter = {
        let durable = durable.clone();
        let sending_done = sending_done.clone();
        async move {
            let mut sent_log = Vec::new();
            let mut sent: u64 = 0;
            let mut k: usize = 0;
            loop {
                let more = match plan.total {
                    Some(t) => sent < t,
                    None => started.elapsed() < plan.duration,
                } && !stop.is_some_and(|s| s.load(Ordering::Relaxed));
                if !more {
                    break;
                }
                let n = match plan.total {
                    Some(t) => (t - sent).min(plan.chunk as u64) as usize,
                    None => plan.chunk,
                };
                if plan.rate > 0.0 {
                    let due = started + Duration::from_secs_f64(sent as f64 / plan.rate);
                    tokio::time::sleep_until(due.into()).await;
                } else {
                    while sent.saturating_sub(durable.load(Ordering::Relaxed)) > plan.max_backlog {
                        tokio::time::sleep(Duration::from_micros(500)).await;
                    }
                }
                let stamp = Instant::now();
                let channel = &plan.logins[k % plan.logins.len()];
                k += 1;
                sim.emit(Emission::chat(channel, n)).await?;
                sent += n as u64;
                sent_log.push((sent, stamp));
            }
            sending_done.store(true, Ordering::Relaxed);
            anyhow::Ok(sent_log)
        }
    };
    let sampler = {
        let durable = durable.clone();
        let sending_done = sending_done.clone();
        async move {
            let mut log = Vec::new();
            let mut last_progress = Instant::now();
            let mut last = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(2));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                // An overloaded runtime may not answer in time: skip the sample, keep going
                // (the stall shows up as latency, which is the point).
                let Ok(stats) = app.runtime().persistence_stats().await else {
                    continue;
                };
                let n = stats.chat_written - base;
                let now = Instant::now();
                durable.store(n, Ordering::Relaxed);
                if n != last {
                    log.push((n, now));
                    last = n;
                    last_progress = now;
                }
                if sending_done.load(Ordering::Relaxed) {
                    break;
                }
                if last_progress.elapsed() > Duration::from_secs(60) {
                    bail!("no row became durable for 60 s ({n} so far)");
                }
            }
            anyhow::Ok(log)
        }
    };
    let (sent, samples) = tokio::join!(emitter, sampler);
    let sent = sent?;
    let mut samples = samples?;
    // Sending is over: wait for the tail to become durable.
    let total = sent.last().map_or(0, |s| s.0);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let Ok(stats) = app.runtime().persistence_stats().await else {
            continue;
        };
        let n = stats.chat_written - base;
        if samples.last().is_none_or(|s| s.0 != n) {
            samples.push((n, Instant::now()));
        }
        if n >= total {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {n} of {total} rows durable 120 s after sending stopped");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(LoadLog {
        sent,
        durable: samples,
    })
}

/// `channels` bench logins and a simulator serving them, with no cheers so every message is
/// plain chat (the rows the COPY baseline writes too).
pub(crate) async fn bench_channels(
    channels: usize,
) -> Result<(Vec<String>, simulator::SimulatorHandle)> {
    let logins: Vec<String> = (0..channels).map(|i| format!("bench_{i:05}")).collect();
    let sim = simulator::start(SimulatorConfig {
        channels: logins.clone(),
        bits_fraction: 0.0,
        ..SimulatorConfig::default()
    })
    .await?;
    Ok((logins, sim))
}

/// Runs the benchmark and writes `out`.
pub async fn run(args: IngestBenchArgs, out: &Path) -> Result<()> {
    let db = BenchDb::create(args.database_url.as_ref(), &args.data_dir).await?;
    let (logins, sim) = bench_channels(args.channels).await?;
    let runtime_args = runtime_args(
        &db.url,
        &args.data_dir,
        &logins,
        sim.local_addr(),
        args.batch_rows,
        90,
    )?;
    let app = App::start(&runtime_args, crate::app::Hooks::default()).await?;
    sim.wait_for_joins(&logins, Duration::from_secs(60)).await?;

    let plan = Drive {
        logins: logins.clone(),
        total: args.messages.map(|m| m as u64),
        duration: Duration::from_secs(args.seconds),
        rate: args.rate,
        max_backlog: args.max_backlog,
        chunk: args.chunk.max(1),
    };
    match plan.total {
        Some(t) => eprintln!("ingest: {t} messages over {} channels ...", args.channels),
        None => eprintln!(
            "ingest: {} s at {} over {} channels ...",
            args.seconds,
            if args.rate > 0.0 {
                format!("{:.0} msg/s", args.rate)
            } else {
                "full speed".into()
            },
            args.channels
        ),
    }
    let cpu_before = cpu_time();
    let started = Instant::now();
    let log = drive(&sim, &app, &plan, None).await?;
    let byte_elapsed = log
        .durable
        .last()
        .map_or(Duration::ZERO, |d| d.1.saturating_duration_since(started));
    let cpu_used = cpu_time().saturating_sub(cpu_before);
    let spilled_rows = app.runtime().persistence_stats().await?.spilled_rows;
    let conditions = Conditions::now();
    let total = log.sent.last().map_or(0, |s| s.0) as usize;
    let mut lat = log.latencies_ms();
    let (lat_p50, lat_p99, lat_max) = p50_p99_max(&mut lat);
    let stored = store::count_chat(&db.pool, None).await?;
    let memories_stored: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_entries")
        .fetch_one(&db.pool)
        .await
        .context("counting stored memories")?;
    if stored as usize != total {
        bail!("stored {stored} rows, expected {total}");
    }
    app.shutdown(false).await;
    sim.shutdown().await;
    let byte_rate = total as f64 / byte_elapsed.as_secs_f64();

    let (mut copy_seconds, mut copy_rate, mut parse_rate) = (None, None, None);
    if !args.no_baselines {
        // Baseline 1: binary COPY of the very same rows from one connection.
        let rows = load_rows(&db.pool).await?;
        quiesce(&db.pool).await?;

        // Baseline 2: twitch-irc's parse rate of equivalent lines (first: no server work).
        let lines: Vec<String> = rows.iter().map(irc_line).collect();
        let parse_started = Instant::now();
        let mut parsed = 0usize;
        for line in &lines {
            let irc = twitch_irc::message::IRCMessage::parse(line).context("parse")?;
            if let Ok(twitch_irc::message::ServerMessage::Privmsg(_)) =
                twitch_irc::message::ServerMessage::try_from(irc)
            {
                parsed += 1;
            }
        }
        let parse_elapsed = parse_started.elapsed();
        if parsed != total {
            bail!("parsed {parsed} of {total} lines");
        }
        parse_rate = Some(total as f64 / parse_elapsed.as_secs_f64());
        drop(lines);

        copy_baseline::create_scratch_table(&db.pool, "bench_copy").await?;
        let copy_started = Instant::now();
        let copied = copy_baseline::copy_chat_rows(&db.pool, "bench_copy", &rows).await?;
        let copy_elapsed = copy_started.elapsed();
        if copied as usize != total {
            bail!("COPY wrote {copied} rows, expected {total}");
        }
        copy_seconds = Some(copy_elapsed.as_secs_f64());
        copy_rate = Some(total as f64 / copy_elapsed.as_secs_f64());
    }

    let result = IngestResult {
        messages: total,
        channels: args.channels,
        target_rate: args.rate,
        byte_seconds: byte_elapsed.as_secs_f64(),
        byte_msgs_per_sec: byte_rate,
        latency_p50_ms: lat_p50,
        latency_p99_ms: lat_p99,
        latency_max_ms: lat_max,
        process_cpu_cores: cpu_used.as_secs_f64() / byte_elapsed.as_secs_f64(),
        spilled_rows,
        memories_stored,
        copy_seconds,
        copy_rows_per_sec: copy_rate,
        ratio_vs_copy: copy_rate.map(|c| byte_rate / c),
        parse_lines_per_sec: parse_rate,
        ratio_vs_parse: parse_rate.map(|p| byte_rate / p),
        conditions,
        at: Utc::now(),
    };
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| messages x channels | {total} x {} |", args.channels);
    println!(
        "| Byte end-to-end (sim -> durable) | {byte_rate:.0} msg/s ({:.2} s) |",
        result.byte_seconds
    );
    println!(
        "| send -> durable latency p50 / p99 / max | {lat_p50:.1} / {lat_p99:.1} / {lat_max:.1} ms |"
    );
    println!(
        "| this process's CPU (simulator + runtime) | {:.2} cores |",
        result.process_cpu_cores
    );
    println!("| rows through the spill log | {} |", result.spilled_rows);
    println!(
        "| memories stored by enrichment (embedded during the run) | {} |",
        result.memories_stored
    );
    if let (Some(c), Some(p)) = (copy_rate, parse_rate) {
        println!(
            "| baseline: binary COPY, 1 connection | {c:.0} rows/s ({:.2} s) |",
            result.copy_seconds.unwrap_or_default()
        );
        println!("| ratio Byte / COPY | {:.2} |", byte_rate / c);
        println!("| baseline: twitch-irc parse, 1 core | {p:.0} lines/s |");
        println!("| ratio Byte / parse | {:.2} |", byte_rate / p);
    }
    println!("| machine | {} |", result.conditions.label());
    write_json(out, &result)?;
    db.drop_all().await
}

/// Leaves the server with nothing to catch up on: the run's rows vacuumed (hint bits set, so
/// reading them writes nothing) and their WAL checkpointed. `CHECKPOINT` needs a superuser or
/// `pg_checkpoint`; on an operator's server without either the baselines run after the vacuum
/// only, and say so.
async fn quiesce(pool: &PgPool) -> Result<()> {
    sqlx::query("VACUUM (ANALYZE) chat_messages")
        .execute(pool)
        .await
        .context("vacuuming the run's rows before the baselines")?;
    if let Err(e) = sqlx::query("CHECKPOINT").execute(pool).await {
        eprintln!("baselines run without a checkpoint first: {e}");
    }
    Ok(())
}

async fn load_rows(pool: &PgPool) -> Result<Vec<ChatRecord>> {
    use crate::store::replay::{CHAT_COLUMNS, StoredChat};
    let rows: Vec<StoredChat> = sqlx::query_as(&format!(
        "SELECT {CHAT_COLUMNS} FROM chat_messages ORDER BY seq"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(StoredChat::into_record).collect())
}

fn irc_line(r: &ChatRecord) -> String {
    let esc = simulator::escape_tag_value;
    format!(
        "@badge-info=;badges={};color=#1E90FF;display-name={};emotes={};flags=;id={};mod={};room-id={};\
         subscriber={};tmi-sent-ts={};turbo=0;user-id={};user-type= :{u}!{u}@{u}.tmi.twitch.tv PRIVMSG #{} :{}",
        esc(&r.badges),
        esc(&r.display_name),
        esc(&r.emotes),
        r.message_id,
        u8::from(r.is_moderator),
        r.room_id.as_deref().unwrap_or("1"),
        u8::from(r.is_subscriber),
        r.sent_at.timestamp_millis(),
        r.user_id,
        r.channel,
        r.text,
        u = r.user_login,
    )
}

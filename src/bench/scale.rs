//! Channel scale: one runtime process joins N channels (10,000, 100,000) of a simulator with
//! no JOIN limits and gets `--rate-per-channel` chat messages per second in each. Measured:
//! time until every channel is joined (start of the runtime -> the simulator has seen every
//! JOIN), RSS per channel, and CPU at steady state. Baseline in the same run: N idle tokio
//! tasks each holding the state a channel actor folds (`Folded::new`) behind an unbounded
//! mailbox, measured the same way (RSS per task, time to spawn).
//!
//! Why child processes: RSS is per process, and the simulator keeps per-channel state of its
//! own (generators, chatter pools), so it runs in a child (`--role simulator`); the baseline
//! runs in another child (`--role baseline`) so its allocations are not counted in the
//! runtime's RSS, nor the runtime's in its. Both are this same binary; they talk over
//! stdin/stdout lines.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use byte_actors::channel::Folded;
use byte_actors::model::{ChannelLogin, ChatRecord};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::ingest::{BenchDb, runtime_args};
use super::{Conditions, cpu_time, rss_bytes, write_json};
use crate::app::App;
use crate::config::Secret;
use crate::simulator::{self, SimulatorConfig};

/// Which part of the benchmark this process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Runs the whole benchmark (starts the two children).
    Main,
    /// Child: the simulator alone.
    Simulator,
    /// Child: the idle-task baseline alone.
    Baseline,
}

/// Channel scale benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct ScaleBenchArgs {
    /// Channels to join.
    #[arg(long, default_value_t = 10_000)]
    pub channels: usize,
    /// Chat messages per second per channel once joined.
    #[arg(long, default_value_t = 1.0)]
    pub rate_per_channel: f64,
    /// Seconds of steady state measured after every channel is joined.
    #[arg(long, default_value_t = 30)]
    pub steady_seconds: u64,
    /// Seconds to let the runtime settle after the last JOIN before measuring.
    #[arg(long, default_value_t = 10)]
    pub settle_seconds: u64,
    /// Channels per IRC connection (Twitch's own limit does not apply to the simulator).
    #[arg(long, default_value_t = 2_000)]
    pub channels_per_connection: usize,
    /// Postgres server URL; a fresh database is created on it. Default: embedded server.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Data dir for the embedded server.
    #[arg(long, default_value = "./data/bench")]
    pub data_dir: PathBuf,
    /// Internal: the part this process plays.
    #[arg(long, value_enum, default_value_t = Role::Main, hide = true)]
    pub role: Role,
}

/// The idle-task baseline's figures (a child's one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineResult {
    /// RSS growth per task, bytes.
    pub rss_per_task_bytes: f64,
    /// Seconds to spawn every task.
    pub spawn_seconds: f64,
    /// CPU cores used over the steady window (idle tasks: about zero).
    pub cpu_cores: f64,
}

/// The result, as written to JSON.
#[derive(Debug, Serialize)]
pub struct ScaleResult {
    /// Channels joined.
    pub channels: usize,
    /// Messages per second per channel offered.
    pub rate_per_channel: f64,
    /// Seconds from the runtime's start to every channel joined on IRC.
    pub join_all_seconds: f64,
    /// Of which: `App::start` (channels saved, actors started and restored).
    pub app_start_seconds: f64,
    /// RSS of the runtime process at steady state, bytes.
    pub rss_bytes: u64,
    /// RSS growth per channel over the process before the runtime started, bytes.
    pub rss_per_channel_bytes: f64,
    /// CPU cores the runtime process used at steady state.
    pub cpu_cores: f64,
    /// Chat rows made durable per second at steady state.
    pub durable_msgs_per_sec: f64,
    /// Messages per second the simulator wrote at steady state.
    pub offered_msgs_per_sec: f64,
    /// Rows waiting in Persistence (memory) at the end.
    pub queued_rows: u64,
    /// Rows in the spill log at the end (non-zero: Persistence fell behind).
    pub spill_rows: u64,
    /// The baseline: idle tokio tasks with the same state.
    pub baseline: BaselineResult,
    /// RSS per channel / RSS per baseline task.
    pub rss_ratio_vs_baseline: f64,
    /// Machine load at the end.
    pub conditions: Conditions,
    /// When the run happened.
    pub at: DateTime<Utc>,
}

/// Runs the benchmark (or the child part `args.role` names) and writes `out`.
pub async fn run(args: ScaleBenchArgs, out: &Path) -> Result<()> {
    match args.role {
        Role::Simulator => return serve_simulator(&args).await,
        Role::Baseline => return run_baseline(&args).await,
        Role::Main => {}
    }
    let logins = logins(args.channels);

    // Baseline first, in its own process.
    eprintln!("scale: baseline, {} idle tasks ...", args.channels);
    let baseline = run_child_baseline(&args).await?;

    let db = BenchDb::create(args.database_url.as_ref(), &args.data_dir).await?;
    let (mut sim, mut sim_out) = spawn_child(&args, Role::Simulator)?;
    let addr: std::net::SocketAddr = read_tagged(&mut sim_out, "ADDR")
        .await?
        .parse()
        .context("simulator address")?;
    // Drain the child's progress lines all the time, so its stdout never blocks it.
    let joins = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let reader = {
        let (joins, written) = (joins.clone(), written.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = sim_out.next_line().await {
                let mut it = line.split(' ');
                let target = match it.next() {
                    Some("JOINS") => &joins,
                    Some("WRITTEN") => &written,
                    _ => continue,
                };
                if let Some(n) = it.next().and_then(|v| v.parse().ok()) {
                    target.store(n, Ordering::Relaxed);
                }
            }
        })
    };

    eprintln!("scale: runtime joins {} channels ...", args.channels);
    let rss_before = rss_bytes();
    let started = Instant::now();
    let runtime_args = runtime_args(
        &db.url,
        &args.data_dir,
        &logins,
        addr,
        5000,
        args.channels_per_connection,
    )?;
    let app = App::start(&runtime_args, crate::app::Hooks::default()).await?;
    let app_start = started.elapsed();
    eprintln!("scale: App::start took {:.1} s", app_start.as_secs_f64());
    loop {
        let joined = joins.load(Ordering::Relaxed);
        if joined >= args.channels as u64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!(
                "only {joined} of {} channels joined after 30 min",
                args.channels
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let join_all = started.elapsed();
    eprintln!("scale: all joined after {:.1} s", join_all.as_secs_f64());

    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let sim_before = written.load(Ordering::Relaxed);
    let stats_before = app.runtime().persistence_stats().await?;
    let cpu_before = cpu_time();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.steady_seconds)).await;
    let cpu_used = cpu_time().saturating_sub(cpu_before);
    let stats_after = app.runtime().persistence_stats().await?;
    let sim_after = written.load(Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let rss = rss_bytes();
    let conditions = Conditions::now();

    // Stop the load first so shutdown does not have to write a growing backlog.
    let _ = sim.start_kill();
    reader.abort();
    let _ = sim.wait().await;
    app.shutdown(false).await;

    let rss_per_channel = rss.saturating_sub(rss_before) as f64 / args.channels as f64;
    let result = ScaleResult {
        channels: args.channels,
        rate_per_channel: args.rate_per_channel,
        join_all_seconds: join_all.as_secs_f64(),
        app_start_seconds: app_start.as_secs_f64(),
        rss_bytes: rss,
        rss_per_channel_bytes: rss_per_channel,
        cpu_cores: cpu_used.as_secs_f64() / secs,
        durable_msgs_per_sec: (stats_after.chat_written - stats_before.chat_written) as f64 / secs,
        offered_msgs_per_sec: sim_after.saturating_sub(sim_before) as f64 / secs,
        queued_rows: stats_after.queued_rows,
        spill_rows: stats_after.spill_rows,
        rss_ratio_vs_baseline: rss_per_channel / baseline.rss_per_task_bytes.max(1.0),
        baseline,
        conditions,
        at: Utc::now(),
    };
    let mib = |b: f64| b / (1024.0 * 1024.0);
    println!("| measure | Byte | baseline: idle tokio tasks + Folded::new |");
    println!("| --- | --- | --- |");
    println!(
        "| channels, msg/s per channel | {} at {} | {} tasks |",
        result.channels, result.rate_per_channel, result.channels
    );
    println!(
        "| time to join all / spawn all | {:.1} s (App::start {:.1} s) | {:.2} s |",
        result.join_all_seconds, result.app_start_seconds, result.baseline.spawn_seconds
    );
    println!(
        "| RSS per channel | {:.1} KiB ({:.0} MiB in all) | {:.1} KiB |",
        result.rss_per_channel_bytes / 1024.0,
        mib(result.rss_bytes as f64),
        result.baseline.rss_per_task_bytes / 1024.0
    );
    println!(
        "| ratio RSS Byte / baseline | {:.1} | |",
        result.rss_ratio_vs_baseline
    );
    println!(
        "| CPU at steady state | {:.2} cores | {:.2} cores |",
        result.cpu_cores, result.baseline.cpu_cores
    );
    println!(
        "| offered / durable | {:.0} / {:.0} msg/s (queued {}, spilled {}) | |",
        result.offered_msgs_per_sec,
        result.durable_msgs_per_sec,
        result.queued_rows,
        result.spill_rows
    );
    println!("| machine | {} | |", result.conditions.label());
    write_json(out, &result)?;
    db.drop_all().await
}

fn logins(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("scale_{i:06}")).collect()
}

/// Starts this binary as `role`, with the same settings; returns it and its stdout lines.
fn spawn_child(
    args: &ScaleBenchArgs,
    role: Role,
) -> Result<(
    Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
)> {
    let role = match role {
        Role::Simulator => "simulator",
        Role::Baseline => "baseline",
        Role::Main => "main",
    };
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "bench",
            "scale",
            "--role",
            role,
            "--channels",
            &args.channels.to_string(),
            "--rate-per-channel",
            &args.rate_per_channel.to_string(),
            "--steady-seconds",
            &args.steady_seconds.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    Ok((child, BufReader::new(stdout).lines()))
}

/// Reads lines until one starts with `tag `; returns the rest.
async fn read_tagged(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    tag: &str,
) -> Result<String> {
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            return Ok(rest.to_owned());
        }
    }
    bail!("child ended before printing {tag}")
}

async fn run_child_baseline(args: &ScaleBenchArgs) -> Result<BaselineResult> {
    let (mut child, mut lines) = spawn_child(args, Role::Baseline)?;
    let json = read_tagged(&mut lines, "RESULT").await?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.shutdown().await;
    }
    let _ = child.wait().await;
    Ok(serde_json::from_str(&json)?)
}

/// Child: a simulator with no JOIN limit generating `rate_per_channel` messages/s in each
/// joined channel (so the join phase does not pour the whole fleet's rate into the first
/// channels joined). Prints `ADDR`, then `JOINS n` and `WRITTEN n` every 100 ms
/// until its stdin closes.
async fn serve_simulator(args: &ScaleBenchArgs) -> Result<()> {
    let sim = simulator::start(SimulatorConfig {
        // Empty: every channel some connection joined gets traffic.
        channels: Vec::new(),
        rate_per_sec: Some(args.rate_per_channel.max(0.001)),
        rate_is_per_channel: true,
        bits_fraction: 0.0,
        event_fraction: 0.0,
        chatters_per_channel: 20,
        ..SimulatorConfig::default()
    })
    .await?;
    println!("ADDR {}", sim.local_addr());
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let s = sim.totals();
                println!("JOINS {}", s.joins);
                println!("WRITTEN {}", s.privmsgs_written);
            }
            n = tokio::io::AsyncReadExt::read(&mut stdin, &mut buf) => {
                if n.unwrap_or(0) == 0 {
                    break;
                }
            }
        }
    }
    sim.shutdown().await;
    Ok(())
}

/// Child: N idle tasks, each owning a channel's initial state behind an unbounded mailbox
/// (what a ractor actor is underneath). Prints one `RESULT {json}` line.
async fn run_baseline(args: &ScaleBenchArgs) -> Result<()> {
    let logins = logins(args.channels);
    let rss_before = rss_bytes();
    let started = Instant::now();
    let mut mailboxes = Vec::with_capacity(logins.len());
    let mut tasks = Vec::with_capacity(logins.len());
    for l in &logins {
        let login = ChannelLogin::parse(l)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Arc<ChatRecord>>();
        tasks.push(tokio::spawn(async move {
            let state = Folded::new(login);
            let mut n = 0u64;
            while let Some(m) = rx.recv().await {
                n += m.text.len() as u64;
            }
            (state.watermark, n)
        }));
        mailboxes.push(tx);
    }
    tokio::task::yield_now().await;
    let spawn_seconds = started.elapsed().as_secs_f64();
    // Let every task run to its first await, then measure like the runtime.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu_before = cpu_time();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.steady_seconds.min(10))).await;
    let cpu_cores =
        cpu_time().saturating_sub(cpu_before).as_secs_f64() / t0.elapsed().as_secs_f64();
    let rss = rss_bytes();
    let result = BaselineResult {
        rss_per_task_bytes: rss.saturating_sub(rss_before) as f64 / logins.len() as f64,
        spawn_seconds,
        cpu_cores,
    };
    println!("RESULT {}", serde_json::to_string(&result)?);
    drop(mailboxes);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

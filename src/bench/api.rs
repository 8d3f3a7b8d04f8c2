//! API under load: `GET /api/v1/fleet` and `GET /api/v1/channels/{login}/context` at a fixed
//! request rate while the simulator pushes chat through the runtime at a fixed rate.
//!
//! The load generator is open loop: request *i* is due at `start + i / rate`, is sent at
//! that time whatever earlier requests are doing, and its latency counts from when it was
//! *due*, not from when it was sent, so a stalled server cannot hide its stall by slowing
//! the generator down (coordinated omission). Requests that fail or do not answer 200 are
//! counted as errors.
//!
//! Baselines in the same run: the same endpoints at the same rate with no ingest (phase 1),
//! and `GET /healthz` (no auth, no actor, no database: the HTTP stack's floor) interleaved at
//! the same share in both phases.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;

use super::ingest::{BENCH_ADMIN_TOKEN, BenchDb, Drive, bench_channels, drive, runtime_args};
use super::{Conditions, p50_p99_max, write_json};
use crate::app::App;
use crate::config::Secret;

/// API benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct ApiBenchArgs {
    /// Requests per second across the endpoints (open loop).
    #[arg(long, default_value_t = 2_000.0)]
    pub rate: f64,
    /// Chat messages per second pushed through the runtime in the loaded phase.
    #[arg(long, default_value_t = 20_000.0)]
    pub ingest_rate: f64,
    /// Seconds per phase.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Channels (the fleet list pages through them; the context target rotates).
    #[arg(long, default_value_t = 100)]
    pub channels: usize,
    /// Postgres server URL; a fresh database is created on it. Default: embedded server.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Data dir for the embedded server.
    #[arg(long, default_value = "./data/bench")]
    pub data_dir: PathBuf,
}

/// One endpoint's figures in one phase.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointResult {
    /// Endpoint.
    pub endpoint: &'static str,
    /// Requests sent.
    pub requests: usize,
    /// Non-200 answers and failures.
    pub errors: usize,
    /// Latency from the due time, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Worst, ms.
    pub max_ms: f64,
}

/// One phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    /// Chat messages/s made durable during the phase (0 in the idle phase).
    pub ingest_msgs_per_sec: f64,
    /// Requests/s actually sent.
    pub requests_per_sec: f64,
    /// Per endpoint.
    pub endpoints: Vec<EndpointResult>,
}

/// The result, as written to JSON.
#[derive(Debug, Serialize)]
pub struct ApiResult {
    /// Target requests/s.
    pub rate: f64,
    /// Target ingest rate in the loaded phase.
    pub ingest_rate: f64,
    /// Channels.
    pub channels: usize,
    /// Phase 1: no ingest (baseline).
    pub idle: PhaseResult,
    /// Phase 2: under ingest.
    pub loaded: PhaseResult,
    /// Machine load at the end.
    pub conditions: Conditions,
    /// When the run happened.
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Fleet,
    Context,
    Healthz,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Fleet => "GET /api/v1/fleet",
            Target::Context => "GET /api/v1/channels/{login}/context",
            Target::Healthz => "GET /healthz (baseline)",
        }
    }
}

/// Sends requests at `rate` for `duration`, open loop; returns per-target latencies (ms)
/// and error counts.
async fn load(
    client: reqwest::Client,
    base: String,
    logins: Arc<Vec<String>>,
    rate: f64,
    duration: Duration,
) -> Result<(Vec<EndpointResult>, f64)> {
    // Two fleet, two context, one healthz in every five requests.
    const MIX: [Target; 5] = [
        Target::Fleet,
        Target::Context,
        Target::Healthz,
        Target::Fleet,
        Target::Context,
    ];
    let started = Instant::now();
    let total = (rate * duration.as_secs_f64()) as usize;
    let mut handles = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let target = MIX[i % MIX.len()];
        let url = match target {
            Target::Fleet => format!("{base}/api/v1/fleet"),
            Target::Context => format!(
                "{base}/api/v1/channels/{}/context",
                logins[(i / MIX.len()) % logins.len()]
            ),
            Target::Healthz => format!("{base}/healthz"),
        };
        let req = client.get(url).bearer_auth(BENCH_ADMIN_TOKEN);
        handles.push(tokio::spawn(async move {
            let ok = match req.send().await {
                Ok(r) => {
                    let status = r.status();
                    r.bytes().await.is_ok() && status == reqwest::StatusCode::OK
                }
                Err(_) => false,
            };
            (target, ok, due.elapsed())
        }));
    }
    let sent_for = started.elapsed();
    let mut results = Vec::new();
    for t in [Target::Fleet, Target::Context, Target::Healthz] {
        results.push((t, Vec::new(), 0usize));
    }
    for h in handles {
        let (target, ok, latency) = h.await?;
        let r = results
            .iter_mut()
            .find(|r| r.0 == target)
            .expect("every target listed");
        r.1.push(latency.as_secs_f64() * 1e3);
        r.2 += usize::from(!ok);
    }
    let out = results
        .into_iter()
        .map(|(t, mut lat, errors)| {
            let requests = lat.len();
            let (p50, p99, max) = p50_p99_max(&mut lat);
            EndpointResult {
                endpoint: t.name(),
                requests,
                errors,
                p50_ms: p50,
                p99_ms: p99,
                max_ms: max,
            }
        })
        .collect();
    Ok((out, total as f64 / sent_for.as_secs_f64()))
}

/// Runs the benchmark and writes `out`.
pub async fn run(args: ApiBenchArgs, out: &Path) -> Result<()> {
    let db = BenchDb::create(args.database_url.as_ref(), &args.data_dir).await?;
    let (logins, sim) = bench_channels(args.channels).await?;
    let runtime_args = runtime_args(&db.url, &args.data_dir, &logins, sim.local_addr(), 5000, 90)?;
    let app = App::start(&runtime_args, crate::app::Hooks::default()).await?;
    sim.wait_for_joins(&logins, Duration::from_secs(60)).await?;
    let base = format!("http://{}", app.http_addr());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()?;
    let duration = Duration::from_secs(args.seconds);

    // Some chat first, so every channel has state to show.
    let warm = Drive {
        logins: logins.clone(),
        total: Some(20 * logins.len() as u64),
        duration,
        rate: 0.0,
        max_backlog: 100_000,
        chunk: 20,
    };
    drive(&sim, &app, &warm, None).await?;

    eprintln!(
        "api: {} s at {} req/s, no ingest ...",
        args.seconds, args.rate
    );
    // The generator runs on its own thread, like a separate load tool would: on the app's
    // runtime its timers and reads would queue behind the very work being measured.
    let generator = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-load")
        .enable_all()
        .build()?;
    let shared_logins = Arc::new(logins.clone());
    let run_load = || {
        generator.spawn(load(
            client.clone(),
            base.clone(),
            shared_logins.clone(),
            args.rate,
            duration,
        ))
    };
    let (idle, idle_rps) = run_load().await??;
    // Printed now, so a collapse in the loaded phase still leaves the baseline on record.
    for e in &idle {
        eprintln!(
            "api: no ingest: {}: {} requests ({} errors), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            e.endpoint, e.requests, e.errors, e.p50_ms, e.p99_ms, e.max_ms
        );
    }

    eprintln!(
        "api: {} s at {} req/s under {} msg/s ingest ...",
        args.seconds, args.rate, args.ingest_rate
    );
    let plan = Drive {
        logins: logins.clone(),
        total: None,
        // A little longer than the requests, so the whole request window is under load.
        duration: duration + Duration::from_secs(2),
        rate: args.ingest_rate,
        max_backlog: u64::MAX,
        chunk: 100,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let ingest = async {
        // Let ingest reach its rate before the requests start.
        let log = drive(&sim, &app, &plan, Some(&stop)).await?;
        let n = log.sent.last().map_or(0, |s| s.0);
        let secs = log
            .durable
            .last()
            .zip(log.sent.first())
            .map_or(1.0, |(d, s)| d.1.duration_since(s.1).as_secs_f64());
        anyhow::Ok(n as f64 / secs)
    };
    let requests = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        run_load().await?
    };
    let (ingest_rate, loaded) = tokio::join!(ingest, requests);
    let (loaded, loaded_rps) = loaded?;
    let ingest_rate = ingest_rate?;
    let conditions = Conditions::now();
    generator.shutdown_background();
    app.shutdown(false).await;
    sim.shutdown().await;

    let result = ApiResult {
        rate: args.rate,
        ingest_rate: args.ingest_rate,
        channels: args.channels,
        idle: PhaseResult {
            ingest_msgs_per_sec: 0.0,
            requests_per_sec: idle_rps,
            endpoints: idle,
        },
        loaded: PhaseResult {
            ingest_msgs_per_sec: ingest_rate,
            requests_per_sec: loaded_rps,
            endpoints: loaded,
        },
        conditions,
        at: Utc::now(),
    };
    println!("| endpoint | phase | requests (errors) | p50 | p99 | max |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (phase, p) in [
        ("no ingest", &result.idle),
        ("under ingest", &result.loaded),
    ] {
        for e in &p.endpoints {
            println!(
                "| {} | {phase} | {} ({}) | {:.1} ms | {:.1} ms | {:.1} ms |",
                e.endpoint, e.requests, e.errors, e.p50_ms, e.p99_ms, e.max_ms
            );
        }
    }
    println!(
        "| requests/s sent: {:.0} / {:.0}; ingest under load: {:.0} msg/s durable | | | | | |",
        result.idle.requests_per_sec,
        result.loaded.requests_per_sec,
        result.loaded.ingest_msgs_per_sec
    );
    println!("| machine | {} | | | | |", result.conditions.label());
    write_json(out, &result)?;
    db.drop_all().await
}

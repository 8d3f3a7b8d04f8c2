//! Restart benchmark under load: N channel actors receive chat from a feeder that runs on its
//! own at a fixed rate, while one channel (the victim) is crashed every few milliseconds.
//!
//! - Restart time: from the crash being cast to a new actor being registered in the
//!   directory, polled every 200 µs from a plain thread (a tokio task spinning on
//!   `yield_now` would itself take the CPU the other channels need).
//! - The other channels' throughput: a sampler asks a fixed sample of them for their message
//!   count (`Snapshot`, answered after everything already in their mailboxes) every interval;
//!   the rate they process is compared between a quiet phase and a crashing phase of the same
//!   length, with the same feeder running at the same rate throughout. The feeder never waits
//!   for anything, so a dip is the other channels falling behind, not the load generator
//!   slowing down. The sampler's round trip (how long a sampled channel takes to answer) is
//!   reported too: it is how far behind the others run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use byte_actors::channel::{ChannelEnv, ChannelMessage};
use byte_actors::directory::ChannelDirectory;
use byte_actors::faults::FaultPlan;
use byte_actors::model::{ChannelLogin, ChatRecord};
use byte_actors::rpc::ask;
use byte_actors::supervisor::policy::RestartPolicy;
use byte_actors::supervisor::{ChannelSupervisor, SupervisorArgs, SupervisorMessage};
use chrono::Utc;
use clap::Args;
use ractor::Actor;
use serde::Serialize;

use super::{Conditions, p50_p99_max, write_json};

/// Restart benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct RestartBenchArgs {
    /// Channels (one of them is the victim).
    #[arg(long, default_value_t = 200)]
    pub channels: usize,
    /// Crashes of the victim channel.
    #[arg(long, default_value_t = 500)]
    pub crashes: usize,
    /// Milliseconds between crashes (the crashing phase lasts crashes x this).
    #[arg(long, default_value_t = 20)]
    pub crash_every_ms: u64,
    /// Chat messages per second the feeder sends to the other channels, throughout.
    #[arg(long, default_value_t = 20_000.0)]
    pub rate: f64,
    /// Sampling interval of the other channels' progress, ms.
    #[arg(long, default_value_t = 100)]
    pub interval_ms: u64,
    /// Other channels sampled each interval.
    #[arg(long, default_value_t = 20)]
    pub sample: usize,
}

/// The result, as written to JSON.
#[derive(Debug, Serialize)]
pub struct RestartResult {
    /// Channels.
    pub channels: usize,
    /// Restarts measured.
    pub restarts: usize,
    /// Median restart time, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// Worst, microseconds.
    pub max_us: f64,
    /// Messages/s the feeder offered to the other channels (both phases).
    pub offered_msgs_per_sec: f64,
    /// Messages/s the other channels processed with no crashes (baseline).
    pub others_msgs_per_sec_quiet: f64,
    /// Messages/s the other channels processed while the victim crashed.
    pub others_msgs_per_sec_crashing: f64,
    /// Throughput dip of the others, in percent (negative = faster).
    pub dip_percent: f64,
    /// Sampler round trip p99 (how far behind the others run), quiet phase, µs.
    pub others_lag_p99_us_quiet: f64,
    /// The same while the victim crashed, µs.
    pub others_lag_p99_us_crashing: f64,
    /// Machine load at the end of the run.
    pub conditions: Conditions,
}

fn chat(login: &ChannelLogin, i: usize) -> Arc<ChatRecord> {
    Arc::new(ChatRecord {
        message_id: format!("{login}-{i}"),
        channel: login.clone(),
        room_id: None,
        user_id: (i % 50).to_string(),
        user_login: format!("viewer{}", i % 50),
        display_name: "Viewer".into(),
        text: "that was a great play, what game is next?".into(),
        bits: None,
        badges: String::new(),
        emotes: String::new(),
        is_moderator: false,
        is_subscriber: false,
        sent_at: Utc::now(),
        received_at: Utc::now(),
        // Positions only need to grow: the benchmark's actors restore nothing.
        seq: Utc::now().timestamp_micros() + i as i64,
    })
}

/// Per-interval progress of the sampled channels.
struct Sample {
    at: Instant,
    processed: u64,
    round_trip: Duration,
}

/// Asks every sampled channel for its message count, all at once; returns the sum and the
/// slowest answer.
async fn sample(directory: &ChannelDirectory, sampled: &[ChannelLogin]) -> Result<Sample> {
    let started = Instant::now();
    let asks = sampled
        .iter()
        .filter_map(|l| directory.actor(l.as_str()))
        .map(|a| async move {
            ask(&a, ChannelMessage::Snapshot, Duration::from_secs(30))
                .await
                .map(|s| s.context.messages)
        });
    let counts = futures::future::join_all(asks).await;
    let mut processed = 0;
    for c in counts {
        processed += c?;
    }
    Ok(Sample {
        at: Instant::now(),
        processed,
        round_trip: started.elapsed(),
    })
}

/// (processed/s, round-trip p99 in µs) over a phase's samples.
fn phase_rate(samples: &[Sample]) -> (f64, f64) {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return (0.0, 0.0);
    };
    let secs = last.at.duration_since(first.at).as_secs_f64();
    let rate = (last.processed - first.processed) as f64 / secs.max(1e-9);
    let mut rtt: Vec<f64> = samples
        .iter()
        .map(|s| s.round_trip.as_secs_f64() * 1e6)
        .collect();
    (rate, p50_p99_max(&mut rtt).1)
}

/// Runs the benchmark and writes `out`.
pub async fn run(args: RestartBenchArgs, out: &std::path::Path) -> Result<()> {
    if args.channels < 2 || args.rate <= 0.0 {
        bail!("need at least 2 channels and a positive --rate");
    }
    let directory = ChannelDirectory::new();
    let env = ChannelEnv::detached(Arc::new(FaultPlan::default()));
    // A budget no benchmark can exhaust: we measure restarts, not quarantine.
    // No backoff: this measures the restart path itself (failure event -> new actor
    // registered), not the policy's deliberate delays.
    let policy = RestartPolicy {
        max_restarts: u32::MAX,
        backoff_base: Duration::ZERO,
        backoff_max: Duration::ZERO,
        ..RestartPolicy::default()
    };
    let (sup, _) = Actor::spawn(
        None,
        ChannelSupervisor,
        SupervisorArgs {
            policy,
            directory: directory.clone(),
            env,
        },
    )
    .await?;
    let logins: Vec<ChannelLogin> = (0..args.channels)
        .map(|i| ChannelLogin::parse(&format!("bench_{i:05}")).expect("valid"))
        .collect();
    for l in &logins {
        ask(
            &sup,
            |r| SupervisorMessage::Join(l.clone(), r),
            Duration::from_secs(5),
        )
        .await?;
    }
    let victim = logins[0].clone();
    let others: Arc<Vec<ChannelLogin>> = Arc::new(logins[1..].to_vec());
    let step = (others.len() / args.sample.max(1)).max(1);
    let sampled: Vec<ChannelLogin> = others.iter().step_by(step).cloned().collect();
    let scale = others.len() as f64 / sampled.len() as f64;
    let phase = Duration::from_millis(args.crash_every_ms * args.crashes as u64);

    // The feeder: a fixed rate, on its own task, never waiting on the channels.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (directory, others, stop) = (directory.clone(), others.clone(), stop.clone());
        let rate = args.rate;
        tokio::spawn(async move {
            let started = Instant::now();
            let mut sent: u64 = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let due = (started.elapsed().as_secs_f64() * rate) as u64;
                while sent < due {
                    let l = &others[(sent % others.len() as u64) as usize];
                    directory.deliver(l.as_str(), ChannelMessage::Chat(chat(l, sent as usize)));
                    sent += 1;
                }
            }
            (sent, started.elapsed())
        })
    };
    // Let the feeder and the actors settle before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Quiet phase.
    let mut quiet = Vec::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(args.interval_ms));
    while started.elapsed() < phase {
        tick.tick().await;
        quiet.push(sample(&directory, &sampled).await?);
    }

    // Crashing phase: a plain thread crashes the victim on a schedule and times each restart.
    let crasher = {
        let directory = directory.clone();
        let victim = victim.clone();
        let (every, crashes) = (Duration::from_millis(args.crash_every_ms), args.crashes);
        std::thread::spawn(move || -> Result<Vec<Duration>> {
            let mut restarts = Vec::with_capacity(crashes);
            let started = Instant::now();
            for round in 0..crashes {
                let due = started + every * round as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let before = directory.actor(victim.as_str()).map(|a| a.get_id());
                let t0 = Instant::now();
                directory.deliver(victim.as_str(), ChannelMessage::Crash("bench".into()));
                loop {
                    match directory.actor(victim.as_str()).map(|a| a.get_id()) {
                        Some(id) if Some(id) != before => break,
                        _ if t0.elapsed() > Duration::from_secs(10) => {
                            bail!("victim not restarted within 10 s")
                        }
                        _ => std::thread::sleep(Duration::from_micros(200)),
                    }
                }
                restarts.push(t0.elapsed());
            }
            Ok(restarts)
        })
    };
    let mut crashing = Vec::new();
    let started = Instant::now();
    while !crasher.is_finished() || started.elapsed() < phase {
        tick.tick().await;
        crashing.push(sample(&directory, &sampled).await?);
        if started.elapsed() > phase * 4 + Duration::from_secs(30) {
            bail!("crashing phase overran");
        }
    }
    let restarts = crasher
        .join()
        .map_err(|_| anyhow::anyhow!("crasher thread panicked"))??;
    stop.store(true, Ordering::Relaxed);
    let (fed, fed_for) = feeder.await?;
    sup.stop(None);

    let mut us: Vec<f64> = restarts.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    let (p50, p99, max) = p50_p99_max(&mut us);
    let (quiet_rate, quiet_lag) = phase_rate(&quiet);
    let (crash_rate, crash_lag) = phase_rate(&crashing);
    let result = RestartResult {
        channels: args.channels,
        restarts: restarts.len(),
        p50_us: p50,
        p99_us: p99,
        max_us: max,
        offered_msgs_per_sec: fed as f64 / fed_for.as_secs_f64(),
        others_msgs_per_sec_quiet: quiet_rate * scale,
        others_msgs_per_sec_crashing: crash_rate * scale,
        dip_percent: (1.0 - crash_rate / quiet_rate) * 100.0,
        others_lag_p99_us_quiet: quiet_lag,
        others_lag_p99_us_crashing: crash_lag,
        conditions: Conditions::now(),
    };
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| channels, restarts (one every {} ms) | {}, {} |",
        args.crash_every_ms, result.channels, result.restarts
    );
    println!(
        "| restart p50 / p99 / max | {:.0} µs / {:.0} µs / {:.0} µs |",
        result.p50_us, result.p99_us, result.max_us
    );
    println!(
        "| feeder, offered to the others | {:.0} msg/s |",
        result.offered_msgs_per_sec
    );
    println!(
        "| others processed, no crashes (baseline) | {:.0} msg/s |",
        result.others_msgs_per_sec_quiet
    );
    println!(
        "| others processed, victim crashing | {:.0} msg/s |",
        result.others_msgs_per_sec_crashing
    );
    println!("| dip | {:.2} % |", result.dip_percent);
    println!(
        "| others' lag p99 (sample round trip), quiet / crashing | {:.0} µs / {:.0} µs |",
        result.others_lag_p99_us_quiet, result.others_lag_p99_us_crashing
    );
    println!("| machine | {} |", result.conditions.label());
    write_json(out, &result)
}

//! Restart benchmark: N channel actors receive chat while one of them is crashed K times;
//! measures each restart (crash cast -> a new actor registered) and the message throughput
//! of the other channels during the crashes against the same load without crashes, in the
//! same run.

use std::sync::Arc;
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

/// Restart benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct RestartBenchArgs {
    /// Channels.
    #[arg(long, default_value_t = 200)]
    pub channels: usize,
    /// Crashes of the victim channel.
    #[arg(long, default_value_t = 500)]
    pub crashes: usize,
    /// Chat messages per channel per round between crashes.
    #[arg(long, default_value_t = 20)]
    pub per_round: usize,
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
    /// Messages/s to the other channels with no crashes (baseline).
    pub others_msgs_per_sec_quiet: f64,
    /// Messages/s to the other channels while the victim crashes.
    pub others_msgs_per_sec_crashing: f64,
    /// Throughput dip of the others, in percent (negative = faster).
    pub dip_percent: f64,
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

/// Runs the benchmark and writes `out`.
pub async fn run(args: RestartBenchArgs, out: &std::path::Path) -> Result<()> {
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
    let others = &logins[1..];
    let rounds = args.crashes;

    let feed = |round: usize| {
        for l in others {
            for i in 0..args.per_round {
                directory.deliver(
                    l.as_str(),
                    ChannelMessage::Chat(chat(l, round * args.per_round + i)),
                );
            }
        }
    };
    let drain = || async {
        // Every other channel has processed its mailbox once a snapshot comes back.
        for l in others {
            if let Some(a) = directory.actor(l.as_str()) {
                ask(&a, ChannelMessage::Snapshot, Duration::from_secs(30)).await?;
            }
        }
        anyhow::Ok(())
    };

    // Baseline: the same load with no crashes.
    let quiet_started = Instant::now();
    for round in 0..rounds {
        feed(round);
        tokio::task::yield_now().await;
    }
    drain().await?;
    let quiet = quiet_started.elapsed();

    // With crashes: each round crashes the victim and waits for its replacement.
    let mut restarts = Vec::with_capacity(rounds);
    let crash_started = Instant::now();
    for round in 0..rounds {
        let before = directory.actor(victim.as_str()).map(|a| a.get_id());
        let t0 = Instant::now();
        directory.deliver(victim.as_str(), ChannelMessage::Crash("bench".into()));
        feed(rounds + round);
        loop {
            match directory.actor(victim.as_str()).map(|a| a.get_id()) {
                Some(id) if Some(id) != before => break,
                _ if t0.elapsed() > Duration::from_secs(10) => {
                    bail!("victim not restarted within 10 s")
                }
                _ => tokio::task::yield_now().await,
            }
        }
        restarts.push(t0.elapsed());
    }
    drain().await?;
    let crashing = crash_started.elapsed();
    sup.stop(None);

    restarts.sort();
    let pct = |p: f64| {
        restarts[((restarts.len() as f64 * p).ceil() as usize).clamp(1, restarts.len()) - 1]
            .as_secs_f64()
            * 1e6
    };
    let msgs = (others.len() * args.per_round * rounds) as f64;
    let quiet_rate = msgs / quiet.as_secs_f64();
    let crash_rate = msgs / crashing.as_secs_f64();
    let result = RestartResult {
        channels: args.channels,
        restarts: restarts.len(),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        max_us: pct(1.0),
        others_msgs_per_sec_quiet: quiet_rate,
        others_msgs_per_sec_crashing: crash_rate,
        dip_percent: (1.0 - crash_rate / quiet_rate) * 100.0,
    };
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| channels, restarts | {}, {} |",
        result.channels, result.restarts
    );
    println!(
        "| restart p50 / p99 / max | {:.0} µs / {:.0} µs / {:.0} µs |",
        result.p50_us, result.p99_us, result.max_us
    );
    println!("| others' throughput, no crashes (baseline) | {quiet_rate:.0} msg/s |");
    println!("| others' throughput, victim crashing | {crash_rate:.0} msg/s |");
    println!("| dip | {:.1} % |", result.dip_percent);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(())
}

//! Actor hop: the per-message cost of the channel actor with every engine on (facts,
//! sentiment, windows, churn, session), against the same messages through two baselines in
//! the same run: a bare ractor actor that only counts (ractor's own hop), and a bare tokio
//! unbounded mpsc channel into a counting task (the hop without any actor framework; ractor
//! mailboxes are unbounded tokio channels underneath). Engines that run per tick (health,
//! coach, clips) are timed separately per tick.
//!
//! Quiet ticks: most of a large fleet is quiet most of the time, and every channel ticks once
//! a second whatever happens, so the cost of a tick with nothing new decides how many
//! channels a core can carry. Timed on the engines directly (no actor hop, a simulated clock
//! advancing one second per tick): a channel that never chatted, and one ticking through
//! 30 minutes of silence after 5 minutes of chat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use byte_actors::channel::{ChannelActor, ChannelArgs, ChannelEnv, ChannelIntel, ChannelMessage};
use byte_actors::faults::FaultPlan;
use byte_actors::intel::sentiment::SentimentEngine;
use byte_actors::model::{ChannelLogin, ChatRecord};
use byte_actors::rpc::ask;
use chrono::{DateTime, Utc};
use clap::Args;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

/// Channel benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct ChannelBenchArgs {
    /// Messages per run.
    #[arg(long, default_value_t = 500_000)]
    pub messages: usize,
    /// Distinct chatters the messages come from.
    #[arg(long, default_value_t = 2_000)]
    pub chatters: usize,
}

/// The result, as written to JSON.
#[derive(Debug, Serialize)]
pub struct ChannelResult {
    /// Messages per run.
    pub messages: usize,
    /// ns per message, channel actor with every engine.
    pub full_ns_per_msg: f64,
    /// ns per message, counting-only actor (baseline).
    pub counting_ns_per_msg: f64,
    /// Extra cost of the engines, ns per message.
    pub engines_ns_per_msg: f64,
    /// ns per message through a bare tokio unbounded mpsc channel into a counting task.
    pub mpsc_ns_per_msg: f64,
    /// ractor's cost over the bare channel, ns per message.
    pub ractor_over_mpsc_ns_per_msg: f64,
    /// Machine load at the end of the run.
    pub conditions: super::Conditions,
    /// One tick (health, churn assessment, coach, clips) on the loaded channel, µs.
    pub tick_us: f64,
    /// One tick of the engines (plus the vitals and summary the actor publishes) on a
    /// channel that has never chatted, µs.
    pub idle_tick_us: f64,
    /// The same on a channel ticking through 30 minutes of silence after 5 minutes of chat (1,500
    /// messages from 1,500 chatters: windows emptying, baselines decaying, churn watching
    /// the chatters go quiet), µs.
    pub quiet_tick_us: f64,
}

struct Counter;

enum CountMsg {
    Chat(Arc<ChatRecord>),
    Done(RpcReplyPort<u64>),
}

impl Actor for Counter {
    type Msg = CountMsg;
    type State = u64;
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<CountMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }
    async fn handle(
        &self,
        _: ActorRef<CountMsg>,
        msg: CountMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CountMsg::Chat(c) => *n += u64::from(!c.text.is_empty()),
            CountMsg::Done(r) => {
                let _ = r.send(*n);
            }
        }
        Ok(())
    }
}

const TEXTS: [&str; 8] = [
    "that was insane PogChamp PogChamp",
    "what game is this?",
    "KEKW KEKW",
    "não acredito mano kkkkkk",
    "gg wp",
    "this is boring ResidentSleeper",
    "@bench_channel when is the next stream?",
    "que jogada linda, muito bom",
];

fn messages(n: usize, chatters: usize, login: &ChannelLogin) -> Vec<Arc<ChatRecord>> {
    let base = Utc::now().timestamp_micros();
    (0..n)
        .map(|i| {
            Arc::new(ChatRecord {
                message_id: format!("m{i}"),
                channel: login.clone(),
                room_id: None,
                user_id: (i % chatters).to_string(),
                user_login: format!("viewer{}", i % chatters),
                display_name: "Viewer".into(),
                text: TEXTS[i % TEXTS.len()].into(),
                bits: None,
                badges: String::new(),
                emotes: if i % 8 == 0 {
                    "88:20-28,30-38".into()
                } else {
                    String::new()
                },
                is_moderator: i % 97 == 0,
                is_subscriber: false,
                sent_at: Utc::now(),
                received_at: Utc::now(),
                seq: base + i as i64,
            })
        })
        .collect()
}

/// Runs the benchmark and writes `out`.
pub async fn run(args: ChannelBenchArgs, out: &std::path::Path) -> Result<()> {
    let login = ChannelLogin::parse("bench_channel")?;
    let msgs = messages(args.messages, args.chatters, &login);
    let env = ChannelEnv::detached(Arc::new(FaultPlan::default()));
    let (full, _) = Actor::spawn(
        None,
        ChannelActor,
        ChannelArgs {
            login: login.clone(),
            env,
            agent: Default::default(),
            counters: Default::default(),
        },
    )
    .await?;
    let (counter, _) = Actor::spawn(None, Counter, ()).await?;
    // The bare channel: same element type, a task that counts and answers when told.
    let (mpsc_tx, mut mpsc_rx) = tokio::sync::mpsc::unbounded_channel::<CountMsg>();
    let mpsc_task = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(m) = mpsc_rx.recv().await {
            match m {
                CountMsg::Chat(c) => n += u64::from(!c.text.is_empty()),
                CountMsg::Done(r) => {
                    let _ = r.send(n);
                }
            }
        }
    });

    // Warm both once, then time each; alternate to spread machine noise over both.
    let mut full_best = f64::MAX;
    let mut count_best = f64::MAX;
    let mut mpsc_best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        for m in &msgs {
            full.cast(ChannelMessage::Chat(m.clone()))?;
        }
        ask(&full, ChannelMessage::Snapshot, Duration::from_secs(300)).await?;
        full_best = full_best.min(started.elapsed().as_nanos() as f64 / msgs.len() as f64);

        let started = Instant::now();
        for m in &msgs {
            counter.cast(CountMsg::Chat(m.clone()))?;
        }
        ask(&counter, CountMsg::Done, Duration::from_secs(300)).await?;
        count_best = count_best.min(started.elapsed().as_nanos() as f64 / msgs.len() as f64);

        let started = Instant::now();
        for m in &msgs {
            mpsc_tx
                .send(CountMsg::Chat(m.clone()))
                .map_err(|_| anyhow::anyhow!("mpsc consumer gone"))?;
        }
        let (reply, done) = ractor::concurrency::oneshot();
        mpsc_tx
            .send(CountMsg::Done(reply.into()))
            .map_err(|_| anyhow::anyhow!("mpsc consumer gone"))?;
        done.await?;
        mpsc_best = mpsc_best.min(started.elapsed().as_nanos() as f64 / msgs.len() as f64);
    }
    drop(mpsc_tx);
    mpsc_task.await?;
    // One tick on the loaded channel: the per-second cost.
    let ticks = 50;
    let started = Instant::now();
    for _ in 0..ticks {
        full.cast(ChannelMessage::Tick)?;
    }
    ask(&full, ChannelMessage::Snapshot, Duration::from_secs(60)).await?;
    let tick_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(ticks);
    full.stop(None);
    counter.stop(None);

    let chat = &msgs[..msgs.len().min(1_500)];
    let (idle_tick_us, quiet_tick_us) = quiet_ticks(&login, chat);

    let result = ChannelResult {
        messages: msgs.len(),
        full_ns_per_msg: full_best,
        counting_ns_per_msg: count_best,
        engines_ns_per_msg: full_best - count_best,
        mpsc_ns_per_msg: mpsc_best,
        ractor_over_mpsc_ns_per_msg: count_best - mpsc_best,
        conditions: super::Conditions::now(),
        tick_us,
        idle_tick_us,
        quiet_tick_us,
    };
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| messages, chatters | {}, {} |",
        result.messages, args.chatters
    );
    println!(
        "| channel actor, every engine | {:.0} ns/msg |",
        result.full_ns_per_msg
    );
    println!(
        "| bare ractor actor, counting (baseline) | {:.0} ns/msg |",
        result.counting_ns_per_msg
    );
    println!(
        "| bare tokio mpsc + task, counting (baseline) | {:.0} ns/msg |",
        result.mpsc_ns_per_msg
    );
    println!(
        "| ractor over bare mpsc | {:.0} ns/msg |",
        result.ractor_over_mpsc_ns_per_msg
    );
    println!(
        "| engines' own cost | {:.0} ns/msg |",
        result.engines_ns_per_msg
    );
    println!(
        "| one tick (health, churn, coach, clips) | {:.0} µs |",
        result.tick_us
    );
    println!(
        "| one tick, never-chatted channel (engines + vitals + summary) | {:.2} µs |",
        result.idle_tick_us
    );
    println!(
        "| one tick, 30 min of silence after 5 min of chat | {:.2} µs |",
        result.quiet_tick_us
    );
    println!("| machine | {} |", result.conditions.label());
    super::write_json(out, &result)
}

/// What the actor does at a tick, minus the hop: run the engines, read the vitals and the
/// summary it publishes.
fn tick_once(intel: &mut ChannelIntel, now: DateTime<Utc>) {
    let out = intel.tick(now);
    std::hint::black_box(&out);
    std::hint::black_box(intel.vitals());
    std::hint::black_box(intel.summary(false));
}

/// µs per tick over `ticks` one-second ticks after `from`, best of three runs from copies of
/// `start` (the state evolves over a run, so each run starts from the same one).
fn time_ticks(start: &ChannelIntel, from: DateTime<Utc>, ticks: u32) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut intel = start.clone();
        let started = Instant::now();
        for i in 1..=ticks {
            tick_once(&mut intel, from + chrono::Duration::seconds(i64::from(i)));
        }
        best = best.min(started.elapsed().as_secs_f64() * 1e6 / f64::from(ticks));
    }
    best
}

/// (never-chatted, silent-after-chat) µs per tick; `chat` is replayed at 5 messages/s first.
fn quiet_ticks(login: &ChannelLogin, chat: &[Arc<ChatRecord>]) -> (f64, f64) {
    let from = Utc::now();
    let mut idle = ChannelIntel::new(login.clone());
    tick_once(&mut idle, from);
    let idle_us = time_ticks(&idle, from, 3_600);

    let sentiment = SentimentEngine::new();
    let mut busy = ChannelIntel::new(login.clone());
    let mut at = from;
    for (i, m) in chat.iter().enumerate() {
        // 5 messages a second, ticking each second as the actor would.
        let now = from + chrono::Duration::milliseconds(200 * i as i64);
        busy.on_chat(&sentiment, m, None, now);
        if i % 5 == 4 {
            tick_once(&mut busy, now);
        }
        at = now;
    }
    let quiet_us = time_ticks(&busy, at, 1_800);
    (idle_us, quiet_us)
}

//! Benchmarks that measure Byte against a baseline in the same run, print a table and write
//! JSON. Not timed tests: they report figures, and `docs/benchmarks.md` keeps the history.

pub mod channel;
pub mod ingest;
pub mod memory;
pub mod restart;

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `bytebot bench ...`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The scenario.
    #[command(subcommand)]
    pub scenario: Scenario,
    /// Where to write the JSON result (default: `target/bench/<scenario>.json`).
    #[arg(long, global = true)]
    pub json_out: Option<PathBuf>,
}

/// Benchmark scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Simulator -> runtime -> durable rows, against raw binary COPY and raw twitch-irc parse.
    Ingest(ingest::IngestBenchArgs),
    /// Per-message cost of the channel actor with every engine vs a counting-only actor.
    Channel(channel::ChannelBenchArgs),
    /// Channel actor restart time, and the other channels' throughput while one crashes.
    Restart(restart::RestartBenchArgs),
    /// Semantic memory: HNSW vs exact recall@k and latency at 100k/1M entries, index build
    /// time, and the local model's embeddings per second.
    Memory(memory::MemoryBenchArgs),
}

/// Runs the chosen scenario.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.scenario {
        Scenario::Ingest(a) => {
            let out = args
                .json_out
                .unwrap_or_else(|| PathBuf::from("target/bench/ingest.json"));
            ingest::run(a, &out).await
        }
        Scenario::Channel(a) => {
            let out = args
                .json_out
                .unwrap_or_else(|| PathBuf::from("target/bench/channel.json"));
            channel::run(a, &out).await
        }
        Scenario::Restart(a) => {
            let out = args
                .json_out
                .unwrap_or_else(|| PathBuf::from("target/bench/restart.json"));
            restart::run(a, &out).await
        }
        Scenario::Memory(a) => {
            let out = args
                .json_out
                .unwrap_or_else(|| PathBuf::from("target/bench/memory.json"));
            memory::run(a, &out).await
        }
    }
}

//! Benchmarks that measure Byte against a baseline in the same run, print a table and write
//! JSON. Not timed tests: they report figures, and `docs/benchmarks.md` keeps the history.
//!
//! Each scenario is its own module; this one holds what they share: the subcommand, the
//! machine's conditions recorded next to every figure (load averages, the process's RSS and
//! CPU time from `/proc`), percentiles, and writing the JSON.

pub mod api;
pub mod channel;
pub mod ingest;
pub mod memory;
pub mod restart;
pub mod scale;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

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
    /// Actor hop: one message through the channel actor (every engine), a bare ractor actor
    /// and a bare tokio mpsc channel.
    Channel(channel::ChannelBenchArgs),
    /// Channel actor restart time, and the other channels' throughput while one crashes.
    Restart(restart::RestartBenchArgs),
    /// Semantic memory: HNSW vs exact recall@k and latency at 100k/1M entries, index build
    /// time, and the local model's embeddings per second.
    Memory(memory::MemoryBenchArgs),
    /// Many channels in one process: RSS per channel, time to join, CPU at steady state,
    /// against idle tokio tasks holding the same state.
    Scale(scale::ScaleBenchArgs),
    /// API latency (fleet list, channel context) at a fixed request rate under ingest load.
    Api(api::ApiBenchArgs),
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Scenario::Ingest(_) => "ingest",
            Scenario::Channel(_) => "channel",
            Scenario::Restart(_) => "restart",
            Scenario::Memory(_) => "memory",
            Scenario::Scale(_) => "scale",
            Scenario::Api(_) => "api",
        }
    }
}

/// Runs the chosen scenario.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let out = args
        .json_out
        .unwrap_or_else(|| PathBuf::from(format!("target/bench/{}.json", args.scenario.name())));
    match args.scenario {
        Scenario::Ingest(a) => ingest::run(a, &out).await,
        Scenario::Channel(a) => channel::run(a, &out).await,
        Scenario::Restart(a) => restart::run(a, &out).await,
        Scenario::Memory(a) => memory::run(a, &out).await,
        Scenario::Scale(a) => scale::run(a, &out).await,
        Scenario::Api(a) => api::run(a, &out).await,
    }
}

/// The machine's load while a figure was taken: other work on the two cores moves every
/// figure, so each result carries it.
#[derive(Debug, Clone, Serialize)]
pub struct Conditions {
    /// 1, 5 and 15 minute load averages from `/proc/loadavg`, at the end of the run.
    pub loadavg: [f64; 3],
    /// CPUs the process may run on.
    pub cpus: usize,
}

impl Conditions {
    /// Reads the current conditions.
    pub fn now() -> Self {
        let loadavg = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|s| {
                let mut it = s.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
                [
                    it.next().unwrap_or(0.0),
                    it.next().unwrap_or(0.0),
                    it.next().unwrap_or(0.0),
                ]
            })
            .unwrap_or_default();
        Self {
            loadavg,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// `load 1.23 / 0.98 / 0.70` for tables.
    pub fn label(&self) -> String {
        format!(
            "load {:.2} / {:.2} / {:.2}",
            self.loadavg[0], self.loadavg[1], self.loadavg[2]
        )
    }
}

/// Resident set size of this process in bytes (`VmRSS` in `/proc/self/status`).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU time (user + system) this process has used, from `/proc/self/stat`.
pub fn cpu_time() -> Duration {
    // Fields 14 and 15 (utime, stime) in clock ticks; the command name (field 2) may hold
    // spaces, so count from the closing parenthesis.
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

/// The `p`-quantile (0..=1) of sorted `values`, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Sorts `values` (no NaN expected) and returns (p50, p99, max).
pub fn p50_p99_max(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        percentile(values, 0.50),
        percentile(values, 0.99),
        percentile(values, 1.0),
    )
}

/// Writes `result` as pretty JSON to `out`, creating its directory.
pub fn write_json<T: Serialize>(out: &Path, result: &T) -> anyhow::Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(result)?)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

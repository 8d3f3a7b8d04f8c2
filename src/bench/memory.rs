//! Semantic memory benchmark: HNSW against exact search on 384-d vectors at 100k and 1M
//! entries, and the local model's embedding rate.
//!
//! For each size, synthetic but clustered unit vectors (topics = random centres, entries =
//! centre + Gaussian-ish noise, like sentence embeddings of a channel's recurring subjects)
//! are loaded with binary `COPY` into the real `memory_entries` table of a fresh database,
//! the HNSW index is built (timed), and queries drawn from the same topics are answered by
//! the production search path ([`crate::memory::store::search`]: transaction, `SET LOCAL`,
//! plan check) for each `ef_search`, and by the exact path on a subset. Ground truth is
//! brute force in Rust over the same vectors, so recall@k is measured against an independent
//! answer; the exact path's own recall is reported too (it must be 1). A first pass over all
//! queries is reported apart as the cold-cache figures (pages read into shared buffers on the
//! way); the other figures are the steady state that follows.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use byte_actors::memory::{EMBEDDING_DIM, normalize};
use chrono::{DateTime, Utc};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use sqlx::PgPool;

use crate::config::Secret;
use crate::memory::store::{self, SearchParams};
use crate::store::{self as pg, EmbeddedPostgres};

/// `bytebot bench memory` options.
#[derive(Debug, Clone, Args)]
pub struct MemoryBenchArgs {
    /// Table sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    pub sizes: Vec<usize>,
    /// Channels the entries are spread over (searches filter on one of them).
    #[arg(long, default_value_t = 1)]
    pub channels: usize,
    /// Topic centres the vectors cluster around.
    #[arg(long, default_value_t = 2000)]
    pub clusters: usize,
    /// Noise added to each coordinate of a centre before normalising.
    #[arg(long, default_value_t = 0.06)]
    pub noise: f32,
    /// Queries per size (HNSW).
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Queries per size also answered by the exact path (slow at 1M).
    #[arg(long, default_value_t = 20)]
    pub exact_queries: usize,
    /// k of recall@k.
    #[arg(long, default_value_t = 10)]
    pub k: u32,
    /// `hnsw.ef_search` values to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "40,100,200")]
    pub ef_search: Vec<u32>,
    /// HNSW `m` of the index built (the migration's production value by default).
    #[arg(long, default_value_t = 24)]
    pub m: u32,
    /// HNSW `ef_construction` of the index built (the migration's value by default).
    #[arg(long, default_value_t = 128)]
    pub ef_construction: u32,
    /// `maintenance_work_mem` of the index build (the graph must fit for a fast build).
    #[arg(long, default_value = "6GB")]
    pub maintenance_work_mem: String,
    /// Parallel workers of the index build.
    #[arg(long, default_value_t = 2)]
    pub build_workers: u32,
    /// Texts embedded to measure the local model's rate (0 skips it).
    #[arg(long, default_value_t = 256)]
    pub embed_texts: usize,
    /// Postgres server URL; default: an embedded server under `--data-dir`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Data directory of the embedded server.
    #[arg(long, default_value = "./data/bench-memory")]
    pub data_dir: std::path::PathBuf,
    /// Keep each size's database (named after the data and index parameters) and reuse it
    /// when it already exists, so an hour-long 1M build can run once (e.g. niced in the
    /// background) and the searches be measured later on a quiet machine.
    #[arg(long)]
    pub keep: bool,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Figures of one search configuration.
#[derive(Debug, Clone, Serialize)]
pub struct SearchFigures {
    /// `hnsw` or `exact` (what the planner really used).
    pub engine: String,
    /// `hnsw.ef_search` (none for exact).
    pub ef_search: Option<u32>,
    /// Queries answered.
    pub queries: usize,
    /// Mean recall@k against brute force.
    pub recall_at_k: f64,
    /// Latency percentiles, milliseconds (whole search call: transaction, plan check, query).
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Mean, milliseconds.
    pub mean_ms: f64,
    /// `cold`: the first pass after the server (re)started, pages read into shared buffers
    /// on the way; `warm`: later passes, the steady state of a server that has been serving.
    pub cache: &'static str,
}

/// Figures of one table size.
#[derive(Debug, Clone, Serialize)]
pub struct SizeFigures {
    /// Entries in the table.
    pub entries: usize,
    /// Entries in the searched channel.
    pub channel_entries: usize,
    /// Binary COPY time, seconds.
    pub copy_seconds: f64,
    /// HNSW build time, seconds.
    pub index_build_seconds: f64,
    /// HNSW `m`.
    pub m: u32,
    /// HNSW `ef_construction`.
    pub ef_construction: u32,
    /// Index size, bytes.
    pub index_bytes: i64,
    /// One line per configuration.
    pub searches: Vec<SearchFigures>,
}

/// The whole result.
#[derive(Debug, Serialize)]
pub struct MemoryBenchResult {
    /// Per size.
    pub sizes: Vec<SizeFigures>,
    /// Local model: texts per second, one text per call.
    pub embed_single_per_sec: Option<f64>,
    /// Local model: texts per second in batches of 32.
    pub embed_batch32_per_sec: Option<f64>,
    /// k.
    pub k: u32,
    /// Channels.
    pub channels: usize,
    /// Topic centres.
    pub clusters: usize,
    /// Threads the machine offers.
    pub cpus: usize,
    /// When.
    pub at: DateTime<Utc>,
}

/// Runs the benchmark.
pub async fn run(args: MemoryBenchArgs, out: &Path) -> Result<()> {
    if args.sizes.is_empty() || args.k == 0 || args.channels == 0 {
        bail!("--sizes, --k and --channels must be positive");
    }
    let (embed_single, embed_batch) = if args.embed_texts > 0 {
        let (a, b) = embed_rate(args.embed_texts)?;
        println!("local model: {a:.1} texts/s one by one, {b:.1} texts/s in batches of 32");
        (Some(a), Some(b))
    } else {
        (None, None)
    };

    let (server_url, _embedded) = match &args.database_url {
        Some(u) => (u.expose().to_owned(), None),
        None => {
            let pg = EmbeddedPostgres::locate()?
                .ensure_running(&args.data_dir, 0)
                .await?;
            (pg.url(), Some(pg))
        }
    };
    let mut sizes = Vec::new();
    for &n in &args.sizes {
        let figures = measure_size(&args, &server_url, n).await?;
        print_size(&figures, args.k);
        sizes.push(figures);
    }
    let result = MemoryBenchResult {
        sizes,
        embed_single_per_sec: embed_single,
        embed_batch32_per_sec: embed_batch,
        k: args.k,
        channels: args.channels,
        clusters: args.clusters,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        at: Utc::now(),
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn embed_rate(n: usize) -> Result<(f64, f64)> {
    let dir = std::path::PathBuf::from(crate::memory::DEFAULT_MODEL_DIR);
    let dir = if dir.exists() {
        dir
    } else {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(crate::memory::DEFAULT_MODEL_DIR)
    };
    let model = crate::memory::local::LocalModel::load(&dir)?;
    let texts: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "chatter{} says the boss fight at level {} was {} and asks about the {} build",
                i % 37,
                i % 11,
                ["insane", "easy", "unfair", "hilarious"][i % 4],
                ["speedrun", "stealth", "tank", "glass cannon"][i % 4]
            )
        })
        .collect();
    model.embed_sync(&texts[..4.min(n)])?; // warm-up
    let started = Instant::now();
    for t in &texts {
        model.embed_sync(std::slice::from_ref(t))?;
    }
    let single = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for chunk in texts.chunks(32) {
        model.embed_sync(chunk)?;
    }
    let batch = n as f64 / started.elapsed().as_secs_f64();
    Ok((single, batch))
}

/// Clustered unit vectors: `n` entries and `q` queries from the same topics.
fn synthetic(args: &MemoryBenchArgs, n: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let centres: Vec<Vec<f32>> = (0..args.clusters.max(1))
        .map(|_| {
            let mut v: Vec<f32> = (0..EMBEDDING_DIM).map(|_| gauss(&mut rng)).collect();
            normalize(&mut v);
            v
        })
        .collect();
    let point = |rng: &mut StdRng| {
        let c = &centres[rng.random_range(0..centres.len())];
        let mut v: Vec<f32> = c.iter().map(|x| x + args.noise * gauss(rng)).collect();
        normalize(&mut v);
        v
    };
    let entries = (0..n).map(|_| point(&mut rng)).collect();
    let queries = (0..args.queries.max(args.exact_queries))
        .map(|_| point(&mut rng))
        .collect();
    (entries, queries)
}

/// A standard normal sample (Box-Muller).
fn gauss(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

fn channel_of(i: usize, channels: usize) -> String {
    format!("bench_mem_{:03}", i % channels)
}

async fn measure_size(args: &MemoryBenchArgs, server_url: &str, n: usize) -> Result<SizeFigures> {
    println!("--- {n} entries: generating vectors");
    let (entries, queries) = synthetic(args, n);
    let kept_name = format!(
        "bytebot_bench_memkeep_{n}_c{}_k{}_s{}_n{}_m{}_e{}",
        args.channels,
        args.clusters,
        args.seed,
        (args.noise * 1e4).round() as u32,
        args.m,
        args.ef_construction
    );
    let db_name = if args.keep {
        kept_name
    } else {
        format!("bytebot_bench_memory_{}_{n}", Utc::now().timestamp())
    };
    let admin = pg::connect(server_url).await?;
    // Databases of an interrupted run hold gigabytes: drop them first (kept ones stay).
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'bytebot_bench_memory_%'",
    )
    .fetch_all(&admin)
    .await?;
    for name in stale {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }
    let url = pg::with_database(server_url, &db_name);
    let reused = args.keep && kept_is_complete(&url).await;
    let (pool, copy_seconds, index_build_seconds) = if reused {
        println!("--- {n} entries: reusing the kept database {db_name}");
        (pg::connect(&url).await?, 0.0, 0.0)
    } else {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {db_name}"))
            .execute(&admin)
            .await?;
        let pool = pg::connect(&url).await?;
        let (copy_seconds, build_seconds) = load_and_index(args, &pool, &entries, n).await?;
        (pool, copy_seconds, build_seconds)
    };
    sqlx::query("ANALYZE memory_entries").execute(&pool).await?;
    let index_bytes: i64 =
        sqlx::query_scalar(&format!("SELECT pg_relation_size('{}')", store::HNSW_INDEX))
            .fetch_one(&pool)
            .await?;

    // Ground truth: brute force in Rust over the searched channel's vectors.
    let channel = channel_of(0, args.channels);
    let mine: Vec<usize> = (0..n).filter(|i| i % args.channels == 0).collect();
    println!(
        "--- {n} entries: brute-force ground truth for {} queries",
        queries.len()
    );
    let truth: Vec<Vec<usize>> = queries
        .iter()
        .map(|q| top_k(&entries, &mine, q, args.k as usize))
        .collect();

    let mut searches = Vec::new();
    // One pass over every query at the largest ef_search first: it reads the pages searches
    // touch into shared buffers, and its latencies are the cold-cache figures. The passes
    // that follow are the steady state of a server that has been answering searches.
    let cold = args.ef_search.iter().max().map(|&widest| (widest, "cold"));
    let passes = cold
        .into_iter()
        .chain(args.ef_search.iter().map(|&ef| (ef, "warm")));
    for (ef, cache) in passes {
        let queries = &queries[..args.queries];
        let mut figures =
            measure_search(&pool, &channel, queries, &truth, args.k, false, ef).await?;
        figures.cache = cache;
        searches.push(figures);
    }
    if args.exact_queries > 0 {
        searches.push(
            measure_search(
                &pool,
                &channel,
                &queries[..args.exact_queries],
                &truth,
                args.k,
                true,
                0,
            )
            .await?,
        );
    }
    pool.close().await;
    if !args.keep {
        // The bench database is large; give the disk back.
        sqlx::query(&format!("DROP DATABASE {db_name}"))
            .execute(&admin)
            .await?;
    }
    Ok(SizeFigures {
        entries: n,
        channel_entries: mine.len(),
        copy_seconds,
        index_build_seconds,
        m: args.m,
        ef_construction: args.ef_construction,
        index_bytes,
        searches,
    })
}

/// Whether a kept database holds a finished index (an interrupted build leaves none).
async fn kept_is_complete(url: &str) -> bool {
    let Ok(pool) = pg::connect(url).await else {
        return false;
    };
    let valid: Option<bool> = sqlx::query_scalar(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = $1",
    )
    .bind(store::HNSW_INDEX)
    .fetch_optional(&pool)
    .await
    .ok()
    .flatten();
    pool.close().await;
    valid == Some(true)
}

/// Migrates a fresh database, copies the entries in and builds the HNSW index; returns the
/// COPY and build times in seconds.
async fn load_and_index(
    args: &MemoryBenchArgs,
    pool: &PgPool,
    entries: &[Vec<f32>],
    n: usize,
) -> Result<(f64, f64)> {
    pg::migrate(pool).await?;
    sqlx::query(&format!("DROP INDEX {}", store::HNSW_INDEX))
        .execute(pool)
        .await?;

    println!("--- {n} entries: binary COPY");
    let started = Instant::now();
    copy_entries(pool, entries, args.channels).await?;
    let copy_seconds = started.elapsed().as_secs_f64();

    println!(
        "--- {n} entries: building the HNSW index (m {}, ef_construction {}, {} workers)",
        args.m, args.ef_construction, args.build_workers
    );
    let started = Instant::now();
    {
        let mut conn = pool.acquire().await?;
        // The runtime's pool bounds statements to 30 s; an index build takes longer.
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!(
            "SET maintenance_work_mem = '{}'",
            args.maintenance_work_mem.replace('\'', "")
        ))
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!(
            "SET max_parallel_maintenance_workers = {}",
            args.build_workers
        ))
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!(
            "CREATE INDEX {} ON memory_entries USING hnsw (embedding vector_cosine_ops) \
             WITH (m = {}, ef_construction = {})",
            store::HNSW_INDEX,
            args.m,
            args.ef_construction
        ))
        .execute(&mut *conn)
        .await
        .context("building the HNSW index")?;
    }
    Ok((copy_seconds, started.elapsed().as_secs_f64()))
}

fn top_k(entries: &[Vec<f32>], mine: &[usize], q: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = mine
        .iter()
        .map(|&i| (entries[i].iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i))
        .collect();
    let k = k.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(k);
    scored.into_iter().map(|(_, i)| i).collect()
}

async fn measure_search(
    pool: &PgPool,
    channel: &str,
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
    k: u32,
    exact: bool,
    ef_search: u32,
) -> Result<SearchFigures> {
    let params = SearchParams {
        k,
        min_similarity: -1.0,
        exact,
        ef_search: ef_search.max(1),
    };
    let mut latencies = Vec::with_capacity(queries.len());
    let mut recall = 0.0;
    let mut engine = String::new();
    for (q, want) in queries.iter().zip(truth) {
        let started = Instant::now();
        let (hits, diag) = store::search(pool, channel, q, params).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        engine = diag.engine.to_owned();
        let got: Vec<usize> = hits
            .iter()
            .filter_map(|h| h.entry.text.strip_prefix("bench ")?.parse().ok())
            .collect();
        let found = want.iter().filter(|i| got.contains(i)).count();
        recall += found as f64 / want.len().max(1) as f64;
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    Ok(SearchFigures {
        engine,
        ef_search: (!exact).then_some(ef_search),
        queries: queries.len(),
        recall_at_k: recall / queries.len().max(1) as f64,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        mean_ms: latencies.iter().sum::<f64>() / latencies.len().max(1) as f64,
        // The caller names the pass.
        cache: "warm",
    })
}

/// Loads `entries` with binary COPY (row `i` gets text `bench {i}`).
async fn copy_entries(pool: &PgPool, entries: &[Vec<f32>], channels: usize) -> Result<()> {
    const CHUNK: usize = 4 << 20;
    let mut conn = pool.acquire().await?;
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    let mut copy = conn
        .copy_in_raw(
            "COPY memory_entries (channel, kind, text, source, embedding) FROM STDIN (FORMAT binary)",
        )
        .await?;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes());
    buf.extend_from_slice(&0i32.to_be_bytes());
    for (i, v) in entries.iter().enumerate() {
        buf.extend_from_slice(&5i16.to_be_bytes());
        for field in [
            channel_of(i, channels).as_bytes(),
            b"note".as_slice(),
            format!("bench {i}").as_bytes(),
            b"enrichment".as_slice(),
        ] {
            buf.extend_from_slice(&(field.len() as i32).to_be_bytes());
            buf.extend_from_slice(field);
        }
        // pgvector's binary form: int16 dimensions, int16 unused, float4 values.
        buf.extend_from_slice(&((4 + 4 * v.len()) as i32).to_be_bytes());
        buf.extend_from_slice(&(v.len() as i16).to_be_bytes());
        buf.extend_from_slice(&0i16.to_be_bytes());
        for x in v {
            buf.extend_from_slice(&x.to_be_bytes());
        }
        if buf.len() >= CHUNK {
            copy.send(std::mem::replace(
                &mut buf,
                Vec::with_capacity(CHUNK + 4096),
            ))
            .await?;
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buf).await?;
    copy.finish().await?;
    Ok(())
}

fn print_size(f: &SizeFigures, k: u32) {
    println!();
    println!(
        "{} entries ({} in the searched channel): COPY {:.1} s, HNSW (m {}, ef_construction {}) build {:.1} s, index {:.0} MB",
        f.entries,
        f.channel_entries,
        f.copy_seconds,
        f.m,
        f.ef_construction,
        f.index_build_seconds,
        f.index_bytes as f64 / 1e6
    );
    println!(
        "{:<8} {:>5} {:>9} {:>8} {:>11} {:>9} {:>9} {:>9}",
        "engine",
        "cache",
        "ef_search",
        "queries",
        format!("recall@{k}"),
        "p50 ms",
        "p99 ms",
        "mean ms"
    );
    for s in &f.searches {
        println!(
            "{:<8} {:>5} {:>9} {:>8} {:>11.4} {:>9.2} {:>9.2} {:>9.2}",
            s.engine,
            s.cache,
            s.ef_search.map_or("-".to_owned(), |e| e.to_string()),
            s.queries,
            s.recall_at_k,
            s.p50_ms,
            s.p99_ms,
            s.mean_ms
        );
    }
    println!();
}

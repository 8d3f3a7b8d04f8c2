//! Ingest benchmark: the simulator writes N chat lines over real loopback sockets; the whole
//! runtime (twitch-irc parse, pump, channel actors, Persistence, `UNNEST` inserts) makes them
//! durable. Baselines in the same run on the same rows: binary `COPY` from one connection
//! into an identical table, and twitch-irc's raw parse rate of equivalent lines.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use byte_actors::model::ChatRecord;
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use sqlx::PgPool;

use crate::app::App;
use crate::config::{LogFormat, RuntimeArgs, Secret};
use crate::simulator::{self, Emission, SimulatorConfig};
use crate::store::{self, EmbeddedPostgres, copy_baseline};

/// Ingest benchmark settings.
#[derive(Debug, Clone, Args)]
pub struct IngestBenchArgs {
    /// Chat messages to push through.
    #[arg(long, default_value_t = 400_000)]
    pub messages: usize,
    /// Channels they are spread over.
    #[arg(long, default_value_t = 100)]
    pub channels: usize,
    /// Rows per database batch.
    #[arg(long, default_value_t = 5000)]
    pub batch_rows: usize,
    /// Postgres server URL; a fresh database is created on it. Default: embedded server.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Data dir for the embedded server.
    #[arg(long, default_value = "./data/bench")]
    pub data_dir: std::path::PathBuf,
}

/// The result, as written to JSON.
#[derive(Debug, Serialize)]
pub struct IngestResult {
    /// Messages pushed.
    pub messages: usize,
    /// Channels.
    pub channels: usize,
    /// Seconds from the first line written to the last row durable.
    pub byte_seconds: f64,
    /// End-to-end messages/s made durable by Byte.
    pub byte_msgs_per_sec: f64,
    /// Seconds for binary COPY of the same rows from one connection.
    pub copy_seconds: f64,
    /// Rows/s of that COPY.
    pub copy_rows_per_sec: f64,
    /// Byte's rate / COPY's rate.
    pub ratio_vs_copy: f64,
    /// Lines/s twitch-irc parses (IRCMessage + ServerMessage) on one core.
    pub parse_lines_per_sec: f64,
    /// Byte's rate / parse rate.
    pub ratio_vs_parse: f64,
    /// When the run happened.
    pub at: DateTime<Utc>,
}

/// Runs the benchmark and writes `out`.
pub async fn run(args: IngestBenchArgs, out: &Path) -> Result<()> {
    let (server_url, embedded) = match &args.database_url {
        Some(u) => (u.expose().to_owned(), None),
        None => {
            let pg = EmbeddedPostgres::locate()?
                .ensure_running(&args.data_dir, 0)
                .await?;
            (pg.url(), Some(pg))
        }
    };
    let db_name = format!("bytebot_bench_{}", Utc::now().timestamp());
    let admin = store::connect(&server_url).await?;
    sqlx::query(&format!("CREATE DATABASE {db_name}"))
        .execute(&admin)
        .await?;
    let url = store::with_database(&server_url, &db_name);
    let pool = store::connect(&url).await?;
    store::migrate(&pool).await?;

    let logins: Vec<String> = (0..args.channels)
        .map(|i| format!("bench_{i:05}"))
        .collect();
    let sim = simulator::start(SimulatorConfig {
        channels: logins.clone(),
        bits_fraction: 0.0,
        ..SimulatorConfig::default()
    })
    .await?;
    let runtime_args = RuntimeArgs {
        database_url: Some(Secret::new(url.clone())),
        http_addr: "127.0.0.1:0".parse()?,
        data_dir: args.data_dir.clone(),
        pg_port: 0,
        admin_token: Some(Secret::new("bench-admin-token-not-secret")),
        channels: logins.clone(),
        irc_addr: Some(sim.local_addr()),
        bot_login: None,
        oauth_token: None,
        join_rate: 0,
        channels_per_connection: 90,
        batch_rows: args.batch_rows,
        flush_interval_ms: 50,
        irc_probe_after_ms: 10_000,
        irc_silent_after_ms: 15_000,
        auth_failures_per_minute: 1_000,
        buffer_rows: 100_000,
        spill_after_ms: 2_000,
        spill_dir: Some(args.data_dir.join("bench-spill")),
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
        memory_dedup_threshold: 0.92,
        copilot: Default::default(),
    };
    let app = App::start(&runtime_args, crate::app::Hooks::default()).await?;
    sim.wait_for_joins(&logins, Duration::from_secs(60)).await?;

    // Byte: emit everything from one task while Persistence writes; stop the clock when the
    // last row is durable.
    let per_channel = args.messages.div_ceil(args.channels);
    let total = per_channel * args.channels;
    eprintln!(
        "ingest: {total} messages over {} channels ...",
        args.channels
    );
    let started = Instant::now();
    let chunk = 500.min(per_channel).max(1);
    let emitter = {
        let logins = logins.clone();
        let sim_ref = &sim;
        async move {
            let mut left = vec![per_channel; logins.len()];
            while left.iter().any(|l| *l > 0) {
                for (i, c) in logins.iter().enumerate() {
                    let n = left[i].min(chunk);
                    if n > 0 {
                        sim_ref.emit(Emission::chat(c, n)).await?;
                        left[i] -= n;
                    }
                }
            }
            anyhow::Ok(())
        }
    };
    let waiter = async {
        loop {
            let stats = app.runtime().persistence_stats().await?;
            if stats.chat_written as usize >= total {
                return anyhow::Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!(
                    "only {} of {total} rows durable after 600 s",
                    stats.chat_written
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (emitted, byte_elapsed) = tokio::join!(emitter, waiter);
    emitted?;
    let byte_elapsed = byte_elapsed?;
    let stored = store::count_chat(&pool, None).await?;
    if stored as usize != total {
        bail!("stored {stored} rows, expected {total}");
    }
    app.shutdown(false).await;
    sim.shutdown().await;

    // Baseline 1: binary COPY of the very same rows from one connection.
    let rows = load_rows(&pool).await?;
    copy_baseline::create_scratch_table(&pool, "bench_copy").await?;
    let copy_started = Instant::now();
    let copied = copy_baseline::copy_chat_rows(&pool, "bench_copy", &rows).await?;
    let copy_elapsed = copy_started.elapsed();
    if copied as usize != total {
        bail!("COPY wrote {copied} rows, expected {total}");
    }

    // Baseline 2: twitch-irc's parse rate of equivalent lines.
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

    let byte_rate = total as f64 / byte_elapsed.as_secs_f64();
    let copy_rate = total as f64 / copy_elapsed.as_secs_f64();
    let parse_rate = total as f64 / parse_elapsed.as_secs_f64();
    let result = IngestResult {
        messages: total,
        channels: args.channels,
        byte_seconds: byte_elapsed.as_secs_f64(),
        byte_msgs_per_sec: byte_rate,
        copy_seconds: copy_elapsed.as_secs_f64(),
        copy_rows_per_sec: copy_rate,
        ratio_vs_copy: byte_rate / copy_rate,
        parse_lines_per_sec: parse_rate,
        ratio_vs_parse: byte_rate / parse_rate,
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
        "| baseline: binary COPY, 1 connection | {copy_rate:.0} rows/s ({:.2} s) |",
        result.copy_seconds
    );
    println!("| ratio Byte / COPY | {:.2} |", result.ratio_vs_copy);
    println!("| baseline: twitch-irc parse, 1 core | {parse_rate:.0} lines/s |");
    println!("| ratio Byte / parse | {:.2} |", result.ratio_vs_parse);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    eprintln!("wrote {}", out.display());

    pool.close().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    if let Some(pg) = embedded {
        pg.stop().await?;
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

//! `bytebot`: the binary. Subcommands: `run` (production), `demo` (embedded Postgres +
//! simulator + runtime + dashboard), `simulate` (the TMI-compatible simulator alone),
//! `migrate`, and `bench` (benchmarks with same-run baselines). anyhow lives only here.

use anyhow::{Context, Result};
use bytebot::app::App;
use bytebot::config::{LogFormat, RuntimeArgs, Secret};
use bytebot::{bench, simulator, store, telemetry};
use clap::{Parser, Subcommand};

// glibc's malloc spent over half the ingest CPU in malloc/free/consolidate (perf, see
// docs/benchmarks.md); mimalloc's thread-local free lists fit the many small, short-lived
// allocations of IRC parsing.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "bytebot",
    version,
    about = "Byte: an AI co-pilot runtime for many Twitch channels"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Niceness of the threads that process chat (actors, ingest, persistence), 0–19. The
    /// dashboard's HTTP threads keep the process's own priority, so under heavy chat a request
    /// gets a core before the next batch of chat does: chat is buffered (backpressure), a
    /// dashboard user is waiting. 0 turns it off.
    #[arg(
        long,
        global = true,
        env = "BYTEBOT_WORKER_NICE",
        default_value_t = 5,
        value_parser = clap::value_parser!(u8).range(0..=19)
    )]
    worker_nice: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the runtime against Twitch (or BYTEBOT_IRC_ADDR), serving API and dashboard.
    Run(RuntimeArgs),
    /// Everything on one machine: embedded Postgres, the simulator with lively chat, the
    /// runtime and the dashboard. Prints the dashboard URL and the admin token.
    Demo {
        #[command(flatten)]
        runtime: RuntimeArgs,
        /// Simulated channels.
        #[arg(long, default_value_t = 25)]
        demo_channels: usize,
        /// Simulated chat messages per second, across all channels.
        #[arg(long, default_value_t = 150.0)]
        demo_rate: f64,
    },
    /// Run the TMI-compatible simulator alone.
    Simulate(SimulateArgs),
    /// Apply database migrations and exit.
    Migrate {
        /// Postgres URL.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Secret,
    },
    /// Benchmarks that measure Byte against a baseline in the same run.
    Bench(bench::BenchArgs),
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6667")]
    bind: std::net::SocketAddr,
    /// Channels to generate chat for (comma-separated); default: demo channel names.
    #[arg(long, value_delimiter = ',')]
    channels: Vec<String>,
    /// Number of demo channels when `--channels` is not given.
    #[arg(long, default_value_t = 25)]
    channel_count: usize,
    /// Messages per second across all channels.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Write as fast as the sockets take it (load tests).
    #[arg(long)]
    unthrottled: bool,
    /// Raw IRC lines to replay to joined channels once a client has joined them.
    #[arg(long)]
    replay: Option<std::path::PathBuf>,
    /// Random seed.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let nice = cli.worker_nice;
    // The main thread (which runs `App::start`, and so creates the HTTP runtime's threads,
    // which inherit its niceness) stays as it is; only the workers and blocking threads lower
    // themselves.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || bytebot::priority::lower_current_thread(nice))
        .build()
        .context("starting the async runtime")?
        .block_on(dispatch(cli.command))
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Run(args) => {
            telemetry::init_tracing(args.log_format);
            run(args).await
        }
        Command::Demo {
            mut runtime,
            demo_channels,
            demo_rate,
        } => {
            telemetry::init_tracing(runtime.log_format);
            demo(&mut runtime, demo_channels, demo_rate).await
        }
        Command::Simulate(args) => {
            telemetry::init_tracing(LogFormat::Human);
            simulate(args).await
        }
        Command::Migrate { database_url } => {
            telemetry::init_tracing(LogFormat::Human);
            let pool = store::connect(database_url.expose()).await?;
            store::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Bench(args) => {
            telemetry::init_tracing(LogFormat::Human);
            bench::run(args).await
        }
    }
}

async fn run(args: RuntimeArgs) -> Result<()> {
    let mut app = App::start(&args, bytebot::app::Hooks::default())
        .await
        .context("start-up failed")?;
    println!(
        "Byte is running: dashboard and API on http://{}",
        app.http_addr()
    );
    serve_until_stopped(&mut app).await;
    finish(app, args.database_url.is_none()).await
}

async fn demo(args: &mut RuntimeArgs, channels: usize, rate: f64) -> Result<()> {
    let token = match args.checked_admin_token()? {
        Some(t) => t,
        None => {
            let t = Secret::new(random_token());
            args.admin_token = Some(t.clone());
            t
        }
    };
    let logins = demo_channel_names(channels);
    // The simulator accepts any token: the demo bot logs in, so viewers' questions get
    // answers in (simulated) chat, by the configured model or the labelled fallback.
    if args.bot_login.is_none() {
        args.bot_login = Some("byte".into());
        args.oauth_token = Some(Secret::new("demo-simulator-token"));
    }
    let sim = simulator::start(simulator::SimulatorConfig {
        channels: logins.clone(),
        rate_per_sec: Some(rate),
        ask_fraction: 0.01,
        moderator_in: logins.iter().step_by(2).cloned().collect(),
        ..simulator::SimulatorConfig::default()
    })
    .await
    .context("simulator failed to start")?;
    args.irc_addr = Some(sim.local_addr());
    args.join_rate = 0;
    args.channels = logins;
    let mut app = App::start(args, bytebot::app::Hooks::default())
        .await
        .context("start-up failed")?;
    println!();
    println!("  Byte demo is running");
    println!("  dashboard:    http://{}/", app.http_addr());
    println!("  admin token:  {}", token.expose());
    println!(
        "  simulator:    {} ({channels} channels, {rate} msg/s)",
        sim.local_addr()
    );
    println!("  metrics:      http://{}/metrics", app.http_addr());
    println!("  stop with Ctrl-C");
    println!();
    serve_until_stopped(&mut app).await;
    let result = finish(app, true).await;
    sim.shutdown().await;
    result
}

async fn simulate(args: SimulateArgs) -> Result<()> {
    let channels = if args.channels.is_empty() {
        demo_channel_names(args.channel_count)
    } else {
        args.channels
    };
    let sim = simulator::start(simulator::SimulatorConfig {
        bind: args.bind,
        channels: channels.clone(),
        rate_per_sec: (!args.unthrottled).then_some(args.rate),
        unthrottled: args.unthrottled,
        seed: args.seed,
        ..simulator::SimulatorConfig::default()
    })
    .await
    .context("simulator failed to start")?;
    println!(
        "simulator listening on {} for {} channels",
        sim.local_addr(),
        channels.len()
    );
    if let Some(path) = args.replay {
        sim.wait_for_joins(&channels, std::time::Duration::from_secs(3600))
            .await?;
        let report = sim.replay_file(&path).await?;
        println!("replayed {path:?}: {report:?}");
    }
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}

/// Plausible channel logins for the demo: readable on the dashboard, valid for Twitch.
fn demo_channel_names(n: usize) -> Vec<String> {
    const NAMES: [&str; 25] = [
        "pixelpaladin",
        "luacodes",
        "speedrun_sara",
        "cozy_cottage",
        "retro_rumble",
        "mestre_do_rpg",
        "gabi_joga",
        "chef_twitchy",
        "synthwave_sam",
        "minecraft_mia",
        "chess_clinic",
        "lofi_lena",
        "dev_diaries",
        "valor_vinicius",
        "artsy_ana",
        "tabletop_tom",
        "fps_fernanda",
        "music_marcos",
        "science_sofi",
        "horror_hugo",
        "kart_kings",
        "puzzle_pri",
        "just_chatting_jo",
        "indie_ivy",
        "bruno_builds",
    ];
    (0..n)
        .map(|i| match NAMES.get(i) {
            Some(name) => (*name).to_owned(),
            None => format!("demo_channel_{i:04}"),
        })
        .collect()
}

async fn serve_until_stopped(app: &mut App) {
    tokio::select! {
        () = shutdown_signal() => tracing::info!("shutdown requested"),
        failure = app.failed() => tracing::error!(?failure, "runtime stopped by itself"),
    }
}

async fn finish(app: App, stop_embedded: bool) -> Result<()> {
    match app.shutdown(stop_embedded).await {
        None => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
        Some(failure) => anyhow::bail!("runtime failed: {failure}"),
    }
}

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

//! The whole process killed: the real `bytebot run` binary, SIGKILLed under load — once while
//! Postgres is down (rows only in the spill log), once while it is up — then restarted, and
//! finally stopped with SIGTERM. Every row acknowledged before a kill must be in the database
//! afterwards, none twice; the graceful stop must exit cleanly within its bound.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytebot::simulator::{self, Emission, SimulatorHandle};
use bytebot::store;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::support::{ADMIN_TOKEN, PrivatePg, channel_names, eventually, scratch_dir, sim_config};

struct Runtime {
    child: Child,
    http: String,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

async fn spawn(
    url: &str,
    sim: &SimulatorHandle,
    channels: &[String],
    spill: &Path,
    log: &Path,
) -> Runtime {
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bytebot"))
        .arg("run")
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .args(["--irc-addr", &sim.local_addr().to_string()])
        .args(["--channels", &channels.join(",")])
        .args(["--spill-dir", &spill.display().to_string()])
        .args([
            "--join-rate",
            "0",
            "--flush-interval-ms",
            "20",
            "--spill-after-ms",
            "300",
        ])
        .env("DATABASE_URL", url)
        .env("BYTEBOT_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("bytebot binary starts");
    let rt = Runtime {
        child,
        http: format!("http://127.0.0.1:{port}"),
    };
    eventually("runtime answers", Duration::from_secs(60), || async {
        report(&rt).await
    })
    .await;
    sim.wait_for_joins(channels, Duration::from_secs(30))
        .await
        .unwrap();
    rt
}

async fn report(rt: &Runtime) -> Option<Value> {
    reqwest::Client::new()
        .get(format!("{}/api/v1/runtime", rt.http))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Rows acknowledged so far; `None` when the runtime could not answer just now (a loaded
/// machine while it drains the spill log: the report is a 503 then).
async fn acked_chat(rt: &Runtime) -> Option<u64> {
    report(rt).await?["persistence"]["acked_chat_rows"].as_u64()
}

async fn kill9(mut rt: Runtime) {
    rt.child.start_kill().unwrap();
    let status = rt.child.wait().await.unwrap();
    assert!(!status.success(), "SIGKILL ends the process: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_that_was_acknowledged() {
    bytebot::telemetry::init_tracing(bytebot::config::LogFormat::Human);
    let (private, running) = PrivatePg::start("crash").await;
    let url = private.url.clone();
    let spill = scratch_dir("crash-spill");
    let log = scratch_dir("crash-log").with_extension("log");
    let channels = channel_names("crash", 3);
    let sim = simulator::start(sim_config(&channels)).await.unwrap();

    // 1. Postgres down: rows are acknowledged only by the synced spill log. SIGKILL.
    let rt = spawn(&url, &sim, &channels, &spill, &log).await;
    running.stop().await.unwrap();
    for _ in 0..20 {
        for c in &channels {
            sim.emit(Emission::mixed(c, 50)).await.unwrap();
        }
    }
    let delivered = sim.recorded().privmsgs.len() as u64;
    let acked_1 = eventually(
        "everything delivered is acked",
        Duration::from_secs(60),
        || async {
            let n = acked_chat(&rt).await?;
            (n == delivered).then_some(n)
        },
    )
    .await;
    kill9(rt).await;

    // 2. Postgres back; a new process drains the log, then is SIGKILLed mid-stream.
    let back = private.restart().await;
    let rt = spawn(&url, &sim, &channels, &spill, &log).await;
    let mut acked_2 = 0;
    for _ in 0..20 {
        for c in &channels {
            sim.emit(Emission::mixed(c, 60)).await.unwrap();
        }
        // An unanswered read keeps the last figure: a lower bound of what was promised.
        if let Some(n) = acked_chat(&rt).await {
            acked_2 = n;
        }
    }
    // A last burst, and the kill while it is still being ingested: the rows in flight are
    // the loss window (never acknowledged, so never promised).
    for c in &channels {
        sim.emit(Emission::chat(c, 1_500)).await.unwrap();
    }
    let delivered_at_kill = sim.recorded().privmsgs.len() as u64;
    kill9(rt).await;

    // 3. A last start: whatever the log still holds is written; then a graceful SIGTERM.
    let mut rt = spawn(&url, &sim, &channels, &spill, &log).await;
    let pool = store::connect(&url).await.unwrap();
    let must_have = acked_1 + acked_2;
    let stored = eventually(
        "acknowledged rows stored",
        Duration::from_secs(60),
        || async {
            let n = store::count_chat(&pool, None).await.ok()?;
            (n >= must_have).then_some(n)
        },
    )
    .await;
    eventually("spill log drained", Duration::from_secs(60), || async {
        let r = report(&rt).await?;
        (r["persistence"]["spill_rows"] == 0).then_some(())
    })
    .await;
    let term_started = Instant::now();
    let pid = rt.child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(60), rt.child.wait())
        .await
        .expect("SIGTERM stops the process within its bound")
        .unwrap();
    let stop_took = term_started.elapsed();
    assert!(status.success(), "graceful stop exits 0: {status}");

    // No duplicates, nothing foreign, every acknowledged row present.
    let ids: Vec<String> = sqlx::query_scalar("SELECT message_id FROM chat_messages")
        .fetch_all(&pool)
        .await
        .unwrap();
    let set: HashSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "duplicate rows");
    let sent: HashSet<String> = sim.recorded().privmsgs.into_iter().map(|p| p.id).collect();
    assert!(ids.iter().all(|id| sent.contains(id)), "rows never sent");
    let final_count = ids.len() as u64;
    assert!(final_count >= must_have);
    eprintln!(
        "crash: kill 1 with Postgres down: {acked_1}/{delivered} lines acked (spill log); \
         kill 2 under load: {acked_2} acked at the last poll, {delivered_at_kill} delivered \
         in total; after restart {stored} stored (>= {must_have} acknowledged), final \
         {final_count}, 0 duplicated; lines delivered but never acknowledged (loss window): \
         {}; SIGTERM exit in {stop_took:?}",
        delivered_at_kill - final_count.min(delivered_at_kill)
    );

    sim.shutdown().await;
    pool.close().await;
    back.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&spill);
}

//! Chaos against the database under load: the writer's connections killed mid-batch, and
//! Postgres stopped for a minute. The promise checked each time: every line the simulator
//! delivered is stored exactly once, and memory stays bounded while the database is gone.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytebot::app::App;
use bytebot::simulator::{self, Emission, SimulatorHandle};
use bytebot::store;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};

use crate::support::{
    ADMIN_TOKEN, PrivatePg, TestApp, channel_names, eventually, runtime_args, sim_config,
};

/// Every recorded PRIVMSG is stored, and nothing else: ids compared as sets, counts equal,
/// so neither a loss nor a duplicate can hide.
async fn assert_stored_exactly_once(pool: &PgPool, sim: &SimulatorHandle) -> usize {
    let sent: HashSet<String> = sim.recorded().privmsgs.into_iter().map(|p| p.id).collect();
    let stored: Vec<String> = sqlx::query_scalar("SELECT message_id FROM chat_messages")
        .fetch_all(pool)
        .await
        .unwrap();
    let stored_set: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "duplicate rows");
    let lost = sent.difference(&stored_set).count();
    let unknown = stored_set.difference(&sent).count();
    assert_eq!((lost, unknown), (0, 0), "lost / unexpected rows");
    stored.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_writers_connections_mid_batch_loses_and_duplicates_nothing() {
    let channels = channel_names("kill", 4);
    let t = TestApp::start(&channels).await;
    let mut killer = PgConnection::connect(&t.db.url).await.unwrap();
    let mut killed = 0i64;
    for round in 0..40 {
        for c in &channels {
            t.sim.emit(Emission::mixed(c, 150)).await.unwrap();
        }
        // Right behind the burst, so batches are being written when their sessions die.
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()) AS k",
        )
        .fetch_one(&mut killer)
        .await
        .unwrap();
        killed += n;
        if round % 10 == 9 {
            // Let a retry land between rounds of kills.
            t.app
                .runtime()
                .flush(Duration::from_secs(30))
                .await
                .unwrap();
        }
    }
    assert!(killed >= 10, "sessions were actually killed: {killed}");
    let stats = t
        .app
        .runtime()
        .flush(Duration::from_secs(60))
        .await
        .unwrap();
    let sent = t.sim.recorded().privmsgs.len();
    eventually("all rows stored", Duration::from_secs(30), || async {
        (t.chat_count(None).await == sent as i64).then_some(())
    })
    .await;
    let stored = assert_stored_exactly_once(&t.db.pool, &t.sim).await;
    eprintln!(
        "chaos/terminate: {killed} sessions killed over 40 rounds, {stored} rows stored, \
         0 lost, 0 duplicated; {} failed writes retried",
        stats.failed_writes
    );
    drop(killer);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_without_postgres_under_load_spills_to_disk_and_loses_nothing() {
    bytebot::telemetry::init_tracing(bytebot::config::LogFormat::Human);
    let (private, running) = PrivatePg::start("chaos").await;
    let url = private.url.clone();

    let channels = channel_names("spill", 4);
    let sim = simulator::start(sim_config(&channels)).await.unwrap();
    let mut args = runtime_args(&url, sim.local_addr(), &channels);
    // A small memory budget, so the outage must go to disk to stay bounded.
    args.buffer_rows = 1_000;
    args.batch_rows = 500;
    args.spill_after_ms = 500;
    let spill_dir = args.spill_dir();
    let app = App::start(&args, bytebot::app::Hooks::default())
        .await
        .unwrap();
    sim.wait_for_joins(&channels, Duration::from_secs(20))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("http://{}{path}", app.http_addr()))
            .bearer_auth(ADMIN_TOKEN)
    };

    // Traffic before, during and after the outage.
    for c in &channels {
        sim.emit(Emission::mixed(c, 200)).await.unwrap();
    }
    app.runtime().flush(Duration::from_secs(30)).await.unwrap();
    let before_outage = sim.recorded().privmsgs.len();
    running.stop().await.unwrap();
    let outage = Duration::from_secs(60);
    let started = Instant::now();
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    let mut peak_spill_bytes = 0u64;
    let mut saw_backlog_on_readyz = false;
    while started.elapsed() < outage {
        pace.tick().await;
        for c in &channels {
            sim.emit(Emission::mixed(c, 25)).await.unwrap();
        }
        let s = app.runtime().persistence_stats().await.unwrap();
        peak_spill_bytes = peak_spill_bytes.max(s.spill_bytes);
        if !saw_backlog_on_readyz && s.spill_rows > 0 {
            let ready = get("/readyz").send().await.unwrap();
            assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
            let body: Value = ready.json().await.unwrap();
            assert!(
                body["persistence"]["spill_rows"].as_u64().unwrap_or(0) > 0,
                "readiness shows the spilled backlog: {body}"
            );
            saw_backlog_on_readyz = true;
        }
    }
    let delivered = sim.recorded().privmsgs.len();
    let sent_during_outage = delivered - before_outage;
    // Acknowledged = committed before the outage, or synced to the log during it.
    let during = eventually(
        "every delivered line durable on disk",
        Duration::from_secs(30),
        || async {
            let s = app.runtime().persistence_stats().await.ok()?;
            (s.acked_chat_rows as usize == delivered).then_some(s)
        },
    )
    .await;
    assert!(saw_backlog_on_readyz, "the backlog reached the spill log");
    assert!(
        during.spill_rows > 0 && during.spilled_rows > 10_000,
        "{during:?}"
    );
    // Memory: the queue up to its budget, one pump batch on top, one batch being retried.
    let bound = (1_000 + 1_024 + 500) as u64;
    assert!(
        during.peak_memory_rows <= bound,
        "memory stayed bounded: peak {} rows > {bound}",
        during.peak_memory_rows
    );

    // Postgres comes back on the same port; the backlog drains in order.
    let back = private.restart().await;
    let drain_started = Instant::now();
    // A flush covers the rows received before it; chat keeps flowing meanwhile and follows
    // the backlog through the log until the log is empty, so wait for that.
    let stats = eventually(
        "the spill log drained",
        Duration::from_secs(120),
        || async {
            let s = app.runtime().flush(Duration::from_secs(30)).await.ok()?;
            (s.spill_rows == 0).then_some(s)
        },
    )
    .await;
    let drained_in = drain_started.elapsed();
    assert_eq!(stats.spill_rows, 0, "{stats:?}");
    for c in &channels {
        sim.emit(Emission::mixed(c, 100)).await.unwrap();
    }
    let pool = store::connect(&url).await.unwrap();
    let sent = sim.recorded().privmsgs.len();
    eventually("every row stored", Duration::from_secs(60), || async {
        let n = store::count_chat(&pool, None).await.ok()?;
        (n == sent as u64).then_some(())
    })
    .await;
    let stored = assert_stored_exactly_once(&pool, &sim).await;
    let after = app.runtime().persistence_stats().await.unwrap();
    assert_eq!(after.spill_bytes, 0, "the drained log gave its disk back");
    eventually("ready again", Duration::from_secs(10), || async {
        (get("/readyz").send().await.ok()?.status() == StatusCode::OK).then_some(())
    })
    .await;
    eprintln!(
        "chaos/outage: Postgres down {outage:?} under load; {sent_during_outage} lines during the \
         outage, {} rows spilled, peak spill {peak_spill_bytes} bytes, peak memory {} rows \
         (bound {bound}); drained in {drained_in:?}; {stored} rows stored, 0 lost, 0 duplicated",
        during.spilled_rows, during.peak_memory_rows
    );

    assert_eq!(app.shutdown(false).await, None);
    sim.shutdown().await;
    pool.close().await;
    back.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&spill_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_never_starts_is_quarantined_at_a_bounded_rate() {
    let hooks = bytebot::app::Hooks::default();
    let faults = hooks.faults.clone();
    faults.set_fail_on_start("broken_01", true);
    let channels = channel_names("healthy", 2);
    let t = TestApp::start_with_hooks(&channels, |_| {}, hooks).await;

    // Default policy: 5 restarts in 60 s, the first immediate, then 100 ms doubling with
    // jitter that at most halves a delay.
    let started = Instant::now();
    let joined = t
        .api(reqwest::Method::POST, "/api/v1/channels")
        .json(&serde_json::json!({ "login": "broken_01" }))
        .send()
        .await
        .unwrap();
    assert!(joined.status().is_success());
    let status = eventually("quarantined", Duration::from_secs(30), || async {
        let s = t.get_json("/api/v1/channels/broken_01").await;
        (s["status"] == "quarantined").then_some(s)
    })
    .await;
    let took = started.elapsed();
    assert_eq!(
        status["restarts"], 5,
        "restarts stop at the budget: {status}"
    );
    let reason = status["quarantine_reason"].as_str().unwrap();
    assert!(
        reason.contains("6 failures") && reason.contains("injected start failure"),
        "{reason}"
    );
    let min_backoff = Duration::from_millis(50 + 100 + 200 + 400);
    assert!(
        took >= min_backoff,
        "restarts were paced: {took:?} < {min_backoff:?}"
    );

    // Visible where the operator and the SRE look.
    let list = t.get_json("/api/v1/channels").await;
    let row = list["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["login"] == "broken_01")
        .cloned()
        .unwrap();
    assert_eq!(row["status"], "quarantined");
    let metrics = t
        .api(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("byte_channel_quarantines_total{reason=\"start_failed\"} 1"),
        "quarantine counted"
    );
    assert!(metrics.contains("byte_channel_restarts_total{reason=\"start_failed\"} 5"));
    for c in &channels {
        let s = t.get_json(&format!("/api/v1/channels/{c}")).await;
        assert_eq!(
            (s["status"].as_str(), s["restarts"].as_u64()),
            (Some("running"), Some(0))
        );
    }

    // Fixed, then retried by the operator: it runs again.
    faults.set_fail_on_start("broken_01", false);
    let retried = t
        .api(reqwest::Method::POST, "/api/v1/channels/broken_01/retry")
        .send()
        .await
        .unwrap();
    assert!(retried.status().is_success(), "{}", retried.status());
    eventually("running after retry", Duration::from_secs(10), || async {
        let s = t.get_json("/api/v1/channels/broken_01").await;
        (s["status"] == "running").then_some(())
    })
    .await;
    t.stop().await;
}

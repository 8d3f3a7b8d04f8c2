//! IRC failures through the whole runtime: the simulator drops every connection, sends
//! `RECONNECT`, or goes silent while several channels are joined. Each time the runtime must
//! notice, reconnect, join every channel again, store the chat sent afterwards (exactly), and
//! account for it: the reconnect by cause, the recovery time, readiness.
//!
//! Each test prints its recovery time (`--no-capture` shows it), which is how the figures in
//! the report were collected.

use std::time::Duration;

use bytebot::ingest::IngestHealthView;
use bytebot::ingest::liveness::{Cause, Liveness, Recovery};
use bytebot::simulator::Emission;
use reqwest::StatusCode;

use crate::support::{TestApp, channel_names, eventually};

/// Channels per test: one connection carries them all (90 per connection).
const CHANNELS: usize = 5;
/// Chat lines per channel sent before and after the fault.
const BEFORE: usize = 6;
const AFTER: usize = 9;
/// Bound of every wait.
const BOUND: Duration = Duration::from_secs(30);

fn view(t: &TestApp) -> IngestHealthView {
    t.app.ingest_health().view()
}

async fn emit_all(t: &TestApp, channels: &[String], per_channel: usize) {
    for c in channels {
        let out = t.sim.emit(Emission::chat(c, per_channel)).await.unwrap();
        assert_eq!(out.written, per_channel, "simulator delivered to {c}");
    }
}

/// Waits until exactly `want` chat rows are stored, per channel and in all.
async fn expect_chat(t: &TestApp, channels: &[String], per_channel: usize) {
    let want = (per_channel * channels.len()) as i64;
    let got = eventually("chat rows stored", BOUND, || async {
        let n = t.chat_count(None).await;
        (n >= want).then_some(n)
    })
    .await;
    t.app
        .runtime()
        .flush(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got, want, "no chat lost, none twice");
    assert_eq!(t.chat_count(None).await, want);
    for c in channels {
        assert_eq!(t.chat_count(Some(c)).await, per_channel as i64, "{c}");
    }
}

/// Starts the runtime on `n` channels (90 per connection) and checks the steady state before a
/// fault.
async fn start(prefix: &str, n: usize) -> (TestApp, Vec<String>) {
    let channels = channel_names(prefix, n);
    let t = TestApp::start(&channels).await;
    eventually("IRC connected and every channel joined", BOUND, || async {
        view(&t).connected.then_some(())
    })
    .await;
    emit_all(&t, &channels, BEFORE).await;
    expect_chat(&t, &channels, BEFORE).await;
    let v = view(&t);
    assert_eq!(v.link.connections, n.div_ceil(90));
    assert_eq!(v.link.reconnects_by_cause.total(), 0);
    assert_eq!(v.link.recoveries, 0);
    (t, channels)
}

/// After a fault: the runtime recovered, the simulator sees every channel joined again on live
/// connections only, chat sent now is stored exactly once, and the recovery is exported.
async fn expect_recovered(t: &TestApp, channels: &[String], cause: Cause) -> Recovery {
    let connections = channels.len().div_ceil(90);
    let v = eventually("a recovery recorded", BOUND, || async {
        let v = view(t);
        (v.link.recoveries >= 1 && v.connected).then_some(v)
    })
    .await;
    let recovery = v.link.last_recovery.clone().unwrap();
    assert_eq!(recovery.cause, cause);
    assert_eq!(recovery.channels, channels.len(), "every channel rejoined");
    assert_eq!(v.link.channels_awaiting_rejoin, 0);
    let lost = match cause {
        Cause::ReconnectCommand => v.link.reconnects_by_cause.reconnect_command,
        Cause::Closed => v.link.reconnects_by_cause.closed,
        Cause::Silent => v.link.reconnects_by_cause.silent,
    };
    assert!(lost >= 1);
    assert_eq!(lost, v.link.reconnects_by_cause.total(), "one cause only");
    eprintln!(
        "irc recovery [{}]: {} ms ({} channels, {} connection(s) lost)",
        cause.label(),
        recovery.duration_ms,
        recovery.channels,
        recovery.connections_lost
    );

    // The simulator's side: only the new connections, every channel joined once on them, and
    // twice in all.
    t.sim
        .wait_for_stats(BOUND, |s| {
            s.connections_open == connections as u64
                && channels.iter().all(|c| {
                    s.channels
                        .get(c)
                        .is_some_and(|ch| ch.subscribers == 1 && ch.joins >= 2)
                })
        })
        .await
        .expect("every channel joined again on the new connections");

    emit_all(t, channels, AFTER).await;
    expect_chat(t, channels, BEFORE + AFTER).await;

    // Exported: readiness, the runtime report and Prometheus.
    let ready = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let runtime = t.get_json("/api/v1/runtime").await;
    let irc = &runtime["irc"];
    assert_eq!(irc["connected"], true);
    assert_eq!(irc["recovering"], false);
    assert_eq!(irc["recoveries"], 1);
    assert_eq!(irc["last_recovery"]["cause"], cause.label());
    assert_eq!(irc["reconnects_by_cause"][cause.label()], lost);
    let metrics = t.metrics_text().await;
    let reconnects = format!(
        "byte_irc_reconnects_total{{cause=\"{}\"}} {lost}",
        cause.label()
    );
    assert!(metrics.contains(&reconnects), "{reconnects} in /metrics");
    assert!(metrics.contains("byte_irc_recovery_duration_seconds_count 1"));
    let connected = format!("byte_irc_connected {connections}");
    assert!(metrics.contains(&connected), "{connected} in /metrics");
    recovery
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_recovers_and_rejoins_every_channel() {
    let (t, channels) = start("irc_drop", CHANNELS).await;
    assert_eq!(t.sim.drop_connections(), 1);
    expect_recovered(&t, &channels, Cause::Closed).await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_dropped_connections_is_one_outage_until_every_channel_is_back() {
    let (t, channels) = start("irc_pool", 200).await;
    assert_eq!(t.sim.drop_connections(), 3);
    let recovery = expect_recovered(&t, &channels, Cause::Closed).await;
    assert_eq!(recovery.connections_lost, 3);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_command_recovers_and_rejoins_every_channel() {
    let (t, channels) = start("irc_reconnect", CHANNELS).await;
    assert_eq!(t.sim.send_reconnect(), 1);
    expect_recovered(&t, &channels, Cause::ReconnectCommand).await;
    assert_eq!(view(&t).reconnects, 1, "the pump saw the RECONNECT too");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_is_detected_and_the_runtime_rejoins_every_channel() {
    let (t, channels) = start("irc_silent", CHANNELS).await;
    // The default window (15 s) is sized for Twitch; the simulator answers at once.
    let liveness = Liveness::new(Duration::from_millis(200), Duration::from_millis(600)).unwrap();
    t.app.ingest_health().set_liveness(liveness);
    t.sim.set_silent(true);

    // Detected, and not ready while the server stays silent (new connections die unanswered).
    eventually("silence detected", BOUND, || async {
        let v = view(&t);
        (v.link.reconnects_by_cause.silent >= 1 && v.link.recovering).then_some(())
    })
    .await;
    let ready = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["irc"]["connected"], false);
    assert_eq!(body["irc"]["recovering"], true);
    assert_eq!(body["irc"]["channels_awaiting_rejoin"], CHANNELS);

    t.sim.set_silent(false);
    let recovery = expect_recovered(&t, &channels, Cause::Silent).await;
    assert!(
        recovery.duration_ms >= 600,
        "measured from the last line heard, so it includes detection"
    );
    t.stop().await;
}

//! Browser tests: the dashboard and the OBS overlay in headless Chromium (Debian's
//! `chromium`), driven by `playwright-core` scenarios in `tests/browser/*.mjs`.
//!
//! Each test starts a whole Byte (real Postgres, the simulator with continuous chat in every
//! joined channel, the HTTP server), mints the tokens it needs through the API, and runs one
//! scenario with `node`, passing the base URL, tokens and channel names in the environment.
//! Meanwhile the test drives the simulator — a raid every few seconds (so coaching hints keep
//! arriving) and a chat line carrying an HTML payload — and asserts that the scenario exits 0,
//! printing its output either way. Screenshots land in `target/browser-artifacts/`.
//!
//! Set-up: `scripts/setup.sh` installs Chromium and runs `npm ci` in `tests/browser`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytebot::app::{App, Hooks};
use bytebot::config::LogFormat;
use bytebot::simulator::{
    self, Emission, EventKind, MessageKind, SimulatorConfig, SimulatorHandle,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{test_db, workspace_dir};
use crate::support::{ADMIN_TOKEN, TestApp, channel_names, eventually, runtime_args};

/// Longest a scenario may run before it is killed.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);

/// A Byte whose simulator sends continuous chat to every joined channel, including channels
/// joined later through the dashboard.
async fn start(channels: &[String]) -> TestApp {
    bytebot::telemetry::init_tracing(LogFormat::Human);
    let db = test_db().await;
    let sim = simulator::start(SimulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        // Empty: background traffic goes to every channel some connection has joined.
        channels: Vec::new(),
        rate_per_sec: Some(30.0),
        record: false,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts");
    let args = runtime_args(&db.url, sim.local_addr(), channels);
    let app = App::start(&args, Hooks::default())
        .await
        .expect("app starts");
    sim.wait_for_joins(channels, Duration::from_secs(20))
        .await
        .expect("all channels joined");
    TestApp {
        db,
        sim,
        app,
        http: reqwest::Client::new(),
    }
}

/// Stores 90 minutes of per-minute rollups for `channel` (a stream that ran before this test),
/// ending two minutes ago, so the history and comparison charts have something to draw;
/// `phase` makes channels differ.
async fn seed_history(t: &TestApp, channel: &str, phase: f64) {
    sqlx::query(
        "INSERT INTO channel_rollups (channel, minute, messages, chatters, new_chatters, \
             sentiment, health, health_factors, churn_risk, subs, gifts, bits, raids, hints) \
         SELECT $1, date_trunc('minute', now()) - make_interval(mins => g), \
                (120 + 60 * sin(g / 9.0 + $2))::int, (40 + 15 * cos(g / 11.0 + $2))::int, g % 5, \
                0.15 + 0.25 * sin(g / 13.0 + $2), 60 + 15 * sin(g / 17.0 + $2), '{}'::jsonb, \
                0.2 + 0.1 * cos(g / 7.0 + $2), (g % 7 = 0)::int, (g % 19 = 0)::int, \
                (g % 11 = 0)::int * 500, (g = 45)::int, (g % 6 = 0)::int \
         FROM generate_series(2, 91) AS g ON CONFLICT DO NOTHING",
    )
    .bind(channel)
    .bind(phase)
    .execute(&t.db.pool)
    .await
    .expect("history seeded");
}

/// Mints a token for `channel` with the admin token; returns the secret.
async fn mint(t: &TestApp, channel: &str, role: &str, label: &str) -> String {
    let resp = t
        .api(Method::POST, &format!("/api/v1/channels/{channel}/tokens"))
        .json(&json!({ "role": role, "label": label }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "minting a {role} token");
    let body: Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Raids `channel` every few seconds (the coach turns each raid into an urgent hint; its
/// cooldown is 15 s) and sends a question whose text is an HTML payload; never returns.
async fn drive(sim: &SimulatorHandle, channel: &str) {
    let mut n = 0u32;
    loop {
        let _ = sim
            .emit(Emission::cycle(
                channel,
                1,
                vec![MessageKind::Event(EventKind::Raid)],
            ))
            .await;
        n += 1;
        sim.inject_raw(&format!(
            "@badge-info=;badges=;color=;display-name=Mallory;emotes=;flags=;id=xss-{n}-{channel};\
             mod=0;room-id=1;subscriber=0;tmi-sent-ts={};turbo=0;user-id=666;user-type= \
             :mallory!mallory@mallory.tmi.twitch.tv PRIVMSG #{channel} \
             :<img src=x onerror=\"window.__byteXss=1\"> is this safe?",
            chrono::Utc::now().timestamp_millis()
        ));
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
}

/// Runs a scenario while [`drive`] feeds `channel`.
async fn run_driven(t: &TestApp, channel: &str, name: &str, env: &[(&str, String)]) {
    tokio::select! {
        () = run_scenario(t, name, env) => {}
        () = drive(&t.sim, channel) => {}
    }
}

fn browser_dir() -> PathBuf {
    workspace_dir().join("tests/browser")
}

/// Fails with the set-up command when Chromium or the npm packages are missing.
fn require_tools() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} not found: run scripts/setup.sh (installs Debian's chromium)"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules missing: run scripts/setup.sh (npm ci in tests/browser)"
    );
}

/// Runs `tests/browser/<name>.mjs` against `t` and asserts it passed.
async fn run_scenario(t: &TestApp, name: &str, env: &[(&str, String)]) {
    let artifacts = workspace_dir().join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(browser_dir().join(format!("{name}.mjs")))
        .current_dir(browser_dir())
        .env("BYTE_BASE_URL", format!("http://{}", t.app.http_addr()))
        .env("BYTE_ARTIFACTS", &artifacts)
        .env(
            "BYTE_SCENARIO_TIMEOUT_MS",
            (SCENARIO_TIMEOUT.as_millis() - 10_000).to_string(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("node runs (install Node.js 20+)");
    let out = tokio::time::timeout(SCENARIO_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!("browser scenario {name} did not finish in {SCENARIO_TIMEOUT:?}")
        })
        .expect("scenario output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {name}.mjs stdout\n{stdout}\n--- {name}.mjs stderr\n{stderr}");
    assert!(
        out.status.success(),
        "browser scenario {name} failed ({}); screenshots in {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status,
        artifacts.display()
    );
}

/// The operator: sign in, fleet, join a channel and see its chat rate rise, focused view with
/// a live coaching hint, injection-proof rendering, pause kept across a reload, comparison,
/// panic button, phone layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_operator_tour() {
    require_tools();
    let channels = channel_names("ui_fleet", 2);
    let t = start(&channels).await;
    let newcomer = "ui_newcomer";
    for (i, c) in channels
        .iter()
        .map(String::as_str)
        .chain([newcomer])
        .enumerate()
    {
        seed_history(&t, c, i as f64 * 1.3).await;
    }
    run_driven(
        &t,
        newcomer,
        "dashboard",
        &[
            ("BYTE_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
            ("BYTE_CHANNELS", channels.join(",")),
            ("BYTE_NEW_CHANNEL", newcomer.to_owned()),
        ],
    )
    .await;
    // What the page showed is what the API holds.
    let agent = t
        .get_json(&format!("/api/v1/channels/{newcomer}/agent"))
        .await;
    assert_eq!(agent["paused"], true, "{agent}");
    assert_eq!(t.get_json("/api/v1/agent").await["suspended"], false);
    t.stop().await;
}

/// The OBS overlay with an overlay token: transparent, a hint appears live, the token stays
/// out of request URLs, it reconnects after a network drop, a bad token says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay_shows_hints_live() {
    require_tools();
    let channels = channel_names("ui_overlay", 1);
    let t = start(&channels).await;
    let token = mint(&t, &channels[0], "overlay", "OBS").await;
    run_driven(
        &t,
        &channels[0],
        "overlay",
        &[
            ("BYTE_OVERLAY_TOKEN", token),
            ("BYTE_CHANNEL", channels[0].clone()),
        ],
    )
    .await;
    t.stop().await;
}

/// A streamer shares the dashboard: tunes the agent, mints moderator and overlay tokens (shown
/// once, copyable), the moderator sees only what they may use, revocation signs them out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamer_shares_with_a_moderator() {
    require_tools();
    let channels = channel_names("ui_stream", 1);
    let t = start(&channels).await;
    let streamer = mint(&t, &channels[0], "streamer", "streamer").await;
    run_driven(
        &t,
        &channels[0],
        "tokens",
        &[
            ("BYTE_STREAMER_TOKEN", streamer),
            ("BYTE_CHANNEL", channels[0].clone()),
        ],
    )
    .await;
    let agent = t
        .get_json(&format!("/api/v1/channels/{}/agent", channels[0]))
        .await;
    assert_eq!(agent["temperature"], 0.7, "{agent}");
    let tokens = eventually(
        "the moderator token is revoked",
        Duration::from_secs(5),
        || async {
            let list = t
                .get_json(&format!("/api/v1/channels/{}/tokens", channels[0]))
                .await;
            let items = list.as_array().cloned().unwrap_or_default();
            items
                .iter()
                .any(|r| r["role"] == "moderator" && !r["revoked_at"].is_null())
                .then_some(items)
        },
    )
    .await;
    assert!(
        tokens
            .iter()
            .any(|r| r["role"] == "overlay" && r["revoked_at"].is_null())
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_studio_edit_save_preview_rollback() {
    require_tools();
    let channels = channel_names("ui_prompt", 1);
    let t = start(&channels).await;
    let streamer = mint(&t, &channels[0], "streamer", "streamer").await;
    run_scenario(
        &t,
        "prompt",
        &[
            ("BYTE_STREAMER_TOKEN", streamer),
            ("BYTE_CHANNEL", channels[0].clone()),
        ],
    )
    .await;
    let active = t
        .get_json(&format!("/api/v1/channels/{}/prompt-profile", channels[0]))
        .await;
    assert_eq!(active["version"], 3, "{active}");
    assert_eq!(active["restored_from"], 1);
    assert_eq!(active["profile"]["persona"]["name"], "Pixel");
    t.stop().await;
}

/// The memory panel against the real local model: add through the editor, browse (pages,
/// kind filter), search with the tuning controls and read the diagnostics (HNSW, then the
/// exact scan when forced), edit (an operator's entry and enrichment's highlight) and delete;
/// then the database holds what the page showed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_panel_add_browse_search_edit_delete() {
    require_tools();
    // No background chat: enrichment must not add memories while the page counts them.
    let channels = channel_names("ui_memory", 1);
    let channel = channels[0].as_str();
    let t = TestApp::start(&channels).await;
    // Archived notes on random unit vectors: enough rows for the planner to use the HNSW
    // index at the panel's ef_search 40 (at 2,000 it still prefers a scan), and none close
    // to a real sentence. (`g` in the inner
    // series makes the subquery run per row: one vector each, not one for all.)
    const SEEDED: i64 = 4000;
    // One statement that updates the HNSW graph 4,000 times: on a loaded machine it can
    // outlast the pool's 30 s statement timeout, so the seeding lifts it for itself.
    let mut seed = t.db.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *seed)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO memory_entries (channel, kind, text, source, embedding, updated_at) \
         SELECT $1, 'note', 'Archived note ' || g, 'report', \
                l2_normalize((SELECT array_agg(random() - 0.5) \
                              FROM generate_series(1, 384 + 0 * g))::vector), \
                now() - make_interval(mins => g::int) \
         FROM generate_series(1, $2) AS g",
    )
    .bind(channel)
    .bind(SEEDED)
    .execute(&mut *seed)
    .await
    .expect("notes seeded");
    seed.commit().await.unwrap();
    sqlx::query("ANALYZE memory_entries")
        .execute(&t.db.pool)
        .await
        .unwrap();
    // What enrichment writes for a clip moment: weight 1 + the burst's strength.
    let resp = t
        .api(Method::PUT, &format!("/api/v1/channels/{channel}/memory"))
        .json(&json!({
            "kind": "highlight", "source": "enrichment", "weight": 1.6644444,
            "text": "Highlight on 2026-03-01 20:06 UTC: Hype moment (strength 0.66): chat at 13 msg/min"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let highlight: Value = resp.json().await.unwrap();
    let highlight_id = highlight["entry"]["id"].as_i64().unwrap();
    let streamer = mint(&t, channel, "streamer", "streamer").await;
    run_scenario(
        &t,
        "memory",
        &[
            ("BYTE_STREAMER_TOKEN", streamer),
            ("BYTE_CHANNEL", channel.to_owned()),
            ("BYTE_SEEDED", SEEDED.to_string()),
            ("BYTE_HIGHLIGHT_ID", highlight_id.to_string()),
        ],
    )
    .await;

    // The database agrees with the page: three of the four added, one edited, one deleted.
    let rows: Vec<(String, String, String, f32, i32)> = sqlx::query_as(
        "SELECT kind, text, source, weight, hits FROM memory_entries \
         WHERE channel = $1 AND kind <> 'note' ORDER BY id",
    )
    .bind(channel)
    .fetch_all(&t.db.pool)
    .await
    .unwrap();
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(k, x, s, _, _)| (k.as_str(), x.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "highlight",
                "Chat exploded with PogChamp when the final boss fell.",
                "enrichment"
            ),
            ("fact", "The streamer's cat is called Miso.", "operator"),
            (
                "fact",
                "The stream's schedule: Tuesdays at noon.",
                "operator"
            ),
            (
                "viewer",
                "alice is speedrunning Super Mario 64.",
                "operator"
            ),
        ],
        "{rows:?}"
    );
    assert!(
        (rows[0].3 - 1.664_444_4).abs() < 1e-4,
        "the highlight's weight is kept"
    );
    assert_eq!(rows[2].3, 3.0, "the edited weight");
    assert!(rows.iter().all(|r| r.4 == 1), "nothing merged: {rows:?}");
    let notes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM memory_entries WHERE channel = $1 AND kind = 'note'",
    )
    .bind(channel)
    .fetch_one(&t.db.pool)
    .await
    .unwrap();
    assert_eq!(notes, SEEDED);
    // The edit was re-embedded: the API finds it by its new meaning.
    let found = t
        .get_json(&format!(
            "/api/v1/channels/{channel}/memory/search?q=when%20do%20you%20go%20live%20on%20tuesday&k=1&exact=true"
        ))
        .await;
    assert_eq!(
        found["hits"][0]["text"], "The stream's schedule: Tuesdays at noon.",
        "{found}"
    );
    t.stop().await;
}

//! A whole Byte in-process for a test: its own database, a simulator on a loopback port, the
//! runtime and the HTTP server on port 0, plus polling helpers (never bare sleeps).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytebot::app::App;
use bytebot::config::{LogFormat, RuntimeArgs, Secret};
use bytebot::simulator::{self, SimulatorConfig, SimulatorHandle};

use crate::common::{TestDb, test_db};

/// The admin token every test app uses.
pub(crate) const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Runtime settings for a test: fast batches, no JOIN limit, the given IRC endpoint.
pub(crate) fn runtime_args(
    database_url: &str,
    irc: SocketAddr,
    channels: &[String],
) -> RuntimeArgs {
    RuntimeArgs {
        database_url: Some(Secret::new(database_url)),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        http_threads: None,
        data_dir: std::env::temp_dir().join("bytebot-test-unused"),
        pg_port: 0,
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        channels: channels.to_vec(),
        irc_addr: Some(irc),
        bot_login: None,
        oauth_token: None,
        join_rate: 0,
        channels_per_connection: 90,
        batch_rows: 2000,
        flush_interval_ms: 20,
        irc_probe_after_ms: 10_000,
        irc_silent_after_ms: 15_000,
        auth_failures_per_minute: 1_000,
        buffer_rows: 100_000,
        spill_after_ms: 2_000,
        spill_dir: Some(scratch_dir("spill")),
        restart_max: 5,
        restart_window_secs: 60,
        restart_backoff_ms: 100,
        restart_backoff_max_ms: 10_000,
        command_timeout_ms: 2000,
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
        memory_embed_nice: 15,
        memory_dedup_threshold: 0.92,
        copilot: Default::default(),
    }
}

/// A fresh directory under cargo's scratch dir for integration tests (`target/tmp`, which
/// `scripts/test.sh` empties before each run, so no run leaves litter in the system's
/// temp dir), unique to this test process and call.
pub(crate) fn scratch_dir(what: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bytebot-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A private embedded Postgres a test may stop and start again on the same port, beside the
/// shared test server (so the unprivileged user Postgres runs as can reach it). Its data
/// directory is removed when the handle is dropped.
pub(crate) struct PrivatePg {
    pg: bytebot::store::EmbeddedPostgres,
    dir: std::path::PathBuf,
    /// Connection URL.
    pub(crate) url: String,
    /// Port, kept across restarts.
    pub(crate) port: u16,
}

impl PrivatePg {
    /// A fresh cluster named after `tag` and this test process, running.
    pub(crate) async fn start(tag: &str) -> (PrivatePg, bytebot::store::RunningPostgres) {
        let dir =
            crate::common::test_pg_dir().with_file_name(format!("{tag}-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pg = bytebot::store::EmbeddedPostgres::locate().unwrap();
        let running = pg.ensure_running(&dir, 0).await.unwrap();
        let (url, port) = (running.url(), running.port());
        (PrivatePg { pg, dir, url, port }, running)
    }

    /// Starts the cluster again on its port, after a test stopped it.
    pub(crate) async fn restart(&self) -> bytebot::store::RunningPostgres {
        let back = self.pg.ensure_running(&self.dir, self.port).await.unwrap();
        assert_eq!(back.port(), self.port);
        back
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Simulator settings for a test: recording on, no background traffic.
pub(crate) fn sim_config(channels: &[String]) -> SimulatorConfig {
    SimulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        channels: channels.to_vec(),
        rate_per_sec: None,
        // Cheers only where a test asks for them, so row counts are exact.
        bits_fraction: 0.0,
        record: true,
        ..SimulatorConfig::default()
    }
}

/// A request as `token` (`None`: no Authorization header): the status and the body as JSON
/// (a body that is not JSON as a string, an empty one as null).
pub(crate) async fn request(
    t: &TestApp,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut req = t.http.request(method, t.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, body)
}

/// [`request`] as `token`.
pub(crate) async fn call(
    t: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    request(t, Some(token), method, path, body).await
}

/// Mints a `role` token for `channel` as `as_token`: the token and its public id.
pub(crate) async fn mint_with_id(
    t: &TestApp,
    as_token: &str,
    channel: &str,
    role: &str,
) -> (String, String) {
    let (status, body) = call(
        t,
        as_token,
        reqwest::Method::POST,
        &format!("/api/v1/channels/{channel}/tokens"),
        Some(serde_json::json!({ "role": role, "label": format!("{role} for tests") })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["token_id"].as_str().unwrap().to_owned(),
    )
}

/// Mints a `role` token for `channel` as `as_token`.
pub(crate) async fn mint(t: &TestApp, as_token: &str, channel: &str, role: &str) -> String {
    mint_with_id(t, as_token, channel, role).await.0
}

/// A viewer's chat line as Twitch sends it (tags included), with message id `id`.
pub(crate) fn privmsg_line(channel: &str, user: &str, id: &str, text: &str) -> String {
    format!(
        "@badge-info=;badges=;color=;display-name={user};emotes=;flags=;id={id};mod=0;room-id=1;\
         subscriber=0;tmi-sent-ts={};turbo=0;user-id=42;user-type= \
         :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{channel} :{text}",
        chrono::Utc::now().timestamp_millis()
    )
}

/// Names `n` test channels.
pub(crate) fn channel_names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i:02}")).collect()
}

/// A running test deployment.
pub(crate) struct TestApp {
    pub(crate) db: TestDb,
    pub(crate) sim: SimulatorHandle,
    pub(crate) app: App,
    pub(crate) http: reqwest::Client,
}

impl TestApp {
    /// Database, simulator, runtime joined to `channels` (joins confirmed by the simulator).
    pub(crate) async fn start(channels: &[String]) -> TestApp {
        Self::start_with(channels, |_| {}).await
    }

    /// Like [`TestApp::start`], with a hook to adjust the runtime settings.
    pub(crate) async fn start_with(
        channels: &[String],
        adjust: impl FnOnce(&mut RuntimeArgs),
    ) -> TestApp {
        Self::start_with_hooks(channels, adjust, bytebot::app::Hooks::default()).await
    }

    /// Like [`TestApp::start_with`], with a manual clock or fault plan swapped in.
    pub(crate) async fn start_with_hooks(
        channels: &[String],
        adjust: impl FnOnce(&mut RuntimeArgs),
        hooks: bytebot::app::Hooks,
    ) -> TestApp {
        Self::start_full(channels, |_| {}, adjust, hooks).await
    }

    /// Like [`TestApp::start_with_hooks`], with the simulator's settings adjusted too.
    pub(crate) async fn start_full(
        channels: &[String],
        adjust_sim: impl FnOnce(&mut SimulatorConfig),
        adjust: impl FnOnce(&mut RuntimeArgs),
        hooks: bytebot::app::Hooks,
    ) -> TestApp {
        bytebot::telemetry::init_tracing(LogFormat::Human);
        let db = test_db().await;
        let mut sim_config = sim_config(channels);
        adjust_sim(&mut sim_config);
        let sim = simulator::start(sim_config)
            .await
            .expect("simulator starts");
        let mut args = runtime_args(&db.url, sim.local_addr(), channels);
        adjust(&mut args);
        let app = App::start(&args, hooks).await.expect("app starts");
        if !channels.is_empty() {
            sim.wait_for_joins(channels, Duration::from_secs(20))
                .await
                .expect("all channels joined");
        }
        TestApp {
            db,
            sim,
            app,
            http: reqwest::Client::new(),
        }
    }

    /// `http://addr` of the API.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.app.http_addr(), path)
    }

    /// An authenticated request builder.
    pub(crate) fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// Chat rows stored for `channel` (or all).
    pub(crate) async fn chat_count(&self, channel: Option<&str>) -> i64 {
        let channel = channel.map(byte_actors::model::ChannelLogin::from_twitch);
        bytebot::store::count_chat(&self.db.pool, channel.as_ref())
            .await
            .unwrap() as i64
    }

    /// An authenticated GET whose body is JSON.
    pub(crate) async fn get_json(&self, path: &str) -> serde_json::Value {
        self.api(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The Prometheus exposition the runtime serves at `/metrics`.
    pub(crate) async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops everything in order.
    pub(crate) async fn stop(self) {
        drop(self.stop_keeping_db().await);
    }

    /// Stops everything in order but hands the database back, for checks after shutdown
    /// (dropping the `TestDb` starts dropping the database in the background).
    pub(crate) async fn stop_keeping_db(self) -> TestDb {
        let failure = self.app.shutdown(false).await;
        assert_eq!(failure, None, "runtime stopped cleanly");
        self.sim.shutdown().await;
        self.db
    }
}

/// Polls `check` until it returns `Some`, failing the test after `timeout`.
/// Sum of the series of `name` in a Prometheus exposition whose labels include all of
/// `labels` (key, value).
pub(crate) fn metric(render: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    render
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

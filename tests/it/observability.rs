//! Observability, proven against a real Prometheus (Debian's `prometheus` and `promtool`,
//! installed by `scripts/setup.sh`): the runtime fed by the simulator is scraped every
//! second, every Grafana panel query (template variables substituted) must return data, every
//! alert expression must evaluate, and alerts fire when their condition is induced (Postgres
//! stopped, channels crash-looping into quarantine, IRC gone, the runtime stopped). Also:
//! `promtool check config/rules/metrics` and the rules' unit tests, and the consistency of
//! boards, runbooks and the compose file.
//!
//! The test Prometheus loads `prometheus/alerts.yml` with every `for` shortened to 2 s (the
//! expressions are unchanged), so an alert fires seconds after its condition holds.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytebot::app::App;
use bytebot::simulator::{self, Emission};
use serde_json::{Value, json};

use crate::common::workspace_dir;
use crate::support::{
    PrivatePg, TestApp, channel_names, eventually, runtime_args, scratch_dir, sim_config,
};

/// `$__rate_interval` in panel queries: what Grafana would pick for a short scrape interval,
/// long enough that events induced a few seconds before the check still count.
const RATE_INTERVAL: &str = "20s";

fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` not found: run scripts/setup.sh (Debian's prometheus package)")
    })
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(workspace_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

/// `prometheus/alerts.yml` with every `for` shortened, as JSON (which Prometheus reads as
/// YAML).
fn fast_rules() -> Value {
    let mut rules = yaml("prometheus/alerts.yml");
    for group in rules["groups"].as_array_mut().expect("groups") {
        for rule in group["rules"].as_array_mut().expect("rules") {
            if rule.get("for").is_some() {
                rule["for"] = json!("2s");
            }
        }
    }
    rules
}

/// A Prometheus of this test's own: config, storage and port; killed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// Scrapes `target` every second and evaluates the (shortened) alert rules every second.
    async fn start(target: SocketAddr) -> Prometheus {
        let dir = scratch_dir("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        let rules = dir.join("alerts.json");
        std::fs::write(&rules, fast_rules().to_string()).unwrap();
        let config = json!({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [rules],
            "scrape_configs": [{
                "job_name": "bytebot",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target.to_string()]}],
            }],
        });
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prom = Prometheus {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        eventually("prometheus ready", Duration::from_secs(20), || async {
            let r = prom.http.get(format!("{}/-/ready", prom.base)).send().await;
            r.ok()?.status().is_success().then_some(())
        })
        .await;
        prom
    }

    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .map_err(|e| e.to_string())?;
        let body: Value = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match body["status"].as_str() {
            Some("success") => Ok(body["data"].clone()),
            _ => Err(format!("{path} {params:?}: {body}")),
        }
    }

    /// The instant result of `expr`: (labels, value) per series.
    async fn query(&self, expr: &str) -> Result<Vec<(Value, f64)>, String> {
        let data = self.api("/api/v1/query", &[("query", expr)]).await?;
        let value = |v: &Value| v[1].as_str().and_then(|s| s.parse::<f64>().ok());
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| Some((s["metric"].clone(), value(&s["value"])?)))
                .collect()),
            Some("scalar") => Ok(value(&data["result"])
                .map(|v| vec![(json!({}), v)])
                .unwrap_or_default()),
            other => Err(format!("{expr}: unexpected result type {other:?}")),
        }
    }

    /// Names of the alerts in state `firing`.
    async fn firing(&self) -> BTreeSet<String> {
        let data = self.api("/api/v1/alerts", &[]).await.unwrap_or_default();
        data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
            .collect()
    }

    async fn wait_firing(&self, alert: &str, timeout: Duration) {
        eventually(&format!("alert {alert} firing"), timeout, || async {
            self.firing().await.contains(alert).then_some(())
        })
        .await;
    }

    /// Every loaded rule, once Prometheus has evaluated them all at least once.
    async fn rules(&self) -> Vec<Value> {
        eventually("rules evaluated", Duration::from_secs(10), || async {
            let data = self.api("/api/v1/rules", &[]).await.ok()?;
            let rules: Vec<Value> = data["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            let evaluated = rules.iter().all(|r| r["health"] != "unknown");
            (!rules.is_empty() && evaluated).then_some(rules)
        })
        .await
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("prometheus log (tail):\n{}", self.log_tail());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// (board, panel title, query) of every panel target, rows included.
fn panel_queries() -> Vec<(String, String, String)> {
    fn walk(board: &str, panels: &[Value], out: &mut Vec<(String, String, String)>) {
        for p in panels {
            walk(
                board,
                p["panels"].as_array().map_or(&[], Vec::as_slice),
                out,
            );
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap_or_default().to_owned();
                out.push((
                    board.to_owned(),
                    p["title"].as_str().unwrap_or("?").to_owned(),
                    expr,
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (name, board) in boards() {
        walk(&name, board["panels"].as_array().expect("panels"), &mut out);
    }
    out
}

fn boards() -> Vec<(String, Value)> {
    let dir = workspace_dir().join("grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let board: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), board)
        })
        .collect()
}

/// Substitutes Grafana's variables; longest names first (`$__rate_interval` before `$__range`).
fn substitute(expr: &str, channel: &str) -> String {
    let out = expr
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", "1s")
        .replace("$__range", "1m")
        .replace("${channel}", channel)
        .replace("$channel", channel);
    assert!(!out.contains('$'), "unsubstituted variable in {expr}");
    out
}

/// Panel queries that return no finite value now, with why.
async fn panels_without_data(prom: &Prometheus, channel: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for (board, title, expr) in panel_queries() {
        let expr = substitute(&expr, channel);
        match prom.query(&expr).await {
            Ok(series) if series.iter().any(|(_, v)| v.is_finite()) => {}
            Ok(series) => missing.push(format!("{board} / {title}: {expr} -> {series:?}")),
            Err(e) => missing.push(format!("{board} / {title}: {e}")),
        }
    }
    missing
}

async fn promtool_check_metrics(scrape: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(scrape.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Keeps every kind of event the boards show happening: chat and events, channel crashes
/// (restarts, restores), IRC reconnects (recoveries), API requests of several statuses.
async fn drive(t: &TestApp, channels: &[String]) {
    let mut round = 0u64;
    loop {
        for c in channels {
            let _ = t.sim.emit(Emission::mixed(c, 20)).await;
        }
        if round.is_multiple_of(10) {
            let victim = &channels[(round / 10) as usize % 2];
            t.app.runtime().crash_channel(victim, "observability test");
        }
        if round % 20 == 5 {
            t.sim.send_reconnect();
        }
        let _ = t.api(reqwest::Method::GET, "/api/v1/channels").send().await;
        let _ = t
            .api(reqwest::Method::GET, "/api/v1/channels/nobody_here")
            .send()
            .await;
        let _ = t.http.get(t.url("/api/v1/runtime")).send().await;
        let _ = t.http.get(t.url("/readyz")).send().await;
        // A viewer asks the bot (no model configured: the labelled fallback answers), so the
        // LLM and reply panels have data.
        let asker = format!("viewer{round}");
        t.sim.inject_raw(&crate::support::privmsg_line(
            &channels[2],
            &asker,
            &format!("obs-ask-{round}"),
            "!ask what is this stream about?",
        ));
        round += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_returns_data_and_every_alert_evaluates_on_a_live_runtime() {
    let channels = channel_names("obs", 4);
    let pinned = channels[3].clone();
    let t = TestApp::start_with(&channels, |a| {
        a.metrics_refresh_ms = 200;
        a.metrics_top_channels = 2;
        a.metrics_channels = vec![pinned.clone()];
        // Crashes every second must restart quickly and never quarantine.
        a.restart_max = 1000;
        a.restart_backoff_ms = 10;
        a.restart_backoff_max_ms = 50;
        a.bot_login = Some("bytebot".into());
        a.oauth_token = Some(bytebot::config::Secret::new("oauth-obs"));
        a.copilot.reply_debounce_ms = 20;
        a.copilot.reply_max_delay_ms = 50;
    })
    .await;
    let prom = Prometheus::start(t.app.http_addr()).await;

    let started = Instant::now();
    let (channel, missing) = tokio::select! {
        _ = drive(&t, &channels) => unreachable!("the driver loops until dropped"),
        checked = async {
            // Every panel, again and again, until all of them show data at once.
            let deadline = Instant::now() + Duration::from_secs(45);
            loop {
                let channel = prom
                    .api("/api/v1/label/channel/values", &[("match[]", "byte_channel_health_score")])
                    .await
                    .ok()
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .find(|c| *c == pinned);
                let missing = match &channel {
                    Some(c) => panels_without_data(&prom, c).await,
                    None => vec!["the allow-listed channel has no series yet".to_owned()],
                };
                if missing.is_empty() || Instant::now() > deadline {
                    break (channel, missing);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        } => checked,
    };
    assert!(
        missing.is_empty(),
        "panels without data after {:?}:\n{}",
        started.elapsed(),
        missing.join("\n")
    );
    let channel = channel.expect("allow-listed channel exported");
    eprintln!(
        "observability: {} panel queries returned data after {:?} (channel = {channel})",
        panel_queries().len(),
        started.elapsed()
    );

    // Bounded cardinality: the two most active plus the pinned channel, never all four.
    let per_channel = prom
        .query("count(byte_channel_health_score)")
        .await
        .unwrap();
    assert!(
        per_channel.iter().all(|(_, n)| *n <= 3.0),
        "{per_channel:?}"
    );

    // Every alert expression evaluates; the outage alerts are quiet on a healthy runtime.
    let rules = prom.rules().await;
    let declared = yaml("prometheus/alerts.yml")["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .count();
    assert_eq!(rules.len(), declared, "every rule loaded: {rules:?}");
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "rule failed to evaluate: {rule}");
        let expr = rule["query"].as_str().unwrap();
        prom.query(expr)
            .await
            .unwrap_or_else(|e| panic!("{} does not evaluate: {e}", rule["name"]));
    }
    let firing = prom.firing().await;
    for quiet in ["ByteDown", "ByteDatabaseUnreachable", "ByteSpillLogFailing"] {
        assert!(
            !firing.contains(quiet),
            "{quiet} fires on a healthy runtime"
        );
    }

    // The live scrape lints clean and carries every metric in the catalogue.
    let scrape = t.metrics_text().await;
    let lint = promtool_check_metrics(&scrape).await;
    assert!(lint.trim().is_empty(), "promtool check metrics: {lint}");
    for d in byte_actors::metrics::CATALOGUE {
        assert!(
            scrape.contains(&format!("# TYPE {} ", d.name)),
            "{} missing from /metrics",
            d.name
        );
    }

    // The runtime stops: Prometheus notices.
    t.stop().await;
    prom.wait_firing("ByteDown", Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_fire_when_postgres_stops_channels_crash_loop_and_irc_drops() {
    bytebot::telemetry::init_tracing(bytebot::config::LogFormat::Human);
    let (private, running) = PrivatePg::start("observability").await;
    let url = private.url.clone();

    let channels = channel_names("alerts", 5);
    let (looping, healthy) = channels.split_at(3);
    let sim = simulator::start(sim_config(&channels)).await.unwrap();
    let mut args = runtime_args(&url, sim.local_addr(), &channels);
    args.metrics_refresh_ms = 200;
    args.restart_max = 4;
    args.restart_backoff_ms = 10;
    args.restart_backoff_max_ms = 50;
    args.spill_after_ms = 300;
    let spill_dir = args.spill_dir();
    let app = App::start(&args, bytebot::app::Hooks::default())
        .await
        .unwrap();
    sim.wait_for_joins(&channels, Duration::from_secs(20))
        .await
        .unwrap();
    let prom = Prometheus::start(app.http_addr()).await;
    eventually("first scrape", Duration::from_secs(10), || async {
        let up = prom.query(r#"up{job="bytebot"}"#).await.ok()?;
        (up.first()?.1 == 1.0).then_some(())
    })
    .await;

    // Three channels crash-loop: 4 restarts each, then quarantine.
    for c in looping {
        app.runtime().faults().set_fail_on_start(c, true);
        assert!(app.runtime().crash_channel(c, "crash loop"));
    }
    prom.wait_firing("ByteChannelsQuarantined", Duration::from_secs(20))
        .await;
    prom.wait_firing("ByteRestartStorm", Duration::from_secs(20))
        .await;

    // Postgres stops under traffic: the probe fails and the backlog grows.
    running.stop().await.unwrap();
    {
        let outage = async {
            prom.wait_firing("ByteDatabaseUnreachable", Duration::from_secs(20))
                .await;
            prom.wait_firing("BytePersistenceBacklogGrowing", Duration::from_secs(30))
                .await;
        };
        let traffic = async {
            loop {
                for c in healthy {
                    let _ = sim.emit(Emission::chat(c, 50)).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            _ = outage => {}
            _ = traffic => unreachable!(),
        }
    }
    let firing = prom.firing().await;
    assert!(!firing.contains("ByteDown"), "{firing:?}");

    // IRC goes away.
    sim.shutdown().await;
    prom.wait_firing("ByteIrcDisconnected", Duration::from_secs(30))
        .await;

    // Postgres returns: the database alert resolves.
    let back = private.restart().await;
    eventually(
        "ByteDatabaseUnreachable resolved",
        Duration::from_secs(30),
        || async { (!prom.firing().await.contains("ByteDatabaseUnreachable")).then_some(()) },
    )
    .await;

    assert_eq!(app.shutdown(false).await, None);
    drop(prom);
    back.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&spill_dir);
}

fn promtool(args: &[&str]) {
    let out = Command::new(tool("promtool"))
        .args(args)
        .current_dir(workspace_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_configs_the_rules_and_the_rule_unit_tests() {
    promtool(&["check", "config", "prometheus.yml"]);
    promtool(&["check", "config", "prometheus/compose.yml"]);
    promtool(&["check", "rules", "prometheus/alerts.yml"]);
    promtool(&["test", "rules", "prometheus/alerts.test.yml"]);
}

/// GitHub's anchor for a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn alerts_have_runbooks_and_panels_say_what_good_and_bad_look_like() {
    let runbooks = read("docs/runbooks.md");
    let anchors: BTreeSet<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    let rules = yaml("prometheus/alerts.yml");
    let mut alerts = 0;
    for rule in rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
    {
        let Some(name) = rule["alert"].as_str() else {
            continue;
        };
        alerts += 1;
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description", "runbook_url"] {
            assert!(rule["annotations"][key].is_string(), "{name}: no {key}");
        }
        let url = rule["annotations"]["runbook_url"].as_str().unwrap();
        let (file, frag) = url.split_once('#').expect("runbook_url has an anchor");
        assert_eq!(file, "docs/runbooks.md", "{name}");
        assert_eq!(frag, name.to_lowercase(), "{name}: anchor");
        assert!(
            anchors.contains(frag),
            "{name}: no runbook heading for #{frag}"
        );
    }
    assert_eq!(alerts, 13);

    let datasources = yaml("grafana/provisioning/datasources/prometheus.yml");
    let uid = datasources["datasources"][0]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut panels = 0;
    for (name, board) in boards() {
        assert!(
            board["uid"].is_string() && board["description"].is_string(),
            "{name}"
        );
        for p in board["panels"].as_array().unwrap() {
            if p["type"] == "row" {
                continue;
            }
            panels += 1;
            let title = p["title"].as_str().unwrap();
            let desc = p["description"].as_str().unwrap_or_default();
            assert!(
                desc.contains("Good") && desc.contains("Bad"),
                "{name} / {title}: the description must say what good and bad look like"
            );
            assert_eq!(p["datasource"]["uid"], uid.as_str(), "{name} / {title}");
            assert!(
                !p["targets"].as_array().unwrap().is_empty(),
                "{name} / {title}"
            );
        }
    }
    assert!(panels >= 40, "{panels} panels");
}

#[test]
fn the_compose_stack_mounts_files_that_exist_and_wires_its_services() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_object().expect("services");
    for s in ["postgres", "bytebot", "prometheus", "grafana"] {
        assert!(services.contains_key(s), "service {s}");
    }
    assert_eq!(services["postgres"]["image"], "pgvector/pgvector:pg16");
    assert_eq!(services["bytebot"]["build"], ".");
    let env = &services["bytebot"]["environment"];
    assert!(
        env["DATABASE_URL"]
            .as_str()
            .unwrap()
            .contains("@postgres:5432/"),
        "{env}"
    );
    // Bind mounts point at files in this repository.
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let volume = volume.as_str().unwrap();
            if let Some(rel) = volume.strip_prefix("./") {
                let host = rel.split(':').next().unwrap();
                assert!(
                    workspace_dir().join(host).exists(),
                    "{name}: {volume} mounts a missing path"
                );
            }
        }
    }
    // Prometheus in the stack scrapes the runtime by its service name; Grafana's datasource
    // points at Prometheus by its service name, and the provider path is where the boards are
    // mounted.
    let prom = yaml("prometheus/compose.yml");
    assert_eq!(
        prom["scrape_configs"][0]["static_configs"][0]["targets"][0],
        "bytebot:8080"
    );
    let ds = yaml("grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(ds["datasources"][0]["url"], "http://prometheus:9090");
    let provider = yaml("grafana/provisioning/dashboards/bytebot.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let grafana_volumes: Vec<&str> = services["grafana"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        grafana_volumes
            .iter()
            .any(|v| v.starts_with("./grafana/dashboards:") && v.contains(path)),
        "{grafana_volumes:?} vs {path}"
    );
    // The image builds with the toolchain the workspace asks for.
    let cargo: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let rust = cargo["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    assert!(
        read("Dockerfile").contains(&format!("FROM rust:{rust}-")),
        "Dockerfile's Rust image must match rust-version {rust}"
    );
}

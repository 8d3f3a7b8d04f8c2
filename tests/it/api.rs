//! The HTTP API over a real socket: auth, validation errors in the one error shape,
//! join/part/list/inspect, security headers, probes and metrics.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, channel_names, eventually};

async fn error_of(r: reqwest::Response) -> (StatusCode, String, String) {
    let status = r.status();
    let body: Value = r.json().await.expect("error body is JSON");
    let e = &body["error"];
    assert!(
        e.get("details").is_some(),
        "error shape has details: {body}"
    );
    (
        status,
        e["code"].as_str().unwrap().to_owned(),
        e["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_requires_the_admin_bearer_token() {
    let t = TestApp::start(&[]).await;
    let none = t.http.get(t.url("/api/v1/channels")).send().await.unwrap();
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"bytebot\""
    );
    assert_eq!(error_of(none).await.0, StatusCode::UNAUTHORIZED);
    let wrong = t
        .http
        .get(t.url("/api/v1/channels"))
        .bearer_auth("x".repeat(27))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let almost = t
        .http
        .post(t.url("/api/v1/channels"))
        .bearer_auth(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])
        .json(&json!({"login": "sneaky_join"}))
        .send()
        .await
        .unwrap();
    assert_eq!(almost.status(), StatusCode::UNAUTHORIZED);
    let basic = t
        .http
        .get(t.url("/api/v1/channels"))
        .basic_auth("admin", Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let ok = t.api(Method::GET, "/api/v1/channels").send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM channels")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "unauthenticated join changed nothing");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_list_inspect_and_part_a_channel() {
    let t = TestApp::start(&[]).await;
    let r = t
        .api(Method::POST, "/api/v1/channels")
        .json(&json!({"login": "fresh_channel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["outcome"], "joined");
    assert_eq!(body["channel"]["status"], "running");
    let again = t
        .api(Method::POST, "/api/v1/channels")
        .json(&json!({"login": "fresh_channel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        again.json::<Value>().await.unwrap()["outcome"],
        "already_joined"
    );

    // The simulator sees the JOIN, and chat sent there is counted for the channel.
    t.sim
        .wait_for_joins(&["fresh_channel"], std::time::Duration::from_secs(10))
        .await
        .unwrap();
    t.sim
        .emit(bytebot::simulator::Emission::chat("fresh_channel", 7))
        .await
        .unwrap();
    let seen = eventually(
        "chat counted",
        std::time::Duration::from_secs(10),
        || async {
            let s: Value = t.get_json("/api/v1/channels/fresh_channel").await;
            (s["messages_seen"] == 7).then_some(s)
        },
    )
    .await;
    assert_eq!(seen["login"], "fresh_channel");

    let list: Value = t.get_json("/api/v1/channels").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["channels"][0]["login"], "fresh_channel");
    let ctx: Value = t.get_json("/api/v1/channels/fresh_channel/context").await;
    assert_eq!(ctx["context"]["messages"], 7);
    let active: bool =
        sqlx::query_scalar("SELECT active FROM channels WHERE login = 'fresh_channel'")
            .fetch_one(&t.db.pool)
            .await
            .unwrap();
    assert!(active, "the join is saved for the next boot");

    let del = t
        .api(Method::DELETE, "/api/v1/channels/fresh_channel")
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let (status, code, _) = error_of(
        t.api(Method::DELETE, "/api/v1/channels/fresh_channel")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, _, msg) = error_of(
        t.api(Method::GET, "/api/v1/channels/fresh_channel")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(msg.contains("not joined"), "{msg}");
    let active: bool =
        sqlx::query_scalar("SELECT active FROM channels WHERE login = 'fresh_channel'")
            .fetch_one(&t.db.pool)
            .await
            .unwrap();
    assert!(!active);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_400_and_changes_nothing() {
    let t = TestApp::start(&[]).await;
    let cases: Vec<(reqwest::RequestBuilder, &str, &str)> = vec![
        (
            t.api(Method::POST, "/api/v1/channels")
                .json(&json!({"login": "abc"})),
            "invalid_login",
            "4 to 25",
        ),
        (
            t.api(Method::POST, "/api/v1/channels")
                .json(&json!({"login": "Forsen"})),
            "invalid_login",
            "a-z",
        ),
        (
            t.api(Method::POST, "/api/v1/channels")
                .json(&json!({"login": "bad-name"})),
            "invalid_login",
            "'-'",
        ),
        (
            t.api(Method::POST, "/api/v1/channels")
                .json(&json!({"login": 5})),
            "invalid_body",
            "login",
        ),
        (
            t.api(Method::POST, "/api/v1/channels").json(&json!({})),
            "invalid_body",
            "login",
        ),
        (
            t.api(Method::POST, "/api/v1/channels")
                .json(&json!({"login": "okay_name", "x": 1})),
            "invalid_body",
            "unknown field",
        ),
        (
            t.api(Method::POST, "/api/v1/channels")
                .header("content-type", "application/json")
                .body("{\"login\":"),
            "invalid_json",
            "",
        ),
        (
            t.api(Method::POST, "/api/v1/channels")
                .body("login=okay_name"),
            "unsupported_media_type",
            "Content-Type",
        ),
        (
            t.api(Method::GET, "/api/v1/channels/NOT%20VALID"),
            "invalid_login",
            "not a valid Twitch login",
        ),
        (
            t.api(Method::DELETE, "/api/v1/channels/x"),
            "invalid_login",
            "4 to 25",
        ),
    ];
    for (req, want_code, want_text) in cases {
        let (status, code, message) = error_of(req.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{code}: {message}");
        assert_eq!(code, want_code, "{message}");
        assert!(
            message.contains(want_text),
            "{message:?} should mention {want_text:?}"
        );
    }
    let (status, code, _) =
        error_of(t.api(Method::GET, "/api/v1/nope").send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, _, msg) = error_of(
        t.api(Method::POST, "/api/v1/channels/never_joined/retry")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{msg}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM channels")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_metrics_and_security_headers() {
    let channels = channel_names("probe", 2);
    let t = TestApp::start(&channels).await;
    let health = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = eventually("ready", std::time::Duration::from_secs(10), || async {
        let r = t.http.get(t.url("/readyz")).send().await.unwrap();
        (r.status() == StatusCode::OK).then_some(r)
    })
    .await;
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database_up"], true);
    assert_eq!(body["irc"]["connected"], true);
    assert_eq!(body["channels"], 2);

    let page = t.http.get(t.url("/")).send().await.unwrap();
    let h = page.headers().clone();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    // The dashboard loads its code from our own origin only (the CSP forbids the rest).
    let html = page.text().await.unwrap();
    assert!(html.contains("src=\"/app.js\""), "{html}");
    assert!(!html.contains("<script>"), "no inline script");

    t.sim
        .emit(bytebot::simulator::Emission::chat("probe_00", 3))
        .await
        .unwrap();
    eventually(
        "rows written",
        std::time::Duration::from_secs(10),
        || async { (t.chat_count(None).await == 3).then_some(()) },
    )
    .await;
    let _ = t.api(Method::GET, "/api/v1/channels").send().await.unwrap();
    let metrics = t.metrics_text().await;
    for name in [
        "byte_ingest_messages_total{kind=\"privmsg\"}",
        "byte_persistence_rows_written_total{table=\"chat\"}",
        "byte_persistence_flush_duration_seconds_bucket",
        "byte_channels{status=\"running\"} 2",
        "byte_http_requests_total{route=\"/api/v1/channels\",method=\"GET\",status=\"200\"}",
    ] {
        assert!(metrics.contains(name), "/metrics has {name}");
    }
    assert!(!metrics.contains(ADMIN_TOKEN), "no secret in metrics");
    // Only the bounded per-channel gauges may name a channel; fleet metrics never do.
    for line in metrics.lines().filter(|l| l.contains("probe_00")) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let def = byte_actors::metrics::lookup(name);
        assert!(
            def.is_some_and(|d| d.scope == byte_actors::metrics::Scope::Channel),
            "no channel label on fleet metrics: {line}"
        );
    }
    t.stop().await;
}

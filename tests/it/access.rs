//! Access control over a real socket: per-channel tokens minted through the API, the
//! authorization matrix (every route against every caller that must be refused), what each
//! role may do on its own channel, revocation, and the failed-authentication limit.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, channel_names, mint_with_id, request};

struct Tokens {
    streamer_a: String,
    moderator_a: String,
    overlay_a: String,
    moderator_a_id: String,
    streamer_b: String,
}

async fn setup(t: &TestApp, a: &str, b: &str) -> Tokens {
    let (streamer_a, _) = mint_with_id(t, ADMIN_TOKEN, a, "streamer").await;
    // The streamer hands out the narrower tokens for its own channel.
    let (moderator_a, moderator_a_id) = mint_with_id(t, &streamer_a, a, "moderator").await;
    let (overlay_a, _) = mint_with_id(t, &streamer_a, a, "overlay").await;
    let (streamer_b, _) = mint_with_id(t, ADMIN_TOKEN, b, "streamer").await;
    Tokens {
        streamer_a,
        moderator_a,
        overlay_a,
        moderator_a_id,
        streamer_b,
    }
}

/// Every API route, on channel `a`; the bool says whether only the admin may use it.
fn routes(a: &str, some_token_id: &str) -> Vec<(Method, String, Option<Value>, Kind)> {
    let c = |p: &str| format!("/api/v1/channels/{a}{p}");
    vec![
        (Method::GET, "/api/v1/channels".into(), None, Kind::List),
        (
            Method::POST,
            "/api/v1/channels".into(),
            Some(json!({"login": "newchannel"})),
            Kind::Admin,
        ),
        (Method::GET, "/api/v1/runtime".into(), None, Kind::Admin),
        (Method::GET, c(""), None, Kind::Read),
        (Method::GET, c("/context"), None, Kind::Read),
        (Method::GET, c("/history"), None, Kind::Read),
        (Method::GET, c("/sessions"), None, Kind::Read),
        (Method::GET, c("/hints"), None, Kind::Read),
        (Method::GET, c("/clips"), None, Kind::Read),
        (
            Method::POST,
            c("/session"),
            Some(json!({"action": "start"})),
            Kind::Control,
        ),
        (Method::POST, c("/retry"), None, Kind::Manage),
        (Method::DELETE, c(""), None, Kind::Manage),
        (Method::GET, c("/tokens"), None, Kind::Tokens),
        (
            Method::POST,
            c("/tokens"),
            Some(json!({"role": "overlay"})),
            Kind::Tokens,
        ),
        (
            Method::DELETE,
            c(&format!("/tokens/{some_token_id}")),
            None,
            Kind::Tokens,
        ),
        (Method::GET, "/api/v1/fleet".into(), None, Kind::List),
        (Method::GET, "/api/v1/agent".into(), None, Kind::Admin),
        (
            Method::POST,
            "/api/v1/agent/suspend-all".into(),
            None,
            Kind::Admin,
        ),
        (
            Method::POST,
            "/api/v1/agent/resume-all".into(),
            None,
            Kind::Admin,
        ),
        (Method::GET, c("/agent"), None, Kind::Read),
        // Notes are the streamer's: a moderator's PUT with notes is refused.
        (
            Method::PUT,
            c("/agent"),
            Some(json!({"notes": "from a stranger"})),
            Kind::Manage,
        ),
        (Method::GET, c("/stream"), None, Kind::Hud),
        // Autonomy: moderators read and decide queued actions; goals and policy are the
        // streamer's.
        (Method::GET, c("/actions"), None, Kind::Read),
        (Method::POST, c("/actions/1/approve"), None, Kind::Control),
        (Method::POST, c("/actions/1/reject"), None, Kind::Control),
        (Method::GET, c("/goals"), None, Kind::Read),
        (
            Method::PUT,
            c("/goals"),
            Some(json!({"subs": {"target": 3}})),
            Kind::Manage,
        ),
        (Method::GET, c("/autonomy"), None, Kind::Read),
        (
            Method::PUT,
            c("/autonomy"),
            Some(json!({"enabled": true})),
            Kind::Manage,
        ),
        (Method::POST, c("/autonomy/tick"), None, Kind::Control),
        (Method::GET, "/api/v1/playbooks".into(), None, Kind::List),
        (
            Method::POST,
            c("/playbooks/dead_chat/run"),
            None,
            Kind::Control,
        ),
        (Method::GET, c("/playbooks/runs"), None, Kind::Read),
        // The prompt studio: moderators read and preview; only the streamer saves.
        (Method::GET, c("/prompt-profile"), None, Kind::Read),
        (
            Method::PUT,
            c("/prompt-profile"),
            Some(json!({"persona": {"name": "Intruder"}})),
            Kind::Manage,
        ),
        (Method::GET, c("/prompt-profile/versions"), None, Kind::Read),
        (
            Method::POST,
            c("/prompt-profile/rollback"),
            Some(json!({"version": 1})),
            Kind::Manage,
        ),
        (
            Method::POST,
            c("/prompt-profile/preview"),
            Some(json!({"message": "hi"})),
            Kind::Read,
        ),
        // Post-stream reports: read by both roles, generated by those who run sessions.
        (Method::GET, c("/reports"), None, Kind::Read),
        (Method::POST, c("/reports"), Some(json!({})), Kind::Control),
        (Method::GET, c("/reports/1"), None, Kind::Read),
        (Method::GET, c("/reports/1/markdown"), None, Kind::Read),
        // Model names only: any streamer or moderator may read it, overlays may not.
        (
            Method::GET,
            "/api/v1/models/catalog".into(),
            None,
            Kind::List,
        ),
        // Chat replies and models: read by both roles; a channel's models are the
        // streamer's choice; budgets spend the operator's money, so only the admin sets them.
        (Method::GET, c("/replies"), None, Kind::Read),
        (Method::GET, "/api/v1/budgets".into(), None, Kind::Admin),
        (Method::GET, c("/budget"), None, Kind::Read),
        (
            Method::PUT,
            c("/budget"),
            Some(json!({"daily_tokens": 1})),
            Kind::Admin,
        ),
        (Method::GET, c("/models"), None, Kind::Read),
        (
            Method::PUT,
            c("/models"),
            Some(json!({"chat_reply": null})),
            Kind::Manage,
        ),
        // Semantic memory: both roles read and search; both curate (moderators keep a
        // channel's facts and rules as they keep its chat); overlays reach none of it.
        (Method::GET, c("/memory"), None, Kind::Read),
        (Method::GET, c("/memory/search"), None, Kind::Read),
        (
            Method::PUT,
            c("/memory"),
            Some(json!({"kind": "note", "text": "from a stranger"})),
            Kind::Control,
        ),
        (Method::DELETE, c("/memory/1"), None, Kind::Control),
    ]
}

/// The operations of the OpenAPI document, as `METHOD /path` with `{login}` filled in.
async fn documented(t: &TestApp, a: &str) -> BTreeSet<String> {
    let doc: Value = t
        .http
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert(format!(
                "{} {}",
                method.to_uppercase(),
                path.replace("{login}", a)
                    .replace("{token_id}", "*")
                    .replace("/reports/{id}", "/reports/1")
                    .replace("/actions/{id}/", "/actions/1/")
                    .replace("/playbooks/{name}/run", "/playbooks/dead_chat/run")
                    .replace("/memory/{id}", "/memory/1")
            ));
        }
    }
    ops
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    List,
    Admin,
    Read,
    Control,
    Manage,
    Tokens,
    Hud,
}

/// A refusal: the right status, the API's error shape, and nothing of the channel's data.
fn assert_refused(status: StatusCode, body: &Value, allowed: &[StatusCode], cell: &str, a: &str) {
    assert!(
        allowed.contains(&status),
        "{cell}: got {status}, body {body}"
    );
    assert!(
        body["error"]["code"].is_string(),
        "{cell}: error shape: {body}"
    );
    let text = body.to_string();
    for leak in ["messages_seen", "\"fold\"", "\"token\":", "secret"] {
        assert!(!text.contains(leak), "{cell}: leaks {leak}: {text}");
    }
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("byte_"),
        "{cell}: a token in an error message"
    );
    let _ = a;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_matrix_refuses_every_wrong_caller() {
    let channels = channel_names("acl", 2);
    let (a, b) = (channels[0].as_str(), channels[1].as_str());
    let t = TestApp::start(&channels).await;
    let tok = setup(&t, a, b).await;
    let bad = "byte_0123456789abcdef_".to_owned() + &"0".repeat(64);
    let mut cells = 0;

    // The matrix covers every documented operation, so a new route cannot skip it.
    let listed: BTreeSet<String> = routes(a, "*")
        .iter()
        .map(|(m, p, _, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        listed,
        documented(&t, a).await,
        "matrix routes vs the OpenAPI document"
    );

    for (method, path, body, kind) in routes(a, &tok.moderator_a_id) {
        let try_cell = |who: &'static str,
                        token: Option<String>,
                        allowed: &'static [StatusCode]| {
            let (method, path, body) = (method.clone(), path.clone(), body.clone());
            let t = &t;
            async move {
                let (status, got) = request(t, token.as_deref(), method.clone(), &path, body).await;
                assert_refused(status, &got, allowed, &format!("{who} {method} {path}"), a);
            }
        };
        const UNAUTH: &[StatusCode] = &[StatusCode::UNAUTHORIZED];
        const DENIED: &[StatusCode] = &[StatusCode::FORBIDDEN, StatusCode::NOT_FOUND];
        try_cell("no token", None, UNAUTH).await;
        try_cell("malformed token", Some("hunter2".into()), UNAUTH).await;
        try_cell("unknown token", Some(bad.clone()), UNAUTH).await;
        cells += 3;
        if kind != Kind::List {
            // Another channel's streamer: on A's routes it must learn nothing, not even
            // that A exists (404), and on admin routes it is forbidden.
            try_cell("streamer of B", Some(tok.streamer_b.clone()), DENIED).await;
            cells += 1;
        }
        if matches!(kind, Kind::Manage | Kind::Tokens | Kind::Admin) {
            try_cell(
                "moderator of A",
                Some(tok.moderator_a.clone()),
                &[StatusCode::FORBIDDEN],
            )
            .await;
            cells += 1;
        }
        if kind != Kind::Hud {
            // The overlay reads the HUD stream and nothing else.
            try_cell(
                "overlay of A",
                Some(tok.overlay_a.clone()),
                &[StatusCode::FORBIDDEN],
            )
            .await;
            cells += 1;
        }
        if kind == Kind::Admin {
            try_cell(
                "streamer of A",
                Some(tok.streamer_a.clone()),
                &[StatusCode::FORBIDDEN],
            )
            .await;
            cells += 1;
        }
    }
    eprintln!("authorization matrix: {cells} refused cells checked");
    assert!(cells >= 70, "{cells}");

    // The other channel's data is still there for its owner.
    let (status, own) = request(
        &t,
        Some(&tok.streamer_b),
        Method::GET,
        &format!("/api/v1/channels/{b}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{own}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_what_it_may_on_its_own_channel() {
    let channels = channel_names("roles", 2);
    let (a, b) = (channels[0].as_str(), channels[1].as_str());
    let t = TestApp::start(&channels).await;
    let tok = setup(&t, a, b).await;

    // The streamer's list holds its channel only; the admin's holds both.
    let (_, list) = request(
        &t,
        Some(&tok.streamer_a),
        Method::GET,
        "/api/v1/channels",
        None,
    )
    .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["channels"][0]["login"], a);
    let (_, all) = request(&t, Some(ADMIN_TOKEN), Method::GET, "/api/v1/channels", None).await;
    assert_eq!(all["total"], 2);

    let (status, ctx) = request(
        &t,
        Some(&tok.moderator_a),
        Method::GET,
        &format!("/api/v1/channels/{a}/context"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ctx}");
    assert_eq!(ctx["login"], a);
    let (status, session) = request(
        &t,
        Some(&tok.moderator_a),
        Method::POST,
        &format!("/api/v1/channels/{a}/session"),
        Some(json!({"action": "start"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "moderators run sessions: {session}");

    // A streamer may not mint a streamer token, even for its own channel.
    let (status, body) = request(
        &t,
        Some(&tok.streamer_a),
        Method::POST,
        &format!("/api/v1/channels/{a}/tokens"),
        Some(json!({"role": "streamer"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Bad input is a 400 that says what to fix.
    let (status, body) = request(
        &t,
        Some(&tok.streamer_a),
        Method::POST,
        &format!("/api/v1/channels/{a}/tokens"),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("role"),
        "{body}"
    );

    // Listing shows records, never secrets.
    let (status, list) = request(
        &t,
        Some(&tok.streamer_a),
        Method::GET,
        &format!("/api/v1/channels/{a}/tokens"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert!(
        !list.to_string().contains(&tok.moderator_a[20..]),
        "no secret in the list"
    );

    // Revoked: the moderator is out at once.
    let (status, revoked) = request(
        &t,
        Some(&tok.streamer_a),
        Method::DELETE,
        &format!("/api/v1/channels/{a}/tokens/{}", tok.moderator_a_id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, _) = request(
        &t,
        Some(&tok.moderator_a),
        Method::GET,
        &format!("/api/v1/channels/{a}/context"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Tokens never reach the metrics.
    let metrics = t
        .api(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains(&tok.streamer_a[20..]));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_authentication_is_refused_for_the_minute() {
    let channels = channel_names("guess", 1);
    let t = TestApp::start_with(&channels, |a| a.auth_failures_per_minute = 5).await;
    let guess = |i: u32| format!("byte_{:016x}_{}", i, "a".repeat(64));
    for i in 0..5 {
        let (status, _) = request(&t, Some(&guess(i)), Method::GET, "/api/v1/channels", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Now refused before the token is even looked at — the admin's too, from this address.
    for token in [guess(99), ADMIN_TOKEN.to_owned()] {
        let resp = t
            .http
            .get(t.url("/api/v1/channels"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(resp.headers().contains_key("retry-after"));
    }
    t.stop().await;
}

//! Post-stream reports end to end: a session driven by the simulator and stopped through the
//! API produces a stored report whose figures match what was sent, with the narrative written
//! by the (fake, real-HTTP) model and the figures handed to it as delimited data; the Markdown
//! downloads as an attachment; on-demand generation works for the latest or a named session;
//! and when the endpoint times out the report still comes, its narrative clearly labelled as
//! the rule-based fallback.

use std::time::Duration;

use bytebot::simulator::{Emission, EventKind as SimEvent, MessageKind};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::llm::{FakeLlm, Reply};
use crate::support::{TestApp, channel_names, eventually, metric};

/// Sends 40 chat lines, 2 subs and 2 raids; waits until the channel's session holds them,
/// then stops the session through the API and returns what the stop answered.
async fn drive_and_stop(t: &TestApp, chan: &str) -> Value {
    t.sim.emit(Emission::chat(chan, 40)).await.unwrap();
    t.sim
        .emit(Emission::cycle(
            chan,
            4,
            vec![
                MessageKind::Event(SimEvent::Sub),
                MessageKind::Event(SimEvent::Raid),
            ],
        ))
        .await
        .unwrap();
    let base = format!("/api/v1/channels/{chan}");
    eventually(
        "the session holds what was sent",
        Duration::from_secs(20),
        || async {
            let ctx = t.get_json(&format!("{base}/context")).await;
            let k = &ctx["live"]["session"]["kpis"];
            (k["messages"] == 40 && k["subs"] == 2 && k["raids"] == 2).then_some(())
        },
    )
    .await;
    let stopped: Value = t
        .api(Method::POST, &format!("{base}/session"))
        .json(&json!({"action": "stop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["end_reason"], "stopped", "{stopped}");
    stopped
}

/// The first report of the channel, once there is one.
async fn first_report(t: &TestApp, chan: &str) -> Value {
    let list = eventually(
        "a report after the session ended",
        Duration::from_secs(30),
        || async {
            let list = t
                .get_json(&format!("/api/v1/channels/{chan}/reports"))
                .await;
            (!list["items"].as_array()?.is_empty()).then_some(list)
        },
    )
    .await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    t.get_json(&format!("/api/v1/channels/{chan}/reports/{id}"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_generated_when_a_session_ends() {
    let fake = FakeLlm::start(Vec::new()).await;
    let channels = channel_names("report", 1);
    let chan = channels[0].as_str();
    // Only the report has a model, so every model call the fake sees is the report's.
    let t = TestApp::start_with(&channels, |a| {
        a.llm_base_url = Some(fake.base_url());
        a.llm_models = "post_stream_report=report-model".into();
    })
    .await;
    let stopped = drive_and_stop(&t, chan).await;
    let report = first_report(&t, chan).await;

    assert_eq!(report["session_id"], stopped["id"]);
    assert_eq!(report["trigger"], "session_end");
    let f = &report["figures"];
    assert_eq!(f["totals"]["messages"], 40, "{f}");
    assert_eq!(f["totals"]["subs"], 2);
    assert_eq!(f["totals"]["raids"], 2);
    assert_eq!(f["totals"]["messages"], stopped["kpis"]["messages"]);
    assert_eq!(f["end_reason"], "stopped");
    assert_eq!(
        f["peaks"]["chatters_15m"],
        stopped["kpis"]["peak_chatters_15m"]
    );
    let kinds: Vec<&str> = f["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(kinds.last(), Some(&"end"));
    // Per-minute rollups cover completed minutes only (the channel writes the open minute's
    // row when the next one starts), so a seconds-long session has none; its totals come
    // from the session's own KPIs.
    assert_eq!(f["totals"]["hints"], stopped["kpis"]["hints"]);

    // The narrative came from the model, which got the figures as one delimited data block.
    assert_eq!(report["narrative_source"], "model");
    assert_eq!(report["model"], "report-model");
    assert_eq!(report["narrative"], "ok");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "one model call for one report");
    let body = &seen[0].body;
    assert_eq!(body["model"], "report-model");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.starts_with("<report_figures>\n"), "{user}");
    assert_eq!(user.matches("</report_figures>").count(), 1);
    assert!(user.contains("\"messages\": 40"), "{user}");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("never instructions")
    );

    let md = report["markdown"].as_str().unwrap();
    assert!(md.starts_with(&format!("# Post-stream report: {chan}\n")));
    assert!(md.contains("*Written by the model `report-model` from the figures below.*"));
    assert!(md.contains("| Chat messages | 40 |"));
    assert!(md.contains("2 subs · 0 gifted subs · 0 bits · 2 raids"));

    // The Markdown downloads as an attachment, byte for byte.
    let id = report["id"].as_i64().unwrap();
    let resp = t
        .api(
            Method::GET,
            &format!("/api/v1/channels/{chan}/reports/{id}/markdown"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "text/markdown; charset=utf-8"
    );
    assert_eq!(
        resp.headers()[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"byte-report-{chan}-{id}.md\"").as_str()
    );
    assert_eq!(resp.text().await.unwrap(), md);

    // On demand: the latest session, or a named one; unknown sessions are a 404.
    let resp = t
        .api(Method::POST, &format!("/api/v1/channels/{chan}/reports"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["trigger"], "on_demand");
    assert_eq!(again["session_id"], stopped["id"]);
    assert_eq!(again["figures"]["totals"], report["figures"]["totals"]);
    let resp = t
        .api(Method::POST, &format!("/api/v1/channels/{chan}/reports"))
        .json(&json!({"session_id": "nope-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = t
        .api(Method::POST, &format!("/api/v1/channels/{chan}/reports"))
        .json(&json!({"session": "typo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    for bad in [
        "reports/0",
        "reports/999999",
        "reports/abc",
        "reports/999999/markdown",
    ] {
        let resp = t
            .api(
                Method::GET,
                &format!("/api/v1/channels/{chan}/reports/{}", &bad[8..]),
            )
            .send()
            .await
            .unwrap();
        assert!(
            matches!(
                resp.status(),
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST
            ),
            "{bad}: {}",
            resp.status()
        );
    }
    let list = t
        .get_json(&format!("/api/v1/channels/{chan}/reports?limit=1"))
        .await;
    assert_eq!(list["items"][0]["trigger"], "on_demand");
    assert_eq!(list["next_before"], list["items"][0]["id"]);

    let metrics = t.metrics_text().await;
    assert!(
        metric(
            &metrics,
            "byte_copilot_reports_total",
            &[("trigger", "session_end"), ("outcome", "model")]
        ) >= 1.0,
        "session-end reports counted"
    );
    assert!(metrics.contains("byte_copilot_report_duration_seconds_count"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_model_gives_a_labelled_fallback_narrative() {
    // Every answer is later than the per-attempt timeout.
    let fake = FakeLlm::start(vec![Reply::Slow(Duration::from_secs(5)); 20]).await;
    let channels = channel_names("reportfb", 1);
    let chan = channels[0].as_str();
    let t = TestApp::start_with(&channels, |a| {
        a.llm_base_url = Some(fake.base_url());
        a.llm_models = "post_stream_report=report-model".into();
        a.llm_timeout_ms = 200;
    })
    .await;
    let stopped = drive_and_stop(&t, chan).await;
    let report = first_report(&t, chan).await;
    assert_eq!(report["session_id"], stopped["id"]);
    assert_eq!(report["narrative_source"], "fallback");
    assert_eq!(report["model"], "rule-based");
    assert!(
        report["narrative"]
            .as_str()
            .unwrap()
            .starts_with("[rule-based]"),
        "{report}"
    );
    let md = report["markdown"].as_str().unwrap();
    assert!(md.contains("*No language model was available: no narrative."));
    assert!(!md.contains("Written by the model"));
    // The figures do not depend on the model.
    assert_eq!(report["figures"]["totals"]["messages"], 40);
    assert!(!fake.seen().is_empty(), "the model was tried");
    t.stop().await;
}

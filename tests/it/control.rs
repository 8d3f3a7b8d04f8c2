//! The control plane and the live views over a real socket: agent settings (who may change
//! what, validation, persistence across a restart, applied live in the actor), the fleet
//! switch, the fleet comparison view, and the HUD's Server-Sent Events stream.

use std::time::Duration;

use bytebot::app::{App, Hooks};
use bytebot::simulator::{Emission, EventKind as SimEvent, MessageKind};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, TestApp, call, channel_names, eventually, mint, runtime_args};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_settings_are_checked_persisted_and_applied_live() {
    let channels = channel_names("ctl", 1);
    let chan = channels[0].as_str();
    let t = TestApp::start(&channels).await;
    let streamer = mint(&t, ADMIN_TOKEN, chan, "streamer").await;
    let moderator = mint(&t, &streamer, chan, "moderator").await;
    let path = format!("/api/v1/channels/{chan}/agent");

    let (status, v) = call(
        &t,
        &moderator,
        Method::PUT,
        &path,
        Some(json!({"paused": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "moderators may pause: {v}");
    assert_eq!(v["paused"], true);
    let (status, v) = call(
        &t,
        &moderator,
        Method::PUT,
        &path,
        Some(json!({"notes": "hi"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "notes are the streamer's: {v}"
    );
    for (body, needle) in [
        (json!({"temperature": 3.0}), "temperature"),
        (json!({"top_p": 1.5}), "top_p"),
        (json!({}), "names no field"),
        (json!({"paused": "yes"}), "paused"),
        (json!({"notes": "x".repeat(2_001)}), "notes"),
    ] {
        let (status, v) = call(&t, &streamer, Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let (status, v) = call(
        &t,
        &streamer,
        Method::PUT,
        &path,
        Some(json!({"temperature": 0.4, "top_p": 0.9, "notes": "We speak Portuguese here."})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["paused"].clone(), v["temperature"].clone()),
        (json!(true), json!(0.4))
    );
    assert!(
        v["updated_by"].as_str().unwrap().len() == 16,
        "a token id, not a secret: {v}"
    );

    // Applied live: the channel actor holds it, and a restarted actor still does.
    let snap = t
        .get_json(&format!("/api/v1/channels/{chan}/context"))
        .await;
    assert_eq!(snap["agent"]["notes"], "We speak Portuguese here.");
    assert!(t.app.runtime().crash_channel(chan, "control test"));
    eventually(
        "restarted with its settings",
        Duration::from_secs(10),
        || async {
            let s = t.get_json(&format!("/api/v1/channels/{chan}")).await;
            (s["restarts"] == 1 && s["status"] == "running" && s["agent"]["top_p"] == 0.9)
                .then_some(())
        },
    )
    .await;

    // The fleet switch: admin only, persisted.
    let (status, _) = call(
        &t,
        &streamer,
        Method::POST,
        "/api/v1/agent/suspend-all",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v) = call(
        &t,
        ADMIN_TOKEN,
        Method::POST,
        "/api/v1/agent/suspend-all",
        None,
    )
    .await;
    assert_eq!(
        (status, v["suspended"].clone(), v["channels"].clone()),
        (StatusCode::OK, json!(true), json!(1))
    );
    let (_, v) = call(&t, &streamer, Method::GET, &path, None).await;
    assert_eq!(v["suspended_globally"], true);

    // A new process on the same database keeps both.
    let TestApp { db, sim, app, http } = t;
    assert_eq!(app.shutdown(false).await, None);
    let app = App::start(
        &runtime_args(&db.url, sim.local_addr(), &channels),
        Hooks::default(),
    )
    .await
    .unwrap();
    let t = TestApp { db, sim, app, http };
    let (status, v) = call(&t, &streamer, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["paused"].clone(),
            v["temperature"].clone(),
            v["notes"].clone(),
            v["suspended_globally"].clone()
        ),
        (
            json!(true),
            json!(0.4),
            json!("We speak Portuguese here."),
            json!(true)
        )
    );
    let (_, v) = call(
        &t,
        ADMIN_TOKEN,
        Method::POST,
        "/api/v1/agent/resume-all",
        None,
    )
    .await;
    assert_eq!(v["suspended"], false);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_view_sorts_filters_pages_and_scopes() {
    let channels = channel_names("fleet", 3);
    let t = TestApp::start(&channels).await;
    // Different chat volumes, so sorting by chat rate has a known order.
    for (c, n) in channels.iter().zip([10, 60, 30]) {
        t.sim.emit(Emission::chat(c, n)).await.unwrap();
    }
    let page = eventually(
        "chat rates after a tick",
        Duration::from_secs(20),
        || async {
            let page = t.get_json("/api/v1/fleet?sort=chat_rate").await;
            let rates: Vec<f64> = page["items"]
                .as_array()?
                .iter()
                .map(|i| i["chat_rate_per_min"].as_f64().unwrap_or(0.0))
                .collect();
            (rates == vec![60.0, 30.0, 10.0]).then_some(page)
        },
    )
    .await;
    let logins: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["login"].as_str().unwrap())
        .collect();
    assert_eq!(
        logins,
        vec![
            channels[1].as_str(),
            channels[2].as_str(),
            channels[0].as_str()
        ]
    );
    let first = &page["items"][0];
    assert_eq!(first["chat_sparkline"].as_array().unwrap().len(), 30);
    assert_eq!(first["health_trend"].as_array().unwrap().len(), 30);
    assert_eq!(first["status"], "running");

    let asc = t
        .get_json("/api/v1/fleet?sort=chat_rate&order=asc&limit=1&offset=1")
        .await;
    assert_eq!(asc["total"], 3);
    assert_eq!(asc["items"][0]["login"], channels[2]);
    let filtered = t
        .get_json(&format!("/api/v1/fleet?q={}", &channels[2][6..]))
        .await;
    assert_eq!(filtered["total"], 1, "{filtered}");
    for bad in [
        "sort=mood",
        "order=up",
        "limit=0",
        "limit=501",
        "colour=red",
    ] {
        let resp = t
            .api(Method::GET, &format!("/api/v1/fleet?{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let streamer = mint(&t, ADMIN_TOKEN, &channels[0], "streamer").await;
    let (_, own) = call(&t, &streamer, Method::GET, "/api/v1/fleet", None).await;
    assert_eq!(own["total"], 1);
    assert_eq!(own["items"][0]["login"], channels[0]);
    t.stop().await;
}

/// Reads Server-Sent Events until `want` has arrived; returns its data.
async fn next_event(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    want: &str,
) -> Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut event = "message";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if event == want {
                return serde_json::from_str(&data).unwrap();
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(20), body.next())
            .await
            .unwrap_or_else(|_| panic!("no {want} event within 20 s"))
            .expect("stream open")
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hud_stream_pushes_context_hints_and_control_changes() {
    let channels = channel_names("hud", 2);
    let chan = channels[0].as_str();
    let t = TestApp::start(&channels).await;
    let streamer = mint(&t, ADMIN_TOKEN, chan, "streamer").await;
    let overlay = mint(&t, &streamer, chan, "overlay").await;
    let other = mint(&t, ADMIN_TOKEN, &channels[1], "streamer").await;
    let url = t.url(&format!("/api/v1/channels/{chan}/stream"));

    let refused = t.http.get(&url).bearer_auth(&other).send().await.unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::NOT_FOUND,
        "another channel's token"
    );
    let refused = t.http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // The overlay reads the stream, and nothing else.
    let (status, _) = call(
        &t,
        &overlay,
        Method::GET,
        &format!("/api/v1/channels/{chan}/context"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let resp = t.http.get(&url).bearer_auth(&overlay).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let ctx = next_event(&mut body, &mut buf, "context").await;
    assert_eq!(ctx["login"], chan);
    assert_eq!(ctx["status"], "running");

    // A raid makes the coach suggest a welcome at the next tick: it arrives as a hint.
    t.sim
        .emit(Emission::cycle(
            chan,
            1,
            vec![MessageKind::Event(SimEvent::Raid)],
        ))
        .await
        .unwrap();
    let hint = next_event(&mut body, &mut buf, "hint").await;
    assert_eq!(hint["kind"], "raid_arriving", "{hint}");

    // A control change reaches the HUD at once.
    let (status, _) = call(
        &t,
        &streamer,
        Method::PUT,
        &format!("/api/v1/channels/{chan}/agent"),
        Some(json!({"paused": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let agent = next_event(&mut body, &mut buf, "agent").await;
    assert_eq!(agent["paused"], true);
    let ctx = next_event(&mut body, &mut buf, "context").await;
    assert_eq!(ctx["agent_paused"], true);
    drop(body);
    t.stop().await;
}

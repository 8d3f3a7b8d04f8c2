//! Boot with the database down: channels come from TWITCH_CHANNEL_LOGINS, chat is read and
//! buffered, readiness says so, and when Postgres comes back every row is written and the
//! channel list is saved. Uses a private embedded Postgres it can stop and start.

use std::time::Duration;

use byte_actors::channel::RestoreStatus;
use bytebot::app::App;
use bytebot::simulator::{self, Emission};
use bytebot::store;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{ADMIN_TOKEN, PrivatePg, channel_names, eventually, runtime_args, sim_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booting_without_a_database_loses_nothing_once_it_returns() {
    bytebot::telemetry::init_tracing(bytebot::config::LogFormat::Human);
    let (private, running) = PrivatePg::start("outage").await;
    let url = private.url.clone();
    running.stop().await.unwrap();

    let channels = channel_names("outage", 3);
    let sim = simulator::start(sim_config(&channels)).await.unwrap();
    let args = runtime_args(&url, sim.local_addr(), &channels);
    let app = App::start(&args, bytebot::app::Hooks::default())
        .await
        .expect("boots without a database");
    sim.wait_for_joins(&channels, Duration::from_secs(20))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.request(Method::GET, format!("http://{}{path}", app.http_addr()))
            .bearer_auth(ADMIN_TOKEN)
    };

    let list: Value = get("/api/v1/channels")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 3, "channels come from TWITCH_CHANNEL_LOGINS");
    let ready = get("/readyz").send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["degraded"], true);

    for c in &channels {
        sim.emit(Emission::chat(c, 40)).await.unwrap();
    }
    let stats = eventually(
        "rows buffered while the database is down",
        Duration::from_secs(20),
        || async {
            let s = app.runtime().persistence_stats().await.unwrap();
            // Chat plus the derived rows (sessions, snapshots) channels send meanwhile.
            (s.received_rows >= 120 && s.consecutive_failures > 0).then_some(s)
        },
    )
    .await;
    assert_eq!(stats.chat_written, 0);
    let runtime: Value = get("/api/v1/runtime")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        runtime["persistence"]["queued_rows"].as_u64().unwrap() >= 120,
        "the backlog is visible"
    );

    // The database returns on the same port.
    let back = private.restart().await;
    let pool = store::connect(&url).await.unwrap();
    eventually(
        "every buffered row written",
        Duration::from_secs(30),
        || async {
            let n = store::count_chat(&pool, None).await.ok()?;
            (n == 120).then_some(())
        },
    )
    .await;
    eventually(
        "start-up channels saved",
        Duration::from_secs(30),
        || async {
            let active = store::channels::list_active(&pool).await.ok()?;
            (active.len() == 3).then_some(())
        },
    )
    .await;
    eventually("ready again", Duration::from_secs(10), || async {
        (get("/readyz").send().await.unwrap().status() == StatusCode::OK).then_some(())
    })
    .await;
    // Channels that booted without their history catch up: their restore, retried with
    // backoff, folds everything stored meanwhile.
    for c in &channels {
        let login = byte_actors::model::ChannelLogin::from_twitch(c);
        let snap = eventually(
            "channel state restored",
            Duration::from_secs(90),
            || async {
                let snap = app
                    .runtime()
                    .channel_snapshot(&login, Duration::from_secs(5))
                    .await
                    .ok()?;
                matches!(snap.restore, RestoreStatus::Restored { .. }).then_some(snap)
            },
        )
        .await;
        assert_eq!(
            snap.fold.context.messages, 40,
            "{c}: every buffered line folded once"
        );
    }

    assert_eq!(app.shutdown(false).await, None);
    sim.shutdown().await;
    pool.close().await;
    back.stop().await.unwrap();
}

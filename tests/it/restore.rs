//! Restore and replay: a channel actor that crashes, or is parted and joined again, comes
//! back holding exactly what an uncrashed twin would — the twin being a fresh fold of every
//! row the database holds for the channel, in ingest order. Real runtime, real simulator
//! sockets, real Postgres.

use std::sync::Arc;
use std::time::Duration;

use byte_actors::channel::{FoldDigest, Folded, IntelEnv, RestoreOutcome, RestoreStatus};
use byte_actors::intel::sentiment::SentimentEngine;
use byte_actors::model::ChannelLogin;
use byte_actors::ports::Store;
use bytebot::simulator::Emission;
use bytebot::store::PgStore;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, channel_names, eventually};

const CALL: Duration = Duration::from_secs(5);

/// What a channel that never crashed would hold: every stored row, folded once in order.
async fn twin(store: &PgStore, login: &ChannelLogin, intel: &IntelEnv) -> FoldDigest {
    let mut folded = Folded::new(login.clone());
    loop {
        let page = store.replay(login, folded.watermark, 1_000).await.unwrap();
        for row in &page {
            assert!(folded.apply(intel, row), "replay pages never repeat a row");
        }
        if page.len() < 1_000 {
            return folded.digest();
        }
    }
}

fn intel_env() -> IntelEnv {
    IntelEnv {
        sentiment: Arc::new(SentimentEngine::new()),
        bot_login: None,
    }
}

/// Waits until the channel's actor has folded every stored row (its watermark reached the
/// highest stored position) and every emitted chat line is stored, then returns both views.
async fn settle(t: &TestApp, store: &PgStore, channel: &str) -> (FoldDigest, FoldDigest) {
    let login = ChannelLogin::from_twitch(channel);
    let emitted = t.sim.recorded().privmsgs_in(channel).len() as i64;
    eventually(
        "every emitted line stored",
        Duration::from_secs(30),
        || async { (t.chat_count(Some(channel)).await == emitted).then_some(()) },
    )
    .await;
    let intel = intel_env();
    let twin = twin(store, &login, &intel).await;
    let live = eventually(
        "the actor folded every stored row",
        Duration::from_secs(30),
        || async {
            let snap = t.app.runtime().channel_snapshot(&login, CALL).await.ok()?;
            (snap.fold.watermark == twin.watermark).then_some(snap.fold)
        },
    )
    .await;
    (live, twin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_channels_hold_what_an_uncrashed_twin_would() {
    let channels = channel_names("twin", 10);
    let t = TestApp::start_with(&channels, |a| {
        a.restart_max = 10_000;
        // Restarts as fast as the actors allow: this test is about state, not pacing.
        a.restart_backoff_ms = 1;
        a.restart_backoff_max_ms = 20;
    })
    .await;
    let rt = t.app.runtime();
    let store = PgStore::new(t.db.pool.clone());
    let (victims, bystanders) = channels.split_at(5);
    let mut crashes = vec![0u64; victims.len()];
    let mut restore_ms: Vec<u64> = Vec::new();

    for _round in 0..12 {
        for c in &channels {
            t.sim.emit(Emission::mixed(c, 30)).await.unwrap();
        }
        for (i, v) in victims.iter().enumerate() {
            // Mid-stream: lines of this round are still being delivered.
            if rt.crash_channel(v, "chaos test") {
                crashes[i] += 1;
            }
        }
        for c in &channels {
            t.sim.emit(Emission::chat(c, 20)).await.unwrap();
        }
        for (i, v) in victims.iter().enumerate() {
            let want = crashes[i];
            eventually("victim restarted", CALL, || async {
                let s = t.get_json(&format!("/api/v1/channels/{v}")).await;
                (s["status"] == "running" && s["restarts"].as_u64() == Some(want)).then_some(())
            })
            .await;
            let login = ChannelLogin::from_twitch(v);
            let took = eventually("victim restored", CALL, || async {
                match rt.channel_snapshot(&login, CALL).await.ok()?.restore {
                    RestoreStatus::Restored { took_ms, .. } => Some(took_ms),
                    _ => None,
                }
            })
            .await;
            restore_ms.push(took);
        }
    }
    assert!(
        crashes.iter().all(|&c| c == 12),
        "every crash hit a live actor: {crashes:?}"
    );

    restore_ms.sort_unstable();
    let pct = |p: f64| restore_ms[((restore_ms.len() - 1) as f64 * p).round() as usize];
    eprintln!(
        "restore: {} crashes across {} of {} channels under load; restore (flush + snapshot + \
         replay) p50 {} ms, p99 {} ms, max {} ms",
        restore_ms.len(),
        victims.len(),
        channels.len(),
        pct(0.5),
        pct(0.99),
        restore_ms[restore_ms.len() - 1]
    );
    for c in &channels {
        let (live, twin) = settle(&t, &store, c).await;
        assert!(live.context.messages > 0, "{c} saw traffic");
        assert_eq!(
            live, twin,
            "{c}: live state differs from the uncrashed twin"
        );
    }
    for c in bystanders {
        let s = t.get_json(&format!("/api/v1/channels/{c}")).await;
        assert_eq!(s["restarts"], 0, "{c} untouched by its neighbours' crashes");
    }
    for v in victims {
        let snap = rt
            .channel_snapshot(&ChannelLogin::from_twitch(v), CALL)
            .await
            .unwrap();
        assert!(
            matches!(snap.restore, RestoreStatus::Restored { .. }),
            "{v}: {:?}",
            snap.restore
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoined_channel_continues_from_its_snapshot() {
    let channels = channel_names("snap", 2);
    let t = TestApp::start(&channels).await;
    let rt = t.app.runtime();
    let store = PgStore::new(t.db.pool.clone());
    let chan = &channels[0];
    let login = ChannelLogin::from_twitch(chan);

    t.sim.emit(Emission::mixed(chan, 200)).await.unwrap();
    let (before, _) = settle(&t, &store, chan).await;

    // Parting stops the actor gracefully: it leaves a snapshot of everything it folded.
    let parted = t
        .api(Method::DELETE, &format!("/api/v1/channels/{chan}"))
        .send()
        .await
        .unwrap();
    assert!(parted.status().is_success(), "{}", parted.status());
    let stored = eventually("snapshot stored", CALL, || async {
        store
            .load_snapshot(&login)
            .await
            .unwrap()
            .filter(|s| s.watermark == before.watermark)
    })
    .await;
    let from_snapshot: Folded = serde_json::from_value(stored.state).unwrap();
    assert_eq!(
        from_snapshot.digest(),
        before,
        "the snapshot is the live state"
    );

    let joined = t
        .api(Method::POST, "/api/v1/channels")
        .json(&json!({ "login": chan }))
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), StatusCode::CREATED);
    let restored = eventually("restored from the snapshot", CALL, || async {
        let snap = rt.channel_snapshot(&login, CALL).await.ok()?;
        match snap.restore {
            RestoreStatus::Restored { outcome, .. } => Some((outcome, snap.fold)),
            _ => None,
        }
    })
    .await;
    assert_eq!(restored.0, RestoreOutcome::Snapshot);
    assert_eq!(restored.1, before, "nothing lost across part and join");

    t.sim
        .wait_for_joins(std::slice::from_ref(chan), Duration::from_secs(20))
        .await
        .unwrap();
    t.sim.emit(Emission::mixed(chan, 100)).await.unwrap();
    let (live, twin) = settle(&t, &store, chan).await;
    assert!(live.context.messages > before.context.messages);
    assert_eq!(live, twin);
    t.stop().await;
}

//! Simulator -> runtime -> Postgres, across many channels: exactly-once storage of chat and
//! events, crash isolation, quarantine, and the real captured fixture lines.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytebot::simulator::{Emission, EventKind as SimKind, MessageKind};
use chrono::{DateTime, Utc};

use crate::support::{TestApp, channel_names, eventually};

const WAIT: Duration = Duration::from_secs(30);

fn our_kind(k: SimKind) -> &'static str {
    match k {
        SimKind::Sub => "sub",
        SimKind::Resub => "resub",
        SimKind::SubGift => "sub_gift",
        SimKind::SubMysteryGift => "sub_mystery_gift",
        SimKind::Raid => "raid",
        SimKind::Announcement => "announcement",
        SimKind::Timeout => "timeout",
        SimKind::Ban => "ban",
        SimKind::ClearMsg => "message_deleted",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_simulated_message_and_event_is_stored_exactly_once_across_20_channels() {
    let channels = channel_names("e2e", 20);
    let t = TestApp::start(&channels).await;
    let mut kinds = vec![
        MessageKind::Privmsg,
        MessageKind::Privmsg,
        MessageKind::Cheer,
    ];
    kinds.extend(SimKind::ALL.iter().map(|k| MessageKind::Event(*k)));
    for c in &channels {
        let out = t
            .sim
            .emit(Emission::cycle(c, kinds.len() * 8, kinds.clone()))
            .await
            .unwrap();
        assert_eq!(out.written, kinds.len() * 8, "every line reached a socket");
    }
    let rec = t.sim.recorded();
    let expected_chat = rec.privmsgs.len() as i64;
    let expected_events =
        rec.events.len() + rec.privmsgs.iter().filter(|p| p.bits.is_some()).count();
    assert_eq!(expected_chat, 20 * 8 * 3);

    eventually("all chat rows stored", WAIT, || async {
        let n = t.chat_count(None).await;
        (n == expected_chat).then_some(())
    })
    .await;
    eventually("all event rows stored", WAIT, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM channel_events")
            .fetch_one(&t.db.pool)
            .await
            .unwrap();
        (n as usize == expected_events).then_some(())
    })
    .await;

    // Field by field: channel, user, text, bits and Twitch's timestamp survive the trip.
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT message_id, channel, user_login, user_id, text, bits, sent_at FROM chat_messages",
    )
    .fetch_all(&t.db.pool)
    .await
    .unwrap();
    let stored: HashMap<&str, &Row> = rows.iter().map(|r| (r.0.as_str(), r)).collect();
    for p in &rec.privmsgs {
        let r = stored
            .get(p.id.as_str())
            .unwrap_or_else(|| panic!("message {} stored", p.id));
        assert_eq!(r.1, p.channel);
        assert_eq!(r.2, p.user_login);
        assert_eq!(r.3, p.user_id);
        assert_eq!(r.4, p.text);
        assert_eq!(r.5, p.bits.map(|b| b as i64));
        assert_eq!(r.6.timestamp_millis(), p.tmi_sent_ts);
    }

    // Events per channel and kind match what was sent.
    let mut expected: HashMap<(String, &str), i64> = HashMap::new();
    for e in &rec.events {
        *expected
            .entry((e.channel.clone(), our_kind(e.kind)))
            .or_default() += 1;
    }
    for p in rec.privmsgs.iter().filter(|p| p.bits.is_some()) {
        *expected.entry((p.channel.clone(), "bits")).or_default() += 1;
    }
    let got: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT channel, kind, count(*) FROM channel_events GROUP BY 1, 2")
            .fetch_all(&t.db.pool)
            .await
            .unwrap();
    let got: HashMap<(String, &str), i64> = got
        .iter()
        .map(|(c, k, n)| ((c.clone(), our_kind_static(k)), *n))
        .collect();
    assert_eq!(got, expected);
    for kind in ["sub", "sub_gift", "raid", "bits"] {
        assert!(got.keys().any(|(_, k)| *k == kind), "{kind} events landed");
    }

    // The live state saw the same traffic.
    let status = t.get_json("/api/v1/channels/e2e_07").await;
    assert_eq!(status["messages_seen"], 24);
    t.stop().await;
}

fn our_kind_static(k: &str) -> &'static str {
    SimKind::ALL
        .iter()
        .map(|s| our_kind(*s))
        .chain(["bits"])
        .find(|o| *o == k)
        .unwrap_or("unexpected")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_channel_restarts_fast_while_the_others_lose_nothing() {
    let channels = channel_names("iso", 20);
    let t = TestApp::start(&channels).await;
    let victim = "iso_05";
    let rt = t.app.runtime();
    let ids_before: HashMap<String, ractor::ActorId> = channels
        .iter()
        .map(|c| (c.clone(), rt.directory().actor(c).unwrap().get_id()))
        .collect();

    // Chat keeps flowing to every channel while the victim crashes mid-stream.
    for round in 0..10 {
        for c in &channels {
            t.sim.emit(Emission::chat(c, 20)).await.unwrap();
        }
        if round == 4 {
            assert!(rt.crash_channel(victim, "test crash"));
        }
    }
    let crashed_at = Instant::now();
    let restarted = eventually("victim running again", WAIT, || async {
        let s = t.get_json(&format!("/api/v1/channels/{victim}")).await;
        (s["status"] == "running" && s["restarts"] == 1).then_some(s)
    })
    .await;
    eprintln!(
        "victim back within {:?} of the last emission",
        crashed_at.elapsed()
    );
    assert!(
        restarted["last_failure"]
            .as_str()
            .unwrap()
            .contains("test crash")
    );
    let restart_hist = bytebot::telemetry::metrics_handle().render();
    assert!(
        restart_hist.contains("byte_channel_restart_duration_seconds_count 1"),
        "restart time measured"
    );

    let expected = 10 * 20;
    eventually("every message stored", WAIT, || async {
        (t.chat_count(None).await == expected * 20).then_some(())
    })
    .await;
    for c in &channels {
        assert_eq!(t.chat_count(Some(c)).await, expected, "{c}: nothing lost");
        if c == victim {
            assert_ne!(rt.directory().actor(c).unwrap().get_id(), ids_before[c]);
            continue;
        }
        // Same actor from start to end, and it saw every one of its messages: no gap.
        let actor = rt.directory().actor(c).unwrap();
        assert_eq!(actor.get_id(), ids_before[c], "{c} was never restarted");
        let snap =
            byte_actors::rpc::ask(&actor, byte_actors::channel::ChannelMessage::Snapshot, WAIT)
                .await
                .unwrap();
        assert_eq!(
            snap.context.messages, expected as u64,
            "{c} processed everything"
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_fails_every_start_ends_quarantined_and_can_be_retried() {
    let channels = channel_names("quar", 3);
    let t = TestApp::start_with(&channels, |a| a.restart_max = 3).await;
    let rt = t.app.runtime();
    rt.faults().set_fail_on_start("quar_01", true);
    assert!(rt.crash_channel("quar_01", "first crash"));
    let s = eventually("quarantined", WAIT, || async {
        let s = t.get_json("/api/v1/channels/quar_01").await;
        (s["status"] == "quarantined").then_some(s)
    })
    .await;
    assert_eq!(s["restarts"], 3, "restarts stop at the budget");
    assert!(
        s["quarantine_reason"]
            .as_str()
            .unwrap()
            .contains("injected start failure")
    );
    // Bounded: the count does not move once quarantined.
    t.sim.emit(Emission::chat("quar_01", 5)).await.unwrap();
    t.sim.emit(Emission::chat("quar_00", 5)).await.unwrap();
    eventually(
        "chat of the quarantined channel still stored",
        WAIT,
        || async { (t.chat_count(Some("quar_01")).await == 5).then_some(()) },
    )
    .await;
    let s: serde_json::Value = t.get_json("/api/v1/channels/quar_01").await;
    assert_eq!(s["restarts"], 3);
    assert_eq!(
        rt.directory().actor("quar_00").map(|a| a.get_status()),
        Some(ractor::ActorStatus::Running)
    );

    // The operator fixes the cause and retries.
    rt.faults().set_fail_on_start("quar_01", false);
    let r = t
        .api(reqwest::Method::POST, "/api/v1/channels/quar_01/retry")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s: serde_json::Value = r.json().await.unwrap();
    assert_eq!(s["status"], "running");
    let again = t
        .api(reqwest::Method::POST, "/api/v1/channels/quar_01/retry")
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        409,
        "only quarantined channels can be retried"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_captured_lines_replayed_through_the_simulator_are_stored_with_the_right_types() {
    let channels: Vec<String> = [
        "pajlada",
        "xqcow",
        "forsen",
        "randers",
        "riotgames",
        "mocbka34",
        "queenqarro",
        "seventoes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let t = TestApp::start(&channels).await;
    let fixtures = include_str!("../fixtures/twitch-irc-samples.txt");
    let report = t.sim.replay_lines(fixtures.lines()).await;
    eprintln!("replay: {report:?}");

    // What the fixture holds, worked out independently with twitch-irc's own parser.
    let mut expect_ids = std::collections::HashSet::new();
    for line in fixtures.lines() {
        let Ok(irc) = twitch_irc::message::IRCMessage::parse(line) else {
            continue;
        };
        if let Ok(twitch_irc::message::ServerMessage::Privmsg(m)) =
            twitch_irc::message::ServerMessage::try_from(irc)
            && channels.contains(&m.channel_login)
        {
            expect_ids.insert(m.message_id);
        }
    }
    assert!(expect_ids.len() >= 8);
    eventually("fixture chat stored once per id", WAIT, || async {
        (t.chat_count(None).await == expect_ids.len() as i64).then_some(())
    })
    .await;
    let kinds: Vec<String> = eventually("fixture events stored", WAIT, || async {
        let kinds: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT kind FROM channel_events ORDER BY 1")
                .fetch_all(&t.db.pool)
                .await
                .unwrap();
        (kinds.len() >= 8).then_some(kinds)
    })
    .await;
    for k in [
        "bits",
        "gift_paid_upgrade",
        "other_notice",
        "raid",
        "resub",
        "sub",
        "sub_mystery_gift",
        "timeout",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    let raid: (Option<i64>, Option<String>) =
        sqlx::query_as("SELECT amount, user_login FROM channel_events WHERE kind = 'raid'")
            .fetch_one(&t.db.pool)
            .await
            .unwrap();
    assert_eq!(raid, (Some(430), Some("iamelisabete".into())));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_writes_every_pending_row() {
    let channels = channel_names("drain", 4);
    // Batches would only be written after ten minutes: whatever lands, shutdown wrote.
    let t = TestApp::start_with(&channels, |a| {
        a.flush_interval_ms = 600_000;
        a.batch_rows = 1_000_000;
    })
    .await;
    for c in &channels {
        t.sim.emit(Emission::chat(c, 250)).await.unwrap();
    }
    // Every line reached ingest (counted when handed to a channel actor; its row goes to
    // Persistence in the same pump batch). Persistence also receives the channels' derived
    // rows, so its own counter is not the measure here.
    let rt = t.app.runtime();
    eventually("every line ingested", WAIT, || async {
        let seen: u64 = channels
            .iter()
            .map(|c| rt.directory().counters(c).unwrap().messages_seen())
            .sum();
        (seen == 1000).then_some(())
    })
    .await;
    let stats = rt.persistence_stats().await.unwrap();
    assert_eq!(stats.chat_written, 0, "nothing written before shutdown");
    let db = t.stop_keeping_db().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_messages")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1000);
}

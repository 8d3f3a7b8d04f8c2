//! Stream scenarios (`tests/scenarios/*.toml`) through the whole runtime: simulator ->
//! twitch-irc -> ingest -> channel actor, on a manual clock advanced one second per tick.
//! Each asserts what a streamer would expect, in direction and timing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use byte_actors::channel::{ChannelMessage, ChannelSnapshot};
use byte_actors::clock::ManualClock;
use byte_actors::rpc::ask;
use bytebot::app::Hooks;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::support::{TestApp, eventually};

#[derive(Debug, Deserialize)]
struct Scenario {
    name: String,
    channel: String,
    duration: i64,
    #[serde(default)]
    chat: Vec<ChatSpec>,
    #[serde(default)]
    raid: Vec<RaidSpec>,
    expect: Vec<Expect>,
}

#[derive(Debug, Deserialize)]
struct ChatSpec {
    from: i64,
    to: i64,
    count: usize,
    users: usize,
    texts: Vec<String>,
    #[serde(default)]
    staff: bool,
}

#[derive(Debug, Deserialize)]
struct RaidSpec {
    at: i64,
    from: String,
    viewers: u64,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Expect {
    Hint {
        hint: String,
        from: i64,
        to: i64,
        contains: Option<String>,
    },
    NoHint {
        hint: String,
        from: i64,
        to: i64,
    },
    MaxHints {
        from: i64,
        to: i64,
        max: usize,
    },
    Factor {
        name: String,
        from: i64,
        to: i64,
        direction: String,
        by: f64,
    },
    Clip {
        from: i64,
        to: i64,
    },
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 20, 0, 0).unwrap()
}

fn privmsg(
    channel: &str,
    user: &str,
    uid: usize,
    text: &str,
    id: usize,
    at: DateTime<Utc>,
    staff: bool,
) -> String {
    let badges = if staff { "broadcaster/1" } else { "" };
    format!(
        "@badge-info=;badges={badges};color=#1E90FF;display-name={user};emotes=;flags=;id=scn-{channel}-{id};\
         mod=0;room-id=1;subscriber=0;tmi-sent-ts={};turbo=0;user-id={uid};user-type= \
         :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{channel} :{text}",
        at.timestamp_millis()
    )
}

fn raid_line(channel: &str, from: &str, viewers: u64, id: usize, at: DateTime<Utc>) -> String {
    format!(
        "@badge-info=;badges=;color=;display-name={from};emotes=;flags=;id=scn-raid-{id};login={from};mod=0;\
         msg-id=raid;msg-param-displayName={from};msg-param-login={from};\
         msg-param-profileImageURL=https://example.invalid/p.png;msg-param-viewerCount={viewers};room-id=1;\
         subscriber=0;system-msg={viewers}\\sraiders\\sfrom\\s{from}\\shave\\sjoined!;tmi-sent-ts={};\
         user-id=999;user-type= :tmi.twitch.tv USERNOTICE #{channel}",
        at.timestamp_millis()
    )
}

/// What the run observed, second by second.
#[derive(Default)]
struct Observed {
    hints: BTreeMap<String, (i64, String, String)>,
    clips: BTreeMap<String, i64>,
    factors: BTreeMap<i64, BTreeMap<String, f64>>,
}

async fn run(file: &str) {
    let path = format!("{}/tests/scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
    let sc: Scenario = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let hooks = Hooks {
        clock: clock.clone(),
        tick_every: None,
        ..Hooks::default()
    };
    let channels = vec![sc.channel.clone()];
    let t = TestApp::start_with_hooks(&channels, |_| {}, hooks).await;
    let rt = t.app.runtime();

    // Lay the timeline out per second.
    let mut schedule: BTreeMap<i64, Vec<(String, bool)>> = BTreeMap::new();
    let mut id = 0;
    for (n, spec) in sc.chat.iter().enumerate() {
        for i in 0..spec.count {
            let sec = spec.from + (i as i64 * (spec.to - spec.from)) / spec.count as i64;
            let k = i % spec.users;
            let user = if spec.staff {
                sc.channel.clone()
            } else {
                format!("v{n}_{k}")
            };
            let text = &spec.texts[i % spec.texts.len()];
            id += 1;
            let line = privmsg(
                &sc.channel,
                &user,
                1000 + n * 1000 + k,
                text,
                id,
                t0() + chrono::Duration::seconds(sec),
                spec.staff,
            );
            schedule.entry(sec).or_default().push((line, true));
        }
    }
    for r in &sc.raid {
        id += 1;
        schedule.entry(r.at).or_default().push((
            raid_line(
                &sc.channel,
                &r.from,
                r.viewers,
                id,
                t0() + chrono::Duration::seconds(r.at),
            ),
            false,
        ));
    }

    let counters = rt.directory().counters(&sc.channel).unwrap();
    let (mut chats, mut events) = (0u64, 0u64);
    let mut seen = Observed::default();
    for sec in 0..=sc.duration {
        clock.set(t0() + chrono::Duration::seconds(sec));
        for (line, is_chat) in schedule.remove(&sec).unwrap_or_default() {
            assert_eq!(t.sim.inject_raw(&line), 1, "line delivered: {line}");
            if is_chat { chats += 1 } else { events += 1 }
        }
        eventually(
            "lines reached the channel actor",
            Duration::from_secs(10),
            || async {
                (counters.messages_seen() == chats && counters.events_seen() == events)
                    .then_some(())
            },
        )
        .await;
        rt.tick_all();
        let actor = rt.directory().actor(&sc.channel).unwrap();
        let snap: ChannelSnapshot = ask(&actor, ChannelMessage::Snapshot, Duration::from_secs(10))
            .await
            .unwrap();
        for h in &snap.live.hints {
            let at = (h.created_at - t0()).num_seconds();
            seen.hints.entry(h.id.clone()).or_insert((
                at,
                h.kind.as_str().to_owned(),
                h.message.clone(),
            ));
        }
        for c in &snap.live.clips {
            seen.clips
                .entry(c.id.clone())
                .or_insert((c.at - t0()).num_seconds());
        }
        if let Some(h) = &snap.live.health {
            seen.factors.insert(
                sec,
                h.factors
                    .iter()
                    .map(|f| (f.name.as_str().to_owned(), f.score))
                    .collect(),
            );
        }
    }

    let report = || {
        let hints: Vec<String> = seen
            .hints
            .values()
            .map(|(at, k, m)| format!("{at}s {k}: {m}"))
            .collect();
        format!(
            "scenario {:?}\nhints:\n  {}\nclips at: {:?}",
            sc.name,
            hints.join("\n  "),
            seen.clips.values().collect::<Vec<_>>()
        )
    };
    for e in &sc.expect {
        match e {
            Expect::Hint {
                hint,
                from,
                to,
                contains,
            } => {
                let hit = seen.hints.values().any(|(at, k, m)| {
                    k == hint
                        && (*from..=*to).contains(at)
                        && contains.as_ref().is_none_or(|c| m.contains(c.as_str()))
                });
                assert!(
                    hit,
                    "expected a {hint} hint within [{from}, {to}]s\n{}",
                    report()
                );
            }
            Expect::NoHint { hint, from, to } => {
                let hit = seen
                    .hints
                    .values()
                    .find(|(at, k, _)| k == hint && (*from..=*to).contains(at));
                assert!(
                    hit.is_none(),
                    "unexpected {hint} hint {hit:?}\n{}",
                    report()
                );
            }
            Expect::MaxHints { from, to, max } => {
                let n = seen
                    .hints
                    .values()
                    .filter(|(at, _, _)| (*from..=*to).contains(at))
                    .count();
                assert!(
                    n <= *max,
                    "{n} hints within [{from}, {to}]s, at most {max} expected\n{}",
                    report()
                );
            }
            Expect::Factor {
                name,
                from,
                to,
                direction,
                by,
            } => {
                let at = |s: &i64| {
                    seen.factors
                        .get(s)
                        .and_then(|f| f.get(name))
                        .copied()
                        .unwrap()
                };
                let (a, b) = (at(from), at(to));
                let ok = match direction.as_str() {
                    "falls" => a - b >= *by,
                    "rises" => b - a >= *by,
                    other => panic!("unknown direction {other}"),
                };
                assert!(
                    ok,
                    "{name} should {direction} by {by} from {from}s ({a:.1}) to {to}s ({b:.1})\n{}",
                    report()
                );
            }
            Expect::Clip { from, to } => {
                let hit = seen.clips.values().any(|at| (*from..=*to).contains(at));
                assert!(
                    hit,
                    "expected a clip candidate within [{from}, {to}]s\n{}",
                    report()
                );
            }
        }
    }
    eprintln!("{}", report());
    check_history_api(&t, &sc, &seen).await;
    t.stop().await;
}

/// What the scenario produced is readable through the API from Postgres.
async fn check_history_api(t: &TestApp, sc: &Scenario, seen: &Observed) {
    use reqwest::Method;
    let base = format!("/api/v1/channels/{}", sc.channel);
    let stop = t
        .api(Method::POST, &format!("{base}/session"))
        .json(&serde_json::json!({"action": "stop"}));
    let stopped: serde_json::Value = stop.send().await.unwrap().json().await.unwrap();
    assert_eq!(stopped["end_reason"], "stopped", "{stopped}");
    let again = t
        .api(Method::POST, &format!("{base}/session"))
        .json(&serde_json::json!({"action": "stop"}));
    assert_eq!(
        again.send().await.unwrap().status(),
        409,
        "nothing left to stop"
    );
    t.app
        .runtime()
        .flush(Duration::from_secs(10))
        .await
        .unwrap();

    let hints: serde_json::Value = t.get_json(&format!("{base}/hints?limit=500")).await;
    assert_eq!(
        hints["items"].as_array().unwrap().len(),
        seen.hints.len(),
        "every hint stored once"
    );
    let sessions: serde_json::Value = t.get_json(&format!("{base}/sessions")).await;
    assert_eq!(sessions["items"][0]["session_id"], stopped["id"]);
    assert_eq!(sessions["items"][0]["end_reason"], "stopped");
    let from = t0().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (t0() + chrono::Duration::seconds(sc.duration + 60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let url = format!("{base}/history?from={from}&to={to}&step=300");
    let history: serde_json::Value = t.get_json(&url).await;
    let points = history["points"].as_array().unwrap();
    assert!(points.len() as i64 >= sc.duration / 300, "{history}");
    let stored: i64 = points.iter().map(|p| p["messages"].as_i64().unwrap()).sum();
    assert!(stored > 0, "rollups carry the chat counts: {history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calm_steady_stream_gets_no_hint_storm() {
    run("calm.toml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raid_gets_a_welcome_hint_within_seconds() {
    run("raid.toml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hype_burst_becomes_a_clip_candidate() {
    run("hype.toml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dying_chat_lowers_momentum_and_suggests_a_question() {
    run("dying.toml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_spike_lowers_safety_and_suggests_slow_mode() {
    run("toxic.toml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_questions_pile_up_and_responsiveness_falls() {
    run("ignored_questions.toml").await;
}

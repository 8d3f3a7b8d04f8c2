//! Autonomy, the action queue, goals and playbooks through the whole runtime: simulator ->
//! ingest -> channel actor on a manual clock, the real API over a socket, real Postgres.
//! Each test drives time itself (clock + `tick_all`), so every decision is deterministic.

use std::sync::Arc;
use std::time::Duration;

use byte_actors::clock::ManualClock;
use bytebot::app::Hooks;
use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, eventually};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 20, 0, 0).unwrap()
}

struct Run {
    t: TestApp,
    clock: Arc<ManualClock>,
    channel: String,
    chats: u64,
    events: u64,
    id: usize,
}

impl Run {
    async fn start(channel: &str) -> Run {
        let clock = Arc::new(ManualClock::new(t0()));
        let hooks = Hooks {
            clock: clock.clone(),
            tick_every: None,
            ..Hooks::default()
        };
        let channels = vec![channel.to_owned()];
        // Logged in as the bot, so executed chat actions really reach the simulator.
        let t = TestApp::start_with_hooks(
            &channels,
            |args| {
                args.bot_login = Some("bytebot".into());
                args.oauth_token = Some(bytebot::config::Secret::new("oauth-test-token"));
            },
            hooks,
        )
        .await;
        let run = Run {
            t,
            clock,
            channel: channel.to_owned(),
            chats: 0,
            events: 0,
            id: 0,
        };
        // The first tick starts the autonomy boot load; wait until it has answered.
        run.tick().await;
        eventually("autonomy loaded", Duration::from_secs(20), || async {
            let g = run.get(&run.path("/goals")).await;
            g["autonomy_ready"].as_bool().unwrap_or(false).then_some(())
        })
        .await;
        run
    }

    fn path(&self, p: &str) -> String {
        format!("/api/v1/channels/{}{p}", self.channel)
    }

    fn at(&self, secs: i64) {
        self.clock.set(t0() + chrono::Duration::seconds(secs));
    }

    fn now(&self) -> DateTime<Utc> {
        use byte_actors::clock::Clock;
        self.clock.now()
    }

    /// A chat line from `user` (`staff`: sent as the broadcaster).
    fn chat(&mut self, user: &str, text: &str, staff: bool) {
        self.id += 1;
        let (user, badges) = if staff {
            (self.channel.clone(), "broadcaster/1")
        } else {
            (user.to_owned(), "")
        };
        let line = format!(
            "@badge-info=;badges={badges};color=#1E90FF;display-name={user};emotes=;flags=;id=aut-{}-{};\
             mod=0;room-id=1;subscriber=0;tmi-sent-ts={};turbo=0;user-id={};user-type= \
             :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{} :{text}",
            self.channel,
            self.id,
            self.now().timestamp_millis(),
            1000 + user.len() * 7 + user.bytes().map(usize::from).sum::<usize>(),
            self.channel
        );
        assert_eq!(self.t.sim.inject_raw(&line), 1);
        self.chats += 1;
    }

    fn sub(&mut self, user: &str) {
        self.id += 1;
        let line = format!(
            "@badge-info=;badges=;color=;display-name={user};emotes=;flags=;id=aut-sub-{};login={user};mod=0;\
             msg-id=sub;msg-param-cumulative-months=1;msg-param-months=0;msg-param-should-share-streak=0;\
             msg-param-sub-plan-name=Channel\\sSubscription;msg-param-sub-plan=1000;room-id=1;subscriber=1;\
             system-msg={user}\\ssubscribed;tmi-sent-ts={};user-id=4242;user-type= :tmi.twitch.tv USERNOTICE #{}",
            self.id,
            self.now().timestamp_millis(),
            self.channel
        );
        assert_eq!(self.t.sim.inject_raw(&line), 1);
        self.events += 1;
    }

    /// Waits for every injected line to reach the actor, then ticks it.
    async fn tick(&self) {
        let counters = self
            .t
            .app
            .runtime()
            .directory()
            .counters(&self.channel)
            .unwrap();
        let (chats, events) = (self.chats, self.events);
        eventually(
            "lines reached the channel actor",
            Duration::from_secs(10),
            || async {
                (counters.messages_seen() >= chats && counters.events_seen() >= events)
                    .then_some(())
            },
        )
        .await;
        self.t.app.runtime().tick_all();
    }

    async fn get(&self, path: &str) -> Value {
        self.t.get_json(path).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.t.api(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn step(&self) -> Value {
        let (status, body) = self
            .send(Method::POST, &self.path("/autonomy/tick"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn actions(&self, query: &str) -> Vec<Value> {
        self.get(&self.path(&format!("/actions{query}"))).await["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until the queue holds an action of `intent` in `status`.
    async fn wait_action(&self, intent: &str, status: &str) -> Value {
        eventually(
            &format!("a {status} {intent}"),
            Duration::from_secs(10),
            || async {
                self.actions("?limit=100")
                    .await
                    .into_iter()
                    .find(|a| a["intent"] == intent && a["status"] == status)
            },
        )
        .await
    }

    /// Staff chat at 0 s, then silence until `quiet_until`, ticked there: chat is dead.
    async fn dead_chat(&mut self, quiet_until: i64) {
        self.at(1);
        self.chat("", "hello chat, starting soon", true);
        self.tick().await;
        self.at(quiet_until);
        self.tick().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_chat_question_waits_for_approval_and_rejection_never_executes() {
    let mut r = Run::start("aut_dead").await;
    r.dead_chat(240).await;
    // The scheduled step at that tick ran the dead-chat playbook: one question in the queue.
    let q = r.wait_action("engagement_question", "proposed").await;
    assert_eq!(q["kind"], "chat_message");
    assert_eq!(q["origin"], "playbook");
    assert_eq!(q["playbook"], "dead_chat");
    assert!(q["reason"].as_str().unwrap().contains("no chat for"), "{q}");
    assert!(q["executed_at"].is_null() && q["result"].is_null());
    // A step now is within the cooldown: nothing new, and it says why.
    let step = r.step().await;
    assert!(
        step["report"]["actions"].as_array().unwrap().is_empty(),
        "{step}"
    );
    assert_eq!(
        r.actions("?status=proposed").await.len(),
        1,
        "still exactly one proposal"
    );
    let runs = r.get(&r.path("/playbooks/runs")).await;
    assert_eq!(runs["items"][0]["playbook"], "dead_chat");
    assert_eq!(runs["items"][0]["trigger"], "automatic");

    // Approving executes it, and the result is recorded.
    let id = q["id"].as_i64().unwrap();
    let (status, done) = r
        .send(
            Method::POST,
            &r.path(&format!("/actions/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(
        ["executed", "failed"].contains(&done["status"].as_str().unwrap()),
        "{done}"
    );
    assert_eq!(done["decided_by"], "admin");
    assert_eq!(done["status"], "executed", "{done}");
    assert_eq!(done["result"]["said"]["delivered"], true, "{done}");
    let question = q["payload"]["text"].as_str().unwrap().to_owned();
    let said = eventually("the question in chat", Duration::from_secs(10), || async {
        let m = r.t.sim.client_messages(&r.channel);
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].text, question);
    assert_eq!(said[0].login, "bytebot");
    assert!(
        !done["result"].is_null() && !done["executed_at"].is_null(),
        "{done}"
    );
    // Approving twice is a conflict, not a second execution.
    let (status, _) = r
        .send(
            Method::POST,
            &r.path(&format!("/actions/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A playbook run by hand proposes another question; rejected, it never runs.
    let (status, run) = r
        .send(Method::POST, &r.path("/playbooks/dead_chat/run"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let manual = &run["actions"][0];
    assert_eq!(manual["status"], "proposed");
    let mid = manual["id"].as_i64().unwrap();
    let (status, rejected) = r
        .send(
            Method::POST,
            &r.path(&format!("/actions/{mid}/reject")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected["status"], "rejected");
    let (status, _) = r
        .send(
            Method::POST,
            &r.path(&format!("/actions/{mid}/approve")),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a rejected action cannot be approved"
    );
    assert_eq!(
        r.t.sim.client_messages(&r.channel).len(),
        1,
        "the rejected question never reached chat"
    );
    let stored = r.actions("?status=rejected").await;
    assert!(stored[0]["executed_at"].is_null() && stored[0]["result"].is_null());
    let runs = r.get(&r.path("/playbooks/runs")).await;
    assert_eq!(runs["items"][0]["trigger"], "manual");
    assert_eq!(runs["items"][0]["triggered_by"], "admin");

    // Metrics count what happened.
    let metrics = r.t.metrics_text().await;
    for (name, labels) in [
        (
            "byte_autonomy_actions_proposed_total",
            ["kind=\"chat_message\"", "mode=\"suggest\""],
        ),
        (
            "byte_autonomy_actions_decided_total",
            ["kind=\"chat_message\"", "decision=\"approved\""],
        ),
        (
            "byte_playbook_runs_total",
            ["playbook=\"dead_chat\"", "trigger=\"manual\""],
        ),
    ] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
            .unwrap_or_else(|| panic!("{name} {labels:?} missing"));
        assert!(!line.ends_with(" 0"), "{line}");
    }
    r.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_executes_without_approval_and_pause_decides_nothing() {
    let mut r = Run::start("aut_auto").await;
    let (status, policy) = r
        .send(
            Method::PUT,
            &r.path("/autonomy"),
            Some(json!({"modes": {"chat_message": "auto"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    assert_eq!(policy["modes"]["chat_message"], "auto");
    assert_eq!(policy["modes"]["slow_mode"], "suggest");
    r.dead_chat(240).await;
    let a = eventually(
        "the automatic question ran",
        Duration::from_secs(10),
        || async {
            r.actions("").await.into_iter().find(|a| {
                a["intent"] == "engagement_question"
                    && a["status"] != "approved"
                    && a["status"] != "executing"
            })
        },
    )
    .await;
    assert_eq!(a["auto"], true);
    assert_eq!(a["decided_by"], "policy");
    assert_eq!(a["status"], "executed", "{a}");
    let question = a["payload"]["text"].as_str().unwrap().to_owned();
    eventually("the question in chat", Duration::from_secs(10), || async {
        let m = r.t.sim.client_messages(&r.channel);
        m.iter().any(|m| m.text == question).then_some(())
    })
    .await;

    // A first-time chatter is greeted automatically, and the executed greeting counts
    // towards the greeting goal.
    let (status, _) = r
        .send(
            Method::PUT,
            &r.path("/goals"),
            Some(json!({"greet_first_timers": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    r.at(260);
    r.chat("newbie", "hello! first time here", false);
    r.tick().await;
    r.at(271);
    r.tick().await;
    let greet = r.wait_action("greet_first_timer", "executed").await;
    assert_eq!(greet["target"], "newbie");
    let goals = eventually("greeting counted", Duration::from_secs(10), || async {
        let g = r.get(&r.path("/goals")).await;
        (g["progress"][0]["met"] == true).then_some(g)
    })
    .await;
    assert_eq!(
        goals["progress"][0]["detail"],
        "1 of 1 first-time chatters greeted"
    );
    let before = r.actions("").await.len();

    // Paused: a step decides nothing, whatever chat does.
    let (status, _) = r
        .send(
            Method::PUT,
            &r.path("/agent"),
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    r.at(1500);
    r.tick().await;
    let step = r.step().await;
    assert_eq!(
        step["report"]["skipped"],
        "the agent is paused in this channel"
    );
    assert!(step["actions"].as_array().unwrap().is_empty());
    let (status, body) = r
        .send(Method::POST, &r.path("/playbooks/dead_chat/run"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        r.actions("").await.len(),
        before,
        "nothing new while paused"
    );

    // Suspended fleet-wide: same.
    r.send(
        Method::PUT,
        &r.path("/agent"),
        Some(json!({"paused": false})),
    )
    .await;
    let (status, _) = r
        .send(Method::POST, "/api/v1/agent/suspend-all", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let step = r.step().await;
    assert_eq!(
        step["report"]["skipped"],
        "the agent is suspended fleet-wide"
    );
    r.send(Method::POST, "/api/v1/agent/resume-all", None).await;
    r.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goals_are_recorded_met_or_missed_when_the_session_ends() {
    let mut r = Run::start("aut_goals").await;
    let (status, body) = r
        .send(
            Method::PUT,
            &r.path("/goals"),
            Some(json!({
                "chat_rate": {"per_min": 4, "minutes": 1},
                "greet_first_timers": {},
                "subs": {"target": 2},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["goals"]["greet_first_timers"]["share"], 1.0);
    // Two minutes of lively chat (6/min), a first-timer the streamer greets, one sub.
    r.at(1);
    r.chat("newbie", "hi everyone, first time here", false);
    r.tick().await;
    r.step().await;
    for sec in (5..=150).step_by(10) {
        r.at(sec);
        r.chat(
            &format!("regular{}", sec % 3),
            "this run is going well",
            false,
        );
        if sec == 15 {
            r.chat("", "welcome @newbie, glad you found us", true);
        }
        if sec == 45 {
            r.sub("supporter");
        }
        r.tick().await;
        if sec % 30 == 5 {
            r.step().await;
        }
    }
    let live = r.get(&r.path("/goals")).await;
    let sid = live["session_id"].as_str().unwrap().to_owned();
    let progress = live["progress"].as_array().unwrap();
    assert_eq!(progress.len(), 3, "{live}");

    let (status, _) = r
        .send(
            Method::POST,
            &r.path("/session"),
            Some(json!({"action": "stop"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let outcomes = eventually("goal outcomes stored", Duration::from_secs(10), || async {
        let o = bytebot::store::autonomy::goal_outcomes(&r.t.db.pool, &r.channel, &sid)
            .await
            .unwrap();
        (o.len() == 3).then_some(o)
    })
    .await;
    let by = |k: &str| {
        outcomes
            .iter()
            .find(|o| serde_json::to_value(o.kind).unwrap() == k)
            .unwrap()
            .clone()
    };
    let chat = by("chat_rate");
    assert!(chat.met && chat.actual >= 1.0, "{chat:?}");
    let greet = by("greet_first_timers");
    // newbie (staff greeting) and the regulars (each greeted by... nobody): the share says so.
    assert!(greet.actual > 0.0 && greet.actual <= 1.0, "{greet:?}");
    let subs = by("subs");
    assert_eq!(
        (subs.target, subs.actual, subs.met),
        (2.0, 1.0, false),
        "{subs:?}"
    );
    let view = r.get(&r.path("/goals")).await;
    assert_eq!(view["outcomes"][0]["session_id"], sid.as_str());
    r.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_spike_proposes_slow_mode_and_a_hint() {
    let mut r = Run::start("aut_toxic").await;
    let list = r.get("/api/v1/playbooks").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["toxicity_spike", "dead_chat", "raid_welcome"]);
    assert!(
        list["items"][0]["trigger"]
            .as_str()
            .unwrap()
            .contains("toxic")
    );
    r.at(1);
    for i in 0..12 {
        r.at(1 + i * 3);
        let text = ["you are trash", "stfu streamer", "kys", "nice"][(i % 4) as usize];
        r.chat(&format!("troll{}", i % 5), text, false);
    }
    r.tick().await;
    let slow = r.wait_action("slow_mode_toxicity", "proposed").await;
    assert_eq!(slow["kind"], "slow_mode");
    assert_eq!(slow["payload"]["seconds"], 30);
    let hint = r.wait_action("toxicity_hint", "proposed").await;
    assert_eq!(hint["kind"], "coaching_hint");
    assert!(hint["reason"].as_str().unwrap().contains("toxic"), "{hint}");
    // Slow mode is set by hand: approving it records the acknowledgement.
    let id = slow["id"].as_i64().unwrap();
    let (status, done) = r
        .send(
            Method::POST,
            &r.path(&format!("/actions/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["status"], "acknowledged");
    assert_eq!(done["result"]["by_hand"], true);
    let id = hint["id"].as_i64().unwrap();
    let (_, done) = r
        .send(
            Method::POST,
            &r.path(&format!("/actions/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(done["status"], "executed");
    let runs = r.get(&r.path("/playbooks/runs")).await;
    assert_eq!(runs["items"][0]["playbook"], "toxicity_spike");
    r.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_channel_actor_does_not_duplicate_queued_actions() {
    let mut r = Run::start("aut_crash").await;
    r.dead_chat(240).await;
    r.wait_action("engagement_question", "proposed").await;
    let before =
        r.t.app
            .runtime()
            .directory()
            .actor(&r.channel)
            .unwrap()
            .get_id();
    assert!(r.t.app.runtime().crash_channel(&r.channel, "test"));
    eventually("channel restarted", Duration::from_secs(20), || async {
        r.t.app
            .runtime()
            .directory()
            .actor(&r.channel)
            .filter(|a| a.get_id() != before)
            .map(|_| ())
    })
    .await;
    // The new incarnation restores, loads autonomy, and decides again at the same moment.
    r.at(250);
    r.tick().await;
    eventually(
        "restarted autonomy loaded",
        Duration::from_secs(20),
        || async {
            r.t.app.runtime().tick_all();
            let g = r.get(&r.path("/goals")).await;
            g["autonomy_ready"].as_bool().unwrap_or(false).then_some(())
        },
    )
    .await;
    let step = r.step().await;
    assert!(
        step["report"]["actions"].as_array().unwrap().is_empty(),
        "{step}"
    );
    let questions: Vec<Value> = r
        .actions("?limit=100")
        .await
        .into_iter()
        .filter(|a| a["intent"] == "engagement_question")
        .collect();
    assert_eq!(questions.len(), 1, "{questions:?}");
    r.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_a_400_that_says_what_to_fix() {
    let r = Run::start("aut_valid").await;
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::PUT,
            r.path("/goals"),
            Some(json!({"subs": {"target": 0}})),
            "subs.target",
        ),
        (
            Method::PUT,
            r.path("/goals"),
            Some(json!({"sub": {"target": 3}})),
            "unknown field",
        ),
        (
            Method::PUT,
            r.path("/goals"),
            Some(json!({"chat_rate": {"per_min": 10, "minutes": 0}})),
            "chat_rate.minutes",
        ),
        (
            Method::PUT,
            r.path("/goals"),
            Some(json!({"greet_first_timers": {"share": 1.5}})),
            "share",
        ),
        (
            Method::PUT,
            r.path("/autonomy"),
            Some(json!({"modes": {"slow_mode": "auto"}})),
            "slow_mode cannot be auto",
        ),
        (
            Method::PUT,
            r.path("/autonomy"),
            Some(json!({"step_every_secs": 5})),
            "step_every_secs",
        ),
        (
            Method::PUT,
            r.path("/autonomy"),
            Some(json!({"modes": {"chat_message": "sometimes"}})),
            "unknown variant",
        ),
        (
            Method::GET,
            r.path("/actions?status=bogus"),
            None,
            "`status` must be one of",
        ),
        (Method::GET, r.path("/actions?limit=0"), None, "`limit`"),
        (
            Method::GET,
            r.path("/playbooks/runs?limit=9999"),
            None,
            "`limit`",
        ),
        (Method::POST, r.path("/actions/abc/approve"), None, "i64"),
        (
            Method::POST,
            r.path("/playbooks/nope/run"),
            None,
            "toxicity_spike",
        ),
    ];
    for (method, path, body, needle) in cases {
        let (status, got) = r.send(method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {got}");
        let message = got["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(needle), "{method} {path}: {message}");
    }
    let (status, _) = r
        .send(Method::POST, &r.path("/actions/999999/approve"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = r
        .send(Method::POST, &r.path("/playbooks/raid_welcome/run"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "no raid to welcome");
    r.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_decide_queued_actions_but_not_the_policy() {
    let mut r = Run::start("aut_mods").await;
    let token = |role: &'static str| {
        let r = &r;
        async move {
            let (status, body) = r
                .send(
                    Method::POST,
                    &r.path("/tokens"),
                    Some(json!({"role": role})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let moderator = token("moderator").await;
    r.dead_chat(240).await;
    let q = r.wait_action("engagement_question", "proposed").await;
    let as_mod = |method: Method, path: String, body: Option<Value>| {
        let mut req =
            r.t.http
                .request(method, r.t.url(&path))
                .bearer_auth(&moderator);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let resp = as_mod(Method::GET, r.path("/actions"), None).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let id = q["id"].as_i64().unwrap();
    let resp = as_mod(Method::POST, r.path(&format!("/actions/{id}/reject")), None)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let row: Value = resp.json().await.unwrap();
    assert_eq!(row["status"], "rejected");
    assert_ne!(
        row["decided_by"], "admin",
        "the moderator's token id is recorded"
    );
    for (path, body) in [
        ("/goals", json!({"subs": {"target": 5}})),
        ("/autonomy", json!({"modes": {"chat_message": "auto"}})),
    ] {
        let resp = as_mod(Method::PUT, r.path(path), Some(body)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    }
    r.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_proposals_expire_and_cannot_be_approved() {
    let mut r = Run::start("aut_stale").await;
    r.dead_chat(240).await;
    let q = r.wait_action("engagement_question", "proposed").await;
    // Ten minutes after it was decided, the question is no longer worth asking.
    r.at(240 + 601);
    let expired = r.wait_action("engagement_question", "expired").await;
    assert_eq!(expired["id"], q["id"]);
    assert_eq!(expired["decided_by"], "expiry");
    let id = q["id"].as_i64().unwrap();
    let (status, body) = r
        .send(
            Method::POST,
            &r.path(&format!("/actions/{id}/approve")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    assert!(r.t.sim.client_messages(&r.channel).is_empty());
    r.t.stop().await;
}

//! Supervision behaviour: isolation, restart, quarantine and retry, on real actors.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ractor::{Actor, ActorRef};

use super::*;
use crate::faults::FaultPlan;
use crate::model::ChatRecord;
use crate::rpc::ask;

const T: Duration = Duration::from_secs(5);

fn login(s: &str) -> ChannelLogin {
    ChannelLogin::parse(s).unwrap()
}

fn chat(channel: &str, i: u64) -> ChannelMessage {
    let line = ChatRecord::test_line(
        channel,
        &format!("{channel}-{i}"),
        &format!("viewer{}", i % 10),
        "hello",
        Utc::now(),
    );
    ChannelMessage::Chat(Arc::new(ChatRecord {
        user_id: "7".into(),
        display_name: "V".into(),
        seq: line.seq + i as i64,
        ..line
    }))
}

async fn start(
    policy: RestartPolicy,
) -> (
    ActorRef<SupervisorMessage>,
    Arc<ChannelDirectory>,
    Arc<FaultPlan>,
) {
    let directory = ChannelDirectory::new();
    let faults = Arc::new(FaultPlan::default());
    let env = ChannelEnv::detached(faults.clone());
    let args = SupervisorArgs {
        policy,
        directory: directory.clone(),
        env,
    };
    let (sup, _) = Actor::spawn(None, ChannelSupervisor, args).await.unwrap();
    (sup, directory, faults)
}

async fn status(sup: &ActorRef<SupervisorMessage>, l: &str) -> ChannelStatus {
    ask(sup, |r| SupervisorMessage::Status(login(l), r), T)
        .await
        .unwrap()
        .unwrap()
}

async fn wait_for<F: Fn(&ChannelStatus) -> bool>(
    sup: &ActorRef<SupervisorMessage>,
    l: &str,
    f: F,
) -> ChannelStatus {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let s = status(sup, l).await;
        if f(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn context_messages(dir: &ChannelDirectory, l: &str) -> u64 {
    let actor = dir.actor(l).expect("actor running");
    ask(&actor, ChannelMessage::Snapshot, T)
        .await
        .unwrap()
        .context
        .messages
}

#[tokio::test]
async fn a_panicking_channel_restarts_without_disturbing_the_others() {
    let (sup, dir, _) = start(RestartPolicy::default()).await;
    for l in ["alpha", "bravo", "charlie"] {
        let out = ask(&sup, |r| SupervisorMessage::Join(login(l), r), T)
            .await
            .unwrap();
        assert_eq!(out, JoinOutcome::Joined);
    }
    for i in 0..100 {
        for l in ["alpha", "bravo", "charlie"] {
            dir.deliver(l, chat(l, i));
        }
    }
    let bravo_before = dir.actor("bravo").unwrap().get_id();
    dir.deliver("bravo", ChannelMessage::Crash("test".into()));
    for i in 100..200 {
        for l in ["alpha", "charlie"] {
            dir.deliver(l, chat(l, i));
        }
    }
    let s = wait_for(&sup, "bravo", |s| {
        s.status == Lifecycle::Running && s.restarts == 1
    })
    .await;
    assert!(s.last_failure.unwrap().contains("injected crash"));
    assert_ne!(
        dir.actor("bravo").unwrap().get_id(),
        bravo_before,
        "a new actor took over"
    );
    // The others never stopped: every message reached their original actors.
    assert_eq!(context_messages(&dir, "alpha").await, 200);
    assert_eq!(context_messages(&dir, "charlie").await, 200);
    assert_eq!(status(&sup, "alpha").await.restarts, 0);
    // Counters survive the restart; the fresh actor's state starts over.
    assert_eq!(status(&sup, "bravo").await.messages_seen, 100);
}

#[tokio::test]
async fn a_channel_that_fails_every_start_is_quarantined_then_retried() {
    let policy = RestartPolicy {
        max_restarts: 3,
        window: Duration::from_secs(60),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
    };
    let (sup, dir, faults) = start(policy).await;
    faults.set_fail_on_start("broken", true);
    ask(&sup, |r| SupervisorMessage::Join(login("broken"), r), T)
        .await
        .unwrap();
    ask(&sup, |r| SupervisorMessage::Join(login("healthy"), r), T)
        .await
        .unwrap();
    let s = wait_for(&sup, "broken", |s| s.status == Lifecycle::Quarantined).await;
    assert_eq!(s.restarts, 3, "restarts stop at the budget");
    assert!(s.quarantine_reason.unwrap().contains("4 failures"));
    assert!(dir.actor("broken").is_none());
    // The restart count stays put once quarantined: no endless loop.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(status(&sup, "broken").await.restarts, 3);
    assert_eq!(status(&sup, "healthy").await.status, Lifecycle::Running);

    let not_quarantined = ask(&sup, |r| SupervisorMessage::Retry(login("healthy"), r), T)
        .await
        .unwrap();
    assert_eq!(
        not_quarantined,
        Err(RetryError::NotQuarantined(Lifecycle::Running))
    );
    faults.set_fail_on_start("broken", false);
    let retried = ask(&sup, |r| SupervisorMessage::Retry(login("broken"), r), T)
        .await
        .unwrap();
    assert_eq!(retried, Ok(()));
    assert_eq!(status(&sup, "broken").await.status, Lifecycle::Running);
    assert!(dir.deliver("broken", chat("broken", 1)) == crate::directory::Delivery::Delivered);
}

#[tokio::test]
async fn part_stops_the_actor_and_forgets_the_channel() {
    let (sup, dir, _) = start(RestartPolicy::default()).await;
    ask(&sup, |r| SupervisorMessage::Join(login("alpha"), r), T)
        .await
        .unwrap();
    let again = ask(&sup, |r| SupervisorMessage::Join(login("alpha"), r), T)
        .await
        .unwrap();
    assert_eq!(again, JoinOutcome::AlreadyJoined);
    let actor = dir.actor("alpha").unwrap();
    assert!(
        ask(&sup, |r| SupervisorMessage::Part(login("alpha"), r), T)
            .await
            .unwrap()
    );
    assert!(
        !ask(&sup, |r| SupervisorMessage::Part(login("alpha"), r), T)
            .await
            .unwrap()
    );
    assert!(dir.actor("alpha").is_none());
    let list = ask(&sup, SupervisorMessage::List, T).await.unwrap();
    assert!(list.is_empty());
    // The parted actor is stopped, not restarted as a failure.
    let deadline = tokio::time::Instant::now() + T;
    while actor.get_status() != ractor::ActorStatus::Stopped {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

//! The channel supervisor: owns one channel actor per joined channel and applies the restart
//! policy per channel (immediate first restart, exponential backoff with jitter, at most R
//! restarts in T, then quarantine until an operator retries).
//!
//! ractor facts this is built around: the default `handle_supervisor_evt` would stop the
//! supervisor when any child exits, so every event is handled here on purpose; a failing
//! `pre_start` sends no supervision event (the spawn call returns the error), so spawn errors
//! go through the same failure path as panics; restarts are scheduled as messages to self,
//! never as recursion or sleeps inside a handler.

pub mod policy;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::agent::AgentSettings;
use crate::channel::{ChannelActor, ChannelArgs, ChannelEnv, ChannelMessage};
use crate::directory::{ChannelCounters, ChannelDirectory};
use crate::metrics as m;
use crate::model::ChannelLogin;
use policy::{Decision, RestartPolicy, RestartTracker};

/// Where a channel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// The actor is running.
    Running,
    /// The actor failed and a restart is scheduled.
    Restarting,
    /// The actor failed too often; it stays down until an operator retries it.
    Quarantined,
}

impl Lifecycle {
    /// Stable name, as serialized and used as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Lifecycle::Running => "running",
            Lifecycle::Restarting => "restarting",
            Lifecycle::Quarantined => "quarantined",
        }
    }
}

/// A channel's status as the API and dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStatus {
    /// Channel login.
    pub login: ChannelLogin,
    /// Running, restarting or quarantined.
    pub status: Lifecycle,
    /// Why the channel is quarantined, when it is.
    pub quarantine_reason: Option<String>,
    /// Restarts since the channel was joined.
    pub restarts: u64,
    /// The most recent failure, if any.
    pub last_failure: Option<String>,
    /// Chat messages received since the channel was joined.
    pub messages_seen: u64,
    /// Events received since the channel was joined.
    pub events_seen: u64,
    /// When the channel was joined in this process.
    pub joined_at: DateTime<Utc>,
    /// The agent's settings here.
    pub agent: AgentSettings,
}

/// Answer to a join request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinOutcome {
    /// The channel was not joined before.
    Joined,
    /// The channel was already joined; nothing changed.
    AlreadyJoined,
}

/// Why an operator retry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError {
    /// No such channel is joined.
    #[error("channel is not joined")]
    UnknownChannel,
    /// Only quarantined channels can be retried; others restart by themselves.
    #[error("channel is not quarantined (it is {0:?})")]
    NotQuarantined(Lifecycle),
}

/// Requests the channel supervisor handles.
#[derive(Debug)]
pub enum SupervisorMessage {
    /// Start a channel actor for this login.
    Join(ChannelLogin, RpcReplyPort<JoinOutcome>),
    /// Stop and forget the channel; replies whether it was joined.
    Part(ChannelLogin, RpcReplyPort<bool>),
    /// Restart a quarantined channel with a fresh restart budget.
    Retry(ChannelLogin, RpcReplyPort<Result<(), RetryError>>),
    /// Status of every channel, sorted by login.
    List(RpcReplyPort<Vec<ChannelStatus>>),
    /// Status of one channel.
    Status(ChannelLogin, RpcReplyPort<Option<ChannelStatus>>),
    /// New agent settings for the channel: kept for its future incarnations and sent to the
    /// live one; replies with the status, or `None` if the channel is not joined.
    SetAgent(
        ChannelLogin,
        AgentSettings,
        RpcReplyPort<Option<ChannelStatus>>,
    ),
    /// A scheduled restart is due (ignored if the channel moved on since).
    RestartDue {
        /// Channel to restart.
        login: ChannelLogin,
        /// The generation the restart was scheduled for.
        generation: u64,
    },
}

/// What the supervisor starts from.
#[derive(Debug, Clone)]
pub struct SupervisorArgs {
    /// Restart policy applied to each channel separately.
    pub policy: RestartPolicy,
    /// Shared login -> actor map the ingest path reads.
    pub directory: Arc<ChannelDirectory>,
    /// Resources handed to every channel actor.
    pub env: ChannelEnv,
}

#[derive(Debug)]
struct Entry {
    lifecycle: Lifecycle,
    tracker: RestartTracker,
    actor: Option<ActorRef<ChannelMessage>>,
    restarts: u64,
    last_failure: Option<String>,
    quarantine_reason: Option<String>,
    failed_at: Option<Instant>,
    generation: u64,
    joined_at: DateTime<Utc>,
    counters: Arc<ChannelCounters>,
    agent: AgentSettings,
}

/// Supervisor state.
#[derive(Debug)]
pub struct SupervisorState {
    args: SupervisorArgs,
    entries: HashMap<ChannelLogin, Entry>,
    by_actor: HashMap<ActorId, ChannelLogin>,
    counts: HashMap<Lifecycle, usize>,
}

impl SupervisorState {
    fn set_lifecycle(&mut self, login: &ChannelLogin, to: Lifecycle) {
        let Some(entry) = self.entries.get_mut(login) else {
            return;
        };
        let from = entry.lifecycle;
        entry.lifecycle = to;
        *self.counts.entry(from).or_default() -= 1;
        *self.counts.entry(to).or_default() += 1;
        self.publish_counts();
    }

    fn publish_counts(&self) {
        for l in [
            Lifecycle::Running,
            Lifecycle::Restarting,
            Lifecycle::Quarantined,
        ] {
            let n = self.counts.get(&l).copied().unwrap_or(0);
            metrics::gauge!(m::CHANNELS, "status" => l.label()).set(n as f64);
        }
    }

    fn status(&self, login: &ChannelLogin) -> Option<ChannelStatus> {
        let e = self.entries.get(login)?;
        Some(ChannelStatus {
            login: login.clone(),
            status: e.lifecycle,
            quarantine_reason: e.quarantine_reason.clone(),
            restarts: e.restarts,
            last_failure: e.last_failure.clone(),
            messages_seen: e.counters.messages_seen(),
            events_seen: e.counters.events_seen(),
            joined_at: e.joined_at,
            agent: e.agent.clone(),
        })
    }
}

/// The channel supervisor behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelSupervisor;

impl ChannelSupervisor {
    async fn start_channel(
        myself: &ActorRef<SupervisorMessage>,
        state: &mut SupervisorState,
        login: &ChannelLogin,
    ) {
        let entry = state.entries.get(login);
        let args = ChannelArgs {
            login: login.clone(),
            env: state.args.env.clone(),
            agent: entry.map(|e| e.agent.clone()).unwrap_or_default(),
            counters: entry.map(|e| e.counters.clone()).unwrap_or_default(),
        };
        match Actor::spawn_linked(None, ChannelActor, args, myself.get_cell()).await {
            Ok((actor, _join)) => {
                state.by_actor.insert(actor.get_id(), login.clone());
                state.args.directory.set_actor(login, Some(actor.clone()));
                // Only now: the restore's flush must come after the last row this channel
                // could have missed, i.e. after the actor became reachable (see channel::restore).
                let _ = actor.cast(ChannelMessage::Restore);
                let Some(entry) = state.entries.get_mut(login) else {
                    // Parted while spawning: nothing may outlive the part.
                    actor.stop(Some("parted".into()));
                    return;
                };
                entry.actor = Some(actor);
                if let Some(failed_at) = entry.failed_at.take() {
                    metrics::histogram!(m::CHANNEL_RESTART_SECONDS)
                        .record(failed_at.elapsed().as_secs_f64());
                }
                state.set_lifecycle(login, Lifecycle::Running);
            }
            Err(err) => {
                let reason = format!("start failed: {err}");
                Self::on_failure(myself, state, login, "start_failed", reason);
            }
        }
    }

    fn on_failure(
        myself: &ActorRef<SupervisorMessage>,
        state: &mut SupervisorState,
        login: &ChannelLogin,
        kind: &'static str,
        reason: String,
    ) {
        state.args.directory.set_actor(login, None);
        let policy = state.args.policy;
        let Some(entry) = state.entries.get_mut(login) else {
            return;
        };
        entry.actor = None;
        entry.failed_at.get_or_insert_with(Instant::now);
        entry.last_failure = Some(reason.clone());
        let decision = entry
            .tracker
            .on_failure(&policy, Instant::now(), rand::random::<f64>());
        match decision {
            Decision::Restart {
                delay,
                failures_in_window,
            } => {
                entry.restarts += 1;
                entry.generation += 1;
                let generation = entry.generation;
                metrics::counter!(m::CHANNEL_RESTARTS, "reason" => kind).increment(1);
                tracing::warn!(channel = %login, %reason, failures_in_window, delay_ms = delay.as_millis() as u64, "channel actor failed; restarting");
                let msg_login = login.clone();
                let build = move || SupervisorMessage::RestartDue {
                    login: msg_login,
                    generation,
                };
                if delay.is_zero() {
                    // A cast to self cannot fail while this handler runs.
                    let _ = myself.cast(build());
                } else {
                    myself.send_after(delay, build);
                }
                state.set_lifecycle(login, Lifecycle::Restarting);
            }
            Decision::Quarantine { failures_in_window } => {
                entry.generation += 1;
                entry.failed_at = None;
                entry.quarantine_reason = Some(format!(
                    "{failures_in_window} failures within {}s; last: {reason}",
                    policy.window.as_secs()
                ));
                metrics::counter!(m::CHANNEL_QUARANTINES, "reason" => kind).increment(1);
                tracing::error!(channel = %login, %reason, failures_in_window, "channel quarantined");
                state.set_lifecycle(login, Lifecycle::Quarantined);
            }
        }
    }
}

impl Actor for ChannelSupervisor {
    type Msg = SupervisorMessage;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let state = SupervisorState {
            args,
            entries: HashMap::new(),
            by_actor: HashMap::new(),
            counts: HashMap::new(),
        };
        state.publish_counts();
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SupervisorMessage,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMessage::Join(login, reply) => {
                if state.entries.contains_key(&login) {
                    let _ = reply.send(JoinOutcome::AlreadyJoined);
                    return Ok(());
                }
                let counters = state.args.directory.insert(&login);
                state.entries.insert(
                    login.clone(),
                    Entry {
                        // Counted as restarting until the spawn below succeeds.
                        lifecycle: Lifecycle::Restarting,
                        tracker: RestartTracker::default(),
                        actor: None,
                        restarts: 0,
                        last_failure: None,
                        quarantine_reason: None,
                        failed_at: None,
                        generation: 0,
                        joined_at: Utc::now(),
                        counters,
                        agent: AgentSettings::default(),
                    },
                );
                *state.counts.entry(Lifecycle::Restarting).or_default() += 1;
                Self::start_channel(&myself, state, &login).await;
                let _ = reply.send(JoinOutcome::Joined);
            }
            SupervisorMessage::Part(login, reply) => {
                let existed = match state.entries.remove(&login) {
                    Some(entry) => {
                        *state.counts.entry(entry.lifecycle).or_default() -= 1;
                        state.publish_counts();
                        state.args.directory.remove(&login);
                        if let Some(actor) = entry.actor {
                            state.by_actor.remove(&actor.get_id());
                            // Close the session, then let the mailbox drain before stopping.
                            let _ = actor.cast(ChannelMessage::Parting);
                            if actor.drain().is_err() {
                                actor.stop(Some("parted".into()));
                            }
                        }
                        true
                    }
                    None => false,
                };
                let _ = reply.send(existed);
            }
            SupervisorMessage::Retry(login, reply) => {
                let outcome = match state.entries.get_mut(&login) {
                    None => Err(RetryError::UnknownChannel),
                    Some(e) if e.lifecycle != Lifecycle::Quarantined => {
                        Err(RetryError::NotQuarantined(e.lifecycle))
                    }
                    Some(e) => {
                        e.tracker.reset();
                        e.quarantine_reason = None;
                        e.generation += 1;
                        Ok(())
                    }
                };
                if outcome.is_ok() {
                    tracing::info!(channel = %login, "operator retry of quarantined channel");
                    state.set_lifecycle(&login, Lifecycle::Restarting);
                    Self::start_channel(&myself, state, &login).await;
                }
                let _ = reply.send(outcome);
            }
            SupervisorMessage::List(reply) => {
                let mut all: Vec<ChannelStatus> = state
                    .entries
                    .keys()
                    .filter_map(|l| state.status(l))
                    .collect();
                all.sort_by(|a, b| a.login.cmp(&b.login));
                let _ = reply.send(all);
            }
            SupervisorMessage::Status(login, reply) => {
                let _ = reply.send(state.status(&login));
            }
            SupervisorMessage::SetAgent(login, settings, reply) => {
                if let Some(entry) = state.entries.get_mut(&login) {
                    entry.agent = settings.clone();
                    if let Some(actor) = &entry.actor {
                        // A dead actor's replacement starts from the entry anyway.
                        let _ = actor.cast(ChannelMessage::Agent(settings));
                    }
                }
                let _ = reply.send(state.status(&login));
            }
            SupervisorMessage::RestartDue { login, generation } => {
                let due = state
                    .entries
                    .get(&login)
                    .is_some_and(|e| e.generation == generation && e.actor.is_none());
                if due {
                    Self::start_channel(&myself, state, &login).await;
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                if let Some(login) = state.by_actor.remove(&cell.get_id()) {
                    Self::on_failure(&myself, state, &login, "panic", err.to_string());
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                // Parted channels were removed from `by_actor` before being stopped, so a
                // hit here is an actor that stopped without being asked to.
                if let Some(login) = state.by_actor.remove(&cell.get_id()) {
                    let reason = format!("stopped unexpectedly: {}", reason.unwrap_or_default());
                    Self::on_failure(&myself, state, &login, "panic", reason);
                }
            }
            SupervisionEvent::ActorStarted(_) | SupervisionEvent::ProcessGroupChanged(_) => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        _state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        myself
            .get_cell()
            .stop_children_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

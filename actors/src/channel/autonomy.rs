//! The channel actor's autonomy hook: owns the channel's [`Decider`], loads its
//! configuration and recent decisions from the store when the actor starts (through the
//! [`ActionSink`] port, off the actor), runs the scheduled step from the tick, answers
//! routed requests, and hands every result to the sink.
//!
//! Until the boot load has answered, nothing is decided: a restarted actor must first learn
//! what its predecessor decided (cooldowns, greetings), or it would decide it again.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use ractor::{ActorRef, RpcReplyPort};

use crate::agent::SuspendSwitch;
use crate::autonomy::{
    ActionSink, AutonomyReply, AutonomyRequest, Decider, StepInput, StepReport, StepTrigger,
    Submission,
};
use crate::intel::session::Session;
use crate::metrics as m;
use crate::model::ChannelLogin;

use super::{ChannelIntel, ChannelMessage};

/// Wait before retrying a failed boot load.
const BOOT_RETRY: Duration = Duration::seconds(30);

/// What autonomy needs from the runtime.
#[derive(Clone)]
pub struct AutonomyEnv {
    /// Where decisions go, and where the configuration comes from.
    pub sink: Arc<dyn ActionSink>,
    /// The fleet-wide suspend switch.
    pub suspend: Arc<SuspendSwitch>,
}

impl std::fmt::Debug for AutonomyEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutonomyEnv").finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Boot {
    /// Not asked yet, or asking again after this instant.
    Unloaded(Option<DateTime<Utc>>),
    /// A load is in flight.
    Loading,
    /// Loaded (or no store: defaults).
    Ready,
}

/// A channel's autonomy state, owned by its actor.
#[derive(Debug)]
pub struct AutonomyHook {
    env: Option<AutonomyEnv>,
    boot: Boot,
    decider: Decider,
}

impl AutonomyHook {
    /// A hook for a new actor incarnation; without an environment it never decides by
    /// itself (unit tests and benchmarks of the bare actor) but answers requests.
    pub fn new(env: Option<AutonomyEnv>) -> Self {
        Self {
            boot: if env.is_some() {
                Boot::Unloaded(None)
            } else {
                Boot::Ready
            },
            env,
            decider: Decider::default(),
        }
    }

    fn ready(&self) -> bool {
        matches!(self.boot, Boot::Ready) && self.env.is_some()
    }

    fn suspended(&self) -> bool {
        self.env.as_ref().is_some_and(|e| e.suspend.is_suspended())
    }

    /// Starts the boot load when it is due (off the actor: the answer comes back as
    /// [`AutonomyRequest::Booted`]).
    fn load(
        &mut self,
        login: &ChannelLogin,
        now: DateTime<Utc>,
        myself: &ActorRef<ChannelMessage>,
    ) {
        let (Boot::Unloaded(after), Some(env)) = (&self.boot, &self.env) else {
            return;
        };
        if after.is_some_and(|t| now < t) {
            return;
        }
        self.boot = Boot::Loading;
        let (sink, login, me) = (env.sink.clone(), login.clone(), myself.clone());
        tokio::spawn(async move {
            let out = sink
                .boot(&login)
                .await
                .map(Box::new)
                .map_err(|e| e.to_string());
            let _ = me.cast(ChannelMessage::Autonomy(AutonomyRequest::Booted(out), None));
        });
    }

    /// From the actor's tick: loads the configuration, then runs the scheduled step when due.
    pub fn on_tick(
        &mut self,
        login: &ChannelLogin,
        now: DateTime<Utc>,
        intel: &ChannelIntel,
        paused: bool,
        myself: &ActorRef<ChannelMessage>,
    ) {
        self.load(login, now, myself);
        if !self.ready() || !self.decider.due(now) {
            return;
        }
        self.step(login, now, intel, paused, StepTrigger::Scheduled);
    }

    fn step(
        &mut self,
        login: &ChannelLogin,
        now: DateTime<Utc>,
        intel: &ChannelIntel,
        paused: bool,
        trigger: StepTrigger,
    ) -> StepReport {
        let _span =
            tracing::debug_span!("autonomy_step", channel = %login, trigger = trigger.as_str())
                .entered();
        // Signals and session only: the whole live view renders every hint and explanation.
        let signals = intel
            .last_signals_copy()
            .unwrap_or_else(|| intel.signals_at(now));
        let session = intel.current_session();
        let report = self.decider.step(StepInput {
            now,
            signals: &signals,
            session: session.as_ref(),
            paused,
            suspended: self.suspended(),
            trigger,
        });
        let outcome = if report.skipped.is_some() {
            "skipped"
        } else if report.actions.is_empty() {
            "nothing"
        } else {
            "decided"
        };
        metrics::counter!(m::AUTONOMY_STEPS, "trigger" => trigger.as_str(), "outcome" => outcome)
            .increment(1);
        self.hand_over(login, &report);
        report
    }

    fn hand_over(&self, login: &ChannelLogin, report: &StepReport) {
        for a in &report.actions {
            metrics::counter!(m::AUTONOMY_ACTIONS_PROPOSED, "kind" => a.kind.as_str(),
                "mode" => if a.auto { "auto" } else { "suggest" })
            .increment(1);
        }
        for r in &report.playbook_runs {
            metrics::counter!(m::PLAYBOOK_RUNS, "playbook" => r.playbook.as_str(),
                "trigger" => r.trigger.as_str())
            .increment(1);
        }
        if !report.actions.is_empty() || !report.playbook_runs.is_empty() {
            tracing::info!(channel = %login, actions = report.actions.len(),
                runs = report.playbook_runs.len(), "autonomy decided");
        }
        if let Some(env) = &self.env {
            let sub = report.submission();
            if !sub.is_empty() {
                env.sink.submit(login, sub);
            }
        }
    }

    /// A session closed: records each goal's KPI for it.
    pub fn on_session_ended(&self, login: &ChannelLogin, session: &Session) {
        let Some(env) = &self.env else {
            return;
        };
        let outcomes = self.decider.outcomes(session);
        if outcomes.is_empty() {
            return;
        }
        for o in &outcomes {
            metrics::counter!(m::GOALS_EVALUATED, "kind" => o.kind.as_str(),
                "outcome" => if o.met { "met" } else { "missed" })
            .increment(1);
        }
        env.sink.submit(
            login,
            Submission {
                outcomes: Some((session.id.clone(), outcomes)),
                ..Submission::default()
            },
        );
    }

    /// A routed request. (The actor's fields come in one by one because they are disjoint
    /// borrows of its state.)
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        login: &ChannelLogin,
        now: DateTime<Utc>,
        intel: &ChannelIntel,
        paused: bool,
        request: AutonomyRequest,
        reply: Option<RpcReplyPort<AutonomyReply>>,
        myself: &ActorRef<ChannelMessage>,
    ) {
        if !matches!(request, AutonomyRequest::Booted(_)) {
            // A request before the first tick starts the load, so the next one finds it.
            self.load(login, now, myself);
        }
        let answer = match request {
            AutonomyRequest::Booted(Ok(boot)) => {
                self.decider = Decider::from_boot(*boot);
                // Spread the channels' scheduled steps over the period (see `step_phase`).
                self.decider.place_first_step(login.as_str(), now);
                self.boot = Boot::Ready;
                AutonomyReply::Ok
            }
            AutonomyRequest::Booted(Err(reason)) => {
                tracing::warn!(channel = %login, %reason, "autonomy configuration not loaded; retrying later");
                self.boot = Boot::Unloaded(Some(now + BOOT_RETRY));
                AutonomyReply::Ok
            }
            AutonomyRequest::Configure(config) => {
                self.decider.configure(*config);
                AutonomyReply::Ok
            }
            AutonomyRequest::Executed { intent, target } => {
                self.decider.executed(intent, target.as_deref());
                AutonomyReply::Ok
            }
            AutonomyRequest::Progress => {
                let session = intel.current_session();
                AutonomyReply::Progress {
                    session_id: session.as_ref().map(|s| s.id.clone()),
                    goals: self.decider.progress(session.as_ref()),
                    ready: matches!(self.boot, Boot::Ready),
                }
            }
            AutonomyRequest::Step => {
                if matches!(self.boot, Boot::Ready) {
                    AutonomyReply::Step(Box::new(self.step(
                        login,
                        now,
                        intel,
                        paused,
                        StepTrigger::Manual,
                    )))
                } else {
                    AutonomyReply::Step(Box::new(self.not_ready(now, intel)))
                }
            }
            AutonomyRequest::RunPlaybook { playbook, by } => {
                if matches!(self.boot, Boot::Ready) {
                    let signals = intel
                        .last_signals_copy()
                        .unwrap_or_else(|| intel.signals_at(now));
                    let session = intel.current_session();
                    let report = self.decider.run_playbook(
                        playbook,
                        StepInput {
                            now,
                            signals: &signals,
                            session: session.as_ref(),
                            paused,
                            suspended: self.suspended(),
                            trigger: StepTrigger::Manual,
                        },
                        &by,
                    );
                    self.hand_over(login, &report);
                    AutonomyReply::Step(Box::new(report))
                } else {
                    AutonomyReply::Step(Box::new(self.not_ready(now, intel)))
                }
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(answer);
        }
    }

    fn not_ready(&self, now: DateTime<Utc>, intel: &ChannelIntel) -> StepReport {
        let session = intel.current_session();
        StepReport {
            at: now,
            trigger: StepTrigger::Manual,
            skipped: Some(
                "the channel's autonomy configuration is still loading; try again in a moment"
                    .into(),
            ),
            actions: vec![],
            playbook_runs: vec![],
            suppressed: vec![],
            goals: self.decider.progress(session.as_ref()),
            session_id: session.map(|s| s.id),
        }
    }
}

//! The Router actor: the one door from the dashboard/API into the actor tree. Each command
//! is dispatched to the supervisor or the channel actor with a timeout, in a task of its own,
//! so a slow channel never holds up commands for the others.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::agent::{AgentSettings, SuspendSwitch};
use crate::channel::{ChannelMessage, ChannelSnapshot, ChannelSummary};
use crate::directory::ChannelDirectory;
use crate::metrics as m;
use crate::model::ChannelLogin;
use crate::ports::ChatSource;
use crate::rpc::{CallError, ask};
use crate::supervisor::{ChannelStatus, JoinOutcome, Lifecycle, RetryError, SupervisorMessage};

/// Why a routed command failed. Each maps to one HTTP status at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// The channel is not joined.
    #[error("channel {0} is not joined")]
    UnknownChannel(ChannelLogin),
    /// The channel is joined but its actor is down (restarting or quarantined).
    #[error("channel {0} is {1:?}; its live state is unavailable right now")]
    ChannelDown(ChannelLogin, Lifecycle),
    /// Retry asked for a channel that is not quarantined.
    #[error(
        "channel {0} is not quarantined (it is {1:?}); only quarantined channels can be retried"
    )]
    NotQuarantined(ChannelLogin, Lifecycle),
    /// An actor did not answer in time.
    #[error("the runtime did not answer within {0:?}")]
    Timeout(Duration),
    /// The actor tree is shutting down.
    #[error("the runtime is shutting down")]
    Unavailable,
}

impl From<CallError> for RouterError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout(d) => {
                metrics::counter!(m::ROUTER_TIMEOUTS).increment(1);
                RouterError::Timeout(d)
            }
            CallError::Unavailable => RouterError::Unavailable,
        }
    }
}

/// Reply port for a routed command.
pub type Reply<T> = RpcReplyPort<Result<T, RouterError>>;

/// Commands the Router dispatches.
#[derive(Debug)]
pub enum RouterMessage {
    /// Join a channel: start its actor, then ask the chat source for its chat.
    Join(ChannelLogin, Reply<JoinOutcome>),
    /// Part a channel; replies whether it was joined.
    Part(ChannelLogin, Reply<bool>),
    /// Retry a quarantined channel.
    Retry(ChannelLogin, Reply<()>),
    /// Status of every channel.
    List(Reply<Vec<ChannelStatus>>),
    /// Status of one channel.
    Status(ChannelLogin, Reply<ChannelStatus>),
    /// The live state held by the channel's actor.
    Snapshot(ChannelLogin, Reply<ChannelSnapshot>),
    /// New agent settings for a channel (already persisted by the caller).
    SetAgent(ChannelLogin, AgentSettings, Reply<ChannelStatus>),
    /// The fleet view's summary of a running channel.
    Summary(ChannelLogin, Reply<ChannelSummary>),
    /// Suspend (true) or resume (false) the agent everywhere; replies with the number of
    /// channels affected.
    SuspendAll(bool, Reply<usize>),
    /// Start (true) or stop (false) the channel's session.
    Session(
        ChannelLogin,
        bool,
        Reply<Option<crate::intel::session::Session>>,
    ),
    /// A request to the channel's autonomy (step, playbook run, configuration, feedback).
    Autonomy(
        ChannelLogin,
        crate::autonomy::AutonomyRequest,
        Reply<crate::autonomy::AutonomyReply>,
    ),
}

/// What the Router starts from.
#[derive(Clone)]
pub struct RouterArgs {
    /// The channel supervisor.
    pub supervisor: ActorRef<SupervisorMessage>,
    /// Login -> channel actor map.
    pub directory: Arc<ChannelDirectory>,
    /// Where JOIN/PART go once the actor side is done.
    pub chat_source: Arc<dyn ChatSource>,
    /// Timeout for every call into the tree.
    pub call_timeout: Duration,
    /// The fleet-wide agent switch.
    pub suspend: Arc<SuspendSwitch>,
}

impl std::fmt::Debug for RouterArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterArgs")
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

/// The Router behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct Router;

impl Actor for Router {
    type Msg = RouterMessage;
    type State = RouterArgs;
    type Arguments = RouterArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: RouterArgs,
    ) -> Result<RouterArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: RouterMessage,
        state: &mut RouterArgs,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = state.clone();
        tokio::spawn(async move { dispatch(ctx, message).await });
        Ok(())
    }
}

/// The channel's running actor, or why there is none (not joined, restarting, quarantined).
async fn live_actor(
    ctx: &RouterArgs,
    login: &ChannelLogin,
) -> Result<ractor::ActorRef<ChannelMessage>, RouterError> {
    if let Some(actor) = ctx.directory.actor(login.as_str()) {
        return Ok(actor);
    }
    match ask(
        &ctx.supervisor,
        |r| SupervisorMessage::Status(login.clone(), r),
        ctx.call_timeout,
    )
    .await
    {
        Ok(Some(s)) => Err(RouterError::ChannelDown(login.clone(), s.status)),
        Ok(None) => Err(RouterError::UnknownChannel(login.clone())),
        Err(e) => Err(e.into()),
    }
}

async fn dispatch(ctx: RouterArgs, message: RouterMessage) {
    let t = ctx.call_timeout;
    let sup = &ctx.supervisor;
    match message {
        RouterMessage::Join(login, reply) => {
            let out = ask(sup, |r| SupervisorMessage::Join(login.clone(), r), t).await;
            if out.is_ok() {
                ctx.chat_source.join(&login);
            }
            let _ = reply.send(out.map_err(Into::into));
        }
        RouterMessage::Part(login, reply) => {
            let out = ask(sup, |r| SupervisorMessage::Part(login.clone(), r), t).await;
            if matches!(out, Ok(true)) {
                ctx.chat_source.part(&login);
            }
            let _ = reply.send(out.map_err(Into::into));
        }
        RouterMessage::Retry(login, reply) => {
            let out = match ask(sup, |r| SupervisorMessage::Retry(login.clone(), r), t).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(RetryError::UnknownChannel)) => Err(RouterError::UnknownChannel(login)),
                Ok(Err(RetryError::NotQuarantined(l))) => {
                    Err(RouterError::NotQuarantined(login, l))
                }
                Err(e) => Err(e.into()),
            };
            let _ = reply.send(out);
        }
        RouterMessage::List(reply) => {
            let _ = reply.send(
                ask(sup, SupervisorMessage::List, t)
                    .await
                    .map_err(Into::into),
            );
        }
        RouterMessage::Status(login, reply) => {
            let out = match ask(sup, |r| SupervisorMessage::Status(login.clone(), r), t).await {
                Ok(Some(s)) => Ok(s),
                Ok(None) => Err(RouterError::UnknownChannel(login)),
                Err(e) => Err(e.into()),
            };
            let _ = reply.send(out);
        }
        RouterMessage::Snapshot(login, reply) => {
            let out = match live_actor(&ctx, &login).await {
                Ok(actor) => ask(&actor, ChannelMessage::Snapshot, t)
                    .await
                    .map_err(Into::into),
                Err(e) => Err(e),
            };
            let _ = reply.send(out);
        }
        RouterMessage::SetAgent(login, settings, reply) => {
            let out = match ask(
                sup,
                |r| SupervisorMessage::SetAgent(login.clone(), settings, r),
                t,
            )
            .await
            {
                Ok(Some(s)) => Ok(s),
                Ok(None) => Err(RouterError::UnknownChannel(login)),
                Err(e) => Err(e.into()),
            };
            let _ = reply.send(out);
        }
        RouterMessage::Summary(login, reply) => {
            let out = match live_actor(&ctx, &login).await {
                Ok(actor) => ask(&actor, ChannelMessage::Summary, t)
                    .await
                    .map_err(Into::into),
                Err(e) => Err(e),
            };
            let _ = reply.send(out);
        }
        RouterMessage::SuspendAll(suspend, reply) => {
            ctx.suspend.set(suspend);
            tracing::warn!(
                suspend,
                channels = ctx.directory.len(),
                "agent suspended or resumed fleet-wide"
            );
            let _ = reply.send(Ok(ctx.directory.len()));
        }
        RouterMessage::Autonomy(login, request, reply) => {
            let out = match live_actor(&ctx, &login).await {
                Ok(actor) => ask(&actor, |r| ChannelMessage::Autonomy(request, Some(r)), t)
                    .await
                    .map_err(Into::into),
                Err(e) => Err(e),
            };
            let _ = reply.send(out);
        }
        RouterMessage::Session(login, start, reply) => {
            let out = match live_actor(&ctx, &login).await {
                Ok(actor) => ask(&actor, |r| ChannelMessage::Session(start, r), t)
                    .await
                    .map_err(Into::into),
                Err(e) => Err(e),
            };
            let _ = reply.send(out);
        }
    }
}

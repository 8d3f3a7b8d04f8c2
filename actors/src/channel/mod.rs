//! The channel actor: one per joined channel, owning that channel's live state. It does no
//! I/O; raw rows are persisted on the ingest path, so a crash here loses no data.

pub mod context;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};

use crate::faults::FaultPlan;
use crate::model::{ChannelLogin, ChatRecord, EventRecord};

pub use context::StreamContext;

/// Messages a channel actor handles.
#[derive(Debug)]
pub enum ChannelMessage {
    /// A chat line for this channel.
    Chat(Arc<ChatRecord>),
    /// A channel event.
    Event(Arc<EventRecord>),
    /// Reply with a copy of the live state.
    Snapshot(RpcReplyPort<ChannelSnapshot>),
    /// Fault injection: panic inside the handler with this text (tests, chaos benchmark).
    Crash(String),
}

/// The channel's live state as the API sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSnapshot {
    /// Channel login.
    pub login: ChannelLogin,
    /// When this incarnation of the actor started.
    pub actor_started_at: DateTime<Utc>,
    /// The stream context.
    pub context: StreamContext,
}

/// What a channel actor starts from.
#[derive(Debug, Clone)]
pub struct ChannelArgs {
    /// Channel login.
    pub login: ChannelLogin,
    /// Fault injection plan.
    pub faults: Arc<FaultPlan>,
}

/// Per-channel state.
#[derive(Debug)]
pub struct ChannelState {
    login: ChannelLogin,
    started_at: DateTime<Utc>,
    context: StreamContext,
}

/// The channel actor behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelActor;

impl Actor for ChannelActor {
    type Msg = ChannelMessage;
    type State = ChannelState;
    type Arguments = ChannelArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ChannelArgs,
    ) -> Result<ChannelState, ActorProcessingErr> {
        if args.faults.fails_on_start(args.login.as_str()) {
            return Err(format!("injected start failure for {}", args.login).into());
        }
        Ok(ChannelState {
            login: args.login,
            started_at: Utc::now(),
            context: StreamContext::default(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: ChannelMessage,
        state: &mut ChannelState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ChannelMessage::Chat(chat) => state.context.on_chat(&chat),
            ChannelMessage::Event(event) => state.context.on_event(&event),
            ChannelMessage::Snapshot(reply) => {
                // The caller may have timed out already; that is its business, not a fault.
                let _ = reply.send(ChannelSnapshot {
                    login: state.login.clone(),
                    actor_started_at: state.started_at,
                    context: state.context.clone(),
                });
            }
            ChannelMessage::Crash(reason) => panic!("injected crash: {reason}"),
        }
        Ok(())
    }
}

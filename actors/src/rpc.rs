//! Calls into actors always carry a timeout; this turns ractor's three-way call result into
//! one typed error so every caller handles "slow" and "gone" the same way.

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, Message, RpcReplyPort};

/// Why an actor call produced no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The actor did not answer within the timeout.
    #[error("the actor did not answer within {0:?}")]
    Timeout(Duration),
    /// The actor is not running (stopped, restarting or never started).
    #[error("the actor is not running")]
    Unavailable,
}

/// Sends a request built by `build` and waits at most `timeout` for the reply.
pub async fn ask<M, T, F>(actor: &ActorRef<M>, build: F, timeout: Duration) -> Result<T, CallError>
where
    M: Message,
    T: Send + 'static,
    F: FnOnce(RpcReplyPort<T>) -> M,
{
    match actor.call(build, Some(timeout)).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err(CallError::Timeout(timeout)),
        Ok(CallResult::SenderError) | Err(_) => Err(CallError::Unavailable),
    }
}

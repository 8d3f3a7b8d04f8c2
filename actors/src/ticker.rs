//! The fleet ticker: one timer for every channel actor instead of one per actor.
//!
//! Each channel's engines run once per tick period. A timer task per actor cost a task, a
//! timer-wheel entry and a wake-up per channel (at 100,000 channels, 100,000 tasks
//! for a message each second). Here one actor wakes `PHASES` times per period and casts
//! the tick to the channels whose phase it is, so the fleet's ticks are also spread evenly
//! over the period instead of bunching where channels happened to join together. A
//! channel's phase comes from its login hash, so it keeps its place across restarts.

use std::time::{Duration, Instant};

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;

use crate::channel::ChannelMessage;
use crate::directory::ChannelDirectory;

/// Slices of one tick period: each wake-up ticks one shard of the directory, about
/// `1 / PHASES` of the fleet.
pub const PHASES: u64 = crate::directory::SHARDS as u64;

/// The ticker's one message: wake up and tick the next phase.
#[derive(Debug)]
pub struct Wake;

/// What the ticker starts from.
#[derive(Debug)]
pub struct TickerArgs {
    /// The channels to tick.
    pub directory: Arc<ChannelDirectory>,
    /// How often each channel ticks.
    pub every: Duration,
}

/// The ticker's state.
#[derive(Debug)]
pub struct TickerState {
    directory: Arc<ChannelDirectory>,
    next_phase: u64,
    timer: Option<JoinHandle<()>>,
}

/// The fleet ticker behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct FleetTicker;

impl Actor for FleetTicker {
    type Msg = Wake;
    type State = TickerState;
    type Arguments = TickerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Wake>,
        args: TickerArgs,
    ) -> Result<TickerState, ActorProcessingErr> {
        let slice = (args.every / PHASES as u32).max(Duration::from_millis(1));
        Ok(TickerState {
            directory: args.directory,
            next_phase: 0,
            timer: Some(myself.send_interval(slice, || Wake)),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Wake>,
        _message: Wake,
        state: &mut TickerState,
    ) -> Result<(), ActorProcessingErr> {
        let phase = state.next_phase;
        state.next_phase = (phase + 1) % PHASES;
        // Stamped per wake-up, not per channel: the mailbox lag each channel records is
        // then the wait in its own mailbox plus its place in this wake-up's casts.
        let sent = Instant::now();
        state
            .directory
            .cast_shard(phase as usize, || ChannelMessage::ScheduledTick(sent));
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Wake>,
        state: &mut TickerState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.timer.take() {
            t.abort();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChannelLogin;

    /// Holds its mailbox: never takes a tick, like an actor that fell behind.
    struct Stalled;

    impl Actor for Stalled {
        type Msg = ChannelMessage;
        type State = ();
        type Arguments = ();

        async fn pre_start(
            &self,
            _myself: ActorRef<ChannelMessage>,
            _args: (),
        ) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_channel_behind_on_its_ticks_gets_no_second_one_queued() {
        let directory = ChannelDirectory::new();
        let login = ChannelLogin::from_twitch("slowpoke");
        let counters = directory.insert(&login);
        let (actor, handle) = Actor::spawn(None, Stalled, ()).await.unwrap();
        directory.set_actor(&login, Some(actor.clone()));
        let phase = crate::directory::shard_of(login.as_str());
        let tick = || ChannelMessage::ScheduledTick(Instant::now());

        assert_eq!(directory.cast_shard(phase, tick), 1);
        assert_eq!(
            directory.cast_shard(phase, tick),
            0,
            "the first tick is still pending"
        );
        assert_eq!(
            directory.cast_shard((phase + 1) % crate::directory::SHARDS, tick),
            0
        );
        counters.tick_taken();
        assert_eq!(directory.cast_shard(phase, tick), 1);

        // A dead actor frees the slot at once, so its successor is ticked.
        counters.tick_taken();
        actor.stop(None);
        handle.await.unwrap();
        assert_eq!(directory.cast_shard(phase, tick), 0);
        assert!(counters.claim_tick(), "a failed cast leaves the slot free");
    }
}

//! The fleet ticker: one timer for every channel actor instead of one per actor.
//!
//! Each channel's engines run once per tick period. A timer task per actor cost a task, a
//! timer-wheel entry and a wake-up per channel (at 100,000 channels, 100,000 tasks
//! for a message each second). Here one actor wakes `PHASES` times per period and casts
//! the tick to the channels whose phase it is, so the fleet's ticks are also spread evenly
//! over the period instead of bunching where channels happened to join together. A
//! channel's phase comes from its login hash, so it keeps its place across restarts.
//!
//! A period is a round of `PHASES` wake-ups. A channel that saw no row since its last tick
//! is ticked only every [`QUIET_EVERY`]-th round (see [`ChannelDirectory::cast_shard`]), and
//! each tick says how many rounds it stands for, so the actor's tick count keeps time.

use std::time::{Duration, Instant};

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;

use crate::channel::ChannelMessage;
use crate::directory::ChannelDirectory;
#[cfg(doc)]
use crate::directory::QUIET_EVERY;

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
    wakes: u64,
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
            wakes: 0,
            timer: Some(myself.send_interval(slice, || Wake)),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Wake>,
        _message: Wake,
        state: &mut TickerState,
    ) -> Result<(), ActorProcessingErr> {
        let (phase, round) = (state.wakes % PHASES, state.wakes / PHASES + 1);
        state.wakes += 1;
        // Stamped per wake-up, not per channel: the mailbox lag each channel records is
        // then the wait in its own mailbox plus its place in this wake-up's casts.
        let sent = Instant::now();
        state
            .directory
            .cast_shard(phase as usize, round, |periods| {
                ChannelMessage::ScheduledTick(sent, periods)
            });
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
    use chrono::Utc;
    use tokio::sync::mpsc;

    use super::*;
    use crate::directory::{ChannelCounters, QUIET_EVERY, SHARDS, shard_of};
    use crate::model::{ChannelLogin, ChatRecord};

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

    /// Takes each tick as a channel actor does and reports how many periods it stood for.
    struct Recorder;

    impl Actor for Recorder {
        type Msg = ChannelMessage;
        type State = (Arc<ChannelCounters>, mpsc::UnboundedSender<u32>);
        type Arguments = Self::State;

        async fn pre_start(
            &self,
            _myself: ActorRef<ChannelMessage>,
            args: Self::State,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(args)
        }

        async fn handle(
            &self,
            _myself: ActorRef<ChannelMessage>,
            message: ChannelMessage,
            (counters, ticks): &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            if let ChannelMessage::ScheduledTick(_, periods) = message {
                counters.tick_taken();
                let _ = ticks.send(periods);
            }
            Ok(())
        }
    }

    fn tick(periods: u32) -> ChannelMessage {
        ChannelMessage::ScheduledTick(Instant::now(), periods)
    }

    fn row(login: &ChannelLogin, i: u64) -> ChannelMessage {
        let line =
            ChatRecord::test_line(login.as_str(), &format!("m{i}"), "viewer", "hi", Utc::now());
        ChannelMessage::Chat(Arc::new(line))
    }

    #[tokio::test]
    async fn a_channel_behind_on_its_ticks_gets_no_second_one_queued() {
        let directory = ChannelDirectory::new();
        let login = ChannelLogin::from_twitch("slowpoke");
        let counters = directory.insert(&login);
        let (actor, handle) = Actor::spawn(None, Stalled, ()).await.unwrap();
        directory.set_actor(&login, Some(actor.clone()));
        let phase = shard_of(login.as_str());

        // A row before every round: the channel is active each time.
        directory.deliver(login.as_str(), row(&login, 1));
        assert_eq!(directory.cast_shard(phase, 1, tick), 1);
        directory.deliver(login.as_str(), row(&login, 2));
        assert_eq!(
            directory.cast_shard(phase, 2, tick),
            0,
            "the first tick is still pending"
        );
        assert_eq!(directory.cast_shard((phase + 1) % SHARDS, 2, tick), 0);
        counters.tick_taken();
        assert_eq!(directory.cast_shard(phase, 3, tick), 1);

        // A dead actor frees the slot at once, so its successor is ticked.
        counters.tick_taken();
        actor.stop(None);
        handle.await.unwrap();
        directory.deliver(login.as_str(), row(&login, 3));
        assert_eq!(directory.cast_shard(phase, 4, tick), 0);
        assert!(counters.claim_tick(), "a failed cast leaves the slot free");
    }

    #[tokio::test]
    async fn a_quiet_channel_is_ticked_at_its_turn_and_an_active_one_every_round() {
        let directory = ChannelDirectory::new();
        let login = ChannelLogin::from_twitch("quietone");
        let counters = directory.insert(&login);
        let (tx, mut ticks) = mpsc::unbounded_channel();
        let (actor, handle) = Actor::spawn(None, Recorder, (counters.clone(), tx))
            .await
            .unwrap();
        directory.set_actor(&login, Some(actor.clone()));
        let phase = shard_of(login.as_str());

        // Quiet: one tick in every QUIET_EVERY rounds, the first for one period, the next
        // for the QUIET_EVERY periods since.
        let mut ticked = Vec::new();
        for round in 1..=4 * QUIET_EVERY {
            if directory.cast_shard(phase, round, tick) == 1 {
                assert!(ticks.recv().await.is_some());
                ticked.push(round);
            }
        }
        assert_eq!(ticked.len(), 4, "{ticked:?}");
        assert!(
            ticked.windows(2).all(|w| w[1] - w[0] == QUIET_EVERY),
            "{ticked:?}"
        );
        let last = *ticked.last().unwrap();

        // A row: ticked at the next round, standing for the rounds since the last tick.
        directory.deliver(login.as_str(), row(&login, 1));
        assert_eq!(directory.cast_shard(phase, last + 2, tick), 1);
        assert_eq!(ticks.recv().await, Some(2));
        // Rows every round: a tick every round, one period each.
        for round in last + 3..last + 6 {
            directory.deliver(login.as_str(), row(&login, round));
            assert_eq!(directory.cast_shard(phase, round, tick), 1);
            assert_eq!(ticks.recv().await, Some(1));
        }
        // Quiet again: nothing until its turn comes round, and a long gap counts as at most
        // QUIET_EVERY periods.
        let next_turn = last + 2 * QUIET_EVERY;
        for round in last + 6..next_turn {
            assert_eq!(directory.cast_shard(phase, round, tick), 0, "round {round}");
        }
        assert_eq!(directory.cast_shard(phase, next_turn, tick), 1);
        assert_eq!(ticks.recv().await, Some((next_turn - (last + 5)) as u32));
        // A nudge (a change other than a row) counts as activity.
        counters.nudge();
        assert_eq!(directory.cast_shard(phase, next_turn + 1, tick), 1);
        assert_eq!(ticks.recv().await, Some(1));
        assert_eq!(directory.cast_shard(phase, next_turn + 2, tick), 0);
        actor.stop(None);
        handle.await.unwrap();
    }

    #[test]
    fn quiet_channels_of_one_shard_spread_over_the_rounds() {
        let directory = ChannelDirectory::new();
        let mut offsets = [0usize; QUIET_EVERY as usize];
        let logins: Vec<ChannelLogin> = (0..20_000)
            .map(|i| ChannelLogin::from_twitch(&format!("chan{i}")))
            .filter(|l| shard_of(l.as_str()) == 3)
            .collect();
        for login in &logins {
            directory.insert(login);
        }
        for (i, offset) in offsets.iter_mut().enumerate() {
            *offset = directory.quiet_turns(3, i as u64);
        }
        let each = logins.len() / QUIET_EVERY as usize;
        assert!(
            offsets
                .iter()
                .all(|&n| n > each * 3 / 4 && n < each * 5 / 4),
            "{offsets:?} of {}",
            logins.len()
        );
    }
}

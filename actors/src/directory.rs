//! The channel directory: login -> live channel actor, shared by the supervisor (which
//! writes it on every spawn and death) and the ingest hot path (which reads it per message).
//! A read-mostly map behind an `RwLock` costs a few nanoseconds uncontended, far less than a
//! hop through the supervisor's mailbox for every chat line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use ractor::ActorRef;

use crate::channel::ChannelMessage;
use crate::model::ChannelLogin;

/// Counters that outlive channel actor restarts.
#[derive(Debug, Default)]
pub struct ChannelCounters {
    messages_seen: AtomicU64,
    events_seen: AtomicU64,
    /// A scheduled tick is in the actor's mailbox, not yet handled.
    tick_pending: AtomicBool,
    /// Rows seen (chat and events) when the last scheduled tick was cast: more since then
    /// make the channel active at the next round (see [`ChannelDirectory::cast_shard`]).
    rows_at_tick: AtomicU64,
    /// The ticker's round of the last scheduled tick cast (0: none yet).
    ticked_round: AtomicU64,
    /// Changes other than rows that the engines should see at the next round (a restore, a
    /// session started from the dashboard), counted like rows.
    nudges: AtomicU64,
}

impl ChannelCounters {
    /// Chat messages received for the channel since it was joined.
    pub fn messages_seen(&self) -> u64 {
        self.messages_seen.load(Ordering::Acquire)
    }
    /// Events received for the channel since it was joined.
    pub fn events_seen(&self) -> u64 {
        self.events_seen.load(Ordering::Acquire)
    }
    /// Takes the channel's one scheduled-tick slot; false while a tick is still pending, so
    /// an actor that falls behind gets no second tick queued behind the first (an
    /// overloaded fleet would otherwise grow every mailbox by one message a second).
    pub fn claim_tick(&self) -> bool {
        !self.tick_pending.swap(true, Ordering::AcqRel)
    }
    /// Frees the slot: the actor took its tick (or a new incarnation starts).
    pub fn tick_taken(&self) {
        self.tick_pending.store(false, Ordering::Release);
    }
    /// Something other than a row changed the channel's inputs: tick it at the next round
    /// even if it is quiet.
    pub fn nudge(&self) {
        self.nudges.fetch_add(1, Ordering::Release);
    }
    fn rows_seen(&self) -> u64 {
        self.messages_seen
            .load(Ordering::Acquire)
            .wrapping_add(self.events_seen.load(Ordering::Acquire))
            .wrapping_add(self.nudges.load(Ordering::Acquire))
    }
}

#[derive(Debug)]
struct Slot {
    actor: Option<ActorRef<ChannelMessage>>,
    counters: Arc<ChannelCounters>,
    /// Which rounds tick this channel when it is quiet: those with
    /// `(round + quiet_offset) % QUIET_EVERY == 0`.
    quiet_offset: u64,
}

impl Slot {
    /// Whether round `round` ticks this channel while it is quiet.
    fn quiet_turn(&self, round: u64) -> bool {
        round
            .wrapping_add(self.quiet_offset)
            .is_multiple_of(QUIET_EVERY)
    }
}

/// A quiet channel (no row since its last scheduled tick) is ticked every `QUIET_EVERY`-th
/// round only, each at its own offset. With the production period of one second that is
/// every five seconds, as often as a quiet channel's engines run anyway (once per 5-second
/// window bucket, see the channel actor): the four ticks in between did nothing but count,
/// and at 100,000 channels they were ~80,000 mailbox messages a second.
pub const QUIET_EVERY: u64 = 5;

/// Shards of the directory, by login hash. The fleet ticker ticks one shard per wake-up
/// (see [`crate::ticker`]), so a wake-up walks a tenth of the channels instead of all of
/// them, and the ingest hot path and the ticker mostly take different locks.
pub const SHARDS: usize = 10;

/// The shard a login lives in.
pub fn shard_of(login: &str) -> usize {
    (crate::model::login_hash(login) % SHARDS as u64) as usize
}

type Shard = RwLock<HashMap<ChannelLogin, Slot>>;

/// Why a message could not be handed to a channel actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Cast into the channel's mailbox.
    Delivered,
    /// The channel is joined but its actor is restarting or quarantined.
    NoActor,
    /// The channel is not joined.
    UnknownChannel,
}

/// Shared login -> actor map.
#[derive(Debug, Default)]
pub struct ChannelDirectory {
    shards: [Shard; SHARDS],
}

impl ChannelDirectory {
    fn shard(&self, login: &str) -> &Shard {
        &self.shards[shard_of(login)]
    }

    /// An empty directory.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Registers a joined channel (without an actor yet) and returns its counters.
    pub fn insert(&self, login: &ChannelLogin) -> Arc<ChannelCounters> {
        let mut slots = write(self.shard(login.as_str()));
        slots
            .entry(login.clone())
            .or_insert_with(|| Slot {
                actor: None,
                counters: Arc::default(),
                // The shard is the hash modulo SHARDS; the offset takes other digits, so the
                // quiet channels of one shard do not all tick in the same round.
                quiet_offset: (crate::model::login_hash(login.as_str()) / SHARDS as u64)
                    % QUIET_EVERY,
            })
            .counters
            .clone()
    }

    /// Points the channel at its (new) actor, or at none while it restarts.
    pub fn set_actor(&self, login: &ChannelLogin, actor: Option<ActorRef<ChannelMessage>>) {
        let mut slots = write(self.shard(login.as_str()));
        if let Some(slot) = slots.get_mut(login) {
            slot.actor = actor;
        }
    }

    /// Forgets a parted channel.
    pub fn remove(&self, login: &ChannelLogin) {
        write(self.shard(login.as_str())).remove(login);
    }

    /// The channel's live actor, if any.
    pub fn actor(&self, login: &str) -> Option<ActorRef<ChannelMessage>> {
        read(self.shard(login))
            .get(login)
            .and_then(|s| s.actor.clone())
    }

    /// The channel's counters, if it is joined.
    pub fn counters(&self, login: &str) -> Option<Arc<ChannelCounters>> {
        read(self.shard(login))
            .get(login)
            .map(|s| s.counters.clone())
    }

    /// Casts the message to the channel actor and counts it, under one read lock. Counting
    /// after the cast (with release ordering) means a reader that sees the count reach N
    /// knows all N messages are already in the actor's mailbox.
    pub fn deliver(&self, login: &str, message: ChannelMessage) -> Delivery {
        let slots = read(self.shard(login));
        let Some(slot) = slots.get(login) else {
            return Delivery::UnknownChannel;
        };
        let counter = match &message {
            ChannelMessage::Chat(_) => Some(&slot.counters.messages_seen),
            ChannelMessage::Event(_) => Some(&slot.counters.events_seen),
            _ => None,
        };
        let delivered = match &slot.actor {
            // A failed cast means the actor died between its failure and the supervisor
            // clearing the slot; the row is persisted on the ingest path regardless.
            Some(actor) => actor.cast(message).is_ok(),
            None => false,
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Release);
        }
        if delivered {
            Delivery::Delivered
        } else {
            Delivery::NoActor
        }
    }

    /// Casts a message built by `make` to every live channel actor; returns how many.
    pub fn broadcast(&self, make: impl Fn() -> ChannelMessage) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                read(shard)
                    .values()
                    .filter_map(|s| s.actor.as_ref())
                    .filter(|a| a.cast(make()).is_ok())
                    .count()
            })
            .sum()
    }

    /// The scheduled ticks of round `round` (the ticker's count of periods, from 1) for shard
    /// `shard` (see [`shard_of`]): a message built by `make(periods)` to every live actor
    /// that has no tick pending (see [`ChannelCounters::claim_tick`]) and either saw a row
    /// since its last tick or is quiet and at its turn (see [`QUIET_EVERY`]). `periods` is
    /// how many rounds the tick stands for (since the channel's last one, at most
    /// `QUIET_EVERY`), so the actor's count of ticks still follows the clock. Returns how
    /// many were cast.
    pub fn cast_shard(
        &self,
        shard: usize,
        round: u64,
        make: impl Fn(u32) -> ChannelMessage,
    ) -> usize {
        let Some(shard) = self.shards.get(shard) else {
            return 0;
        };
        read(shard)
            .values()
            .filter(|s| {
                let Some(actor) = s.actor.as_ref() else {
                    return false;
                };
                let c = &s.counters;
                let rows = c.rows_seen();
                let active = rows != c.rows_at_tick.load(Ordering::Relaxed);
                if !(active || s.quiet_turn(round)) || !c.claim_tick() {
                    return false;
                }
                let last = c.ticked_round.load(Ordering::Relaxed);
                let periods = if last == 0 {
                    1
                } else {
                    round.saturating_sub(last).clamp(1, QUIET_EVERY)
                };
                if actor.cast(make(periods as u32)).is_err() {
                    c.tick_taken();
                    return false;
                }
                c.rows_at_tick.store(rows, Ordering::Relaxed);
                c.ticked_round.store(round, Ordering::Relaxed);
                true
            })
            .count()
    }

    /// How many channels of shard `shard` a quiet round `round` would tick.
    #[cfg(test)]
    pub(crate) fn quiet_turns(&self, shard: usize, round: u64) -> usize {
        read(&self.shards[shard])
            .values()
            .filter(|s| s.quiet_turn(round))
            .count()
    }

    /// Number of joined channels.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| read(shard).len()).sum()
    }

    /// Whether no channel is joined.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A poisoned lock still holds a consistent map: every critical section here is a single
/// map operation.
fn read(shard: &Shard) -> std::sync::RwLockReadGuard<'_, HashMap<ChannelLogin, Slot>> {
    shard.read().unwrap_or_else(|e| e.into_inner())
}

fn write(shard: &Shard) -> std::sync::RwLockWriteGuard<'_, HashMap<ChannelLogin, Slot>> {
    shard.write().unwrap_or_else(|e| e.into_inner())
}

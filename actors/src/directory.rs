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
}

#[derive(Debug)]
struct Slot {
    actor: Option<ActorRef<ChannelMessage>>,
    counters: Arc<ChannelCounters>,
}

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

    /// Casts a message built by `make` to every live actor in shard `shard` (see
    /// [`shard_of`]) that has no tick pending (see [`ChannelCounters::claim_tick`]); returns
    /// how many.
    pub fn cast_shard(&self, shard: usize, make: impl Fn() -> ChannelMessage) -> usize {
        let Some(shard) = self.shards.get(shard) else {
            return 0;
        };
        read(shard)
            .values()
            .filter(|s| {
                let Some(actor) = s.actor.as_ref() else {
                    return false;
                };
                if !s.counters.claim_tick() {
                    return false;
                }
                let sent = actor.cast(make()).is_ok();
                if !sent {
                    s.counters.tick_taken();
                }
                sent
            })
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

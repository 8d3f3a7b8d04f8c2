//! Channel vitals: the handful of numbers each channel actor publishes at every tick (health,
//! churn risk, chat rate, sentiment, chatters), on a board the edge reads to export
//! per-channel gauges for a bounded set of channels.
//!
//! Why a board instead of labelled gauges set by each actor: a label per channel across
//! thousands of channels would break Prometheus, and which channels deserve a series (the
//! most active ones, plus an operator's allow-list) is a fleet-wide choice no single actor
//! can make. So actors only publish, and one exporter at the edge picks and exports.
//!
//! The same slot carries the channel's [`ChannelSummary`] (what the fleet view shows), so the
//! fleet API reads every channel's latest numbers from memory instead of asking each actor:
//! a page of 100 channels at 1,000 requests/s would otherwise be 100,000 actor round trips
//! a second, competing with chat for the same cores. The summary only changes at a tick
//! (health, churn and rates are computed there) or when the agent is paused, and the actor
//! publishes at exactly those moments, so the board answers what the actor would.
//!
//! Lock-light: publishing touches only the channel's own slot (an uncontended mutex held for
//! a copy); the board's map is locked for writing only when an actor starts. The map holds
//! weak references, so a slot disappears with the actor state that owns it (part, crash)
//! without any unregister call, and the next [`VitalsBoard::read`] prunes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};

use crate::channel::ChannelSummary;
use crate::model::ChannelLogin;

/// What a channel publishes at each tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vitals {
    /// Smoothed health score, 0 to 100.
    pub health_score: f64,
    /// Churn risk, 0 to 1.
    pub churn_risk: f64,
    /// Chat messages per second over the last minute.
    pub chat_per_second: f64,
    /// Chat messages per minute over the last five minutes: the activity the exporter ranks
    /// channels by (steadier than the last minute, so the exported set does not flap).
    pub activity_per_minute: f64,
    /// Mean sentiment over the last minute, -1 to 1.
    pub sentiment: f64,
    /// Distinct chatters over the last minute.
    pub chatters: u32,
}

/// One channel's latest vitals, owned by its actor's state.
#[derive(Debug, Default)]
pub struct VitalsSlot {
    latest: Mutex<Option<Vitals>>,
    summary: Mutex<Option<ChannelSummary>>,
}

impl VitalsSlot {
    /// Replaces the channel's vitals.
    pub fn publish(&self, vitals: Vitals) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(vitals);
    }

    /// The latest vitals, if the channel has ticked since it started.
    pub fn latest(&self) -> Option<Vitals> {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the channel's summary.
    pub fn publish_summary(&self, summary: ChannelSummary) {
        *self.summary.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary);
    }

    /// The latest summary, if the channel has published one since it started.
    pub fn summary(&self) -> Option<ChannelSummary> {
        self.summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Login -> the live actor's slot.
#[derive(Debug, Default)]
pub struct VitalsBoard {
    slots: RwLock<HashMap<ChannelLogin, Weak<VitalsSlot>>>,
}

impl VitalsBoard {
    /// An empty board.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A fresh slot for a starting channel actor, replacing its predecessor's (a restart
    /// starts from no vitals until its first tick). The caller keeps the only strong
    /// reference.
    pub fn register(&self, login: &ChannelLogin) -> Arc<VitalsSlot> {
        let slot = Arc::new(VitalsSlot::default());
        self.slots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(login.clone(), Arc::downgrade(&slot));
        slot
    }

    /// Every live channel's latest vitals (channels that have not ticked yet are left out),
    /// in no particular order. Forgets slots whose actor is gone.
    pub fn read(&self) -> Vec<(ChannelLogin, Vitals)> {
        let mut out = Vec::new();
        let mut dead = 0usize;
        {
            let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
            out.reserve(slots.len());
            for (login, weak) in slots.iter() {
                match weak.upgrade() {
                    Some(slot) => {
                        if let Some(v) = slot.latest() {
                            out.push((login.clone(), v));
                        }
                    }
                    None => dead += 1,
                }
            }
        }
        if dead > 0 {
            self.slots
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, weak| weak.strong_count() > 0);
        }
        out
    }

    /// The live actor's latest summary of `login`; `None` when the channel is not running or
    /// has not published yet (then only the actor can answer).
    pub fn summary(&self, login: &ChannelLogin) -> Option<ChannelSummary> {
        let weak = self
            .slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(login)?
            .clone();
        weak.upgrade()?.summary()
    }

    /// Channels with a live slot or a dead one not yet pruned.
    pub fn len(&self) -> usize {
        self.slots.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no channel is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vitals(rate: f64) -> Vitals {
        Vitals {
            health_score: 50.0,
            churn_risk: 0.1,
            chat_per_second: rate / 60.0,
            activity_per_minute: rate,
            sentiment: 0.2,
            chatters: 3,
        }
    }

    #[test]
    fn a_slot_lives_as_long_as_its_owner() {
        let board = VitalsBoard::new();
        let a = ChannelLogin::from_twitch("alpha");
        let slot = board.register(&a);
        assert!(board.read().is_empty(), "nothing published yet");
        slot.publish(vitals(30.0));
        assert_eq!(board.read(), vec![(a.clone(), vitals(30.0))]);
        drop(slot);
        assert!(board.read().is_empty());
        assert_eq!(board.len(), 0, "the dead slot was pruned");
    }

    fn summary(health: f64) -> ChannelSummary {
        ChannelSummary {
            health: Some(health),
            churn_risk: None,
            churn_level: None,
            chat_rate_per_min: 12.0,
            sentiment: None,
            agent_paused: false,
        }
    }

    #[test]
    fn the_summary_is_read_by_login_while_its_actor_lives() {
        let board = VitalsBoard::new();
        let a = ChannelLogin::from_twitch("alpha");
        let b = ChannelLogin::from_twitch("beta");
        let slot = board.register(&a);
        assert_eq!(board.summary(&a), None, "nothing published yet");
        slot.publish_summary(summary(70.0));
        assert_eq!(board.summary(&a), Some(summary(70.0)));
        assert_eq!(board.summary(&b), None, "another channel sees nothing");
        let restarted = board.register(&a);
        assert_eq!(board.summary(&a), None, "a restart starts from no summary");
        restarted.publish_summary(summary(40.0));
        assert_eq!(board.summary(&a), Some(summary(40.0)));
        drop(restarted);
        drop(slot);
        assert_eq!(board.summary(&a), None, "gone with its actor");
    }

    #[test]
    fn a_restart_replaces_the_slot() {
        let board = VitalsBoard::new();
        let a = ChannelLogin::from_twitch("alpha");
        let old = board.register(&a);
        old.publish(vitals(10.0));
        let new = board.register(&a);
        // The old actor's state may be dropped after its successor registered.
        drop(old);
        new.publish(vitals(20.0));
        assert_eq!(board.read(), vec![(a, vitals(20.0))]);
    }
}

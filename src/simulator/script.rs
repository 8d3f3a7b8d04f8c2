//! Exact, test-driven emission: "write N lines of these kinds to channel X and tell me when they
//! are on the sockets".

use std::sync::Arc;

use super::delivery::{Delivery, fan_out};
use super::error::SimulatorError;
use super::generator::MessageKind;
use super::registry::normalize_channel;
use super::state::Shared;
use super::traffic::{KindPicker, now_ms, render_batch};

/// Which kinds of lines an [`Emission`] produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kinds {
    /// PRIVMSGs only; cheers at the configured `bits_fraction`.
    Chat,
    /// Like background traffic: events at `event_fraction`, cheers at `bits_fraction`.
    Mixed,
    /// Exactly these kinds, round-robin (so `count = k * len` gives `k` of each).
    Cycle(Vec<MessageKind>),
}

/// A request to emit an exact number of generated lines to one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emission {
    /// Channel (`#` optional).
    pub channel: String,
    /// Number of lines.
    pub count: usize,
    /// Kinds of lines.
    pub kinds: Kinds,
}

impl Emission {
    /// `count` PRIVMSGs.
    pub fn chat(channel: impl Into<String>, count: usize) -> Self {
        Emission {
            channel: channel.into(),
            count,
            kinds: Kinds::Chat,
        }
    }

    /// `count` lines of mixed traffic.
    pub fn mixed(channel: impl Into<String>, count: usize) -> Self {
        Emission {
            channel: channel.into(),
            count,
            kinds: Kinds::Mixed,
        }
    }

    /// `count` lines cycling through `kinds`.
    pub fn cycle(channel: impl Into<String>, count: usize, kinds: Vec<MessageKind>) -> Self {
        Emission {
            channel: channel.into(),
            count,
            kinds: Kinds::Cycle(kinds),
        }
    }
}

/// What an emission achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitOutcome {
    /// Lines generated (0 when nobody had joined the channel).
    pub generated: usize,
    /// Lines written to at least one socket.
    pub written: usize,
    /// PRIVMSGs among the written lines.
    pub privmsgs: usize,
    /// Events among the written lines.
    pub events: usize,
    /// Connections joined to the channel when the emission started.
    pub connections: usize,
}

pub(crate) async fn emit(
    shared: &Arc<Shared>,
    emission: Emission,
) -> Result<EmitOutcome, SimulatorError> {
    if shared.cancel.is_cancelled() {
        return Err(SimulatorError::ShutDown);
    }
    let name = normalize_channel(&emission.channel)
        .ok_or_else(|| SimulatorError::InvalidChannel(emission.channel.clone()))?;
    let mut picker = match &emission.kinds {
        Kinds::Chat => KindPicker::Chat,
        Kinds::Mixed => KindPicker::Mixed,
        Kinds::Cycle(kinds) if kinds.is_empty() => {
            return Err(SimulatorError::InvalidEmission(
                "Kinds::Cycle needs at least one kind".into(),
            ));
        }
        Kinds::Cycle(kinds) => KindPicker::Cycle { kinds, next: 0 },
    };
    let channel = shared.registry.channel(&name);
    let subs = channel.subscribers();
    let mut outcome = EmitOutcome {
        connections: subs.len(),
        ..EmitOutcome::default()
    };
    if subs.is_empty() || emission.count == 0 {
        return Ok(outcome);
    }
    let mut pending = Vec::new();
    let mut left = emission.count;
    while left > 0 {
        let n = left.min(shared.config.batch_size);
        let batch = render_batch(shared, &channel, n, &mut picker, now_ms());
        outcome.generated += n;
        let tally = batch.tally;
        let (delivery, done) = Delivery::new(
            Arc::clone(shared),
            Some(Arc::clone(&channel)),
            tally,
            batch.records,
            true,
        );
        fan_out(shared, &subs, &batch.bytes, Some(&delivery)).await;
        drop(delivery);
        pending.extend(done.map(|rx| (rx, tally)));
        left -= n;
    }
    for (rx, tally) in pending {
        if rx.await.unwrap_or(false) {
            outcome.written += tally.lines() as usize;
            outcome.privmsgs += tally.privmsgs as usize;
            outcome.events += tally.events as usize;
        }
    }
    Ok(outcome)
}

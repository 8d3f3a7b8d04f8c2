//! Background chat traffic: a paced mode (`rate_per_sec` messages per second across channels,
//! or per joined channel with `rate_is_per_channel`)
//! and an unthrottled mode that writes as fast as the sockets drain, for load benchmarks.
//!
//! Runs as its own task and yields after every round, so generation never starves the accept
//! loop or the connection tasks' PING handling. Channels nobody has joined are skipped without
//! generating anything: such messages would be neither sent nor recorded anyway.
//!
//! Per batch (not per line) the hot path costs one atomic load to validate the cached subscriber
//! list, one uncontended lock of the channel's generator (shared with `emit`, which is what keeps
//! message ids unique per channel) and one small allocation for the delivery tracker.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::delivery::{Delivery, Tally, fan_out};
use super::generator::{ChannelGen, LineClass, MessageKind};
use super::ids::splitmix64;
use super::record::Record;
use super::registry::{ChannelState, Subscribers, normalize_channel};
use super::state::Shared;

/// How a batch chooses the kind of each line.
pub(crate) enum KindPicker<'a> {
    Chat,
    Mixed,
    Cycle {
        kinds: &'a [MessageKind],
        next: usize,
    },
}

impl KindPicker<'_> {
    fn next(&mut self, generator: &mut ChannelGen) -> MessageKind {
        match self {
            KindPicker::Chat => generator.chat_kind(),
            KindPicker::Mixed => generator.mixed_kind(),
            KindPicker::Cycle { kinds, next } => {
                let kind = kinds[*next % kinds.len()];
                *next += 1;
                kind
            }
        }
    }
}

/// Rendered lines of one channel, ready to fan out.
pub(crate) struct Batch {
    pub(crate) bytes: Bytes,
    pub(crate) tally: Tally,
    pub(crate) records: Option<Vec<Record>>,
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Renders `count` lines for `channel` into one buffer.
pub(crate) fn render_batch(
    shared: &Shared,
    channel: &ChannelState,
    count: usize,
    picker: &mut KindPicker<'_>,
    now_ms: i64,
) -> Batch {
    let mut records = shared.recording().then(|| Vec::with_capacity(count));
    let mut tally = Tally::default();
    let mut buf = BytesMut::with_capacity(count * 360);
    channel.with_generator(&shared.gen_settings, |g| {
        for _ in 0..count {
            let kind = picker.next(g);
            match g.render(kind, now_ms, &mut buf, records.as_mut()) {
                LineClass::Privmsg { bits } => {
                    tally.privmsgs += 1;
                    tally.bits += bits;
                }
                LineClass::Event => tally.events += 1,
            }
        }
    });
    Batch {
        bytes: buf.freeze(),
        tally,
        records,
    }
}

/// A channel receiving background traffic, with its cached subscriber list.
struct Target {
    channel: Arc<ChannelState>,
    subs: Subscribers,
    version: u64,
}

impl Target {
    fn new(channel: Arc<ChannelState>) -> Self {
        let (subs, version) = channel.subscribers_versioned();
        Target {
            channel,
            subs,
            version,
        }
    }

    /// Re-reads subscribers only when a join/part changed them (one atomic load otherwise).
    fn refresh(&mut self) {
        if self.channel.version() != self.version {
            let (subs, version) = self.channel.subscribers_versioned();
            self.subs = subs;
            self.version = version;
        }
    }
}

struct Targets {
    /// True for configured channels; false follows whatever is joined.
    fixed: bool,
    list: Vec<Target>,
    membership: watch::Receiver<u64>,
}

impl Targets {
    fn new(shared: &Shared) -> Self {
        let names: Vec<String> = shared
            .config
            .channels
            .iter()
            .filter_map(|c| normalize_channel(c))
            .collect();
        let list = names
            .iter()
            .map(|n| Target::new(shared.registry.channel(n)))
            .collect();
        let mut membership = shared.registry.membership();
        membership.mark_changed();
        Targets {
            fixed: !names.is_empty(),
            list,
            membership,
        }
    }

    fn refresh(&mut self, shared: &Shared) {
        let changed = self.membership.has_changed().unwrap_or(false);
        if changed {
            self.membership.borrow_and_update();
            if !self.fixed {
                let mut channels: Vec<_> = shared
                    .registry
                    .all_channels()
                    .into_iter()
                    .filter(|c| !c.subscribers().is_empty())
                    .collect();
                // Sorted so channel picks are reproducible for a seed.
                channels.sort_by(|a, b| a.name.cmp(&b.name));
                self.list = channels.into_iter().map(Target::new).collect();
            }
        }
        for t in &mut self.list {
            t.refresh();
        }
    }

    async fn changed(&mut self) {
        let _ = self.membership.changed().await;
    }
}

/// Runs background traffic until the simulator is cancelled.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut targets = Targets::new(&shared);
    if shared.config.unthrottled {
        unthrottled(&shared, &mut targets).await;
    } else if let Some(rate) = shared.config.rate_per_sec {
        paced(&shared, &mut targets, rate).await;
    }
}

async fn wait_while_silent(shared: &Shared) {
    let mut silent = shared.silent_watch();
    let _ = silent.wait_for(|s| !*s).await;
}

async fn deliver(shared: &Arc<Shared>, target: &Target, batch: Batch) {
    let (delivery, _) = Delivery::new(
        Arc::clone(shared),
        Some(Arc::clone(&target.channel)),
        batch.tally,
        batch.records,
        false,
    );
    fan_out(shared, &target.subs, &batch.bytes, Some(&delivery)).await;
}

async fn unthrottled(shared: &Arc<Shared>, targets: &mut Targets) {
    let size = shared.config.batch_size;
    loop {
        if shared.cancel.is_cancelled() {
            return;
        }
        if shared.is_silent() {
            tokio::select! {
                () = shared.cancel.cancelled() => return,
                () = wait_while_silent(shared) => continue,
            }
        }
        targets.refresh(shared);
        let now = now_ms();
        let mut active = false;
        for t in &targets.list {
            if t.subs.is_empty() {
                continue;
            }
            active = true;
            let batch = render_batch(shared, &t.channel, size, &mut KindPicker::Mixed, now);
            deliver(shared, t, batch).await;
        }
        if !active {
            tokio::select! {
                () = shared.cancel.cancelled() => return,
                () = targets.changed() => {}
            }
        }
        tokio::task::yield_now().await;
    }
}

async fn paced(shared: &Arc<Shared>, targets: &mut Targets, rate: f64) {
    let mut rng = SmallRng::seed_from_u64(splitmix64(shared.config.seed ^ 0x7061_6365));
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let mut owed = 0.0_f64;
    let mut counts: Vec<usize> = Vec::new();
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        targets.refresh(shared);
        let now = Instant::now();
        let rate = if shared.config.rate_is_per_channel {
            let joined = targets.list.iter().filter(|t| !t.subs.is_empty()).count();
            rate * joined as f64
        } else {
            rate
        };
        owed += rate * now.duration_since(last).as_secs_f64();
        last = now;
        // After a stall, catch up at most one second's worth instead of bursting.
        owed = owed.min(rate.max(1.0));
        let n = owed.floor();
        owed -= n;
        if n < 1.0 || shared.is_silent() || targets.list.is_empty() {
            continue;
        }
        counts.clear();
        counts.resize(targets.list.len(), 0);
        for _ in 0..n as usize {
            counts[rng.random_range(0..targets.list.len())] += 1;
        }
        let now = now_ms();
        for (t, &count) in targets.list.iter().zip(&counts) {
            if count == 0 || t.subs.is_empty() {
                continue;
            }
            let batch = render_batch(shared, &t.channel, count, &mut KindPicker::Mixed, now);
            deliver(shared, t, batch).await;
        }
    }
}

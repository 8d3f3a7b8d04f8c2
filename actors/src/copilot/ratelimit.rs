//! Twitch's chat send limits, checked right before each message goes out.
//!
//! Twitch drops (and, when abused, locks out for hours) accounts that exceed its limits, and
//! the limits belong to the *account* (the connection), across every channel it talks in:
//! a message may go out only while fewer than 100 messages of any kind are in the last 30 s,
//! or fewer than 20 when the destination is a channel where the account is not a moderator
//! (or the broadcaster). Twitch staff describe it that way: a mod sending 21 messages in its
//! own channel is fine, but a 21st sent to another channel trips the 20 limit. Which limit
//! applies depends on the bot's status in the destination at that moment; mod status can
//! change at any time, so it is taken per call. A message identical to one sent to the same channel in the last 30 s is dropped
//! by Twitch, so it is refused here.
//!
//! A sliding log (not a token bucket) is exact for "any window": the account log holds the
//! sends of the last window only (at most the moderator limit of them), and each channel's
//! log holds its texts of the last duplicate window, so memory is bounded; channels without
//! recent sends are dropped by [`SendLimiter::prune`]. Texts are compared after trimming,
//! collapsing whitespace and ASCII case folding (erring on the side of "duplicate"), by a
//! 64-bit hash: a collision can only delay a send, never let a duplicate through.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Duration, Utc};
use rustc_hash::{FxHashMap, FxHasher};

use crate::model::ChannelLogin;

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    /// The sliding window.
    pub window: Duration,
    /// Messages per window (of any kind) below which one to a channel where the bot is not a
    /// moderator may go.
    pub normal: usize,
    /// Messages per window below which one to a channel where the bot is a moderator may go.
    pub moderator: usize,
    /// How long an identical text is refused in the same channel.
    pub duplicate_window: Duration,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self {
            window: Duration::seconds(30),
            normal: 20,
            moderator: 100,
            duplicate_window: Duration::seconds(30),
        }
    }
}

impl SendLimits {
    /// The limit that applies to a message to a channel where the bot is (not) a moderator.
    pub fn limit(&self, is_mod: bool) -> usize {
        if is_mod { self.moderator } else { self.normal }
    }
}

/// Why a send is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// The window is full.
    RateLimited,
    /// The same text went out too recently.
    Duplicate,
}

impl DenyReason {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::RateLimited => "rate_limited",
            DenyReason::Duplicate => "duplicate",
        }
    }
}

/// A refused send, and when it could go (if nothing else is sent meanwhile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("send denied ({reason:?}), retry at {retry_at}")]
pub struct Denied {
    /// Why.
    pub reason: DenyReason,
    /// The earliest instant the same send would be allowed.
    pub retry_at: DateTime<Utc>,
}

/// Send limits of the bot account, over every channel it talks in.
#[derive(Debug, Default)]
pub struct SendLimiter {
    limits: SendLimits,
    /// Every send of the last window, oldest first.
    account: VecDeque<DateTime<Utc>>,
    /// Per channel: (sent at, text hash) of the last duplicate window, oldest first.
    channels: FxHashMap<ChannelLogin, VecDeque<(DateTime<Utc>, u64)>>,
}

fn text_key(text: &str) -> u64 {
    let mut hasher = FxHasher::default();
    for word in text.split_whitespace() {
        word.to_ascii_lowercase().hash(&mut hasher);
    }
    hasher.finish()
}

/// When one more send fits under `limit`, given the send times in the window (oldest first):
/// at most `limit - 1` may remain, so the oldest `len - limit + 1` must leave first.
fn fits_at<'a>(
    times: impl ExactSizeIterator<Item = &'a DateTime<Utc>> + Clone,
    limit: usize,
    window: Duration,
) -> Option<DateTime<Utc>> {
    let (len, limit) = (times.len(), limit.max(1));
    (len >= limit).then(|| {
        times
            .clone()
            .nth(len - limit)
            .map_or(DateTime::<Utc>::MIN_UTC, |at| *at + window)
    })
}

impl SendLimiter {
    /// A limiter with these limits.
    pub fn new(limits: SendLimits) -> Self {
        Self {
            limits,
            account: VecDeque::new(),
            channels: FxHashMap::default(),
        }
    }

    /// Records a send of `text` in `channel` at `now` if the limits allow it. `is_mod` is the
    /// bot's current status in the channel.
    pub fn try_send(
        &mut self,
        channel: &ChannelLogin,
        text: &str,
        now: DateTime<Utc>,
        is_mod: bool,
    ) -> Result<(), Denied> {
        let limits = self.limits;
        while self
            .account
            .front()
            .is_some_and(|at| *at + limits.window <= now)
        {
            self.account.pop_front();
        }
        let log = self.channels.entry(channel.clone()).or_default();
        while log
            .front()
            .is_some_and(|(at, _)| *at + limits.duplicate_window <= now)
        {
            log.pop_front();
        }
        let key = text_key(text);
        let duplicate_until = log
            .iter()
            .rev()
            .find(|(_, k)| *k == key)
            .map(|(at, _)| *at + limits.duplicate_window);
        let rate_until = fits_at(self.account.iter(), limits.limit(is_mod), limits.window);
        let denied = match (rate_until, duplicate_until) {
            (None, None) => None,
            (Some(r), None) => Some(Denied {
                reason: DenyReason::RateLimited,
                retry_at: r,
            }),
            (None, Some(d)) => Some(Denied {
                reason: DenyReason::Duplicate,
                retry_at: d,
            }),
            (Some(r), Some(d)) => Some(Denied {
                reason: if d >= r {
                    DenyReason::Duplicate
                } else {
                    DenyReason::RateLimited
                },
                retry_at: r.max(d),
            }),
        };
        if let Some(denied) = denied {
            return Err(denied);
        }
        log.push_back((now, key));
        self.account.push_back(now);
        Ok(())
    }

    /// Drops channels with nothing left in their duplicate window (call on a tick).
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let keep = self.limits.duplicate_window;
        self.channels
            .retain(|_, log| log.back().is_some_and(|(at, _)| *at + keep > now));
    }

    /// Forgets a channel (the bot left it); its sends still count for the account.
    pub fn forget(&mut self, channel: &ChannelLogin) {
        self.channels.remove(channel);
    }

    /// Channels tracked (for tests and gauges).
    pub fn channels_len(&self) -> usize {
        self.channels.len()
    }

    /// Sends remembered for the account (bounded by the moderator limit).
    pub fn remembered(&self) -> usize {
        self.account.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap_or_default()
    }

    fn ch(name: &str) -> ChannelLogin {
        ChannelLogin::from_twitch(name)
    }

    #[test]
    fn twenty_per_window_for_a_regular_sender() {
        let mut l = SendLimiter::default();
        let c = ch("chan");
        for i in 0..20 {
            assert_eq!(l.try_send(&c, &format!("m{i}"), t(i * 100), false), Ok(()));
        }
        assert_eq!(
            l.try_send(&c, "m20", t(2_500), false),
            Err(Denied {
                reason: DenyReason::RateLimited,
                retry_at: t(30_000)
            })
        );
        assert_eq!(
            l.try_send(&c, "m20", t(29_999), false)
                .map_err(|d| d.reason),
            Err(DenyReason::RateLimited)
        );
        assert_eq!(l.try_send(&c, "m20", t(30_000), false), Ok(()));
        assert_eq!(
            l.try_send(&ch("other"), "m0", t(30_000), false)
                .map_err(|d| d.reason),
            Err(DenyReason::RateLimited),
            "the limit is the account's, over every channel"
        );
        assert!(
            l.try_send(&ch("modded"), "m0", t(30_000), true).is_ok(),
            "a channel where the bot is a moderator allows up to 100"
        );
    }

    #[test]
    fn a_hundred_as_moderator_and_losing_mod_status_waits_for_the_window() {
        let mut l = SendLimiter::default();
        let c = ch("chan");
        for i in 0..100 {
            assert!(l.try_send(&c, &format!("m{i}"), t(i * 10), true).is_ok());
        }
        assert_eq!(
            l.try_send(&c, "x", t(1_000), true).map_err(|d| d.reason),
            Err(DenyReason::RateLimited)
        );
        // Unmodded: 100 in the window, 19 may remain, so the 81st oldest (sent at 800 ms)
        // must leave first.
        assert_eq!(
            l.try_send(&c, "x", t(1_000), false),
            Err(Denied {
                reason: DenyReason::RateLimited,
                retry_at: t(30_800)
            })
        );
        assert_eq!(l.try_send(&c, "x", t(30_800), false), Ok(()));
        assert!(l.remembered() <= 100);
    }

    #[test]
    fn the_same_text_twice_within_thirty_seconds_is_refused() {
        let mut l = SendLimiter::default();
        let c = ch("chan");
        assert_eq!(l.try_send(&c, "hello there", t(0), true), Ok(()));
        assert_eq!(
            l.try_send(&c, "  Hello   THERE ", t(10_000), true),
            Err(Denied {
                reason: DenyReason::Duplicate,
                retry_at: t(30_000)
            })
        );
        assert!(
            l.try_send(&ch("other"), "hello there", t(10_000), true)
                .is_ok()
        );
        assert_eq!(l.try_send(&c, "hello there", t(30_000), true), Ok(()));
    }

    #[test]
    fn idle_channels_are_pruned() {
        let mut l = SendLimiter::default();
        l.try_send(&ch("a"), "x", t(0), false).ok();
        l.try_send(&ch("b"), "x", t(20_000), false).ok();
        l.prune(t(30_000));
        assert_eq!(l.channels_len(), 1);
        l.forget(&ch("b"));
        assert_eq!(l.channels_len(), 0);
    }

    #[derive(Debug, Clone)]
    struct Op {
        channel: usize,
        text: u8,
        step_ms: i64,
        /// Toggle this channel's mod status before the send.
        toggle_mod: bool,
    }

    fn op() -> impl Strategy<Value = Op> {
        (
            0usize..4,
            0u8..30,
            prop_oneof![Just(0i64), 0i64..400, 0i64..5_000],
            proptest::bool::weighted(0.05),
        )
            .prop_map(|(channel, text, step_ms, toggle_mod)| Op {
                channel,
                text,
                step_ms,
                toggle_mod,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn limits_are_never_exceeded_over_mixed_channels(
            initial_mod in proptest::collection::vec(proptest::bool::ANY, 4),
            ops in proptest::collection::vec(op(), 1..1_500),
        ) {
            let channels: Vec<ChannelLogin> = (0..4).map(|i| ch(&format!("chan{i}"))).collect();
            let mut is_mod = initial_mod;
            let mut l = SendLimiter::default();
            let mut now = t(0);
            // Accepted sends of the account: (at, channel, text).
            let mut sent: Vec<(DateTime<Utc>, usize, u8)> = Vec::new();
            for op in ops {
                now += Duration::milliseconds(op.step_ms);
                if op.toggle_mod {
                    is_mod[op.channel] = !is_mod[op.channel];
                }
                let text = format!("text {}", op.text);
                let result = l.try_send(&channels[op.channel], &text, now, is_mod[op.channel]);
                let window: Vec<_> = sent
                    .iter()
                    .filter(|(at, _, _)| *at > now - Duration::seconds(30))
                    .collect();
                let recent = window.len();
                let dup = window.iter().any(|(_, c, x)| *c == op.channel && *x == op.text);
                let limit = if is_mod[op.channel] { 100 } else { 20 };
                match result {
                    Ok(()) => {
                        // Twitch's rule, checked independently: with this send, the
                        // account's window holds at most the destination's limit.
                        prop_assert!(recent < limit, "{} recent, limit {}", recent, limit);
                        prop_assert!(!dup, "duplicate allowed");
                        sent.push((now, op.channel, op.text));
                    }
                    Err(denied) => {
                        prop_assert!(denied.retry_at > now);
                        prop_assert!(recent >= limit || dup, "denied without cause");
                    }
                }
                prop_assert!(l.remembered() <= 100);
            }
        }

        #[test]
        fn retrying_at_retry_at_succeeds(
            ops in proptest::collection::vec(op(), 1..400),
        ) {
            let c = ch("chan");
            let mut l = SendLimiter::default();
            let mut now = t(0);
            for op in ops {
                now += Duration::milliseconds(op.step_ms);
                let is_mod = op.channel % 2 == 0;
                let text = format!("text {}", op.text);
                if let Err(denied) = l.try_send(&c, &text, now, is_mod) {
                    now = denied.retry_at;
                    prop_assert_eq!(l.try_send(&c, &text, now, is_mod), Ok(()));
                }
            }
        }
    }
}

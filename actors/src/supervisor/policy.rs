//! The per-channel restart policy: when to restart a failed channel, how long to wait, and
//! when to give up and quarantine it. Pure logic over caller-supplied instants, so every
//! decision is unit-tested without sleeping.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Restart budget and backoff shape. Each channel gets its own budget, so one bad channel
/// cannot exhaust a budget shared with the others.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// At most this many restarts inside `window` ...
    pub max_restarts: u32,
    /// ... counted over this sliding window; one more failure quarantines the channel.
    pub window: Duration,
    /// Delay before the second restart in a window; doubles for each further one. The first
    /// restart is immediate: a one-off panic should cost the streamer nothing.
    pub backoff_base: Duration,
    /// Upper bound for the backoff delay.
    pub backoff_max: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window: Duration::from_secs(60),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// What the supervisor should do after a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Restart after this delay (zero means now).
    Restart {
        /// How long to wait before restarting.
        delay: Duration,
        /// Failures inside the current window, this one included.
        failures_in_window: u32,
    },
    /// Stop restarting: the channel failed too often.
    Quarantine {
        /// Failures inside the current window, this one included.
        failures_in_window: u32,
    },
}

/// Failure history of one channel.
#[derive(Debug, Clone, Default)]
pub struct RestartTracker {
    failures: VecDeque<Instant>,
}

impl RestartTracker {
    /// Records a failure at `now` and decides what to do. `jitter` in `[0, 1]` spreads
    /// simultaneous restarts (e.g. after a shared dependency hiccup) so they do not retry in
    /// lock-step; the caller draws it so this stays deterministic under test.
    pub fn on_failure(&mut self, policy: &RestartPolicy, now: Instant, jitter: f64) -> Decision {
        while let Some(&oldest) = self.failures.front() {
            if now.duration_since(oldest) > policy.window {
                self.failures.pop_front();
            } else {
                break;
            }
        }
        self.failures.push_back(now);
        let failures_in_window = self.failures.len() as u32;
        if failures_in_window > policy.max_restarts {
            return Decision::Quarantine { failures_in_window };
        }
        let delay = if failures_in_window <= 1 {
            Duration::ZERO
        } else {
            let exp = (failures_in_window - 2).min(20);
            let full = policy
                .backoff_base
                .saturating_mul(1u32 << exp)
                .min(policy.backoff_max);
            // Jitter only ever shortens down to half the delay: the backoff still grows.
            full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
        };
        Decision::Restart {
            delay,
            failures_in_window,
        }
    }

    /// Forgets the history, e.g. when an operator retries a quarantined channel.
    pub fn reset(&mut self) {
        self.failures.clear();
    }

    /// Failures currently remembered (those inside the last window seen).
    pub fn recent_failures(&self) -> usize {
        self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            max_restarts: 3,
            window: Duration::from_secs(10),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(250),
        }
    }

    #[test]
    fn first_restart_is_immediate_then_backs_off_then_quarantines() {
        let p = policy();
        let mut t = RestartTracker::default();
        let now = Instant::now();
        assert_eq!(
            t.on_failure(&p, now, 1.0),
            Decision::Restart {
                delay: Duration::ZERO,
                failures_in_window: 1
            }
        );
        assert_eq!(
            t.on_failure(&p, now, 1.0),
            Decision::Restart {
                delay: Duration::from_millis(100),
                failures_in_window: 2
            }
        );
        assert_eq!(
            t.on_failure(&p, now, 1.0),
            Decision::Restart {
                delay: Duration::from_millis(200),
                failures_in_window: 3
            }
        );
        assert_eq!(
            t.on_failure(&p, now, 1.0),
            Decision::Quarantine {
                failures_in_window: 4
            }
        );
    }

    #[test]
    fn backoff_is_capped_and_jitter_only_shortens_to_half() {
        let p = RestartPolicy {
            max_restarts: 100,
            ..policy()
        };
        let mut t = RestartTracker::default();
        let now = Instant::now();
        for _ in 0..10 {
            t.on_failure(&p, now, 1.0);
        }
        match t.on_failure(&p, now, 0.0) {
            Decision::Restart { delay, .. } => assert_eq!(delay, Duration::from_millis(125)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let p = policy();
        let mut t = RestartTracker::default();
        let start = Instant::now();
        for _ in 0..3 {
            t.on_failure(&p, start, 0.5);
        }
        let later = start + Duration::from_secs(11);
        assert_eq!(
            t.on_failure(&p, later, 0.5),
            Decision::Restart {
                delay: Duration::ZERO,
                failures_in_window: 1
            }
        );
        assert_eq!(t.recent_failures(), 1);
    }

    #[test]
    fn reset_clears_the_budget() {
        let p = policy();
        let mut t = RestartTracker::default();
        let now = Instant::now();
        for _ in 0..4 {
            t.on_failure(&p, now, 0.5);
        }
        t.reset();
        assert!(matches!(
            t.on_failure(&p, now, 0.5),
            Decision::Restart {
                failures_in_window: 1,
                ..
            }
        ));
    }
}

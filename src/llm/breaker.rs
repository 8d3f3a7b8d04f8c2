//! The circuit breaker in front of the model endpoint: after `threshold` consecutive failed
//! calls it opens for `cooldown`, answering "not now" without touching the network; then it
//! lets exactly one probe through (half-open): success closes it, failure reopens it for
//! another cooldown. Time is passed in, so the state machine is tested without sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed calls that open the breaker (at least 1).
    pub threshold: u32,
    /// How long it stays open before a probe.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            threshold: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; counting consecutive failures.
    Closed {
        /// Failures in a row so far.
        failures: u32,
    },
    /// Calls are refused until `until`.
    Open {
        /// End of the cooldown.
        until: Instant,
    },
    /// One probe is in flight; other calls are refused until it reports.
    HalfOpen,
}

/// What the breaker says about a call about to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Go ahead: this call is the half-open probe.
    Probe,
    /// Do not call.
    Refused,
}

/// A thread-safe circuit breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Mutex<BreakerState>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config: BreakerConfig {
                threshold: config.threshold.max(1),
                ..config
            },
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        // The state is a plain value, valid even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        *self.lock()
    }

    /// Asks to start a call at `now`.
    pub fn admit(&self, now: Instant) -> Admission {
        let mut state = self.lock();
        match *state {
            BreakerState::Closed { .. } => Admission::Allowed,
            BreakerState::Open { until } if now >= until => {
                *state = BreakerState::HalfOpen;
                Admission::Probe
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => Admission::Refused,
        }
    }

    /// Reports a successful call.
    pub fn on_success(&self) {
        *self.lock() = BreakerState::Closed { failures: 0 };
    }

    /// Reports a failed call (after its retries) at `now`. Returns whether this opened the
    /// breaker.
    pub fn on_failure(&self, now: Instant) -> bool {
        let mut state = self.lock();
        let open = match *state {
            BreakerState::Closed { failures } => failures + 1 >= self.config.threshold,
            BreakerState::HalfOpen => true,
            // A call admitted before the breaker opened: already open, extend nothing.
            BreakerState::Open { .. } => return false,
        };
        *state = if open {
            BreakerState::Open {
                until: now + self.config.cooldown,
            }
        } else {
            match *state {
                BreakerState::Closed { failures } => BreakerState::Closed {
                    failures: failures + 1,
                },
                other => other,
            }
        };
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            threshold: 3,
            cooldown: Duration::from_secs(10),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let b = breaker();
        let t0 = Instant::now();
        assert!(!b.on_failure(t0));
        assert!(!b.on_failure(t0));
        assert_eq!(b.admit(t0), Admission::Allowed);
        assert!(b.on_failure(t0));
        assert_eq!(b.admit(t0 + Duration::from_secs(9)), Admission::Refused);
    }

    #[test]
    fn success_resets_the_count() {
        let b = breaker();
        let t0 = Instant::now();
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        assert!(!b.on_failure(t0));
        assert_eq!(b.state(), BreakerState::Closed { failures: 1 });
    }

    #[test]
    fn half_open_admits_one_probe_then_closes_or_reopens() {
        let b = breaker();
        let t0 = Instant::now();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(later), Admission::Probe);
        assert_eq!(b.admit(later), Admission::Refused, "one probe at a time");
        assert!(b.on_failure(later), "a failed probe reopens");
        assert_eq!(b.admit(later + Duration::from_secs(1)), Admission::Refused);
        let again = later + Duration::from_secs(10);
        assert_eq!(b.admit(again), Admission::Probe);
        b.on_success();
        assert_eq!(b.admit(again), Admission::Allowed);
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
    }
}

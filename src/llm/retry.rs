//! The retry policy of model calls: capped exponential backoff with full jitter on
//! retryable failures (429, 5xx, timeouts, transport errors), honouring the server's
//! `Retry-After` up to a bound. A `Retry-After` beyond the bound is not waited for: the call
//! gives up (and the caller falls back) rather than holding a chat reply for a minute.

use std::time::Duration;

use byte_actors::llm::LlmError;

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff before the first retry (doubles per retry, with full jitter).
    pub base: Duration,
    /// Longest computed backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; beyond it the call stops retrying.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retry` (0-based) after `error`, or `None` to
    /// stop. `jitter` in `[0, 1)` scales the computed backoff (full jitter); a server's
    /// `Retry-After` is used as is.
    pub fn delay(&self, retry: u32, error: &LlmError, jitter: f64) -> Option<Duration> {
        if retry >= self.max_retries || !error.is_retryable() {
            return None;
        }
        if let LlmError::RateLimited {
            retry_after: Some(after),
        } = error
        {
            return (*after <= self.max_retry_after).then_some(*after);
        }
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_backoff);
        Some(exp.mul_f64(jitter.clamp(0.0, 1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_retries: 10,
            base: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(1),
        };
        let e = LlmError::Server(503);
        assert_eq!(p.delay(0, &e, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(p.delay(2, &e, 1.0), Some(Duration::from_millis(400)));
        assert_eq!(p.delay(5, &e, 1.0), Some(Duration::from_millis(500)));
        assert_eq!(p.delay(5, &e, 0.5), Some(Duration::from_millis(250)));
        assert_eq!(p.delay(10, &e, 1.0), None, "bounded");
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_bound() {
        let p = RetryPolicy::default();
        let rl = |s| LlmError::RateLimited {
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(p.delay(0, &rl(3), 0.0), Some(Duration::from_secs(3)));
        assert_eq!(p.delay(0, &rl(60), 0.0), None);
        assert_eq!(p.delay(0, &LlmError::Invalid("x".into()), 1.0), None);
    }
}

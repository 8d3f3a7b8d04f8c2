//! The LLM edge: the OpenAI-compatible adapter behind the core's `LlmPort`
//! (`byte_actors::llm`). Works with OpenAI, Ollama, vLLM and llama.cpp's server: anything
//! that speaks `POST {base}/chat/completions`.
//!
//! # Layout
//! - [`client`]: one attempt through async-openai on our own transport (no hidden retries,
//!   `Retry-After` kept, body size bounded).
//! - [`retry`]: capped exponential backoff with jitter, honouring `Retry-After` (bounded).
//! - [`breaker`]: the circuit breaker (closed → open for a cooldown → half-open probe).
//! - [`resilient`]: [`Resilient`], the port the co-pilot calls: routing, timeouts, retries,
//!   breaker, metrics, and the labelled rule-based fallback.
//!
//! Logging: spans carry `activity` and `model`; never the key, never prompt text.

pub mod breaker;
pub mod client;
pub mod resilient;
pub mod retry;

use std::collections::HashMap;
use std::time::Duration;

use byte_actors::llm::ModelRouting;

pub use breaker::{BreakerConfig, BreakerState};
pub use client::ClientConfig;
pub use resilient::Resilient;
pub use retry::RetryPolicy;

/// Price of a model, in US dollars per 1000 tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Price {
    /// Per 1000 prompt tokens.
    pub per_1k_in: f64,
    /// Per 1000 completion tokens.
    pub per_1k_out: f64,
}

/// Prices by model; models not listed (local ones) cost nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable(HashMap<String, Price>);

impl PriceTable {
    /// Parses `model=in/out,model=in/out` (dollars per 1000 tokens).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut out = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (model, prices) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?}: expected model=in/out"))?;
            let (i, o) = prices
                .split_once('/')
                .ok_or_else(|| format!("{entry:?}: expected model=in/out"))?;
            let num = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| format!("{entry:?}: {s:?} is not a non-negative price"))
            };
            let model = model.trim();
            if model.is_empty() {
                return Err(format!("{entry:?}: empty model name"));
            }
            out.insert(
                model.to_owned(),
                Price {
                    per_1k_in: num(i)?,
                    per_1k_out: num(o)?,
                },
            );
        }
        Ok(Self(out))
    }

    /// The price of `model` (zero when unknown).
    pub fn price(&self, model: &str) -> Price {
        self.0.get(model).copied().unwrap_or_default()
    }

    /// Estimated cost of a call, in millionths of a dollar, rounded to the nearest.
    pub fn cost_microdollars(&self, model: &str, tokens_in: u32, tokens_out: u32) -> u64 {
        let p = self.price(model);
        let dollars = p.per_1k_in * f64::from(tokens_in) / 1000.0
            + p.per_1k_out * f64::from(tokens_out) / 1000.0;
        // Non-negative and finite by construction; `as` saturates anyway.
        (dollars * 1e6).round() as u64
    }
}

/// Everything [`Resilient`] needs.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// The endpoint; `None`: every request is answered by the fallback.
    pub client: Option<ClientConfig>,
    /// Which model serves which activity.
    pub routing: ModelRouting,
    /// Prices for the cost estimate.
    pub prices: PriceTable,
    /// Timeout of each attempt.
    pub timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// Circuit breaker.
    pub breaker: BreakerConfig,
}

/// Largest response body accepted from a model server.
pub const MAX_BODY_BYTES: u64 = 1 << 20;
/// Longest completion text kept, in characters (generous for reports; chat replies are cut
/// further by whoever posts them).
pub const MAX_TEXT_CHARS: usize = 16_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_and_cost_in_microdollars() {
        let t = PriceTable::parse("gpt-4o-mini=0.00015/0.0006, gpt-4o=0.0025/0.01").unwrap();
        assert_eq!(t.cost_microdollars("gpt-4o-mini", 1000, 1000), 750);
        assert_eq!(t.cost_microdollars("gpt-4o", 2000, 100), 6000);
        assert_eq!(t.cost_microdollars("llama3", 5000, 5000), 0);
        assert!(PriceTable::parse("gpt=1").is_err());
        assert!(PriceTable::parse("gpt=1/x").is_err());
        assert!(PriceTable::parse("gpt=-1/1").is_err());
        assert!(PriceTable::parse("=1/1").is_err());
        assert_eq!(PriceTable::parse("").unwrap(), PriceTable::default());
    }
}

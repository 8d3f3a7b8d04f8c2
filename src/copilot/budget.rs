//! Daily LLM budgets at the edge: [`Budgeted`] wraps the resilient LLM port so every
//! activity of every channel reserves its worst case in the ledger
//! (`byte_actors::copilot::budget`) before the call and settles what it really used after.
//! A refused request is answered by the labelled rule-based fallback, like any other
//! unavailability, so callers never see an error.
//!
//! Spend is kept in `llm_usage` (per UTC day and channel), written every couple of seconds
//! by [`Budget::spawn_flusher`] and loaded at start, so a restart does not hand out the day's
//! budget again. Gauges `byte_llm_budget_used_ratio{scope}` and `byte_llm_budget_limit` feed
//! the "budget nearly spent" alert before anything is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use byte_actors::copilot::budget::{Account, Caps, Ledger, OverBudget, Spend, estimate_tokens};
use byte_actors::llm::{Activity, ChatRequest, Completion, LlmError, LlmPort, Source};
use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use chrono::{NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::llm::Resilient;

/// The configured default caps (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetLimits {
    /// Fleet tokens per day.
    pub global_tokens: u64,
    /// Fleet micro-dollars per day.
    pub global_microdollars: u64,
    /// Tokens per channel per day.
    pub channel_tokens: u64,
    /// Micro-dollars per channel per day.
    pub channel_microdollars: u64,
}

/// Most tokens a request may generate when its caller set no bound: the budget needs one.
pub fn default_max_tokens(activity: Activity) -> u32 {
    match activity {
        Activity::ChatReply => 256,
        Activity::PostStreamReport => 1_200,
        _ => 512,
    }
}

/// One scope's day, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// Daily token cap (0: none).
    pub cap_tokens: u64,
    /// Daily cost cap in US dollars (0: none).
    pub cap_usd: f64,
    /// Tokens used today.
    pub spent_tokens: u64,
    /// Estimated dollars spent today.
    pub spent_usd: f64,
    /// Reserved by requests in flight (tokens).
    pub reserved_tokens: u64,
    /// Share of the tighter cap used, 0-1 (0 when uncapped).
    pub used_ratio: f64,
    /// Requests answered by a model today.
    pub requests: u64,
    /// Requests refused today for this cap.
    pub denied: u64,
}

fn view(a: Account, caps: Caps) -> AccountView {
    AccountView {
        cap_tokens: caps.tokens,
        cap_usd: caps.microdollars as f64 / 1e6,
        spent_tokens: a.spent.tokens,
        spent_usd: a.spent.microdollars as f64 / 1e6,
        reserved_tokens: a.reserved.tokens,
        used_ratio: a.used_ratio(caps),
        requests: a.requests,
        denied: a.denied,
    }
}

/// The fleet's budgets today.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BudgetsView {
    /// The UTC day counted.
    pub day: NaiveDate,
    /// The fleet.
    pub global: AccountView,
    /// The default per-channel caps.
    pub channel_default: AccountView,
    /// Channels that spent or were refused today, most spent first (at most 100).
    pub channels: Vec<ChannelBudgetView>,
}

/// One channel's budget today.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelBudgetView {
    /// The channel.
    #[schema(value_type = String)]
    pub channel: ChannelLogin,
    /// Whether its caps were set for it (otherwise the default applies).
    pub overridden: bool,
    /// Its day.
    #[serde(flatten)]
    pub account: AccountView,
}

/// The ledger with its storage.
pub struct Budget {
    ledger: Mutex<Ledger>,
    /// Spend settled but not yet written: (day, channel or "") -> (spend, requests).
    pending: Mutex<HashMap<(NaiveDate, String), (Spend, u64)>>,
    pool: PgPool,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Budget {
    /// A budget with the configured caps and nothing spent.
    pub fn new(pool: PgPool, limits: BudgetLimits) -> Self {
        let caps = |tokens, microdollars| Caps {
            tokens,
            microdollars,
        };
        metrics::gauge!(m::LLM_BUDGET_LIMIT, "scope" => "global", "unit" => "tokens")
            .set(limits.global_tokens as f64);
        metrics::gauge!(m::LLM_BUDGET_LIMIT, "scope" => "global", "unit" => "microdollars")
            .set(limits.global_microdollars as f64);
        metrics::gauge!(m::LLM_BUDGET_LIMIT, "scope" => "channel", "unit" => "tokens")
            .set(limits.channel_tokens as f64);
        metrics::gauge!(m::LLM_BUDGET_LIMIT, "scope" => "channel", "unit" => "microdollars")
            .set(limits.channel_microdollars as f64);
        for scope in ["global", "channel"] {
            metrics::counter!(m::LLM_BUDGET_DENIED, "scope" => scope).absolute(0);
        }
        let this = Self {
            ledger: Mutex::new(Ledger::new(
                Utc::now().date_naive(),
                caps(limits.global_tokens, limits.global_microdollars),
                caps(limits.channel_tokens, limits.channel_microdollars),
            )),
            pending: Mutex::new(HashMap::new()),
            pool,
        };
        this.publish();
        this
    }

    /// Loads today's spend and the per-channel caps (at start, once the database answers).
    pub async fn load(&self) -> Result<(), sqlx::Error> {
        let today = Utc::now().date_naive();
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT channel, tokens, microdollars, requests FROM llm_usage WHERE day = $1",
        )
        .bind(today)
        .fetch_all(&self.pool)
        .await?;
        let overrides: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT channel, daily_tokens, daily_microdollars FROM llm_channel_budgets",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut ledger = lock(&self.ledger);
        ledger.roll(today);
        for (channel, tokens, micro, requests) in rows {
            let spent = Spend {
                tokens: tokens.max(0) as u64,
                microdollars: micro.max(0) as u64,
            };
            let channel = (!channel.is_empty()).then(|| ChannelLogin::from_twitch(&channel));
            ledger.load(channel.as_ref(), spent, requests.max(0) as u64);
        }
        for (channel, tokens, micro) in overrides {
            ledger.set_override(
                ChannelLogin::from_twitch(&channel),
                Some(Caps {
                    tokens: tokens.max(0) as u64,
                    microdollars: micro.max(0) as u64,
                }),
            );
        }
        drop(ledger);
        self.publish();
        Ok(())
    }

    fn reserve(
        &self,
        channel: Option<&ChannelLogin>,
        want: Spend,
    ) -> Result<byte_actors::copilot::budget::Reservation, OverBudget> {
        lock(&self.ledger).reserve(Utc::now().date_naive(), channel, want)
    }

    fn settle(
        &self,
        r: byte_actors::copilot::budget::Reservation,
        channel: Option<&ChannelLogin>,
        used: Spend,
    ) {
        let day = {
            let mut ledger = lock(&self.ledger);
            ledger.settle(r, used);
            ledger.day()
        };
        if used != Spend::default() {
            let key = (
                day,
                channel.map(|c| c.as_str().to_owned()).unwrap_or_default(),
            );
            let mut pending = lock(&self.pending);
            let entry = pending.entry(key).or_default();
            entry.0.tokens += used.tokens;
            entry.0.microdollars += used.microdollars;
            entry.1 += 1;
        }
    }

    /// Writes settled spend; on failure it is kept for the next try.
    pub async fn flush(&self) -> Result<(), sqlx::Error> {
        let batch: Vec<_> = lock(&self.pending).drain().collect();
        for (i, ((day, channel), (spend, requests))) in batch.iter().enumerate() {
            let out = sqlx::query(
                "INSERT INTO llm_usage (day, channel, tokens, microdollars, requests)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (day, channel) DO UPDATE SET
                   tokens = llm_usage.tokens + EXCLUDED.tokens,
                   microdollars = llm_usage.microdollars + EXCLUDED.microdollars,
                   requests = llm_usage.requests + EXCLUDED.requests",
            )
            .bind(day)
            .bind(channel)
            .bind(i64::try_from(spend.tokens).unwrap_or(i64::MAX))
            .bind(i64::try_from(spend.microdollars).unwrap_or(i64::MAX))
            .bind(i64::try_from(*requests).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await;
            if let Err(e) = out {
                // Put back what was not written, so it is retried.
                let mut pending = lock(&self.pending);
                for (key, (s, r)) in batch.into_iter().skip(i) {
                    let entry = pending.entry(key).or_default();
                    entry.0.tokens += s.tokens;
                    entry.0.microdollars += s.microdollars;
                    entry.1 += r;
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Writes spend and refreshes the gauges every `every` until the task is aborted.
    pub fn spawn_flusher(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut loaded = false;
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                if !loaded {
                    match self.load().await {
                        Ok(()) => loaded = true,
                        Err(e) => {
                            tracing::debug!(error = %e, "LLM budget not loaded yet");
                            continue;
                        }
                    }
                }
                lock(&self.ledger).roll(Utc::now().date_naive());
                if let Err(e) = self.flush().await {
                    tracing::warn!(error = %e, "LLM spend not written yet; retrying");
                }
                self.publish();
            }
        })
    }

    fn publish(&self) {
        let ledger = lock(&self.ledger);
        metrics::gauge!(m::LLM_BUDGET_USED, "scope" => "global")
            .set(ledger.global().used_ratio(ledger.global_caps()));
        metrics::gauge!(m::LLM_BUDGET_USED, "scope" => "channel_max")
            .set(ledger.channel_max_ratio());
    }

    /// Sets (or with `None` clears) a channel's caps, stored first.
    pub async fn set_channel_caps(
        &self,
        channel: &ChannelLogin,
        caps: Option<Caps>,
        by: &str,
    ) -> Result<(), sqlx::Error> {
        match caps {
            Some(c) => {
                sqlx::query(
                    "INSERT INTO llm_channel_budgets (channel, daily_tokens, daily_microdollars, updated_by)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (channel) DO UPDATE SET daily_tokens = EXCLUDED.daily_tokens,
                       daily_microdollars = EXCLUDED.daily_microdollars, updated_at = now(),
                       updated_by = EXCLUDED.updated_by",
                )
                .bind(channel.as_str())
                .bind(i64::try_from(c.tokens).unwrap_or(i64::MAX))
                .bind(i64::try_from(c.microdollars).unwrap_or(i64::MAX))
                .bind(by)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM llm_channel_budgets WHERE channel = $1")
                    .bind(channel.as_str())
                    .execute(&self.pool)
                    .await?;
            }
        }
        lock(&self.ledger).set_override(channel.clone(), caps);
        self.publish();
        Ok(())
    }

    /// The fleet's budgets today.
    pub fn view(&self) -> BudgetsView {
        let ledger = lock(&self.ledger);
        let default_caps = ledger.default_channel_caps();
        BudgetsView {
            day: ledger.day(),
            global: view(ledger.global(), ledger.global_caps()),
            channel_default: view(Account::default(), default_caps),
            channels: ledger
                .channels()
                .into_iter()
                .take(100)
                .map(|(c, a)| {
                    let caps = ledger.channel_caps(&c);
                    ChannelBudgetView {
                        overridden: caps != default_caps,
                        account: view(a, caps),
                        channel: c,
                    }
                })
                .collect(),
        }
    }

    /// One channel's budget today.
    pub fn channel_view(&self, channel: &ChannelLogin) -> ChannelBudgetView {
        let ledger = lock(&self.ledger);
        let caps = ledger.channel_caps(channel);
        let default_caps = ledger.default_channel_caps();
        ChannelBudgetView {
            channel: channel.clone(),
            overridden: caps != default_caps,
            account: view(ledger.channel(channel), caps),
        }
    }
}

/// The LLM port every co-pilot activity uses: the resilient service behind the budgets.
#[derive(Debug, Clone)]
pub struct Budgeted {
    inner: Arc<Resilient>,
    budget: Arc<Budget>,
}

impl Budgeted {
    /// Wraps `inner` with `budget`.
    pub fn new(inner: Arc<Resilient>, budget: Arc<Budget>) -> Self {
        Self { inner, budget }
    }
}

#[async_trait::async_trait]
impl LlmPort for Budgeted {
    async fn complete(&self, mut request: ChatRequest) -> Result<Completion, LlmError> {
        let Some(model) = self.inner.resolve_model(&request) else {
            // No model to pay: the fallback answers, for free.
            return self.inner.complete(request).await;
        };
        let max_out = *request
            .max_tokens
            .get_or_insert_with(|| default_max_tokens(request.activity));
        let prompt_chars: usize = request
            .messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum();
        let est_in = estimate_tokens(prompt_chars, 0);
        let want = Spend {
            tokens: est_in + u64::from(max_out),
            microdollars: self.inner.cost_microdollars(
                &model,
                u32::try_from(est_in).unwrap_or(u32::MAX),
                max_out,
            ),
        };
        let channel = request.channel.clone();
        let reservation = match self.budget.reserve(channel.as_ref(), want) {
            Ok(r) => r,
            Err(over) => {
                metrics::counter!(m::LLM_BUDGET_DENIED, "scope" => over.as_str()).increment(1);
                tracing::info!(reason = %over, "LLM request refused by the budget");
                return Ok(self.inner.fall_back(&request, "budget"));
            }
        };
        let out = self.inner.complete(request).await;
        let used = match &out {
            Ok(c) if c.source == Source::Model => Spend {
                tokens: u64::from(c.tokens_in) + u64::from(c.tokens_out),
                microdollars: self
                    .inner
                    .cost_microdollars(&c.model, c.tokens_in, c.tokens_out),
            },
            _ => Spend::default(),
        };
        self.budget.settle(reservation, channel.as_ref(), used);
        out
    }
}

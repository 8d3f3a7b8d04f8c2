//! Daily LLM budgets: what the fleet and each channel may spend per UTC day, in tokens and
//! in estimated cost, and the ledger that enforces it.
//!
//! "Stops spending at the cap" must hold with many requests in flight, so a request
//! **reserves** its worst case before it is sent (prompt tokens estimated from its length,
//! plus the most it may generate) and is refused if the reservation does not fit; when the
//! answer comes back the reservation is replaced by what was really used. Spend can therefore
//! never pass a cap, at the price of refusing a request that would have fit on the last few
//! percent. A fallback answer (model down) spends nothing.
//!
//! Pure: the day and the estimates are arguments; the edge (`bytebot::copilot::budget`)
//! persists the spend and exports the gauges.

use chrono::NaiveDate;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::model::ChannelLogin;

/// Daily caps; 0 means no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Tokens (in + out).
    pub tokens: u64,
    /// Estimated cost, millionths of a US dollar.
    pub microdollars: u64,
}

/// Tokens and cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    /// Tokens (in + out).
    pub tokens: u64,
    /// Estimated cost, millionths of a US dollar.
    pub microdollars: u64,
}

impl Spend {
    fn add(&mut self, other: Spend) {
        self.tokens = self.tokens.saturating_add(other.tokens);
        self.microdollars = self.microdollars.saturating_add(other.microdollars);
    }

    fn sub(&mut self, other: Spend) {
        self.tokens = self.tokens.saturating_sub(other.tokens);
        self.microdollars = self.microdollars.saturating_sub(other.microdollars);
    }
}

/// One scope's day: spent, reserved by requests in flight, requests and refusals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Really used today.
    pub spent: Spend,
    /// Reserved by requests in flight.
    pub reserved: Spend,
    /// Requests that went to a model today.
    pub requests: u64,
    /// Requests refused today for this scope's cap.
    pub denied: u64,
}

impl Account {
    fn fits(&self, caps: Caps, want: Spend) -> bool {
        let within = |cap: u64, spent: u64, reserved: u64, want: u64| {
            cap == 0 || spent.saturating_add(reserved).saturating_add(want) <= cap
        };
        within(
            caps.tokens,
            self.spent.tokens,
            self.reserved.tokens,
            want.tokens,
        ) && within(
            caps.microdollars,
            self.spent.microdollars,
            self.reserved.microdollars,
            want.microdollars,
        )
    }

    /// Share of the tighter cap used (spent + reserved), 0 when uncapped.
    pub fn used_ratio(&self, caps: Caps) -> f64 {
        let ratio = |cap: u64, used: u64| {
            if cap == 0 {
                0.0
            } else {
                used as f64 / cap as f64
            }
        };
        ratio(
            caps.tokens,
            self.spent.tokens.saturating_add(self.reserved.tokens),
        )
        .max(ratio(
            caps.microdollars,
            self.spent
                .microdollars
                .saturating_add(self.reserved.microdollars),
        ))
    }
}

/// Which cap refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    /// The fleet's daily cap.
    #[error("the fleet's daily LLM budget is spent")]
    Global,
    /// The channel's daily cap.
    #[error("this channel's daily LLM budget is spent")]
    Channel,
}

impl OverBudget {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            OverBudget::Global => "global",
            OverBudget::Channel => "channel",
        }
    }
}

/// A reservation to settle once the answer is in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "settle the reservation, or the budget stays reserved"]
pub struct Reservation {
    day: NaiveDate,
    channel: Option<ChannelLogin>,
    reserved: Spend,
}

/// The ledger of one UTC day.
#[derive(Debug, Clone)]
pub struct Ledger {
    day: NaiveDate,
    global_caps: Caps,
    channel_caps: Caps,
    overrides: FxHashMap<ChannelLogin, Caps>,
    global: Account,
    channels: FxHashMap<ChannelLogin, Account>,
}

impl Ledger {
    /// An empty ledger for `day` with the default caps.
    pub fn new(day: NaiveDate, global_caps: Caps, channel_caps: Caps) -> Self {
        Self {
            day,
            global_caps,
            channel_caps,
            overrides: FxHashMap::default(),
            global: Account::default(),
            channels: FxHashMap::default(),
        }
    }

    /// The day being counted.
    pub fn day(&self) -> NaiveDate {
        self.day
    }

    /// Starts a new day when `today` is later: spend resets, reservations in flight move
    /// over (they are settled against the new day).
    pub fn roll(&mut self, today: NaiveDate) {
        if today <= self.day {
            return;
        }
        self.day = today;
        self.global = Account {
            reserved: self.global.reserved,
            ..Account::default()
        };
        self.channels.retain(|_, a| a.reserved != Spend::default());
        for a in self.channels.values_mut() {
            *a = Account {
                reserved: a.reserved,
                ..Account::default()
            };
        }
    }

    /// Replaces a channel's caps (`None`: back to the default).
    pub fn set_override(&mut self, channel: ChannelLogin, caps: Option<Caps>) {
        match caps {
            Some(c) => {
                self.overrides.insert(channel, c);
            }
            None => {
                self.overrides.remove(&channel);
            }
        }
    }

    /// The caps that apply to `channel`.
    pub fn channel_caps(&self, channel: &ChannelLogin) -> Caps {
        self.overrides
            .get(channel)
            .copied()
            .unwrap_or(self.channel_caps)
    }

    /// The caps of channels without their own.
    pub fn default_channel_caps(&self) -> Caps {
        self.channel_caps
    }

    /// The fleet's caps.
    pub fn global_caps(&self) -> Caps {
        self.global_caps
    }

    /// Adds spend loaded from storage (at start).
    pub fn load(&mut self, channel: Option<&ChannelLogin>, spent: Spend, requests: u64) {
        self.global.spent.add(spent);
        self.global.requests += requests;
        if let Some(c) = channel {
            let a = self.channels.entry(c.clone()).or_default();
            a.spent.add(spent);
            a.requests += requests;
        }
    }

    /// Reserves `want` for a request of `channel`, or says which cap refuses it.
    pub fn reserve(
        &mut self,
        today: NaiveDate,
        channel: Option<&ChannelLogin>,
        want: Spend,
    ) -> Result<Reservation, OverBudget> {
        self.roll(today);
        if !self.global.fits(self.global_caps, want) {
            self.global.denied += 1;
            return Err(OverBudget::Global);
        }
        if let Some(c) = channel {
            let caps = self.channel_caps(c);
            let account = self.channels.entry(c.clone()).or_default();
            if !account.fits(caps, want) {
                account.denied += 1;
                return Err(OverBudget::Channel);
            }
            account.reserved.add(want);
        }
        self.global.reserved.add(want);
        Ok(Reservation {
            day: self.day,
            channel: channel.cloned(),
            reserved: want,
        })
    }

    /// Replaces a reservation with what was used (zero when the model did not answer).
    /// Returns the spend to persist for the ledger's day.
    pub fn settle(&mut self, r: Reservation, used: Spend) -> Spend {
        self.global.reserved.sub(r.reserved);
        let counts = r.day == self.day;
        if counts {
            self.global.spent.add(used);
            if used != Spend::default() {
                self.global.requests += 1;
            }
        }
        if let Some(c) = &r.channel
            && let Some(a) = self.channels.get_mut(c)
        {
            a.reserved.sub(r.reserved);
            if counts {
                a.spent.add(used);
                if used != Spend::default() {
                    a.requests += 1;
                }
            }
        }
        used
    }

    /// The fleet's account today.
    pub fn global(&self) -> Account {
        self.global
    }

    /// A channel's account today.
    pub fn channel(&self, channel: &ChannelLogin) -> Account {
        self.channels.get(channel).copied().unwrap_or_default()
    }

    /// The highest share of its cap any channel has used.
    pub fn channel_max_ratio(&self) -> f64 {
        self.channels
            .iter()
            .map(|(c, a)| a.used_ratio(self.channel_caps(c)))
            .fold(0.0, f64::max)
    }

    /// Every channel with an account today, most spent first.
    pub fn channels(&self) -> Vec<(ChannelLogin, Account)> {
        let mut v: Vec<_> = self.channels.iter().map(|(c, a)| (c.clone(), *a)).collect();
        v.sort_by(|a, b| {
            b.1.spent
                .microdollars
                .cmp(&a.1.spent.microdollars)
                .then(b.1.spent.tokens.cmp(&a.1.spent.tokens))
                .then(a.0.cmp(&b.0))
        });
        v
    }
}

/// A request's worst case: its prompt (about 4 characters a token, rounded up generously to
/// 3) plus the most it may generate.
pub fn estimate_tokens(prompt_chars: usize, max_tokens: u32) -> u64 {
    (prompt_chars as u64).div_ceil(3) + u64::from(max_tokens)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn ch(s: &str) -> ChannelLogin {
        ChannelLogin::from_twitch(s)
    }

    fn tokens(n: u64) -> Spend {
        Spend {
            tokens: n,
            microdollars: 0,
        }
    }

    #[test]
    fn a_channel_cap_refuses_only_that_channel() {
        let mut l = Ledger::new(
            day(1),
            Caps::default(),
            Caps {
                tokens: 100,
                microdollars: 0,
            },
        );
        let r = l.reserve(day(1), Some(&ch("a")), tokens(80)).unwrap();
        assert_eq!(
            l.reserve(day(1), Some(&ch("a")), tokens(30)),
            Err(OverBudget::Channel)
        );
        assert!(l.reserve(day(1), Some(&ch("b")), tokens(30)).is_ok());
        // Used less than reserved: room again.
        l.settle(r, tokens(50));
        assert!(l.reserve(day(1), Some(&ch("a")), tokens(30)).is_ok());
        assert_eq!(l.channel(&ch("a")).denied, 1);
        assert_eq!(l.channel(&ch("a")).spent, tokens(50));
    }

    #[test]
    fn overrides_replace_the_default_and_days_reset_spend() {
        let mut l = Ledger::new(
            day(1),
            Caps {
                tokens: 0,
                microdollars: 1_000,
            },
            Caps::default(),
        );
        l.set_override(
            ch("a"),
            Some(Caps {
                tokens: 10,
                microdollars: 0,
            }),
        );
        assert_eq!(
            l.reserve(day(1), Some(&ch("a")), tokens(11)),
            Err(OverBudget::Channel)
        );
        let money = Spend {
            tokens: 1,
            microdollars: 900,
        };
        let r = l.reserve(day(1), None, money).unwrap();
        l.settle(r, money);
        assert_eq!(l.reserve(day(1), None, money), Err(OverBudget::Global));
        assert!((l.global().used_ratio(l.global_caps()) - 0.9).abs() < 1e-9);
        assert!(l.reserve(day(2), None, money).is_ok(), "a new day");
        assert_eq!(l.day(), day(2));
    }

    #[test]
    fn a_reservation_from_yesterday_frees_its_hold_but_spends_nothing_today() {
        let mut l = Ledger::new(
            day(1),
            Caps {
                tokens: 100,
                microdollars: 0,
            },
            Caps::default(),
        );
        let r = l.reserve(day(1), Some(&ch("a")), tokens(90)).unwrap();
        l.roll(day(2));
        assert_eq!(l.global().reserved, tokens(90));
        l.settle(r, tokens(90));
        assert_eq!(l.global(), Account::default());
    }

    proptest! {
        /// However requests interleave and whatever they really use (never more than they
        /// reserved), spend never passes a cap.
        #[test]
        fn spend_never_passes_a_cap(
            ops in proptest::collection::vec((0usize..3, 1u64..400, 0u64..=100, any::<bool>()), 1..300),
        ) {
            let caps = Caps { tokens: 2_000, microdollars: 0 };
            let mut l = Ledger::new(day(1), Caps { tokens: 5_000, microdollars: 0 }, caps);
            let channels = [ch("a"), ch("b"), ch("c")];
            let mut open: Vec<(Reservation, u64)> = Vec::new();
            for (c, want, used_pct, settle_first) in ops {
                if settle_first && let Some((r, want)) = open.pop() {
                    l.settle(r, tokens(want * used_pct / 100));
                }
                if let Ok(r) = l.reserve(day(1), Some(&channels[c]), tokens(want)) {
                    open.push((r, want));
                }
                for c in &channels {
                    let a = l.channel(c);
                    prop_assert!(a.spent.tokens + a.reserved.tokens <= caps.tokens);
                }
                let g = l.global();
                prop_assert!(g.spent.tokens + g.reserved.tokens <= 5_000);
            }
            for (r, want) in open {
                l.settle(r, tokens(want));
            }
            prop_assert!(l.global().spent.tokens <= 5_000);
            prop_assert_eq!(l.global().reserved, Spend::default());
        }
    }
}

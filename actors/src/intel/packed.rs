//! The last tick's [`Signals`], packed into one exact-sized byte block until something reads
//! them (the API, a reply, a snapshot), and unpacked exactly then.
//!
//! Why: a channel keeps its last tick's signals for the API and the per-tick gauges. As a
//! struct they were ~430 bytes inline (three window aggregates of 18 numbers, most of them
//! small or zero) plus a heap block per open question's login and text and per ungreeted
//! first-timer; packed, a quiet channel's are ~200 bytes in one block. The seven numbers
//! the per-tick gauges read come first, at fixed offsets ([`Glance`]).
//!
//! Exact: integers are varints (bits zigzagged), floats their bit patterns, instants their
//! seconds and nanoseconds, so what unpacks is equal to what was packed, and serialises the
//! same (snapshots write and read [`Signals`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::churn::{AtRiskChatter, ChurnLevel, ChurnReason, ChurnReport};
use super::ring::{Reader, Writer};
use super::signals::{OpenQuestion, RaidInfo, Signals, WindowStats};

/// Packed [`Signals`].
#[derive(Debug, Clone, PartialEq)]
pub struct PackedSignals(Box<[u8]>);

/// What the channel actor publishes after every tick (vitals, fleet summary) reads of the
/// signals; packed first, at fixed offsets, so reading it decodes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Glance {
    /// `w1.messages_per_min`.
    pub w1_messages_per_min: f64,
    /// `w5.messages_per_min`.
    pub w5_messages_per_min: f64,
    /// `w1.sentiment_mean`.
    pub w1_sentiment_mean: f64,
    /// `w5.sentiment_mean`.
    pub w5_sentiment_mean: f64,
    /// `w1.messages`.
    pub w1_messages: u64,
    /// `w5.messages`.
    pub w5_messages: u64,
    /// `w1.unique_chatters`.
    pub w1_unique_chatters: u32,
}

/// Bytes of the glance at the start of a packing.
const GLANCE_BYTES: usize = 4 * 8 + 2 * 8 + 4;

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

fn put_window(w: &mut Writer<'_>, s: &WindowStats) {
    w.varint(u64::from(s.span_secs));
    w.varint(s.messages);
    w.f64(s.messages_per_min);
    w.varint(u64::from(s.unique_chatters));
    w.varint(u64::from(s.new_chatters));
    w.varint(u64::from(s.returning_chatters));
    w.varint(s.emotes);
    w.varint(u64::from(s.questions));
    w.varint(u64::from(s.questions_answered));
    w.varint(u64::from(s.mentions));
    w.varint(u64::from(s.moderation_actions));
    w.varint(u64::from(s.toxic_messages));
    w.varint(u64::from(s.subs));
    w.varint(u64::from(s.gifts));
    w.varint(zigzag(s.bits));
    w.varint(u64::from(s.raids));
    w.varint(s.raid_viewers);
    w.f64(s.sentiment_mean);
}

fn get_u32(r: &mut Reader<'_>) -> Option<u32> {
    u32::try_from(r.varint()?).ok()
}

fn get_window(r: &mut Reader<'_>) -> Option<WindowStats> {
    Some(WindowStats {
        span_secs: get_u32(r)?,
        messages: r.varint()?,
        messages_per_min: r.f64()?,
        unique_chatters: get_u32(r)?,
        new_chatters: get_u32(r)?,
        returning_chatters: get_u32(r)?,
        emotes: r.varint()?,
        questions: get_u32(r)?,
        questions_answered: get_u32(r)?,
        mentions: get_u32(r)?,
        moderation_actions: get_u32(r)?,
        toxic_messages: get_u32(r)?,
        subs: get_u32(r)?,
        gifts: get_u32(r)?,
        bits: unzigzag(r.varint()?),
        raids: get_u32(r)?,
        raid_viewers: r.varint()?,
        sentiment_mean: r.f64()?,
    })
}

thread_local! {
    /// Where a repack writes before it knows the size (one per thread, reused).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes with `write` into the thread's scratch buffer, then into `into`: in place when the
/// size did not change (a quiet channel's tick, nearly always), so a tick allocates nothing.
fn repack_into(into: &mut Box<[u8]>, write: impl FnOnce(&mut Vec<u8>)) {
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        write(scratch);
        if scratch.len() == into.len() {
            into.copy_from_slice(scratch);
        } else {
            *into = scratch.as_slice().into();
        }
    });
}

impl PackedSignals {
    /// Packs `s`.
    pub fn pack(s: &Signals) -> Self {
        let mut buf = Vec::with_capacity(160);
        Self::write(s, &mut buf);
        Self(buf.into_boxed_slice())
    }

    /// Packs `s` in place of what this holds (reusing its block when the size is the same).
    pub fn repack(&mut self, s: &Signals) {
        repack_into(&mut self.0, |buf| Self::write(s, buf));
    }

    fn write(s: &Signals, buf: &mut Vec<u8>) {
        let mut w = Writer(buf);
        // The glance first, at fixed offsets (see [`Glance`]).
        for x in [
            s.w1.messages_per_min,
            s.w5.messages_per_min,
            s.w1.sentiment_mean,
            s.w5.sentiment_mean,
        ] {
            w.f64(x);
        }
        w.0.extend_from_slice(&s.w1.messages.to_le_bytes());
        w.0.extend_from_slice(&s.w5.messages.to_le_bytes());
        w.0.extend_from_slice(&s.w1.unique_chatters.to_le_bytes());
        w.time(s.now);
        for window in [&s.w1, &s.w5, &s.w15] {
            put_window(&mut w, window);
        }
        w.f64(s.baseline_rate_per_min);
        w.f64(s.rate_stddev_per_min);
        w.varint(s.open_questions.len() as u64);
        for q in &s.open_questions {
            w.time(q.asked_at);
            w.str(&q.login);
            w.str(&q.text);
        }
        w.varint(s.ungreeted_first_timers.len() as u64);
        for login in &s.ungreeted_first_timers {
            w.str(login);
        }
        match &s.last_raid {
            Some(raid) => {
                w.0.push(1);
                w.str(&raid.from);
                w.varint(raid.viewers);
                w.time(raid.at);
            }
            None => w.0.push(0),
        }
        match s.secs_since_last_message {
            Some(x) => {
                w.0.push(1);
                w.f64(x);
            }
            None => w.0.push(0),
        }
    }

    /// The few numbers read after every tick, at fixed offsets (no decoding).
    pub fn glance(&self) -> Glance {
        let mut r = Reader(&self.0);
        let read = |r: &mut Reader<'_>| {
            let u64 = |r: &mut Reader<'_>| Some(u64::from_le_bytes(r.bytes(8)?.try_into().ok()?));
            Some(Glance {
                w1_messages_per_min: r.f64()?,
                w5_messages_per_min: r.f64()?,
                w1_sentiment_mean: r.f64()?,
                w5_sentiment_mean: r.f64()?,
                w1_messages: u64(r)?,
                w5_messages: u64(r)?,
                w1_unique_chatters: u32::from_le_bytes(r.bytes(4)?.try_into().ok()?),
            })
        };
        read(&mut r).unwrap_or_default()
    }

    /// The signals as packed.
    pub fn unpack(&self) -> Signals {
        self.try_unpack().unwrap_or_else(|| {
            // Unreachable: the bytes are our own packing.
            Signals {
                now: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                w1: WindowStats::default(),
                w5: WindowStats::default(),
                w15: WindowStats::default(),
                baseline_rate_per_min: 0.0,
                rate_stddev_per_min: 0.0,
                open_questions: Vec::new(),
                ungreeted_first_timers: Vec::new(),
                last_raid: None,
                secs_since_last_message: None,
            }
        })
    }

    fn try_unpack(&self) -> Option<Signals> {
        let mut r = Reader(&self.0);
        r.bytes(GLANCE_BYTES)?;
        let now = r.time()?;
        let (w1, w5, w15) = (
            get_window(&mut r)?,
            get_window(&mut r)?,
            get_window(&mut r)?,
        );
        let (baseline_rate_per_min, rate_stddev_per_min) = (r.f64()?, r.f64()?);
        let n = usize::try_from(r.varint()?).ok()?;
        let mut open_questions = Vec::with_capacity(n.min(r.0.len()));
        for _ in 0..n {
            let asked_at = r.time()?;
            open_questions.push(OpenQuestion {
                login: r.str()?.to_owned(),
                text: r.str()?.to_owned(),
                asked_at,
            });
        }
        let n = usize::try_from(r.varint()?).ok()?;
        let mut ungreeted_first_timers = Vec::with_capacity(n.min(r.0.len()));
        for _ in 0..n {
            ungreeted_first_timers.push(r.str()?.to_owned());
        }
        let last_raid = match r.u8()? {
            0 => None,
            _ => Some(RaidInfo {
                from: r.str()?.to_owned(),
                viewers: r.varint()?,
                at: r.time()?,
            }),
        };
        let secs_since_last_message = match r.u8()? {
            0 => None,
            _ => Some(r.f64()?),
        };
        Some(Signals {
            now,
            w1,
            w5,
            w15,
            baseline_rate_per_min,
            rate_stddev_per_min,
            open_questions,
            ungreeted_first_timers,
            last_raid,
            secs_since_last_message,
        })
    }
}

impl Serialize for PackedSignals {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.unpack().serialize(s)
    }
}

impl<'de> Deserialize<'de> for PackedSignals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Signals::deserialize(d).map(|s| Self::pack(&s))
    }
}

/// The last tick's [`ChurnReport`], packed the same way; its explanation is either kept
/// (a report read from a snapshot) or left to be rendered by the engine when read (a report
/// a tick made: the engine's `explain` is a function of the report).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedChurn(Box<[u8]>);

const LEVELS: [ChurnLevel; 3] = [ChurnLevel::Low, ChurnLevel::Medium, ChurnLevel::High];

impl PackedChurn {
    /// Packs `r`; with `keep_explanation` false its explanation is dropped (to be rendered).
    pub fn pack(r: &ChurnReport, keep_explanation: bool) -> Self {
        let mut buf = Vec::with_capacity(64 + 48 * r.top_at_risk.len());
        Self::write(r, keep_explanation, &mut buf);
        Self(buf.into_boxed_slice())
    }

    /// Packs `r` in place of what this holds (reusing its block when the size is the same).
    pub fn repack(&mut self, r: &ChurnReport, keep_explanation: bool) {
        repack_into(&mut self.0, |buf| Self::write(r, keep_explanation, buf));
    }

    fn write(r: &ChurnReport, keep_explanation: bool, buf: &mut Vec<u8>) {
        let mut w = Writer(buf);
        w.f64(r.risk);
        w.0.push(LEVELS.iter().position(|l| *l == r.level).unwrap_or(0) as u8);
        w.time(r.at);
        w.varint(u64::from(r.active_regulars));
        w.varint(u64::from(r.regulars_at_risk));
        w.varint(u64::from(r.lost_regulars));
        w.varint(r.tracked as u64);
        w.varint(r.top_at_risk.len() as u64);
        for c in &r.top_at_risk {
            w.str(&c.login);
            w.f64(c.risk);
            w.0.push(u8::from(c.is_regular));
            w.varint(u64::from(c.messages));
            w.f64(c.silent_secs);
            w.varint(c.reasons.len() as u64);
            for reason in &c.reasons {
                match reason {
                    ChurnReason::WentQuiet {
                        silent_secs,
                        typical_gap_secs,
                    } => {
                        w.0.push(0);
                        w.f64(*silent_secs);
                        w.f64(*typical_gap_secs);
                    }
                    ChurnReason::Parted { secs_ago } => {
                        w.0.push(1);
                        w.f64(*secs_ago);
                    }
                    ChurnReason::SentimentDip { mood } => {
                        w.0.push(2);
                        w.f64(*mood);
                    }
                    ChurnReason::UnansweredQuestion { waited_secs } => {
                        w.0.push(3);
                        w.f64(*waited_secs);
                    }
                }
            }
        }
        if keep_explanation {
            w.0.push(1);
            w.str(&r.explanation);
        } else {
            w.0.push(0);
        }
    }

    /// The channel's risk and level, read without unpacking the rest.
    pub fn risk(&self) -> (f64, ChurnLevel) {
        let mut r = Reader(&self.0);
        let read = |r: &mut Reader<'_>| Some((r.f64()?, *LEVELS.get(usize::from(r.u8()?))?));
        read(&mut r).unwrap_or_default()
    }

    /// The report, and whether its explanation was kept (else it is empty, to be rendered).
    pub fn unpack(&self) -> (ChurnReport, bool) {
        self.try_unpack().unwrap_or_default()
    }

    fn try_unpack(&self) -> Option<(ChurnReport, bool)> {
        let mut r = Reader(&self.0);
        let risk = r.f64()?;
        let level = *LEVELS.get(usize::from(r.u8()?))?;
        let at = r.time()?;
        let active_regulars = get_u32(&mut r)?;
        let regulars_at_risk = get_u32(&mut r)?;
        let lost_regulars = get_u32(&mut r)?;
        let tracked = usize::try_from(r.varint()?).ok()?;
        let n = usize::try_from(r.varint()?).ok()?;
        let mut top_at_risk = Vec::with_capacity(n.min(r.0.len()));
        for _ in 0..n {
            let login = r.str()?.to_owned();
            let risk = r.f64()?;
            let is_regular = r.u8()? != 0;
            let messages = get_u32(&mut r)?;
            let silent_secs = r.f64()?;
            let k = usize::try_from(r.varint()?).ok()?;
            let mut reasons = Vec::with_capacity(k.min(r.0.len()));
            for _ in 0..k {
                reasons.push(match r.u8()? {
                    0 => ChurnReason::WentQuiet {
                        silent_secs: r.f64()?,
                        typical_gap_secs: r.f64()?,
                    },
                    1 => ChurnReason::Parted { secs_ago: r.f64()? },
                    2 => ChurnReason::SentimentDip { mood: r.f64()? },
                    _ => ChurnReason::UnansweredQuestion {
                        waited_secs: r.f64()?,
                    },
                });
            }
            top_at_risk.push(AtRiskChatter {
                login,
                risk,
                is_regular,
                messages,
                silent_secs,
                reasons,
            });
        }
        let kept = r.u8()? != 0;
        let explanation = if kept {
            r.str()?.to_owned()
        } else {
            String::new()
        };
        Some((
            ChurnReport {
                at,
                risk,
                level,
                top_at_risk,
                active_regulars,
                regulars_at_risk,
                lost_regulars,
                tracked,
                explanation,
            },
            kept,
        ))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::intel::health::testkit::{arb_signals, prop_config, steady};

    #[test]
    fn a_busy_moment_packs_and_unpacks_exactly() {
        let t = |secs: i64| Utc.timestamp_opt(1_700_000_000 + secs, 7).unwrap();
        let mut s = steady(t(100), 30.0);
        s.w1.bits = -5;
        s.w5.sentiment_mean = -0.0;
        s.open_questions = vec![OpenQuestion {
            login: "ana".into(),
            text: "qual o nome do jogo?".into(),
            asked_at: t(40),
        }];
        s.ungreeted_first_timers = vec!["bob".into(), "çà".into()];
        s.last_raid = Some(RaidInfo {
            from: "raider".into(),
            viewers: u64::MAX,
            at: t(90),
        });
        s.secs_since_last_message = Some(1.5);
        let p = PackedSignals::pack(&s);
        assert_eq!(p.unpack(), s);
        let g = p.glance();
        assert_eq!(
            (g.w1_messages, g.w5_messages, g.w1_unique_chatters),
            (s.w1.messages, s.w5.messages, s.w1.unique_chatters)
        );
        assert_eq!(
            [
                g.w1_messages_per_min,
                g.w5_messages_per_min,
                g.w1_sentiment_mean
            ]
            .map(f64::to_bits),
            [
                s.w1.messages_per_min,
                s.w5.messages_per_min,
                s.w1.sentiment_mean
            ]
            .map(f64::to_bits)
        );
        assert_eq!(g.w5_sentiment_mean.to_bits(), (-0.0f64).to_bits());
        let mut q = PackedSignals::pack(&steady(t(1), 1.0));
        q.repack(&s);
        assert_eq!(q, p, "repacked in place or not, the same bytes");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::to_value(&s).unwrap()
        );
        let back: PackedSignals =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn a_churn_report_packs_and_unpacks_exactly() {
        let t = |secs: i64| Utc.timestamp_opt(1_700_000_000 + secs, 3).unwrap();
        let reasons = vec![
            ChurnReason::Parted { secs_ago: 3.0 },
            ChurnReason::WentQuiet {
                silent_secs: 400.0,
                typical_gap_secs: 30.5,
            },
            ChurnReason::SentimentDip { mood: -0.75 },
            ChurnReason::UnansweredQuestion { waited_secs: 200.0 },
        ];
        let report = ChurnReport {
            at: t(10),
            risk: 0.25,
            level: ChurnLevel::Medium,
            top_at_risk: vec![AtRiskChatter {
                login: "ana".into(),
                risk: 0.9,
                is_regular: true,
                messages: 40,
                silent_secs: 400.0,
                reasons,
            }],
            active_regulars: 3,
            regulars_at_risk: 1,
            lost_regulars: 2,
            tracked: 77,
            explanation: "as written".into(),
        };
        let (back, kept) = PackedChurn::pack(&report, true).unpack();
        assert!(kept);
        assert_eq!(back, report);
        let lean = PackedChurn::pack(&report, false);
        assert_eq!(lean.risk(), (0.25, ChurnLevel::Medium));
        let (back, kept) = lean.unpack();
        assert!(!kept && back.explanation.is_empty());
        assert_eq!(
            ChurnReport {
                explanation: report.explanation.clone(),
                ..back
            },
            report
        );
    }

    proptest! {
        #![proptest_config(prop_config())]
        #[test]
        fn any_signals_unpack_bit_for_bit(s in arb_signals()) {
            let back = PackedSignals::pack(&s).unpack();
            // Compared as JSON-free bits: NaN != NaN under `==`.
            prop_assert_eq!(format!("{back:?}"), format!("{s:?}"));
        }
    }
}

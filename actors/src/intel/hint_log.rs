//! The channel's recent hints (the 50 the live view lists), kept as bytes in one buffer, with
//! the texts the coach derives from a hint's own numbers rendered again when read.
//!
//! Why: a kept hint was 128 bytes inline plus four strings and an evidence slice (five heap
//! blocks, ~400 bytes) — the largest part of a quiet channel's state. A hint's title,
//! message and suggested action are, for every rule, a function of its kind, its subject, its
//! evidence numbers and at most one more text (the question's words, the regulars'
//! descriptions, the sentiment window); its evidence names are fixed per kind; its id is
//! `<kind>-<unix ms of created_at>`. So a record holds the kind, priority, both instants, the
//! subject, that one text and the evidence numbers (~50 bytes for a greeting), and the rest
//! is rendered when the list is read (the API, snapshots: rare next to ticks).
//!
//! Exact by construction: [`HintLog::push`] renders the compact record back and compares it
//! with the hint; anything that does not come back identical (an edited snapshot, a rule whose
//! wording changed without its renderer) is kept verbatim instead. A mismatch costs memory,
//! never a different text.
//!
//! Snapshots write and read the list as hints, oldest first (the shape of the
//! `VecDeque<Hint>` it replaces).

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::churn::human_secs;
use super::coach::{Hint, HintKind, Priority, hint_id, join_names};
use super::health::Evidence;
use super::ring::{ByteRing, Reader, Writer};

const PRIORITIES: [Priority; 4] = [
    Priority::Low,
    Priority::Normal,
    Priority::High,
    Priority::Urgent,
];

/// The evidence names each rule writes, in the (byte) order [`Evidence`] keeps them.
fn evidence_names(kind: HintKind) -> &'static [&'static str] {
    match kind {
        HintKind::RaidArriving => &["raid_age_secs", "raid_viewers"],
        HintKind::ToxicitySpike => &[
            "bad_share_1m",
            "messages_1m",
            "moderation_actions_1m",
            "toxic_1m",
        ],
        HintKind::HypeMoment => &[
            "emotes_per_message",
            "event_units",
            "rate_per_min",
            "reference_rate_per_min",
            "z",
        ],
        HintKind::QuestionsPilingUp => &["oldest_age_secs", "open_questions"],
        HintKind::SentimentDropping => &["drop", "sentiment_15m", "sentiment_short"],
        HintKind::ChatSlowing => &[
            "baseline_rate_per_min",
            "health",
            "momentum_score",
            "rate_15m",
            "rate_1m",
        ],
        HintKind::RegularsSlipping => &[
            "active_regulars",
            "churn_risk",
            "regulars_at_risk",
            "top_risk",
        ],
        HintKind::GreetFirstTimers => &["first_timers"],
    }
}

const QUESTION_TAIL: &str = "\". Answer it on stream or ask a mod to";
const REGULARS_HEAD: &str = "Regulars going quiet: ";
const REGULARS_TAIL: &str = ". Call them in by name";

/// The one text besides subject and numbers a kind's wording needs, read back out of its
/// message (the renderer then proves it right or the hint is kept verbatim).
fn extra_of(kind: HintKind, message: &str) -> &str {
    match kind {
        HintKind::QuestionsPilingUp => message
            .strip_suffix(QUESTION_TAIL)
            .and_then(|m| m.split_once(" ago: \"").map(|(_, text)| text))
            .unwrap_or(""),
        HintKind::RegularsSlipping => message
            .strip_prefix(REGULARS_HEAD)
            .and_then(|m| m.strip_suffix(REGULARS_TAIL))
            .unwrap_or(""),
        HintKind::SentimentDropping => message
            .split_once(" over the ")
            .and_then(|(_, rest)| rest.split_once(", from "))
            .map_or("", |(window, _)| window),
        _ => "",
    }
}

/// Title, message and suggested action of a hint, from what a compact record keeps. Mirrors
/// the rules in `coach.rs` (a drift only costs memory: see the module doc).
fn render(kind: HintKind, subject: &str, ev: &Evidence, extra: &str) -> [String; 3] {
    let num = |name: &str| ev.get(name).unwrap_or(0.0);
    // The part before the subject's `@<ms>` (the raider, the asker).
    let who = subject.rsplit_once('@').map_or(subject, |(w, _)| w);
    match kind {
        HintKind::RaidArriving => {
            let viewers = num("raid_viewers") as u64;
            let message = if viewers > 0 {
                format!(
                    "Welcome the {viewers} raiders from {who} by name, thank {who} for the raid \
                     and give them a shoutout (!so {who})"
                )
            } else {
                format!(
                    "Welcome the raid from {who}, thank them and give them a shoutout (!so {who})"
                )
            };
            [
                format!("Raid from {who}!"),
                message,
                format!("Thank {who} and welcome their viewers"),
            ]
        }
        HintKind::ToxicitySpike => {
            let bad = num("toxic_1m").max(num("moderation_actions_1m")) as u32;
            [
                "Toxicity spike in chat".to_owned(),
                format!(
                    "{bad} toxic or moderated messages in the last minute ({:.0}% of {} \
                     messages). Consider slow mode (/slow 10) or followers-only mode, and back \
                     up your mods",
                    100.0 * num("bad_share_1m").min(1.0),
                    num("messages_1m") as u64
                ),
                "Turn on slow mode".to_owned(),
            ]
        }
        HintKind::HypeMoment => [
            "Hype moment: clip it!".to_owned(),
            format!(
                "Chat is exploding: {:.0} msg/min ({:.1}σ above the usual {:.0}) with {:.1} \
                 emotes per message. Clip the last minute now and react to chat",
                num("rate_per_min"),
                num("z"),
                num("reference_rate_per_min"),
                num("emotes_per_message")
            ),
            "Clip it".to_owned(),
        ],
        HintKind::QuestionsPilingUp => {
            let open = num("open_questions") as usize;
            let waiting = if open == 1 {
                "1 question is waiting".to_owned()
            } else {
                format!("{open} questions are waiting")
            };
            [
                "Questions waiting in chat".to_owned(),
                format!(
                    "{waiting}; the oldest, from {who} {} ago: \"{extra}{QUESTION_TAIL}",
                    human_secs(num("oldest_age_secs"))
                ),
                format!("Answer {who}"),
            ]
        }
        HintKind::SentimentDropping => [
            "Chat's mood is dropping".to_owned(),
            format!(
                "Mood in chat fell to {:+.2} over the {extra}, from {:+.2} over 15 minutes. \
                 Check what is frustrating chat: acknowledge it or change the pace",
                num("sentiment_short"),
                num("sentiment_15m")
            ),
            "Acknowledge chat's mood".to_owned(),
        ],
        HintKind::ChatSlowing => [
            "Chat is slowing down".to_owned(),
            format!(
                "Chat dropped to {:.0} msg/min from {:.0} over the last 15 minutes. Ask chat a \
                 question about what you are doing right now to get them talking",
                num("rate_1m"),
                num("rate_15m")
            ),
            "Ask chat an open question".to_owned(),
        ],
        HintKind::RegularsSlipping => [
            "Regulars going quiet".to_owned(),
            format!("{REGULARS_HEAD}{extra}{REGULARS_TAIL}"),
            format!("Say hi to {}", subject.replace(',', ", ")),
        ],
        HintKind::GreetFirstTimers => {
            let all = num("first_timers") as usize;
            let shown: Vec<String> = subject.split(',').map(str::to_owned).collect();
            let list = join_names(&shown, all.saturating_sub(shown.len()));
            let whom = if all == 1 {
                "it's their first time in chat"
            } else {
                "it's their first time in chat, make them feel welcome"
            };
            [
                "New chatters to greet".to_owned(),
                format!("Say hi to {list}: {whom}"),
                format!("Greet {list}"),
            ]
        }
    }
}

// Record flags.
const OTHER_ID: u8 = 1;
const VERBATIM_TEXTS: u8 = 2;
const VERBATIM_EVIDENCE: u8 = 4;

/// Encodes `h`, as compactly as reads back identically (everything verbatim when `verbatim`).
fn encode(h: &Hint, verbatim: bool, out: &mut Vec<u8>) {
    let kind = HintKind::ALL
        .iter()
        .position(|k| *k == h.kind)
        .unwrap_or_default() as u8;
    let names = evidence_names(h.kind);
    let named_as_usual = !verbatim
        && h.evidence.len() == names.len()
        && h.evidence.iter().zip(names).all(|((a, _), b)| a == *b);
    let extra = extra_of(h.kind, &h.message);
    let rendered = if named_as_usual {
        render(h.kind, &h.subject, &h.evidence, extra)
    } else {
        Default::default()
    };
    let texts_as_usual = named_as_usual
        && rendered[0] == h.title
        && rendered[1] == h.message
        && rendered[2] == h.suggested_action;
    let other_id = h.id != hint_id(h.kind, h.created_at);
    let mut flags = 0;
    if other_id {
        flags |= OTHER_ID;
    }
    if !texts_as_usual {
        flags |= VERBATIM_TEXTS;
    }
    if !named_as_usual {
        flags |= VERBATIM_EVIDENCE;
    }
    let mut w = Writer(out);
    w.0.extend_from_slice(&[kind, h.priority as u8, flags]);
    w.time(h.created_at);
    w.time(h.expires_at);
    w.str(&h.subject);
    w.str(if texts_as_usual { extra } else { "" });
    w.varint(h.evidence.len() as u64);
    for (name, value) in h.evidence.iter() {
        if !named_as_usual {
            w.str(name);
        }
        w.f64(value);
    }
    if other_id {
        w.str(&h.id);
    }
    if !texts_as_usual {
        w.str(&h.title);
        w.str(&h.message);
        w.str(&h.suggested_action);
    }
}

fn decode(record: &[u8]) -> Option<Hint> {
    let mut r = Reader(record);
    let kind = *HintKind::ALL.get(usize::from(r.u8()?))?;
    let priority = *PRIORITIES.get(usize::from(r.u8()?))?;
    let flags = r.u8()?;
    let created_at = r.time()?;
    let expires_at = r.time()?;
    let subject = r.str()?;
    let extra = r.str()?;
    let n = usize::try_from(r.varint()?).ok()?;
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let name: Cow<'static, str> = if flags & VERBATIM_EVIDENCE != 0 {
            Cow::Owned(r.str()?.to_owned())
        } else {
            Cow::Borrowed(*evidence_names(kind).get(i)?)
        };
        entries.push((name, r.f64()?));
    }
    let evidence = Evidence::from_kept(entries);
    let id = if flags & OTHER_ID != 0 {
        r.str()?.to_owned()
    } else {
        hint_id(kind, created_at)
    };
    let [title, message, suggested_action] = if flags & VERBATIM_TEXTS != 0 {
        [r.str()?, r.str()?, r.str()?].map(str::to_owned)
    } else {
        render(kind, subject, &evidence, extra)
    };
    Some(Hint {
        id,
        kind,
        priority,
        subject: subject.to_owned(),
        title,
        message,
        evidence,
        suggested_action,
        created_at,
        expires_at,
    })
}

/// Recent hints, oldest first, one record each in a [`ByteRing`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HintLog(ByteRing);

impl HintLog {
    /// Appends `h`, first dropping the oldest hints while `cap` or more are kept.
    pub fn push(&mut self, h: &Hint, cap: usize) {
        let mut record = Vec::with_capacity(64);
        encode(h, false, &mut record);
        if decode(&record).as_ref() != Some(h) {
            // A guard (the compact form is checked as it is chosen): everything verbatim.
            record.clear();
            encode(h, true, &mut record);
        }
        self.0.push_with(cap, |w| w.0.extend_from_slice(&record));
    }

    /// Hints kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none are kept.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Whether every hint is kept in the compact form (texts rendered on read).
    #[cfg(test)]
    pub(crate) fn all_compact(&self) -> bool {
        self.0.iter().all(|rec| {
            rec.get(2)
                .is_some_and(|f| f & (VERBATIM_TEXTS | VERBATIM_EVIDENCE) == 0)
        })
    }

    /// The hints, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Hint> + '_ {
        self.0.iter().filter_map(decode)
    }
}

impl Serialize for HintLog {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for HintLog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut log = HintLog::default();
        for h in Vec::<Hint>::deserialize(d)? {
            log.push(&h, usize::MAX);
        }
        Ok(log)
    }
}

//! The windows' capped lists — open questions, first-timers to greet, recent texts and the
//! timeline — each one [`ByteRing`] of records, serialised in the shape of the deque it
//! replaces so snapshots read and write as before.
//!
//! A timeline record names its kind by an index into the kinds the engines write (or, for a
//! kind read from a snapshot that is not one of them, by its text).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ring::{ByteRing, Reader};
use super::signals::OpenQuestion;
use super::windows::Moment;

/// Open questions, oldest first: (asked at, login, text).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Questions(pub(crate) ByteRing);

/// One open question, borrowed from its record.
pub(crate) struct QuestionRef<'a> {
    pub(crate) asked_at: DateTime<Utc>,
    pub(crate) login: &'a str,
    pub(crate) text: &'a str,
}

impl QuestionRef<'_> {
    pub(crate) fn to_owned(&self) -> OpenQuestion {
        OpenQuestion {
            login: self.login.to_owned(),
            text: self.text.to_owned(),
            asked_at: self.asked_at,
        }
    }
}

pub(crate) fn read_question(rec: &[u8]) -> Option<QuestionRef<'_>> {
    let mut r = Reader(rec);
    Some(QuestionRef {
        asked_at: r.time()?,
        login: r.str()?,
        text: r.str()?,
    })
}

impl Questions {
    /// Appends a question, dropping the oldest at `cap`.
    pub(crate) fn push(&mut self, cap: usize, asked_at: DateTime<Utc>, login: &str, text: &str) {
        self.0.push_with(cap, |w| {
            w.time(asked_at);
            w.str(login);
            w.str(text);
        });
    }

    /// The questions, oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = QuestionRef<'_>> + '_ {
        self.0.iter().filter_map(read_question)
    }

    /// Each question, oldest first, without collecting the records.
    pub(crate) fn for_each(&self, mut f: impl FnMut(QuestionRef<'_>)) {
        self.0.for_each(|rec| {
            if let Some(q) = read_question(rec) {
                f(q);
            }
        });
    }

    /// Keeps the questions `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&QuestionRef<'_>) -> bool) {
        self.0
            .retain(|rec| read_question(rec).is_some_and(|q| keep(&q)));
    }

    /// Keeps the questions asked at or after second `oldest` (every engine run's expiry:
    /// reads each record's instant only, not its texts).
    pub(crate) fn retain_since(&mut self, oldest: i64) {
        self.0
            .retain(|rec| leading_secs(rec).is_some_and(|s| s >= oldest));
    }
}

/// The seconds of the instant both lists' records start with.
fn leading_secs(rec: &[u8]) -> Option<i64> {
    Reader(rec).secs()
}

impl Serialize for Questions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|q| q.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Questions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Self::default();
        for q in Vec::<OpenQuestion>::deserialize(d)? {
            out.push(usize::MAX, q.asked_at, &q.login, &q.text);
        }
        Ok(out)
    }
}

/// First-timers not greeted yet, oldest first: (login, first message at).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FirstTimers(pub(crate) ByteRing);

fn read_first_timer(rec: &[u8]) -> Option<(&str, DateTime<Utc>)> {
    let mut r = Reader(rec);
    let at = r.time()?;
    Some((r.str()?, at))
}

impl FirstTimers {
    /// Appends one, dropping the oldest at `cap`.
    pub(crate) fn push(&mut self, cap: usize, login: &str, at: DateTime<Utc>) {
        self.0.push_with(cap, |w| {
            w.time(at);
            w.str(login);
        });
    }

    /// (login, at), oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, DateTime<Utc>)> + '_ {
        self.0.iter().filter_map(read_first_timer)
    }

    /// Each (login, at), oldest first, without collecting the records.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&str, DateTime<Utc>)) {
        self.0.for_each(|rec| {
            if let Some((l, at)) = read_first_timer(rec) {
                f(l, at);
            }
        });
    }

    /// Keeps those `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, DateTime<Utc>) -> bool) {
        self.0
            .retain(|rec| read_first_timer(rec).is_some_and(|(l, at)| keep(l, at)));
    }

    /// Keeps those first seen at or after second `oldest` (see [`Questions::retain_since`]).
    pub(crate) fn retain_since(&mut self, oldest: i64) {
        self.0
            .retain(|rec| leading_secs(rec).is_some_and(|s| s >= oldest));
    }
}

/// The snapshot shape of one entry: a `(String, DateTime<Utc>)` tuple.
struct FirstTimerWire<'a>(&'a str, DateTime<Utc>);

impl Serialize for FirstTimerWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(self.0)?;
        t.serialize_element(&self.1)?;
        t.end()
    }
}

impl Serialize for FirstTimers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|(l, at)| FirstTimerWire(l, at)))
    }
}

impl<'de> Deserialize<'de> for FirstTimers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Self::default();
        for (login, at) in Vec::<(String, DateTime<Utc>)>::deserialize(d)? {
            out.push(usize::MAX, &login, at);
        }
        Ok(out)
    }
}

/// The words of `text` that can be a top term: runs of letters, digits, `_` and `'` of four
/// characters or more, the first 16 of them (the top-terms rule; case is folded when counted).
pub(crate) fn terms(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\''))
        .filter(|w| w.chars().count() >= 4)
        .take(16)
}

/// Recent messages, oldest first, each record the message's [`terms`] joined by spaces: all
/// that top terms read of a message (a message with none keeps an empty record, so the list
/// still spans the last N messages). The terms of the terms are the same terms, so a
/// snapshot's texts — raw from older versions, or terms — read back to the same list.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Texts(pub(crate) ByteRing);

impl Texts {
    /// Appends a message's terms, dropping the oldest message at `cap`.
    pub(crate) fn push(&mut self, cap: usize, text: &str) {
        self.0.push_with(cap, |w| {
            for (i, term) in terms(text).enumerate() {
                if i > 0 {
                    w.0.push(b' ');
                }
                w.0.extend_from_slice(term.as_bytes());
            }
        });
    }

    /// The texts, oldest first.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&str)) {
        self.0.for_each(|rec| {
            if let Ok(t) = std::str::from_utf8(rec) {
                f(t);
            }
        });
    }

    /// Texts held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for Texts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .iter()
                .map(|rec| std::str::from_utf8(rec).unwrap_or_default()),
        )
    }
}

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Self::default();
        for t in Vec::<String>::deserialize(d)? {
            out.push(usize::MAX, &t);
        }
        Ok(out)
    }
}

/// The kinds of moment the engines write; a record names one by its index.
const MOMENT_KINDS: [&str; 7] = ["raid", "sub", "gift", "bits", "moderation", "hint", "clip"];
/// The kind byte of a kind written out as text.
const OTHER_KIND: u8 = u8::MAX;

/// The timeline, oldest first: (at, kind, text).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Timeline(pub(crate) ByteRing);

fn read_moment(rec: &[u8]) -> Option<Moment> {
    let mut r = Reader(rec);
    let at = r.time()?;
    let kind = match r.u8()? {
        OTHER_KIND => Cow::Owned(r.str()?.to_owned()),
        i => Cow::Borrowed(*MOMENT_KINDS.get(usize::from(i))?),
    };
    Some(Moment {
        at,
        kind,
        text: r.str()?.to_owned(),
    })
}

impl Timeline {
    /// Appends a moment, dropping the oldest at `cap`.
    pub(crate) fn push(&mut self, cap: usize, at: DateTime<Utc>, kind: &str, text: &str) {
        let index = MOMENT_KINDS.iter().position(|k| *k == kind);
        self.0.push_with(cap, |w| {
            w.time(at);
            match index {
                Some(i) => w.0.push(i as u8),
                None => {
                    w.0.push(OTHER_KIND);
                    w.str(kind);
                }
            }
            w.str(text);
        });
    }

    /// The moments, oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = Moment> + '_ {
        self.0.iter().filter_map(read_moment)
    }
}

impl Serialize for Timeline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Timeline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Self::default();
        for m in Vec::<Moment>::deserialize(d)? {
            out.push(usize::MAX, m.at, &m.kind, &m.text);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn expiry_by_second_keeps_the_same_records_as_expiry_by_instant() {
        let t = |ms: i64| Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap();
        let times: Vec<_> = [-1_500, -500, 0, 500, 1_000, 2_000, -100].map(t).to_vec();
        let (mut q, mut f) = (Questions::default(), FirstTimers::default());
        for (i, at) in times.iter().enumerate() {
            q.push(usize::MAX, *at, &format!("v{i}"), &format!("question {i}?"));
            f.push(usize::MAX, &format!("v{i}"), *at);
        }
        let (mut q_old, mut f_old) = (q.clone(), f.clone());
        for oldest in [
            1_700_000_000 - 2,
            1_700_000_000 - 1,
            1_700_000_000,
            1_700_000_001,
        ] {
            q.retain_since(oldest);
            q_old.retain(|x| x.asked_at.timestamp() >= oldest);
            f.retain_since(oldest);
            f_old.retain(|_, at| at.timestamp() >= oldest);
            assert!(q == q_old && f == f_old, "at {oldest}");
        }
        let left: Vec<_> = f.iter().map(|(l, _)| l.to_owned()).collect();
        assert_eq!(
            left,
            ["v4", "v5"],
            "out of order records are judged one by one"
        );
        let texts: Vec<_> = q.iter().map(|x| x.text.to_owned()).collect();
        assert_eq!(texts, ["question 4?", "question 5?"]);
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 5).unwrap()
    }

    /// Each list reads the JSON the deque it replaced wrote, and writes it back the same.
    #[test]
    fn lists_keep_the_snapshot_shape_of_their_deques() {
        let questions = serde_json::json!([
            {"login": "ana", "text": "what game is this?", "asked_at": t(1)},
            {"login": "bob", "text": "", "asked_at": t(2)}
        ]);
        let q: Questions = serde_json::from_value(questions.clone()).unwrap();
        assert_eq!(serde_json::to_value(&q).unwrap(), questions);

        let first = serde_json::json!([["ana", t(1)], ["ção", t(3)]]);
        let f: FirstTimers = serde_json::from_value(first.clone()).unwrap();
        assert_eq!(serde_json::to_value(&f).unwrap(), first);
        let old: std::collections::VecDeque<(String, DateTime<Utc>)> =
            serde_json::from_value(first.clone()).unwrap();
        assert_eq!(serde_json::to_value(old).unwrap(), first);

        // Raw texts (older snapshots) read back as their terms; terms round-trip.
        let texts = serde_json::json!(["hello", "", "olá KEKW", "what game is this?"]);
        let x: Texts = serde_json::from_value(texts).unwrap();
        let terms = serde_json::json!(["hello", "", "KEKW", "what game this"]);
        assert_eq!(serde_json::to_value(&x).unwrap(), terms);
        let y: Texts = serde_json::from_value(terms.clone()).unwrap();
        assert_eq!(serde_json::to_value(&y).unwrap(), terms);

        let timeline = serde_json::json!([
            {"at": t(1), "kind": "raid", "text": "x raided with 3 viewers"},
            {"at": t(2), "kind": "something_new", "text": "from a later version"}
        ]);
        let m: Timeline = serde_json::from_value(timeline.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), timeline);
        assert_eq!(m.iter().next().unwrap().kind, Cow::Borrowed("raid"));
    }
}

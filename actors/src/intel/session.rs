//! Stream sessions: a session starts at the first activity (or an explicit start) and ends
//! after 30 minutes without chat, an explicit stop, or a part. Each keeps its KPIs, updated
//! on every tick, so the dashboard and the post-stream report read one record.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ring::{ByteRing, Reader};
use super::signals::Signals;

/// Inactivity that ends a session.
pub const IDLE_END: Duration = Duration::minutes(30);
/// Health samples kept per session (one per minute: ten hours).
const MAX_HEALTH_SAMPLES: usize = 600;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// 30 minutes without chat.
    Inactivity,
    /// The operator or streamer stopped it.
    Stopped,
    /// The channel was parted.
    Parted,
}

/// A session's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionKpis {
    /// Chat messages.
    pub messages: u64,
    /// Highest 1-minute chat rate seen (messages/min).
    pub peak_rate_per_min: f64,
    /// Mean chat rate over the session so far (messages/min).
    pub avg_rate_per_min: f64,
    /// Highest count of distinct chatters in a 15-minute window.
    pub peak_chatters_15m: u32,
    /// First-time chatters.
    pub new_chatters: u64,
    /// Mean sentiment of the session's messages, in [-1, 1].
    pub sentiment_mean: f64,
    /// Subs and resubs.
    pub subs: u64,
    /// Gifted subs.
    pub gifts: u64,
    /// Bits.
    pub bits: i64,
    /// Raids received.
    pub raids: u64,
    /// Coaching hints emitted.
    pub hints: u64,
    /// Clip candidates found.
    pub clips: u64,
    /// Health score once per minute: (minute, score).
    pub health: Vec<(DateTime<Utc>, f64)>,
}

/// One stream session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `<channel>-<unix seconds of start>`.
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended, if it has.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
    /// Its figures.
    pub kpis: SessionKpis,
    #[serde(skip)]
    sentiment_sum: f64,
}

/// Tracks the current session of one channel.
///
/// The open session's once-a-minute health samples (up to 600: ten hours) are kept apart,
/// packed (see [`HealthSamples`]), and put back into its KPIs when the session is read or
/// ends; snapshots write and read the session with them, as before.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "TrackerWire")]
pub struct SessionTracker {
    /// Its `kpis.health` is empty: the samples are in `health`.
    current: Option<Session>,
    last_activity: Option<DateTime<Utc>>,
    health: HealthSamples,
}

/// A session's health samples as records in one buffer: the minute as seconds after the
/// session's start (and its nanoseconds), and the score's bits.
///
/// Why: as a `Vec<(DateTime<Utc>, f64)>` a ten-hour session held 600 samples of 24 bytes in a
/// vector doubled to 1,024 slots (24 KiB per channel, more than the rest of a quiet channel's
/// state); here a sample is ~13 bytes in a buffer that grows by a quarter.
#[derive(Debug, Clone, Default, PartialEq)]
struct HealthSamples {
    ring: ByteRing,
    /// The newest sample's minute (the once-a-minute check reads it every tick).
    last: Option<DateTime<Utc>>,
}

impl HealthSamples {
    fn push(&mut self, started_at: DateTime<Utc>, minute: DateTime<Utc>, score: f64) {
        let secs = minute.timestamp() - started_at.timestamp();
        self.ring.push_with(MAX_HEALTH_SAMPLES, |w| {
            w.varint(((secs << 1) ^ (secs >> 63)) as u64);
            w.varint(u64::from(minute.timestamp_subsec_nanos()));
            w.f64(score);
        });
        self.last = Some(minute);
    }

    fn to_vec(&self, started_at: DateTime<Utc>) -> Vec<(DateTime<Utc>, f64)> {
        let mut out = Vec::with_capacity(self.ring.len());
        for rec in self.ring.iter() {
            let mut r = Reader(rec);
            let sample = (|| {
                let z = r.varint()?;
                let secs = ((z >> 1) as i64) ^ -((z & 1) as i64);
                let nanos = u32::try_from(r.varint()?).ok()?;
                let at = DateTime::from_timestamp(started_at.timestamp() + secs, nanos)?;
                Some((at, r.f64()?))
            })();
            out.extend(sample);
        }
        out
    }

    fn clear(&mut self) {
        self.ring = ByteRing::default();
        self.last = None;
    }
}

/// The snapshot shape of [`SessionTracker`], read.
#[derive(Deserialize)]
struct TrackerWire {
    current: Option<Session>,
    last_activity: Option<DateTime<Utc>>,
}

impl From<TrackerWire> for SessionTracker {
    fn from(w: TrackerWire) -> Self {
        let mut health = HealthSamples::default();
        let current = w.current.map(|mut s| {
            for (minute, score) in std::mem::take(&mut s.kpis.health) {
                health.push(s.started_at, minute, score);
            }
            s
        });
        Self {
            current,
            last_activity: w.last_activity,
            health,
        }
    }
}

/// The same shape, written.
#[derive(Serialize)]
struct TrackerWireRef<'a> {
    current: Option<Session>,
    last_activity: &'a Option<DateTime<Utc>>,
}

impl Serialize for SessionTracker {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TrackerWireRef {
            current: self.current(),
            last_activity: &self.last_activity,
        }
        .serialize(s)
    }
}

impl SessionTracker {
    /// The open session, if any, with its health samples.
    pub fn current(&self) -> Option<Session> {
        let mut s = self.current.clone()?;
        s.kpis.health = self.health.to_vec(s.started_at);
        Some(s)
    }

    /// Starts a session now unless one is open, and returns it (its health samples, kept
    /// apart, are not in the returned KPIs: read them with [`current`](Self::current)).
    pub fn start(&mut self, channel: &str, at: DateTime<Utc>) -> &mut Session {
        self.current.get_or_insert_with(|| Session {
            id: format!("{channel}-{}", at.timestamp()),
            started_at: at,
            ended_at: None,
            end_reason: None,
            kpis: SessionKpis::default(),
            sentiment_sum: 0.0,
        })
    }

    /// Counts a chat message, opening a session if none is open.
    pub fn on_chat(&mut self, channel: &str, at: DateTime<Utc>, sentiment: f32, first_time: bool) {
        self.last_activity = Some(self.last_activity.map_or(at, |t| t.max(at)));
        let s = self.start(channel, at);
        s.kpis.messages += 1;
        s.kpis.new_chatters += u64::from(first_time);
        s.sentiment_sum += f64::from(sentiment);
        s.kpis.sentiment_mean = s.sentiment_sum / s.kpis.messages as f64;
    }

    /// Counts an event (subs, gifts, bits, raids) into the open session, opening one.
    pub fn on_event(
        &mut self,
        channel: &str,
        at: DateTime<Utc>,
        subs: u64,
        gifts: u64,
        bits: i64,
        raids: u64,
    ) {
        self.last_activity = Some(self.last_activity.map_or(at, |t| t.max(at)));
        let k = &mut self.start(channel, at).kpis;
        k.subs += subs;
        k.gifts += gifts;
        k.bits += bits;
        k.raids += raids;
    }

    /// Updates the open session from a tick; ends it after [`IDLE_END`] of silence and
    /// returns it then.
    pub fn tick(
        &mut self,
        s: &Signals,
        health: Option<f64>,
        hints: u64,
        clips: u64,
    ) -> Option<Session> {
        let idle = self.last_activity.is_none_or(|t| s.now - t >= IDLE_END);
        let session = self.current.as_mut()?;
        let k = &mut session.kpis;
        k.peak_rate_per_min = k.peak_rate_per_min.max(s.w1.messages_per_min);
        k.peak_chatters_15m = k.peak_chatters_15m.max(s.w15.unique_chatters);
        let minutes = ((s.now - session.started_at).num_seconds() as f64 / 60.0).max(1.0);
        k.avg_rate_per_min = k.messages as f64 / minutes;
        k.hints += hints;
        k.clips += clips;
        if let Some(h) = health {
            let minute = s.now - Duration::seconds(s.now.timestamp().rem_euclid(60));
            if self.health.last.is_none_or(|m| m < minute) {
                self.health.push(session.started_at, minute, h);
            }
        }
        if idle {
            let at = self.last_activity.unwrap_or(s.now);
            return self.end(at, EndReason::Inactivity);
        }
        None
    }

    /// Ends the open session (explicit stop or part) and returns it.
    pub fn end(&mut self, at: DateTime<Utc>, reason: EndReason) -> Option<Session> {
        let mut s = self.current.take()?;
        s.kpis.health = self.health.to_vec(s.started_at);
        self.health.clear();
        s.ended_at = Some(at.max(s.started_at));
        s.end_reason = Some(reason);
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn signals(now: i64, rate: f64) -> Signals {
        let mut w1 = super::super::signals::WindowStats {
            span_secs: 60,
            ..Default::default()
        };
        w1.messages_per_min = rate;
        Signals {
            now: t(now),
            w1,
            w5: Default::default(),
            w15: Default::default(),
            baseline_rate_per_min: 0.0,
            rate_stddev_per_min: 0.0,
            open_questions: vec![],
            ungreeted_first_timers: vec![],
            last_raid: None,
            secs_since_last_message: None,
        }
    }

    #[test]
    fn starts_at_first_activity_and_ends_after_thirty_idle_minutes() {
        let mut st = SessionTracker::default();
        assert!(st.tick(&signals(0, 0.0), None, 0, 0).is_none());
        st.on_chat("chan", t(10), 0.5, true);
        st.on_chat("chan", t(20), -0.5, false);
        st.on_event("chan", t(30), 1, 5, 100, 1);
        assert!(st.tick(&signals(60, 2.0), Some(70.0), 1, 0).is_none());
        let open = st.current().unwrap();
        assert_eq!(open.id, format!("chan-{}", t(10).timestamp()));
        assert_eq!(
            (open.kpis.messages, open.kpis.new_chatters, open.kpis.gifts),
            (2, 1, 5)
        );
        assert_eq!(open.kpis.sentiment_mean, 0.0);
        assert!(
            st.tick(&signals(30 + 29 * 60, 0.0), Some(60.0), 0, 0)
                .is_none(),
            "29 min idle: still open"
        );
        let ended = st
            .tick(&signals(30 + 30 * 60, 0.0), None, 0, 0)
            .expect("ends at 30 idle minutes");
        assert_eq!(ended.end_reason, Some(EndReason::Inactivity));
        assert_eq!(ended.ended_at, Some(t(30)), "ends at the last activity");
        assert_eq!(ended.kpis.peak_rate_per_min, 2.0);
        assert_eq!(ended.kpis.health.len(), 2);
        assert!(st.current().is_none());
    }

    #[test]
    fn an_open_session_keeps_its_samples_through_a_snapshot() {
        let mut st = SessionTracker::default();
        st.on_chat("chan", t(10), 0.5, true);
        for minute in 1..=700 {
            // Past the 600-sample cap; the clock's nanoseconds are kept.
            let mut s = signals(minute * 60, 1.0);
            s.now += Duration::nanoseconds(123);
            st.on_chat("chan", s.now, 0.1, false);
            st.tick(&s, Some(minute as f64 / 7.0), 0, 0);
        }
        let open = st.current().unwrap();
        assert_eq!(open.kpis.health.len(), MAX_HEALTH_SAMPLES);
        let first = open.kpis.health[0].0;
        assert_eq!(
            (first.timestamp() % 60, first.timestamp_subsec_nanos()),
            (0, 123)
        );
        assert!(
            first > t(100 * 60) && first <= t(101 * 60),
            "the oldest 100 dropped"
        );
        assert_eq!(open.kpis.health.last().unwrap().1, 100.0);
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(
            json["current"]["kpis"]["health"].as_array().unwrap().len(),
            600
        );
        let back: SessionTracker = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        // (As JSON: the running sentiment sum is not in snapshots, as before.)
        assert_eq!(
            serde_json::to_value(back.current()).unwrap(),
            serde_json::to_value(st.current()).unwrap()
        );
        let ended = st.end(t(701 * 60), EndReason::Stopped).unwrap();
        assert_eq!(ended.kpis.health, open.kpis.health);
        assert!(st.current().is_none());
    }

    #[test]
    fn explicit_stop_ends_and_next_activity_starts_a_new_session() {
        let mut st = SessionTracker::default();
        st.on_chat("chan", t(0), 0.0, false);
        let first = st.end(t(5), EndReason::Stopped).unwrap();
        assert_eq!(first.end_reason, Some(EndReason::Stopped));
        st.on_chat("chan", t(100), 0.0, false);
        assert_ne!(st.current().unwrap().id, first.id);
    }
}

//! Everything a channel actor knows about its stream, and the per-message and per-tick steps
//! that keep it current: windows, sentiment, health, churn, coaching, clip moments and the
//! session. Pure: time comes in as arguments, rows for Persistence come out as values.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::intel::churn::{ChurnConfig, ChurnEngine, ChurnReport};
use crate::intel::clips::{ClipCandidate, ClipConfig, ClipDetector};
use crate::intel::coach::{Coach, CoachConfig, Hint};
use crate::intel::facts;
use crate::intel::health::{FactorName, HealthConfig, HealthEngine, HealthNumbers, HealthScore};
use crate::intel::hint_log::HintLog;
use crate::intel::packed::{PackedChurn, PackedSignals};
use crate::intel::sentiment::SentimentEngine;
use crate::intel::session::{EndReason, Session, SessionTracker};
use crate::intel::signals::Signals;
use crate::intel::windows::{Moment, StreamWindows, TermCount};
use crate::model::{ChannelLogin, ChatRecord, EventKind, EventRecord, IntelKind, IntelRecord};

/// Recent hints and clips kept for the API.
const KEEP_HINTS: usize = 50;

/// The channel's intelligence state.
///
/// The last tick's health and churn are kept without their words: a tick computes numbers,
/// and the explanations and evidence are rendered from them (and the tick's signals) when
/// something reads them — the API, a reply, a snapshot. Snapshots hold the full health score
/// and churn report, as before, and a state read from one keeps them as read until its next
/// tick.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "IntelWire")]
pub struct ChannelIntel {
    login: ChannelLogin,
    windows: StreamWindows,
    health: HealthEngine,
    churn: ChurnEngine,
    coach: Coach,
    clips: ClipDetector,
    session: SessionTracker,
    last_health: Option<LastHealth>,
    /// Packed (see [`PackedChurn`]); a tick's explanation is rendered when read.
    last_churn: Option<PackedChurn>,
    /// Packed (see [`PackedSignals`]); unpacked when read.
    last_signals: Option<PackedSignals>,
    /// Kept compactly (see [`HintLog`]); snapshots hold them as hints.
    hints: HintLog,
    last_rollup_minute: Option<i64>,
    hints_this_minute: u32,
    /// The rendered last health, for [`ChannelIntel::last_health`] (which lends it out):
    /// built on the first read after a tick, dropped by the next tick.
    health_view: OnceLock<Box<HealthScore>>,
    /// Likewise the unpacked last signals, for [`ChannelIntel::last_signals`].
    signals_view: OnceLock<Box<Signals>>,
}

/// The last tick's health.
#[derive(Debug, Clone)]
enum LastHealth {
    /// Computed by this process: rendered with `last_signals` when read.
    Numbers(HealthNumbers),
    /// Read from a snapshot, as written.
    Read(HealthScore),
}

impl LastHealth {
    fn score(&self) -> f64 {
        match self {
            Self::Numbers(n) => n.score,
            Self::Read(h) => h.score,
        }
    }
}

/// The snapshot shape of [`ChannelIntel`] (the fields it had when it derived serde), read.
#[derive(Deserialize)]
struct IntelWire {
    #[serde(deserialize_with = "ChannelLogin::deserialize_from_twitch")]
    login: ChannelLogin,
    windows: StreamWindows,
    health: HealthEngine,
    churn: ChurnEngine,
    coach: Coach,
    clips: ClipDetector,
    session: SessionTracker,
    last_health: Option<HealthScore>,
    last_churn: Option<ChurnReport>,
    last_signals: Option<Signals>,
    hints: HintLog,
    last_rollup_minute: Option<i64>,
    hints_this_minute: u32,
}

impl From<IntelWire> for ChannelIntel {
    fn from(w: IntelWire) -> Self {
        Self {
            login: w.login,
            windows: w.windows,
            health: w.health,
            churn: w.churn,
            coach: w.coach,
            clips: w.clips,
            session: w.session,
            last_health: w.last_health.map(LastHealth::Read),
            last_churn: w.last_churn.map(|r| PackedChurn::pack(&r, true)),
            last_signals: w.last_signals.as_ref().map(PackedSignals::pack),
            hints: w.hints,
            last_rollup_minute: w.last_rollup_minute,
            hints_this_minute: w.hints_this_minute,
            health_view: OnceLock::new(),
            signals_view: OnceLock::new(),
        }
    }
}

/// The same shape, written (field for field, in the same order).
#[derive(Serialize)]
struct IntelWireRef<'a> {
    login: &'a ChannelLogin,
    windows: &'a StreamWindows,
    health: &'a HealthEngine,
    churn: &'a ChurnEngine,
    coach: &'a Coach,
    clips: &'a ClipDetector,
    session: &'a SessionTracker,
    last_health: Option<Cow<'a, HealthScore>>,
    last_churn: Option<ChurnReport>,
    last_signals: Option<Cow<'a, Signals>>,
    hints: &'a HintLog,
    last_rollup_minute: Option<i64>,
    hints_this_minute: u32,
}

impl Serialize for ChannelIntel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        IntelWireRef {
            login: &self.login,
            windows: &self.windows,
            health: &self.health,
            churn: &self.churn,
            coach: &self.coach,
            clips: &self.clips,
            session: &self.session,
            last_health: self.health_words(),
            last_churn: self.churn_words(),
            last_signals: self.signals_words(),
            hints: &self.hints,
            last_rollup_minute: self.last_rollup_minute,
            hints_this_minute: self.hints_this_minute,
        }
        .serialize(s)
    }
}

/// What one tick produced for the outside world.
#[derive(Debug, Default)]
pub struct TickOutput {
    /// New hints (also kept in the recent list).
    pub hints: Vec<Hint>,
    /// A new clip candidate.
    pub clip: Option<ClipCandidate>,
    /// Rows to persist (rollup of a completed minute, session, hints, clip).
    pub rows: Vec<IntelRecord>,
    /// The session this tick ended (chat went idle), if any.
    pub ended: Option<Session>,
}

/// The live picture served by the API.
#[derive(Debug, Clone, Serialize)]
pub struct LiveContext {
    /// Windowed signals at the last tick.
    pub signals: Option<Signals>,
    /// Health with its factors and explanations.
    pub health: Option<HealthScore>,
    /// Churn risk with the top at-risk chatters.
    pub churn: Option<ChurnReport>,
    /// Active and recent hints, newest first.
    pub hints: Vec<Hint>,
    /// Recent clip candidates, newest first.
    pub clips: Vec<ClipCandidate>,
    /// The open session.
    pub session: Option<Session>,
    /// Frequent terms in recent chat.
    pub top_terms: Vec<TermCount>,
    /// Notable moments, newest first.
    pub timeline: Vec<Moment>,
    /// What the sentiment numbers mean.
    pub sentiment_meaning: &'static str,
}

impl ChannelIntel {
    /// Fresh state for a channel.
    pub fn new(login: ChannelLogin) -> Self {
        Self {
            login,
            windows: StreamWindows::default(),
            health: HealthEngine::new(HealthConfig::default()),
            churn: ChurnEngine::new(ChurnConfig::default()),
            coach: Coach::new(CoachConfig::default()),
            clips: ClipDetector::new(ClipConfig::default()),
            session: SessionTracker::default(),
            last_health: None,
            last_churn: None,
            last_signals: None,
            hints: HintLog::default(),
            last_rollup_minute: None,
            hints_this_minute: 0,
            health_view: OnceLock::new(),
            signals_view: OnceLock::new(),
        }
    }

    /// Folds one chat message, stamped with the clock's `now`.
    /// Returns whether this was the sender's first message here.
    pub fn on_chat(
        &mut self,
        sentiment: &SentimentEngine,
        chat: &ChatRecord,
        bot: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        let first_time = self.windows.is_first_time(&chat.user_login);
        let f = facts::derive(sentiment, chat, bot, first_time, now);
        self.windows.on_chat(&f, &chat.text);
        self.churn.observe(&f);
        self.session
            .on_chat(self.login.as_str(), now, f.sentiment, first_time);
        first_time
    }

    /// Folds one channel event, stamped with the clock's `now`.
    pub fn on_event(&mut self, event: &EventRecord, now: DateTime<Utc>) {
        self.windows.on_event(event, now);
        let amount = event.amount.unwrap_or(1).max(0);
        let (subs, gifts, bits, raids) = match event.kind {
            EventKind::Sub | EventKind::Resub => (1, 0, 0, 0),
            EventKind::SubGift | EventKind::GiftPaidUpgrade => (0, 1, 0, 0),
            EventKind::SubMysteryGift => (0, amount as u64, 0, 0),
            EventKind::Bits => (0, 0, amount, 0),
            EventKind::Raid => (0, 0, 0, 1),
            _ => return,
        };
        self.session
            .on_event(self.login.as_str(), now, subs, gifts, bits, raids);
    }

    /// Runs every engine at `now`.
    pub fn tick(&mut self, now: DateTime<Utc>) -> TickOutput {
        let s = self.windows.signals(now);
        // Numbers only: the words are rendered when read (see the struct doc).
        let churn = self.churn.assess_numbers(&s);
        let health = self.health.update_numbers(&s, Some(churn.risk));
        let hints = self.coach.evaluate_numbers(&s, &health, &churn);
        let clip = self.clips.observe(&s);
        let mut out = TickOutput::default();
        for h in &hints {
            self.windows.push_moment(h.created_at, "hint", &h.title);
            self.hints.push(h, KEEP_HINTS);
            out.rows.push(hint_row(&self.login, h));
        }
        if let Some(c) = &clip {
            self.windows.push_moment(c.at, "clip", &c.reason);
            out.rows.push(clip_row(&self.login, c));
        }
        self.hints_this_minute += hints.len() as u32;
        let minute = now.timestamp().div_euclid(60);
        if self.last_rollup_minute.is_some_and(|m| m < minute) {
            out.rows
                .push(self.rollup_row(&s, &health, &churn, minute - 1));
            self.hints_this_minute = 0;
        }
        if self.last_rollup_minute.is_none_or(|m| m < minute) {
            self.last_rollup_minute = Some(minute);
            if let Some(open) = self.session.current() {
                out.rows.push(session_row(&self.login, &open, now));
            }
        }
        let ended = self.session.tick(
            &s,
            Some(health.score),
            hints.len() as u64,
            u64::from(clip.is_some()),
        );
        if let Some(ended) = ended {
            out.rows.push(session_row(&self.login, &ended, now));
            out.ended = Some(ended);
        }
        self.last_health = Some(LastHealth::Numbers(health));
        self.health_view = OnceLock::new();
        // Repacked in place: a quiet channel's tick allocates nothing for these.
        match &mut self.last_churn {
            Some(p) => p.repack(&churn, false),
            None => self.last_churn = Some(PackedChurn::pack(&churn, false)),
        }
        match &mut self.last_signals {
            Some(p) => p.repack(&s),
            None => self.last_signals = Some(PackedSignals::pack(&s)),
        }
        self.signals_view = OnceLock::new();
        out.hints = hints;
        out.clip = clip;
        out
    }

    /// Starts a session now (the open one if there is one) and returns it.
    pub fn start_session(&mut self, now: DateTime<Utc>) -> Session {
        self.session.start(self.login.as_str(), now).clone()
    }

    /// Stops the open session explicitly; returns it and its final row.
    pub fn stop_session(&mut self, now: DateTime<Utc>) -> Option<(Session, IntelRecord)> {
        let s = self.session.end(now, EndReason::Stopped)?;
        let row = session_row(&self.login, &s, now);
        Some((s, row))
    }

    /// Ends the open session (stop or part), returning it and its final row.
    pub fn end_session(
        &mut self,
        now: DateTime<Utc>,
        reason: EndReason,
    ) -> Option<(Session, IntelRecord)> {
        self.session.end(now, reason).map(|s| {
            let row = session_row(&self.login, &s, now);
            (s, row)
        })
    }

    /// The windowed signals as of `at`, without moving the windows themselves (which
    /// `tick` does): computed on a copy.
    pub fn signals_at(&self, at: DateTime<Utc>) -> Signals {
        self.windows.clone().signals(at)
    }

    /// The windowed signals of the last tick.
    pub fn last_signals(&self) -> Option<&Signals> {
        let packed = self.last_signals.as_ref()?;
        Some(&**self.signals_view.get_or_init(|| Box::new(packed.unpack())))
    }

    /// The last tick's signals, unpacked for one use and not kept (a hot caller such as
    /// the autonomy step must not leave a copy on every channel until its next tick).
    pub fn last_signals_copy(&self) -> Option<Signals> {
        self.signals_words().map(Cow::into_owned)
    }

    /// The open session, if any.
    pub fn current_session(&self) -> Option<Session> {
        self.session.current()
    }

    /// The health score of the last tick (its words rendered on the first read after it).
    pub fn last_health(&self) -> Option<&HealthScore> {
        match self.last_health.as_ref()? {
            LastHealth::Read(h) => Some(h),
            LastHealth::Numbers(_) => {
                let view = self.health_view.get_or_init(|| {
                    Box::new(self.health_words().map(Cow::into_owned).unwrap_or_else(|| {
                        // Unreachable: numbers are kept with their signals.
                        HealthScore {
                            score: 0.0,
                            raw: 0.0,
                            factors: Vec::new(),
                            cold_start: true,
                            explanation: String::new(),
                            computed_at: DateTime::<Utc>::UNIX_EPOCH,
                        }
                    }))
                });
                Some(&**view)
            }
        }
    }

    /// The last health score with its words.
    fn health_words(&self) -> Option<Cow<'_, HealthScore>> {
        match self.last_health.as_ref()? {
            LastHealth::Read(h) => Some(Cow::Borrowed(h)),
            LastHealth::Numbers(n) => {
                if let Some(view) = self.health_view.get() {
                    return Some(Cow::Borrowed(&**view));
                }
                let s = self.signals_words()?;
                Some(Cow::Owned(self.health.render(&s, n)))
            }
        }
    }

    /// The last signals, unpacked (the view if one was built, else a copy).
    fn signals_words(&self) -> Option<Cow<'_, Signals>> {
        let packed = self.last_signals.as_ref()?;
        Some(match self.signals_view.get() {
            Some(view) => Cow::Borrowed(&**view),
            None => Cow::Owned(packed.unpack()),
        })
    }

    /// The last churn report with its explanation.
    fn churn_words(&self) -> Option<ChurnReport> {
        let (mut report, kept) = self.last_churn.as_ref()?.unpack();
        if !kept {
            report.explanation = self.churn.explain(&report);
        }
        Some(report)
    }

    /// The most frequent terms of recent chat.
    pub fn top_terms(&self, k: usize) -> Vec<TermCount> {
        self.windows.top_terms(k)
    }

    /// The numbers published for per-channel metrics, as of the last tick (`None` before
    /// the first).
    pub fn vitals(&self) -> Option<crate::vitals::Vitals> {
        let (health, churn) = (self.last_health.as_ref()?, self.last_churn.as_ref()?);
        // Read at fixed offsets, nothing unpacked: this runs after every tick.
        let g = self.last_signals.as_ref()?.glance();
        Some(crate::vitals::Vitals {
            health_score: health.score(),
            churn_risk: churn.risk().0,
            chat_per_second: g.w1_messages_per_min / 60.0,
            activity_per_minute: g.w5_messages_per_min,
            sentiment: g.w1_sentiment_mean,
            chatters: g.w1_unique_chatters,
        })
    }

    /// The fleet view's summary, from the last tick.
    pub fn summary(&self, agent_paused: bool) -> crate::channel::ChannelSummary {
        let glance = self.last_signals.as_ref().map(PackedSignals::glance);
        crate::channel::ChannelSummary {
            health: self.last_health.as_ref().map(LastHealth::score),
            churn_risk: self.last_churn.as_ref().map(|c| c.risk().0),
            churn_level: self.last_churn.as_ref().map(|c| c.risk().1),
            chat_rate_per_min: glance.map_or(0.0, |g| g.w1_messages as f64),
            sentiment: glance
                .filter(|g| g.w5_messages > 0)
                .map(|g| g.w5_sentiment_mean),
            agent_paused,
        }
    }

    /// Drops the state part by part, calling `after` with each part's name once it is gone,
    /// so a counting allocator can tell how much heap each engine held (the footprint
    /// benchmark, `actors/benches/footprint.rs`).
    pub fn drop_part_by_part(self, mut after: impl FnMut(&'static str)) {
        // Destructured without `..`: a new field must be named here, so it is measured too.
        let Self {
            login,
            windows,
            health,
            churn,
            coach,
            clips,
            session,
            last_health,
            last_churn,
            last_signals,
            hints,
            last_rollup_minute: _,
            hints_this_minute: _,
            health_view,
            signals_view,
        } = self;
        windows.drop_part_by_part(&mut after);
        drop(churn);
        after("churn");
        drop(health);
        after("health");
        drop(coach);
        after("coach");
        drop(clips);
        after("clips");
        drop(session);
        after("session");
        drop(hints);
        after("hints (recent 50)");
        drop((last_health, health_view));
        after("last_health");
        drop(last_churn);
        after("last_churn");
        drop((last_signals, signals_view));
        after("last_signals");
        drop(login);
        after("login");
    }

    /// The live picture for the API.
    pub fn live(&self) -> LiveContext {
        LiveContext {
            signals: self.signals_words().map(Cow::into_owned),
            health: self.health_words().map(Cow::into_owned),
            churn: self.churn_words(),
            hints: self.hints.iter().rev().collect(),
            clips: self
                .clips
                .recent()
                .cloned()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect(),
            session: self.session.current(),
            top_terms: self.windows.top_terms(10),
            timeline: self.windows.timeline().rev().collect(),
            sentiment_meaning: SENTIMENT_MEANING,
        }
    }

    fn rollup_row(
        &self,
        s: &Signals,
        health: &HealthNumbers,
        churn: &ChurnReport,
        minute: i64,
    ) -> IntelRecord {
        let at = DateTime::<Utc>::from_timestamp(minute * 60, 0).unwrap_or(s.now);
        let factors: serde_json::Map<String, serde_json::Value> = FactorName::ALL
            .iter()
            .zip(health.factor_scores)
            .map(|(name, score)| (name.as_str().to_owned(), json!(score)))
            .collect();
        let w = &s.w1;
        IntelRecord {
            kind: IntelKind::Rollup,
            key: format!("{}:{minute}", self.login),
            row: json!({
                "channel": self.login,
                "minute": at,
                "messages": w.messages,
                "chatters": w.unique_chatters,
                "new_chatters": w.new_chatters,
                "sentiment": w.sentiment_mean,
                "health": health.score,
                "health_factors": factors,
                "churn_risk": churn.risk,
                "subs": w.subs,
                "gifts": w.gifts,
                "bits": w.bits,
                "raids": w.raids,
                "hints": self.hints_this_minute,
            }),
        }
    }
}

fn hint_row(login: &ChannelLogin, h: &Hint) -> IntelRecord {
    IntelRecord {
        kind: IntelKind::Hint,
        key: format!("{login}:{}", h.id),
        row: json!({
            "hint_id": format!("{login}:{}", h.id),
            "channel": login,
            "kind": h.kind.as_str(),
            "priority": h.priority,
            "created_at": h.created_at,
            "expires_at": h.expires_at,
            "hint": h,
        }),
    }
}

fn clip_row(login: &ChannelLogin, c: &ClipCandidate) -> IntelRecord {
    IntelRecord {
        kind: IntelKind::Clip,
        key: format!("{login}:{}", c.id),
        row: json!({
            "clip_id": format!("{login}:{}", c.id),
            "channel": login,
            "at": c.at,
            "strength": c.strength,
            "clip": c,
        }),
    }
}

fn session_row(login: &ChannelLogin, s: &Session, now: DateTime<Utc>) -> IntelRecord {
    IntelRecord {
        kind: IntelKind::Session,
        key: s.id.clone(),
        row: json!({
            "session_id": s.id,
            "channel": login,
            "started_at": s.started_at,
            "ended_at": s.ended_at,
            "end_reason": s.end_reason,
            "kpis": s.kpis,
            "updated_at": now,
        }),
    }
}

/// How often a channel ticks.
pub const TICK: Duration = Duration::seconds(1);

/// Shared, read-only resources every channel actor uses.
#[derive(Debug, Clone)]
pub struct IntelEnv {
    /// The sentiment lexicon, built once per process.
    pub sentiment: Arc<SentimentEngine>,
    /// The bot's login, so mentions of it count.
    pub bot_login: Option<String>,
}

/// What the sentiment numbers on the dashboard mean.
pub const SENTIMENT_MEANING: &str = "Sentiment is the average feeling of chat from -1 (hostile or \
upset) to +1 (excited or happy), 0 meaning neutral or nothing recognised. Each message is scored \
from a lexicon of English and Brazilian Portuguese words and Twitch/BTTV/7TV emotes, with negation \
and intensifiers taken into account; a window's value is the mean over its messages.";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn chat(user: &str, text: &str, secs: i64) -> ChatRecord {
        ChatRecord {
            user_id: user.into(),
            ..ChatRecord::test_line(
                "quiet_test",
                &format!("{user}-{secs}"),
                user,
                text,
                at(secs),
            )
        }
    }

    /// Everything a tick makes observable: its output, and what the actor then publishes
    /// and serves (vitals, fleet summary, the live picture).
    fn observed(intel: &ChannelIntel, out: &TickOutput) -> String {
        format!(
            "{out:?}\n{:?}\n{:?}\n{}",
            intel.vitals(),
            intel.summary(false),
            serde_json::to_string(&intel.live()).unwrap()
        )
    }

    /// A snapshot of a state that has seen chat, questions, a staff answer and events reads
    /// back to a state that serialises the same and goes on publishing exactly what the
    /// original does (the compact tables and kept hints round-trip through their old shapes).
    #[test]
    fn a_snapshot_reads_back_to_the_same_state() {
        let sentiment = SentimentEngine::new();
        let mut intel = ChannelIntel::new(ChannelLogin::parse("quiet_test").unwrap());
        let texts = [
            "hello there PogChamp",
            "what game is this?",
            "this is boring",
            "anyone know when the next stream is?",
        ];
        for sec in 0..900 {
            if sec % 2 == 0 {
                let user = format!("viewer{}", (sec / 2) % 37);
                let text = texts[(sec as usize / 2) % texts.len()];
                intel.on_chat(&sentiment, &chat(&user, text, sec), None, at(sec));
            }
            if sec == 400 {
                let mut staff = chat("quiet_test", "@viewer3 it's Celeste", sec);
                staff.is_moderator = true;
                intel.on_chat(&sentiment, &staff, None, at(sec));
                let raid = EventRecord {
                    event_id: "raid-1".into(),
                    channel: ChannelLogin::parse("quiet_test").unwrap(),
                    kind: EventKind::Raid,
                    user_login: Some("raider".into()),
                    amount: Some(120),
                    details: serde_json::Value::Null,
                    occurred_at: at(sec),
                    seq: at(sec).timestamp_micros(),
                };
                intel.on_event(&raid, at(sec));
            }
            intel.tick(at(sec));
        }
        let json = serde_json::to_value(&intel).unwrap();
        let mut back: ChannelIntel = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
        // Read back, the health and churn are kept as written; here they are rendered from
        // the tick's numbers: the two read the same.
        assert!(back.last_health().is_some());
        assert_eq!(back.last_health(), intel.last_health());
        assert_eq!(
            serde_json::to_value(back.live()).unwrap(),
            serde_json::to_value(intel.live()).unwrap()
        );
        for sec in 900..1_000 {
            let (a, b) = (intel.tick(at(sec)), back.tick(at(sec)));
            assert_eq!(observed(&intel, &a), observed(&back, &b), "tick at {sec} s");
        }
    }

    /// What a tick keeps (numbers, packed signals and churn) and renders when read (the
    /// health's explanations and evidence, the churn line) is exactly what the engines' eager
    /// `update` and `assess` give for the same state and instant, through silence, chat,
    /// questions and silence again; and what is published (tick output, vitals, summary,
    /// live picture) is the same whether or not the words were read in between.
    #[test]
    fn a_tick_renders_on_read_what_the_engines_compute_eagerly() {
        let sentiment = SentimentEngine::new();
        let mut intel = ChannelIntel::new(ChannelLogin::parse("quiet_test").unwrap());
        let texts = [
            "hello there PogChamp",
            "what game is this?",
            "this is boring",
            "gg",
            "anyone know when the next stream is?",
        ];
        // 10 min never chatted, 4 min of chat (a message every 3 s, some questions, new and
        // returning chatters), then an hour of silence.
        for sec in 0..(10 * 60 + 4 * 60 + 60 * 60) {
            let chatting = (600..840).contains(&sec);
            if chatting && sec % 3 == 0 {
                let user = format!("viewer{}", (sec / 3) % 7);
                let text = texts[(sec as usize / 3) % texts.len()];
                intel.on_chat(&sentiment, &chat(&user, text, sec), None, at(sec));
            }
            // The reference: the engines as they are before the tick, run eagerly.
            let (mut health, churn) = (intel.health.clone(), intel.churn.clone());
            let s = intel.windows.clone().signals(at(sec));
            let churn_full = churn.assess(&s);
            let health_full = health.update(&s, Some(churn_full.risk));
            let mut unread = intel.clone();
            let out = intel.tick(at(sec));
            assert_eq!(intel.last_signals(), Some(&s), "tick at {sec} s");
            assert_eq!(intel.last_health(), Some(&health_full), "tick at {sec} s");
            assert_eq!(intel.live().churn, Some(churn_full), "tick at {sec} s");
            let unread_out = unread.tick(at(sec));
            assert_eq!(
                observed(&intel, &out),
                observed(&unread, &unread_out),
                "tick at {sec} s differs"
            );
        }
    }
}

//! Everything a channel actor knows about its stream, and the per-message and per-tick steps
//! that keep it current: windows, sentiment, health, churn, coaching, clip moments and the
//! session. Pure: time comes in as arguments, rows for Persistence come out as values.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::intel::churn::{ChurnConfig, ChurnEngine, ChurnReport};
use crate::intel::clips::{ClipCandidate, ClipConfig, ClipDetector};
use crate::intel::coach::{Coach, CoachConfig, Hint, KeptHint};
use crate::intel::facts;
use crate::intel::health::{HealthConfig, HealthEngine, HealthScore};
use crate::intel::sentiment::SentimentEngine;
use crate::intel::session::{EndReason, Session, SessionTracker};
use crate::intel::signals::Signals;
use crate::intel::windows::{Moment, StreamWindows, TermCount};
use crate::model::{ChannelLogin, ChatRecord, EventKind, EventRecord, IntelKind, IntelRecord};

/// Recent hints and clips kept for the API.
const KEEP_HINTS: usize = 50;

/// The channel's intelligence state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelIntel {
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
    /// Kept compactly (see [`KeptHint`]); snapshots hold them as hints.
    hints: VecDeque<KeptHint>,
    last_rollup_minute: Option<i64>,
    hints_this_minute: u32,
    /// `last_churn` was produced by this process's engine at its last tick (not read from a
    /// snapshot, maybe written by another version): only then may a tick reuse parts of it.
    #[serde(skip)]
    ticked_here: bool,
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
            hints: VecDeque::new(),
            last_rollup_minute: None,
            hints_this_minute: 0,
            ticked_here: false,
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
        // The last tick's results go back in: what did not change is kept, not rebuilt.
        let (last_churn, last_health) = (self.last_churn.take(), self.last_health.take());
        let ours = std::mem::replace(&mut self.ticked_here, true);
        let churn = self.churn.assess_from(&s, last_churn.filter(|_| ours));
        let health = self
            .health
            .update_from(&s, Some(churn.risk), last_health.filter(|_| ours));
        let hints = self.coach.evaluate(&s, &health, &churn);
        let clip = self.clips.observe(&s);
        let mut out = TickOutput::default();
        for h in &hints {
            self.windows
                .push_moment(h.created_at, "hint", h.title.clone());
            crate::intel::bounded::push_capped(
                &mut self.hints,
                KEEP_HINTS,
                KeptHint::from(h.clone()),
            );
            out.rows.push(hint_row(&self.login, h));
        }
        if let Some(c) = &clip {
            self.windows.push_moment(c.at, "clip", c.reason.clone());
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
                out.rows.push(session_row(&self.login, open, now));
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
        self.last_health = Some(health);
        self.last_churn = Some(churn);
        self.last_signals = Some(s);
        out.hints = hints;
        out.clip = clip;
        out
    }

    /// [`tick`](Self::tick) with nothing kept from the last tick: every engine computes
    /// everything afresh. The result is the same; benchmarks compare the two costs.
    pub fn tick_afresh(&mut self, now: DateTime<Utc>) -> TickOutput {
        self.ticked_here = false;
        self.tick(now)
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
        self.last_signals.as_ref()
    }

    /// The health score of the last tick.
    pub fn last_health(&self) -> Option<&HealthScore> {
        self.last_health.as_ref()
    }

    /// The most frequent terms of recent chat.
    pub fn top_terms(&self, k: usize) -> Vec<TermCount> {
        self.windows.top_terms(k)
    }

    /// The numbers published for per-channel metrics, as of the last tick (`None` before
    /// the first).
    pub fn vitals(&self) -> Option<crate::vitals::Vitals> {
        let (s, health, churn) = (
            self.last_signals.as_ref()?,
            self.last_health.as_ref()?,
            self.last_churn.as_ref()?,
        );
        Some(crate::vitals::Vitals {
            health_score: health.score,
            churn_risk: churn.risk,
            chat_per_second: s.w1.messages_per_min / 60.0,
            activity_per_minute: s.w5.messages_per_min,
            sentiment: s.w1.sentiment_mean,
            chatters: s.w1.unique_chatters,
        })
    }

    /// The fleet view's summary, from the last tick.
    pub fn summary(&self, agent_paused: bool) -> crate::channel::ChannelSummary {
        crate::channel::ChannelSummary {
            health: self.last_health.as_ref().map(|h| h.score),
            churn_risk: self.last_churn.as_ref().map(|c| c.risk),
            churn_level: self.last_churn.as_ref().map(|c| c.level),
            chat_rate_per_min: self
                .last_signals
                .as_ref()
                .map_or(0.0, |s| s.w1.messages as f64),
            sentiment: self
                .last_signals
                .as_ref()
                .filter(|s| s.w5.messages > 0)
                .map(|s| s.w5.sentiment_mean),
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
            ticked_here: _,
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
        drop(last_health);
        after("last_health");
        drop(last_churn);
        after("last_churn");
        drop(last_signals);
        after("last_signals");
        drop(login);
        after("login");
    }

    /// The live picture for the API.
    pub fn live(&self) -> LiveContext {
        LiveContext {
            signals: self.last_signals.clone(),
            health: self.last_health.clone(),
            churn: self.last_churn.clone(),
            hints: self.hints.iter().rev().map(KeptHint::to_hint).collect(),
            clips: self
                .clips
                .recent()
                .cloned()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect(),
            session: self.session.current().cloned(),
            top_terms: self.windows.top_terms(10),
            timeline: self
                .windows
                .timeline()
                .cloned()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect(),
            sentiment_meaning: SENTIMENT_MEANING,
        }
    }

    fn rollup_row(
        &self,
        s: &Signals,
        health: &HealthScore,
        churn: &ChurnReport,
        minute: i64,
    ) -> IntelRecord {
        let at = DateTime::<Utc>::from_timestamp(minute * 60, 0).unwrap_or(s.now);
        let factors: serde_json::Map<String, serde_json::Value> = health
            .factors
            .iter()
            .map(|f| (f.name.as_str().to_owned(), json!(f.score)))
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
        for sec in 900..1_000 {
            let (a, b) = (intel.tick(at(sec)), back.tick(at(sec)));
            assert_eq!(observed(&intel, &a), observed(&back, &b), "tick at {sec} s");
        }
    }

    /// A tick that reuses what did not change (quiet channels) publishes exactly what a tick
    /// computing everything afresh would, through silence, chat, questions and silence again.
    #[test]
    fn a_quiet_tick_publishes_the_same_as_a_full_one() {
        let sentiment = SentimentEngine::new();
        let mut intel = ChannelIntel::new(ChannelLogin::parse("quiet_test").unwrap());
        let texts = [
            "hello there PogChamp",
            "what game is this?",
            "this is boring",
            "gg",
            "anyone know when the next stream is?",
        ];
        let mut reused_ticks = 0;
        // 10 min never chatted, 4 min of chat (a message every 3 s, some questions, new and
        // returning chatters), then an hour of silence.
        for sec in 0..(10 * 60 + 4 * 60 + 60 * 60) {
            let chatting = (600..840).contains(&sec);
            if chatting && sec % 3 == 0 {
                let user = format!("viewer{}", (sec / 3) % 7);
                let text = texts[(sec as usize / 3) % texts.len()];
                intel.on_chat(&sentiment, &chat(&user, text, sec), None, at(sec));
            }
            // The reference: the same state, told that it has no last tick of its own, so
            // every engine computes everything afresh.
            let mut full = intel.clone();
            reused_ticks += usize::from(intel.ticked_here);
            let quiet = intel.tick(at(sec));
            let fresh = full.tick_afresh(at(sec));
            assert_eq!(
                observed(&intel, &quiet),
                observed(&full, &fresh),
                "tick at {sec} s differs"
            );
        }
        assert!(reused_ticks > 4_000, "the memoised path ran");
    }
}

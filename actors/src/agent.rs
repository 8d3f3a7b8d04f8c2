//! The agent's controls per channel (pause, sampling overrides, operator notes), the
//! fleet-wide suspend switch, and the HUD bus that pushes live events (new coaching hints,
//! control changes) to dashboards and overlays.
//!
//! Settings are validated here, as pure domain rules, so every edge (API, config) gets the
//! same answers; they are persisted by the edge and applied live through the Router.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::intel::coach::Hint;
use crate::model::ChannelLogin;

/// Longest operator note, in characters.
pub const MAX_NOTES: usize = 2_000;

/// How the agent behaves in one channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentSettings {
    /// The agent does nothing in this channel (replies, autonomy) while paused.
    pub paused: bool,
    /// Sampling temperature override (0-2); `None` uses the global default.
    pub temperature: Option<f64>,
    /// Nucleus sampling override (0-1); `None` uses the global default.
    pub top_p: Option<f64>,
    /// What the streamer tells the agent (context, not instructions from chat).
    pub notes: String,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
    /// Who made it (`admin` or a token id).
    pub updated_by: Option<String>,
}

/// A partial update; absent fields keep their value, `Some(None)` clears an override.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    /// Pause or resume.
    #[serde(default)]
    pub paused: Option<bool>,
    /// New temperature, or `null` to clear.
    #[serde(default, with = "double_option")]
    pub temperature: Option<Option<f64>>,
    /// New top_p, or `null` to clear.
    #[serde(default, with = "double_option")]
    pub top_p: Option<Option<f64>>,
    /// New notes.
    #[serde(default)]
    pub notes: Option<String>,
}

/// Why a patch cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentPatchError {
    /// Temperature outside 0-2.
    #[error("temperature must be between 0 and 2, got {0}")]
    Temperature(f64),
    /// top_p outside 0-1.
    #[error("top_p must be between 0 and 1, got {0}")]
    TopP(f64),
    /// Notes too long.
    #[error("notes must be at most {MAX_NOTES} characters, got {0}")]
    NotesTooLong(usize),
    /// The patch changes nothing.
    #[error("the update names no field to change (paused, temperature, top_p, notes)")]
    Empty,
}

impl AgentPatch {
    /// Whether the patch touches more than the pause switch (what moderators may change).
    pub fn changes_more_than_pause(&self) -> bool {
        self.temperature.is_some() || self.top_p.is_some() || self.notes.is_some()
    }

    /// Applies the patch to `current`, validated, stamped with who and when.
    pub fn apply(
        &self,
        current: &AgentSettings,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<AgentSettings, AgentPatchError> {
        if self.paused.is_none() && !self.changes_more_than_pause() {
            return Err(AgentPatchError::Empty);
        }
        if let Some(Some(t)) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(AgentPatchError::Temperature(t));
        }
        if let Some(Some(p)) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(AgentPatchError::TopP(p));
        }
        if let Some(n) = &self.notes
            && n.chars().count() > MAX_NOTES
        {
            return Err(AgentPatchError::NotesTooLong(n.chars().count()));
        }
        let mut next = current.clone();
        if let Some(p) = self.paused {
            next.paused = p;
        }
        if let Some(t) = self.temperature {
            next.temperature = t;
        }
        if let Some(p) = self.top_p {
            next.top_p = p;
        }
        if let Some(n) = &self.notes {
            next.notes = n.clone();
        }
        next.updated_at = Some(at);
        next.updated_by = Some(by.to_owned());
        Ok(next)
    }
}

/// Distinguishes an absent field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<f64>>, D::Error> {
        Option::<f64>::deserialize(d).map(Some)
    }
}

/// The fleet-wide panic switch: while set, no channel's agent acts, whatever its own setting.
#[derive(Debug, Default)]
pub struct SuspendSwitch(AtomicBool);

impl SuspendSwitch {
    /// Whether the whole fleet is suspended.
    pub fn is_suspended(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Suspends or resumes the fleet.
    pub fn set(&self, suspended: bool) {
        self.0.store(suspended, Ordering::Release);
    }
}

/// What the HUD shows live.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HudEvent {
    /// A new coaching hint.
    Hint {
        /// The channel.
        channel: ChannelLogin,
        /// The hint.
        hint: Box<Hint>,
    },
    /// The agent's settings changed.
    Agent {
        /// The channel.
        channel: ChannelLogin,
        /// The new settings.
        settings: AgentSettings,
    },
    /// The bot answered a viewer (or would have, or could not: `outcome` says).
    Reply {
        /// The channel.
        channel: ChannelLogin,
        /// Who asked.
        viewer: String,
        /// The chat messages that went out (sanitised); empty when none did.
        parts: Vec<String>,
        /// `sent`, `dry_run`, or why nothing went out.
        outcome: String,
        /// `model` or `fallback`.
        source: String,
    },
    /// A session ended (stopped, parted, or chat went idle): post-stream work starts here.
    SessionEnded {
        /// The channel.
        channel: ChannelLogin,
        /// The closed session with its final figures.
        session: Box<crate::intel::session::Session>,
    },
}

impl HudEvent {
    /// The channel the event belongs to.
    pub fn channel(&self) -> &ChannelLogin {
        match self {
            HudEvent::Hint { channel, .. }
            | HudEvent::Agent { channel, .. }
            | HudEvent::SessionEnded { channel, .. }
            | HudEvent::Reply { channel, .. } => channel,
        }
    }
}

/// A broadcast of HUD events to every subscriber (dashboards, overlays), each filtering its
/// channel. Bounded: a subscriber that falls behind skips events (a HUD shows the present).
#[derive(Debug, Clone)]
pub struct HudBus(Arc<broadcast::Sender<HudEvent>>);

impl Default for HudBus {
    fn default() -> Self {
        Self(Arc::new(broadcast::channel(1024).0))
    }
}

impl HudBus {
    /// Publishes; events with no subscriber are dropped at no cost.
    pub fn publish(&self, event: HudEvent) {
        let _ = self.0.send(event);
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<HudEvent> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> AgentPatch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn patches_validate_and_distinguish_null_from_absent() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let base = AgentSettings {
            temperature: Some(0.7),
            ..AgentSettings::default()
        };
        let paused = patch(r#"{"paused": true}"#)
            .apply(&base, "admin", at)
            .unwrap();
        assert!(paused.paused);
        assert_eq!(paused.temperature, Some(0.7), "absent keeps the value");
        let cleared = patch(r#"{"temperature": null}"#)
            .apply(&base, "admin", at)
            .unwrap();
        assert_eq!(cleared.temperature, None, "null clears it");
        assert_eq!(cleared.updated_by.as_deref(), Some("admin"));
        assert_eq!(
            patch(r#"{"temperature": 2.5}"#).apply(&base, "a", at),
            Err(AgentPatchError::Temperature(2.5))
        );
        assert_eq!(
            patch(r#"{"top_p": -0.1}"#).apply(&base, "a", at),
            Err(AgentPatchError::TopP(-0.1))
        );
        let long = format!(r#"{{"notes": "{}"}}"#, "x".repeat(MAX_NOTES + 1));
        assert!(matches!(
            patch(&long).apply(&base, "a", at),
            Err(AgentPatchError::NotesTooLong(_))
        ));
        assert_eq!(
            patch("{}").apply(&base, "a", at),
            Err(AgentPatchError::Empty)
        );
        assert!(serde_json::from_str::<AgentPatch>(r#"{"pasued": true}"#).is_err());
        assert!(!patch(r#"{"paused": false}"#).changes_more_than_pause());
        assert!(patch(r#"{"notes": ""}"#).changes_more_than_pause());
    }
}

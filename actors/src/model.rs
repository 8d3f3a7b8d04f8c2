//! Domain records that cross the actor boundary: validated channel logins and the raw chat
//! and event rows the ingest path produces for persistence and for the channel actors.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a string is not a valid Twitch login.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Twitch logins are 4 to 25 characters long.
    #[error("channel login must be 4 to 25 characters long, got {0}")]
    Length(usize),
    /// Twitch logins use only lowercase ASCII letters, digits and underscores.
    #[error("channel login may contain only a-z, 0-9 and _ (found {0:?})")]
    Character(char),
}

/// A Twitch channel login, checked against Twitch's rules (4-25 chars of `a-z0-9_`).
///
/// Cheap to clone (shared string) because every chat row carries one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ChannelLogin(Arc<str>);

impl ChannelLogin {
    /// Validates `raw` as a login. Uppercase is refused rather than folded, so that the API
    /// never silently joins a channel other than the one the caller typed.
    pub fn parse(raw: &str) -> Result<Self, LoginError> {
        let len = raw.chars().count();
        if !(4..=25).contains(&len) {
            return Err(LoginError::Length(len));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            return Err(LoginError::Character(bad));
        }
        Ok(Self(Arc::from(raw)))
    }

    /// Wraps a login Twitch itself sent us. Twitch's own channel names can be shorter than
    /// today's rules allow (legacy accounts), so ingest must not drop their chat.
    pub fn from_twitch(raw: &str) -> Self {
        // Twitch sends channel names in lower case; copy once, not twice, on that path.
        if raw.bytes().any(|b| b.is_ascii_uppercase()) {
            Self(Arc::from(raw.to_ascii_lowercase().as_str()))
        } else {
            Self(Arc::from(raw))
        }
    }

    /// The login as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Deserializes a login Twitch sent us (stored rows, the spill log) with
    /// [`ChannelLogin::from_twitch`]'s leniency, where the derived `Deserialize` checks
    /// today's rules for input from users.
    pub fn deserialize_from_twitch<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Self::from_twitch(&raw))
    }
}

impl std::borrow::Borrow<str> for ChannelLogin {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ChannelLogin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ChannelLogin::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// One chat message as persisted: idempotent on Twitch's message id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRecord {
    /// Twitch's message id (`id` tag); the primary key, so a replayed line is stored once.
    pub message_id: String,
    /// Channel the message was sent in.
    #[serde(deserialize_with = "ChannelLogin::deserialize_from_twitch")]
    pub channel: ChannelLogin,
    /// Twitch's numeric room id, when the line carried it.
    pub room_id: Option<String>,
    /// Sender's numeric user id.
    pub user_id: String,
    /// Sender's login.
    pub user_login: String,
    /// Sender's display name.
    pub display_name: String,
    /// Message text, with NUL characters removed (Postgres text cannot hold them).
    pub text: String,
    /// Bits cheered with this message, if any.
    pub bits: Option<i64>,
    /// Badges as Twitch sends them, `name/version` joined by commas.
    pub badges: String,
    /// Emote ranges as Twitch sends them in the `emotes` tag.
    pub emotes: String,
    /// Whether the sender is a moderator or the broadcaster.
    pub is_moderator: bool,
    /// Whether the sender is subscribed.
    pub is_subscriber: bool,
    /// When Twitch says the message was sent (`tmi-sent-ts`).
    pub sent_at: DateTime<Utc>,
    /// When Byte received it.
    pub received_at: DateTime<Utc>,
    /// Ingest position (see [`IngestSeq`]): the channel actor folds rows in this order,
    /// snapshots record the highest one they include, and restore replays what came after.
    pub seq: i64,
}

#[cfg(test)]
impl ChatRecord {
    /// A plain chat line for tests: `user` (user id 1) says `text` in `channel` at `at`, no
    /// bits, badges or emotes, ingest position from `at`. Tests override what they vary.
    pub(crate) fn test_line(
        channel: &str,
        id: &str,
        user: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            message_id: id.into(),
            channel: ChannelLogin::parse(channel).expect("a valid test channel"),
            room_id: None,
            user_id: "1".into(),
            user_login: user.into(),
            display_name: user.into(),
            text: text.into(),
            bits: None,
            badges: String::new(),
            emotes: String::new(),
            is_moderator: false,
            is_subscriber: false,
            sent_at: at,
            received_at: at,
            seq: at.timestamp_micros(),
        }
    }
}

/// What kind of channel event a row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new subscription.
    Sub,
    /// A resubscription.
    Resub,
    /// One gifted subscription.
    SubGift,
    /// A batch of gifted subscriptions ("mystery gift").
    SubMysteryGift,
    /// A gifted sub continued as a paid one.
    GiftPaidUpgrade,
    /// An incoming raid.
    Raid,
    /// Bits cheered in a chat message.
    Bits,
    /// A moderator announcement.
    Announcement,
    /// Any other USERNOTICE (ritual, bits badge tier, ...).
    OtherNotice,
    /// A user was timed out.
    Timeout,
    /// A user was banned.
    Ban,
    /// The whole chat was cleared.
    ChatCleared,
    /// A single message was deleted.
    MessageDeleted,
    /// A room setting changed (slow mode, emote-only, ...).
    RoomState,
}

impl EventKind {
    /// Stable snake_case name used in the database and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Sub => "sub",
            EventKind::Resub => "resub",
            EventKind::SubGift => "sub_gift",
            EventKind::SubMysteryGift => "sub_mystery_gift",
            EventKind::GiftPaidUpgrade => "gift_paid_upgrade",
            EventKind::Raid => "raid",
            EventKind::Bits => "bits",
            EventKind::Announcement => "announcement",
            EventKind::OtherNotice => "other_notice",
            EventKind::Timeout => "timeout",
            EventKind::Ban => "ban",
            EventKind::ChatCleared => "chat_cleared",
            EventKind::MessageDeleted => "message_deleted",
            EventKind::RoomState => "room_state",
        }
    }

    /// Every kind, for tests and metric pre-registration.
    pub const ALL: [EventKind; 14] = [
        EventKind::Sub,
        EventKind::Resub,
        EventKind::SubGift,
        EventKind::SubMysteryGift,
        EventKind::GiftPaidUpgrade,
        EventKind::Raid,
        EventKind::Bits,
        EventKind::Announcement,
        EventKind::OtherNotice,
        EventKind::Timeout,
        EventKind::Ban,
        EventKind::ChatCleared,
        EventKind::MessageDeleted,
        EventKind::RoomState,
    ];
}

/// One channel event as persisted: idempotent on `event_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Twitch's message id where the line has one; otherwise derived deterministically from
    /// the line's content so that a replay maps to the same id.
    pub event_id: String,
    /// Channel the event happened in.
    #[serde(deserialize_with = "ChannelLogin::deserialize_from_twitch")]
    pub channel: ChannelLogin,
    /// What happened.
    pub kind: EventKind,
    /// The user the event is about (subscriber, raider, gifter, timed-out user), if any.
    pub user_login: Option<String>,
    /// The event's size: months, gift count, viewers, bits, timeout seconds.
    pub amount: Option<i64>,
    /// Kind-specific details (plan, recipient, system message, ...).
    pub details: serde_json::Value,
    /// When Twitch says it happened.
    pub occurred_at: DateTime<Utc>,
    /// Ingest position (see [`IngestSeq`]).
    pub seq: i64,
}

/// Hands out ingest positions: microseconds since the Unix epoch, strictly increasing, so a
/// position is also the row's arrival time (which the channel actor folds it at, making a
/// replay reproduce the live state) and positions keep growing across process restarts
/// (seed with the highest position already stored in case the wall clock stepped back).
#[derive(Debug, Clone, Default)]
pub struct IngestSeq {
    last: i64,
}

impl IngestSeq {
    /// A sequence that hands out positions above `floor`.
    pub fn starting_after(floor: i64) -> Self {
        Self { last: floor }
    }

    /// The next position for a row received at `now`.
    pub fn next(&mut self, now: DateTime<Utc>) -> i64 {
        self.last = now.timestamp_micros().max(self.last + 1);
        self.last
    }

    /// Raises the floor (a stored position seen after start-up).
    pub fn observe(&mut self, stored: i64) {
        self.last = self.last.max(stored);
    }
}

/// A fixed 64-bit hash of a login (a channel's or a chatter's): FNV-1a over its bytes, then
/// the splitmix64 finaliser (FNV alone mixes its last bytes into the high bits poorly).
/// Written out here, not taken from std or a crate, because it must never change: chatter
/// tables keep it in snapshots, and channels derive stable phases (snapshots, autonomy
/// steps) from it, the same after every restart and in every test run.
pub fn login_hash(login: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in login.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The arrival time an ingest position stands for.
pub fn seq_time(seq: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(seq).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

impl Record {
    /// The row's ingest position, for raw chat and events.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Record::Chat(c) => Some(c.seq),
            Record::Event(e) => Some(e.seq),
            Record::Intel(_) => None,
        }
    }
}

/// Which table an [`IntelRecord`] goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntelKind {
    /// `channel_rollups`, upserted on (channel, minute).
    Rollup,
    /// `stream_sessions`, upserted on session id.
    Session,
    /// `channel_hints`, inserted once.
    Hint,
    /// `clip_candidates`, inserted once.
    Clip,
    /// `channel_snapshots`, upserted on channel.
    Snapshot,
}

/// A channel-intelligence row: low volume, written as JSON whose keys are the table's
/// columns. `key` identifies the row within its table, so a batch keeps only the latest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntelRecord {
    /// Target table.
    pub kind: IntelKind,
    /// The row's identity within the table.
    pub key: String,
    /// Every column of the row.
    pub row: serde_json::Value,
}

/// A row on its way to the database (and, during an outage, through the spill log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// A chat message.
    Chat(Arc<ChatRecord>),
    /// A channel event.
    Event(Arc<EventRecord>),
    /// A channel-intelligence row.
    Intel(Arc<IntelRecord>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_hash_is_fixed() {
        // Kept in snapshots: it must never change.
        assert_eq!(login_hash(""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(login_hash("ana"), 0x7d09_8ee2_a98d_098a);
    }

    #[test]
    fn login_rules_follow_twitch() {
        assert!(ChannelLogin::parse("pajlada").is_ok());
        assert!(ChannelLogin::parse("a_b_1").is_ok());
        assert_eq!(ChannelLogin::parse("abc"), Err(LoginError::Length(3)));
        assert_eq!(
            ChannelLogin::parse(&"a".repeat(26)),
            Err(LoginError::Length(26))
        );
        assert_eq!(
            ChannelLogin::parse("Pajlada"),
            Err(LoginError::Character('P'))
        );
        assert_eq!(
            ChannelLogin::parse("paj-lada"),
            Err(LoginError::Character('-'))
        );
    }

    #[test]
    fn ingest_positions_increase_even_when_the_clock_does_not() {
        let t = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let mut seq = IngestSeq::default();
        let a = seq.next(t);
        let b = seq.next(t);
        let c = seq.next(t - chrono::Duration::seconds(5));
        assert_eq!(a, t.timestamp_micros());
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(seq_time(a), t);
        let mut after_restart = IngestSeq::starting_after(c);
        assert!(
            after_restart.next(t) > c,
            "a stepped-back clock cannot reuse positions"
        );
    }

    #[test]
    fn stored_rows_keep_legacy_logins() {
        let e = EventRecord {
            event_id: "x".into(),
            channel: ChannelLogin::from_twitch("abc"),
            kind: EventKind::Raid,
            user_login: None,
            amount: Some(3),
            details: serde_json::json!({}),
            occurred_at: DateTime::<Utc>::UNIX_EPOCH,
            seq: 7,
        };
        let row = Record::Event(Arc::new(e));
        let back: Record = serde_json::from_str(&serde_json::to_string(&row).unwrap()).unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn login_deserialization_validates() {
        let ok: ChannelLogin = serde_json::from_str("\"forsen\"").unwrap();
        assert_eq!(ok.as_str(), "forsen");
        assert!(serde_json::from_str::<ChannelLogin>("\"no\"").is_err());
    }
}

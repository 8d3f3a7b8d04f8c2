//! What the simulator actually delivered, for tests to compare against what a client received.
//!
//! Entries are committed when the first socket accepts the bytes of their batch, never at
//! generation time, so a message generated for a channel nobody joined (or swallowed by silent
//! mode) never shows up here.

use std::sync::Mutex;

use serde::Serialize;

/// The kind of a non-PRIVMSG event line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventKind {
    /// `USERNOTICE` with `msg-id=sub`.
    Sub,
    /// `USERNOTICE` with `msg-id=resub`, sometimes with a shared message.
    Resub,
    /// `USERNOTICE` with `msg-id=subgift` (sometimes from `AnAnonymousGifter`).
    SubGift,
    /// `USERNOTICE` with `msg-id=submysterygift`.
    SubMysteryGift,
    /// `USERNOTICE` with `msg-id=raid`.
    Raid,
    /// `USERNOTICE` with `msg-id=announcement`.
    Announcement,
    /// `CLEARCHAT` with `ban-duration` (a timeout).
    Timeout,
    /// `CLEARCHAT` without `ban-duration` (a permanent ban).
    Ban,
    /// `CLEARMSG` deleting one earlier message.
    ClearMsg,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 9] = [
        EventKind::Sub,
        EventKind::Resub,
        EventKind::SubGift,
        EventKind::SubMysteryGift,
        EventKind::Raid,
        EventKind::Announcement,
        EventKind::Timeout,
        EventKind::Ban,
        EventKind::ClearMsg,
    ];

    /// The `msg-id` for USERNOTICE kinds; `timeout`, `ban` and `clearmsg` for the others.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Sub => "sub",
            EventKind::Resub => "resub",
            EventKind::SubGift => "subgift",
            EventKind::SubMysteryGift => "submysterygift",
            EventKind::Raid => "raid",
            EventKind::Announcement => "announcement",
            EventKind::Timeout => "timeout",
            EventKind::Ban => "ban",
            EventKind::ClearMsg => "clearmsg",
        }
    }

    /// The IRC command that carries this kind.
    pub fn command(self) -> &'static str {
        match self {
            EventKind::Timeout | EventKind::Ban => "CLEARCHAT",
            EventKind::ClearMsg => "CLEARMSG",
            _ => "USERNOTICE",
        }
    }
}

/// A PRIVMSG written to at least one socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedPrivmsg {
    /// Channel login, without `#`.
    pub channel: String,
    /// The `id` tag.
    pub id: String,
    /// Sender login (the IRC prefix nick).
    pub user_login: String,
    /// The `user-id` tag.
    pub user_id: String,
    /// Message text as a client sees it (without the `\x01ACTION` wrapper of `/me` lines).
    pub text: String,
    /// Whether the line was a `/me` action.
    pub is_action: bool,
    /// The `bits` tag, for cheers.
    pub bits: Option<u64>,
    /// `reply-parent-msg-id`, for replies.
    pub reply_parent_id: Option<String>,
    /// The `tmi-sent-ts` tag (ms since the Unix epoch).
    pub tmi_sent_ts: i64,
}

/// A USERNOTICE, CLEARCHAT or CLEARMSG written to at least one socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedEvent {
    /// Channel login, without `#`.
    pub channel: String,
    /// What happened.
    pub kind: EventKind,
    /// Identifies the event as a client can reconstruct it: the `id` tag for USERNOTICE,
    /// `target-msg-id` for CLEARMSG, and `<target-user-id>:<tmi-sent-ts>` for CLEARCHAT (which
    /// has no id of its own; the generator keeps CLEARCHAT timestamps strictly increasing per
    /// channel so the key is unique).
    pub key: String,
    /// USERNOTICE: the sender's login (`login` tag). CLEARCHAT/CLEARMSG: the affected user.
    pub user_login: String,
    /// The text carried by the line (resub message, announcement, deleted message), if any.
    pub text: Option<String>,
    /// The `tmi-sent-ts` tag.
    pub tmi_sent_ts: i64,
}

/// Everything delivered since start (or since the last [`take`](super::SimulatorHandle::take_recorded)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// PRIVMSGs, in delivery order per channel.
    pub privmsgs: Vec<RecordedPrivmsg>,
    /// USERNOTICE/CLEARCHAT/CLEARMSG events, in delivery order per channel.
    pub events: Vec<RecordedEvent>,
}

impl Recorded {
    /// The PRIVMSGs of one channel.
    pub fn privmsgs_in(&self, channel: &str) -> Vec<&RecordedPrivmsg> {
        let channel = channel.trim_start_matches('#');
        self.privmsgs
            .iter()
            .filter(|m| m.channel == channel)
            .collect()
    }

    /// The events of one channel.
    pub fn events_in(&self, channel: &str) -> Vec<&RecordedEvent> {
        let channel = channel.trim_start_matches('#');
        self.events
            .iter()
            .filter(|m| m.channel == channel)
            .collect()
    }
}

/// One generated line's record, before it is known to be delivered.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Privmsg(RecordedPrivmsg),
    Event(RecordedEvent),
}

/// The shared log; only touched when recording is enabled.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    log: Mutex<Recorded>,
}

impl Recorder {
    pub(crate) fn commit(&self, records: Vec<Record>) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        for r in records {
            match r {
                Record::Privmsg(m) => log.privmsgs.push(m),
                Record::Event(e) => log.events.push(e),
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Recorded {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn take(&self) -> Recorded {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

//! `StreamContext`: the running totals of one channel since its actor started. The windowed,
//! bounded picture (chatters, rates, questions, ...) lives in `intel::windows`; this keeps
//! only counters, so it costs a few additions per message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{ChatRecord, EventKind, EventRecord};

/// Running totals of a channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamContext {
    /// Chat messages seen.
    pub messages: u64,
    /// Events seen (subs, raids, moderation, ...).
    pub events: u64,
    /// Bits cheered.
    pub bits: i64,
    /// Subscriptions, resubs and gifted subs (a mystery gift counts its gift count).
    pub subs: i64,
    /// Raids received.
    pub raids: u64,
    /// Timeouts, bans, deletions and clears.
    pub moderation_actions: u64,
    /// Distinct chatters seen (first-time senders, as the windows' capped table knows them).
    pub unique_chatters: u64,
    /// Last chat or event time.
    pub last_activity: Option<DateTime<Utc>>,
}

impl StreamContext {
    /// Folds one chat message; `first_time` says whether the sender is new here.
    pub fn on_chat(&mut self, chat: &ChatRecord, first_time: bool) {
        self.messages += 1;
        if let Some(bits) = chat.bits {
            self.bits += bits;
        }
        self.unique_chatters += u64::from(first_time);
        self.touch(chat.sent_at);
    }

    /// Folds one channel event into the context.
    pub fn on_event(&mut self, event: &EventRecord) {
        self.events += 1;
        self.touch(event.occurred_at);
        let amount = event.amount.unwrap_or(1).max(0);
        match event.kind {
            EventKind::Sub | EventKind::Resub | EventKind::SubGift | EventKind::GiftPaidUpgrade => {
                self.subs += 1
            }
            EventKind::SubMysteryGift => self.subs += amount,
            EventKind::Raid => self.raids += 1,
            EventKind::Timeout
            | EventKind::Ban
            | EventKind::ChatCleared
            | EventKind::MessageDeleted => self.moderation_actions += 1,
            // Bits are counted from the chat row that carries them.
            EventKind::Bits
            | EventKind::Announcement
            | EventKind::OtherNotice
            | EventKind::RoomState => {}
        }
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.last_activity = Some(self.last_activity.map_or(at, |t| t.max(at)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chat(user: &str, secs: i64, bits: Option<i64>) -> ChatRecord {
        let at = Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
        ChatRecord {
            bits,
            ..ChatRecord::test_line("tester", &format!("{user}-{secs}"), user, "hi", at)
        }
    }

    #[test]
    fn counts_messages_chatters_bits_and_activity() {
        let mut ctx = StreamContext::default();
        ctx.on_chat(&chat("ana", 1, None), true);
        ctx.on_chat(&chat("bob", 3, Some(100)), true);
        ctx.on_chat(&chat("ana", 2, None), false);
        assert_eq!(ctx.messages, 3);
        assert_eq!(ctx.unique_chatters, 2);
        assert_eq!(ctx.bits, 100);
        // Out-of-order delivery must not move activity backwards.
        assert_eq!(
            ctx.last_activity,
            Some(Utc.timestamp_opt(1_700_000_003, 0).unwrap())
        );
    }
}

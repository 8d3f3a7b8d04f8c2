//! `StreamContext`: the live picture of one channel's stream, updated per message. Pure and
//! bounded: the chatter table is capped and evicts the least recently seen chatter, so a
//! flood of unique accounts cannot grow memory without limit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{ChatRecord, EventKind, EventRecord};

/// Most chatters remembered per channel before the least recently active is evicted.
pub const MAX_TRACKED_CHATTERS: usize = 4096;

/// What one chatter did recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatterActivity {
    /// Messages from this chatter since the context started.
    pub messages: u64,
    /// When they last spoke.
    pub last_seen: DateTime<Utc>,
}

/// Live, serialisable state of a channel.
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
    /// Distinct chatters ever seen (not capped, unlike the table).
    pub unique_chatters: u64,
    /// Recent chatters, capped at [`MAX_TRACKED_CHATTERS`].
    pub chatters: HashMap<String, ChatterActivity>,
    /// Last chat or event time.
    pub last_activity: Option<DateTime<Utc>>,
}

impl StreamContext {
    /// Folds one chat message into the context.
    pub fn on_chat(&mut self, chat: &ChatRecord) {
        self.messages += 1;
        if let Some(bits) = chat.bits {
            self.bits += bits;
        }
        self.touch(chat.sent_at);
        if let Some(entry) = self.chatters.get_mut(&chat.user_login) {
            entry.messages += 1;
            entry.last_seen = entry.last_seen.max(chat.sent_at);
            return;
        }
        self.unique_chatters += 1;
        if self.chatters.len() >= MAX_TRACKED_CHATTERS {
            self.evict_oldest();
        }
        self.chatters.insert(
            chat.user_login.clone(),
            ChatterActivity {
                messages: 1,
                last_seen: chat.sent_at,
            },
        );
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

    // O(n) on the capped table, but only when a new chatter arrives at a full table; an
    // eighth of the table is evicted at once so the scan amortises across many arrivals.
    fn evict_oldest(&mut self) {
        let mut by_age: Vec<(DateTime<Utc>, String)> = self
            .chatters
            .iter()
            .map(|(login, a)| (a.last_seen, login.clone()))
            .collect();
        let evict = (MAX_TRACKED_CHATTERS / 8).max(1);
        by_age.select_nth_unstable_by(evict - 1, |a, b| a.0.cmp(&b.0));
        for (_, login) in by_age.into_iter().take(evict) {
            self.chatters.remove(&login);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChannelLogin;
    use chrono::TimeZone;

    fn chat(user: &str, secs: i64, bits: Option<i64>) -> ChatRecord {
        let at = Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
        ChatRecord {
            message_id: format!("{user}-{secs}"),
            channel: ChannelLogin::parse("tester").unwrap(),
            room_id: None,
            user_id: "1".into(),
            user_login: user.into(),
            display_name: user.into(),
            text: "hi".into(),
            bits,
            badges: String::new(),
            emotes: String::new(),
            is_moderator: false,
            is_subscriber: false,
            sent_at: at,
            received_at: at,
        }
    }

    #[test]
    fn counts_messages_chatters_bits_and_activity() {
        let mut ctx = StreamContext::default();
        ctx.on_chat(&chat("ana", 1, None));
        ctx.on_chat(&chat("bob", 3, Some(100)));
        ctx.on_chat(&chat("ana", 2, None));
        assert_eq!(ctx.messages, 3);
        assert_eq!(ctx.unique_chatters, 2);
        assert_eq!(ctx.bits, 100);
        assert_eq!(ctx.chatters["ana"].messages, 2);
        // Out-of-order delivery must not move activity backwards.
        assert_eq!(
            ctx.last_activity,
            Some(Utc.timestamp_opt(1_700_000_003, 0).unwrap())
        );
    }

    #[test]
    fn chatter_table_stays_bounded_under_a_flood_of_unique_chatters() {
        let mut ctx = StreamContext::default();
        for i in 0..(MAX_TRACKED_CHATTERS as i64 * 3) {
            ctx.on_chat(&chat(&format!("user{i}"), i, None));
            assert!(ctx.chatters.len() <= MAX_TRACKED_CHATTERS);
        }
        assert_eq!(ctx.unique_chatters, MAX_TRACKED_CHATTERS as u64 * 3);
        // The most recent chatter survives eviction; the very first does not.
        let last = format!("user{}", MAX_TRACKED_CHATTERS * 3 - 1);
        assert!(ctx.chatters.contains_key(&last));
        assert!(!ctx.chatters.contains_key("user0"));
    }
}
